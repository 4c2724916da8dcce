-- The oracle's q_hop: HOP windows of 1 minute every 30 seconds.
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
       MIN(price)  AS min_price,
       MAX(price)  AS max_price
FROM TABLE(HOP(TABLE ticks, DESCRIPTOR(ts), INTERVAL '30' SECOND, INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, symbol;
