-- CUMULATE: windows of up to 1 minute growing by 20 seconds.
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
SELECT window_start, window_end, symbol,
       COUNT(*)    AS cnt,
       SUM(volume) AS sum_volume,
       MIN(price)  AS min_price
FROM TABLE(CUMULATE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '20' SECOND, INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, symbol;
