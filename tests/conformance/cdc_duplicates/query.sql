-- 'table.exec.source.cdc-events-duplicate': change events delivered twice (and one re-delivered late) are normalised by primary key, so aggregates count each change once.
SET 'table.exec.source.cdc-events-duplicate' = 'true';
CREATE TABLE products (
  id      BIGINT,
  name    STRING,
  price   DOUBLE,
  updated TIMESTAMP(3),
  PRIMARY KEY (id) NOT ENFORCED
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../data/products_debezium_duplicates.json',
  'format'    = 'debezium-json'
);
SELECT COUNT(*) AS n, SUM(price) AS total, MAX(price) AS top, COUNT(DISTINCT name) AS names FROM products;
