-- ORDER BY ... LIMIT n OFFSET m on a stream: the rows ranked m + 1 to m + n of an updating
-- Top-N of the whole stream (Flink's sort-limit with an offset), as the ranking changes.
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
LIMIT 3 OFFSET 4;
