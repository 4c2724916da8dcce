-- JSON lines with nulls and missing fields.
CREATE TABLE src (id INT, name STRING, score DOUBLE, ok BOOLEAN)
WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/data.json', 'format' = 'json');

SELECT id, name, score, ok, name IS NULL AS no_name, COALESCE(name, 'none') AS named, score * 2 AS twice
FROM src;
