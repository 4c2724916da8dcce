-- LAG over event time where rows tie on time (times cut to the second): in Flink, LAG reads a
-- RANGE window, so all peers read back from the last of them.
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  sec AS FLOOR(ts TO SECOND),
  WATERMARK FOR sec AS sec - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/ticks_late.csv}',
  'format'    = 'csv'
);
SELECT symbol, sec, ts, price,
       LAG(price) OVER (PARTITION BY symbol ORDER BY sec) AS before1,
       LAG(volume, 3, CAST(-1 AS BIGINT)) OVER (PARTITION BY symbol ORDER BY sec) AS before3
FROM ticks;
