-- With 'debezium-json.ignore-parse-errors', a value of `before` or `after` that is no value of
-- its type is NULL, and an event that is no JSON object is skipped.
CREATE TABLE t (
  id INT,
  v  INT,
  s  STRING
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/debezium_parse_errors.json}',
  'format'    = 'debezium-json',
  'debezium-json.ignore-parse-errors' = 'true'
);

SELECT id, v, s FROM t;
