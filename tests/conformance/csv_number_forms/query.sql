-- How Flink's csv format reads numbers and booleans: a BOOLEAN is Java's parseBoolean of the
-- trimmed field (true in any case, anything else false, an empty field too); a DOUBLE or
-- FLOAT is Java's parseDouble (trimmed, an 'f' or 'd' suffix, NaN and Infinity but no 'inf');
-- a DECIMAL is Java's BigDecimal (exponents, no spaces) rounded half up to the column's
-- scale, NULL when too large. The same inside a row. A value that is none is NULL with
-- 'csv.ignore-parse-errors'.
CREATE TABLE t (
  k  INT,
  b  BOOLEAN,
  m  DECIMAL(10, 3),
  d  DOUBLE,
  f  FLOAT,
  r  ROW<x DECIMAL(5, 2), y STRING, z BOOLEAN>
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.csv',
  'format'    = 'csv',
  'csv.ignore-parse-errors' = 'true'
);

SELECT k, b, m, d, f, r.x, r.y, r.z FROM t;
