-- A temporal join against a changelog (debezium-json) versioned table, read as upserts: updates,
-- deletes (at the time in their before image, as Flink takes it) and a key change (its -U is
-- dropped, so the old key keeps its row). Orders after the last change only: earlier ones would
-- meet deletes that arrive after the watermark passed them, which no engine orders the same way.
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
CREATE TABLE products (
  id      BIGINT,
  name    STRING,
  price   DOUBLE,
  updated TIMESTAMP(3),
  PRIMARY KEY (id) NOT ENFORCED,
  WATERMARK FOR updated AS updated
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../data/products_debezium.json',
  'format'    = 'debezium-json'
);
SELECT o.order_id, o.customer_id, p.name, p.price
FROM orders o
LEFT JOIN products FOR SYSTEM_TIME AS OF o.ts AS p
  ON o.customer_id = p.id
WHERE o.ts > TIMESTAMP '2024-01-01 00:00:12.500' AND o.order_id < 150;
