-- Per-minute bars per symbol, and the most traded symbol of each minute.
-- Run it:  cargo run -p rill-shell -- -f examples/windows.sql
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

CREATE VIEW bars AS
SELECT window_start, window_end, symbol,
       FIRST_VALUE(price) AS open_price, MAX(price) AS high, MIN(price) AS low,
       LAST_VALUE(price) AS close_price, SUM(volume) AS volume
FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, symbol;

SELECT window_start, symbol, volume, open_price, close_price FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY volume DESC) AS rownum
  FROM bars
) WHERE rownum = 1;
