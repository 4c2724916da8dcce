-- Common string, math and conditional functions.
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

SELECT symbol,
       UPPER(symbol) AS up,
       LOWER(symbol) AS low,
       CHAR_LENGTH(symbol) AS len,
       SUBSTRING(symbol, 4, 2) AS num,
       symbol || '-' || CAST(volume AS STRING) AS tag,
       CASE WHEN price > 100 THEN 'high' WHEN price > 90 THEN 'mid' ELSE 'low' END AS band,
       CAST(price AS INT) AS price_int,
       CAST(volume AS DOUBLE) / 4 AS quarter,
       ABS(price - 100) AS dist,
       FLOOR(price) AS fl,
       CEIL(price) AS ce,
       MOD(volume, 7) AS m7,
       POWER(volume, 2) AS sq,
       SQRT(CAST(volume AS DOUBLE)) AS root,
       COALESCE(NULLIF(symbol, 'SYM00'), 'none') AS not_zero,
       volume BETWEEN 100 AND 500 AS mid_volume,
       symbol IN ('SYM00', 'SYM02') AS even,
       symbol LIKE '%1' AS ends_in_one
FROM ticks
WHERE volume > 900;
