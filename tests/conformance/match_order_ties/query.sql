-- ORDER BY keys after the time order rows with the same time (here by price, descending).
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/data.csv', 'format' = 'csv');
SELECT * FROM ticks MATCH_RECOGNIZE (
  PARTITION BY symbol ORDER BY ts, price DESC
  MEASURES A.volume AS a, B.volume AS b, C.volume AS c
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (A B C)
  DEFINE B AS B.price < A.price, C AS C.price > B.price
) MR;
