-- COLLECT over an updating input (counts that a later row retracts): each retraction takes its value's count back, and a count that falls to zero leaves the multiset.
CREATE TABLE sales (
  ts     TIMESTAMP(3),
  shop   STRING,
  item   INT,
  tag    STRING,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../collect/data.json',
  'format'    = 'json'
);
SELECT shop, COLLECT(n) AS counts
FROM (SELECT shop, item, COUNT(*) AS n FROM sales GROUP BY shop, item)
GROUP BY shop;
