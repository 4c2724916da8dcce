//! SQL errors that point at the spot in the statement.

use std::fmt::Write;

use datafusion_common::error::DataFusionError;
use datafusion_sql::sqlparser::tokenizer::Location;

/// A position in the script text (1-based line and column, in characters) and the length of
/// the offending text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub column: u64,
    pub len: u64,
}

impl Position {
    /// A position of `len` characters starting at `location`.
    pub fn at(location: Location, len: u64) -> Option<Position> {
        (location.line > 0).then_some(Position {
            line: location.line,
            column: location.column.max(1),
            len: len.max(1),
        })
    }

    /// The position of the text from `start` to `end` (one character when it spans lines).
    pub fn spanning(start: Location, end: Location) -> Option<Position> {
        let len = if end.line == start.line {
            end.column.saturating_sub(start.column)
        } else {
            1
        };
        Position::at(start, len)
    }
}

/// An error in a SQL statement: what is wrong, where, and a hint when one is obvious.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub message: String,
    pub position: Option<Position>,
    pub hint: Option<String>,
}

/// Result of SQL operations.
pub type SqlResult<T> = Result<T, SqlError>;

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(p) = self.position {
            write!(f, " (line {}, column {})", p.line, p.column)?;
        }
        Ok(())
    }
}

impl std::error::Error for SqlError {}

impl SqlError {
    /// An error without position.
    pub fn new(message: impl Into<String>) -> Self {
        SqlError {
            message: message.into(),
            position: None,
            hint: None,
        }
    }

    /// An error at `position`.
    pub fn at(message: impl Into<String>, position: Option<Position>) -> Self {
        SqlError {
            message: message.into(),
            position,
            hint: None,
        }
    }

    /// The same error with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The same error at `position` unless it already has one.
    pub fn or_at(mut self, position: Option<Position>) -> Self {
        self.position = self.position.or(position);
        self
    }

    /// The error as the user sees it: the message, where it is (`origin` names the script,
    /// e.g. its file), the script line with a caret under the spot, and the hint.
    pub fn render(&self, script: &str, origin: Option<&str>) -> String {
        let mut out = format!("error: {}\n", self.message);
        let line = self
            .position
            .and_then(|p| Some((p, script.lines().nth(p.line.checked_sub(1)? as usize)?)));
        if let Some((p, text)) = line {
            let number = p.line.to_string();
            let pad = " ".repeat(number.len());
            let _ = match origin {
                Some(origin) => writeln!(out, "{pad}--> {origin}:{}:{}", p.line, p.column),
                None => writeln!(out, "{pad}--> line {}, column {}", p.line, p.column),
            };
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{number} | {text}");
            let skip = p.column as usize - 1;
            let before: String = text
                .chars()
                .take(skip)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let width = (p.len as usize)
                .min(text.chars().count().saturating_sub(skip))
                .max(1);
            let _ = writeln!(out, "{pad} | {before}{}", "^".repeat(width));
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "hint: {hint}");
        }
        out
    }
}

impl From<arrow::error::ArrowError> for SqlError {
    fn from(e: arrow::error::ArrowError) -> Self {
        SqlError::new(e.to_string())
    }
}

impl From<rill_engine::EngineError> for SqlError {
    fn from(e: rill_engine::EngineError) -> Self {
        SqlError::new(e.to_string())
    }
}

impl From<DataFusionError> for SqlError {
    fn from(e: DataFusionError) -> Self {
        let position = e.diagnostic().and_then(|d| d.span).and_then(|s| {
            Position::spanning(
                Location::new(s.start.line, s.start.column),
                Location::new(s.end.line, s.end.column),
            )
        });
        let root = e.find_root();
        let text = match root {
            DataFusionError::SchemaError(inner, _) => inner.to_string(),
            DataFusionError::Plan(m) | DataFusionError::NotImplemented(m) => m.clone(),
            DataFusionError::Diagnostic(_, inner) => inner.find_root().to_string(),
            other => other.to_string(),
        };
        // A function's own refusal of its argument types, inside DataFusion's wrapping.
        let text = match text.split_once(" coercion failed with: ") {
            Some((_, refusal)) => refusal
                .split(". No function matches")
                .next()
                .unwrap_or(refusal),
            None => text.as_str(),
        };
        let text = text
            .trim_start_matches("Error during planning: ")
            .trim_start_matches("Schema error: ")
            .trim_start_matches("This feature is not implemented: ");
        // DataFusion appends the list of valid fields; the hint names the likely one instead.
        let text = text.split("\nValid fields are").next().unwrap_or(text);
        let text = text.split(". Valid fields are").next().unwrap_or(text);
        let split = text
            .split_once(". Did you mean ")
            .or_else(|| text.split_once(".\nDid you mean "));
        let (message, hint) = match split {
            Some((message, rest)) => (
                message.to_string(),
                Some(format!("did you mean {}", rest.trim().trim_end_matches('?')) + "?"),
            ),
            None => (text.trim_end_matches('.').to_string(), None),
        };
        SqlError {
            message,
            position,
            hint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_the_spot() {
        let e = SqlError::at(
            "No field named prise",
            Some(Position {
                line: 2,
                column: 8,
                len: 5,
            }),
        )
        .with_hint("did you mean 'price'?");
        let script = "-- q\nSELECT prise FROM ticks;\n";
        assert_eq!(
            e.render(script, Some("q.sql")),
            "error: No field named prise\n --> q.sql:2:8\n  |\n2 | SELECT prise FROM ticks;\n  |        ^^^^^\nhint: did you mean 'price'?\n"
        );
    }
}
