CREATE TABLE t (ts TIMESTAMP(3), k STRING, v BIGINT, x DOUBLE, s STRING,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
  WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/t.csv', 'format' = 'csv', 'csv.ignore-parse-errors' = 'true');
CREATE TABLE u (ts TIMESTAMP(3), k STRING, n INT, d DECIMAL(10, 2),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/u.json', 'format' = 'json', 'json.ignore-parse-errors' = 'true');
SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY ts DESC) AS rownum
  FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '15' SECOND))
) WHERE rownum <= 2;
