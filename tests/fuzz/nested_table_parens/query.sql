-- Dozens of '( ( FROM' hung: a table in parentheses is tried as a derived table, then as a
-- nested join, at every level (found by a 5-minute soak after the other fixes).
CREATE TABLE t (ts TIMESTAMP(3), k STRING, v BIGINT, x DOUBLE, s STRING,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
  WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/t.csv', 'format' = 'csv');
CREATE TABLE u (ts TIMESTAMP(3), k STRING, n INT, d DECIMAL(10, 2),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/u.json', 'format' = 'json');
SELECT c , COUNT ( * ) AS n FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( FROM ( ( ts ( CAST SELECT v AS STRING ) FROM 3 FOR 4 ) AS c FROM t WHERE SUBSTRING + INTERVAL '24' SECOND > TIMESTAMP '2024-01-01 00:00:30.000' ) GROUP BY c;
