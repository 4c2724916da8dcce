-- PERCENTILE (Flink's exact percentile, linear between two values) in windows: of integers, of decimals, weighted by a frequency, and for an array of percentages.
CREATE TABLE sales (
  ts     TIMESTAMP(3),
  shop   STRING,
  price  INT,
  weight INT,
  amount DECIMAL(10, 2),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.json',
  'format'    = 'json'
);
SELECT shop, window_start, PERCENTILE(price, 0.5) AS median, PERCENTILE(price, 0.9) AS p90,
       PERCENTILE(amount, 0.25) AS q1, PERCENTILE(price, 0.5, weight) AS weighted,
       PERCENTILE(price, ARRAY[0.1, 0.5, 1.0]) AS spread
FROM TABLE(TUMBLE(TABLE sales, DESCRIPTOR(ts), INTERVAL '20' SECOND))
GROUP BY shop, window_start, window_end;
