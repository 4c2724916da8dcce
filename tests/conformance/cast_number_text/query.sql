-- Casts of text to numbers. FLOAT and DOUBLE read Java's number text, trimmed: exponents,
-- 'f' and 'd' suffixes, NaN and Infinity but no 'inf'. A DECIMAL is rounded half up; of up
-- to 18 digits and characters Flink skips the character that ends the digits ('1.5x' is
-- 1.5) and counts leading zeros as digits, wider it reads Java's BigDecimal. TRY_CAST gives
-- NULL for text that is no number of the type, or too large for it.
CREATE TABLE t (
  k  INT,
  s  STRING
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.csv',
  'format'    = 'csv'
);

SELECT k, TRY_CAST(s AS DECIMAL(10, 3)) AS m, TRY_CAST(s AS DOUBLE) AS d,
       TRY_CAST(s AS FLOAT) AS f, TRY_CAST(s AS DECIMAL(4, 1)) AS narrow,
       TRY_CAST(s AS DECIMAL(20, 2)) AS wide
FROM t;
