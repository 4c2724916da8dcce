-- BITMAP aggregates in windows (a window whose users are all NULL included) and in a GROUP BY, shown through BITMAP_TO_STRING and BITMAP_CARDINALITY.
CREATE TABLE visits (
  ts      TIMESTAMP(3),
  shop    STRING,
  user_id INT,
  tags    ARRAY<INT>,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.json',
  'format'    = 'json'
);
SELECT window_start, BITMAP_CARDINALITY(BITMAP_BUILD_AGG(user_id)) AS users,
       BITMAP_TO_STRING(BITMAP_BUILD_AGG(user_id)) AS who,
       BITMAP_TO_STRING(BITMAP_OR_AGG(BITMAP_BUILD(tags))) AS any_tag,
       BITMAP_TO_STRING(BITMAP_AND_AGG(BITMAP_BUILD(tags))) AS every_tag,
       BITMAP_TO_STRING(BITMAP_XOR_AGG(BITMAP_BUILD(tags))) AS odd_tags,
       TO_BASE64(BITMAP_TO_BYTES(BITMAP_BUILD_AGG(user_id))) AS serialized,
       BITMAP_BUILD_CARDINALITY_AGG(user_id) AS users_too,
       BITMAP_AND_CARDINALITY_AGG(BITMAP_BUILD(tags)) AS every_count,
       BITMAP_OR_CARDINALITY_AGG(BITMAP_BUILD(tags)) AS any_count,
       BITMAP_XOR_CARDINALITY_AGG(BITMAP_BUILD(tags)) AS odd_count
FROM TABLE(TUMBLE(TABLE visits, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end;
