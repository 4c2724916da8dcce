-- GROUPING SETS: per symbol and volume bucket, per symbol, and the grand total; GROUPING of an expression.
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
SELECT symbol, volume / 250 AS bucket, COUNT(*) AS n, SUM(volume) AS total,
  GROUPING(volume / 250) AS all_buckets, GROUP_ID() AS set_id
FROM ticks
GROUP BY GROUPING SETS ((symbol, volume / 250), (symbol), ());
