-- A quantifier {3,}: three or more rising prices in a row, SKIP PAST LAST ROW.
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
SELECT * FROM ticks MATCH_RECOGNIZE (
  PARTITION BY symbol ORDER BY ts
  MEASURES FIRST(UP.ts) AS first_ts, LAST(UP.ts) AS last_ts, COUNT(UP.price) AS ups
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (S UP{3,} DOWN)
  DEFINE
    UP AS UP.price > LAST(UP.price, 1) OR (LAST(UP.price, 1) IS NULL AND UP.price > S.price),
    DOWN AS DOWN.price < LAST(UP.price)
) MR;
