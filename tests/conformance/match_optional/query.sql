-- An optional variable: a big trade, maybe a small one, then a price jump on a trade that is
-- not small (SMALL and JUMP exclude each other: where both fit, Flink takes the shorter match,
-- SQL:2016 the greedy one; see the deviation cases in shell/tests).
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
  MEASURES BIG.ts AS big_ts, SMALL.volume AS small_volume, JUMP.price AS jump_price
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (BIG SMALL? JUMP)
  DEFINE
    BIG AS BIG.volume > 950,
    SMALL AS SMALL.volume < 200,
    JUMP AS JUMP.price > BIG.price * 1.002 AND JUMP.volume >= 200
) MR;
