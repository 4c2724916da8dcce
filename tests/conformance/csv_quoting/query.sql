-- RFC-4180 quoting in and out; an empty field is an empty string, not NULL.
CREATE TABLE src (id INT, s STRING, t STRING, d DOUBLE)
WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/data.csv', 'format' = 'csv');

SELECT id, s, t, d, s IS NULL AS s_null, CHAR_LENGTH(s) AS len, s || '"' || t AS joined, d * 2 AS d2
FROM src;
