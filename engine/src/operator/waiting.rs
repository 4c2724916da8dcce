//! Rows held until the watermark reaches their event time.

use arrow::array::BooleanArray;
use arrow::compute::{concat_batches, filter_record_batch, not};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::batches_bytes;
use crate::Result;
use crate::time::{Watermark, for_each_millis};

/// Batches of rows waiting for the watermark, in arrival order. Rows without an event time
/// wait for ever.
pub(crate) struct Waiting {
    schema: SchemaRef,
    /// The event-time column.
    time: usize,
    batches: Vec<RecordBatch>,
    /// The earliest event time among the rows (`Watermark::MAX`: none), so that a watermark
    /// that releases nothing costs nothing.
    earliest: Watermark,
    /// The batches' memory, kept as they come and go (summing it at each measure of the state
    /// would cost as much again as holding them).
    bytes: usize,
}

impl Waiting {
    /// No rows of `schema`, whose column `time` is the event time.
    pub fn new(schema: SchemaRef, time: usize) -> Self {
        Waiting {
            schema,
            time,
            batches: Vec::new(),
            earliest: Watermark::MAX,
            bytes: 0,
        }
    }

    /// Holds `batch`'s rows.
    pub fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() > 0 {
            for_each_millis(batch.column(self.time), |t| {
                self.earliest = self.earliest.min(t.unwrap_or(Watermark::MAX));
            })?;
            self.bytes += batch.get_array_memory_size();
            self.batches.push(batch);
        }
        Ok(())
    }

    /// The rows at or before `watermark`, in arrival order (`None`: no row); the others wait
    /// on.
    pub fn take_due(&mut self, watermark: Watermark) -> Result<Option<RecordBatch>> {
        let due = self.take_due_batches(watermark)?;
        Ok(match due.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            _ => Some(concat_batches(&self.schema, &due)?),
        })
    }

    /// The rows at or before `watermark`, in arrival order, as the batches they came in
    /// (without the rows not due; none empty); the others wait on.
    pub fn take_due_batches(&mut self, watermark: Watermark) -> Result<Vec<RecordBatch>> {
        if self.batches.is_empty() || watermark < self.earliest {
            return Ok(Vec::new());
        }
        self.earliest = Watermark::MAX;
        let mut due_batches = Vec::new();
        for batch in std::mem::take(&mut self.batches) {
            let mut due = Vec::with_capacity(batch.num_rows());
            for_each_millis(batch.column(self.time), |t| {
                let due_now = t.is_some_and(|t| t <= watermark);
                if !due_now {
                    self.earliest = self.earliest.min(t.unwrap_or(Watermark::MAX));
                }
                due.push(due_now);
            })?;
            let count = due.iter().filter(|d| **d).count();
            if count == batch.num_rows() {
                due_batches.push(batch);
            } else if count == 0 {
                self.batches.push(batch);
            } else {
                let due = BooleanArray::from(due);
                self.batches.push(filter_record_batch(&batch, &not(&due)?)?);
                due_batches.push(filter_record_batch(&batch, &due)?);
            }
        }
        self.bytes = batches_bytes(&self.batches);
        Ok(due_batches)
    }

    /// The batches held, for a checkpoint.
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// The schema of the rows.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Holds `batches` (from a checkpoint) instead of what it held.
    pub fn restore(&mut self, batches: Vec<RecordBatch>) -> Result<()> {
        self.batches.clear();
        self.earliest = Watermark::MAX;
        self.bytes = 0;
        batches.into_iter().try_for_each(|b| self.push(b))
    }

    /// The memory the batches held take.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many rows are held.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;

    fn batch(rows: &[(Option<i64>, i64)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new("v", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMillisecondArray::from_iter(
                    rows.iter().map(|r| r.0),
                )),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap()
    }

    fn values(batch: Option<RecordBatch>) -> Vec<i64> {
        batch.map_or(vec![], |b| {
            b.column(1)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .values()
                .to_vec()
        })
    }

    #[test]
    fn rows_leave_in_arrival_order_once_the_watermark_reaches_them() {
        let first = batch(&[(Some(30), 1), (Some(10), 2), (None, 3)]);
        // The memory counted as batches come and go is that of the batches held.
        let measured = |w: &Waiting| assert_eq!(w.bytes(), batches_bytes(w.batches()));
        let mut waiting = Waiting::new(first.schema(), 0);
        waiting.push(first).unwrap();
        waiting
            .push(batch(&[(Some(20), 4), (Some(10), 5)]))
            .unwrap();
        measured(&waiting);
        assert_eq!(values(waiting.take_due(9).unwrap()), Vec::<i64>::new());
        assert_eq!(values(waiting.take_due(20).unwrap()), [2, 4, 5]);
        assert_eq!(waiting.rows(), 2);
        measured(&waiting);
        assert_eq!(values(waiting.take_due(29).unwrap()), Vec::<i64>::new());
        assert_eq!(values(waiting.take_due(Watermark::MAX).unwrap()), [1]);
        // A row without a time waits for ever.
        assert_eq!(waiting.rows(), 1);
        measured(&waiting);
        let mut restored = Waiting::new(waiting.schema().clone(), 0);
        restored.restore(waiting.batches().to_vec()).unwrap();
        restored.push(batch(&[(Some(5), 6)])).unwrap();
        measured(&restored);
        assert_eq!(values(restored.take_due(5).unwrap()), [6]);
        measured(&restored);
    }
}
