-- WHERE FALSE plans to an empty relation that still has columns; its batch was built
-- without them: "number of columns(0) must match number of fields(2)" (found by fuzz_soak).
CREATE TABLE t (ts TIMESTAMP(3), k STRING) WITH ('connector' = 'filesystem',
  'path' = '${SQL_DIR}/t.csv', 'format' = 'csv');
SELECT 'a' AS c0, TRUE AS c1 FROM t WHERE FALSE;
