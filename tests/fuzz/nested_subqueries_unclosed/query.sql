-- Dozens of unclosed "( ( SELECT FROM" hung: sqlparser tries a derived table, then a nested
-- join, at every level (found by fuzz_soak). Subqueries nest at most 16 deep.
CREATE TABLE t (ts TIMESTAMP(3), k STRING, v BIGINT, x DOUBLE, s STRING,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
  WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/t.csv', 'format' = 'csv');
CREATE TABLE u (ts TIMESTAMP(3), k STRING, n INT, d DECIMAL(10, 2),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/u.json', 'format' = 'json');
SELECT c , COUNT ( * ) AS n FROM ( SELECT FROM ( SELECT FROM ( SELECT FROM ( SELECT FROM ( SELECT FROM ( SELECT FROM ( SELECT FROM ( SELECT FROM ( SELECT FROM ( SELECT FROM ( SELECT FROM ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( ( SELECT FROM ( SELECT FROM ( SELECT FROM ( SELECT 'it''s' AS c FROM u WHERE TRUE ) GROUP BY c;
