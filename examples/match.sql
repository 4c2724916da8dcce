-- Complex events with MATCH_RECOGNIZE: per symbol, a fall of at least three ticks and the tick
-- that turns back up. MATCH_NUMBER() and PREV in DEFINE go beyond what Flink runs.
-- Run it:  cargo run -p rill-shell -- -f examples/match.sql
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/data/ticks.csv}',
  'format'    = 'csv'
);

SELECT * FROM ticks MATCH_RECOGNIZE (
  PARTITION BY symbol
  ORDER BY ts
  MEASURES MATCH_NUMBER()         AS n,
           FIRST(DOWN.ts)         AS fall_start,
           LAST(DOWN.price)       AS bottom,
           COUNT(DOWN.price)      AS falls,
           UP.ts                  AS turn,
           UP.price               AS turn_price
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (DOWN{3,} UP)
  DEFINE
    DOWN AS DOWN.price < PREV(DOWN.price),
    UP   AS UP.price > PREV(UP.price)
) AS v;
