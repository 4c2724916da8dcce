//! rill's dataflow engine.
//!
//! A job is a [`Dataflow`]: sources, operators and sinks joined by bounded channels, each
//! running as its own task. Every edge carries [`Message`]s: change batches (Arrow record
//! batches with an optional changelog op column), watermarks and end-of-stream. This crate
//! knows nothing of SQL text; `rill-sql` plans queries into dataflows.

pub mod batch;
pub mod checkpoint;
pub mod dataflow;
pub mod error;
pub mod exchange;
pub mod fault;
pub mod format;
pub mod late;
mod mapped;
pub mod metrics;
pub mod narrow;
pub mod operator;
pub mod sink;
pub mod source;
pub mod time;
pub mod window;

pub use batch::{ChangeBatch, Message, RowKind};
pub use dataflow::{Dataflow, Job};
pub use error::{EngineError, Result};
pub use metrics::JobMetrics;

/// Stack of every thread that evaluates expressions on batches: they are trees walked by
/// recursion, and deep SQL (a sum of thousands of terms) makes deep ones. Only the pages
/// used are ever backed by memory.
pub const EXPRESSION_STACK: usize = 256 << 20;

/// Starts `work` on a thread of `scope` with an [`EXPRESSION_STACK`].
pub(crate) fn spawn_scoped<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    work: impl FnOnce() -> T + Send + 'scope,
) -> Result<std::thread::ScopedJoinHandle<'scope, T>> {
    std::thread::Builder::new()
        .stack_size(EXPRESSION_STACK)
        .spawn_scoped(scope, work)
        .map_err(|e| EngineError::Other(format!("cannot start a thread: {e}")))
}
