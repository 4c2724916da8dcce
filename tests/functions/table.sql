-- The table every expression of the function suite is evaluated over (one row per line of
-- input.json: ordinary values, NULLs, empty strings, unicode and extreme numbers).
CREATE TABLE t (
  id  INT,
  s   STRING,
  n   INT,
  b   BIGINT,
  d   DOUBLE,
  m   DECIMAL(10, 2),
  ts  TIMESTAMP(3),
  dt  DATE,
  bo  BOOLEAN,
  j   STRING,
  u   STRING,
  a   ARRAY<INT>,
  sa  ARRAY<STRING>,
  mp  MAP<STRING, INT>,
  r   ROW<x INT, y STRING>
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/input.json',
  'format'    = 'json'
)
