-- With 'csv.ignore-parse-errors', Flink keeps a malformed row and reads as NULL each value
-- that is no value of its type, down to a row's fields and an array's items; a line's
-- missing fields (row 3) and a row's missing fields (row 6's r.y) are NULL; a line with more
-- fields than the table (row 4) is skipped. An empty number (row 5) is malformed, an empty
-- string (row 6's s) is a string.
CREATE TABLE t (
  k  INT,
  v  INT,
  s  STRING,
  a  ARRAY<INT>,
  r  ROW<x INT, y INT>,
  ts TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/csv_parse_errors.csv}',
  'format'    = 'csv',
  'csv.ignore-parse-errors' = 'true'
);

SELECT k, v, s, s IS NULL AS s_null, CARDINALITY(a) AS n, a[1] AS a1, a[2] AS a2, r.x AS x, r.y AS y, r IS NULL AS r_null, ts FROM t;
