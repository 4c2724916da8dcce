-- TIME columns read from csv (TIME(3) and TIME, written without trailing fraction zeros as Flink writes them), compared, cut, shifted and grouped on.
CREATE TABLE visits (
  ts     TIMESTAMP(3),
  shop   STRING,
  seen     TIME(3),
  opens  TIME,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.csv',
  'format'    = 'csv'
);
SELECT shop, opens, COUNT(*) AS visits, MIN(seen) AS first_visit, MAX(seen) AS last_visit,
       SUM(CASE WHEN seen < opens THEN 1 ELSE 0 END) AS before_opening,
       MAX(HOUR(seen)) AS last_hour, MAX(COALESCE(CAST(seen AS TIME), opens)) AS last_second,
       MAX(seen + INTERVAL '30' MINUTE) AS late, MIN(CAST(seen AS STRING) || '|') AS text
FROM visits
GROUP BY shop, opens;
