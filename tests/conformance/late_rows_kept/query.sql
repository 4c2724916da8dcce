-- A plain SELECT keeps rows behind the watermark (only windows drop late rows).
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
SELECT ts, symbol, price FROM ticks WHERE symbol = 'SYM00';
