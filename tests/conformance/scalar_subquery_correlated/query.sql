-- Correlated scalar subqueries: each trade of 999 shares or more beside its symbol's highest
-- price, and the trades at their symbol's highest price (a join on the symbol, decorrelated
-- as Flink does).
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
SELECT symbol, ts, volume,
       (SELECT MAX(price) FROM ticks u WHERE u.symbol = t.symbol) AS high
FROM ticks t
WHERE volume >= 999
UNION ALL
SELECT symbol, ts, volume, price
FROM ticks t
WHERE price >= (SELECT MAX(price) FROM ticks u WHERE u.symbol = t.symbol);
