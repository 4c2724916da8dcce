-- A malformed value the query does not read is no error: row 2's `bad` and `s.y` are not
-- numbers, and row 2 is in the result as it is (with 'json.ignore-parse-errors', Flink decodes
-- `s` whole and sets the malformed field to NULL; rill decodes only the fields read).
CREATE TABLE t (
  k   INT,
  bad INT,
  s   ROW<x INT, y INT, z STRING>,
  t   TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/json_unread.json}',
  'format'    = 'json',
  'json.ignore-parse-errors' = 'true'
);

SELECT k, s.x AS x, s.z AS z FROM t;
