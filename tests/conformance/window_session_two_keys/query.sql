-- SESSION partitioned by two keys (a multi-column key table, rebuilt each time sessions fire).
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
CREATE VIEW trades AS SELECT ts, symbol, volume, volume > 500 AS big FROM ticks;
SELECT window_start, window_end, symbol, big, COUNT(*) AS cnt, SUM(volume) AS v
FROM TABLE(SESSION(TABLE trades PARTITION BY (symbol, big), DESCRIPTOR(ts), INTERVAL '3' SECOND))
GROUP BY window_start, window_end, symbol, big;
