-- The dates and times Flink's csv format reads: a DATE as java.sql.Date.valueOf reads it
-- ('yyyy-[m]m-[d]d', a day up to 31 rolling over past its month's end), a TIME as ISO
-- 'HH:mm[:ss[.S...]]' (no 24:00, no leap second); no spaces around either. NULL with
-- 'csv.ignore-parse-errors' for what is none.
CREATE TABLE t (
  k  INT,
  dt DATE,
  tm TIME(3)
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.csv',
  'format'    = 'csv',
  'csv.ignore-parse-errors' = 'true'
);

SELECT k, dt, tm FROM t;
