-- ROLLUP over an updating input (per-minute totals), next to a plain key: GROUP BY big, ROLLUP(symbol, minute_start).
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
SELECT big, symbol, minute_start, COUNT(*) AS minutes, MAX(total) AS top, MIN(total) AS bottom
FROM (
  SELECT symbol, volume > 500 AS big, FLOOR(ts TO MINUTE) AS minute_start, SUM(volume) AS total
  FROM ticks
  GROUP BY symbol, volume > 500, FLOOR(ts TO MINUTE)
)
GROUP BY big, ROLLUP(symbol, minute_start);
