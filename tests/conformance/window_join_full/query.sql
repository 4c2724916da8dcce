-- FULL window join: each window's unmatched rows of both sides padded when it fires.
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
SELECT L.order_id, L.window_start, R.order_id AS shipment_order, R.window_end, R.carrier
FROM (SELECT * FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' MINUTE))) L
FULL JOIN (SELECT * FROM TABLE(TUMBLE(TABLE shipments, DESCRIPTOR(ts), INTERVAL '1' MINUTE))) R
  ON L.order_id = R.order_id AND L.window_start = R.window_start AND L.window_end = R.window_end;
