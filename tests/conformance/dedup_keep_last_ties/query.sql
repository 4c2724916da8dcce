-- Deduplication keeping the last row per key by event time, where rows tie on the time: of rows of one time, the one that came last is kept (Flink's deduplication replaces on equal times), and an older row changes nothing.
CREATE TABLE readings (
  ts      TIMESTAMP(3),
  device  STRING,
  reading INT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.json',
  'format'    = 'json'
);
SELECT device, reading, ts FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY device ORDER BY ts DESC) AS rn FROM readings)
WHERE rn = 1;
