-- Top-N over an updating input (Nexmark q9 shape: a join, then a ranking of aggregates).
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
SELECT region, name, total, rn FROM (
  SELECT region, name, total,
         ROW_NUMBER() OVER (PARTITION BY region ORDER BY total DESC) AS rn
  FROM (SELECT c.region, c.name, SUM(o.amount) AS total
        FROM orders o JOIN customers c ON o.customer_id = c.id
        GROUP BY c.region, c.name))
WHERE rn <= 2;
