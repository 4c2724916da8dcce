-- Windows over windowed results: window_time is the next rowtime.
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
CREATE VIEW per_symbol AS
SELECT window_time, symbol, COUNT(*) AS cnt
FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, window_time, symbol;

SELECT window_start, window_end, COUNT(*) AS symbols_active, SUM(cnt) AS cnt
FROM TABLE(TUMBLE(TABLE per_symbol, DESCRIPTOR(window_time), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end;
