-- A temporal join whose probe side is a changelog (debezium-json): each result has its probe row's change kind.
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
SELECT p.id, p.name, p.price, t.tier
FROM products p
LEFT JOIN tiers FOR SYSTEM_TIME AS OF p.updated AS t
  ON p.id = t.customer_id;
