-- CUMULATE up to 2^31 s in steps of 2 s put each row in a billion windows: allocations of
-- 30 GB and 600 GB aborted the process (found by fuzz_soak). At most 10 000 windows a row.
CREATE TABLE t (ts TIMESTAMP(3), k STRING, v BIGINT, x DOUBLE, s STRING,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
  WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/t.csv', 'format' = 'csv');
CREATE TABLE u (ts TIMESTAMP(3), k STRING, n INT, d DECIMAL(10, 2),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/u.json', 'format' = 'json');
SELECT window_start , window_end , MIN ( k ) AS a , SUM ( v ) + MIN ( MOD ( v , v ) ) AS b FROM TABLE ( CUMULATE ( TABLE t , DESCRIPTOR ( ts ) , INTERVAL '2' SECOND , INTERVAL 2147483648 SECOND ) ) GROUP BY window_start , window_end;
