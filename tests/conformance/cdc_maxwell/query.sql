-- A maxwell-json file: one row per event; updates hold the changed fields in 'old' (a field there with NULL was NULL before).
CREATE TABLE products (
  id      BIGINT,
  name    STRING,
  price   DOUBLE,
  updated TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../data/products_maxwell.json',
  'format'    = 'maxwell-json'
);
SELECT id, name, price FROM products;
