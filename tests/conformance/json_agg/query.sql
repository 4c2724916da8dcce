-- JSON_ARRAYAGG (NULLs left out unless NULL ON NULL, values by arrival) and JSON_OBJECTAGG (keys in order, NULL values kept unless ABSENT ON NULL, a nested JSON_OBJECT inserted as JSON) in tumbling windows and over a changelog, where a retraction takes back its value or key.
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
CREATE TABLE products (
  id      BIGINT,
  name    STRING,
  price   DOUBLE,
  updated TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../data/products_debezium.json',
  'format'    = 'debezium-json'
);
SELECT 'window' AS agg, k, CAST(window_start AS STRING) AS moment,
       JSON_ARRAYAGG(x) AS arr, JSON_ARRAYAGG(x NULL ON NULL) AS arr_nulls,
       JSON_OBJECTAGG(KEY CAST(SECOND(ts) AS STRING) VALUE x) AS obj,
       JSON_OBJECTAGG(CAST(SECOND(ts) AS STRING) VALUE JSON_OBJECT('x' VALUE x, 'k' VALUE k) ABSENT ON NULL) AS nested
FROM TABLE(TUMBLE(TABLE readings, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY k, window_start, window_end
UNION ALL
SELECT 'changelog', CAST(price > 10 AS STRING), '', JSON_ARRAYAGG(name), JSON_ARRAYAGG(price),
       JSON_OBJECTAGG(KEY name VALUE price), JSON_OBJECTAGG(KEY CAST(id AS STRING) VALUE name)
FROM products
GROUP BY price > 10;
