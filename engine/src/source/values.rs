//! A source of rows known at planning time (`VALUES`, `SELECT` without `FROM`).

use arrow::array::RecordBatch;

use super::{Source, SourceContext};
use crate::Result;
use crate::batch::{ChangeBatch, Message};
use crate::metrics::JobMetrics;

/// Sends fixed batches, then ends.
pub struct ValuesSource {
    batches: Vec<RecordBatch>,
}

impl ValuesSource {
    /// A source of `batches`.
    pub fn new(batches: Vec<RecordBatch>) -> Self {
        ValuesSource { batches }
    }
}

impl Source for ValuesSource {
    fn name(&self) -> &str {
        "Values"
    }

    fn run(self: Box<Self>, ctx: SourceContext) -> Result<()> {
        for batch in self.batches {
            JobMetrics::add(&ctx.metrics.rows_in, batch.num_rows() as u64);
            if !ctx
                .output
                .blocking_send(Message::Batch(ChangeBatch::inserts(batch)))
            {
                return Ok(());
            }
        }
        ctx.output.blocking_send(Message::End);
        Ok(())
    }
}
