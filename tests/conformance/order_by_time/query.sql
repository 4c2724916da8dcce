-- ORDER BY a time attribute on a stream (Flink's temporal sort): rows leave once the watermark
-- passes their time, in time order; rows of one second (the time attribute is cut to the
-- second) by price, descending, then arrival. Late rows (ticks_late) are dropped, as in Flink.
CREATE TABLE ticks (
  ts     TIMESTAMP(3),
  symbol STRING,
  price  DOUBLE,
  volume BIGINT,
  sec AS FLOOR(ts TO SECOND),
  WATERMARK FOR sec AS sec - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/ticks_late.csv}',
  'format'    = 'csv'
);
SELECT sec, symbol, price, volume
FROM ticks
WHERE volume > 500
ORDER BY sec, price DESC;
