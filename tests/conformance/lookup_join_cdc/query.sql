-- Lookup join against a view over a change-event file: the probe rows meet the products as they stand at the end of the file (an update applied, a delete gone), then an aggregation over the result. The oracle's answer is that of the same query as a regular join (flink.sed makes it of this file).
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
CREATE VIEW cheap AS SELECT * FROM products WHERE price < 3;
SELECT MOD(o.customer_id, 5) AS k, COUNT(*) AS n, SUM(o.amount) AS amount, MAX(p.name) AS name
FROM orders o
JOIN cheap FOR SYSTEM_TIME AS OF o.proc AS p ON MOD(o.customer_id, 5) = p.id
GROUP BY MOD(o.customer_id, 5);
