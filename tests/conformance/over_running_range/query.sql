-- Running totals per symbol by the second: RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW, so ticks of the same second (peers) share one result that counts all of them.
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  sec AS FLOOR(ts TO SECOND),
  WATERMARK FOR sec AS sec - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/ticks_small.csv}',
  'format'    = 'csv'
);
SELECT symbol, sec, price,
  SUM(volume) OVER w AS vol_total, COUNT(*) OVER w AS n, MAX(price) OVER w AS hi,
  STDDEV_POP(price) OVER w AS sd, COUNT(DISTINCT volume / 100) OVER w AS vol_buckets
FROM ticks
WINDOW w AS (PARTITION BY symbol ORDER BY sec RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW);
