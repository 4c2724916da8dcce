-- Aggregate functions in a window: DISTINCT, AVG, FIRST/LAST_VALUE, FILTER, expressions over aggregates, offset.
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
SELECT window_start, window_end,
       COUNT(DISTINCT symbol)                    AS symbols,
       COUNT(*)                                  AS cnt,
       AVG(volume)                               AS avg_volume,
       AVG(price)                                AS avg_price,
       MIN(symbol)                               AS first_symbol,
       SUM(volume) FILTER (WHERE price > 100)    AS big_volume,
       MAX(price) - MIN(price)                   AS spread,
       COUNT(*) * 2 + 1                          AS odd
FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '45' SECOND, INTERVAL '10' SECOND))
GROUP BY window_start, window_end;
