-- Statistical aggregates of doubles per symbol and window.
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

SELECT window_start, symbol,
       STDDEV_POP(price) AS sd_pop, STDDEV_SAMP(price) AS sd_samp,
       VAR_POP(price) AS v_pop, VAR_SAMP(price) AS v_samp, VARIANCE(price) AS v,
       STDDEV_POP(CAST(volume AS DOUBLE)) AS sd_volume
FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, symbol;
