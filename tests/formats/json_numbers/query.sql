-- FLOAT and DOUBLE from JSON numbers and from text as Java's parser reads it (`1.5f`, `NaN`,
-- `-Infinity`, spaces around), while `inf`, `nan` and hexadecimal floats are no numbers: those
-- rows fail and are skipped (`json.ignore-parse-errors`). A FLOAT is read as a double made a
-- float, as Flink's json format does.
CREATE TABLE input (k INT, f FLOAT, d DOUBLE) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/numbers.json',
  'format'    = 'json',
  'json.ignore-parse-errors' = 'true'
);
CREATE TABLE output (k INT, f FLOAT, d DOUBLE, fs STRING, ds STRING) WITH (
  'connector' = 'filesystem',
  'path'      = '${OUT}',
  'format'    = 'json'
);
INSERT INTO output SELECT k, f, d, CAST(f AS STRING), CAST(d AS STRING) FROM input;
