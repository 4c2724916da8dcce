//! Flink's string functions, as Flink computes them (positions count characters from 1, a
//! NULL argument gives NULL unless said otherwise).

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int32Array, StringBuilder};
use arrow::datatypes::Int64Type;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::ScalarUDF;
use regex::Regex;

use super::udf::{Arg, Udf, boolean, int, string, strings};

/// The string functions rill has in Flink's form.
pub fn functions() -> Vec<ScalarUDF> {
    use Arg::{Integer as I, String as S};
    vec![
        Udf::variadic("concat", string, concat),
        Udf::new("initcap", vec![vec![S]], string, initcap),
        Udf::new("ascii", vec![vec![S]], int, ascii),
        Udf::new("substr", vec![vec![S, I], vec![S, I, I]], string, substring),
        Udf::new(
            "substring",
            vec![vec![S, I], vec![S, I, I]],
            string,
            substring,
        ),
        Udf::new(
            "overlay",
            vec![vec![S, S, I], vec![S, S, I, I]],
            string,
            overlay,
        ),
        Udf::new(
            "regexp_replace",
            vec![vec![S, S, S]],
            string,
            regexp_replace,
        ),
        Udf::new(
            "regexp_extract",
            vec![vec![S, S], vec![S, S, I]],
            string,
            regexp_extract,
        ),
        Udf::new("regexp", vec![vec![S, S]], boolean, regexp),
        Udf::new("split_index", vec![vec![S, S, I]], string, split_index),
        Udf::new("locate", vec![vec![S, S], vec![S, S, I]], int, locate),
        Udf::new("instr", vec![vec![S, S]], int, instr),
        Udf::new("startswith", vec![vec![S, S]], boolean, starts_with),
        Udf::new("endswith", vec![vec![S, S]], boolean, ends_with),
    ]
}

/// Rows of a string result: `write` appends row `i`'s text and says whether it is non-NULL.
fn build_strings(
    rows: usize,
    mut write: impl FnMut(usize, &mut StringBuilder) -> Result<bool>,
) -> Result<ArrayRef> {
    let mut out = StringBuilder::with_capacity(rows, rows * 8);
    for i in 0..rows {
        if write(i, &mut out)? {
            out.append_value("");
        } else {
            out.append_null();
        }
    }
    Ok(Arc::new(out.finish()))
}

/// The integer argument `array` (BIGINT after coercion) at row `i`, if not NULL.
fn integer(array: &ArrayRef, i: usize) -> Option<i64> {
    let a = array.as_primitive::<Int64Type>();
    a.is_valid(i).then(|| a.value(i))
}

/// `CONCAT(s1, s2, ...)`: NULL if any argument is NULL.
fn concat(args: &[ArrayRef]) -> Result<ArrayRef> {
    let args: Vec<_> = args.iter().map(strings).collect::<Result<_>>()?;
    let rows = args.first().map_or(0, |a| a.len());
    build_strings(rows, |i, out| {
        if args.iter().any(|a| a.is_null(i)) {
            return Ok(false);
        }
        for a in &args {
            out.write_str(a.value(i)).expect("writes to memory");
        }
        Ok(true)
    })
}

/// `INITCAP(s)`: Calcite's rule, which Flink uses: words are runs of ASCII letters and digits;
/// their first letter is upper-cased and the others lower-cased; other characters stay.
fn initcap(args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    build_strings(s.len(), |i, out| {
        if s.is_null(i) {
            return Ok(false);
        }
        let mut start = true;
        for c in s.value(i).chars() {
            let c = if !c.is_ascii_alphanumeric() {
                start = true;
                c
            } else if std::mem::take(&mut start) {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            out.write_char(c).expect("writes to memory");
        }
        Ok(true)
    })
}

/// `ASCII(s)`: the first byte of the UTF-8 text as a signed byte (0 for an empty string).
fn ascii(args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    let codes: Int32Array = s
        .iter()
        .map(|v| v.map(|v| v.as_bytes().first().map_or(0, |&b| b as i8 as i32)))
        .collect();
    Ok(Arc::new(codes))
}

/// The byte range of characters `[from, to)` of `s` (clipped to its length).
fn char_range(s: &str, from: usize, to: usize) -> &str {
    let mut offsets = s.char_indices().map(|(o, _)| o).chain([s.len()]);
    let start = offsets.nth(from).unwrap_or(s.len());
    let end = if to <= from {
        start
    } else {
        offsets.nth(to - from - 1).unwrap_or(s.len())
    };
    &s[start..end]
}

/// `SUBSTRING(s, start [, length])`: `start` counts from 1, from the end when negative, and 0
/// is the first character; a negative length is an error.
fn substring(args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    build_strings(s.len(), |i, out| {
        let (Some(start), false) = (integer(&args[1], i), s.is_null(i)) else {
            return Ok(false);
        };
        let length = match args.get(2) {
            Some(l) => match integer(l, i) {
                Some(l) if l < 0 => {
                    return exec_err!("SUBSTRING: negative length {l}");
                }
                Some(l) => l,
                None => return Ok(false),
            },
            None => i64::MAX,
        };
        let text = s.value(i);
        let chars = text.chars().count() as i64;
        let from = match start {
            0 => 0,
            s if s > 0 => s - 1,
            s if chars + s >= 0 => chars + s,
            // Further back than the start: nothing.
            _ => return Ok(true),
        };
        let to = from.saturating_add(length).min(chars);
        out.write_str(char_range(text, from as usize, to.max(from) as usize))
            .expect("writes to memory");
        Ok(true)
    })
}

/// `OVERLAY(s PLACING r FROM start [FOR length])`: `s` with `length` characters (those of `r`
/// by default) from position `start` replaced by `r`.
fn overlay(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (s, r) = (strings(&args[0])?, strings(&args[1])?);
    build_strings(s.len(), |i, out| {
        if s.is_null(i) || r.is_null(i) {
            return Ok(false);
        }
        let Some(start) = integer(&args[2], i) else {
            return Ok(false);
        };
        let (text, placed) = (s.value(i), r.value(i));
        let length = match args.get(3) {
            Some(l) => match integer(l, i) {
                Some(l) => l,
                None => return Ok(false),
            },
            None => placed.chars().count() as i64,
        };
        let chars = text.chars().count() as i64;
        let from = (start - 1).max(0);
        if from >= chars {
            // Flink leaves the text as it is when the position is past its end.
            out.write_str(text).expect("writes to memory");
            return Ok(true);
        }
        // Flink drops the rest of the text when the length is 0.
        let rest = if length == 0 {
            chars
        } else {
            (from + length.max(0)).min(chars)
        };
        out.write_str(char_range(text, 0, from as usize))
            .expect("writes to memory");
        out.write_str(placed).expect("writes to memory");
        out.write_str(char_range(text, rest as usize, chars as usize))
            .expect("writes to memory");
        Ok(true)
    })
}

/// Compiles patterns, once per distinct pattern in a row of the same batch.
struct Patterns {
    last: Option<(String, Option<Regex>)>,
}

impl Patterns {
    fn new() -> Self {
        Patterns { last: None }
    }

    /// The compiled `pattern`, or `None` if it is not a valid regular expression.
    fn get(&mut self, pattern: &str) -> Option<&Regex> {
        if self.last.as_ref().is_none_or(|(p, _)| p != pattern) {
            self.last = Some((pattern.to_string(), Regex::new(&java_regex(pattern)).ok()));
        }
        self.last.as_ref().and_then(|(_, r)| r.as_ref())
    }
}

/// A Java pattern in Rust's syntax: Java's `\w`, `\d`, `\s` and `\b` are ASCII classes,
/// Rust's are Unicode ones.
fn java_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('w') => out.push_str("[0-9A-Za-z_]"),
            Some('W') => out.push_str("[^0-9A-Za-z_]"),
            Some('d') => out.push_str("[0-9]"),
            Some('D') => out.push_str("[^0-9]"),
            Some('s') => out.push_str("[\\t\\n\\x0B\\f\\r ]"),
            Some('S') => out.push_str("[^\\t\\n\\x0B\\f\\r ]"),
            Some('b') => out.push_str("(?-u:\\b)"),
            Some('B') => out.push_str("(?-u:\\B)"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// `REGEXP_REPLACE(s, pattern, replacement)`: every match replaced by the replacement text;
/// NULL for an invalid pattern.
fn regexp_replace(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (s, p, r) = (strings(&args[0])?, strings(&args[1])?, strings(&args[2])?);
    let mut patterns = Patterns::new();
    build_strings(s.len(), |i, out| {
        if s.is_null(i) || p.is_null(i) || r.is_null(i) {
            return Ok(false);
        }
        let Some(regex) = patterns.get(p.value(i)) else {
            return Ok(false);
        };
        // The replacement is literal text in Flink (`$1` is not a group).
        out.write_str(&regex.replace_all(s.value(i), regex::NoExpand(r.value(i))))
            .expect("writes to memory");
        Ok(true)
    })
}

/// `REGEXP_EXTRACT(s, pattern [, group])`: the group (default 1) of the first match, NULL if
/// there is no match, the group does not exist or the pattern is invalid.
fn regexp_extract(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (s, p) = (strings(&args[0])?, strings(&args[1])?);
    let mut patterns = Patterns::new();
    build_strings(s.len(), |i, out| {
        if s.is_null(i) || p.is_null(i) {
            return Ok(false);
        }
        let group = match args.get(2) {
            Some(g) => match integer(g, i) {
                Some(g) if g >= 0 => g as usize,
                _ => return Ok(false),
            },
            None => 1,
        };
        let Some(regex) = patterns.get(p.value(i)) else {
            return Ok(false);
        };
        if group >= regex.captures_len() {
            return Ok(false);
        }
        let Some(found) = regex.captures(s.value(i)).and_then(|c| c.get(group)) else {
            return Ok(false);
        };
        out.write_str(found.as_str()).expect("writes to memory");
        Ok(true)
    })
}

/// `REGEXP(s, pattern)`: whether some substring of `s` matches.
fn regexp(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (s, p) = (strings(&args[0])?, strings(&args[1])?);
    let mut patterns = Patterns::new();
    let found: BooleanArray = (0..s.len())
        .map(|i| {
            if s.is_null(i) || p.is_null(i) {
                return None;
            }
            Some(patterns.get(p.value(i))?.is_match(s.value(i)))
        })
        .collect();
    Ok(Arc::new(found))
}

/// `SPLIT_INDEX(s, delimiter, n)`: the `n`th (from 0) piece of `s` split at `delimiter`
/// (at whitespace for an empty one); NULL for an empty `s`.
fn split_index(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (s, d) = (strings(&args[0])?, strings(&args[1])?);
    build_strings(s.len(), |i, out| {
        let Some(n) = integer(&args[2], i) else {
            return Ok(false);
        };
        if s.is_null(i) || d.is_null(i) || n < 0 {
            return Ok(false);
        }
        let (text, delimiter) = (s.value(i), d.value(i));
        let piece = if text.is_empty() {
            None
        } else if delimiter.is_empty() {
            // No delimiter splits at each whitespace character.
            text.split(char::is_whitespace).nth(n as usize)
        } else {
            text.split(delimiter).nth(n as usize)
        };
        match piece {
            Some(p) => {
                out.write_str(p).expect("writes to memory");
                Ok(true)
            }
            None => Ok(false),
        }
    })
}

/// The character position (from 1) of `needle` in `haystack` from character `from` (from 0),
/// or 0.
fn position(haystack: &str, needle: &str, from: usize) -> i32 {
    let start = char_range(haystack, 0, from).len();
    match haystack[start..].find(needle) {
        Some(at) => (haystack[..start + at].chars().count() + 1) as i32,
        None => 0,
    }
}

/// `LOCATE(needle, haystack [, from])`: the position of `needle` in `haystack` from position
/// `from` (1 by default), or 0.
fn locate(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (needle, haystack) = (strings(&args[0])?, strings(&args[1])?);
    let found: Int32Array = (0..needle.len())
        .map(|i| {
            if needle.is_null(i) || haystack.is_null(i) {
                return None;
            }
            let from = match args.get(2) {
                Some(f) => integer(f, i)?,
                None => 1,
            };
            // A start before the first character is the first character.
            Some(position(
                haystack.value(i),
                needle.value(i),
                from.max(1) as usize - 1,
            ))
        })
        .collect();
    Ok(Arc::new(found))
}

/// `INSTR(haystack, needle)`: the position of `needle` in `haystack`, or 0.
fn instr(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (haystack, needle) = (strings(&args[0])?, strings(&args[1])?);
    let found: Int32Array = (0..needle.len())
        .map(|i| {
            (!needle.is_null(i) && !haystack.is_null(i))
                .then(|| position(haystack.value(i), needle.value(i), 0))
        })
        .collect();
    Ok(Arc::new(found))
}

/// Whether `test` holds of the two string arguments, row by row.
fn string_test(args: &[ArrayRef], test: fn(&str, &str) -> bool) -> Result<ArrayRef> {
    let (a, b) = (strings(&args[0])?, strings(&args[1])?);
    let result: BooleanArray = a
        .iter()
        .zip(b.iter())
        .map(|(a, b)| Some(test(a?, b?)))
        .collect();
    Ok(Arc::new(result))
}

fn starts_with(args: &[ArrayRef]) -> Result<ArrayRef> {
    string_test(args, |s, p| s.starts_with(p))
}

fn ends_with(args: &[ArrayRef]) -> Result<ArrayRef> {
    string_test(args, |s, p| s.ends_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_ranges_count_characters() {
        assert_eq!(char_range("Ünï", 1, 2), "n");
        assert_eq!(char_range("Ünï", 1, 9), "nï");
        assert_eq!(char_range("Ünï", 5, 9), "");
        assert_eq!(position("Ünïn", "n", 0), 2);
        assert_eq!(position("Ünïn", "n", 2), 4);
        assert_eq!(position("Ünïn", "x", 0), 0);
    }

    #[test]
    fn java_classes_are_ascii() {
        let r = Regex::new(&java_regex(r"(\w+) (\d)\b")).unwrap();
        assert!(r.is_match("ab 1"));
        assert!(!r.is_match("日本 1"));
        assert!(!r.is_match("ab ١"));
        let r = Regex::new(&java_regex(r"[\w-]+\.\s")).unwrap();
        assert_eq!(r.find("x a-b. c").unwrap().as_str(), "a-b. ");
    }
}
