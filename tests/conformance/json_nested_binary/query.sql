-- Binary strings inside rows and arrays are Base64 in Flink's json format, as at the top.
CREATE TABLE t (
  k INT,
  r ROW<b BYTES, n INT>,
  a ARRAY<BYTES>
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/json_nested_binary.json}',
  'format'    = 'json'
);

SELECT k, r.b AS rb, r.n AS rn, a[1] AS a1, a[2] IS NULL AS a2_null, a[3] AS a3, CARDINALITY(a) AS n FROM t;
