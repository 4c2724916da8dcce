-- AFTER MATCH SKIP TO FIRST variable.
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
  MEASURES A.ts AS a_ts, FIRST(B.ts) AS b_ts, C.ts AS c_ts
  ONE ROW PER MATCH
  AFTER MATCH SKIP TO FIRST B
  PATTERN (A B+ C)
  DEFINE
    A AS A.volume > 800,
    B AS B.volume < 800,
    C AS C.volume > 900
) MR;
