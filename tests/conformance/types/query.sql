-- Column types read and printed as Flink does.
CREATE TABLE src (
  id INT,
  d DATE,
  f FLOAT,
  amount DECIMAL(10, 2),
  flag BOOLEAN,
  ts TIMESTAMP(3),
  ts0 TIMESTAMP(0)
) WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/data.csv', 'format' = 'csv');

SELECT id, d, f, amount, flag, ts, ts0, NOT flag AS not_flag, CAST(f AS DOUBLE) AS fd FROM src;
