-- An updating GROUP BY with about one group per row: keyed state that grows with the input,
-- for what checkpoints and restores cost at a million keys (bench/restore.sh,
-- QUERIES=q_group_keys bench/checkpoint.sh).
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT}',
  'format'    = 'csv'
);

SELECT ts, COUNT(*) AS cnt, SUM(volume) AS volume, MAX(price) AS top
FROM ticks
GROUP BY ts;
