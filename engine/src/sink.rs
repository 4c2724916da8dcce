//! Sinks: where rows leave a dataflow.

mod blackhole;
mod file_target;
mod part_files;
mod writer;

pub use blackhole::BlackholeSink;
pub use writer::{Destination, WriterSink};

use crate::Result;
use crate::batch::ChangeBatch;
use crate::checkpoint::State;
use crate::time::Watermark;

/// A sink runs on a blocking thread of its own. What it writes becomes visible only when
/// committed: at the end of a normal run, or, with checkpoints, once the checkpoint that
/// covers it completed. A failed or cancelled job leaves no half-written file behind.
pub trait Sink: Send {
    /// A short name for plans and errors.
    fn name(&self) -> &str;

    /// Rows arrived.
    fn on_batch(&mut self, batch: &ChangeBatch) -> Result<()>;

    /// The input's watermark advanced.
    fn on_watermark(&mut self, _watermark: Watermark) -> Result<()> {
        Ok(())
    }

    /// Whether its rows are the job's output, counted as rows out (not those a stage of a
    /// shared job sends to the next).
    fn is_output(&self) -> bool {
        true
    }

    /// The input ended: write what is buffered (committed by a following
    /// [`Sink::commit`]).
    fn finish(&mut self) -> Result<()>;

    /// How often [`Sink::on_tick`] is called while the input is quiet, if ever: for a sink
    /// that shows what it holds (a live table on a terminal), never for one whose output is
    /// a result.
    fn tick_interval(&self) -> Option<std::time::Duration> {
        None
    }

    /// Time passed (see [`Sink::tick_interval`]).
    fn on_tick(&mut self) -> Result<()> {
        Ok(())
    }

    // The defaults suit a sink whose output is seen as it is written (a terminal): it has
    // nothing to make durable or commit, and after a restore it sees again what followed
    // the checkpoint (at least once).

    /// Checkpoint `id`'s barrier arrived (`u64::MAX`: the input ended): makes what was
    /// written durable without making it visible, and returns what a restored sink needs to
    /// commit it.
    fn snapshot(&mut self, _id: u64) -> Result<State> {
        Ok(State::new())
    }

    /// Checkpoint `id` completed: makes visible what snapshots up to `id` made durable
    /// (`u64::MAX`: everything).
    fn commit(&mut self, _id: u64) -> Result<()> {
        Ok(())
    }

    /// Resumes from a checkpoint's state, before the job starts: commits what it covers
    /// and discards what was written after it.
    fn restore(&mut self, _state: &State) -> Result<()> {
        Ok(())
    }
}
