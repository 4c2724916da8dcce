-- A regular join feeding MAX per key, then AVG over the updating maxima (Nexmark q4 shape).
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

SELECT sector, AVG(top) AS avg_top
FROM (
  SELECT t.symbol, s.sector, MAX(t.price) AS top
  FROM ticks t JOIN symbols s ON t.symbol = s.symbol
  GROUP BY t.symbol, s.sector
) q
GROUP BY sector;
