-- SESSION over late rows.
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
SELECT window_start, window_end, symbol,
       COUNT(*)    AS cnt,
       SUM(volume) AS sum_volume,
       MAX(price)  AS max_price
FROM TABLE(SESSION(TABLE ticks PARTITION BY symbol, DESCRIPTOR(ts), INTERVAL '3' SECOND))
GROUP BY window_start, window_end, symbol;
