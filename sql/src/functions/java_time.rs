//! Java's date-time patterns (`yyyy-MM-dd HH:mm:ss.SSS`), which Flink's `DATE_FORMAT`,
//! `TO_TIMESTAMP`, `UNIX_TIMESTAMP` and friends take: written as `java.time`'s formatter
//! writes them (`S` are fraction digits, `u` is the year), read as `SimpleDateFormat` reads
//! them (text after the pattern is ignored).

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Text(String),
    /// A pattern letter and how many times it is repeated.
    Field(char, usize),
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    tokens: Vec<Token>,
    /// The finest part of a time the pattern writes.
    finest: Detail,
}

/// A part of a time, coarsest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Detail {
    Day,
    Hour,
    Minute,
    Second,
    Fraction,
}

impl Detail {
    /// The part of a time pattern letter `letter` writes (time zones: the day, as they are
    /// constant).
    fn of(letter: char) -> Detail {
        match letter {
            'a' | 'H' | 'k' | 'K' | 'h' => Detail::Hour,
            'm' => Detail::Minute,
            's' => Detail::Second,
            'S' => Detail::Fraction,
            _ => Detail::Day,
        }
    }
}

/// The letters rill reads; Java has a few more (week-based fields), which are refused.
const LETTERS: &str = "GyMdDEuaHkKhmsSzZX";

impl Pattern {
    /// Parses `pattern`, or says which letter is not supported.
    pub fn new(pattern: &str) -> Result<Pattern, String> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        let mut text = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    text.push('\'');
                    continue;
                }
                // Quoted text up to the closing quote; '' inside is a quote.
                while let Some(q) = chars.next() {
                    if q == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                            text.push('\'');
                        } else {
                            break;
                        }
                    } else {
                        text.push(q);
                    }
                }
            } else if c.is_ascii_alphabetic() {
                if !LETTERS.contains(c) {
                    return Err(format!("the pattern letter '{c}' is not supported"));
                }
                let mut count = 1;
                while chars.peek() == Some(&c) {
                    chars.next();
                    count += 1;
                }
                if !text.is_empty() {
                    tokens.push(Token::Text(std::mem::take(&mut text)));
                }
                tokens.push(Token::Field(c, count));
            } else {
                text.push(c);
            }
        }
        if !text.is_empty() {
            tokens.push(Token::Text(text));
        }
        let finest = (tokens.iter())
            .filter_map(|t| match t {
                Token::Field(letter, _) => Some(Detail::of(*letter)),
                Token::Text(_) => None,
            })
            .max()
            .unwrap_or(Detail::Day);
        Ok(Pattern { tokens, finest })
    }

    /// The part of `t` the pattern writes: times with the same key are written alike, so a
    /// run of times within one minute is written once for `HH:mm`.
    pub fn text_key(&self, t: &NaiveDateTime) -> (NaiveDate, u32, u32) {
        let seconds = t.num_seconds_from_midnight();
        let (within_day, fraction) = match self.finest {
            Detail::Day => (0, 0),
            Detail::Hour => (seconds / 3600, 0),
            Detail::Minute => (seconds / 60, 0),
            Detail::Second => (seconds, 0),
            Detail::Fraction => (seconds, t.nanosecond()),
        };
        (t.date(), within_day, fraction)
    }

    /// Writes `t` (in UTC) as the pattern says.
    pub fn format(&self, t: &NaiveDateTime, out: &mut String) {
        for token in &self.tokens {
            let (letter, count) = match token {
                Token::Text(s) => {
                    out.push_str(s);
                    continue;
                }
                Token::Field(letter, count) => (*letter, *count),
            };
            let number = |out: &mut String, v: i64| {
                // By hand: the formatting machinery is most of DATE_FORMAT's time.
                if v < 0 {
                    out.push('-');
                }
                let mut digits = itoa::Buffer::new();
                let digits = digits.format(v.unsigned_abs());
                for _ in digits.len()..count {
                    out.push('0');
                }
                out.push_str(digits);
            };
            let name = |out: &mut String, full: &str| {
                out.push_str(if count >= 4 { full } else { &full[..3] });
            };
            match letter {
                'G' => out.push_str(if t.year() > 0 { "AD" } else { "BC" }),
                'y' if count == 2 => number(out, i64::from(t.year().rem_euclid(100))),
                'y' => number(out, i64::from(t.year())),
                'M' if count >= 3 => name(out, MONTHS[t.month0() as usize]),
                'M' => number(out, i64::from(t.month())),
                'd' => number(out, i64::from(t.day())),
                'D' => number(out, i64::from(t.ordinal())),
                'E' => name(out, DAYS[t.weekday().num_days_from_monday() as usize]),
                'u' => number(out, i64::from(t.year())),
                'a' => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
                'H' => number(out, i64::from(t.hour())),
                'k' => number(out, i64::from(if t.hour() == 0 { 24 } else { t.hour() })),
                'K' => number(out, i64::from(t.hour() % 12)),
                'h' => number(out, i64::from((t.hour() + 11) % 12 + 1)),
                'm' => number(out, i64::from(t.minute())),
                's' => number(out, i64::from(t.second())),
                'S' => {
                    // Fraction digits, as java.time's formatter writes them.
                    let digits = format!("{:09}", t.nanosecond());
                    out.push_str(&format!("{digits:0<count$}")[..count]);
                }
                'z' => out.push_str("UTC"),
                'Z' => out.push_str("+0000"),
                'X' => out.push('Z'),
                other => unreachable!("pattern letter {other} was refused"),
            }
        }
    }

    /// Reads a date-time from the start of `s` (text after it is ignored, as Java's
    /// `DateFormat.parse` ignores it); `None` if it does not match.
    pub fn parse(&self, s: &str) -> Option<NaiveDateTime> {
        let mut rest = s;
        let (mut year, mut month, mut day) = (1970, 1, 1);
        let (mut hour, mut minute, mut second, mut millis) = (0, 0, 0, 0);
        let mut pm = None;
        for (i, token) in self.tokens.iter().enumerate() {
            let (letter, count) = match token {
                Token::Text(text) => {
                    rest = rest.strip_prefix(text.as_str())?;
                    continue;
                }
                Token::Field(letter, count) => (*letter, *count),
            };
            // A numeric field right before another reads exactly its width.
            let abutting = matches!(self.tokens.get(i + 1), Some(Token::Field(..)));
            let read_number = |rest: &mut &str| -> Option<i64> {
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                let width = if abutting { count.min(digits) } else { digits };
                if width == 0 {
                    return None;
                }
                let value = rest[..width].parse().ok()?;
                *rest = &rest[width..];
                Some(value)
            };
            match letter {
                'y' => {
                    let v = read_number(&mut rest)?;
                    year = if count == 2 && v < 100 { 2000 + v } else { v };
                }
                'M' if count >= 3 => {
                    let (index, len) = MONTHS.iter().enumerate().find_map(|(i, m)| {
                        let len = if rest.starts_with(m) { m.len() } else { 3 };
                        rest.get(..len)
                            .filter(|p| m.starts_with(p))
                            .map(|_| (i, len))
                    })?;
                    month = index as i64 + 1;
                    rest = &rest[len..];
                }
                'M' => month = read_number(&mut rest)?,
                'd' => day = read_number(&mut rest)?,
                'H' | 'k' => hour = read_number(&mut rest)? % 24,
                'h' | 'K' => hour = read_number(&mut rest)? % 12,
                'm' => minute = read_number(&mut rest)?,
                's' => second = read_number(&mut rest)?,
                'S' => millis = read_number(&mut rest)?,
                'a' => {
                    let upper = rest.get(..2)?.to_ascii_uppercase();
                    pm = Some(match upper.as_str() {
                        "AM" => false,
                        "PM" => true,
                        _ => return None,
                    });
                    rest = &rest[2..];
                }
                // Zones: only UTC is read.
                'X' => rest = rest.strip_prefix('Z')?,
                'Z' => rest = rest.strip_prefix("+0000")?,
                'z' => rest = rest.strip_prefix("UTC")?,
                _ => return None,
            }
        }
        if pm == Some(true) {
            hour += 12;
        }
        let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month as u32, day as u32)?;
        let time = NaiveTime::from_hms_milli_opt(
            hour as u32,
            minute as u32,
            second as u32,
            millis as u32,
        )?;
        Some(date.and_time(time))
    }
}

/// Reads Flink's default timestamp text: `yyyy-MM-dd`, optionally followed by a space or
/// `T` and `HH:mm`, `HH:mm:ss` or `HH:mm:ss.fffffffff`.
pub fn parse_default(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    let (date, time) = match s.find([' ', 'T']) {
        Some(at) => (&s[..at], Some(&s[at + 1..])),
        None => (s, None),
    };
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let time = match time {
        None => NaiveTime::MIN,
        Some(t) => NaiveTime::parse_from_str(t, "%H:%M:%S%.f")
            .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
            .ok()?,
    };
    Some(date.and_time(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        parse_default(s).unwrap()
    }

    fn format(pattern: &str, t: &str) -> String {
        let mut out = String::new();
        Pattern::new(pattern).unwrap().format(&at(t), &mut out);
        out
    }

    #[test]
    fn formats_as_java() {
        assert_eq!(
            format("yyyy-MM-dd HH:mm:ss.SSS", "2024-03-05 13:04:09.007"),
            "2024-03-05 13:04:09.007"
        );
        assert_eq!(format("EEE MMM d yy", "2024-03-15 00:00"), "Fri Mar 15 24");
        assert_eq!(format("EEEE, MMMM d", "2024-03-15"), "Friday, March 15");
        assert_eq!(format("h:mm a", "2024-03-15 00:30"), "12:30 AM");
        assert_eq!(
            format("s.S|SS|SSSS", "2024-03-15 00:00:01.25"),
            "1.2|25|2500"
        );
        assert_eq!(
            format("'at' HH 'o''clock'", "2024-03-15 13:00"),
            "at 13 o'clock"
        );
        assert!(Pattern::new("YYYY-ww").is_err());
    }

    #[test]
    fn times_with_the_same_text_key_are_written_alike() {
        // Times a millisecond either side of each boundary, a few days apart.
        let mut times = Vec::new();
        for day in ["2024-02-28", "2024-02-29", "2024-03-01", "1969-12-31"] {
            for clock in [
                "00:00:00", "11:59:59", "12:00:00", "12:59:59", "13:00:00", "23:59:59",
            ] {
                let t = at(&format!("{day} {clock}"));
                for millis in [-1, 0, 1, 500, 999, 1000] {
                    times.push(t + chrono::TimeDelta::milliseconds(millis));
                }
            }
        }
        for pattern in [
            "yyyy-MM-dd",
            "HH:mm",
            "h a",
            "EEE, d MMM yyyy HH:mm:ss",
            "ss.SSS",
            "'text'",
            "D k K Z",
        ] {
            let p = Pattern::new(pattern).unwrap();
            let mut texts = std::collections::HashMap::new();
            for t in &times {
                let mut text = String::new();
                p.format(t, &mut text);
                let known = texts.entry(p.text_key(t)).or_insert(text.clone());
                assert_eq!(*known, text, "{pattern} at {t}");
            }
        }
        // A run of times within a minute is written once for `HH:mm`.
        let p = Pattern::new("HH:mm").unwrap();
        let minute = at("2024-03-01 12:34:00");
        let key = p.text_key(&minute);
        assert_eq!(
            p.text_key(&(minute + chrono::TimeDelta::milliseconds(59_999))),
            key
        );
        assert_ne!(p.text_key(&(minute + chrono::TimeDelta::seconds(60))), key);
    }

    #[test]
    fn parses_as_java() {
        let p = Pattern::new("dd.MM.yyyy").unwrap();
        assert_eq!(p.parse("31.01.2024"), Some(at("2024-01-31")));
        assert_eq!(p.parse("31.02.2024"), None);
        let p = Pattern::new("yyyyMMddHHmm").unwrap();
        assert_eq!(p.parse("202401020304"), Some(at("2024-01-02 03:04")));
        let p = Pattern::new("yyyy-MM-dd HH:mm:ss.SSS").unwrap();
        assert_eq!(
            p.parse("1970-01-01 08:00:01.001 +0800"),
            Some(at("1970-01-01 08:00:01.001"))
        );
        assert_eq!(
            Pattern::new("MMM d, yyyy").unwrap().parse("Mar 5, 2024"),
            Some(at("2024-03-05"))
        );
        assert_eq!(
            parse_default("2024-01-01T10:20"),
            Some(at("2024-01-01 10:20:00"))
        );
        assert_eq!(parse_default("2024-13-01"), None);
    }
}
