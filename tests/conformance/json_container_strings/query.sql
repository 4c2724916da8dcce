-- A JSON object or array read into a STRING column is its text, as Flink's json format gives
-- it: compact, members in their order, numbers with a fraction or an exponent as Java doubles
-- (1.50 is 1.5, 1e5 is 100000.0), strings escaped only where JSON must. Inside rows too; a
-- number or boolean is its text as written.
CREATE TABLE t (
  k  INT,
  s  STRING,
  r  ROW<t STRING, n INT>
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.json',
  'format'    = 'json'
);

SELECT k, s, r.t, r.n FROM t;
