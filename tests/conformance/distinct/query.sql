-- SELECT DISTINCT is an updating aggregation with no aggregates.
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
SELECT DISTINCT symbol, volume / 200 AS bucket FROM ticks;
