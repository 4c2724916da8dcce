-- A temporal join against a versioned view: the last row per key by event time (ROW_NUMBER ... ORDER BY ts DESC = 1), as Flink infers its key and time attribute.
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
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../data/tiers.csv',
  'format'    = 'csv'
);
CREATE TEMPORARY VIEW latest_tiers AS
SELECT customer_id, tier, discount, ts FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ts DESC) AS rownum
  FROM tiers)
WHERE rownum = 1;
SELECT o.order_id, o.customer_id, t.tier
FROM orders o
JOIN latest_tiers FOR SYSTEM_TIME AS OF o.ts AS t
  ON o.customer_id = t.customer_id;
