-- TO_CHANGELOG over a Top-N: each change of the three biggest orders per customer (inserts, and updates as a row leaves the top three or moves up) as an appended row named by its kind.
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
CREATE VIEW top3 AS
SELECT * FROM (
  SELECT order_id, customer_id, amount,
         ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY amount DESC) AS rn
  FROM orders)
WHERE rn <= 3;
SELECT * FROM TO_CHANGELOG(input => TABLE top3);
