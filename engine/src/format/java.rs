//! Java's text of numbers and times, as Flink writes them in casts to text and in its csv and
//! json formats, and reads them in casts from text and in those formats.

use std::fmt::Write;

use super::value::{push_decimal, push_timestamp, shortest_digits};
use arrow::datatypes::TimeUnit;

/// Java's `Double.toString`: plain digits from 10^-3 to 10^7, `d.dddE±n` otherwise, always
/// with a fraction digit, shortest round-trip digits (but two when one would do).
pub fn java_double(out: &mut String, v: f64) {
    java_number(out, v, format_args!("{v:e}"));
}

/// Java's `Float.toString`.
pub fn java_float(out: &mut String, v: f32) {
    java_number(out, v as f64, format_args!("{v:e}"));
}

fn java_number(out: &mut String, v: f64, shortest: std::fmt::Arguments) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    let (negative, digits, exp) = java_digits(v, shortest);
    if negative {
        out.push('-');
    }
    if (-3..7).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let int_len = exp as usize + 1;
            let padded = format!("{digits:0<int_len$}");
            out.push_str(&padded[..int_len]);
            out.push('.');
            let fraction = &padded[int_len..];
            out.push_str(if fraction.is_empty() { "0" } else { fraction });
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        let _ = write!(out, "E{exp}");
    }
}

/// The sign, digits and decimal exponent Java writes `v` with: the fewest that read back as
/// `v` (`shortest`, `v` in `{:e}` form), but the closest two where one would do (4.9E-324,
/// not 5E-324).
pub(super) fn java_digits(v: f64, shortest: std::fmt::Arguments) -> (bool, String, i32) {
    let (negative, mut digits, mut exp) = shortest_digits(shortest);
    if digits.len() == 1 {
        (_, digits, exp) = shortest_digits(format_args!("{v:.1e}"));
        digits.truncate(digits.trim_end_matches('0').len());
    }
    (negative, digits, exp)
}

/// Java's `BigDecimal.stripTrailingZeros().toString()` of `v` at `scale` (Flink's json format
/// writes decimals so): `1.5` for 1.50, `1E+1` for 10.00, `0` for 0.00.
pub fn java_stripped_decimal(out: &mut String, v: i128, scale: i8) {
    if v == 0 {
        out.push('0');
        return;
    }
    let (mut unscaled, mut scale) = (v, scale as i32);
    while unscaled % 10 == 0 {
        unscaled /= 10;
        scale -= 1;
    }
    let digits = unscaled.unsigned_abs().to_string();
    let adjusted = digits.len() as i32 - 1 - scale;
    if scale >= 0 && adjusted >= -6 {
        push_decimal(out, unscaled, scale as i8);
        return;
    }
    if unscaled < 0 {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    let _ = write!(out, "E{}{adjusted}", if adjusted >= 0 { "+" } else { "" });
}

/// A timestamp as Flink's json format writes it: its fraction without trailing zeros (none
/// at all for a whole second), and `Z` after a `TIMESTAMP_LTZ`.
pub fn json_timestamp(out: &mut String, v: i64, unit: TimeUnit, local_zone: bool) {
    let start = out.len();
    push_timestamp(out, v, unit);
    if out[start..].contains('.') {
        out.truncate(out.trim_end_matches('0').trim_end_matches('.').len());
    }
    if local_zone {
        out.push('Z');
    }
}

/// Text that is no number of the type it is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotANumber;

/// The `DECIMAL(precision, scale)` Flink makes of `text` (Java's `new BigDecimal(text)`, no
/// spaces: `-1.5`, `.5`, `1E+5`), rounded half up to `scale`: its unscaled value, or `None`
/// when it needs more than `precision` digits (Flink's formats read NULL, its casts fail).
pub fn parse_java_decimal(
    text: &str,
    precision: u8,
    scale: i8,
) -> Result<Option<i128>, NotANumber> {
    let bytes = text.as_bytes();
    let (negative, rest) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    let (mantissa, exponent) = match rest.iter().position(|b| matches!(b, b'e' | b'E')) {
        Some(e) => (&rest[..e], Some(&rest[e + 1..])),
        None => (rest, None),
    };
    let (int, fraction) = match mantissa.iter().position(|b| *b == b'.') {
        Some(p) => (&mantissa[..p], &mantissa[p + 1..]),
        None => (mantissa, &mantissa[..0]),
    };
    let all_digits = |b: &[u8]| b.iter().all(u8::is_ascii_digit);
    if int.len() + fraction.len() == 0 || !all_digits(int) || !all_digits(fraction) {
        return Err(NotANumber);
    }
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(b"-").or(e.strip_prefix(b"+")).unwrap_or(e);
            if digits.is_empty() || !all_digits(digits) {
                return Err(NotANumber);
            }
            // Past any digit count, an exponent only tells "zero" or "too large".
            let magnitude = (digits.iter()).fold(0i64, |m, d| {
                (m * 10 + i64::from(d - b'0')).min(i64::from(u32::MAX))
            });
            if e[0] == b'-' { -magnitude } else { magnitude }
        }
    };
    // The value is `digits` x 10^(exponent - fraction digits); leading zeros say nothing.
    // (Walked again rather than collected: no allocation per value.)
    let digits = || (int.iter().chain(fraction)).skip_while(|d| **d == b'0');
    let count = digits().count();
    if count == 0 {
        return Ok(Some(0));
    }
    // How many of `digits` (zeros after the last) come before the point of the result.
    let kept = count as i64 + exponent - fraction.len() as i64 + i64::from(scale);
    if kept > i64::from(precision) {
        return Ok(None);
    }
    // The first digit lies past the one rounding looks at: nothing is left.
    if kept < 0 {
        return Ok(Some(0));
    }
    let kept = kept as usize;
    let mut unscaled = (digits().take(kept)).fold(0i128, |n, d| n * 10 + i128::from(d - b'0'));
    unscaled *= 10i128.pow(kept.saturating_sub(count) as u32);
    if digits().nth(kept).is_some_and(|d| *d >= b'5') {
        unscaled += 1;
    }
    if unscaled >= 10i128.pow(u32::from(precision)) {
        return Ok(None);
    }
    Ok(Some(if negative { -unscaled } else { unscaled }))
}

/// A floating-point type Java's parsers read: `f64` (`Double.parseDouble`) or `f32`
/// (`Float.parseFloat`).
pub trait JavaFloat: std::str::FromStr + std::ops::Neg<Output = Self> + Copy {
    /// `m` × 2^`e`, rounded once (but where the result is subnormal).
    fn scaled(m: u64, e: i64) -> Self;
}

macro_rules! java_float_type {
    ($t:ty, $step:expr) => {
        impl JavaFloat for $t {
            fn scaled(m: u64, mut e: i64) -> Self {
                // Powers of two are exact: the only rounding is of `m`'s 64 bits to the type.
                let mut v = m as $t;
                while e != 0 && v != 0.0 && v.is_finite() {
                    let step = e.clamp(-$step, $step);
                    v *= (2.0 as $t).powi(step as i32);
                    e -= step;
                }
                v
            }
        }
    };
}
java_float_type!(f64, 1000);
java_float_type!(f32, 100);

/// The number Java's `Double.parseDouble` (or `Float.parseFloat`, for an `f32`) reads from
/// `text`: spaces around it, `NaN`, `Infinity`, decimal digits with an optional exponent, and
/// hexadecimal ones with a binary exponent (`0x1.8p1`), with an optional `f`/`d` suffix;
/// `None` for anything else.
pub fn parse_java_float<T: JavaFloat>(text: &str) -> Option<T> {
    let text = text.trim_matches(|c: char| c <= ' ');
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    match unsigned {
        "NaN" => return "NaN".parse().ok(),
        "Infinity" if text.starts_with('-') => return "-inf".parse().ok(),
        "Infinity" => return "inf".parse().ok(),
        _ => {}
    }
    let number = text.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(text);
    let unsigned = number.strip_prefix(['+', '-']).unwrap_or(number);
    if let Some(hex) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        let value = hex_float::<T>(hex)?;
        return Some(if number.starts_with('-') {
            -value
        } else {
            value
        });
    }
    // Rust's parser also reads `inf` and `nan`, which Java does not.
    let decimal = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-');
    if !number.bytes().all(decimal) {
        return None;
    }
    number.parse().ok()
}

/// The value of Java's hexadecimal float `hex` (after its `0x`): hexadecimal digits with an
/// optional point, then `p` and a decimal exponent of two.
fn hex_float<T: JavaFloat>(hex: &str) -> Option<T> {
    let (digits, exponent) = hex.split_once(['p', 'P'])?;
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let exponent_digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if (whole.is_empty() && fraction.is_empty())
        || exponent_digits.is_empty()
        || !exponent_digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // Beyond any exponent a value can have: saturated, it still overflows or underflows.
    let mut e: i64 = exponent_digits
        .bytes()
        .fold(0, |e, b| (e * 10 + i64::from(b - b'0')).min(1 << 20));
    if exponent.starts_with('-') {
        e = -e;
    }
    // The first 15 significant digits (60 bits), then one bit for whether any digit after
    // them is not zero: enough for a single rounding to 53 bits.
    let (mut m, mut taken, mut sticky) = (0u64, 0, false);
    for (i, c) in whole.chars().chain(fraction.chars()).enumerate() {
        let d = u64::from(c.to_digit(16)?);
        let in_fraction = i >= whole.len();
        if m == 0 && d == 0 {
            e -= if in_fraction { 4 } else { 0 };
        } else if taken < 15 {
            m = m << 4 | d;
            taken += 1;
            e -= if in_fraction { 4 } else { 0 };
        } else {
            sticky |= d != 0;
            e += if in_fraction { 0 } else { 4 };
        }
    }
    Some(T::scaled(m << 1 | u64::from(sticky), e - 1))
}

/// Java's `Boolean.parseBoolean` of `text` trimmed, as Flink's csv format reads a BOOLEAN:
/// `true` in any case is true, anything else false.
pub fn parse_java_boolean(text: &str) -> bool {
    text.trim_matches(|c: char| c <= ' ')
        .eq_ignore_ascii_case("true")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: f64) -> String {
        let mut out = String::new();
        java_double(&mut out, v);
        out
    }

    fn decimal(v: i128, scale: i8) -> String {
        let mut out = String::new();
        java_stripped_decimal(&mut out, v, scale);
        out
    }

    // Flink's json format wrote these (oracle, DECIMAL(10, 2)): 1E+1, 1234.5, 0.01, -1E+2.
    #[test]
    fn decimals_lose_trailing_zeros_as_java_strips_them() {
        assert_eq!(decimal(1000, 2), "1E+1");
        assert_eq!(decimal(123450, 2), "1234.5");
        assert_eq!(decimal(1, 2), "0.01");
        assert_eq!(decimal(-10000, 2), "-1E+2");
        assert_eq!(decimal(0, 2), "0");
        assert_eq!(decimal(150, 2), "1.5");
        assert_eq!(decimal(123000, 0), "1.23E+5");
        assert_eq!(decimal(1, 7), "1E-7");
        assert_eq!(decimal(1, 6), "0.000001");
    }

    // Flink's json format wrote `00:00:01.5`, `00:00:01`, `00:00:00.1234` and `...Z` for LTZ.
    #[test]
    fn json_timestamps_drop_trailing_fraction_zeros() {
        let text = |v, unit, ltz| {
            let mut out = String::new();
            json_timestamp(&mut out, v, unit, ltz);
            out
        };
        assert_eq!(
            text(1_500, TimeUnit::Millisecond, false),
            "1970-01-01 00:00:01.5"
        );
        assert_eq!(
            text(1_000, TimeUnit::Millisecond, true),
            "1970-01-01 00:00:01Z"
        );
        assert_eq!(
            text(123_400, TimeUnit::Microsecond, false),
            "1970-01-01 00:00:00.1234"
        );
        assert_eq!(text(7, TimeUnit::Second, false), "1970-01-01 00:00:07");
    }

    // The oracle read these into DECIMAL(10, 3): 1.2345 as 1.235, -1.2345 as -1.235, 1.0005
    // as 1.001, 1E+5 as 100000.000, 12345678901.5 as NULL; and refused ' 1.5 '.
    #[test]
    fn decimals_read_as_flink_reads_them() {
        let read = |text| parse_java_decimal(text, 10, 3);
        assert_eq!(read("1.2345"), Ok(Some(1235)));
        assert_eq!(read("-1.2345"), Ok(Some(-1235)));
        assert_eq!(read("1.0005"), Ok(Some(1001)));
        assert_eq!(read("1.0004999"), Ok(Some(1000)));
        assert_eq!(read("1E+5"), Ok(Some(100_000_000)));
        assert_eq!(read("-1.2E+2"), Ok(Some(-120_000)));
        assert_eq!(read("1E-10"), Ok(Some(0)));
        assert_eq!(read("5E-4"), Ok(Some(1)));
        assert_eq!(read("4E-4"), Ok(Some(0)));
        assert_eq!(read("0.00005"), Ok(Some(0)));
        assert_eq!(read(".5"), Ok(Some(500)));
        assert_eq!(read("5."), Ok(Some(5000)));
        assert_eq!(read("+007"), Ok(Some(7000)));
        assert_eq!(read("-0"), Ok(Some(0)));
        assert_eq!(read("9999999.999"), Ok(Some(9_999_999_999)));
        assert_eq!(read("9999999.9995"), Ok(None));
        assert_eq!(read("12345678901.5"), Ok(None));
        assert_eq!(read("1e999999999999"), Ok(None));
        assert_eq!(read("1e-999999999999"), Ok(Some(0)));
        for malformed in [
            "", ".", "-", "1e", "1e+", " 1.5", "1.5 ", "1,5", "1.2.3", "0x10", "e5",
        ] {
            assert_eq!(read(malformed), Err(NotANumber), "{malformed:?}");
        }
        assert_eq!(
            parse_java_decimal("99999999999999999999999999999999999999", 38, 0),
            Ok(Some(99999999999999999999999999999999999999))
        );
    }

    // The oracle's csv reader and CAST read these so, and refused `-Inf` and `inf`.
    #[test]
    fn doubles_read_as_java_reads_them() {
        let read = parse_java_float::<f64>;
        assert_eq!(read(" 1.5 "), Some(1.5));
        assert_eq!(read("1.5f"), Some(1.5));
        assert_eq!(read("1.5d"), Some(1.5));
        assert_eq!(read("+1e2"), Some(100.0));
        assert_eq!(read("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(read("NaN").is_some_and(f64::is_nan));
        for refused in [
            "-Inf", "inf", "nan", "infinity", "", "1.5x", "0x10", "1.5ff", "0x", "0xp1", "0x1.8",
            "0xgp1", "0x1p", "0x1p+", "0x1.8e1",
        ] {
            assert_eq!(read(refused), None, "{refused:?}");
        }
        // Hexadecimal, with a binary exponent, rounded half to even.
        assert_eq!(read("0x1p3"), Some(8.0));
        assert_eq!(read("-0x1.8p1d"), Some(-3.0));
        assert_eq!(read(" +0X.8P0 "), Some(0.5));
        assert_eq!(read("0x00010P-4"), Some(1.0));
        assert_eq!(read("0x1.fffffffffffff7p0"), Some(2.0 - f64::EPSILON));
        assert_eq!(read("0x1.fffffffffffff8p0"), Some(2.0));
        assert_eq!(read("0x1.00000000000008p0"), Some(1.0));
        assert_eq!(
            read("0x1.000000000000080000001p0"),
            Some(1.0 + f64::EPSILON)
        );
        assert_eq!(read("0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(read("0x1p1024"), Some(f64::INFINITY));
        assert_eq!(read("0x1p99999999999"), Some(f64::INFINITY));
        assert_eq!(read("0x1p-99999999999"), Some(0.0));
        assert_eq!(parse_java_float::<f32>("0x1.000001p0"), Some(1.0));
        assert_eq!(
            parse_java_float::<f32>("0x1.000003p0"),
            Some(1.0 + 2.0 * f32::EPSILON)
        );
        // A float is the nearest to the text, not to the double nearest to it.
        assert_eq!(
            parse_java_float::<f32>("1.00000005960464477539062500001"),
            Some(1.0000001)
        );
    }

    #[test]
    fn booleans_read_as_java_reads_them() {
        assert!(parse_java_boolean("TRUE"));
        assert!(parse_java_boolean(" true "));
        assert!(!parse_java_boolean("yes"));
        assert!(!parse_java_boolean("1"));
        assert!(!parse_java_boolean(""));
    }

    #[test]
    fn doubles_print_as_java_prints_them() {
        assert_eq!(text(1e300), "1.0E300");
        assert_eq!(text(-1e-300), "-1.0E-300");
        assert_eq!(text(3.25159), "3.25159");
        assert_eq!(text(100.0), "100.0");
        assert_eq!(text(1234567.0), "1234567.0");
        assert_eq!(text(12345678.0), "1.2345678E7");
        assert_eq!(text(0.001), "0.001");
        assert_eq!(text(0.0001), "1.0E-4");
        assert_eq!(text(-2.5), "-2.5");
        assert_eq!(text(f64::NEG_INFINITY), "-Infinity");
        // One digit is enough for these, Java writes the closest two (oracle: 4.9E-324).
        assert_eq!(text(f64::from_bits(1)), "4.9E-324");
        assert_eq!(text(1e23), "1.0E23");
        assert_eq!(text(0.5), "0.5");
    }
}
