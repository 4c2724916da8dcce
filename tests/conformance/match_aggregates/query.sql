-- Aggregates in MEASURES and DEFINE: a run of cheaper trades whose average price stays under
-- the first's, then a dearer one (R and E exclude each other, so Flink's greedy quantifier,
-- which does not backtrack, agrees with SQL:2016).
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
-- The input stops at 00:16:30: near the end of the data, Flink holds a completed match while an
-- earlier partial match is open and drops both when the input ends; SQL:2016 (and rill) report
-- the match (shell/tests/match_recognize.rs, held_match_at_end_of_input).
CREATE VIEW early AS SELECT * FROM ticks WHERE ts < TIMESTAMP '2024-01-01 00:16:30';
SELECT * FROM early MATCH_RECOGNIZE (
  PARTITION BY symbol ORDER BY ts
  MEASURES FIRST(R.ts) AS first_ts, COUNT(R.price) AS n, AVG(R.price) AS avg_price,
           MIN(R.price) AS low, MAX(R.volume) AS most
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (S R{2,5} E)
  DEFINE
    R AS R.price < S.price AND AVG(R.price) < S.price,
    E AS E.price > S.price
) MR;
