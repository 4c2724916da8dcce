-- How Flink's json format reads decimals: a number, or text, rounded half up to the column's
-- scale, NULL when too large; inside rows and arrays too. A number or boolean read into a
-- STRING column is its JSON text as written (12.50 stays 12.50).
CREATE TABLE t (
  k  INT,
  m  DECIMAL(8, 3),
  s  STRING,
  w  DECIMAL(8, 3),
  r  ROW<x DECIMAL(5, 2), y ARRAY<DECIMAL(4, 1)>>
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.json',
  'format'    = 'json'
);

SELECT k, m, s, w, r.x, r.y FROM t;
