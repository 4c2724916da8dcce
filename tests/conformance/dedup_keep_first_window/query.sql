-- Keeping the first row per key by event time is append-only and keeps the time attribute (as in Flink): a window can follow.
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
CREATE TEMPORARY VIEW first_orders AS
SELECT order_id, customer_id, amount, ts FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY customer_id, amount / 100 ORDER BY ts ASC) AS rn
  FROM orders)
WHERE rn = 1;
SELECT window_start, COUNT(*) AS firsts, SUM(amount) AS amount
FROM TABLE(TUMBLE(TABLE first_orders, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end;
