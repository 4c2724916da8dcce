-- LAG beside running aggregates on the default frame of an ordered window (RANGE from UNBOUNDED PRECEDING), as Flink allows; late rows (ticks_late) dropped.
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
SELECT symbol, ts, price,
  LAG(price) OVER w AS before1, SUM(volume) OVER w AS total, COUNT(*) OVER w AS n,
  price - FIRST_VALUE(price) OVER w AS since_first
FROM ticks
WINDOW w AS (PARTITION BY symbol ORDER BY ts);
