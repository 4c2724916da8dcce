-- Flink's legacy group windows: GROUP BY TUMBLE(...) with TUMBLE_START, TUMBLE_END and
-- TUMBLE_ROWTIME, over an aliased table with qualified columns, and a HAVING.
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
SELECT T.symbol,
       TUMBLE_START(T.ts, INTERVAL '10' SECOND) AS wstart,
       TUMBLE_END(T.ts, INTERVAL '10' SECOND) AS wend,
       TUMBLE_ROWTIME(T.ts, INTERVAL '10' SECOND) AS wtime,
       COUNT(*) AS cnt,
       SUM(T.volume) AS volume
FROM ticks AS T
GROUP BY TUMBLE(T.ts, INTERVAL '10' SECOND), T.symbol
HAVING COUNT(*) > 1;
