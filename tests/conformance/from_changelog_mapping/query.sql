-- FROM_CHANGELOG with its own op column (DESCRIPTOR) and codes (op_mapping, debezium-like c/ub/u/d) feeding an aggregation: each update and delete takes its row back from its category's totals.
CREATE TABLE changes (
  id       INT,
  category STRING,
  price    INT,
  kind     STRING
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/changes.json',
  'format'    = 'json'
);
SELECT category, COUNT(*) AS products, SUM(price) AS total, MAX(price) AS top
FROM FROM_CHANGELOG(
  input => TABLE changes,
  op => DESCRIPTOR(kind),
  op_mapping => MAP['c, r', 'INSERT', 'ub', 'UPDATE_BEFORE', 'u', 'UPDATE_AFTER', 'd', 'DELETE'])
GROUP BY category;
