-- Nested quantifiers saturated the pattern's size estimate, and adding to it overflowed
-- (found by fuzz_soak).
CREATE TABLE t (ts TIMESTAMP(3), k STRING, v BIGINT, x DOUBLE, s STRING,
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
  WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/t.csv', 'format' = 'csv');
CREATE TABLE u (ts TIMESTAMP(3), k STRING, n INT, d DECIMAL(10, 2),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/u.json', 'format' = 'json');
SELECT FROM t MATCH_RECOGNIZE ( PARTITION BY k ORDER BY ts MEASURES FIRST ( A.ts ) AS first_ts , LAST ( C.v ) AS last_value , COUNT ( C.v ) AS n , MATCH_NUMBER ( ) AS mn , CLASSIFIER ( ) AS cl ALL ROWS PER MATCH AFTER MATCH SKIP PAST LAST ROW PATTERN ( C C { 0 , 3 } C ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? ? A + ? ) DEFINE A AS SUM ( A.v ) > - 2051478717 , C AS C.v > PREV ( C.v ) ) AS m;
