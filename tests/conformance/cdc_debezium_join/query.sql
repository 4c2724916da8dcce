-- A regular join of an append-only stream with a changelog: results follow the product's updates and deletes.
CREATE TABLE orders (
  ts          TIMESTAMP(3),
  order_id    BIGINT,
  customer_id BIGINT,
  amount      INT,
  WATERMARK FOR ts AS ts - INTERVAL '3' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../data/orders.json',
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
SELECT o.order_id, p.name, p.price * o.amount AS cost
FROM orders o LEFT JOIN products p ON o.customer_id = p.id
WHERE o.order_id < 300;
