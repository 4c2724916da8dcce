//! `PRINTF(format, obj...)`: Java's `Formatter` with `Locale.US`, as Flink calls it on its
//! internal values: a `DECIMAL` prints as its plain text, a `TIMESTAMP` as Java's
//! `LocalDateTime` (`2024-01-01T10:00`), a `DATE` as its day number and a `TIME` as its
//! millisecond of the day (both are `Integer`s inside Flink). Where Java's `Formatter` throws
//! (a `%d` of a string, a missing argument, a flag a conversion does not take), Flink's answer
//! is NULL. The date/time (`%t`), hash (`%h`) and hexadecimal floating-point (`%a`) conversions
//! are not supported yet: they fail the query.

use std::fmt::Write;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int64Type, Time32MillisecondType, Time32SecondType,
    TimeUnit,
};
use datafusion_common::{Result, exec_err};
use datafusion_expr::ScalarUDF;
use rill_engine::format::{ValueFormatter, java_double, java_float, shortest_digits};

use super::udf::{Compiled, Udf, string, strings};

/// The function, to register.
pub fn function() -> ScalarUDF {
    Udf::variadic_any("printf", string, printf)
}

fn printf(args: &[ArrayRef]) -> Result<ArrayRef> {
    let formats = strings(&args[0])?;
    let values = args[1..]
        .iter()
        .map(Values::of)
        .collect::<Result<Vec<_>>>()?;
    let mut compiled = Compiled::new();
    let mut out = StringBuilder::with_capacity(formats.len(), formats.len() * 32);
    let mut text = String::new();
    for (row, format) in formats.iter().enumerate() {
        let Some(format) = format else {
            out.append_null();
            continue;
        };
        let pieces = match compiled.get(format, parse) {
            Ok(Some(pieces)) => pieces,
            Ok(None) => {
                out.append_null();
                continue;
            }
            Err(unsupported) => return exec_err!("PRINTF: {unsupported}"),
        };
        text.clear();
        match write_row(&mut text, pieces, &values, row) {
            Some(()) => out.append_value(&text),
            None => out.append_null(),
        }
    }
    Ok(std::sync::Arc::new(out.finish()))
}

/// A part of a format: text as it is, or a format specifier.
enum Piece {
    Text(String),
    Spec(Spec),
}

/// `%[index$][flags][width][.precision]conversion`.
struct Spec {
    index: Index,
    flags: Flags,
    width: Option<usize>,
    precision: Option<usize>,
    /// The conversion, lower case (`%%` and `%n` are text).
    conversion: char,
    upper: bool,
}

/// Which argument a specifier formats.
enum Index {
    /// The one after the last ordinary specifier's.
    Next,
    /// The one at this place (from 1).
    At(usize),
    /// The previous specifier's (`<`).
    Previous,
}

#[derive(Default, Clone, Copy)]
struct Flags {
    left: bool,
    alternate: bool,
    plus: bool,
    space: bool,
    zero: bool,
    group: bool,
    parentheses: bool,
}

/// Reads a format as Java's `Formatter` does: `None` where Java throws before formatting, an
/// error for what rill does not support.
fn parse(format: &str) -> Result<Option<Vec<Piece>>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = format;
    while let Some(at) = rest.find('%') {
        text.push_str(&rest[..at]);
        let Some((spec, len)) = parse_spec(&rest[at + 1..]) else {
            return Ok(None);
        };
        spec.check_supported()?;
        rest = &rest[at + 1 + len..];
        match spec.conversion {
            '%' => justify(&mut text, "%", spec.width, spec.flags.left),
            'n' => text.push('\n'),
            _ => {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Spec(spec));
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(Some(pieces))
}

/// The specifier at the start of `rest` (after a `%`) and the characters it takes; `None`
/// where Java throws.
fn parse_spec(rest: &str) -> Option<(Spec, usize)> {
    let bytes = rest.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
        rest[start..*i].parse::<usize>().ok()
    };
    let mut index = Index::Next;
    let mut flags = Flags::default();
    let mut width = None;
    // A number followed by `$` is an argument index, otherwise (unless it starts with 0,
    // a flag) the width.
    let start = i;
    if let Some(n) = digits(&mut i) {
        if bytes.get(i) == Some(&b'$') {
            index = Index::At(n);
            i += 1;
        } else if !rest[start..].starts_with('0') {
            width = Some(n);
        } else {
            i = start;
        }
    }
    if width.is_none() {
        while let Some(&b) = bytes.get(i) {
            let flag = match b {
                b'-' => &mut flags.left,
                b'#' => &mut flags.alternate,
                b'+' => &mut flags.plus,
                b' ' => &mut flags.space,
                b'0' => &mut flags.zero,
                b',' => &mut flags.group,
                b'(' => &mut flags.parentheses,
                b'<' => {
                    index = Index::Previous;
                    i += 1;
                    continue;
                }
                _ => break,
            };
            if *flag {
                return None; // DuplicateFormatFlagsException
            }
            *flag = true;
            i += 1;
        }
        width = digits(&mut i);
    }
    let mut precision = None;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        precision = Some(digits(&mut i)?);
    }
    let conversion = rest[i..].chars().next()?;
    i += conversion.len_utf8();
    let spec = Spec {
        index,
        flags,
        width,
        precision,
        conversion: conversion.to_ascii_lowercase(),
        upper: conversion.is_ascii_uppercase(),
    };
    spec.valid().then_some((spec, i))
}

impl Spec {
    /// Refuses the conversions rill does not have.
    fn check_supported(&self) -> Result<(), String> {
        match self.conversion {
            't' | 'h' | 'a' => Err(format!(
                "the conversion %{} is not supported yet",
                self.conversion
            )),
            _ => Ok(()),
        }
    }

    /// Whether Java's `Formatter` takes the specifier, whatever its argument.
    fn valid(&self) -> bool {
        let f = self.flags;
        let known = "bscdoxefgnat%h".contains(self.conversion);
        let any_flag = f.left || f.alternate || f.plus || f.space || f.zero || f.group;
        let text_only = self.conversion == 'n'
            && (self.width.is_some() || any_flag || f.parentheses || self.precision.is_some());
        let missing_width = (f.left || f.zero) && self.width.is_none();
        let clashing = (f.left && f.zero) || (f.plus && f.space);
        let signs = f.plus || f.space || f.zero || f.group || f.parentheses;
        // `#` of `%s` asks for Java's `Formattable`, which no value Flink passes is.
        let mismatched = match self.conversion {
            'b' | 's' | 'c' | '%' => f.alternate || signs,
            'd' | 'g' => f.alternate,
            'o' | 'x' => f.group || f.plus || f.space || f.parentheses,
            'e' => f.group,
            _ => false,
        };
        let precise = self.precision.is_some() && "cdox%".contains(self.conversion);
        known && !text_only && !missing_width && !clashing && !mismatched && !precise
    }
}

/// One argument's values, as Flink hands them to Java.
enum Values<'a> {
    Null,
    Text(&'a ArrayRef),
    /// An integer and its width in bits (for `%x` and `%o` of a negative one).
    Integer(Vec<Option<i64>>, u32),
    Double(&'a ArrayRef),
    Float(&'a ArrayRef),
    Boolean(&'a ArrayRef),
    /// Values whose `toString` Flink's `%s` prints (decimals, timestamps).
    Object(&'a ArrayRef),
}

impl<'a> Values<'a> {
    fn of(array: &'a ArrayRef) -> Result<Values<'a>> {
        let integers = |bits| -> Result<Values<'a>> {
            let longs = arrow::compute::cast(array, &DataType::Int64)?;
            Ok(Values::Integer(
                longs.as_primitive::<Int64Type>().iter().collect(),
                bits,
            ))
        };
        Ok(match array.data_type() {
            DataType::Null => Values::Null,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Values::Text(array),
            DataType::Int8 => integers(8)?,
            DataType::Int16 => integers(16)?,
            DataType::Int32 | DataType::Date32 => integers(32)?,
            DataType::Int64 => integers(64)?,
            DataType::Time32(TimeUnit::Second) => Values::Integer(
                (array.as_primitive::<Time32SecondType>().iter())
                    .map(|s| s.map(|s| i64::from(s) * 1000))
                    .collect(),
                32,
            ),
            DataType::Time32(_) => Values::Integer(
                (array.as_primitive::<Time32MillisecondType>().iter())
                    .map(|ms| ms.map(i64::from))
                    .collect(),
                32,
            ),
            DataType::Float64 => Values::Double(array),
            DataType::Float32 => Values::Float(array),
            DataType::Boolean => Values::Boolean(array),
            DataType::Decimal128(..) | DataType::Timestamp(..) => Values::Object(array),
            other => return exec_err!("PRINTF cannot format a value of type {other}"),
        })
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Values::Null => true,
            Values::Integer(v, _) => v[row].is_none(),
            Values::Text(a)
            | Values::Double(a)
            | Values::Float(a)
            | Values::Boolean(a)
            | Values::Object(a) => a.is_null(row),
        }
    }

    /// Java's `toString` of row `row`'s value (not NULL).
    fn write_string(&self, out: &mut String, row: usize) {
        match self {
            Values::Null => out.push_str("null"),
            Values::Text(a) => ValueFormatter::new(a).write(out, row),
            Values::Integer(v, _) => {
                let _ = write!(out, "{}", v[row].unwrap_or_default());
            }
            Values::Double(a) => java_double(out, a.as_primitive::<Float64Type>().value(row)),
            Values::Float(a) => java_float(out, a.as_primitive::<Float32Type>().value(row)),
            Values::Boolean(a) => out.push_str(if a.as_boolean().value(row) {
                "true"
            } else {
                "false"
            }),
            Values::Object(a) => match a.data_type() {
                DataType::Timestamp(..) => local_date_time(out, a, row),
                // A decimal's `toString` is its plain text, as rill writes it.
                _ => ValueFormatter::new(a).write(out, row),
            },
        }
    }
}

/// Java's `LocalDateTime.toString()` of a timestamp: `2024-01-01T10:00`, seconds only when
/// there are some, the fraction in groups of three digits.
fn local_date_time(out: &mut String, timestamps: &ArrayRef, row: usize) {
    let start = out.len();
    ValueFormatter::new(timestamps).write(out, row);
    let text = out.split_off(start);
    let (date, time) = text.split_once(' ').unwrap_or((&text, "00:00:00"));
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let fraction = fraction.trim_end_matches('0');
    out.push_str(date);
    out.push('T');
    match (clock.strip_suffix(":00"), fraction.is_empty()) {
        (Some(minutes), true) => out.push_str(minutes),
        _ => out.push_str(clock),
    }
    if !fraction.is_empty() {
        let digits = fraction.len().div_ceil(3) * 3;
        let _ = write!(out, ".{fraction:0<digits$}");
    }
}

/// Formats row `row` by `pieces`.
fn write_row(out: &mut String, pieces: &[Piece], values: &[Values], row: usize) -> Option<()> {
    let mut next = 0;
    let mut last = None;
    let mut field = String::new();
    for piece in pieces {
        let spec = match piece {
            Piece::Text(text) => {
                out.push_str(text);
                continue;
            }
            Piece::Spec(spec) => spec,
        };
        let index = match spec.index {
            Index::Next => {
                next += 1;
                next - 1
            }
            Index::At(n) => n.saturating_sub(1),
            Index::Previous => last?,
        };
        last = Some(index);
        let value = values.get(index)?; // else MissingFormatArgumentException
        field.clear();
        write_value(&mut field, spec, value, row)?;
        if spec.upper {
            field = field.to_uppercase();
        }
        justify(out, &field, spec.width, spec.flags.left);
    }
    Some(())
}

/// Appends `text` padded with spaces to `width`, on the right when `left`.
fn justify(out: &mut String, text: &str, width: Option<usize>, left: bool) {
    let pad = width.unwrap_or(0).saturating_sub(text.chars().count());
    if !left {
        out.extend(std::iter::repeat_n(' ', pad));
    }
    out.push_str(text);
    if left {
        out.extend(std::iter::repeat_n(' ', pad));
    }
}

/// Writes one argument's value by `spec`, before width and case; `None` where Java throws
/// (`IllegalFormatConversionException`, `IllegalFormatCodePointException`).
fn write_value(out: &mut String, spec: &Spec, value: &Values, row: usize) -> Option<()> {
    let null = value.is_null(row);
    match spec.conversion {
        'b' => {
            let truth = match value {
                _ if null => false,
                Values::Boolean(a) => a.as_boolean().value(row),
                _ => true,
            };
            out.push_str(if truth { "true" } else { "false" });
        }
        _ if null => out.push_str("null"),
        's' => value.write_string(out, row),
        'c' => match value {
            Values::Integer(v, bits) if *bits <= 32 => {
                let code = v[row].unwrap_or_default();
                out.push(u32::try_from(code).ok().and_then(char::from_u32)?);
            }
            _ => return None,
        },
        'd' | 'o' | 'x' => match value {
            Values::Integer(v, bits) => write_integer(out, spec, v[row].unwrap_or_default(), *bits),
            _ => return None,
        },
        _ => match value {
            Values::Double(a) => {
                write_floating(out, spec, a.as_primitive::<Float64Type>().value(row))
            }
            Values::Float(a) => write_floating(
                out,
                spec,
                f64::from(a.as_primitive::<Float32Type>().value(row)),
            ),
            _ => return None,
        },
    }
    // The precision of a text (and of any "null") is its most characters.
    if let Some(precision) = spec.precision
        && (null || matches!(spec.conversion, 'b' | 's'))
        && let Some((cut, _)) = out.char_indices().nth(precision)
    {
        out.truncate(cut);
    }
    Some(())
}

/// `%d`, `%o` or `%x` of an integer of `bits` bits.
fn write_integer(out: &mut String, spec: &Spec, v: i64, bits: u32) {
    let f = spec.flags;
    let mut digits = String::new();
    if spec.conversion == 'd' {
        let magnitude = v.unsigned_abs().to_string();
        if f.group {
            group_thousands(&mut digits, &magnitude);
        } else {
            digits = magnitude;
        }
        signed(out, f, spec.width, v < 0, &digits);
        return;
    }
    // Java writes a negative number as the unsigned one of the same bits.
    let unsigned = (v as u64) & (u64::MAX >> (64 - bits));
    let prefix = match (spec.conversion, f.alternate) {
        ('x', true) => "0x",
        ('o', true) => "0",
        _ => "",
    };
    let _ = match spec.conversion {
        'x' => write!(digits, "{unsigned:x}"),
        _ => write!(digits, "{unsigned:o}"),
    };
    out.push_str(prefix);
    if f.zero {
        let width = spec.width.unwrap_or(0).saturating_sub(prefix.len());
        out.extend(std::iter::repeat_n('0', width.saturating_sub(digits.len())));
    }
    out.push_str(&digits);
}

/// Appends `digits` with Java's sign flags (`+`, ` `, `(`) and zero padding to `width`.
fn signed(out: &mut String, f: Flags, width: Option<usize>, negative: bool, digits: &str) {
    let (lead, trail) = match (negative, f.parentheses) {
        (true, true) => ("(", ")"),
        (true, false) => ("-", ""),
        (false, _) if f.plus => ("+", ""),
        (false, _) if f.space => (" ", ""),
        _ => ("", ""),
    };
    out.push_str(lead);
    if f.zero {
        let used = lead.len() + digits.chars().count() + trail.len();
        out.extend(std::iter::repeat_n(
            '0',
            width.unwrap_or(0).saturating_sub(used),
        ));
    }
    out.push_str(digits);
    out.push_str(trail);
}

/// `int` with a `,` between each group of three digits.
fn group_thousands(out: &mut String, int: &str) {
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
}

/// `%e`, `%f` or `%g` of a double, rounding Java's decimal digits of it half up, as Java's
/// `FormattedFloatingDecimal` does.
fn write_floating(out: &mut String, spec: &Spec, v: f64) {
    let f = spec.flags;
    if !v.is_finite() {
        let text = if v.is_nan() { "NaN" } else { "Infinity" };
        let unpadded = Flags { zero: false, ..f };
        return signed(out, unpadded, spec.width, v < 0.0, text);
    }
    let (negative, mut digits, mut exp) = match v == 0.0 {
        true => (v.is_sign_negative(), "0".to_string(), 0),
        false => shortest_digits(format_args!("{v:e}")),
    };
    let mut body = String::new();
    let precision = spec.precision.unwrap_or(6);
    let scientific = match spec.conversion {
        'e' => Some(precision),
        'f' => None,
        _ => {
            // `%g`: the precision counts significant digits; fixed between 10^-4 and
            // 10^precision after rounding, scientific outside.
            let significant = precision.max(1);
            if v != 0.0 {
                exp = round_half_up(&mut digits, exp, significant as i32 - 1);
            }
            match (-4..significant as i32).contains(&exp) || v == 0.0 {
                true => {
                    let fraction = (significant as i32 - 1 - exp).max(0) as usize;
                    write_fixed(&mut body, &mut digits, exp, fraction, f.group, f.alternate);
                    return signed(out, f, spec.width, negative, &body);
                }
                false => Some(significant - 1),
            }
        }
    };
    match scientific {
        None => write_fixed(&mut body, &mut digits, exp, precision, f.group, f.alternate),
        Some(fraction) => {
            if v != 0.0 {
                exp = round_half_up(&mut digits, exp, fraction as i32);
            }
            let (first, rest) = digits.split_at(1);
            body.push_str(first);
            if fraction > 0 || f.alternate {
                body.push('.');
            }
            body.push_str(&format!("{rest:0<fraction$}")[..fraction]);
            let _ = write!(body, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
        }
    }
    signed(out, f, spec.width, negative, &body);
}

/// Rounds the digits `d.ddd × 10^exp` half up to `fraction` digits after the first one (a
/// negative number keeps fewer than one; none left is `0`); returns the exponent, which a
/// carry raises.
fn round_half_up(digits: &mut String, exp: i32, fraction: i32) -> i32 {
    let keep = fraction + 1;
    if keep >= digits.len() as i32 {
        return exp;
    }
    if keep < 0 {
        *digits = "0".into();
        return exp;
    }
    let bytes = digits.as_bytes();
    let mut carry = bytes[keep as usize] >= b'5';
    let mut kept = bytes[..keep as usize].to_vec();
    for d in kept.iter_mut().rev() {
        if !carry {
            break;
        }
        (*d, carry) = match *d {
            b'9' => (b'0', true),
            d => (d + 1, false),
        };
    }
    let mut exp = exp;
    if carry {
        kept.insert(0, b'1');
        exp += 1;
    }
    if kept.is_empty() {
        kept.push(b'0');
    }
    *digits = String::from_utf8(kept).expect("ASCII digits");
    exp
}

/// `d.ddd × 10^exp` in fixed notation with `fraction` digits after the point, rounded half
/// up, the integer part grouped in thousands when `group`.
fn write_fixed(
    out: &mut String,
    digits: &mut String,
    exp: i32,
    fraction: usize,
    group: bool,
    point: bool,
) {
    let mut exp = exp;
    if digits != "0" {
        exp = round_half_up(digits, exp, fraction as i32 + exp);
    }
    let all = digits.as_bytes();
    let digit = |place: i32| -> char {
        // The digit for 10^place.
        let at = exp - place;
        match usize::try_from(at).ok().and_then(|at| all.get(at)) {
            Some(&d) if digits != "0" => char::from(d),
            _ => '0',
        }
    };
    let mut int = String::new();
    if exp < 0 || digits == "0" {
        int.push('0');
    } else {
        for place in (0..=exp).rev() {
            int.push(digit(place));
        }
    }
    if group {
        group_thousands(out, &int);
    } else {
        out.push_str(&int);
    }
    if fraction > 0 || point {
        out.push('.');
    }
    for place in 1..=fraction as i32 {
        out.push(digit(-place));
    }
}
