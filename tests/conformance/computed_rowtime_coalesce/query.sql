-- A NULL event time stops a job (Flink: "RowTime field should not be null"); a computed
-- column gives such rows a time (COALESCE runs only once simplified: rill planned computed
-- columns without simplifying them and failed with an internal error).
CREATE TABLE t (
  ts TIMESTAMP(3),
  v  INT,
  t  AS COALESCE(ts, TIMESTAMP '1970-01-01 00:00:00'),
  WATERMARK FOR t AS t - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/../data/null_times.json}',
  'format'    = 'json'
);

SELECT v, t, ts IS NULL AS no_time FROM t;
