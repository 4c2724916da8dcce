-- Computed columns: a notional value, a text column, and the event time itself computed from
-- the stored timestamp (the watermark is declared on the computed column), windowed.
CREATE TABLE ticks (
  stored_ts TIMESTAMP(3),
  symbol    STRING,
  price     DOUBLE,
  volume    BIGINT,
  notional  AS ROUND(price * volume, 2),
  ts        AS stored_ts + INTERVAL '1' HOUR,
  label     AS CONCAT(symbol, '/', CAST(volume AS STRING)),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/ticks_small.csv}',
  'format'    = 'csv'
);

SELECT window_start, symbol, COUNT(*) AS n, SUM(notional) AS notional,
       MAX(label) AS last_label, MAX(stored_ts) AS last_stored
FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, symbol;
