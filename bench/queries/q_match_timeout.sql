-- Absence detection: orders created and not paid within 15 minutes, per order (WITH TIMEOUTS,
-- rill's own). Input: CSV lines 'YYYY-MM-DD HH:MM:SS.mmm,order_id,event,amount' (bench/orders.py).
CREATE TABLE orders (
  ts       TIMESTAMP(3),
  order_id STRING,
  event    STRING,
  amount   DECIMAL(10, 2),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = '${INPUT}',
  'format'    = 'csv'
);

SELECT * FROM orders MATCH_RECOGNIZE (
  PARTITION BY order_id
  ORDER BY ts
  MEASURES CREATED.ts AS created_at, PAID.ts AS paid_at, CREATED.amount AS amount,
           TIMED_OUT() AS unpaid
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (CREATED PAID) WITHIN INTERVAL '15' MINUTE WITH TIMEOUTS
  DEFINE
    CREATED AS event = 'created',
    PAID    AS event = 'paid'
) AS m;
