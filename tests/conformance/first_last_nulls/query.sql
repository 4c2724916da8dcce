-- FIRST_VALUE and LAST_VALUE skip NULLs, as Flink's do: in tumbling windows, in a GROUP BY and in a running OVER aggregate (b's first window and a's last hold NULLs only).
CREATE TABLE readings (
  ts TIMESTAMP(3),
  k  STRING,
  x  INT,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.json',
  'format'    = 'json'
);
SELECT 'window' AS agg, k, CAST(window_start AS STRING) AS moment, FIRST_VALUE(x) AS f, LAST_VALUE(x) AS l
FROM TABLE(TUMBLE(TABLE readings, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY k, window_start, window_end
UNION ALL
SELECT 'group', k, '', FIRST_VALUE(x), LAST_VALUE(x) FROM readings GROUP BY k
UNION ALL
SELECT 'over', k, CAST(ts AS STRING), FIRST_VALUE(x) OVER w, LAST_VALUE(x) OVER w
FROM readings
WINDOW w AS (PARTITION BY k ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW);
