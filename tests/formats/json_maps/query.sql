-- Values of MAP columns read by Flink's rules, as values of other columns are: DOUBLE from
-- Java's number text (`1.5f`, `NaN`; `inf` is none), BOOLEAN from any text, TIMESTAMP in
-- Flink's form, DECIMAL rounded half up. A value that does not read is NULL in its map
-- (`json.ignore-parse-errors`), the row and the map's other entries stay.
CREATE TABLE input (
  k INT, md MAP<STRING, DOUBLE>, mb MAP<STRING, BOOLEAN>, mt MAP<STRING, TIMESTAMP(3)>,
  mm MAP<STRING, DECIMAL(5, 2)>
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/maps.json',
  'format'    = 'json',
  'json.ignore-parse-errors' = 'true'
);
CREATE TABLE output (
  k INT, md MAP<STRING, DOUBLE>, mb MAP<STRING, BOOLEAN>, mt MAP<STRING, TIMESTAMP(3)>,
  mm MAP<STRING, DECIMAL(5, 2)>
) WITH (
  'connector' = 'filesystem',
  'path'      = '${OUT}',
  'format'    = 'json'
);
INSERT INTO output SELECT * FROM input;
