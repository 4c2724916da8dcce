//! A source of rows known at planning time (`VALUES`, `SELECT` without `FROM`).

use arrow::array::RecordBatch;

use super::{Source, SourceContext};
use crate::Result;
use crate::batch::{ChangeBatch, Message};
use crate::checkpoint::State;
use crate::metrics::JobMetrics;

/// Sends fixed batches, then ends.
pub struct ValuesSource {
    batches: Vec<RecordBatch>,
    /// Whether the batches were sent (by the run a checkpoint was taken of).
    sent: bool,
}

impl ValuesSource {
    /// A source of `batches`.
    pub fn new(batches: Vec<RecordBatch>) -> Self {
        ValuesSource {
            batches,
            sent: false,
        }
    }
}

impl Source for ValuesSource {
    fn name(&self) -> &str {
        "Values"
    }

    fn run(mut self: Box<Self>, ctx: SourceContext) -> Result<()> {
        // Sent whole or not at all: a checkpoint waits for its end (it sends no barrier).
        let batches = match self.sent {
            true => vec![],
            false => std::mem::take(&mut self.batches),
        };
        for batch in batches {
            JobMetrics::add(&ctx.metrics.rows_in, batch.num_rows() as u64);
            if !ctx
                .output
                .blocking_send(Message::Batch(ChangeBatch::inserts(batch)))
            {
                return Ok(());
            }
        }
        self.sent = true;
        ctx.end(|| self.snapshot())
    }

    fn snapshot(&self) -> Result<State> {
        let mut state = State::new();
        state.put("sent", &self.sent)?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        self.sent = state.get("sent")?;
        Ok(())
    }
}
