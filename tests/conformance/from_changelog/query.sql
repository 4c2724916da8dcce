-- FROM_CHANGELOG: an append-only json file whose rows name their change (op: INSERT, UPDATE_BEFORE, UPDATE_AFTER, DELETE) read as the updating table those changes make, the op column dropped; the result is the table's last state.
CREATE TABLE changes (
  id       INT,
  category STRING,
  price    INT,
  op       STRING
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/changes.json',
  'format'    = 'json'
);
SELECT * FROM FROM_CHANGELOG(input => TABLE changes);
