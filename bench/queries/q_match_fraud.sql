-- A fraud pattern: per symbol, three small trades (under 300 shares) then a large one (over 900)
-- within a minute. Input: CSV lines 'YYYY-MM-DD HH:MM:SS.mmm,SYMBOL,price,volume' (gen_events.py).
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

SELECT * FROM ticks MATCH_RECOGNIZE (
  PARTITION BY symbol ORDER BY ts
  MEASURES FIRST(SMALL_T.ts) AS first_small, LARGE_T.ts AS large_ts, LARGE_T.volume AS large_volume
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (SMALL_T{3} LARGE_T) WITHIN INTERVAL '1' MINUTE
  DEFINE
    SMALL_T AS SMALL_T.volume < 300,
    LARGE_T AS LARGE_T.volume > 900
) MR;
