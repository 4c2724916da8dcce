//! Sinks: where rows leave a dataflow.

mod blackhole;
mod file_target;
mod writer;

pub use blackhole::BlackholeSink;
pub use writer::{Destination, WriterSink};

use crate::Result;
use crate::batch::ChangeBatch;
use crate::time::Watermark;

/// A sink runs on a blocking thread of its own. It commits its output in [`Sink::finish`],
/// which the runtime calls only when the input ended normally: a failed or cancelled job
/// leaves no half-written file behind.
pub trait Sink: Send {
    /// A short name for plans and errors.
    fn name(&self) -> &str;

    /// Rows arrived.
    fn on_batch(&mut self, batch: &ChangeBatch) -> Result<()>;

    /// The input's watermark advanced.
    fn on_watermark(&mut self, _watermark: Watermark) -> Result<()> {
        Ok(())
    }

    /// The input ended: write what is buffered and commit.
    fn finish(&mut self) -> Result<()>;
}
