-- PERCENTILE over a bounded OVER frame: the rows leaving the frame are retracted, their counts taken back.
CREATE TABLE sales (
  ts     TIMESTAMP(3),
  shop   STRING,
  price  INT,
  weight INT,
  amount DECIMAL(10, 2),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../percentile/data.json',
  'format'    = 'json'
);
SELECT shop, ts, price, PERCENTILE(price, 0.5) OVER w AS recent_median, PERCENTILE(price, ARRAY[0.2, 0.8]) OVER w AS recent_spread
FROM sales
WINDOW w AS (PARTITION BY shop ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW);
