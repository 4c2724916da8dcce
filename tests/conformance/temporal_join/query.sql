-- Event-time temporal join: each order with its customer's tier as of the order's time (a versioned table with a primary key and a watermark).
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
CREATE TABLE tiers (
  ts          TIMESTAMP(3),
  customer_id BIGINT,
  tier        STRING,
  discount    INT,
  PRIMARY KEY (customer_id) NOT ENFORCED,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../data/tiers.csv',
  'format'    = 'csv'
);
SELECT o.order_id, o.ts, o.customer_id, t.tier, o.amount * (100 - t.discount) / 100 AS price
FROM orders o
JOIN tiers FOR SYSTEM_TIME AS OF o.ts AS t
  ON o.customer_id = t.customer_id;
