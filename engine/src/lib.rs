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
pub mod metrics;
pub mod operator;
pub mod sink;
pub mod source;
pub mod time;
pub mod window;

pub use batch::{ChangeBatch, Message, RowKind};
pub use dataflow::{Dataflow, Job};
pub use error::{EngineError, Result};
pub use metrics::JobMetrics;
