-- Uncorrelated scalar subqueries, in WHERE and in SELECT: each is a join with its one-row
-- (updating) result, as Flink plans it; the answer updates as the average and maximum do.
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
SELECT symbol, ts, price, (SELECT MAX(volume) FROM ticks) - volume AS below_max
FROM ticks
WHERE price > (SELECT AVG(price) + 15 FROM ticks);
