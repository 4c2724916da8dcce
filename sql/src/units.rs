//! Durations and memory sizes in option values, as Flink writes them.

use crate::error::{SqlError, SqlResult};

/// A duration as Flink writes them (`'500 ms'`, `'30 s'`, `'1 min'`, `'2 h'`, `'1 d'`), in
/// milliseconds.
pub fn duration_millis(text: &str) -> SqlResult<i64> {
    scaled(
        text,
        "a duration",
        "ms, s, min, h or d (e.g. '1 min')",
        |unit| {
            Some(match unit {
                "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
                "" | "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
                "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
                "h" | "hour" | "hours" => 3_600_000,
                "d" | "day" | "days" => 86_400_000,
                _ => return None,
            })
        },
    )
}

/// A memory size as Flink writes them (`'1024'`, `'64 kb'`, `'16 mb'`, `'1 gb'`; units of
/// 1024), in bytes.
pub fn memory_bytes(text: &str) -> SqlResult<i64> {
    scaled(
        text,
        "a memory size",
        "b, kb, mb, gb or tb (e.g. '16 mb')",
        |unit| {
            Some(match unit {
                "" | "b" | "bytes" => 1,
                "k" | "kb" | "kibibytes" => 1 << 10,
                "m" | "mb" | "mebibytes" => 1 << 20,
                "g" | "gb" | "gibibytes" => 1 << 30,
                "t" | "tb" | "tebibytes" => 1 << 40,
                _ => return None,
            })
        },
    )
}

/// A whole number followed by a unit that `scale` knows.
fn scaled(
    text: &str,
    what: &str,
    units: &str,
    scale: impl Fn(&str) -> Option<i64>,
) -> SqlResult<i64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || {
        SqlError::new(format!("cannot read '{text}' as {what}"))
            .with_hint(format!("a number and a unit: {units}"))
    };
    let number: i64 = number.parse().map_err(|_| bad())?;
    let scale = scale(unit.trim().to_ascii_lowercase().as_str()).ok_or_else(bad)?;
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

    #[test]
    fn memory_sizes() {
        assert_eq!(memory_bytes("1024").unwrap(), 1024);
        assert_eq!(memory_bytes("64 kb").unwrap(), 65_536);
        assert_eq!(memory_bytes("16MB").unwrap(), 16 << 20);
        assert_eq!(memory_bytes("2 gb").unwrap(), 2 << 30);
        assert!(memory_bytes("lots").is_err());
        assert!(memory_bytes("1 pb").is_err());
        assert!(memory_bytes("99999999 tb").is_err(), "overflow");
    }
}
