-- LEFT temporal join without an alias: orders before a customer's first tier (or of customers without one) are padded; a residual condition on the version.
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
SELECT orders.order_id, tiers.tier, tiers.ts AS tier_since
FROM orders
LEFT JOIN tiers FOR SYSTEM_TIME AS OF orders.ts
  ON orders.customer_id = tiers.customer_id AND tiers.tier <> 'bronze';
