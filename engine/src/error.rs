//! Errors raised while a job runs.

use std::path::PathBuf;

use arrow::error::ArrowError;
use datafusion_common::error::DataFusionError;

/// An error that stops a job. Every variant carries enough context for a one-line message.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A data row that cannot be read with the table's schema.
    #[error("{}:{line}: malformed row: {reason}", path.display())]
    MalformedRow {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error("{0}")]
    Arrow(#[from] ArrowError),
    #[error("{}", root_message(.0))]
    DataFusion(#[from] DataFusionError),
    /// An operator holds more state than the job allows.
    #[error(
        "{operator} holds {} of state, more than the job's limit of {} \
         ('rill.state.max-size'): bound it (a window, WITHIN) or raise the limit",
        mebibytes(*bytes), mebibytes(*limit)
    )]
    StateLimit {
        operator: String,
        bytes: usize,
        limit: usize,
    },
    #[error("sink {name}: {reason}")]
    Sink { name: String, reason: String },
    /// Whoever read the output stopped reading (e.g. `rill ... | head`): not a failure.
    #[error("the output was closed")]
    OutputClosed,
    #[error("{0}")]
    Other(String),
}

fn mebibytes(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// The innermost cause of a DataFusion error, without DataFusion's wrapper prefixes.
fn root_message(e: &DataFusionError) -> String {
    match e.find_root() {
        DataFusionError::ArrowError(inner, _) => inner.to_string(),
        DataFusionError::Execution(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Result of engine operations.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
