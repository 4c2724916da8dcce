-- TO_CHANGELOG over a debezium-json changelog: snapshot reads, inserts, updates and deletes as appended rows, each named by its kind, filtered and projected afterwards.
CREATE TABLE products (
  id      BIGINT,
  name    STRING,
  price   DOUBLE,
  updated TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../data/products_debezium.json',
  'format'    = 'debezium-json'
);
SELECT op, id, name, price FROM TO_CHANGELOG(TABLE products) WHERE op <> 'INSERT';
