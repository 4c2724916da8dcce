-- An aggregate over an updating aggregate: the inner counts retract as they grow.
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
SELECT volume_bucket, COUNT(*) AS symbols, SUM(cnt) AS ticks
FROM (
  SELECT symbol, volume / 250 AS volume_bucket, COUNT(*) AS cnt, AVG(volume) AS a
  FROM ticks
  GROUP BY symbol, volume / 250
)
GROUP BY volume_bucket;
