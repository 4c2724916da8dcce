-- A view queried with another filter.
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

CREATE VIEW expensive AS
SELECT ts, symbol, price FROM ticks WHERE price > 105;

SELECT symbol, price, ts FROM expensive WHERE symbol = 'SYM02' AND price < 110;
