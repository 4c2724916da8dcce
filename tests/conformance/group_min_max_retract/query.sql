-- MIN and MAX over an updating input: values are retracted in any order, not oldest first.
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
SELECT c.region, MAX(t.total) AS top, MIN(t.total) AS bottom, MAX(c.name) AS last_name, COUNT(*) AS n
FROM (SELECT customer_id, SUM(amount) AS total FROM orders GROUP BY customer_id) t
JOIN customers c ON t.customer_id = c.id
GROUP BY c.region;
