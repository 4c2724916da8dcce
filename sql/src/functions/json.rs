//! Flink's JSON functions: `IS JSON`, `JSON_EXISTS`, `JSON_VALUE`, `JSON_QUERY`,
//! `JSON_STRING`, `JSON_QUOTE` and `JSON_UNQUOTE`. Objects keep their keys in input order, as
//! Flink's do; paths are read as Flink (Jayway's JsonPath) reads them: a path with a wildcard
//! gives the array of what it matches.

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringBuilder};
use arrow::datatypes::{DataType, Float64Type};
use datafusion_common::{Result, exec_err};
use datafusion_expr::ScalarUDF;
use datafusion_sql::sqlparser::tokenizer::{Token, TokenWithSpan};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::udf::{Arg, Compiled, Udf, boolean, string, strings};
use rill_engine::format::{java_double, push_json_string};

/// The JSON functions.
pub fn functions() -> Vec<ScalarUDF> {
    use Arg::{Any as A, String as S};
    vec![
        Udf::new("is_json", vec![vec![S, S]], boolean, is_json),
        Udf::new("json_exists", vec![vec![S, S]], boolean, json_exists),
        Udf::new("json_value", vec![vec![S, S]], string, json_value),
        Udf::new(
            "json_query",
            vec![vec![S, S], vec![S, S, S]],
            string,
            json_query,
        ),
        Udf::new("json_string", vec![vec![A]], string, json_string),
        Udf::variadic_any("json_object", string, |a| json_constructor(a, true)),
        Udf::variadic_any("json_array", string, |a| json_constructor(a, false)),
        Udf::new("json_quote", vec![vec![S]], string, json_quote),
        Udf::new("json_unquote", vec![vec![S]], string, json_unquote),
    ]
}

/// A JSON value whose objects keep their keys in order.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        struct Value;
        impl<'de> Visitor<'de> for Value {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Json, E> {
                serde_json::Number::from_f64(v)
                    .map(Json::Number)
                    .ok_or_else(|| E::custom("not a finite number"))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::String(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Json, E> {
                Ok(Json::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Json, M::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Json::Object(entries))
            }
        }
        deserializer.deserialize_any(Value)
    }
}

impl Json {
    fn parse(text: &str) -> Option<Json> {
        serde_json::from_str(text).ok()
    }

    fn is_scalar(&self) -> bool {
        !matches!(self, Json::Array(_) | Json::Object(_))
    }

    /// The compact text of the value.
    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => {
                let _ = write!(out, "{n}");
            }
            Json::String(s) => push_json_string(out, s),
            Json::Array(items) => write_joined(out, ('[', ']'), items, |out, item| item.write(out)),
            Json::Object(entries) => write_joined(out, ('{', '}'), entries, |out, (key, value)| {
                write_key(out, key);
                value.write(out)
            }),
        }
    }
}

/// Writes `items` between `brackets`, separated by commas, each by `write`.
pub(super) fn write_joined<T>(
    out: &mut String,
    (open, close): (char, char),
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut String, T),
) {
    out.push(open);
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(out, item);
    }
    out.push(close);
}

/// Writes an object's `key` and the colon after it.
pub(super) fn write_key(out: &mut String, key: &str) {
    push_json_string(out, key);
    out.push(':');
}

/// `s` as `JSON_QUOTE` writes it: `"`, `\`, `/` and `\b`, `\f`, `\n`, `\r`, `\t` escaped,
/// characters beyond ASCII as `\uxxxx`, other control characters as they are.
fn quote_for_json_quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    /// `[*]` or `.*`.
    Any,
}

/// A JSON path: `[lax|strict] $` then `.key`, `['key']`, `[n]`, `[*]`, `.*`.
#[derive(Debug, Clone, PartialEq)]
struct Path {
    strict: bool,
    steps: Vec<Step>,
}

impl Path {
    fn parse(text: &str) -> Option<Path> {
        let text = text.trim();
        let (strict, rest) = if let Some(r) = text.strip_prefix("strict") {
            (true, r.trim_start())
        } else if let Some(r) = text.strip_prefix("lax") {
            (false, r.trim_start())
        } else {
            (false, text)
        };
        let mut rest = rest.strip_prefix('$')?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix(".*") {
                steps.push(Step::Any);
                rest = r;
            } else if let Some(r) = rest.strip_prefix('.') {
                if let Some(quoted) = r.strip_prefix('"') {
                    let end = quoted.find('"')?;
                    steps.push(Step::Key(quoted[..end].to_string()));
                    rest = &quoted[end + 1..];
                } else if r.starts_with('[') {
                    rest = r;
                } else {
                    let end = r.find(['.', '[']).unwrap_or(r.len());
                    if end == 0 {
                        return None;
                    }
                    steps.push(Step::Key(r[..end].to_string()));
                    rest = &r[end..];
                }
            } else if let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']')?;
                let inside = r[..end].trim();
                steps.push(match inside {
                    "*" => Step::Any,
                    _ if inside.starts_with('\'') || inside.starts_with('"') => {
                        Step::Key(inside[1..inside.len().checked_sub(1)?].to_string())
                    }
                    _ => Step::Index(inside.parse().ok()?),
                });
                rest = &r[end + 1..];
            } else {
                return None;
            }
        }
        Some(Path { strict, steps })
    }

    /// What the path selects in `root`: `None` when nothing, a JSON null or (in strict mode)
    /// an error; the array of matches when it has a wildcard.
    fn select(&self, root: &Json) -> Option<Json> {
        let mut current = vec![root.clone()];
        let definite = !self.steps.contains(&Step::Any);
        for step in &self.steps {
            let mut next = Vec::new();
            for value in &current {
                match (step, value) {
                    (Step::Key(k), Json::Object(entries)) => {
                        match entries.iter().find(|(key, _)| key == k) {
                            Some((_, v)) => next.push(v.clone()),
                            None if self.strict => return None,
                            None => {}
                        }
                    }
                    (Step::Index(i), Json::Array(items)) => match items.get(*i) {
                        Some(v) => next.push(v.clone()),
                        None if self.strict => return None,
                        None => {}
                    },
                    (Step::Any, Json::Array(items)) => next.extend(items.iter().cloned()),
                    (Step::Any, Json::Object(entries)) => {
                        next.extend(entries.iter().map(|(_, v)| v.clone()))
                    }
                    _ if self.strict => return None,
                    _ => {}
                }
            }
            current = next;
        }
        // A JSON null selects nothing, as in Flink; so does a wildcard that matches nothing.
        if definite {
            current.into_iter().next().filter(|v| *v != Json::Null)
        } else if current.is_empty() {
            None
        } else {
            Some(Json::Array(current))
        }
    }
}

/// Row by row over a JSON text and a path: `f` of the parsed text and the path, or `None`
/// where either is NULL (`f` also sees texts that are not JSON, as `None`).
fn each_document<T>(
    args: &[ArrayRef],
    mut f: impl FnMut(Option<&Json>, Option<&Path>) -> Option<T>,
) -> Result<Vec<Option<T>>> {
    let (texts, paths) = (strings(&args[0])?, strings(&args[1])?);
    let mut paths_compiled = Compiled::new();
    Ok((0..texts.len())
        .map(|i| {
            if texts.is_null(i) || paths.is_null(i) {
                return None;
            }
            let path = paths_compiled.get(paths.value(i), Path::parse);
            let document = Json::parse(texts.value(i));
            f(document.as_ref(), path.as_ref())
        })
        .collect())
}

fn strings_of(values: Vec<Option<String>>) -> ArrayRef {
    Arc::new(arrow::array::StringArray::from(values))
}

/// `x IS JSON [VALUE | SCALAR | ARRAY | OBJECT]` (the kind is the second argument); NULL is
/// not JSON.
fn is_json(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (texts, kinds) = (strings(&args[0])?, strings(&args[1])?);
    let result: BooleanArray = (0..texts.len())
        .map(|i| {
            let json = texts
                .is_valid(i)
                .then(|| Json::parse(texts.value(i)))
                .flatten();
            Some(match (json, kinds.is_valid(i).then(|| kinds.value(i))) {
                (None, _) => false,
                (Some(j), Some("SCALAR")) => j.is_scalar(),
                (Some(j), Some("ARRAY")) => matches!(j, Json::Array(_)),
                (Some(j), Some("OBJECT")) => matches!(j, Json::Object(_)),
                (Some(_), _) => true,
            })
        })
        .collect();
    Ok(Arc::new(result))
}

/// `JSON_EXISTS(json, path)`: whether the path selects something (false for text that is not
/// JSON: Flink's default is `FALSE ON ERROR`).
fn json_exists(args: &[ArrayRef]) -> Result<ArrayRef> {
    let found = each_document(args, |json, path| {
        Some(match (json, path) {
            (Some(json), Some(path)) => path.select(json).is_some(),
            _ => false,
        })
    })?;
    Ok(Arc::new(BooleanArray::from(found)))
}

/// `JSON_VALUE(json, path)`: the scalar the path selects, as text; NULL when it selects
/// nothing, something not scalar, or the text is not JSON (Flink's `NULL ON EMPTY` and
/// `NULL ON ERROR`).
fn json_value(args: &[ArrayRef]) -> Result<ArrayRef> {
    let values = each_document(args, |json, path| {
        let mut text = String::new();
        match path?.select(json?)? {
            Json::String(s) => text.push_str(&s),
            Json::Null | Json::Array(_) | Json::Object(_) => return None,
            scalar => scalar.write(&mut text),
        }
        Some(text)
    })?;
    Ok(strings_of(values))
}

/// `JSON_QUERY(json, path [wrapper])`: the array or object the path selects, as JSON text
/// (with a wrapper, what it selects in an array); NULL otherwise.
fn json_query(args: &[ArrayRef]) -> Result<ArrayRef> {
    // Whether to wrap what the path selects in an array: always, unless it is one, never.
    let (always, unless_array) = match args.get(2) {
        Some(w) => match strings(w)?.iter().flatten().next() {
            Some("WITH WRAPPER") => (true, false),
            Some("WITH CONDITIONAL WRAPPER") => (false, true),
            Some("WITHOUT WRAPPER") | None => (false, false),
            Some(other) => return exec_err!("JSON_QUERY: {other} is not supported yet"),
        },
        None => (false, false),
    };
    let values = each_document(&args[..2], |json, path| {
        let selected = path?.select(json?)?;
        let mut text = String::new();
        if always || (unless_array && !matches!(selected, Json::Array(_))) {
            Json::Array(vec![selected]).write(&mut text);
        } else if selected.is_scalar() {
            return None;
        } else {
            selected.write(&mut text);
        }
        Some(text)
    })?;
    Ok(strings_of(values))
}

/// Writes row `i` of `a` (not NULL) as a JSON value: numbers and booleans as they are,
/// other values as strings of their text, or as they are where `raw` (JSON text made by a
/// nested JSON constructor).
pub(super) fn write_json(a: &ArrayRef, i: usize, raw: bool, text: &mut String) -> Result<()> {
    let formatter = rill_engine::format::ValueFormatter::new(a);
    match a.data_type() {
        DataType::Float64 => {
            let v = a.as_primitive::<Float64Type>().value(i);
            java_double(text, v);
            // Jackson writes a positive exponent with its sign: 1.0E+300.
            if let Some(at) = text.find('E')
                && !text[at + 1..].starts_with('-')
            {
                text.insert(at + 1, '+');
            }
        }
        t if t.is_integer() || matches!(t, DataType::Boolean | DataType::Decimal128(..)) => {
            formatter.write(text, i)
        }
        _ if raw => formatter.write(text, i),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let mut value = String::new();
            formatter.write(&mut value, i);
            push_json_string(text, &value);
        }
        other => return exec_err!("JSON of {other} is not supported yet"),
    }
    Ok(())
}

/// The first argument of `json_object` and `json_array` (a constant): whether NULL values
/// are left out (`ABSENT ON NULL`), and which values are JSON text to insert as it is.
pub(super) fn constructor_mode(args: &[ArrayRef]) -> Result<(bool, Vec<bool>)> {
    let Some(mode) = strings(&args[0])?
        .iter()
        .flatten()
        .next()
        .map(str::to_string)
    else {
        return exec_err!("a JSON constructor needs its mode");
    };
    let (nulls, raw) = mode.split_once(':').unwrap_or((&mode, ""));
    Ok((nulls == "ABSENT", raw.chars().map(|c| c == '1').collect()))
}

/// `json_object(mode, key1, value1, ...)` and `json_array(mode, value...)`: what
/// `JSON_OBJECT(KEY k VALUE v ...)` (its keys sorted, as Flink writes them) and
/// `JSON_ARRAY(v ...)` become.
fn json_constructor(args: &[ArrayRef], object: bool) -> Result<ArrayRef> {
    let (absent, raw) = constructor_mode(args)?;
    let (keys, values): (Vec<_>, Vec<&ArrayRef>) = if object {
        // JSON_OBJECT() has no pair: slices past the mode would be out of range.
        let keys = args.iter().skip(1).step_by(2).map(strings);
        (
            keys.collect::<Result<_>>()?,
            args.iter().skip(2).step_by(2).collect(),
        )
    } else {
        (vec![], args[1..].iter().collect())
    };
    let (open, close) = if object { ('{', '}') } else { ('[', ']') };
    let rows = args[0].len();
    let mut out = StringBuilder::with_capacity(rows, rows * 16);
    let mut text = String::new();
    // The values of a row in the order of their keys: Flink writes an object's keys sorted.
    let mut order: Vec<usize> = Vec::with_capacity(values.len());
    for i in 0..rows {
        text.clear();
        text.push(open);
        let mut first = true;
        order.clear();
        order.extend(0..values.len());
        if object {
            order.sort_by_key(|&n| keys[n].is_valid(i).then(|| keys[n].value(i)));
        }
        for &n in &order {
            let value = values[n];
            if value.is_null(i) && absent {
                continue;
            }
            if !std::mem::take(&mut first) {
                text.push(',');
            }
            if let Some(key) = keys.get(n) {
                if key.is_null(i) {
                    return exec_err!("JSON_OBJECT: a key is NULL");
                }
                push_json_string(&mut text, key.value(i));
                text.push(':');
            }
            if value.is_null(i) {
                text.push_str("null");
            } else {
                write_json(value, i, raw.get(n).copied().unwrap_or(false), &mut text)?;
            }
        }
        text.push(close);
        out.append_value(&text);
    }
    Ok(Arc::new(out.finish()))
}

/// `JSON_STRING(value)`: the value as JSON text; NULL for NULL.
fn json_string(args: &[ArrayRef]) -> Result<ArrayRef> {
    let a = &args[0];
    let mut out = StringBuilder::with_capacity(a.len(), a.len() * 8);
    let mut text = String::new();
    for i in 0..a.len() {
        if a.is_null(i) {
            out.append_null();
            continue;
        }
        text.clear();
        write_json(a, i, false, &mut text)?;
        out.append_value(&text);
    }
    Ok(Arc::new(out.finish()))
}

/// `JSON_QUOTE(s)`: `s` as a JSON string literal, characters beyond ASCII escaped.
fn json_quote(args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    let values = s
        .iter()
        .map(|v| {
            v.map(|v| {
                let mut text = String::new();
                quote_for_json_quote(v, &mut text);
                text
            })
        })
        .collect();
    Ok(strings_of(values))
}

/// `JSON_UNQUOTE(s)`: the text of a JSON string literal; anything else as it is.
fn json_unquote(args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    let values = s
        .iter()
        .map(|v| {
            v.map(|v| match serde_json::from_str::<String>(v) {
                Ok(text) => text,
                Err(_) => v.to_string(),
            })
        })
        .collect();
    Ok(strings_of(values))
}

/// The name of the marker `x IS [NOT] JSON kind` becomes before parsing:
/// `x IS [NOT] DISTINCT FROM rill_json_kind('kind')`, which [`crate::flink`] turns into a
/// call of `is_json` (sqlparser cannot read `IS JSON`, but gives `IS` its precedence).
pub const JSON_KIND_MARKER: &str = "rill_json_kind";

/// Rewrites what sqlparser cannot read of Flink's JSON syntax: `IS [NOT] JSON [kind]` into
/// the marker comparison, `JSON_QUERY`'s `WITH [CONDITIONAL|UNCONDITIONAL] [ARRAY] WRAPPER`
/// or `WITHOUT [ARRAY] WRAPPER` into a third argument naming the wrapper, and drops
/// `JSON_OBJECT`'s optional `KEY` keyword.
pub fn rewrite_json_syntax(tokens: &[TokenWithSpan]) -> Vec<TokenWithSpan> {
    let word = |i: usize| match tokens.get(i).map(|t| &t.token) {
        Some(Token::Word(w)) => Some(w.value.to_ascii_uppercase()),
        _ => None,
    };
    let mut out = Vec::with_capacity(tokens.len());
    // The function each open parenthesis belongs to, innermost last.
    let mut calls: Vec<Option<String>> = Vec::new();
    let inside = |calls: &[Option<String>], name: &str| {
        calls.last().and_then(|c| c.as_deref()) == Some(name)
    };
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i].token {
            Token::LParen => calls.push(i.checked_sub(1).and_then(word)),
            Token::RParen => {
                calls.pop();
            }
            _ => {}
        }
        let span = tokens[i].span;
        let at = |token: Token| TokenWithSpan::new(token, span);
        let not = word(i + 1).as_deref() == Some("NOT");
        let json = i + 1 + usize::from(not);
        if word(i).as_deref() == Some("IS") && word(json).as_deref() == Some("JSON") {
            let kind = match word(json + 1).as_deref() {
                Some(k @ ("VALUE" | "SCALAR" | "ARRAY" | "OBJECT")) => k.to_string(),
                _ => "VALUE".to_string(),
            };
            out.push(tokens[i].clone());
            if !not {
                out.push(at(Token::make_keyword("NOT")));
            }
            out.push(at(Token::make_keyword("DISTINCT")));
            out.push(at(Token::make_keyword("FROM")));
            out.push(at(Token::make_word(JSON_KIND_MARKER, None)));
            out.push(at(Token::LParen));
            out.push(at(Token::SingleQuotedString(kind.clone())));
            out.push(at(Token::RParen));
            i = json
                + 1
                + usize::from(kind != "VALUE" || word(json + 1).as_deref() == Some("VALUE"));
            continue;
        }
        let wrapper = match (word(i).as_deref(), word(i + 1).as_deref()) {
            (
                Some("WITH" | "WITHOUT"),
                Some("CONDITIONAL" | "UNCONDITIONAL" | "ARRAY" | "WRAPPER"),
            ) if inside(&calls, "JSON_QUERY") => {
                let end = (i + 1..(i + 4).min(tokens.len()))
                    .find(|&j| word(j).as_deref() == Some("WRAPPER"));
                end.map(|end| {
                    let conditional = (i..end).any(|j| word(j).as_deref() == Some("CONDITIONAL"));
                    let name = match (word(i).as_deref(), conditional) {
                        (Some("WITHOUT"), _) => "WITHOUT WRAPPER",
                        (_, true) => "WITH CONDITIONAL WRAPPER",
                        _ => "WITH WRAPPER",
                    };
                    (end, name)
                })
            }
            _ => None,
        };
        if let Some((end, name)) = wrapper {
            out.push(at(Token::Comma));
            out.push(at(Token::SingleQuotedString(name.to_string())));
            i = end + 1;
            continue;
        }
        // `JSON_OBJECTAGG([KEY] k VALUE v [NULL|ABSENT ON NULL])` and
        // `JSON_ARRAYAGG(v [NULL|ABSENT ON NULL])`: calls of the aggregates, the clause as a
        // last argument (see `rewrite_functions`, which adds it where it is left out).
        let aggregate = |name: &str| name == "JSON_OBJECTAGG" || name == "JSON_ARRAYAGG";
        if word(i).as_deref().is_some_and(aggregate)
            && matches!(tokens.get(i + 1).map(|t| &t.token), Some(Token::LParen))
        {
            let name = format!("rill_{}", word(i).unwrap_or_default().to_lowercase());
            out.push(at(Token::make_word(&name, None)));
            i += 1;
            continue;
        }
        let in_aggregate = calls
            .last()
            .and_then(|c| c.as_deref())
            .is_some_and(aggregate);
        if in_aggregate {
            let first = matches!(
                out.last().map(|t: &TokenWithSpan| &t.token),
                Some(Token::LParen)
            );
            match (
                word(i).as_deref(),
                word(i + 1).as_deref(),
                word(i + 2).as_deref(),
            ) {
                (Some("KEY"), _, _) if first => {
                    i += 1;
                    continue;
                }
                (Some("VALUE"), _, _) => {
                    out.push(at(Token::Comma));
                    i += 1;
                    continue;
                }
                (Some(clause @ ("NULL" | "ABSENT")), Some("ON"), Some("NULL")) => {
                    out.push(at(Token::Comma));
                    out.push(at(Token::SingleQuotedString(clause.to_string())));
                    i += 3;
                    continue;
                }
                _ => {}
            }
        }
        // `JSON_OBJECT(KEY 'k' VALUE v)`: the optional KEY keyword goes.
        if word(i).as_deref() == Some("KEY")
            && inside(&calls, "JSON_OBJECT")
            && matches!(
                tokens.get(i + 1).map(|t| &t.token),
                Some(Token::SingleQuotedString(_))
            )
            && matches!(
                out.last().map(|t: &TokenWithSpan| &t.token),
                Some(Token::LParen | Token::Comma)
            )
        {
            i += 1;
            continue;
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use datafusion_sql::sqlparser::tokenizer::Tokenizer;

    use super::*;

    fn select(json: &str, path: &str) -> Option<String> {
        let selected = Path::parse(path)?.select(&Json::parse(json)?)?;
        let mut text = String::new();
        selected.write(&mut text);
        Some(text)
    }

    #[test]
    fn paths_select_as_flink_does() {
        let doc = r#"{"b":2,"a":{"x":[1,{"y":"z"}]},"k":[{"x":1},{"x":2}],"s p":3}"#;
        assert_eq!(select(doc, "$.a").unwrap(), r#"{"x":[1,{"y":"z"}]}"#);
        assert_eq!(select(doc, "$.a.x[1].y").unwrap(), r#""z""#);
        assert_eq!(select(doc, "$.k[*].x").unwrap(), "[1,2]");
        assert_eq!(select(doc, "$['s p']").unwrap(), "3");
        assert_eq!(select(doc, "lax $.nope"), None);
        assert_eq!(select(doc, "strict $.a.nope"), None);
        assert_eq!(select(doc, "$").unwrap(), doc);
        assert_eq!(select(r#"{"a":null}"#, "$.a"), None);
        assert_eq!(select(r#"{"k":[]}"#, "$.k[*].x"), None);
    }

    #[test]
    fn json_syntax_is_rewritten_only_inside_its_functions() {
        let rewritten = |sql: &str| {
            let tokens = Tokenizer::new(crate::parser::dialect(), sql)
                .tokenize_with_location()
                .unwrap()
                .into_iter()
                .filter(|t| !matches!(t.token, Token::Whitespace(_)))
                .collect::<Vec<_>>();
            rewrite_json_syntax(&tokens)
                .iter()
                .map(|t| t.token.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            rewritten("JSON_QUERY(j, '$' WITH ARRAY WRAPPER)"),
            "JSON_QUERY ( j , '$' , 'WITH WRAPPER' )"
        );
        assert_eq!(
            rewritten("JSON_OBJECT(KEY 'k' VALUE 1)"),
            "JSON_OBJECT ( 'k' VALUE 1 )"
        );
        // A common table expression named `wrapper`, a column named `key`: left alone.
        assert_eq!(
            rewritten("WITH wrapper AS (SELECT key FROM t) SELECT 1"),
            "WITH wrapper AS ( SELECT key FROM t ) SELECT 1"
        );
        assert_eq!(
            rewritten("x IS NOT JSON OBJECT"),
            "x IS DISTINCT FROM rill_json_kind ( 'OBJECT' )"
        );
    }

    // The oracle's JSON_QUOTE of these, and its JSON_STRING of the first.
    #[test]
    fn quoting_escapes_as_flink() {
        let mut out = String::new();
        quote_for_json_quote("Ü\"\n", &mut out);
        assert_eq!(out, r#""\u00dc\"\n""#);
        out.clear();
        quote_for_json_quote("\u{8}\u{c}\u{1f}é/", &mut out);
        assert_eq!(out, "\"\\b\\f\u{1f}\\u00e9\\/\"");
        out.clear();
        push_json_string(&mut out, "\u{8}\u{c}\u{1f}é");
        assert_eq!(out, r#""\b\f\u001Fé""#);
    }
}
