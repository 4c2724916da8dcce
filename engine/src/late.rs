//! Rows that arrive after their window fired: Flink drops them; rill can also write them to a
//! side file or, within an allowed lateness, update the window's result.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::UInt32Array;
use arrow::compute::take_record_batch;
use arrow::record_batch::RecordBatch;

use crate::Result;
use crate::batch::ChangeBatch;
use crate::format::OutputFormat;
use crate::metrics::JobMetrics;
use crate::sink::{Destination, Sink, WriterSink};

/// What happens to late rows (`'rill.late-rows'`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LatePolicy {
    /// Count and drop them, as Flink does.
    #[default]
    Drop,
    /// Count them and write them as CSV (with a header) to a file, committed when the job ends.
    SideOutput(PathBuf),
    /// Keep each window's state `lateness` ms after it fired; a late row within it updates the
    /// result (`-U` old, `+U` new). Later rows are dropped.
    Update { lateness: i64 },
}

impl LatePolicy {
    /// How long a window's state outlives its firing, in ms.
    pub fn lateness(&self) -> i64 {
        match self {
            LatePolicy::Update { lateness } => *lateness,
            _ => 0,
        }
    }
}

/// Counts late rows and sends them where the policy says.
pub struct LateRows {
    side: Option<WriterSink>,
    metrics: Arc<JobMetrics>,
}

impl LateRows {
    /// Late rows of `schema` under `policy`, counted in `metrics`.
    pub fn new(
        policy: &LatePolicy,
        schema: arrow::datatypes::SchemaRef,
        metrics: Arc<JobMetrics>,
    ) -> Result<Self> {
        let side = match policy {
            LatePolicy::SideOutput(path) => Some(WriterSink::new(
                "late rows",
                schema,
                OutputFormat::Csv,
                true,
                false,
                Destination::File(path.clone()),
            )?),
            _ => None,
        };
        Ok(LateRows { side, metrics })
    }

    /// Handles the rows `rows` of `batch`, which are late.
    pub fn record(&mut self, batch: &RecordBatch, rows: Vec<u32>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        JobMetrics::add(&self.metrics.late_rows, rows.len() as u64);
        if let Some(side) = &mut self.side {
            let late = take_record_batch(batch, &UInt32Array::from(rows))?;
            side.on_batch(&ChangeBatch::inserts(late))?;
        }
        Ok(())
    }

    /// How many late rows were counted, for this and every other operator of the job.
    pub fn dropped(&self) -> u64 {
        JobMetrics::get(&self.metrics.late_rows)
    }

    /// Commits the side file, if any.
    pub fn finish(&mut self) -> Result<()> {
        match &mut self.side {
            Some(side) => {
                side.finish()?;
                side.commit(u64::MAX)
            }
            None => Ok(()),
        }
    }

    /// Fails when the late rows cannot be checkpointed (a side file is written once, at
    /// the end).
    pub fn checkpointable(&self) -> Result<()> {
        match self.side {
            Some(_) => Err(crate::EngineError::Other(
                "late rows written to a side file ('rill.late-rows') do not take part in \
                 checkpoints yet"
                    .into(),
            )),
            None => Ok(()),
        }
    }
}
