-- BITMAP aggregates over an updating input: each shop's per-user visit counts change as visits come, and every aggregate takes the old count back (Flink's retracting bitmap aggregates).
CREATE TABLE visits (
  ts      TIMESTAMP(3),
  shop    STRING,
  user_id INT,
  tags    ARRAY<INT>,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../bitmap_aggregates/data.json',
  'format'    = 'json'
);
SELECT shop, BITMAP_TO_STRING(BITMAP_BUILD_AGG(CAST(visits AS INT))) AS visit_counts,
       BITMAP_BUILD_CARDINALITY_AGG(CAST(visits AS INT)) AS distinct_counts,
       BITMAP_TO_STRING(BITMAP_OR_AGG(BITMAP_BUILD(ARRAY[CAST(visits AS INT), 100]))) AS any_count,
       BITMAP_TO_STRING(BITMAP_AND_AGG(BITMAP_BUILD(ARRAY[CAST(visits AS INT), 100]))) AS every_count,
       BITMAP_TO_STRING(BITMAP_XOR_AGG(BITMAP_BUILD(ARRAY[CAST(visits AS INT), 100]))) AS odd_count,
       BITMAP_AND_CARDINALITY_AGG(BITMAP_BUILD(ARRAY[CAST(visits AS INT)])) AS common
FROM (SELECT shop, user_id, COUNT(*) AS visits FROM visits WHERE user_id IS NOT NULL GROUP BY shop, user_id)
GROUP BY shop;
