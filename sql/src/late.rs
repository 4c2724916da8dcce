//! Late-row options, per table (`WITH`) or per session (`SET`):
//! `'rill.late-rows' = 'drop' | 'side-output' | 'update'`, `'rill.late-rows.path'` for the side
//! file and `'rill.allowed-lateness'` (e.g. `'1 min'`) for updates.

use std::collections::BTreeMap;
use std::path::PathBuf;

use arrow::datatypes::SchemaRef;
use rill_engine::format::OutputFormat;
use rill_engine::late::LatePolicy;
use rill_engine::sink::{Sink, WriterSink};

use crate::connector::destination;
use crate::error::{SqlError, SqlResult};
use crate::units::duration_millis;

/// The option choosing the policy.
pub const LATE_ROWS: &str = "rill.late-rows";
/// The side file of `'side-output'`.
pub const LATE_ROWS_PATH: &str = "rill.late-rows.path";
/// How long windows take updates with `'update'`.
pub const ALLOWED_LATENESS: &str = "rill.allowed-lateness";

/// Whether `key` is one of the late-row options.
pub fn is_late_option(key: &str) -> bool {
    [LATE_ROWS, LATE_ROWS_PATH, ALLOWED_LATENESS].contains(&key)
}

/// The policy the options in `options` set, if they set one.
pub fn late_policy(options: &BTreeMap<String, String>) -> SqlResult<Option<LatePolicy>> {
    let Some(mode) = options.get(LATE_ROWS) else {
        if let Some(key) = [LATE_ROWS_PATH, ALLOWED_LATENESS]
            .into_iter()
            .find(|k| options.contains_key(*k))
        {
            return Err(SqlError::new(format!("'{key}' needs '{LATE_ROWS}'"))
                .with_hint(format!("set '{LATE_ROWS}' to 'side-output' or 'update'")));
        }
        return Ok(None);
    };
    let unexpected = |key: &str| {
        SqlError::new(format!(
            "'{key}' does not apply to '{LATE_ROWS}' = '{mode}'"
        ))
    };
    let policy = match mode.as_str() {
        "drop" => LatePolicy::Drop,
        "side-output" => {
            let path = options.get(LATE_ROWS_PATH).ok_or_else(|| {
                SqlError::new(format!(
                    "'{LATE_ROWS}' = 'side-output' needs '{LATE_ROWS_PATH}'"
                ))
            })?;
            LatePolicy::SideOutput(PathBuf::from(path))
        }
        "update" => {
            let text = options.get(ALLOWED_LATENESS).ok_or_else(|| {
                SqlError::new(format!(
                    "'{LATE_ROWS}' = 'update' needs '{ALLOWED_LATENESS}'"
                ))
                .with_hint(format!("e.g. '{ALLOWED_LATENESS}' = '1 min'"))
            })?;
            LatePolicy::Update {
                lateness: duration_millis(text)?,
            }
        }
        other => {
            return Err(SqlError::new(format!("unknown '{LATE_ROWS}' = '{other}'"))
                .with_hint("one of 'drop', 'side-output', 'update'"));
        }
    };
    if !matches!(policy, LatePolicy::SideOutput(_)) && options.contains_key(LATE_ROWS_PATH) {
        return Err(unexpected(LATE_ROWS_PATH));
    }
    if !matches!(policy, LatePolicy::Update { .. }) && options.contains_key(ALLOWED_LATENESS) {
        return Err(unexpected(ALLOWED_LATENESS));
    }
    Ok(Some(policy))
}

/// The sink of late rows of `schema` sent to the side file `path`: CSV with a header, in
/// part files when `path` is a directory (or ends in `/`), as a filesystem sink writes them.
pub(crate) fn side_file_sink(path: PathBuf, schema: SchemaRef) -> SqlResult<Box<dyn Sink>> {
    let sink = WriterSink::new(
        "late rows",
        schema,
        OutputFormat::Csv,
        true,
        false,
        destination(&path),
    )
    .map_err(|e| SqlError::new(e.to_string()))?;
    Ok(Box::new(sink))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn policies_and_their_options() {
        assert_eq!(late_policy(&options(&[])).unwrap(), None);
        assert_eq!(
            late_policy(&options(&[
                (LATE_ROWS, "update"),
                (ALLOWED_LATENESS, "1 min")
            ]))
            .unwrap(),
            Some(LatePolicy::Update { lateness: 60_000 })
        );
        assert_eq!(
            late_policy(&options(&[
                (LATE_ROWS, "side-output"),
                (LATE_ROWS_PATH, "/tmp/x")
            ]))
            .unwrap(),
            Some(LatePolicy::SideOutput("/tmp/x".into()))
        );
        assert!(late_policy(&options(&[(LATE_ROWS, "update")])).is_err());
        assert!(late_policy(&options(&[(LATE_ROWS, "drop"), (LATE_ROWS_PATH, "/x")])).is_err());
        assert!(late_policy(&options(&[(ALLOWED_LATENESS, "1 s")])).is_err());
        assert!(late_policy(&options(&[(LATE_ROWS, "keep")])).is_err());
    }
}
