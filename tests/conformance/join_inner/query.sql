-- Regular INNER join of two append-only streams with a filter (Nexmark q3/q20 shape); NULL keys match nothing.
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
CREATE TABLE shipments (
  ts       TIMESTAMP(3),
  order_id BIGINT,
  carrier  STRING,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../data/shipments.csv',
  'format'    = 'csv'
);
SELECT o.order_id, o.amount, c.name, c.region
FROM orders o JOIN customers c ON o.customer_id = c.id
WHERE o.amount > 100;
