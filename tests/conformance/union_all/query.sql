-- UNION ALL of two filtered views of one stream, then a window over the union (the union
-- keeps the time attribute; its watermark is the inputs' minimum).
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

CREATE VIEW flagged AS
  SELECT ts, 'big' AS kind, volume FROM ticks WHERE volume > 900
  UNION ALL
  SELECT ts, 'cheap' AS kind, volume FROM ticks WHERE price < 95;

SELECT window_start, kind, COUNT(*) AS n, SUM(volume) AS volume
FROM TABLE(TUMBLE(TABLE flagged, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, kind;
