//! `JSON(text)` inside `JSON_OBJECT` and `JSON_ARRAY`: raw JSON, written as Flink's Jackson
//! writes the tree it reads: without spaces, each object's keys sorted (in UTF-16 order, as
//! Java compares strings; a repeated key keeps its last value), integers as written and other
//! numbers as Java's `BigDecimal` prints them (`1e2` is `1E+2`, `2.50` stays, `1.5e-7` is
//! `1.5E-7`). Only the first value of the text counts; an empty text is NULL; text that is no
//! JSON fails the query.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringBuilder};
use datafusion_common::{Result, exec_err};
use datafusion_expr::ScalarUDF;

use super::json::{write_joined, write_key};
use super::udf::{Arg, Udf, string, strings};
use rill_engine::format::push_json_string;

/// The name `JSON(text)` has as a value of a JSON constructor; elsewhere it is refused.
pub const RAW_JSON: &str = "rill_json";

/// The function, to register.
pub fn function() -> ScalarUDF {
    Udf::new(RAW_JSON, vec![vec![Arg::String]], string, json)
}

fn json(args: &[ArrayRef]) -> Result<ArrayRef> {
    let texts = strings(&args[0])?;
    let mut out = StringBuilder::with_capacity(texts.len(), texts.len() * 16);
    let mut written = String::new();
    for text in texts.iter() {
        let Some(text) = text else {
            out.append_null();
            continue;
        };
        let mut reader = Reader {
            bytes: text.as_bytes(),
            at: 0,
        };
        reader.skip_space();
        if reader.at == reader.bytes.len() {
            out.append_null();
            continue;
        }
        match reader.value() {
            Some(value) => {
                written.clear();
                value.write(&mut written);
                out.append_value(&written);
            }
            None => {
                let mut shown = String::new();
                push_json_string(&mut shown, text);
                return exec_err!("Invalid JSON string in JSON(value) function: {shown}");
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

/// A JSON value as Jackson holds it for writing.
enum Value {
    /// `null`, `true`, `false`, or a number as Jackson writes it.
    Literal(String),
    String(String),
    Array(Vec<Value>),
    /// By key in UTF-16 order.
    Object(BTreeMap<Vec<u16>, (String, Value)>),
}

impl Value {
    fn write(&self, out: &mut String) {
        match self {
            Value::Literal(text) => out.push_str(text),
            Value::String(s) => push_json_string(out, s),
            Value::Array(items) => {
                write_joined(out, ('[', ']'), items, |out, item| item.write(out))
            }
            Value::Object(entries) => {
                write_joined(out, ('{', '}'), entries.values(), |out, (key, value)| {
                    write_key(out, key);
                    value.write(out)
                })
            }
        }
    }
}

/// Reads JSON values from `bytes`.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn skip_space(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.skip_space();
        let found = self.bytes.get(self.at) == Some(&byte);
        self.at += usize::from(found);
        found
    }

    fn value(&mut self) -> Option<Value> {
        self.skip_space();
        match *self.bytes.get(self.at)? {
            b'{' => {
                self.at += 1;
                let mut entries = BTreeMap::new();
                if self.eat(b'}') {
                    return Some(Value::Object(entries));
                }
                loop {
                    self.skip_space();
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return None;
                    }
                    let value = self.value()?;
                    entries.insert(key.encode_utf16().collect(), (key, value));
                    if self.eat(b'}') {
                        return Some(Value::Object(entries));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    if self.eat(b']') {
                        return Some(Value::Array(items));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'"' => self.string().map(Value::String),
            b'-' | b'0'..=b'9' => self.number(),
            _ => ["null", "true", "false"].into_iter().find_map(|word| {
                self.bytes[self.at..].starts_with(word.as_bytes()).then(|| {
                    self.at += word.len();
                    Value::Literal(word.to_string())
                })
            }),
        }
    }

    /// A string literal (at its opening quote), unescaped.
    fn string(&mut self) -> Option<String> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return None;
        }
        let start = self.at;
        self.at += 1;
        loop {
            match *self.bytes.get(self.at)? {
                b'"' => break,
                b'\\' => self.at += 2,
                c if c < 0x20 => return None,
                _ => self.at += 1,
            }
        }
        self.at += 1;
        let literal = std::str::from_utf8(&self.bytes[start..self.at]).ok()?;
        serde_json::from_str(literal).ok()
    }

    /// A number, as Jackson writes it: an integer as written (without `-` for zero), any
    /// other number as Java's `BigDecimal.toString`.
    fn number(&mut self) -> Option<Value> {
        let digits = |reader: &mut Self| {
            let start = reader.at;
            while reader.bytes.get(reader.at).is_some_and(u8::is_ascii_digit) {
                reader.at += 1;
            }
            std::str::from_utf8(&reader.bytes[start..reader.at]).ok()
        };
        let negative = self.bytes.get(self.at) == Some(&b'-');
        self.at += usize::from(negative);
        let whole = digits(self)?;
        if whole.is_empty() || (whole.len() > 1 && whole.starts_with('0')) {
            return None;
        }
        let mut fraction = "";
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            fraction = digits(self)?;
            if fraction.is_empty() {
                return None;
            }
        }
        let mut exponent: Option<i64> = None;
        if matches!(self.bytes.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            let sign = match self.bytes.get(self.at) {
                Some(b'-') => -1,
                Some(b'+') => 1,
                _ => 0,
            };
            self.at += usize::from(sign != 0);
            let e = digits(self)?;
            exponent = Some(if sign < 0 { -1 } else { 1 } * e.parse::<i64>().ok()?);
        }
        let float = !fraction.is_empty() || exponent.is_some();
        let mut coefficient = format!("{whole}{fraction}");
        let significant = coefficient.trim_start_matches('0').len();
        coefficient.drain(..coefficient.len() - significant.max(1));
        let zero = coefficient == "0";
        let mut text = String::from(if negative && !zero { "-" } else { "" });
        if !float {
            text.push_str(&coefficient);
            return Some(Value::Literal(text));
        }
        let scale = fraction.len() as i64 - exponent.unwrap_or(0);
        let adjusted = -scale + (coefficient.len() as i64 - 1);
        if scale >= 0 && adjusted >= -6 {
            let scale = scale as usize;
            if scale == 0 {
                text.push_str(&coefficient);
            } else if coefficient.len() > scale {
                let (int, frac) = coefficient.split_at(coefficient.len() - scale);
                text.push_str(&format!("{int}.{frac}"));
            } else {
                text.push_str("0.");
                text.push_str(&"0".repeat(scale - coefficient.len()));
                text.push_str(&coefficient);
            }
        } else {
            let (first, rest) = coefficient.split_at(1);
            text.push_str(first);
            if !rest.is_empty() {
                text.push('.');
                text.push_str(rest);
            }
            text.push_str(&format!(
                "E{}{adjusted}",
                if adjusted > 0 { "+" } else { "" }
            ));
        }
        Some(Value::Literal(text))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, StringArray};

    use super::*;

    fn normalized(text: &str) -> Result<Option<String>> {
        let input: ArrayRef = Arc::new(StringArray::from(vec![text]));
        let out = json(&[input])?;
        let out = out.as_string::<i32>();
        Ok(out.is_valid(0).then(|| out.value(0).to_string()))
    }

    #[test]
    fn numbers_are_written_as_java_big_decimals() {
        // What Flink 2.3 gives for JSON_ARRAY(JSON('[...]')) of these numbers.
        let input = "[1e2, 2.50, -0, 0.000001, 1.5e-7, 12345678901234567890, 1E400, -1.0, \
                     10.0e1, 0.1e-6, 123456789012345678901234567890.5, -0.0, 0.0000001, 100, \
                     1.0E10]";
        assert_eq!(
            normalized(input).unwrap().unwrap(),
            "[1E+2,2.50,0,0.000001,1.5E-7,12345678901234567890,1E+400,-1.0,100,1E-7,\
             123456789012345678901234567890.5,0.0,1E-7,100,1.0E+10]"
        );
    }

    #[test]
    fn objects_are_sorted_and_only_the_first_value_counts() {
        assert_eq!(
            normalized(r#" {"b":1,"a":2,"b":3, "Z": 0, "é": 1, "n": {"y": [ {"d":1, "c":2} ]}} x"#)
                .unwrap()
                .unwrap(),
            r#"{"Z":0,"a":2,"b":3,"n":{"y":[{"c":2,"d":1}]},"é":1}"#
        );
        assert_eq!(normalized("  ").unwrap(), None);
        assert_eq!(normalized(r#""a\u00e9""#).unwrap().unwrap(), r#""aé""#);
        assert!(normalized("{bad").is_err());
        assert!(normalized("01").is_err());
    }
}
