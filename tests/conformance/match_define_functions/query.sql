-- Conditions that look into the match with any scalar function: COALESCE around LAST(x, 1)
-- (the first UP compares with START_ROW), ROUND, string functions, CASTs to strings and IF.
-- UP and DOWN exclude each other, so Flink's greedy quantifier, which does not backtrack,
-- agrees with SQL:2016.
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
  MEASURES START_ROW.ts AS start_ts, LAST(UP.ts) AS top_ts, COUNT(UP.price) AS ups,
           ROUND(LAST(UP.price) - START_ROW.price, 2) AS gain
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (START_ROW UP{3,} DOWN)
  DEFINE
    UP AS UP.price > COALESCE(LAST(UP.price, 1), START_ROW.price)
          AND ROUND(UP.price - COALESCE(LAST(UP.price, 1), START_ROW.price), 1) < 1
          AND UPPER(SUBSTRING(UP.symbol, 1, 3)) = 'SYM'
          AND CHAR_LENGTH(CAST(UP.volume AS STRING)) <= CHAR_LENGTH(CAST(START_ROW.volume AS STRING)) + 1,
    DOWN AS DOWN.price < LAST(UP.price) AND IF(DOWN.volume > 500, 'big', 'small') IN ('big', 'small')
) MR;
