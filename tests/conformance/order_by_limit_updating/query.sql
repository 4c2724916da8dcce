-- ORDER BY ... LIMIT n over an updating result: the two busiest symbols by trade count, as
-- the counts change.
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
SELECT symbol, COUNT(*) AS trades, MAX(price) AS high
FROM ticks
GROUP BY symbol
ORDER BY trades DESC
LIMIT 2;
