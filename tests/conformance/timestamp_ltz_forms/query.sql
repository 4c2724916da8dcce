-- A TIMESTAMP_LTZ in Flink's csv and json formats is 'yyyy-MM-dd HH:mm:ss[.S...]Z' in UTC,
-- resolved as a TIMESTAMP is (Feb 30 is Feb 29); without the Z, with a 'T' or an offset it is
-- no timestamp (NULL with ignore-parse-errors).
CREATE TABLE c (k INT, ts TIMESTAMP_LTZ(3)) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/timestamp_ltz_forms.csv}',
  'format'    = 'csv',
  'csv.ignore-parse-errors' = 'true'
);
CREATE TABLE j (k INT, ts TIMESTAMP_LTZ(3)) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../data/timestamp_ltz_forms.json',
  'format'    = 'json',
  'json.ignore-parse-errors' = 'true'
);

SELECT 'csv' AS f, k, ts FROM c
UNION ALL
SELECT 'json' AS f, k, ts FROM j;
