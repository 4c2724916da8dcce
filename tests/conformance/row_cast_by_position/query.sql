-- A row cast to a row type of other field names: Flink casts field by field in order
-- (DataFusion by name, which refused ROW(...) of fields EXPR$0, EXPR$1 cast or inserted into
-- ROW<x ..., y ...>); each field's cast is Flink's, and a NULL row stays NULL. A field of an
-- expression (`CAST(...).v`, `(r).s`) is read too (DataFusion reads dotted names of columns).
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

CREATE VIEW cast_rows AS
SELECT
  volume,
  CAST(ROW(volume, symbol) AS ROW<v STRING, s STRING>) AS r,
  CAST(ROW(price, volume) AS ROW<p INT, v DOUBLE>) AS n,
  CAST(CASE WHEN volume > 500 THEN ROW(volume, price) END AS ROW<a BIGINT, b BIGINT>) AS m
FROM ticks;

SELECT volume, r.v, r.s, n.p, n.v, m.a, m.b, m IS NULL AS no_m,
  CAST(ROW(volume, 'x') AS ROW<v STRING, s STRING>).v AS direct, (r).s AS nested
FROM cast_rows;
