//! Rows that arrive after their window fired: Flink drops them; rill can also write them to a
//! side file or, within an allowed lateness, update the window's result.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{AsArray, UInt32Array};
use arrow::compute::{cast, take_record_batch};
use arrow::datatypes::{DataType, UInt64Type};
use arrow::record_batch::RecordBatch;

use crate::Result;
use crate::batch::{ChangeBatch, Message};
use crate::metrics::JobMetrics;

/// What happens to late rows (`'rill.late-rows'`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LatePolicy {
    /// Count and drop them, as Flink does.
    #[default]
    Drop,
    /// Count them and write them as CSV (with a header) to a file or, at a directory path,
    /// part files: a side sink of the operator, so exactly once under checkpoints.
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

/// Counts late rows and, when they go to a side file, sends them to the operator's side
/// output (see [`crate::dataflow::Dataflow::add_side_sink`]).
pub struct LateRows {
    side: Option<usize>,
    metrics: Arc<JobMetrics>,
    copies: Option<Copies>,
}

/// Rows that come once per grouping set: the input's rows are the copies whose `id` column
/// holds `first`, and their first `columns` columns.
#[derive(Debug, Clone, Copy)]
struct Copies {
    id: usize,
    first: u64,
    columns: usize,
}

impl LateRows {
    /// Late rows counted in `metrics` and dropped.
    pub fn new(metrics: Arc<JobMetrics>) -> Self {
        LateRows {
            side: None,
            metrics,
            copies: None,
        }
    }

    /// Late rows counted in `metrics` and sent to the operator's side output `n`.
    pub fn to_side(n: usize, metrics: Arc<JobMetrics>) -> Self {
        LateRows {
            side: Some(n),
            metrics,
            copies: None,
        }
    }

    /// For rows expanded once per grouping set (see [`Copies`]): each input row is counted
    /// (and sent) once, as it came.
    pub fn of_copies(self, id: usize, first: u64, columns: usize) -> Self {
        let copies = Some(Copies { id, first, columns });
        LateRows { copies, ..self }
    }

    /// Handles the rows `rows` of `batch`, which are late.
    pub fn record(
        &mut self,
        batch: &RecordBatch,
        rows: Vec<u32>,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        let rows = match self.copies {
            Some(copies) => {
                let ids = cast(batch.column(copies.id), &DataType::UInt64)?;
                let ids = ids.as_primitive::<UInt64Type>();
                (rows.into_iter())
                    .filter(|&row| ids.value(row as usize) == copies.first)
                    .collect()
            }
            None => rows,
        };
        if rows.is_empty() {
            return Ok(());
        }
        JobMetrics::add(&self.metrics.late_rows, rows.len() as u64);
        if let Some(n) = self.side {
            let mut late = take_record_batch(batch, &UInt32Array::from(rows))?;
            if let Some(copies) = self.copies {
                late = late.project(&(0..copies.columns).collect::<Vec<_>>())?;
            }
            out.push(Message::Side(n, ChangeBatch::inserts(late)));
        }
        Ok(())
    }

    /// How many late rows were counted, for this and every other operator of the job.
    pub fn dropped(&self) -> u64 {
        JobMetrics::get(&self.metrics.late_rows)
    }
}
