-- BYTES columns read from json (Flink's json format writes binary strings in Base64), grouped on, compared, decoded, and written back in Base64.
CREATE TABLE messages (
  ts      TIMESTAMP(3),
  id      INT,
  key     BYTES,
  payload VARBINARY,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.json',
  'format'    = 'json'
);
SELECT key, window_start, COUNT(*) AS n, MAX(TO_BASE64(payload)) AS top, MIN(MD5(payload)) AS bottom,
       SUM(CASE WHEN payload = ENCODE('hello', 'UTF-8') THEN 1 ELSE 0 END) AS hellos,
       MAX(DECODE(payload, 'UTF-8')) AS text, MAX(TO_BASE64(key)) AS key64,
       MIN(TO_BASE64(CAST(payload AS BINARY(2)))) AS head2
FROM TABLE(TUMBLE(TABLE messages, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY key, window_start, window_end;
