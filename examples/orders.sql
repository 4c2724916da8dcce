-- Absence detection: orders created and not paid within 15 minutes. WITH TIMEOUTS (rill's own,
-- beyond SQL:2016 and Flink SQL) also reports each partial match WITHIN discards, as soon as the
-- watermark makes the timeout certain; TIMED_OUT() tells them from matches.
-- Run it:  cargo run -p rill-shell -- -f examples/orders.sql
CREATE TABLE orders (
  ts       TIMESTAMP(3),
  order_id STRING,
  event    STRING,
  amount   DECIMAL(10, 2),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT:-${SQL_DIR}/data/orders.csv}',
  'format'    = 'csv'
);

SELECT * FROM orders MATCH_RECOGNIZE (
  PARTITION BY order_id
  ORDER BY ts
  MEASURES CREATED.ts     AS created_at,
           PAID.ts        AS paid_at,
           CREATED.amount AS amount,
           TIMED_OUT()    AS unpaid
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (CREATED PAID) WITHIN INTERVAL '15' MINUTE WITH TIMEOUTS
  DEFINE
    CREATED AS event = 'created',
    PAID    AS event = 'paid'
) AS m;
