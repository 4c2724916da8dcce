-- COLLECT (a MULTISET: each non-NULL value with its count) in windows, of integers and strings; an empty multiset where a window has only NULLs. Flink lists a multiset's elements in its hash map's order, rill in ascending order (multiset.py writes Flink's in ascending order).
CREATE TABLE sales (
  ts     TIMESTAMP(3),
  shop   STRING,
  item   INT,
  tag    STRING,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.json',
  'format'    = 'json'
);
SELECT shop, window_start, COLLECT(item) AS items, COLLECT(tag) AS tags,
       COLLECT(CASE WHEN item > 7 THEN item END) AS high
FROM TABLE(TUMBLE(TABLE sales, DESCRIPTOR(ts), INTERVAL '20' SECOND))
GROUP BY shop, window_start, window_end;
