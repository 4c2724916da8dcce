//! Durations in option values, as Flink writes them.

use crate::error::{SqlError, SqlResult};

/// A duration as Flink writes them (`'500 ms'`, `'30 s'`, `'1 min'`, `'2 h'`, `'1 d'`), in
/// milliseconds.
pub fn duration_millis(text: &str) -> SqlResult<i64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || {
        SqlError::new(format!("cannot read '{text}' as a duration"))
            .with_hint("a number and a unit: ms, s, min, h or d (e.g. '1 min')")
    };
    let number: i64 = number.parse().map_err(|_| bad())?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return Err(bad()),
    };
    number.checked_mul(scale).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_millis("500 ms").unwrap(), 500);
        assert_eq!(duration_millis("30s").unwrap(), 30_000);
        assert_eq!(duration_millis("2 h").unwrap(), 7_200_000);
        assert!(duration_millis("soon").is_err());
        assert!(duration_millis("5 fortnights").is_err());
    }
}
