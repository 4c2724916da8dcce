//! Mutators: of valid statements (token deletion, duplication, swaps, extreme literals,
//! stray keywords) and of input bytes (CSV and JSON lines: cut, doubled and broken records,
//! stray quotes and line ends, invalid UTF-8, huge numbers and fields).

use fastrand::Rng;

/// Literals at the edges of their types.
const EXTREMES: &[&str] = &[
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "2147483648",
    "1e308",
    "-1e-308",
    "0",
    "-0.0",
    "NULL",
    "''",
    "'\u{0}'",
    "'🚀🚀🚀'",
    "TIMESTAMP '9999-12-31 23:59:59.999'",
    "TIMESTAMP '0001-01-01 00:00:00'",
    "INTERVAL '0' SECOND",
    "INTERVAL '999999999' DAY",
    "DATE '2024-02-30'",
    "99999999999999999999999999999999999999.9",
];

/// Words that often break a statement in interesting places.
const STRAY: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "(",
    ")",
    ",",
    "*",
    "OVER",
    "TABLE",
    "DESCRIPTOR",
    "MATCH_RECOGNIZE",
    "PATTERN",
    "DEFINE",
    "PARTITION BY",
    "ORDER BY",
    "WINDOW",
    "AS",
    "NOT",
    "NULL",
    "CAST(",
    "CASE",
    "END",
    "LIMIT 1",
    "UNION ALL",
    "JOIN",
    "ON",
    "DISTINCT",
    "'",
    ";",
    "INTERVAL",
    "LAST(",
    "PREV(",
    "FIRST(",
    "{",
    "}",
    "|",
    "+",
    "?",
    "$",
    "^",
];

/// Splits SQL into tokens: quoted strings, words, numbers and single other characters.
pub fn tokens(sql: &str) -> Vec<String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '\'' {
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' && chars.get(i + 1) == Some(&'\'') {
                    i += 2;
                } else if chars[i] == '\'' {
                    i += 1;
                    break;
                } else {
                    i += 1;
                }
            }
        } else if c.is_alphanumeric() || c == '_' || c == '.' {
            while i < chars.len() && (chars[i].is_alphanumeric() || "_.".contains(chars[i])) {
                i += 1;
            }
        } else {
            i += 1;
        }
        out.push(chars[start..i].iter().collect());
    }
    out
}

/// One to three random edits of a statement's tokens.
pub fn statement(rng: &mut Rng, sql: &str) -> String {
    let mut t = tokens(sql);
    for _ in 0..rng.usize(1..4) {
        if t.is_empty() {
            break;
        }
        let i = rng.usize(..t.len());
        match rng.u8(..6) {
            0 => {
                t.remove(i);
            }
            1 => {
                let copy = t[i].clone();
                t.insert(i, copy);
            }
            2 => {
                let j = rng.usize(..t.len());
                t.swap(i, j);
            }
            3 => {
                // A literal (or any token) becomes an extreme one.
                let literal = t
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| w.starts_with(|c: char| c.is_ascii_digit() || c == '\''))
                    .map(|(j, _)| j)
                    .collect::<Vec<_>>();
                let j = if literal.is_empty() {
                    i
                } else {
                    literal[rng.usize(..literal.len())]
                };
                t[j] = EXTREMES[rng.usize(..EXTREMES.len())].to_string();
            }
            4 => t.insert(i, STRAY[rng.usize(..STRAY.len())].to_string()),
            _ => {
                // A run of tokens repeated: deep nesting and long lists.
                let end = (i + rng.usize(1..6)).min(t.len());
                let run: Vec<String> = t[i..end].to_vec();
                for _ in 0..rng.usize(1..50) {
                    for (k, w) in run.iter().enumerate() {
                        t.insert(end + k, w.clone());
                    }
                }
            }
        }
    }
    t.join(" ")
}

/// One to four random edits of CSV or JSON-lines bytes.
pub fn data(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for _ in 0..rng.usize(1..5) {
        if b.is_empty() {
            b.extend_from_slice(b"\n");
        }
        let i = rng.usize(..b.len());
        match rng.u8(..10) {
            0 => b[i] ^= 1 << rng.u8(..8),
            1 => {
                b.remove(i);
            }
            2 => b.insert(
                i,
                [b'"', b',', b'\n', b'\r', b'{', b'}', b'\\', 0][rng.usize(..8)],
            ),
            3 => {
                // Invalid UTF-8.
                b.splice(i..i, [0xff, 0xc3, 0x28].into_iter().take(rng.usize(1..4)));
            }
            4 => {
                let digits = "9".repeat(rng.usize(10..400));
                b.splice(i..i, digits.into_bytes());
            }
            5 => {
                // A long field or line.
                let long = "x".repeat(rng.usize(1_000..200_000));
                b.splice(i..i, long.into_bytes());
            }
            6 => {
                // A line doubled.
                let start = b[..i]
                    .iter()
                    .rposition(|c| *c == b'\n')
                    .map_or(0, |p| p + 1);
                let end = b[i..]
                    .iter()
                    .position(|c| *c == b'\n')
                    .map_or(b.len(), |p| i + p + 1);
                let line = b[start..end].to_vec();
                b.splice(start..start, line);
            }
            7 => b.truncate(i),
            8 => {
                let junk = [
                    &b"1999-13-45 25:61:61.999"[..],
                    b"NaN",
                    b"-inf",
                    b"null",
                    b"\"\"",
                    b"[1,2]",
                    b"{\"a\":{\"b\":1}}",
                    b"true",
                ][rng.usize(..8)];
                b.splice(i..i, junk.iter().copied());
            }
            _ => b.splice(i..i, b"\n\n".iter().copied()).for_each(drop),
        }
    }
    b
}
