-- LEFT lookup join as Nexmark q13 writes it: the processing-time attribute made by PROCTIME() in a subquery, the key an expression; orders of customers not in the file are padded. The oracle's answer is that of the same query as a regular LEFT join (flink.sed makes it of this file).
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
SELECT o.order_id, o.customer_id, c.name
FROM (SELECT *, PROCTIME() AS p_time FROM orders) o
LEFT JOIN customers FOR SYSTEM_TIME AS OF o.p_time AS c
  ON MOD(o.customer_id, 45) = c.id;
