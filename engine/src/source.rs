//! Sources: where rows enter a dataflow.

mod chunks;
mod decode;
mod file;
mod messages;
mod nexmark;
mod shape;
mod skew;
mod values;
mod watermark;

pub use decode::{CHANGE_KIND_COLUMN, FileFormat, RecordFormat};
pub use file::{FileInput, FileSource, FileSourceOptions};
pub use messages::{Decoded, MessageDecoder};
pub use nexmark::{NexmarkSettings, NexmarkSource, RateShape};
pub use shape::{Computed, ComputedColumn, RowShape};
pub use skew::{SkewColumns, SkewCorrection};
pub use values::ValuesSource;
pub use watermark::WatermarkAssigner;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::RecordBatch;

use crate::Result;
use crate::batch::Message;
use crate::checkpoint::{NodeCheckpoints, State};
use crate::dataflow::Output;
use crate::metrics::JobMetrics;
use crate::time::{NO_WATERMARK, Watermark};

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
}

/// The last steps of a source's rows: shaped, stamped with the watermark, sent, and followed
/// by the watermark when it advanced.
#[derive(Debug)]
pub(crate) struct Emitter {
    /// The source's name, for its watermark in the metrics.
    name: String,
    shape: RowShape,
    watermarks: Option<WatermarkAssigner>,
    /// The last watermark sent.
    pub(crate) sent_watermark: Watermark,
}

impl Emitter {
    pub(crate) fn new(
        name: impl Into<String>,
        shape: RowShape,
        watermarks: Option<WatermarkAssigner>,
    ) -> Self {
        Emitter {
            name: name.into(),
            shape,
            watermarks,
            sent_watermark: NO_WATERMARK,
        }
    }

    /// The watermark assigner's watermark (none before any row or without an assigner).
    pub(crate) fn watermark(&self) -> Watermark {
        self.watermarks
            .as_ref()
            .map_or(NO_WATERMARK, |w| w.current())
    }

    /// Puts what the rows' shape keeps from row to row (see [`RowShape::snapshot`]) into a
    /// checkpoint's `state`; the source puts its watermarks with its position.
    pub(crate) fn snapshot(&self, state: &mut State) -> Result<()> {
        self.shape.snapshot(state, "")
    }

    /// Goes on from a checkpoint: its watermarks, and the shape's part of its `state`.
    pub(crate) fn restore(
        &mut self,
        watermark: Watermark,
        sent_watermark: Watermark,
        state: &State,
    ) -> Result<()> {
        if let Some(assigner) = &mut self.watermarks {
            assigner.restore(watermark);
        }
        self.sent_watermark = sent_watermark;
        self.shape.restore(state, "")
    }

    /// Sends decoded rows on; false when the job stopped.
    pub(crate) fn emit(&mut self, data: RecordBatch, ctx: &SourceContext) -> Result<bool> {
        JobMetrics::add(&ctx.metrics.rows_in, data.num_rows() as u64);
        let mut batch = self.shape.rows(data)?;
        if let Some(assigner) = &mut self.watermarks {
            assigner.assign(&mut batch)?;
        }
        let batch = self.shape.project(batch)?;
        let mut sent = ctx.output.blocking_send(Message::Batch(batch));
        let watermark = self.watermark();
        if watermark > self.sent_watermark {
            self.sent_watermark = watermark;
            ctx.metrics.record_source_watermark(&self.name, watermark);
            sent = sent && ctx.output.blocking_send(Message::Watermark(watermark));
        }
        Ok(sent && !ctx.cancelled.load(Ordering::Relaxed))
    }
}
