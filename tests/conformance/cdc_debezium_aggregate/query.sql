-- Aggregates over a changelog source: every update and delete is retracted.
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
SELECT COUNT(*) AS n, SUM(price) AS total, MAX(price) AS top, MIN(name) AS first_name, COUNT(DISTINCT name) AS names FROM products;
