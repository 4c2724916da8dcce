-- Running totals per symbol: aggregates over every row so far, in event-time order (ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW); late rows (ticks_late) dropped as Flink drops them.
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/ticks_late.csv}',
  'format'    = 'csv'
);
SELECT symbol, ts, price,
  SUM(volume) OVER w AS vol_total, COUNT(*) OVER w AS n, MAX(price) OVER w AS hi,
  MIN(price) OVER w AS lo, AVG(volume) OVER w AS avg_vol
FROM ticks
WINDOW w AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW);
