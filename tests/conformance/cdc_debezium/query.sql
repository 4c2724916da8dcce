-- A debezium-json file read as a changelog: snapshot reads, inserts, updates (one changing the key), deletes; the result is the table's last state.
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
SELECT * FROM products;
