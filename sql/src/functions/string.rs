//! Flink's string functions, as Flink computes them (positions count characters from 1, a
//! NULL argument gives NULL unless said otherwise).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, ListBuilder, StringBuilder,
};
use arrow::datatypes::{DataType, Int64Type};
use datafusion_common::{Result, exec_err};
use datafusion_expr::ScalarUDF;
use memchr::memmem::Finder;
use regex::Regex;

use super::udf::{Arg, Compiled, Udf, bigint, boolean, int, string, strings};

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
        Udf::new(
            "regexp_extract_all",
            vec![vec![S, S], vec![S, S, I]],
            |_| DataType::new_list(DataType::Utf8, true),
            regexp_extract_all,
        ),
        Udf::new("regexp", vec![vec![S, S]], boolean, regexp),
        Udf::new("split_index", vec![vec![S, S, I]], string, split_index),
        Udf::new("locate", vec![vec![S, S], vec![S, S, I]], int, locate),
        Udf::new("instr", vec![vec![S, S]], int, instr),
        Udf::new("is_alpha", vec![vec![S]], boolean, |a| {
            string_property(&a[0], |s| {
                !s.is_empty() && s.chars().all(char::is_alphabetic)
            })
        }),
        Udf::new("is_digit", vec![vec![S]], boolean, |a| {
            string_property(&a[0], |s| !s.is_empty() && s.chars().all(is_decimal_digit))
        }),
        Udf::new("is_decimal", vec![vec![S]], boolean, |a| {
            string_property(&a[0], is_decimal)
        }),
        Udf::new("chr", vec![vec![I]], string, chr),
        Udf::new("btrim", vec![vec![S], vec![S, S]], string, btrim),
        Udf::new("translate", vec![vec![S, S, S]], string, translate),
        Udf::new("regexp_count", vec![vec![S, S]], int, regexp_count),
        Udf::new("regexp_instr", vec![vec![S, S]], int, regexp_instr),
        Udf::new("regexp_substr", vec![vec![S, S]], string, regexp_substr),
        Udf::new("startswith", vec![vec![S, S]], boolean, starts_with),
        Udf::new("endswith", vec![vec![S, S]], boolean, ends_with),
        Udf::new("inet_aton", vec![vec![S]], bigint, inet_aton),
        Udf::new("inet_ntoa", vec![vec![I]], string, inet_ntoa),
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

/// Regular expressions compiled once per distinct pattern; `None` for an invalid one.
struct Patterns(Compiled<Option<Regex>>);

impl Patterns {
    fn new() -> Self {
        Patterns(Compiled::new())
    }

    /// The compiled `pattern`, or `None` if it is not a valid regular expression.
    fn get(&mut self, pattern: &str) -> Option<&Regex> {
        self.0.get(pattern, cached_regex).as_ref()
    }
}

/// `pattern` compiled, from this thread's cache of the patterns it compiled last. A pattern is
/// mostly a constant, and compiling it (prefilters and all) costs as much as matching it
/// against thousands of rows: once per batch was 4 % of Nexmark q21.
fn cached_regex(pattern: &str) -> Option<Regex> {
    /// The most patterns a thread keeps: patterns that vary by row are not kept for ever.
    const MOST: usize = 64;
    thread_local! {
        static CACHE: RefCell<HashMap<String, Option<Regex>>> = RefCell::new(HashMap::new());
    }
    CACHE.with_borrow_mut(|cache| {
        if let Some(regex) = cache.get(pattern) {
            return regex.clone();
        }
        if cache.len() >= MOST {
            cache.clear();
        }
        let regex = Regex::new(&java_regex(pattern)).ok();
        cache.insert(pattern.to_string(), regex.clone());
        regex
    })
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
    // Reused for every row: where the groups of the last match are.
    let mut locations = Compiled::new();
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
        let groups = locations.get(p.value(i), |_| regex.capture_locations());
        let text = s.value(i);
        if regex.captures_read(groups, text).is_none() {
            return Ok(false);
        }
        let Some((start, end)) = groups.get(group) else {
            return Ok(false);
        };
        out.write_str(&text[start..end]).expect("writes to memory");
        Ok(true)
    })
}

/// `REGEXP_EXTRACT_ALL(s, pattern [, group])`: the group (default 1) of every match, NULL
/// where a match leaves the group out; NULL if the group does not exist or the pattern is
/// invalid.
fn regexp_extract_all(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (s, p) = (strings(&args[0])?, strings(&args[1])?);
    let mut patterns = Patterns::new();
    let mut out = ListBuilder::new(StringBuilder::new());
    for i in 0..s.len() {
        let group = match args.get(2) {
            Some(g) => integer(g, i).filter(|g| *g >= 0).map(|g| g as usize),
            None => Some(1),
        };
        let regex = (s.is_valid(i) && p.is_valid(i))
            .then(|| patterns.get(p.value(i)))
            .flatten();
        match (regex, group) {
            (Some(regex), Some(group)) if group < regex.captures_len() => {
                for captures in regex.captures_iter(s.value(i)) {
                    out.values()
                        .append_option(captures.get(group).map(|m| m.as_str()));
                }
                out.append(true);
            }
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// `f` of each string and its pattern, compiled once per distinct pattern; NULL where either
/// is NULL or the pattern is invalid.
fn with_patterns<T>(
    args: &[ArrayRef],
    mut f: impl FnMut(&str, &Regex) -> Option<T>,
) -> Result<Vec<Option<T>>> {
    let (s, p) = (strings(&args[0])?, strings(&args[1])?);
    let mut patterns = Patterns::new();
    Ok((0..s.len())
        .map(|i| {
            if s.is_null(i) || p.is_null(i) {
                return None;
            }
            f(s.value(i), patterns.get(p.value(i))?)
        })
        .collect())
}

/// `REGEXP_COUNT(s, pattern)`: how many times the pattern matches.
fn regexp_count(args: &[ArrayRef]) -> Result<ArrayRef> {
    let counts = with_patterns(args, |s, r| Some(r.find_iter(s).count() as i32))?;
    Ok(Arc::new(Int32Array::from(counts)))
}

/// `REGEXP_INSTR(s, pattern)`: the character position of the first match, or 0.
fn regexp_instr(args: &[ArrayRef]) -> Result<ArrayRef> {
    let positions = with_patterns(args, |s, r| {
        Some(
            r.find(s)
                .map_or(0, |m| s[..m.start()].chars().count() as i32 + 1),
        )
    })?;
    Ok(Arc::new(Int32Array::from(positions)))
}

/// `REGEXP_SUBSTR(s, pattern)`: the first match, or NULL.
fn regexp_substr(args: &[ArrayRef]) -> Result<ArrayRef> {
    let found = with_patterns(args, |s, r| r.find(s).map(|m| m.as_str().to_string()))?;
    Ok(Arc::new(arrow::array::StringArray::from(found)))
}

/// `BTRIM(s [, characters])`: `s` without the characters (spaces by default) at both ends.
fn btrim(args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    let characters = args.get(1).map(strings).transpose()?;
    build_strings(s.len(), |i, out| {
        let trim = match &characters {
            Some(c) if c.is_null(i) => return Ok(false),
            Some(c) => c.value(i),
            None => " ",
        };
        if s.is_null(i) {
            return Ok(false);
        }
        out.write_str(s.value(i).trim_matches(|c| trim.contains(c)))
            .expect("writes to memory");
        Ok(true)
    })
}

/// `TRANSLATE(s, from, to)`: each character of `from` in `s` replaced by the one at the same
/// place in `to`, or removed when `to` is shorter.
fn translate(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (s, from, to) = (strings(&args[0])?, strings(&args[1])?, strings(&args[2])?);
    build_strings(s.len(), |i, out| {
        if s.is_null(i) || from.is_null(i) || to.is_null(i) {
            return Ok(false);
        }
        let (from, to): (Vec<char>, Vec<char>) = (
            from.value(i).chars().collect(),
            to.value(i).chars().collect(),
        );
        for c in s.value(i).chars() {
            match from.iter().position(|f| *f == c) {
                Some(at) => {
                    if let Some(t) = to.get(at) {
                        out.write_char(*t).expect("writes to memory");
                    }
                }
                None => out.write_char(c).expect("writes to memory"),
            }
        }
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
    let mut finders = Compiled::new();
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
            let finder = finders.get(delimiter, |d| Finder::new(d).into_owned());
            nth_piece(text, finder, n as usize)
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

/// The `n`th piece (from 0) of `text` cut at each match of `delimiter`, as `str::split` cuts
/// it, but found with memchr's searcher: `str::split`'s is most of `SPLIT_INDEX`'s time.
fn nth_piece<'a>(text: &'a str, delimiter: &Finder, n: usize) -> Option<&'a str> {
    let (mut start, mut piece) = (0, 0);
    for at in delimiter.find_iter(text.as_bytes()) {
        if piece == n {
            return Some(&text[start..at]);
        }
        piece += 1;
        start = at + delimiter.needle().len();
    }
    (piece == n).then(|| &text[start..])
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

/// Whether each string has `property` (false for NULL).
fn string_property(array: &ArrayRef, property: fn(&str) -> bool) -> Result<ArrayRef> {
    let s = strings(array)?;
    let result: BooleanArray = s.iter().map(|v| Some(v.is_some_and(property))).collect();
    Ok(Arc::new(result))
}

/// The runs of Unicode's decimal digits (category Nd), which Java's `Character.isDigit` accepts.
const DECIMAL_DIGITS: [(u32, u32); 62] = [
    (0x30, 0x39),
    (0x660, 0x669),
    (0x6F0, 0x6F9),
    (0x7C0, 0x7C9),
    (0x966, 0x96F),
    (0x9E6, 0x9EF),
    (0xA66, 0xA6F),
    (0xAE6, 0xAEF),
    (0xB66, 0xB6F),
    (0xBE6, 0xBEF),
    (0xC66, 0xC6F),
    (0xCE6, 0xCEF),
    (0xD66, 0xD6F),
    (0xDE6, 0xDEF),
    (0xE50, 0xE59),
    (0xED0, 0xED9),
    (0xF20, 0xF29),
    (0x1040, 0x1049),
    (0x1090, 0x1099),
    (0x17E0, 0x17E9),
    (0x1810, 0x1819),
    (0x1946, 0x194F),
    (0x19D0, 0x19D9),
    (0x1A80, 0x1A89),
    (0x1A90, 0x1A99),
    (0x1B50, 0x1B59),
    (0x1BB0, 0x1BB9),
    (0x1C40, 0x1C49),
    (0x1C50, 0x1C59),
    (0xA620, 0xA629),
    (0xA8D0, 0xA8D9),
    (0xA900, 0xA909),
    (0xA9D0, 0xA9D9),
    (0xA9F0, 0xA9F9),
    (0xAA50, 0xAA59),
    (0xABF0, 0xABF9),
    (0xFF10, 0xFF19),
    (0x104A0, 0x104A9),
    (0x10D30, 0x10D39),
    (0x11066, 0x1106F),
    (0x110F0, 0x110F9),
    (0x11136, 0x1113F),
    (0x111D0, 0x111D9),
    (0x112F0, 0x112F9),
    (0x11450, 0x11459),
    (0x114D0, 0x114D9),
    (0x11650, 0x11659),
    (0x116C0, 0x116C9),
    (0x11730, 0x11739),
    (0x118E0, 0x118E9),
    (0x11950, 0x11959),
    (0x11C50, 0x11C59),
    (0x11D50, 0x11D59),
    (0x11DA0, 0x11DA9),
    (0x16A60, 0x16A69),
    (0x16AC0, 0x16AC9),
    (0x16B50, 0x16B59),
    (0x1D7CE, 0x1D7FF),
    (0x1E140, 0x1E149),
    (0x1E2F0, 0x1E2F9),
    (0x1E950, 0x1E959),
    (0x1FBF0, 0x1FBF9),
];

fn is_decimal_digit(c: char) -> bool {
    let c = c as u32;
    DECIMAL_DIGITS
        .iter()
        .any(|&(from, to)| (from..=to).contains(&c))
}

/// Whether Java's `Double.parseDouble` reads `s`: blanks around, a sign, digits with at most
/// one point, an exponent, a type suffix, or `NaN` and `Infinity`.
fn is_decimal(s: &str) -> bool {
    let s = s.trim_matches(|c: char| c <= ' ');
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    if s == "NaN" || s == "Infinity" {
        return true;
    }
    let s = s.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(at) => (&s[..at], Some(&s[at + 1..])),
        None => (s, None),
    };
    let (int, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    !(int.is_empty() && fraction.is_empty()) && digits(int) && digits(fraction) && exponent_ok
}

/// `CHR(n)`: the character of code `n` modulo 256; empty for a negative `n`.
fn chr(args: &[ArrayRef]) -> Result<ArrayRef> {
    build_strings(args[0].len(), |i, out| {
        let Some(n) = integer(&args[0], i) else {
            return Ok(false);
        };
        if n >= 0 {
            out.write_char(char::from((n % 256) as u8))
                .expect("writes to memory");
        }
        Ok(true)
    })
}

/// `INET_ATON(s)`: an IPv4 address as a number, MySQL's way as Flink does it: decimal parts
/// of at most 255 (leading zeros allowed), `a.b` read as `a.0.0.b` and `a.b.c` as `a.b.0.c`;
/// NULL for anything else.
fn inet_aton(args: &[ArrayRef]) -> Result<ArrayRef> {
    let parse = |text: &str| -> Option<i64> {
        let parts: Vec<i64> = (text.split('.'))
            .map(|part| {
                let digits = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
                // At most 255 however many leading zeros.
                let value = part.trim_start_matches('0');
                (digits && value.len() <= 3)
                    .then(|| value.parse::<i64>().unwrap_or(0))
                    .filter(|v| *v <= 255)
            })
            .collect::<Option<_>>()?;
        match parts[..] {
            [a, d] => Some(a << 24 | d),
            [a, b, d] => Some(a << 24 | b << 16 | d),
            [a, b, c, d] => Some(a << 24 | b << 16 | c << 8 | d),
            _ => None,
        }
    };
    let texts = strings(&args[0])?;
    let numbers: arrow::array::Int64Array = texts.iter().map(|t| parse(t?)).collect();
    Ok(Arc::new(numbers))
}

/// `INET_NTOA(n)`: the IPv4 address of a number from 0 to 2^32 - 1 (NULL otherwise).
fn inet_ntoa(args: &[ArrayRef]) -> Result<ArrayRef> {
    build_strings(args[0].len(), |i, out| {
        let Some(n) = integer(&args[0], i).filter(|n| (0..=u32::MAX as i64).contains(n)) else {
            return Ok(false);
        };
        let [a, b, c, d] = (n as u32).to_be_bytes();
        write!(out, "{a}.{b}.{c}.{d}").expect("writes to memory");
        Ok(true)
    })
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
    fn pieces_are_cut_as_split_cuts_them() {
        let texts = ["a/b//c/", "/x", "", "aaaa", "éaébé", "no delimiter", "ab"];
        for text in texts {
            for delimiter in ["/", "aa", "é", "ab", "//"] {
                let finder = Finder::new(delimiter);
                for n in 0..7 {
                    let expected = text.split(delimiter).nth(n);
                    assert_eq!(
                        nth_piece(text, &finder, n),
                        expected,
                        "{text:?} {delimiter:?}"
                    );
                }
            }
        }
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
