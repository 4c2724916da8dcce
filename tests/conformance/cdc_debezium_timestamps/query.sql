-- Change events read their values as Flink's json format does: timestamps in Flink's form
-- (Feb 30 is Feb 29, 24:00:00 the next midnight, a 'T' is no timestamp: NULL with
-- 'debezium-json.ignore-parse-errors') and binary strings in Base64.
CREATE TABLE t (
  id INT,
  ts TIMESTAMP(3),
  b  BYTES
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/debezium_timestamps.json}',
  'format'    = 'debezium-json',
  'debezium-json.ignore-parse-errors' = 'true'
);

SELECT id, ts, b FROM t;
