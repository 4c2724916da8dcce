-- ORDER BY ... LIMIT n on a stream: an updating Top-N of the whole stream (Flink's
-- sort-limit), here the five largest trades, ties kept in arrival order.
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
SELECT symbol, ts, volume
FROM ticks
ORDER BY volume DESC, price
LIMIT 5;
