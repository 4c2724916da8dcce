-- ARRAY_AGG: NULLs kept unless IGNORE NULLS, values in arrival order (DISTINCT outside windows: each value once, where it first came, also over a changelog and alone, which DataFusion would plan as a GROUP BY of the values), NULL for a group of no rows; in tumbling windows, a running OVER, a bounded OVER, and a GROUP BY over a changelog (a retraction takes back the earliest arrival of its value, as Flink's does).
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
       CAST(ARRAY_AGG(x) AS STRING) AS all_values, CAST(ARRAY_AGG(x IGNORE NULLS) AS STRING) AS values_only
FROM TABLE(TUMBLE(TABLE readings, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY k, window_start, window_end
UNION ALL
SELECT 'running', k, CAST(ts AS STRING), CAST(ARRAY_AGG(x) OVER w AS STRING), CAST(ARRAY_AGG(x IGNORE NULLS) OVER w AS STRING)
FROM readings
WINDOW w AS (PARTITION BY k ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
UNION ALL
SELECT 'last2', k, CAST(ts AS STRING), CAST(ARRAY_AGG(x) OVER w2 AS STRING), ''
FROM readings
WINDOW w2 AS (PARTITION BY k ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
UNION ALL
SELECT 'changelog', CAST(price > 10 AS STRING), '', CAST(ARRAY_AGG(name) AS STRING), CAST(ARRAY_AGG(id) AS STRING)
FROM products
GROUP BY price > 10

UNION ALL
SELECT 'distinct changelog', CAST(price > 1 AS STRING), '', CAST(ARRAY_AGG(DISTINCT price > 2) AS STRING), CAST(ARRAY_AGG(DISTINCT CAST(FLOOR(price) AS INT)) AS STRING)
FROM products
GROUP BY price > 1
UNION ALL
SELECT 'distinct alone', '', '', CAST(ARRAY_AGG(DISTINCT k) AS STRING), ''
FROM readings;
