-- A filter between SESSION and the aggregation, and a session over all symbols.
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/ticks_small.csv}',
  'format'    = 'csv'
);
SELECT window_start, window_end, COUNT(*) AS cnt, SUM(volume) AS v
FROM TABLE(SESSION(TABLE ticks, DESCRIPTOR(ts), INTERVAL '1' SECOND))
WHERE price > 90
GROUP BY window_start, window_end;
