//! The window table functions `TUMBLE`, `HOP` and `CUMULATE`: each row gets `window_start`,
//! `window_end` and `window_time`, once per window it belongs to. Like Flink's, the function
//! itself drops no late rows: a window aggregation over it does.

use std::sync::Arc;

use arrow::array::{ArrayRef, TimestampMillisecondArray, UInt32Array};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::Operator;
use crate::batch::{ChangeBatch, Message};
use crate::time::for_each_millis;
use crate::window::WindowKind;
use crate::{EngineError, Result};

/// Assigns aligned windows to rows.
#[derive(Debug)]
pub struct WindowAssign {
    kind: WindowKind,
    /// The input column holding event time.
    time: usize,
    /// The input columns passed on.
    kept: Vec<usize>,
    /// The input's columns followed by the three window columns.
    schema: SchemaRef,
    /// Whether each row gets its slice (see [`WindowKind::slice`]) instead of its windows:
    /// for a window aggregation that merges slices into windows.
    sliced: bool,
    name: String,
}

impl WindowAssign {
    /// Windows of `kind` over the event time in input column `time`. `schema` is the output:
    /// the input columns `kept`, then `window_start`, `window_end`, `window_time`.
    pub fn new(kind: WindowKind, time: usize, kept: Vec<usize>, schema: SchemaRef) -> Self {
        WindowAssign {
            name: format!("WindowAssign {kind}"),
            kind,
            time,
            kept,
            schema,
            sliced: false,
        }
    }

    /// Gives each row its slice of the windows (as `window_start`, `window_end` and
    /// `window_time`) instead of each of its windows.
    pub fn slices(mut self) -> Self {
        assert!(self.kind.slice().is_some(), "HOP or CUMULATE");
        self.name = format!("WindowAssign slices of {}", self.kind);
        self.sliced = true;
        self
    }

    /// How many output rows an input row makes at most.
    fn per_row(&self) -> usize {
        match self.sliced {
            true => 1,
            false => self.kind.windows_per_row(),
        }
    }
}

impl Operator for WindowAssign {
    super::stateless!();

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
        let capacity = rows * self.per_row();
        let mut picked: Vec<u32> = Vec::with_capacity(capacity);
        let mut starts: Vec<i64> = Vec::with_capacity(capacity);
        let mut ends: Vec<i64> = Vec::with_capacity(capacity);
        let mut null_time = false;
        let mut row = 0usize;
        for_each_millis(batch.data.column(self.time), |ts| {
            let Some(ts) = ts else {
                null_time = true;
                return;
            };
            let mut add = |start, end| {
                picked.push(row as u32);
                starts.push(start);
                ends.push(end);
            };
            match self.kind.slice_of(ts).filter(|_| self.sliced) {
                Some((start, end)) => add(start, end),
                None => self.kind.for_each_window(ts, add),
            }
            row += 1;
        })?;
        if null_time {
            return Err(EngineError::Other(format!(
                "the event-time column '{}' is NULL; window functions need a time on every row",
                batch.data.schema().field(self.time).name()
            )));
        }
        // Rows that fall in one window each keep their columns as they are.
        let batch = if picked.len() == rows && self.per_row() == 1 {
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
        let mut columns: Vec<ArrayRef> = self
            .kept
            .iter()
            .map(|i| batch.data.column(*i).clone())
            .collect();
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
