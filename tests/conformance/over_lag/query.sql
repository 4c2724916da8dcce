-- LAG per symbol in event-time order: the row before, and two rows back with a default where there is none; late rows (ticks_late) dropped as Flink drops them.
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
       LAG(price) OVER (PARTITION BY symbol ORDER BY ts) AS before1,
       LAG(volume, 2, CAST(-1 AS BIGINT)) OVER (PARTITION BY symbol ORDER BY ts) AS before2
FROM ticks;
