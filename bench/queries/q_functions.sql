-- A projection-heavy query: 20 expressions of Flink's string, temporal and math functions on
-- every tick, into a blackhole sink in both engines (net function throughput, no output
-- formatting). Input: CSV ticks (gen_events.py).
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT}',
  'format'    = 'csv'
);

CREATE TABLE sink (
  up STRING, low STRING, tag STRING, part STRING, len INT, short_name STRING,
  padded STRING, num STRING, digest STRING, minute_text STRING, minute_of_hour BIGINT,
  hour_of_day BIGINT, minute_start TIMESTAMP(3), later TIMESTAMP(3), ts_text STRING,
  notional DOUBLE, distance DOUBLE, root DOUBLE, bucket BIGINT, band STRING
) WITH ('connector' = 'blackhole');

INSERT INTO sink
SELECT
  UPPER(symbol) AS up,
  LOWER(symbol) AS low,
  CONCAT(symbol, '-', CAST(volume AS STRING)) AS tag,
  SUBSTRING(symbol, 2, 3) AS part,
  CHAR_LENGTH(symbol) AS len,
  REPLACE(symbol, 'SYM', 'S') AS short_name,
  LPAD(CAST(volume AS STRING), 6, '0') AS padded,
  REGEXP_EXTRACT(symbol, '([0-9]+)', 1) AS num,
  MD5(symbol) AS digest,
  DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm') AS minute_text,
  EXTRACT(MINUTE FROM ts) AS minute_of_hour,
  HOUR(ts) AS hour_of_day,
  FLOOR(ts TO MINUTE) AS minute_start,
  TIMESTAMPADD(SECOND, 30, ts) AS later,
  CAST(ts AS STRING) AS ts_text,
  ROUND(price * volume, 2) AS notional,
  ABS(price - 100) AS distance,
  SQRT(price) AS root,
  MOD(volume, 7) AS bucket,
  CASE WHEN price > 100 THEN 'high' ELSE 'low' END AS band
FROM ticks;
