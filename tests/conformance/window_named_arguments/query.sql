-- Window function arguments by name, in any order (Flink's DATA, TIMECOL, SLIDE, SIZE, OFFSET).
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
SELECT window_start, window_end, symbol, COUNT(*) AS cnt, SUM(volume) AS sum_volume
FROM TABLE(HOP(
  DATA => TABLE ticks,
  TIMECOL => DESCRIPTOR(ts),
  SIZE => INTERVAL '2' MINUTE,
  SLIDE => INTERVAL '1' MINUTE,
  `OFFSET` => INTERVAL '10' SECOND))
GROUP BY window_start, window_end, symbol;
