-- A FULL join over an updating input, aggregated: padded rows are retracted as matches arrive.
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
SELECT c.region, COUNT(*) AS orders, SUM(o.amount) AS amount, COUNT(o.order_id) AS matched
FROM orders o
FULL JOIN (SELECT id, MAX(region) AS region FROM customers GROUP BY id) c ON o.customer_id = c.id
GROUP BY c.region;
