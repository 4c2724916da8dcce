-- A global aggregate over all rows, late ones included (no window drops them).
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
SELECT COUNT(*) AS cnt, SUM(volume) AS v, MAX(ts) AS last_ts FROM ticks;
