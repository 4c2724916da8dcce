-- A regular join against an updating input whose rows share few join keys: per symbol and
-- volume, the running total volume (20 k groups, 0.8 M updates), joined with its symbol's row.
-- Every update retracts its group's previous row from a bucket of ~1000 rows.
-- Input: CSV ticks (gen_events.py) and bench/data/symbols.csv.
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

SELECT s.sector, a.symbol, a.volume, a.total
FROM (SELECT symbol, volume, SUM(volume) AS total FROM ticks GROUP BY symbol, volume) a
JOIN symbols s ON a.symbol = s.symbol;
