-- Arithmetic projections and a compound filter.
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

SELECT ts, symbol, price * volume AS notional, volume / 100 AS lots, price - 100 AS delta
FROM ticks
WHERE (price > 100 AND symbol <> 'SYM01') OR volume < 50;
