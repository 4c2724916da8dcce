//! Flink's canonical text for single values (what the Flink oracle prints), written into a
//! reused buffer without per-value allocation.

use std::fmt::Write;

use super::java::{java_digits, java_double, java_float, java_stripped_decimal, json_timestamp};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit, Time32MillisecondType,
    Time32SecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};

/// The SQL name of an Arrow type, as a Flink user would write it.
pub fn sql_type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "STRING".into(),
        DataType::Binary => "BYTES".into(),
        DataType::LargeBinary => "BITMAP".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        DataType::Date32 => "DATE".into(),
        DataType::Time32(unit) => format!("TIME({})", fraction_digits(*unit)),
        DataType::Interval(_) => "INTERVAL".into(),
        DataType::Timestamp(unit, tz) => {
            let p = fraction_digits(*unit);
            match tz {
                Some(_) => format!("TIMESTAMP_LTZ({p})"),
                None => format!("TIMESTAMP({p})"),
            }
        }
        DataType::Struct(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|f| format!("`{}` {}", f.name(), sql_type_name(f.data_type())))
                .collect();
            format!("ROW<{}>", fields.join(", "))
        }
        DataType::List(item) => format!("ARRAY<{}>", sql_type_name(item.data_type())),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) if is_multiset(data_type) => {
                format!("MULTISET<{}>", sql_type_name(fields[0].data_type()))
            }
            DataType::Struct(fields) if fields.len() == 2 => format!(
                "MAP<{}, {}>",
                sql_type_name(fields[0].data_type()),
                sql_type_name(fields[1].data_type())
            ),
            other => other.to_string(),
        },
        other => other.to_string(),
    }
}

fn fraction_digits(unit: TimeUnit) -> usize {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    }
}

/// Writes `value` as Python's `repr` of a double does: shortest round-trip digits, exponent
/// form below 1e-4 and from 1e16 on (`101.25`, `90.0`, `1e+20`, `NaN`, `inf`).
pub fn format_double(out: &mut String, value: f64) {
    format_float(out, value, || shortest_digits(format_args!("{value:e}")));
}

/// Writes `value` as [`format_double`] does, with the sign, digits and exponent `digits`
/// gives for a finite `value`.
fn format_float(out: &mut String, value: f64, digits: impl FnOnce() -> (bool, String, i32)) {
    if value.is_nan() {
        out.push_str("NaN");
        return;
    }
    if value.is_infinite() {
        out.push_str(if value > 0.0 { "inf" } else { "-inf" });
        return;
    }
    let (negative, digits, exp) = digits();
    if negative {
        out.push('-');
    }
    if !(-4..16).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

/// The sign, digits and decimal exponent of a finite number printed in `{:e}` form (shortest
/// round-trip digits): `-12.5` gives `(true, "125", 1)`, i.e. -1.25e1.
pub fn shortest_digits(scientific: std::fmt::Arguments) -> (bool, String, i32) {
    let mut sci = String::with_capacity(32);
    let _ = sci.write_fmt(scientific);
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    (
        negative,
        mantissa.chars().filter(|c| *c != '.').collect(),
        exp,
    )
}

/// Formats the values of one column.
pub struct ValueFormatter<'a> {
    array: &'a ArrayRef,
}

impl<'a> ValueFormatter<'a> {
    /// A formatter over `array`.
    pub fn new(array: &'a ArrayRef) -> Self {
        ValueFormatter { array }
    }

    /// Whether row `i` is NULL.
    pub fn is_null(&self, i: usize) -> bool {
        self.array.is_null(i)
    }

    /// Appends the text of row `i` (nothing for NULL).
    pub fn write(&self, out: &mut String, i: usize) {
        let a = self.array;
        if a.is_null(i) {
            return;
        }
        match a.data_type() {
            DataType::Boolean => out.push_str(if a.as_boolean().value(i) {
                "true"
            } else {
                "false"
            }),
            DataType::Int8 => push_int(out, a.as_primitive::<Int8Type>().value(i)),
            DataType::Int16 => push_int(out, a.as_primitive::<Int16Type>().value(i)),
            DataType::Int32 => push_int(out, a.as_primitive::<Int32Type>().value(i)),
            DataType::Int64 => push_int(out, a.as_primitive::<Int64Type>().value(i)),
            DataType::UInt8 => push_int(out, a.as_primitive::<UInt8Type>().value(i)),
            DataType::UInt16 => push_int(out, a.as_primitive::<UInt16Type>().value(i)),
            DataType::UInt32 => push_int(out, a.as_primitive::<UInt32Type>().value(i)),
            DataType::UInt64 => push_int(out, a.as_primitive::<UInt64Type>().value(i)),
            DataType::Float64 => format_double(out, a.as_primitive::<Float64Type>().value(i)),
            DataType::Float32 => {
                // The oracle prints the double Java's text of the float reads as: the float's
                // digits as Java writes them.
                let v = a.as_primitive::<Float32Type>().value(i);
                format_float(out, v as f64, || {
                    java_digits(v as f64, format_args!("{v:e}"))
                })
            }
            DataType::Utf8 => out.push_str(a.as_string::<i32>().value(i)),
            DataType::LargeUtf8 => out.push_str(a.as_string::<i64>().value(i)),
            DataType::Utf8View => out.push_str(a.as_string_view().value(i)),
            DataType::Binary => {
                // As Flink's SQL client prints a binary string: `x'0aff'`.
                out.push_str("x'");
                for b in a.as_binary::<i32>().value(i) {
                    let _ = write!(out, "{b:02x}");
                }
                out.push('\'');
            }
            DataType::LargeBinary => write_bitmap(out, a.as_binary::<i64>().value(i)),
            DataType::Decimal128(_, scale) => {
                push_decimal(out, a.as_primitive::<Decimal128Type>().value(i), *scale)
            }
            DataType::Date32 => {
                let (y, m, d) = civil_from_days(a.as_primitive::<Date32Type>().value(i) as i64);
                let _ = write!(out, "{y:04}-{m:02}-{d:02}");
            }
            DataType::Timestamp(unit, _) => {
                push_timestamp(out, timestamp_value(a, *unit, i), *unit)
            }
            DataType::Time32(TimeUnit::Second) => push_time_of_day(
                out,
                a.as_primitive::<Time32SecondType>().value(i) as i64 * 1000,
            ),
            DataType::Time32(_) => push_time_of_day(
                out,
                a.as_primitive::<Time32MillisecondType>().value(i) as i64,
            ),
            DataType::Interval(IntervalUnit::MonthDayNano) => {
                push_interval(out, a.as_primitive::<IntervalMonthDayNanoType>().value(i))
            }
            DataType::Struct(_) => {
                // Flink's text of a row: `(1, abc, NULL)`.
                let fields = a.as_struct().columns();
                write_enclosed(out, ('(', ')'), fields.len(), |out, k| {
                    write_or_null(out, &fields[k], i)
                });
            }
            DataType::Map(..) => {
                // A map as Flink prints one: `{a=1, b=NULL}` (in the order it was made).
                let map = a.as_map();
                let entries = entries(map.value_offsets(), i);
                let keys = ValueFormatter::new(map.keys());
                write_enclosed(out, ('{', '}'), entries.len(), |out, k| {
                    keys.write(out, entries.start + k);
                    out.push('=');
                    write_or_null(out, map.values(), entries.start + k);
                });
            }
            DataType::List(_) => {
                // Flink's text of an array: `[1, NULL, 3]`.
                let list = a.as_list::<i32>();
                let items = entries(list.value_offsets(), i);
                write_enclosed(out, ('[', ']'), items.len(), |out, k| {
                    write_or_null(out, list.values(), items.start + k)
                });
            }
            _ => {
                let formatter =
                    arrow::util::display::ArrayFormatter::try_new(a.as_ref(), &Default::default());
                if let Ok(f) = formatter {
                    let _ = write!(out, "{}", f.value(i));
                }
            }
        }
    }
}

impl ValueFormatter<'_> {
    /// Appends the text of row `i` as the Flink oracle prints a field of Flink's `csv` format:
    /// an array's elements and a row's fields joined by `;` (its array element delimiter), a
    /// NULL inside them as nothing (its default null literal), a binary string in Base64;
    /// other values as [`write`](Self::write).
    pub fn write_csv(&self, out: &mut String, i: usize) {
        self.write_csv_joined(out, i, |f, out, i| match f.array.data_type() {
            DataType::Binary => push_base64(out, f.array.as_binary::<i32>().value(i)),
            _ => f.write(out, i),
        });
    }

    /// Appends the text of row `i` as Flink's `csv` format writes it into a file or a
    /// message: as [`write_csv`](Self::write_csv), with numbers and timestamps as
    /// [`write_json`](Self::write_json) writes them (`1.0E7`, `1E+1`, `2024-01-02 03:04:05.1`).
    pub fn write_flink_csv(&self, out: &mut String, i: usize) {
        self.write_csv_joined(out, i, |f, out, i| f.write_json(out, i));
    }

    /// Appends row `i`, an array's elements and a row's fields joined by `;` and each written
    /// by `scalar`, a NULL as nothing.
    fn write_csv_joined(
        &self,
        out: &mut String,
        i: usize,
        scalar: fn(&ValueFormatter, &mut String, usize),
    ) {
        let a = self.array;
        match a.data_type() {
            _ if a.is_null(i) => {}
            DataType::List(_) => {
                let list = a.as_list::<i32>();
                let items = ValueFormatter::new(list.values());
                for (k, item) in entries(list.value_offsets(), i).enumerate() {
                    if k > 0 {
                        out.push(';');
                    }
                    items.write_csv_joined(out, item, scalar);
                }
            }
            DataType::Struct(_) => {
                for (k, field) in a.as_struct().columns().iter().enumerate() {
                    if k > 0 {
                        out.push(';');
                    }
                    ValueFormatter::new(field).write_csv_joined(out, i, scalar);
                }
            }
            _ => scalar(self, out, i),
        }
    }

    /// Appends the text of scalar row `i` as Flink's `json` format writes it: numbers as Java
    /// writes them (`1.0E20`, `1E+1` for a DECIMAL 10.00), timestamps without trailing
    /// fraction zeros, binary strings in Base64; other values as [`write`](Self::write).
    pub fn write_json(&self, out: &mut String, i: usize) {
        let a = self.array;
        match a.data_type() {
            _ if a.is_null(i) => {}
            DataType::Float64 => java_double(out, a.as_primitive::<Float64Type>().value(i)),
            DataType::Float32 => java_float(out, a.as_primitive::<Float32Type>().value(i)),
            DataType::Decimal128(_, scale) => {
                java_stripped_decimal(out, a.as_primitive::<Decimal128Type>().value(i), *scale)
            }
            DataType::Timestamp(unit, zone) => {
                json_timestamp(out, timestamp_value(a, *unit, i), *unit, zone.is_some())
            }
            DataType::Binary => push_base64(out, a.as_binary::<i32>().value(i)),
            _ => self.write(out, i),
        }
    }
}

/// Row `i` of a timestamp column in `unit`.
fn timestamp_value(a: &ArrayRef, unit: TimeUnit, i: usize) -> i64 {
    match unit {
        TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(i),
        TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(i),
        TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(i),
        TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(i),
    }
}

/// The positions of row `i`'s entries in the values of a list or map with `offsets`.
pub(crate) fn entries(offsets: &[i32], i: usize) -> std::ops::Range<usize> {
    offsets[i] as usize..offsets[i + 1] as usize
}

/// `open`, the `n` items `item` writes (given their number), separated by `, `, then `close`.
fn write_enclosed(
    out: &mut String,
    (open, close): (char, char),
    n: usize,
    mut item: impl FnMut(&mut String, usize),
) {
    out.push(open);
    for k in 0..n {
        if k > 0 {
            out.push_str(", ");
        }
        item(out, k);
    }
    out.push(close);
}

/// The text of row `i` of `array`, `NULL` for a NULL (inside rows, arrays and maps).
fn write_or_null(out: &mut String, array: &ArrayRef, i: usize) {
    match array.is_null(i) {
        true => out.push_str("NULL"),
        false => ValueFormatter::new(array).write(out, i),
    }
}

/// The name of the entries field of the Arrow map that holds a `MULTISET<T>`: as in Flink, a
/// map from each element to its count (an `INT`).
pub const MULTISET_ENTRIES: &str = "multiset";

/// Whether `data_type` is a `MULTISET` (see [`MULTISET_ENTRIES`]).
pub fn is_multiset(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Map(entries, _) if entries.name() == MULTISET_ENTRIES)
}

/// The Arrow type of Flink's `BITMAP` values: Roaring bitmaps in the portable format.
pub const BITMAP: DataType = DataType::LargeBinary;

/// Appends the text of a `BITMAP` (`bytes` in the portable format) as Java's
/// `RoaringBitmap.toString` writes it: `{1,2,4294967295}`, cut with `...` past 512 Ki
/// characters.
pub fn write_bitmap(out: &mut String, bytes: &[u8]) {
    let Ok(bitmap) = roaring::RoaringBitmap::deserialize_from(bytes) else {
        out.push_str("<not a bitmap>");
        return;
    };
    let start = out.len();
    out.push('{');
    for (k, v) in bitmap.iter().enumerate() {
        if k > 0 {
            out.push(',');
            if out.len() - start > 0x80000 {
                out.push_str("...");
                break;
            }
        }
        push_int(out, v);
    }
    out.push('}');
}

/// An interval as Flink writes its two kinds: years and months as `+1-02`, days and time as
/// `-0 01:30:00.000` (which a zero interval is taken for).
fn push_interval(out: &mut String, interval: IntervalMonthDayNano) {
    let IntervalMonthDayNano {
        months,
        days,
        nanoseconds,
    } = interval;
    if months != 0 && days == 0 && nanoseconds == 0 {
        let sign = if months < 0 { '-' } else { '+' };
        let months = months.unsigned_abs();
        let _ = write!(out, "{sign}{}-{:02}", months / 12, months % 12);
        return;
    }
    let millis = i64::from(days) * 86_400_000 + nanoseconds / 1_000_000;
    let sign = if millis < 0 { '-' } else { '+' };
    let millis = millis.unsigned_abs();
    let (days, rest) = (millis / 86_400_000, millis % 86_400_000);
    let (h, m, s, ms) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    let _ = write!(out, "{sign}{days} {h:02}:{m:02}:{s:02}.{ms:03}");
}

/// `HH:MM:SS` of `millis` since midnight, and the fraction without its trailing zeros, as
/// Flink's formats and SQL client write a `TIME` (`12:00:00.5`).
fn push_time_of_day(out: &mut String, millis: i64) {
    let (seconds, fraction) = (millis / 1000, millis % 1000);
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let _ = write!(out, "{h:02}:{m:02}:{s:02}");
    if fraction > 0 {
        let (mut digits, mut width) = (fraction, 3);
        while digits % 10 == 0 {
            (digits, width) = (digits / 10, width - 1);
        }
        let _ = write!(out, ".{digits:0width$}");
    }
}

fn push_base64(out: &mut String, bytes: &[u8]) {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode_string(bytes, out);
}

fn push_int(out: &mut String, v: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(v));
}

pub(super) fn push_decimal(out: &mut String, v: i128, scale: i8) {
    if scale <= 0 {
        let _ = write!(out, "{v}{}", "0".repeat((-scale) as usize));
        return;
    }
    let scale = scale as u32;
    let div = 10i128.pow(scale);
    let (int, frac) = (v / div, (v % div).unsigned_abs());
    if v < 0 {
        out.push('-');
    }
    let _ = write!(
        out,
        "{}.{frac:0width$}",
        int.unsigned_abs(),
        width = scale as usize
    );
}

/// `YYYY-MM-DD HH:MM:SS.fff` of milliseconds since the epoch (e.g. a watermark).
pub fn millis_text(ms: i64) -> String {
    let mut out = String::new();
    push_timestamp(&mut out, ms, TimeUnit::Millisecond);
    out
}

/// Appends `YYYY-MM-DD HH:MM:SS[.fff]` for `v` units since the epoch.
pub(super) fn push_timestamp(out: &mut String, v: i64, unit: TimeUnit) {
    let per_sec: i64 = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    let (secs, frac) = (v.div_euclid(per_sec), v.rem_euclid(per_sec));
    let (days, sec_of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    // Digits by hand: `write!` with widths is a large share of writing a result.
    if (0..=9999).contains(&y) {
        push_padded(out, y as u64, 4);
    } else {
        let _ = write!(out, "{y:04}");
    }
    for (separator, value) in [
        ('-', u64::from(m)),
        ('-', u64::from(d)),
        (' ', (sec_of_day / 3600) as u64),
        (':', (sec_of_day / 60 % 60) as u64),
        (':', (sec_of_day % 60) as u64),
    ] {
        out.push(separator);
        push_padded(out, value, 2);
    }
    let digits = fraction_digits(unit);
    if digits > 0 {
        out.push('.');
        push_padded(out, frac as u64, digits);
    }
}

/// Appends `value` in decimal, zero-padded to `width` digits.
fn push_padded(out: &mut String, value: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut v = value;
    let mut i = buf.len();
    while v > 0 {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let start = (buf.len() - width).min(i);
    out.push_str(std::str::from_utf8(&buf[start..]).expect("ASCII digits"));
}

/// (year, month, day) of a day number since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(v: f64) -> String {
        let mut s = String::new();
        format_double(&mut s, v);
        s
    }

    #[test]
    fn doubles_follow_python_repr() {
        // Expected strings are what CPython's repr() prints for these values.
        let cases = [
            (101.25, "101.25"),
            (90.0, "90.0"),
            (1e20, "1e+20"),
            (2e20, "2e+20"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-1.5e-7, "-1.5e-07"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-inf"),
            (-0.0, "-0.0"),
            (123456789.0, "123456789.0"),
        ];
        for (v, want) in cases {
            assert_eq!(double(v), want, "repr of {v:e}");
        }
    }

    #[test]
    fn timestamps_and_dates() {
        let mut s = String::new();
        push_timestamp(&mut s, 1_704_067_260_075, TimeUnit::Millisecond);
        assert_eq!(s, "2024-01-01 00:01:00.075");
        s.clear();
        push_timestamp(&mut s, -1, TimeUnit::Millisecond);
        assert_eq!(s, "1969-12-31 23:59:59.999");
        s.clear();
        push_timestamp(&mut s, 951_782_400, TimeUnit::Second);
        assert_eq!(s, "2000-02-29 00:00:00");
        s.clear();
        push_timestamp(&mut s, 1_000_001, TimeUnit::Microsecond);
        assert_eq!(s, "1970-01-01 00:00:01.000001");
        s.clear();
        push_timestamp(&mut s, -59_000_000_000_000, TimeUnit::Millisecond);
        assert_eq!(s, "0100-05-13 15:06:40.000", "checked with Python datetime");
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }

    #[test]
    fn decimals_keep_their_scale() {
        let mut s = String::new();
        push_decimal(&mut s, -5, 2);
        assert_eq!(s, "-0.05");
        s.clear();
        push_decimal(&mut s, 123_400, 3);
        assert_eq!(s, "123.400");
    }
}
