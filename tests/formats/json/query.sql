-- Every type Flink's json format writes, with the values whose text is easy to get
-- wrong: Java's number text, stripped decimals, timestamp fractions, escapes.
CREATE TABLE input (
  k INT, s STRING, i INT, bi BIGINT, ti TINYINT, si SMALLINT, b BOOLEAN, f FLOAT, d DOUBLE,
  sp STRING, m DECIMAL(10, 3), m2 DECIMAL(38, 10), dt DATE, tm TIME(3), ts TIMESTAMP(3),
  ts6 TIMESTAMP(6), ltz TIMESTAMP_LTZ(3), bin BYTES, ai ARRAY<INT>, ast ARRAY<STRING>,
  r ROW<x DECIMAL(10, 2), y STRING, z BOOLEAN>
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/../values.json',
  'format'    = 'json'
);
CREATE TABLE output (
  k INT, s STRING, i INT, bi BIGINT, ti TINYINT, si SMALLINT, b BOOLEAN, f FLOAT, d DOUBLE,
  sp DOUBLE, m DECIMAL(10, 3), m2 DECIMAL(38, 10), dt DATE, tm TIME(3), ts TIMESTAMP(3),
  ts6 TIMESTAMP(6), ltz TIMESTAMP_LTZ(3), bin BYTES, ai ARRAY<INT>, ast ARRAY<STRING>,
  r ROW<x DECIMAL(10, 2), y STRING, z BOOLEAN>, txt STRING
) WITH (
  'connector' = 'filesystem',
  'path'      = '${OUT}',
  'format'    = 'json'
);
INSERT INTO output
SELECT k, s, i, bi, ti, si, b, f, d, CAST(sp AS DOUBLE), m, m2, dt, tm, ts, ts6, ltz, bin, ai,
       ast, r, s || '|' || CAST(d AS STRING)
FROM input;
