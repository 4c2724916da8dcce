-- How Flink's json format reads booleans, dates and times: a BOOLEAN is a JSON boolean, or
-- Java's parseBoolean of the text ("TRUE" is true, 1 and "yes" false); a DATE is ISO
-- 'yyyy-MM-dd' and must exist (no number of days); a TIME is 'HH:mm:ss[.S...]' under Java's
-- SMART resolver (24:00:00 is midnight). Inside rows too. NULL with 'json.ignore-parse-errors'
-- for what is none.
CREATE TABLE t (
  k  INT,
  b  BOOLEAN,
  dt DATE,
  tm TIME(3),
  r  ROW<b BOOLEAN, dt DATE, tm TIME(3)>
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.json',
  'format'    = 'json',
  'json.ignore-parse-errors' = 'true'
);

SELECT k, b, dt, tm, r.b, r.dt, r.tm FROM t;
