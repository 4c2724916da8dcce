-- A query without FROM.
SELECT 1 AS n, 'x' AS letter, 2.5 * 2 AS five, CAST(NULL AS STRING) AS nothing;
