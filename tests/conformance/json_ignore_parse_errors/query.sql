-- With 'json.ignore-parse-errors', Flink keeps a malformed row and reads as NULL each value
-- that is no value of its type, down to a row's fields, an array's items and a map's values; a line that is
-- no JSON object is skipped. (Flink 2.3's json-parser decoder loses its place after a
-- malformed value that is an array or object where a number is expected, `[[1], 2]` for
-- ARRAY<INT>: it drops the row, or reads later values wrongly. rill reads that value as NULL,
-- as Flink's documentation says; such values are not in this case.)
CREATE TABLE t (
  k  INT,
  v  INT,
  s  ROW<x INT, y INT>,
  a  ARRAY<INT>,
  ts TIMESTAMP(3),
  m  MAP<STRING, INT>
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/json_parse_errors.json}',
  'format'    = 'json',
  'json.ignore-parse-errors' = 'true'
);

SELECT k, v, s.x AS x, s.y AS y, s IS NULL AS s_null, CARDINALITY(a) AS n, a[1] AS a1, a[2] AS a2, ts,
       CARDINALITY(m) AS m_n, m['a'] AS ma, m['b'] AS mb FROM t;
