//! The window table functions `TUMBLE`, `HOP` and `CUMULATE`: each row gets `window_start`,
//! `window_end` and `window_time` (once per window it belongs to), and rows whose window
//! already fired are dropped and counted, as Flink does.

use std::sync::Arc;

use arrow::array::{ArrayRef, TimestampMillisecondArray, UInt32Array};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::Operator;
use crate::batch::{ChangeBatch, Message};
use crate::metrics::JobMetrics;
use crate::time::{NO_WATERMARK, for_each_millis};
use crate::window::WindowKind;
use crate::{EngineError, Result};

/// Assigns aligned windows to rows.
#[derive(Debug)]
pub struct WindowAssign {
    kind: WindowKind,
    /// The input column holding event time.
    time: usize,
    /// The input's columns followed by the three window columns.
    schema: SchemaRef,
    metrics: Arc<JobMetrics>,
    name: String,
}

impl WindowAssign {
    /// Windows of `kind` over the event time in input column `time`. `schema` is the output:
    /// the input columns, then `window_start`, `window_end`, `window_time`.
    pub fn new(kind: WindowKind, time: usize, schema: SchemaRef, metrics: Arc<JobMetrics>) -> Self {
        WindowAssign {
            name: format!("WindowAssign {kind}"),
            kind,
            time,
            schema,
            metrics,
        }
    }
}

impl Operator for WindowAssign {
    fn name(&self) -> &str {
        &self.name
    }

    fn on_batch(
        &mut self,
        _input: usize,
        batch: ChangeBatch,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        let rows = batch.num_rows();
        let stamps = batch.watermarks.as_ref().map(|w| w.values().clone());
        let stamp = |i: usize| stamps.as_ref().map_or(NO_WATERMARK, |s| s[i]);
        let capacity = rows * self.kind.windows_per_row();
        let mut picked: Vec<u32> = Vec::with_capacity(capacity);
        let mut starts: Vec<i64> = Vec::with_capacity(capacity);
        let mut ends: Vec<i64> = Vec::with_capacity(capacity);
        let mut late = 0u64;
        let mut null_time = false;
        let mut row = 0usize;
        for_each_millis(batch.data.column(self.time), |ts| {
            let Some(ts) = ts else {
                null_time = true;
                return;
            };
            let watermark = stamp(row);
            let before = picked.len();
            self.kind.for_each_window(ts, |start, end| {
                // A window fired once the watermark reached its last instant.
                if end - 1 > watermark {
                    picked.push(row as u32);
                    starts.push(start);
                    ends.push(end);
                }
            });
            late += u64::from(picked.len() == before);
            row += 1;
        })?;
        if null_time {
            return Err(EngineError::Other(format!(
                "the event-time column '{}' is NULL; window functions need a time on every row",
                batch.data.schema().field(self.time).name()
            )));
        }
        if late > 0 {
            JobMetrics::add(&self.metrics.late_rows, late);
        }
        if picked.is_empty() {
            return Ok(());
        }
        // Rows that fall in one window each, none dropped, keep their columns as they are.
        let batch = if picked.len() == rows && self.kind.windows_per_row() == 1 {
            batch
        } else {
            batch.take(&UInt32Array::from(picked))?
        };
        let tz = match self
            .schema
            .field(self.schema.fields().len() - 1)
            .data_type()
        {
            arrow::datatypes::DataType::Timestamp(_, tz) => tz.clone(),
            _ => None,
        };
        let times: Vec<i64> = ends.iter().map(|e| e - 1).collect();
        let mut columns = batch.data.columns().to_vec();
        columns.push(Arc::new(TimestampMillisecondArray::from(starts)) as ArrayRef);
        columns.push(Arc::new(TimestampMillisecondArray::from(ends)));
        columns.push(Arc::new(
            TimestampMillisecondArray::from(times).with_timezone_opt(tz),
        ));
        let data = RecordBatch::try_new(self.schema.clone(), columns)?;
        out.push(Message::Batch(batch.with_data(data)));
        Ok(())
    }
}
