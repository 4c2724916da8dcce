-- A canal-json file: events with several rows, updates whose 'old' holds only the changed fields (NULL there means unchanged, as in Flink), a DDL event skipped.
CREATE TABLE products (
  id      BIGINT,
  name    STRING,
  price   DOUBLE,
  updated TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../data/products_canal.json',
  'format'    = 'canal-json'
);
SELECT id, name, price FROM products;
