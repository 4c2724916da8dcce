//! Flink's parser of the timestamps its csv and json formats read: `YYYY-MM-DD HH:MM:SS` with
//! up to nine fraction digits (Java's `yyyy-MM-dd HH:mm:ss[.S...]` under its `SMART`
//! resolver, which moves a day past the end of its month back to the month's last day, reads
//! `24:00:00` as the next day's midnight, and refuses anything else: a `T`, an offset). A
//! `TIMESTAMP_LTZ` is the same followed by `Z`, in UTC.

use arrow::array::{Array, Int64Array, StringArray};
use arrow::datatypes::TimeUnit;

/// Parses every value of `text` into `unit`s since the epoch (CSV fields `trimmed` first, as
/// Flink's csv format does; `zoned` values, a `TIMESTAMP_LTZ`'s, end in `Z`); the first value
/// that is no such time is the error. NULLs stay NULL.
pub(super) fn parse_column(
    text: &StringArray,
    unit: TimeUnit,
    trimmed: bool,
    zoned: bool,
) -> Result<Int64Array, String> {
    let mut values = Vec::with_capacity(text.len());
    // The last value's minute: a column's times mostly share theirs with the value before
    // (Nexmark's events: thousands a minute), and working one out is most of a parse.
    let mut last: Option<([u8; MINUTE], Minute)> = None;
    for i in 0..text.len() {
        values.push(if text.is_null(i) {
            0
        } else {
            let value = text.value(i);
            let bytes = value.as_bytes();
            let bytes = if trimmed { bytes.trim_ascii() } else { bytes };
            let bytes = match zoned {
                true => bytes.strip_suffix(b"Z"),
                false => Some(bytes),
            };
            bytes
                .and_then(|b| {
                    let (prefix, rest) = b.split_first_chunk::<MINUTE>()?;
                    let minute = match last {
                        Some((last, minute)) if last == *prefix => minute,
                        _ => {
                            let minute = Minute::parse(prefix)?;
                            last = Some((*prefix, minute));
                            minute
                        }
                    };
                    minute.time(rest, unit)
                })
                .ok_or_else(|| value.to_string())?
        });
    }
    Ok(Int64Array::new(values.into(), text.nulls().cloned()))
}

/// The length of a time's minute, `YYYY-MM-DD HH:MM`.
const MINUTE: usize = 16;

/// A time's minute, as [`parse`] reads it.
#[derive(Clone, Copy)]
struct Minute {
    /// Seconds since the epoch at its start.
    start: i64,
    /// Whether its hour is 24, which is the next day's midnight and nothing after.
    midnight_after: bool,
}

impl Minute {
    /// `YYYY-MM-DD HH:MM`, or `None` if it is not of the form or not a valid minute.
    fn parse(s: &[u8; MINUTE]) -> Option<Minute> {
        if s[4] != b'-' || s[7] != b'-' || s[10] != b' ' || s[13] != b':' {
            return None;
        }
        let num = |range: std::ops::Range<usize>| digits(&s[range]);
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute) = (num(11..13)?, num(14..16)?);
        let midnight_after = hour == 24 && minute == 0;
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || (hour > 23 && !midnight_after)
            || minute > 59
        {
            return None;
        }
        let day = day.min(days_in_month(year, month));
        Some(Minute {
            start: days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60,
            midnight_after,
        })
    }

    /// The time of `:SS` with up to nine fraction digits in this minute, in `unit`s.
    fn time(self, s: &[u8], unit: TimeUnit) -> Option<i64> {
        if s.len() < 3 || s[0] != b':' {
            return None;
        }
        let second = digits(&s[1..3])?;
        // Fraction digits, scaled to nanoseconds.
        let mut nanos = 0i64;
        if s.len() > 3 {
            let fraction = &s[4..];
            if s[3] != b'.' || fraction.is_empty() || fraction.len() > 9 {
                return None;
            }
            nanos = digits(fraction)? * 10i64.pow(9 - fraction.len() as u32);
        }
        if second > 59 || (self.midnight_after && (second, nanos) != (0, 0)) {
            return None;
        }
        let seconds = self.start + second;
        Some(match unit {
            TimeUnit::Second => seconds,
            TimeUnit::Millisecond => seconds * 1_000 + nanos / 1_000_000,
            TimeUnit::Microsecond => seconds * 1_000_000 + nanos / 1_000,
            TimeUnit::Nanosecond => seconds.checked_mul(1_000_000_000)?.checked_add(nanos)?,
        })
    }
}

/// One value, or `None` if it is not of the form or not a valid time.
#[cfg(test)]
fn parse(s: &[u8], unit: TimeUnit) -> Option<i64> {
    let (minute, rest) = s.split_first_chunk::<MINUTE>()?;
    Minute::parse(minute)?.time(rest, unit)
}

/// ASCII digits as a number (0 for none); `None` if another byte is among them.
pub(super) fn digits(s: &[u8]) -> Option<i64> {
    s.iter().try_fold(0i64, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

pub(super) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(super) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use arrow::compute::cast;
    use arrow::datatypes::DataType;

    use super::*;

    #[test]
    fn agrees_with_arrow_and_declines_other_forms() {
        let texts = [
            "2024-01-01 00:00:00.075",
            "1970-01-01 00:00:00",
            "1969-12-31 23:59:59.999",
            "2000-02-29 12:34:56.5",
            "2024-12-31 23:59:59.123456",
            "1900-03-01 00:00:00.000001",
        ];
        for unit in [
            TimeUnit::Millisecond,
            TimeUnit::Microsecond,
            TimeUnit::Nanosecond,
        ] {
            let text = StringArray::from(texts.to_vec());
            let ours = parse_column(&text, unit, false, false).unwrap();
            let arrow = cast(&text, &DataType::Timestamp(unit, None)).unwrap();
            let arrow = cast(&arrow, &DataType::Int64).unwrap();
            assert_eq!(
                &ours,
                arrow.as_any().downcast_ref::<Int64Array>().unwrap(),
                "{unit:?}"
            );
        }
        for other in [
            "2024-02-32 00:00:00",
            "2024-01-01",
            "2024-01-01 00:05",
            "2024-01-01T00:00:00",
            "2024-01-01 00:00:00Z",
            "2024-01-01 00:00:00+01:00",
            "2024-01-01 24:00:01",
            "2024-1-01 00:00:00",
            "x",
        ] {
            assert_eq!(
                parse(other.as_bytes(), TimeUnit::Millisecond),
                None,
                "{other}"
            );
        }
    }

    /// A value parses the same whether or not the value before it shares its minute, as
    /// those of a column mostly do.
    #[test]
    fn values_that_share_a_minute_parse_as_they_do_alone() {
        let valid = [
            "2024-01-01 00:00:00",
            "2024-01-01 00:00:59.5",
            "2024-01-01 00:01:00",
            "2024-01-01 00:00:07.123456789",
            "2024-02-30 23:59:01",
            "2024-02-30 23:59:02.1",
            "2024-01-01 24:00:00",
            "2024-01-01 24:00:00",
            "2024-01-01 00:00:00",
        ];
        let text = StringArray::from(valid.to_vec());
        let column = parse_column(&text, TimeUnit::Nanosecond, false, false).unwrap();
        let alone: Vec<i64> = (valid.iter())
            .map(|v| parse(v.as_bytes(), TimeUnit::Nanosecond).unwrap())
            .collect();
        assert_eq!(column.values().to_vec(), alone);
        // After a valid value of its minute, an invalid one is still refused.
        for (before, invalid) in [
            ("2024-01-01 00:00:00", "2024-01-01 00:00:60"),
            ("2024-01-01 00:00:00", "2024-01-01 00:00:0"),
            ("2024-01-01 00:00:00", "2024-01-01 00:00:00."),
            ("2024-01-01 00:00:00", "2024-01-01 00:00:00.1234567890"),
            ("2024-01-01 00:00:00", "2024-01-01 00:00"),
            ("2024-01-01 00:00:00", "2024-01-01 00:00:00Z"),
            ("2024-01-01 24:00:00", "2024-01-01 24:00:01"),
            ("2024-01-01 24:00:00", "2024-01-01 24:00:00.001"),
        ] {
            let text = StringArray::from(vec![before, invalid]);
            let parsed = parse_column(&text, TimeUnit::Millisecond, false, false);
            assert_eq!(parsed.err().as_deref(), Some(invalid), "after {before}");
        }
    }

    /// As Java's `SMART` resolver reads them (the flink_timestamps conformance case holds
    /// Flink's answers).
    #[test]
    fn days_past_the_month_end_and_midnight_at_24_resolve_as_in_flink() {
        let at = |text: &str| parse(text.as_bytes(), TimeUnit::Second);
        assert_eq!(at("2024-02-30 00:00:00"), at("2024-02-29 00:00:00"));
        assert_eq!(at("2023-02-29 10:00:00"), at("2023-02-28 10:00:00"));
        assert_eq!(at("2024-04-31 00:00:00"), at("2024-04-30 00:00:00"));
        assert_eq!(at("2024-01-01 24:00:00"), at("2024-01-02 00:00:00"));
        let text = StringArray::from(vec![" 2024-01-01 00:00:00 "]);
        let second = |text: &StringArray, trimmed: bool, zoned: bool| {
            let parsed = parse_column(text, TimeUnit::Second, trimmed, zoned);
            parsed.ok().map(|p| p.value(0))
        };
        let midnight = at("2024-01-01 00:00:00");
        assert_eq!(second(&text, false, false), None);
        assert_eq!(second(&text, true, false), midnight);
        // A TIMESTAMP_LTZ ends in Z, and only it does.
        let zoned = StringArray::from(vec!["2024-01-01 00:00:00Z"]);
        assert_eq!(second(&zoned, false, false), None);
        assert_eq!(second(&zoned, false, true), midnight);
        assert_eq!(second(&text, true, true), None);
    }
}
