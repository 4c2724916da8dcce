-- ARRAY, MAP and ROW columns read from JSON: indexing (NULL outside the array), CARDINALITY, ARRAY_* functions, map lookups and row fields, per row and in a windowed aggregate; arrays and rows are written as Flink's csv format writes them (elements and fields joined by ';').
CREATE TABLE orders (
  ts    TIMESTAMP(3),
  who   STRING,
  items ARRAY<STRING>,
  qty   ARRAY<INT>,
  attrs MAP<STRING, STRING>,
  addr  ROW<city STRING, zip STRING>,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.json',
  'format'    = 'json'
);
SELECT 'row' AS kind, who, CAST(ts AS STRING) AS moment, items, addr,
       CARDINALITY(items) AS n, items[1] AS first_item, qty[2] AS second_qty, qty[3] AS third_qty,
       ARRAY_CONTAINS(items, 'pear') AS has_pear, CAST(ARRAY_DISTINCT(items) AS STRING) AS distinct_items,
       CAST(qty AS STRING) AS qty_text, attrs['channel'] AS channel, attrs['coupon'] IS NULL AS no_coupon,
       CARDINALITY(attrs) AS n_attrs, addr.city AS city
FROM orders
UNION ALL
SELECT 'window', attrs['channel'], CAST(window_start AS STRING), CAST(NULL AS ARRAY<STRING>), CAST(NULL AS ROW<city STRING, zip STRING>),
       CAST(SUM(CARDINALITY(items)) AS INT), MAX(items[1]), SUM(qty[1]), CAST(NULL AS INT),
       CAST(NULL AS BOOLEAN), CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS BOOLEAN),
       CAST(COUNT(*) AS INT), MIN(addr.city)
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY attrs['channel'], window_start, window_end;
