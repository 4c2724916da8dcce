-- Lookup join (rill goes beyond Flink here: Flink looks up only connectors queried by key, and refuses files): each order meets the rows of its customer in the customers file, read to its end first (a customer with two rows gives two results), with a residual condition on the table's row. The oracle's answer is that of the same query as a regular join (flink.sed makes it of this file), which a lookup join against a table that does not change must equal.
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
JOIN customers FOR SYSTEM_TIME AS OF o.proc AS c
  ON o.customer_id = c.id AND c.region <> 'south';
