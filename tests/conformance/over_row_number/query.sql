-- ROW_NUMBER over event time without a Top-N filter: the running count of rows, peers (times
-- cut to the second tie) numbered in arrival order, as in Flink; no PARTITION BY numbers all.
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
SELECT symbol, sec, ts, volume,
       ROW_NUMBER() OVER (PARTITION BY symbol ORDER BY sec) AS rn
FROM ticks;
