//! Sources: where rows enter a dataflow.

mod chunks;
mod decode;
mod file;
mod values;
mod watermark;

pub use decode::{FileFormat, RecordFormat};
pub use file::{Computed, FileInput, FileSource, FileSourceOptions};
pub use values::ValuesSource;
pub use watermark::WatermarkAssigner;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::Result;
use crate::dataflow::Output;
use crate::metrics::JobMetrics;

/// What a source needs from the runtime.
pub struct SourceContext {
    /// Where the source sends its messages; a closed channel means the job stops.
    pub output: Output,
    /// Counters of the job.
    pub metrics: Arc<JobMetrics>,
    /// Set when the job is cancelled.
    pub cancelled: Arc<AtomicBool>,
}

/// A source runs on a blocking thread of its own and pushes messages until its input ends
/// (then sends [`Message::End`]) or the job is cancelled.
pub trait Source: Send {
    /// A short name for plans and errors.
    fn name(&self) -> &str;

    /// Reads the input and sends it on.
    fn run(self: Box<Self>, ctx: SourceContext) -> Result<()>;
}
