//! Window aggregation: `GROUP BY window_start, window_end, keys...` over the output of a
//! window table function. Each open window has its own groups; a window fires when the
//! watermark reaches its last instant, emits one row per group, and its state is dropped.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Int64Array, UInt32Array};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::Operator;
use super::aggregate::{GroupBy, Groups, cast_to};
use crate::batch::{ChangeBatch, Message};
use crate::metrics::JobMetrics;
use crate::time::{NO_WATERMARK, Watermark, for_each_millis};
use crate::{EngineError, Result};

/// Aggregates rows per window and group, emitting each window once it is complete.
pub struct WindowAggregate {
    group_by: GroupBy,
    /// The input column holding `window_end`.
    window_end: usize,
    /// Keys, then aggregates.
    schema: SchemaRef,
    /// Open windows by end.
    windows: BTreeMap<i64, Groups>,
    /// The watermark last passed downstream.
    watermark: Watermark,
    metrics: Arc<JobMetrics>,
}

impl WindowAggregate {
    /// Groups by `group_by` within the windows whose end is in input column `window_end`.
    pub fn new(
        group_by: GroupBy,
        window_end: usize,
        schema: SchemaRef,
        metrics: Arc<JobMetrics>,
    ) -> Self {
        WindowAggregate {
            group_by,
            window_end,
            schema,
            windows: BTreeMap::new(),
            watermark: NO_WATERMARK,
            metrics,
        }
    }

    /// How many windows hold state.
    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    fn groups(&mut self, end: i64) -> Result<&mut Groups> {
        if !self.windows.contains_key(&end) {
            self.windows.insert(end, self.group_by.new_groups()?);
        }
        Ok(self.windows.get_mut(&end).expect("inserted above"))
    }

    /// Emits the windows ending at or before `watermark + 1`, oldest first.
    fn fire(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        let open = match watermark.checked_add(2) {
            Some(bound) => self.windows.split_off(&bound),
            None => BTreeMap::new(),
        };
        let fired = std::mem::replace(&mut self.windows, open);
        for (_, mut groups) in fired {
            if groups.is_empty() {
                continue;
            }
            let columns = groups.emit()?;
            let rows = columns.first().map_or(0, |c| c.len());
            let columns = columns
                .into_iter()
                .zip(self.schema.fields())
                .map(|(c, f)| cast_to(c, f.data_type()))
                .collect::<Result<Vec<_>>>()?;
            let mut batch =
                ChangeBatch::inserts(RecordBatch::try_new(self.schema.clone(), columns)?);
            batch.watermarks = Some(Int64Array::from(vec![self.watermark; rows]));
            out.push(Message::Batch(batch));
        }
        Ok(())
    }
}

impl Operator for WindowAggregate {
    fn name(&self) -> &str {
        "WindowAggregate"
    }

    fn on_batch(
        &mut self,
        _input: usize,
        batch: ChangeBatch,
        _out: &mut Vec<Message>,
    ) -> Result<()> {
        if batch.ops.is_some() {
            return Err(EngineError::Other(
                "window aggregation needs an insert-only input".into(),
            ));
        }
        let rows = batch.num_rows();
        let stamps = batch.watermarks.as_ref().map(|w| w.values().clone());
        // A row is late when its window fired at the watermark current before it (Flink: the
        // window's last instant is at or before the watermark); a NULL end is never open.
        let mut ends = Vec::with_capacity(rows);
        let mut row = 0;
        for_each_millis(batch.data.column(self.window_end), |end| {
            let watermark = stamps.as_ref().map_or(self.watermark, |s| s[row]);
            let open = end.is_some_and(|e| e - 1 > watermark.max(self.watermark));
            ends.push(if open { end } else { None });
            row += 1;
        })?;
        let input = self.group_by.evaluate(&batch.data)?;
        let first = ends.first().copied().flatten();
        if let Some(end) = first
            && ends.iter().all(|e| *e == first)
        {
            return self.groups(end)?.update(&input);
        }
        // Rows by window, in one pass: a batch spans few windows, so a short list is enough.
        let mut windows: Vec<(i64, Vec<u32>)> = Vec::new();
        let mut late = 0u64;
        for (row, end) in ends.iter().enumerate() {
            let Some(end) = *end else {
                late += 1;
                continue;
            };
            match windows.iter_mut().rev().find(|(e, _)| *e == end) {
                Some((_, rows)) => rows.push(row as u32),
                None => windows.push((end, vec![row as u32])),
            }
        }
        if late > 0 {
            JobMetrics::add(&self.metrics.late_rows, late);
        }
        for (end, rows) in windows {
            let part = input.take(&UInt32Array::from(rows))?;
            self.groups(end)?.update(&part)?;
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        self.fire(watermark, out)?;
        self.watermark = watermark;
        out.push(Message::Watermark(watermark));
        Ok(())
    }

    fn on_end(&mut self, out: &mut Vec<Message>) -> Result<()> {
        self.fire(Watermark::MAX, out)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{RecordBatch, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;
    use crate::operator::aggregate::tests::{count_and_sum, rows};

    fn input_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
            Field::new(
                "window_end",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                true,
            ),
        ]))
    }

    /// Rows `(key, v, window_end)`, each with the watermark current before it.
    fn batch(rows: &[(&str, i64, i64, i64)]) -> ChangeBatch {
        let data = RecordBatch::try_new(
            input_schema(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    rows.iter().map(|r| r.2),
                )),
            ],
        )
        .unwrap();
        let mut batch = ChangeBatch::inserts(data);
        batch.watermarks = Some(Int64Array::from_iter_values(rows.iter().map(|r| r.3)));
        batch
    }

    fn operator() -> (WindowAggregate, Arc<JobMetrics>) {
        let metrics = Arc::new(JobMetrics::default());
        let output = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, true),
            Field::new("cnt", DataType::Int64, true),
            Field::new("total", DataType::Int64, true),
        ]));
        let op = WindowAggregate::new(count_and_sum(input_schema()), 2, output, metrics.clone());
        (op, metrics)
    }

    #[test]
    fn windows_fire_at_their_last_instant_and_free_their_state() {
        let (mut op, metrics) = operator();
        let mut out = Vec::new();
        let none = NO_WATERMARK;
        op.on_batch(
            0,
            batch(&[
                ("a", 1, 60_000, none),
                ("b", 2, 60_000, none),
                ("a", 3, 120_000, none),
            ]),
            &mut out,
        )
        .unwrap();
        op.on_watermark(59_998, &mut out).unwrap();
        assert_eq!(rows(&out, 0), ["wm 59998"]);
        assert_eq!(op.open_windows(), 2);
        out.clear();
        // Still in time: the watermark before this row is below the window's last instant.
        op.on_batch(0, batch(&[("a", 4, 60_000, 59_998)]), &mut out)
            .unwrap();
        op.on_watermark(59_999, &mut out).unwrap();
        assert_eq!(rows(&out, 0), ["a:2:5", "b:1:2", "wm 59999"]);
        assert_eq!(op.open_windows(), 1);
        out.clear();
        // Late: its window fired at a watermark not after this row's.
        op.on_batch(
            0,
            batch(&[("a", 5, 60_000, 59_999), ("b", 6, 120_000, 59_999)]),
            &mut out,
        )
        .unwrap();
        assert_eq!(JobMetrics::get(&metrics.late_rows), 1);
        op.on_end(&mut out).unwrap();
        assert_eq!(rows(&out, 0), ["a:1:3", "b:1:6"]);
        assert_eq!(op.open_windows(), 0);
    }

    #[test]
    fn a_row_stamped_past_its_window_is_late_even_before_the_operator_saw_the_watermark() {
        let (mut op, metrics) = operator();
        let mut out = Vec::new();
        op.on_batch(
            0,
            batch(&[("a", 1, 60_000, NO_WATERMARK), ("a", 2, 60_000, 70_000)]),
            &mut out,
        )
        .unwrap();
        op.on_end(&mut out).unwrap();
        assert_eq!(rows(&out, 0), ["a:1:1"]);
        assert_eq!(JobMetrics::get(&metrics.late_rows), 1);
    }
}
