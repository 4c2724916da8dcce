-- Aggregates in MEASURES and DEFINE: a run of trades whose average price stays under the first's.
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../../conformance/data/ticks_small.csv}',
  'format'    = 'csv'
);
SELECT * FROM ticks MATCH_RECOGNIZE (
  PARTITION BY symbol ORDER BY ts
  MEASURES FIRST(R.ts) AS first_ts, COUNT(R.price) AS n, AVG(R.price) AS avg_price,
           MIN(R.price) AS low, MAX(R.volume) AS most
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (S R{2,5} E)
  DEFINE
    R AS AVG(R.price) < S.price,
    E AS E.price > S.price
) MR;
