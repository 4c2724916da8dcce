-- An interval join of two streams (1 M rows each side at 1 M ticks): ticks of the same
-- symbol within two seconds after each other whose volumes sum past 1900.
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

SELECT a.ts, a.symbol, a.price, b.ts AS next_ts, b.price AS next_price
FROM ticks a JOIN ticks b
  ON a.symbol = b.symbol
 AND b.ts BETWEEN a.ts + INTERVAL '0.001' SECOND AND a.ts + INTERVAL '2' SECOND
 AND a.volume + b.volume > 1900;
