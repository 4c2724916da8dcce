-- Normalised change events by primary key: Flink's exact changelog (first row +I, -U/+U on change, repeats dropped, -D of the stored row).
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
SELECT * FROM products;
