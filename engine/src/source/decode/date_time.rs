//! Flink's parsers of the DATE and TIME values its formats read, which differ by format:
//! * csv reads a date as `java.sql.Date.valueOf` does (`yyyy-[m]m-[d]d`, a day up to 31 past
//!   its month's end rolling over into the next month) and a time as ISO `HH:mm[:ss[.S...]]`;
//! * json reads a date as ISO `yyyy-MM-dd` (a valid date only, a year of more than four
//!   digits after a sign) and a time as `HH:mm:ss[.S...]` under Java's SMART resolver, which
//!   reads `24:00:00` as midnight.
//!
//! Neither trims, nor reads a number as a date; fraction digits past milliseconds are dropped.

use super::timestamp::{days_from_civil, days_in_month, digits};

/// The format whose rules a value is read by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Csv,
    Json,
}

/// Days since the epoch of the DATE `s`, as `dialect` reads one; `None` if it is none.
pub(super) fn date(s: &[u8], dialect: Dialect) -> Option<i32> {
    match dialect {
        Dialect::Csv => sql_date(s),
        Dialect::Json => iso_date(s),
    }
}

/// Digits (and an optional leading `+`, as Java's `Integer.parseInt` takes) as a number.
fn number(s: &[u8]) -> Option<i64> {
    let unsigned = s.strip_prefix(b"+").unwrap_or(s);
    if unsigned.is_empty() || unsigned.len() > 10 {
        return None;
    }
    digits(unsigned)
}

/// Days since the epoch, as an `i32`.
fn epoch_day(year: i64, month: i64, day: i64) -> Option<i32> {
    i32::try_from(days_from_civil(year, month, day)).ok()
}

/// `java.sql.Date.valueOf`: four year characters, one or two of month and of day, a month of
/// 1 to 12 and a day of 1 to 31, rolled over past the month's end (Feb 30 is Mar 1).
fn sql_date(s: &[u8]) -> Option<i32> {
    let first = s.iter().position(|b| *b == b'-')?;
    let second = first + 1 + s[first + 1..].iter().position(|b| *b == b'-')?;
    let (month, day) = (&s[first + 1..second], &s[second + 1..]);
    if first != 4 || !(1..=2).contains(&month.len()) || !(1..=2).contains(&day.len()) {
        return None;
    }
    let (year, month, day) = (number(&s[..4])?, number(month)?, number(day)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(epoch_day(year, month, 1)? + (day - 1) as i32)
}

/// ISO `yyyy-MM-dd` (Java's `uuuu`: four digits, or up to ten after a sign, a plus only
/// before more than four), strictly: a date that does not exist is none.
fn iso_date(s: &[u8]) -> Option<i32> {
    let sign = s.first().filter(|b| matches!(b, b'+' | b'-')).copied();
    let rest = &s[usize::from(sign.is_some())..];
    let width = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let widths = match sign {
        None => 4..=4,
        Some(b'+') => 5..=10,
        Some(_) => 4..=10,
    };
    let tail = &rest[width..];
    if !widths.contains(&width) || tail.len() != 6 || tail[0] != b'-' || tail[3] != b'-' {
        return None;
    }
    let year = number(&rest[..width])? * if sign == Some(b'-') { -1 } else { 1 };
    let (month, day) = (two_digits(&tail[1..3])?, two_digits(&tail[4..6])?);
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    epoch_day(year, month, day)
}

fn two_digits(s: &[u8]) -> Option<i64> {
    (s.len() == 2).then(|| digits(s)).flatten()
}

/// Milliseconds of the day of `HH:mm[:ss[.S...]]` (csv: seconds optional) or `HH:mm:ss[.S...]`
/// (json, where `24:00:00` is midnight), up to nine fraction digits.
pub(super) fn time_of_day(s: &[u8], dialect: Dialect) -> Option<i32> {
    if s.len() < 5 || s[2] != b':' {
        return None;
    }
    let (hour, minute) = (two_digits(&s[..2])?, two_digits(&s[3..5])?);
    let (second, fraction) = match &s[5..] {
        [] if dialect == Dialect::Csv => (0, &[][..]),
        [b':', a, b, fraction @ ..] => (two_digits(&[*a, *b])?, fraction),
        _ => return None,
    };
    let fraction = match fraction {
        [] => &[][..],
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => digits,
        _ => return None,
    };
    if !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let millis = (0..3).fold(0, |n, k| {
        n * 10 + fraction.get(k).map_or(0, |d| i64::from(d - b'0'))
    });
    let zero = minute == 0 && second == 0 && fraction.iter().all(|d| *d == b'0');
    if dialect == Dialect::Json && hour == 24 && zero {
        return Some(0);
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some((((hour * 60 + minute) * 60 + second) * 1000 + millis) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The date `text` is, as the oracle prints one.
    fn date_text(text: &str, dialect: Dialect) -> Option<String> {
        let days = date(text.as_bytes(), dialect)?;
        let mut out = String::new();
        crate::format::ValueFormatter::new(
            &(std::sync::Arc::new(arrow::array::Date32Array::from(vec![days]))
                as arrow::array::ArrayRef),
        )
        .write(&mut out, 0);
        Some(out)
    }

    fn time(text: &str, dialect: Dialect) -> Option<i32> {
        time_of_day(text.as_bytes(), dialect)
    }

    // What the oracle read from csv and json files (NULL with ignore-parse-errors for None).
    #[test]
    fn csv_dates_read_as_java_sql_date() {
        let csv = |t| date_text(t, Dialect::Csv);
        assert_eq!(csv("2024-1-2").as_deref(), Some("2024-01-02"));
        assert_eq!(csv("2024-02-30").as_deref(), Some("2024-03-01"));
        assert_eq!(csv("1969-12-31").as_deref(), Some("1969-12-31"));
        for none in [
            "20240102",
            "+2024-01-02",
            " 2024-01-02 ",
            "99999-01-01",
            "2024-13-01",
        ] {
            assert_eq!(csv(none), None, "{none:?}");
        }
    }

    #[test]
    fn json_dates_read_as_iso_dates() {
        let json = |t| date_text(t, Dialect::Json);
        assert_eq!(json("2024-01-02").as_deref(), Some("2024-01-02"));
        assert_eq!(json("0000-01-01").as_deref(), Some("0000-01-01"));
        for none in [
            "2024-1-2",
            "20240102",
            "+2024-01-02",
            "2024-02-30",
            "99999-01-01",
            "2024",
        ] {
            assert_eq!(json(none), None, "{none:?}");
        }
    }

    #[test]
    fn times_read_as_each_format_reads_them() {
        assert_eq!(time("03:04", Dialect::Csv), Some(11_040_000));
        assert_eq!(time("03:04", Dialect::Json), None);
        assert_eq!(time("03:04:05.1239", Dialect::Csv), Some(11_045_123));
        assert_eq!(time("12:00:00.5", Dialect::Json), Some(43_200_500));
        assert_eq!(time("24:00:00", Dialect::Json), Some(0));
        assert_eq!(time("24:00:00", Dialect::Csv), None);
        for none in [
            "3:04:05",
            "24:00:00.5",
            "23:59:60",
            "03:04:05Z",
            " 03:04:05",
            "03:04:05.",
        ] {
            assert_eq!(time(none, Dialect::Json), None, "{none:?}");
            assert_eq!(time(none, Dialect::Csv), None, "{none:?}");
        }
    }
}
