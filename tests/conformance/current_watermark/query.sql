-- CURRENT_WATERMARK(ts): each row's watermark, the one current before it (NULL before the
-- first), and Flink's idiom for the rows that are not late.
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/ticks_late.csv}',
  'format'    = 'csv'
);
SELECT ts, symbol, CURRENT_WATERMARK(ts) AS wm,
       CURRENT_WATERMARK(ts) IS NULL OR ts > CURRENT_WATERMARK(ts) AS on_time
FROM ticks;
