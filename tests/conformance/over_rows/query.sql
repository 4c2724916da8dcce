-- OVER aggregates over the current row and the two before it, per symbol, in event-time order.
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
SELECT symbol, ts, price,
  SUM(volume) OVER w AS v3, MAX(price) OVER w AS m3, AVG(volume) OVER w AS a3, COUNT(*) OVER w AS c3
FROM ticks
WINDOW w AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW);
