//! Java's text of numbers and times, as Flink writes them in casts to text and in its json
//! format.

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
    let (negative, mut digits, mut exp) = shortest_digits(shortest);
    if digits.len() == 1 {
        // Java picks, when one digit would do, the closest of two digits: 4.9E-324, not 5E-324.
        (_, digits, exp) = shortest_digits(format_args!("{v:.1e}"));
        digits.truncate(digits.trim_end_matches('0').len());
    }
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
