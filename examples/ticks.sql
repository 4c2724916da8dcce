-- Big trades: every tick with more than 990 shares, and its notional value.
-- Run it:  cargo run -p rill-shell -- -f examples/ticks.sql
-- Another input:  ... -f examples/ticks.sql -D INPUT=/path/to/ticks.csv
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/data/ticks.csv}',
  'format'    = 'csv'
);

SELECT ts, symbol, price, volume, ROUND(price * volume, 2) AS notional
FROM ticks
WHERE volume > 990;
