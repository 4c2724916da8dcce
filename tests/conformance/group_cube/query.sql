-- GROUP BY CUBE: every subset of (symbol, volume > 500) grouped, GROUPING() telling the totals apart, as an updating result.
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
SELECT symbol, volume > 500 AS big, COUNT(*) AS n, SUM(volume) AS total, MAX(price) AS hi,
  GROUPING(symbol) AS all_symbols, GROUPING_ID(symbol, volume > 500) AS gid
FROM ticks
GROUP BY CUBE(symbol, volume > 500);
