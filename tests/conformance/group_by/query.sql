-- GROUP BY without windows: an updating result, materialized by --sort.
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
SELECT symbol, COUNT(*) AS cnt, SUM(volume) AS v, AVG(volume) AS avg_volume,
       MIN(price) AS low, MAX(price) AS high, COUNT(DISTINCT volume / 100) AS n_buckets
FROM ticks
WHERE volume > 500
GROUP BY symbol
HAVING COUNT(*) > 10;
