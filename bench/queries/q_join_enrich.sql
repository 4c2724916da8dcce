-- Stream-table enrichment (Nexmark q20 shape): every tick joined with its symbol's row of a
-- small table, a regular join. Input: CSV ticks (gen_events.py) and bench/data/symbols.csv.
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
CREATE TABLE symbols (
  symbol STRING,
  sector STRING,
  name   STRING
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../data/symbols.csv',
  'format'    = 'csv'
);

SELECT t.ts, t.symbol, t.price, s.sector, s.name
FROM ticks t JOIN symbols s ON t.symbol = s.symbol
WHERE t.volume > 100;
