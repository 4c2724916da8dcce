-- TO_CHANGELOG with its own op column (DESCRIPTOR) and codes (op_mapping, two kinds to one code, UPDATE_BEFORE left out and so dropped) over deduplication that keeps each customer's latest order.
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
CREATE VIEW latest AS
SELECT order_id, customer_id, amount FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ts DESC) AS rn FROM orders)
WHERE rn = 1;
SELECT * FROM TO_CHANGELOG(
  input => TABLE latest,
  op => DESCRIPTOR(change),
  op_mapping => MAP['INSERT, UPDATE_AFTER', 'upsert', 'DELETE', 'delete']);
