-- FIRST_VALUE and LAST_VALUE over bounded frames (the last 3 rows; the last 3 seconds) skip NULLs, as Flink's do: a frame of NULLs only gives NULL.
CREATE TABLE readings (
  ts TIMESTAMP(3),
  k  STRING,
  x  INT,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../first_last_nulls/data.json',
  'format'    = 'json'
);
SELECT 'rows' AS frame, k, CAST(ts AS STRING) AS moment, FIRST_VALUE(x) OVER w AS f, LAST_VALUE(x) OVER w AS l, SUM(x) OVER w AS s
FROM readings
WINDOW w AS (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)
UNION ALL
SELECT 'range', k, CAST(ts AS STRING), FIRST_VALUE(x) OVER r, LAST_VALUE(x) OVER r, COUNT(x) OVER r
FROM readings
WINDOW r AS (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '3' SECOND PRECEDING AND CURRENT ROW);
