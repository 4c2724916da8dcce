//! The options of the `nexmark` connector: those of Flink's Nexmark source, and
//! `'rill.base-time'` for a reproducible run.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use rill_engine::source::{NexmarkSettings, RateShape};

use crate::error::{SqlError, SqlResult};
use crate::units::{duration_millis, memory_bytes};

const OPTIONS: [&str; 17] = [
    "first-event.rate",
    "next-event.rate",
    "rate.shape",
    "rate.period",
    "rate.limited",
    "person.avg-size",
    "auction.avg-size",
    "bid.avg-size",
    "person.proportion",
    "auction.proportion",
    "bid.proportion",
    "bid.hot-ratio.auctions",
    "bid.hot-ratio.bidders",
    "auction.hot-ratio.sellers",
    "events.num",
    "rill.base-time",
    "connector",
];

/// The settings of a `nexmark` table's `WITH` options.
pub(super) fn options(options: &BTreeMap<String, String>) -> SqlResult<NexmarkSettings> {
    if let Some(key) = options.keys().find(|k| !OPTIONS.contains(&k.as_str())) {
        let supported: Vec<String> = OPTIONS[..OPTIONS.len() - 1]
            .iter()
            .map(|k| format!("'{k}'"))
            .collect();
        return Err(SqlError::new(format!(
            "unsupported option '{key}' for connector 'nexmark'"
        ))
        .with_hint(format!("supported options: {}", supported.join(", "))));
    }
    let mut settings = NexmarkSettings::default();
    let positive = |key: &str, default: usize| -> SqlResult<usize> {
        match options.get(key) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(SqlError::new(format!(
                    "option '{key}' must be a positive whole number, found '{v}'"
                ))),
            },
        }
    };
    let size = |key: &str, default: usize| -> SqlResult<usize> {
        options
            .get(key)
            .map_or(Ok(default), |v| Ok(memory_bytes(v)?.max(0) as usize))
    };
    settings.first_event_rate = positive("first-event.rate", settings.first_event_rate)?;
    settings.next_event_rate = positive("next-event.rate", settings.next_event_rate)?;
    if let Some(shape) = options.get("rate.shape") {
        settings.rate_shape = match shape.to_ascii_uppercase().as_str() {
            "SQUARE" => RateShape::Square,
            "SINE" => RateShape::Sine,
            _ => {
                return Err(SqlError::new(format!(
                    "option 'rate.shape' must be 'SQUARE' or 'SINE', found '{shape}'"
                )));
            }
        };
    }
    if let Some(period) = options.get("rate.period") {
        settings.rate_period_secs = (duration_millis(period)? / 1000).max(1) as usize;
    }
    settings.rate_limited = super::flag(options, "rate.limited")?;
    settings.person_avg_size = size("person.avg-size", settings.person_avg_size)?;
    settings.auction_avg_size = size("auction.avg-size", settings.auction_avg_size)?;
    settings.bid_avg_size = size("bid.avg-size", settings.bid_avg_size)?;
    settings.person_proportion = positive("person.proportion", settings.person_proportion)?;
    settings.auction_proportion = positive("auction.proportion", settings.auction_proportion)?;
    settings.bid_proportion = positive("bid.proportion", settings.bid_proportion)?;
    settings.hot_auction_ratio = positive("bid.hot-ratio.auctions", settings.hot_auction_ratio)?;
    settings.hot_bidder_ratio = positive("bid.hot-ratio.bidders", settings.hot_bidder_ratio)?;
    settings.hot_seller_ratio = positive("auction.hot-ratio.sellers", settings.hot_seller_ratio)?;
    if let Some(events) = options.get("events.num") {
        // Flink's 0 (the default) is an endless stream.
        settings.events = match events.trim().parse::<u64>() {
            Ok(0) => None,
            Ok(n) => Some(n),
            Err(_) => {
                return Err(SqlError::new(format!(
                    "option 'events.num' must be a whole number, found '{events}'"
                )));
            }
        };
    }
    if let Some(text) = options.get("rill.base-time") {
        settings.base_time = Some(base_time(text)?);
    }
    Ok(settings)
}

/// `'2024-01-01 00:00:00[.fff]'` (a TIMESTAMP) or milliseconds since the epoch.
fn base_time(text: &str) -> SqlResult<i64> {
    let text = text.trim();
    if let Ok(millis) = text.parse::<i64>() {
        return Ok(millis);
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .map(|t| t.and_utc().timestamp_millis())
        .map_err(|_| {
            SqlError::new(format!(
                "option 'rill.base-time' must be a timestamp ('2024-01-01 00:00:00') or \
                 milliseconds since the epoch, found '{text}'"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> SqlResult<NexmarkSettings> {
        let mut map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.insert("connector".into(), "nexmark".into());
        options(&map)
    }

    #[test]
    fn flink_options_and_defaults() {
        let s = parse(&[
            ("first-event.rate", "1000"),
            ("events.num", "5000"),
            ("bid.proportion", "92"),
            ("bid.avg-size", "1 kb"),
            ("rill.base-time", "2024-01-01 00:00:01"),
        ])
        .unwrap();
        assert_eq!(s.first_event_rate, 1000);
        assert_eq!(s.next_event_rate, 10_000);
        assert_eq!(s.events, Some(5000));
        assert_eq!(s.bid_proportion, 92);
        assert_eq!(s.bid_avg_size, 1024);
        assert_eq!(s.base_time, Some(1_704_067_201_000));
        let endless = parse(&[("events.num", "0")]).unwrap();
        assert_eq!(endless.events, None);
        assert_eq!(endless.base_time, None);
    }

    #[test]
    fn bad_options_are_named() {
        let e = parse(&[("events.number", "5")]).unwrap_err();
        assert_eq!(
            e.message,
            "unsupported option 'events.number' for connector 'nexmark'"
        );
        let e = parse(&[("bid.proportion", "0")]).unwrap_err();
        assert!(
            e.message.contains("'bid.proportion' must be a positive"),
            "{e:?}"
        );
        let e = parse(&[("rill.base-time", "yesterday")]).unwrap_err();
        assert!(e.message.contains("rill.base-time"), "{e:?}");
    }
}
