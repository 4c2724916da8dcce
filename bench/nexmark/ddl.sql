-- The Nexmark benchmark's event table (nexmark/nexmark's ddl_gen.sql) on rill's built-in
-- generator. The events are fixed by the options and 'rill.base-time' (the first event's
-- time), so every run makes the same ones; drop 'rill.base-time' for the wall clock, as Flink.
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
    'first-event.rate' = '${TPS:-10000000}',
    'next-event.rate' = '${TPS:-10000000}',
    'events.num' = '${EVENTS_NUM:-1000000}',
    'person.proportion' = '${PERSON_PROPORTION:-1}',
    'auction.proportion' = '${AUCTION_PROPORTION:-3}',
    'bid.proportion' = '${BID_PROPORTION:-46}',
    'rill.base-time' = '${BASE_TIME:-2024-01-01 00:00:00}'
);
