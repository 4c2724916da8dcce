-- Flink's legacy group windows: GROUP BY HOP(ts, slide, size) with HOP_START and HOP_END over
-- a subquery, and a SESSION window per symbol with SESSION_START and SESSION_END.
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
SELECT 'hop' AS kind, symbol,
       HOP_START(ts, INTERVAL '5' SECOND, INTERVAL '15' SECOND) AS wstart,
       HOP_END(ts, INTERVAL '5' SECOND, INTERVAL '15' SECOND) AS wend,
       MAX(price) AS high
FROM (SELECT ts, symbol, price FROM ticks WHERE volume > 100)
GROUP BY symbol, HOP(ts, INTERVAL '5' SECOND, INTERVAL '15' SECOND)
UNION ALL
SELECT 'session' AS kind, symbol,
       SESSION_START(ts, INTERVAL '3' SECOND) AS wstart,
       SESSION_END(ts, INTERVAL '3' SECOND) AS wend,
       MAX(price) AS high
FROM ticks
GROUP BY SESSION(ts, INTERVAL '3' SECOND), symbol;
