//! Row patterns: the `PATTERN (...)` of `MATCH_RECOGNIZE`, over variables numbered by first
//! appearance.

use std::fmt;

/// A row pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub enum Pattern {
    /// One row the variable's condition holds for.
    Var(usize),
    /// The empty pattern `()`: matches no rows.
    Empty,
    /// Each in turn.
    Concat(Vec<Pattern>),
    /// One of them, the earlier preferred.
    Alt(Vec<Pattern>),
    /// `min` to `max` (unbounded when `None`) repetitions; greedy prefers more, reluctant fewer.
    Repeat {
        inner: Box<Pattern>,
        min: u32,
        max: Option<u32>,
        greedy: bool,
    },
    /// `PERMUTE(a, b, ...)`: every order, preferred lexicographically by position.
    Permute(Vec<Pattern>),
    /// `{- p -}`: the rows `p` matches are part of the match but not of its output rows.
    Exclude(Box<Pattern>),
    /// `^`: the start of the partition.
    Start,
    /// `$`: the end of the partition.
    End,
}

/// A pattern that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at character {at}")]
pub struct ParseError {
    pub message: String,
    /// Byte offset in the pattern text.
    pub at: usize,
}

impl Pattern {
    /// Reads `text` in SQL's pattern syntax; variables are numbered by first appearance and
    /// their names returned in that order.
    pub fn parse(text: &str) -> Result<(Pattern, Vec<String>), ParseError> {
        let mut parser = Parser {
            text,
            pos: 0,
            names: Vec::new(),
        };
        let pattern = parser.alternation()?;
        parser.skip_space();
        if parser.pos < text.len() {
            return Err(parser.error("unexpected text"));
        }
        Ok((pattern, parser.names))
    }
}

impl Pattern {
    /// About how many instructions the pattern compiles to: bounded quantifiers are unrolled
    /// and `PERMUTE` lists every order, so a short pattern can be huge (saturates).
    pub fn compiled_size(&self) -> u64 {
        match self {
            Pattern::Var(_) | Pattern::Empty | Pattern::Start | Pattern::End => 1,
            Pattern::Concat(parts) => parts
                .iter()
                .fold(0u64, |n, p| n.saturating_add(p.compiled_size())),
            Pattern::Alt(options) => options.iter().fold(0u64, |n, p| {
                n.saturating_add(p.compiled_size().saturating_add(2))
            }),
            Pattern::Exclude(inner) => inner.compiled_size(),
            Pattern::Repeat {
                inner, min, max, ..
            } => {
                let copies = u64::from(max.unwrap_or(*min).max(*min)) + 1;
                copies.saturating_mul(inner.compiled_size().saturating_add(4))
            }
            Pattern::Permute(items) => {
                let orders = (1..=items.len() as u64).fold(1u64, |n, k| n.saturating_mul(k));
                let each = items
                    .iter()
                    .fold(0u64, |n, p| n.saturating_add(p.compiled_size()));
                orders.saturating_mul(each.saturating_add(2))
            }
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    names: Vec<String>,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> ParseError {
        ParseError {
            message: message.to_string(),
            at: self.pos,
        }
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    /// Consumes `token` (after spaces) if it comes next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn alternation(&mut self) -> Result<Pattern, ParseError> {
        let mut options = vec![self.concatenation()?];
        while self.eat("|") {
            options.push(self.concatenation()?);
        }
        Ok(if options.len() == 1 {
            options.pop().expect("one option")
        } else {
            Pattern::Alt(options)
        })
    }

    fn concatenation(&mut self) -> Result<Pattern, ParseError> {
        let mut parts = Vec::new();
        loop {
            self.skip_space();
            if self.rest().is_empty()
                || self.rest().starts_with([')', '|', ','])
                || self.rest().starts_with("-}")
            {
                break;
            }
            parts.push(self.quantified()?);
        }
        Ok(match parts.len() {
            0 => Pattern::Empty,
            1 => parts.pop().expect("one part"),
            _ => Pattern::Concat(parts),
        })
    }

    fn quantified(&mut self) -> Result<Pattern, ParseError> {
        let mut pattern = self.primary()?;
        loop {
            self.skip_space();
            let at = self.pos;
            let (min, max) = if self.eat("*") {
                (0, None)
            } else if self.eat("+") {
                (1, None)
            } else if self.eat("?") {
                (0, Some(1))
            } else if self.rest().starts_with('{') && !self.rest().starts_with("{-") {
                self.pos += 1;
                self.bounds()?
            } else {
                return Ok(pattern);
            };
            let greedy = !self.rest().starts_with('?');
            if !greedy {
                self.pos += 1;
            }
            if max.is_some_and(|m| m < min) {
                return Err(ParseError {
                    message: "a quantifier's maximum is below its minimum".into(),
                    at,
                });
            }
            pattern = Pattern::Repeat {
                inner: Box::new(pattern),
                min,
                max,
                greedy,
            };
        }
    }

    /// `n}`, `n,}`, `n,m}`, `,m}` after a `{`.
    fn bounds(&mut self) -> Result<(u32, Option<u32>), ParseError> {
        let number = |p: &mut Self| -> Option<u32> {
            p.skip_space();
            let digits = p.rest().chars().take_while(char::is_ascii_digit).count();
            let n = p.rest()[..digits].parse().ok();
            p.pos += digits;
            n
        };
        let min = number(self);
        let bounds = if self.eat(",") {
            (min.unwrap_or(0), number(self))
        } else {
            let n = min.ok_or_else(|| self.error("expected a number"))?;
            (n, Some(n))
        };
        if !self.eat("}") {
            return Err(self.error("expected '}'"));
        }
        Ok(bounds)
    }

    fn primary(&mut self) -> Result<Pattern, ParseError> {
        self.skip_space();
        if self.eat("(") {
            let inner = self.alternation()?;
            if !self.eat(")") {
                return Err(self.error("expected ')'"));
            }
            return Ok(inner);
        }
        if self.eat("{-") {
            let inner = self.alternation()?;
            if !self.eat("-}") {
                return Err(self.error("expected '-}'"));
            }
            return Ok(Pattern::Exclude(Box::new(inner)));
        }
        if self.eat("^") {
            return Ok(Pattern::Start);
        }
        if self.eat("$") {
            return Ok(Pattern::End);
        }
        let word: String = self
            .rest()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if word.is_empty() {
            return Err(self.error("expected a pattern variable"));
        }
        self.pos += word.len();
        if word.eq_ignore_ascii_case("PERMUTE") && self.eat("(") {
            let mut items = vec![self.alternation()?];
            while self.eat(",") {
                items.push(self.alternation()?);
            }
            if !self.eat(")") {
                return Err(self.error("expected ')'"));
            }
            return Ok(Pattern::Permute(items));
        }
        let index = match self.names.iter().position(|n| *n == word) {
            Some(i) => i,
            None => {
                self.names.push(word);
                self.names.len() - 1
            }
        };
        Ok(Pattern::Var(index))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Var(v) => write!(f, "#{v}"),
            Pattern::Empty => write!(f, "()"),
            Pattern::Concat(parts) => {
                let parts: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
                write!(f, "({})", parts.join(" "))
            }
            Pattern::Alt(options) => {
                let options: Vec<String> = options.iter().map(|p| p.to_string()).collect();
                write!(f, "({})", options.join(" | "))
            }
            Pattern::Repeat {
                inner,
                min,
                max,
                greedy,
            } => {
                let max = max.map_or(String::new(), |m| m.to_string());
                write!(
                    f,
                    "{inner}{{{min},{max}}}{}",
                    if *greedy { "" } else { "?" }
                )
            }
            Pattern::Permute(items) => {
                let items: Vec<String> = items.iter().map(|p| p.to_string()).collect();
                write!(f, "PERMUTE({})", items.join(", "))
            }
            Pattern::Exclude(inner) => write!(f, "{{- {inner} -}}"),
            Pattern::Start => write!(f, "^"),
            Pattern::End => write!(f, "$"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(text: &str) -> String {
        let (p, names) = Pattern::parse(text).unwrap();
        format!("{p} {names:?}")
    }

    #[test]
    fn reads_sql_pattern_syntax() {
        assert_eq!(show("A B+ C"), r#"(#0 #1{1,} #2) ["A", "B", "C"]"#);
        assert_eq!(show("A*? | B{2,3}?"), r#"(#0{0,}? | #1{2,3}?) ["A", "B"]"#);
        assert_eq!(
            show("^ (A {- B -})? $"),
            r#"(^ (#0 {- #1 -}){0,1} $) ["A", "B"]"#
        );
        assert_eq!(
            show("PERMUTE(A, B C) A{,2}"),
            r#"(PERMUTE(#0, (#1 #2)) #0{0,2}) ["A", "B", "C"]"#
        );
        assert_eq!(show("()"), "() []");
        assert!(Pattern::parse("A{3,2}").is_err());
        assert!(Pattern::parse("(A").is_err());
        assert_eq!(Pattern::parse("A B )").unwrap_err().at, 4);
    }

    #[test]
    fn knows_how_large_a_pattern_compiles() {
        let size = |text| Pattern::parse(text).unwrap().0.compiled_size();
        assert!(size("A B+ C") < 20);
        assert!(size("A{1000000000}") > 1_000_000_000);
        assert!(size("PERMUTE(A, B, C, D, E, F, G, H, I, J, K, L)") > 400_000_000);
    }
}
