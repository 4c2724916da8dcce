-- RANK and DENSE_RANK per symbol in event-time order, beside running aggregates and LAG over
-- the same window. Times cut to the second tie rows (peers): in Flink they all count every
-- peer (RANK is the running count) and LAG reads back from the last of them.
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  sec AS FLOOR(ts TO SECOND),
  WATERMARK FOR sec AS sec - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/ticks_late.csv}',
  'format'    = 'csv'
);
SELECT symbol, sec, ts, price,
       RANK() OVER w AS r,
       DENSE_RANK() OVER w AS dr,
       COUNT(*) OVER w AS c,
       SUM(volume) OVER w AS v,
       LAG(price) OVER w AS before1
FROM ticks
WINDOW w AS (PARTITION BY symbol ORDER BY sec);
