-- 37 unclosed CAST ( took sqlparser hours: a failure inside a form led by a keyword is
-- parsed again as a function call, at every level (found by fuzz_round).
SELECT ts + INTERVAL '39' SECOND + INTERVAL '21' SECOND AS c0 , ts AS c1 , CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( CAST ( POWER ( x , 2 ) AS BIGINT ) BETWEEN 1 AND 1 AS c2 , ts AS c3;
