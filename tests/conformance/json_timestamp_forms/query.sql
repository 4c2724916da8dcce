-- The timestamps Flink's json format reads: 'yyyy-MM-dd HH:mm:ss[.S...]' under Java's SMART
-- resolver (Feb 30 is Feb 29, 24:00:00 the next midnight); a 'T', an offset or a missing
-- second is no timestamp (NULL with 'json.ignore-parse-errors').
CREATE TABLE t (
  k  INT,
  ts TIMESTAMP(6)
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/timestamp_forms.json}',
  'format'    = 'json',
  'json.ignore-parse-errors' = 'true'
);

SELECT k, ts FROM t;
