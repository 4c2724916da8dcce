-- A JSON column the query does not read is not decoded (Flink pushes the projection into the
-- format): its malformed value in row 2 fails nothing. Fields of a struct read through it.
CREATE TABLE t (
  k   INT,
  bad INT,
  s   ROW<x INT, y INT, z STRING>
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/json_unread_columns.json}',
  'format'    = 'json'
);

SELECT k, s.x AS x, s.z AS z, s IS NULL AS no_s FROM t;
