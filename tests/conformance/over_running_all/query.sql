-- The default frame of an ordered OVER window is RANGE from UNBOUNDED PRECEDING: without PARTITION BY, a running count and average over all ticks, peers by the second.
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
SELECT sec, symbol,
  COUNT(*) OVER (ORDER BY sec) AS n,
  AVG(price) OVER (ORDER BY sec) AS avg_price,
  LAST_VALUE(symbol) OVER (ORDER BY sec) AS last_symbol
FROM ticks;
