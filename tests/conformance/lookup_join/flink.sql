-- The oracle's query for query.sql: the same join as a regular join.
CREATE TABLE orders (
  ts          TIMESTAMP(3),
  order_id    BIGINT,
  customer_id BIGINT,
  amount      INT,
  proc AS PROCTIME(),
  WATERMARK FOR ts AS ts - INTERVAL '3' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../data/orders.json',
  'format'    = 'json'
);
CREATE TABLE customers (
  ts     TIMESTAMP(3),
  id     BIGINT,
  name   STRING,
  region STRING
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../data/customers.csv',
  'format'    = 'csv'
);
SELECT o.order_id, o.amount, c.name, c.region
FROM orders AS o
JOIN customers AS c
  ON o.customer_id = c.id AND c.region <> 'south';
