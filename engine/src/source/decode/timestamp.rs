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
                .and_then(|b| parse(b, unit))
                .ok_or_else(|| value.to_string())?
        });
    }
    Ok(Int64Array::new(values.into(), text.nulls().cloned()))
}

/// One value, or `None` if it is not of the form or not a valid time.
fn parse(s: &[u8], unit: TimeUnit) -> Option<i64> {
    if s.len() < 19
        || s[4] != b'-'
        || s[7] != b'-'
        || s[10] != b' '
        || s[13] != b':'
        || s[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| digits(&s[range]);
    let (year, month, mut day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Fraction digits, scaled to nanoseconds.
    let mut nanos = 0i64;
    if s.len() > 19 {
        let digits = &s[20..];
        if s[19] != b'.' || digits.is_empty() || digits.len() > 9 {
            return None;
        }
        nanos = num(20..s.len())? * 10i64.pow(9 - digits.len() as u32);
    }
    let midnight_after = hour == 24 && minute == 0 && second == 0 && nanos == 0;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || (hour > 23 && !midnight_after)
        || minute > 59
        || second > 59
    {
        return None;
    }
    day = day.min(days_in_month(year, month));
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(match unit {
        TimeUnit::Second => seconds,
        TimeUnit::Millisecond => seconds * 1_000 + nanos / 1_000_000,
        TimeUnit::Microsecond => seconds * 1_000_000 + nanos / 1_000,
        TimeUnit::Nanosecond => seconds.checked_mul(1_000_000_000)?.checked_add(nanos)?,
    })
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
