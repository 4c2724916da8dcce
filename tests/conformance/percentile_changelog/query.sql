-- PERCENTILE over an updating input (counts that a later row retracts): each retraction takes its value's count back.
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
SELECT shop, PERCENTILE(n, 0.5) AS median_count, PERCENTILE(price, 0.25, n) AS weighted_q1, PERCENTILE(price, 0.75, n) AS weighted_q3
FROM (SELECT shop, price, COUNT(*) AS n FROM sales GROUP BY shop, price)
GROUP BY shop;
