-- The events of the Nexmark conformance cases (nexmark_q*): rill's nexmark connector, written
-- as JSON lines for the Flink oracle, which has no nexmark connector. 5000 events at 100 per
-- second of event time (50 seconds), with short extra fields to keep the file small:
--   rill -f tests/conformance/data/nexmark_events.sql -D OUT=tests/conformance/data/nexmark.json
-- (bench/nexmark.sh makes its larger inputs with -D EVENTS_NUM=..., TPS and the sizes.)
CREATE TABLE datagen (
    event_type int,
    person ROW<
        id  BIGINT,
        name  VARCHAR,
        emailAddress  VARCHAR,
        creditCard  VARCHAR,
        city  VARCHAR,
        state  VARCHAR,
        `dateTime` TIMESTAMP(3),
        extra  VARCHAR>,
    auction ROW<
        id  BIGINT,
        itemName  VARCHAR,
        description  VARCHAR,
        initialBid  BIGINT,
        reserve  BIGINT,
        `dateTime`  TIMESTAMP(3),
        expires  TIMESTAMP(3),
        seller  BIGINT,
        category  BIGINT,
        extra  VARCHAR>,
    bid ROW<
        auction  BIGINT,
        bidder  BIGINT,
        price  BIGINT,
        channel  VARCHAR,
        url  VARCHAR,
        `dateTime`  TIMESTAMP(3),
        extra  VARCHAR>,
    `dateTime` AS
        CASE
            WHEN event_type = 0 THEN person.`dateTime`
            WHEN event_type = 1 THEN auction.`dateTime`
            ELSE bid.`dateTime`
        END,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH (
    'connector' = 'nexmark',
    'first-event.rate' = '${TPS:-100}',
    'next-event.rate' = '${TPS:-100}',
    'events.num' = '${EVENTS_NUM:-5000}',
    'person.avg-size' = '${PERSON_AVG_SIZE:-100b}',
    'auction.avg-size' = '${AUCTION_AVG_SIZE:-200b}',
    'bid.avg-size' = '${BID_AVG_SIZE:-64b}',
    'rill.base-time' = '2024-01-01 00:00:00'
);

CREATE TABLE events (
    event_type int,
    person ROW<
        id  BIGINT,
        name  VARCHAR,
        emailAddress  VARCHAR,
        creditCard  VARCHAR,
        city  VARCHAR,
        state  VARCHAR,
        `dateTime` TIMESTAMP(3),
        extra  VARCHAR>,
    auction ROW<
        id  BIGINT,
        itemName  VARCHAR,
        description  VARCHAR,
        initialBid  BIGINT,
        reserve  BIGINT,
        `dateTime`  TIMESTAMP(3),
        expires  TIMESTAMP(3),
        seller  BIGINT,
        category  BIGINT,
        extra  VARCHAR>,
    bid ROW<
        auction  BIGINT,
        bidder  BIGINT,
        price  BIGINT,
        channel  VARCHAR,
        url  VARCHAR,
        `dateTime`  TIMESTAMP(3),
        extra  VARCHAR>
) WITH (
    'connector' = 'filesystem',
    'path' = '${OUT}',
    'format' = 'json'
);

INSERT INTO events SELECT event_type, person, auction, bid FROM datagen;
