-- COLLECT in a bounded OVER frame: the rows leaving the frame are taken back.
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
SELECT shop, ts, item, COLLECT(item) OVER (PARTITION BY shop ORDER BY ts ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS items
FROM sales;
