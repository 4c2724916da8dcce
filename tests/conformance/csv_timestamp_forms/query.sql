-- The timestamps Flink's csv format reads: 'yyyy-MM-dd HH:mm:ss[.S...]' under Java's SMART
-- resolver (Feb 30 is Feb 29, 24:00:00 the next midnight); a 'T', an offset or a missing
-- second is no timestamp (NULL with 'csv.ignore-parse-errors').
-- The csv format trims the field first.
CREATE TABLE t (
  k  INT,
  ts TIMESTAMP(6)
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/timestamp_forms.csv}',
  'format'    = 'csv',
  'csv.ignore-parse-errors' = 'true'
);

SELECT k, ts FROM t;
