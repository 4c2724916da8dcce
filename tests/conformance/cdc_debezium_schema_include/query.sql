-- debezium-json with the schema wrapped around each event ('debezium-json.schema-include').
CREATE TABLE products (
  id      BIGINT,
  name    STRING,
  price   DOUBLE,
  updated TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../data/products_debezium_schema.json',
  'format'    = 'debezium-json',
  'debezium-json.schema-include' = 'true'
);
SELECT id, name, price FROM products WHERE price > 1;
