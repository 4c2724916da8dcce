//! Sources: where rows enter a dataflow.

mod chunks;
mod decode;
mod file;
mod in_order;
mod messages;
mod nexmark;
mod shape;
mod skew;
mod stage;
mod values;
mod watermark;

pub use decode::{CHANGE_KIND_COLUMN, FileFormat, RecordFormat};
pub use file::{FileInput, FileSource, FileSourceOptions};
pub use messages::{Decoded, MessageDecoder};
pub use nexmark::{NexmarkSettings, NexmarkSource, RateShape};
pub use shape::{ColumnRead, Computed, ComputedColumn, RowShape, columns_read};
pub use skew::{SkewColumns, SkewCorrection};
pub(crate) use stage::{Emitter, Rows};
pub use values::ValuesSource;
pub use watermark::WatermarkAssigner;
pub(crate) use watermark::is_volatile;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::Result;
use crate::batch::Message;
use crate::checkpoint::{NodeCheckpoints, State};
use crate::dataflow::Output;
use crate::metrics::JobMetrics;
use crate::operator::Calc;

/// What a source needs from the runtime.
pub struct SourceContext {
    /// Where the source sends its messages; a closed channel means the job stops.
    pub output: Output,
    /// Counters of the job.
    pub metrics: Arc<JobMetrics>,
    /// Set when the job is cancelled.
    pub cancelled: Arc<AtomicBool>,
    /// The job's checkpoints, if it takes them.
    pub checkpoints: Option<NodeCheckpoints>,
    /// The last checkpoint the source sent a barrier for.
    pub last_barrier: u64,
}

impl SourceContext {
    /// At a point where the source's position is exact: if a checkpoint is due, reports the
    /// source's `state` and sends the checkpoint's barrier. False when the job is stopping.
    pub fn barrier(&mut self, state: impl FnOnce() -> Result<State>) -> Result<bool> {
        let Some(checkpoints) = &self.checkpoints else {
            return Ok(true);
        };
        let Some(id) = checkpoints.due(self.last_barrier) else {
            return Ok(true);
        };
        checkpoints.report(id, state()?);
        crate::fault::point("after-barrier");
        self.last_barrier = id;
        Ok(self.output.blocking_send(Message::Barrier(id)))
    }

    /// The input is exhausted: reports the source's last `state` and ends its output.
    pub fn end(&self, state: impl FnOnce() -> Result<State>) -> Result<()> {
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.ended(state()?);
        }
        self.output.blocking_send(Message::End);
        Ok(())
    }
}

/// A source runs on a blocking thread of its own and pushes messages until its input ends
/// (then sends [`Message::End`]) or the job is cancelled.
pub trait Source: Send {
    /// A short name for plans and errors.
    fn name(&self) -> &str;

    /// Reads the input and sends it on.
    fn run(self: Box<Self>, ctx: SourceContext) -> Result<()>;

    /// Where the source is, for a checkpoint; an error when it cannot resume from one
    /// (standard input cannot be read again).
    fn snapshot(&self) -> Result<State>;

    /// Resumes from a checkpoint's state, before the job starts.
    fn restore(&mut self, state: &State) -> Result<()>;

    /// Runs `calc` on the rows it reads, after the calcs fused before it (Flink's operator
    /// chaining), where it can: the calc then needs no task of its own, and runs on the
    /// source's decoding threads when nothing in it depends on the rows' order. Gives `calc`
    /// back where it cannot. Before the job starts.
    fn fuse(&mut self, calc: Calc) -> std::result::Result<(), Calc> {
        Err(calc)
    }
}
