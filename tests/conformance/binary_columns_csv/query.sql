-- BYTES columns read from csv (Flink's csv format writes binary strings in Base64, an empty field being empty bytes, arrays of them joined by ';'), and written back.
CREATE TABLE messages (
  ts      TIMESTAMP(3),
  id      INT,
  key     BYTES,
  payload BYTES,
  tags    ARRAY<BYTES>
) WITH (
  'connector' = 'filesystem',
  'path'      = '${SQL_DIR}/data.csv',
  'format'    = 'csv'
);
SELECT id, key, payload, tags, CARDINALITY(tags) AS n, tags[1] AS first_tag, payload < key AS below,
       CAST(payload AS STRING) AS text, MD5(payload) AS md5, CAST(payload AS VARBINARY(2)) AS cut
FROM messages;
