-- UNNEST: CROSS JOIN UNNEST of an array (rows without elements drop out) and of an array of rows (its fields become columns), LEFT JOIN UNNEST ... ON TRUE (rows without elements stay, with NULLs), a map's entries as key and value, WITH ORDINALITY (each element's place), an unnamed element (named after the table alias), an array of the row's own columns, and a tumbling window over unnested rows (the time attribute survives the join).
CREATE TABLE orders (
  ts    TIMESTAMP(3),
  who   STRING,
  items ARRAY<STRING>,
  attrs MAP<STRING, STRING>,
  lines ARRAY<ROW<sku STRING, qty INT>>,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.json',
  'format'    = 'json'
);
CREATE VIEW order_lines AS
SELECT o.ts, o.who, l.sku, l.qty FROM orders AS o CROSS JOIN UNNEST(o.lines) AS l (sku, qty);
SELECT 'item' AS kind, who, CAST(ts AS STRING) AS moment, item AS name, CAST(NULL AS INT) AS amount
FROM orders CROSS JOIN UNNEST(items) AS i (item)
UNION ALL
SELECT 'left', who, CAST(ts AS STRING), item, CHAR_LENGTH(item)
FROM orders LEFT JOIN UNNEST(items) AS i (item) ON TRUE
UNION ALL
SELECT 'place', who, CAST(ts AS STRING), item, pos
FROM orders LEFT JOIN UNNEST(items) WITH ORDINALITY AS i (item, pos) ON TRUE
UNION ALL
SELECT 'unnamed', who, CAST(ts AS STRING), x, CAST(NULL AS INT)
FROM orders CROSS JOIN UNNEST(items) AS x
UNION ALL
SELECT 'pivot', who, CAST(ts AS STRING), x, CHAR_LENGTH(x)
FROM orders CROSS JOIN UNNEST(ARRAY[who, UPPER(who), attrs['channel']]) AS p (x)
UNION ALL
SELECT 'attr', who, CAST(ts AS STRING), k || '=' || v, CAST(NULL AS INT)
FROM orders CROSS JOIN UNNEST(attrs) AS a (k, v)
UNION ALL
SELECT 'line', who, CAST(ts AS STRING), sku, qty FROM order_lines
UNION ALL
SELECT 'window', sku, CAST(window_start AS STRING), CAST(COUNT(*) AS STRING), CAST(SUM(qty) AS INT)
FROM TABLE(TUMBLE(TABLE order_lines, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY sku, window_start, window_end;
