-- Three inputs joined on one key of two columns, named in another order by the second join: one
-- multi-way join. All three are updating results, and a customer changes its name.
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
SELECT t.customer_id, t.total, c.name, s.shipped
FROM (SELECT customer_id, MOD(customer_id, 3) AS g, SUM(amount) AS total FROM orders GROUP BY customer_id) t
JOIN (SELECT id, MOD(id, 3) AS g, LAST_VALUE(name) AS name FROM customers GROUP BY id) c
  ON t.customer_id = c.id AND t.g = c.g
JOIN (SELECT MOD(order_id, 50) AS cid, MOD(MOD(order_id, 50), 3) AS g, COUNT(*) AS shipped
      FROM shipments GROUP BY MOD(order_id, 50)) s
  ON s.g = c.g AND s.cid = t.customer_id;
