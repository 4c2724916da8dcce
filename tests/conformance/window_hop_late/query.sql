-- HOP over late rows: a row late for its first window still counts in the second.
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
       MIN(price)  AS min_price,
       MAX(price)  AS max_price
FROM TABLE(HOP(TABLE ticks, DESCRIPTOR(ts), INTERVAL '30' SECOND, INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, symbol;
