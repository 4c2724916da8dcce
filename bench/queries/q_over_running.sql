-- Running aggregates per symbol (ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW): every
-- tick with its symbol's running volume, trade count, high and average price so far.
-- Input: CSV ticks (gen_events.py).
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT}',
  'format'    = 'csv'
);
SELECT symbol, ts, price,
  SUM(volume) OVER w AS vol_total, COUNT(*) OVER w AS n, MAX(price) OVER w AS hi,
  AVG(price) OVER w AS avg_price
FROM ticks
WINDOW w AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW);
