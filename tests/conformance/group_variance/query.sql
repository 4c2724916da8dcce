-- Statistical aggregates of an updating GROUP BY, over a deduplicated (retracting) input.
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/ticks_small.csv}',
  'format'    = 'csv'
);

CREATE VIEW last_per_second AS
  SELECT symbol, price, volume FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY symbol, CAST(ts AS DATE), EXTRACT(SECOND FROM ts)
                                 ORDER BY ts DESC) AS rn
    FROM ticks)
  WHERE rn = 1;

SELECT symbol, STDDEV_POP(price) AS sd, VAR_SAMP(CAST(volume AS DOUBLE)) AS v, COUNT(*) AS n
FROM last_per_second
GROUP BY symbol;
