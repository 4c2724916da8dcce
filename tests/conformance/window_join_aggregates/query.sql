-- A window join of two window aggregations (Nexmark q8 shape).
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
SELECT o.bucket, o.window_start, o.n, s.shipped
FROM (SELECT order_id % 10 AS bucket, window_start, window_end, COUNT(*) AS n
      FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '2' MINUTE))
      GROUP BY order_id % 10, window_start, window_end) o
JOIN (SELECT order_id % 10 AS bucket, window_start, window_end, COUNT(*) AS shipped
      FROM TABLE(TUMBLE(TABLE shipments, DESCRIPTOR(ts), INTERVAL '2' MINUTE))
      GROUP BY order_id % 10, window_start, window_end) s
  ON o.bucket = s.bucket AND o.window_start = s.window_start AND o.window_end = s.window_end;
