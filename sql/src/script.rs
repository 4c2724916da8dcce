//! Script variables: `${NAME}`, `${NAME:-default}` and `${SQL_DIR}`, substituted before parsing
//! exactly as the Flink oracle's driver does, so its query files run unchanged.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};

use crate::error::{SqlError, SqlResult};

static VARIABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^{}]*))?\}").expect("valid regex")
});

/// Where variable values come from: `-D` definitions first, then `SQL_DIR` (the script's
/// directory), then the environment.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    pub defines: HashMap<String, String>,
    pub sql_dir: Option<String>,
}

impl Variables {
    fn lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.defines.get(name) {
            return Some(v.clone());
        }
        if name == "SQL_DIR"
            && let Some(dir) = &self.sql_dir
        {
            return Some(dir.clone());
        }
        std::env::var(name).ok()
    }

    /// Substitutes variables in `text`, innermost first, so a default may use another
    /// variable. An undefined variable without default is an error.
    pub fn substitute(&self, text: &str) -> SqlResult<String> {
        let mut text = text.to_string();
        loop {
            let mut missing = None;
            let replaced = VARIABLE.replace_all(&text, |c: &Captures| {
                let name = &c[1];
                match (self.lookup(name), c.get(3)) {
                    (Some(v), _) => v,
                    (None, Some(default)) => default.as_str().to_string(),
                    (None, None) => {
                        missing.get_or_insert_with(|| name.to_string());
                        c[0].to_string()
                    }
                }
            });
            if let Some(name) = missing {
                return Err(
                    SqlError::new(format!("${{{name}}} is not defined")).with_hint(format!(
                        "define it with -D {name}=VALUE or in the environment"
                    )),
                );
            }
            if replaced == text {
                return Ok(text);
            }
            text = replaced.into_owned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(defines: &[(&str, &str)]) -> Variables {
        Variables {
            defines: defines
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            sql_dir: Some("/q".into()),
        }
    }

    #[test]
    fn defines_defaults_and_sql_dir() {
        let v = vars(&[("INPUT", "/data/t.csv")]);
        assert_eq!(v.substitute("'${INPUT}'").unwrap(), "'/data/t.csv'");
        let v = vars(&[]);
        assert_eq!(
            v.substitute("'${INPUT:-${SQL_DIR}/data/ticks.csv}'")
                .unwrap(),
            "'/q/data/ticks.csv'"
        );
        assert_eq!(v.substitute("no variables").unwrap(), "no variables");
    }

    #[test]
    fn undefined_variable_is_an_error() {
        let e = vars(&[])
            .substitute("${RILL_SURELY_UNDEFINED_VAR}")
            .unwrap_err();
        assert_eq!(e.message, "${RILL_SURELY_UNDEFINED_VAR} is not defined");
    }
}
