-- FIRST_VALUE and LAST_VALUE over a changelog: a retraction takes back the value's earliest arrival.
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
SELECT FIRST_VALUE(name) AS first_name, LAST_VALUE(name) AS last_name, FIRST_VALUE(price) AS first_price, LAST_VALUE(price) AS last_price FROM products;
