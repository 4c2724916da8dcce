-- A tumbling window aggregation by grouping sets: per window, per symbol and volume class, per symbol, and the window's total; late rows (ticks_late) dropped as Flink drops them.
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/ticks_late.csv}',
  'format'    = 'csv'
);
SELECT window_start, window_end, symbol, volume > 500 AS big, COUNT(*) AS n, SUM(volume) AS total,
  GROUPING_ID(symbol, volume > 500) AS gid
FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, GROUPING SETS ((symbol, volume > 500), (symbol), ());
