-- LISTAGG per window: the values in arrival order, with the default and a given separator.
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

SELECT window_start, symbol,
       LISTAGG(CAST(volume AS STRING)) AS volumes,
       LISTAGG(CAST(price AS STRING), ' | ') AS prices
FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '10' SECOND))
WHERE volume > 700
GROUP BY window_start, window_end, symbol;
