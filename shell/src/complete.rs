//! Tab completion in the shell: SQL keywords, the session's tables, views and columns, and
//! function names.

use rill_sql::Session;

/// Keywords worth completing (upper case; completed in the case the user types).
const KEYWORDS: &[&str] = &[
    "AFTER",
    "ALL",
    "AND",
    "AS",
    "ASC",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "CREATE",
    "CUMULATE",
    "CURRENT",
    "DEFINE",
    "DESC",
    "DESCRIBE",
    "DESCRIPTOR",
    "DISTINCT",
    "DROP",
    "ELSE",
    "EMPTY",
    "END",
    "EXPLAIN",
    "FALSE",
    "FILTER",
    "FINAL",
    "FIRST",
    "FOLLOWING",
    "FROM",
    "GROUP",
    "HAVING",
    "HOP",
    "IF",
    "IN",
    "INSERT",
    "INTERVAL",
    "INTO",
    "IS",
    "LAST",
    "LIKE",
    "LIMIT",
    "MATCH",
    "MATCHES",
    "MATCH_RECOGNIZE",
    "MEASURES",
    "NEXT",
    "NOT",
    "NULL",
    "OMIT",
    "ONE",
    "OR",
    "ORDER",
    "OVER",
    "PARTITION",
    "PAST",
    "PATTERN",
    "PER",
    "PERMUTE",
    "PRECEDING",
    "PREV",
    "RANGE",
    "RESET",
    "ROW",
    "ROWS",
    "ROW_NUMBER",
    "RUNNING",
    "SELECT",
    "SESSION",
    "SET",
    "SHOW",
    "SKIP",
    "SUBSET",
    "TABLE",
    "TABLES",
    "THEN",
    "TO",
    "TRUE",
    "TUMBLE",
    "UNION",
    "UNMATCHED",
    "VALUES",
    "VIEW",
    "WATERMARK",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "WITHIN",
    "BIGINT",
    "BOOLEAN",
    "DATE",
    "DECIMAL",
    "DOUBLE",
    "FLOAT",
    "INT",
    "STRING",
    "TIMESTAMP",
    "TIMESTAMP_LTZ",
    "VARCHAR",
];

/// The words that can complete: keywords, then the session's names.
pub struct Words {
    names: Vec<String>,
}

impl Words {
    /// The names known to `session` now.
    pub fn of(session: &Session) -> Words {
        let mut names = session.relation_names();
        for relation in session.relation_names() {
            names.extend(session.columns_of(&relation));
        }
        names.extend(session.function_names());
        names.sort();
        names.dedup();
        Words { names }
    }

    /// Where the word before `pos` in `line` starts, and its completions, sorted.
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let prefix = &before[start..];
        if prefix.is_empty() {
            return (start, vec![]);
        }
        let lower = prefix.chars().all(|c| !c.is_uppercase());
        let mut found: Vec<String> = KEYWORDS
            .iter()
            .filter(|k| k.len() > prefix.len() && k.starts_with(&prefix.to_ascii_uppercase()))
            .map(|k| {
                if lower {
                    k.to_ascii_lowercase()
                } else {
                    k.to_string()
                }
            })
            .collect();
        // Names are case-sensitive, as in Flink.
        found.extend(
            self.names
                .iter()
                .filter(|n| n.len() > prefix.len() && n.starts_with(prefix))
                .cloned(),
        );
        found.sort();
        found.dedup();
        (start, found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(names: &[&str]) -> Words {
        Words {
            names: names.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn keywords_in_the_typed_case_and_names_as_they_are() {
        let w = words(&["ticks", "trades", "ts", "Total"]);
        let (start, found) = w.complete("SELECT * FROM ti", 16);
        assert_eq!(start, 14);
        assert_eq!(found, ["ticks", "timestamp", "timestamp_ltz"]);
        assert_eq!(w.complete("sel", 3), (0, vec!["select".to_string()]));
        assert_eq!(w.complete("SEL", 3), (0, vec!["SELECT".to_string()]));
        let (start, found) = w.complete("SELECT t", 8);
        assert_eq!(start, 7);
        assert_eq!(
            found,
            [
                "table",
                "tables",
                "then",
                "ticks",
                "timestamp",
                "timestamp_ltz",
                "to",
                "trades",
                "true",
                "ts",
                "tumble"
            ]
        );
        assert_eq!(w.complete("SELECT ", 7), (7, vec![]));
    }
}
