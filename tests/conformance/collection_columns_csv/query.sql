-- ARRAY and ROW columns read from CSV as Flink's csv format writes them: elements and fields joined by ';', an empty field being an empty array or a NULL row, fields past the row's ignored.
CREATE TABLE orders (
  ts    TIMESTAMP(3),
  who   STRING,
  items ARRAY<STRING>,
  qty   ARRAY<INT>,
  addr  ROW<city STRING, zip STRING>,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.csv',
  'format'    = 'csv'
);
SELECT who, CAST(ts AS STRING) AS moment, items, qty, CARDINALITY(items) AS n, CHAR_LENGTH(items[1]) AS first_len,
       qty[2] AS second_qty, addr IS NULL AS no_addr, addr.city AS city, CHAR_LENGTH(addr.zip) AS zip_len
FROM orders;
