-- MATCH_ROWTIME() is a time attribute: V shapes counted per symbol and minute of their end.
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
CREATE VIEW v AS
SELECT * FROM ticks MATCH_RECOGNIZE (
  PARTITION BY symbol ORDER BY ts
  MEASURES MATCH_ROWTIME() AS rt, START_ROW.price AS start_price, LAST(PRICE_UP.price) AS end_price
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (START_ROW PRICE_DOWN+ PRICE_UP)
  DEFINE
    PRICE_DOWN AS (LAST(PRICE_DOWN.price, 1) IS NULL AND PRICE_DOWN.price < START_ROW.price)
                  OR PRICE_DOWN.price < LAST(PRICE_DOWN.price, 1),
    PRICE_UP AS PRICE_UP.price > LAST(PRICE_DOWN.price, 1)
) MR;
SELECT window_start, symbol, COUNT(*) AS shapes, MAX(end_price - start_price) AS best
FROM TABLE(TUMBLE(TABLE v, DESCRIPTOR(rt), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, symbol;
