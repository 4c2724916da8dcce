-- TIMESTAMP_LTZ read from CSV (UTC session time zone) and cast to TIMESTAMP.
CREATE TABLE src (id INT, t TIMESTAMP_LTZ(3))
WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/data.csv', 'format' = 'csv');

SELECT id, t, CAST(t AS TIMESTAMP(3)) AS plain FROM src;
