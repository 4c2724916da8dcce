//! `ORDER BY time [, key ...]` over a stream, Flink's temporal sort: rows wait until the
//! watermark passes their time, then leave in time order; rows of one time in the order of
//! the further keys, then of arrival. A row at or behind the watermark when it arrives is late,
//! as in Flink.

use std::sync::Arc;

use arrow::array::{Int64Array, UInt32Array};
use arrow::compute::{SortColumn, lexsort_to_indices, take_record_batch};
use arrow::datatypes::SchemaRef;

use super::timed::{Timed, split_late};
use super::waiting::Waiting;
use super::window_rank::SortKey;
use super::{Operator, StateBound};
use crate::batch::{ChangeBatch, Message};
use crate::checkpoint::State;
use crate::late::LateRows;
use crate::time::{NO_WATERMARK, Watermark};
use crate::{EngineError, Result};

/// Sorts rows by event time and further keys as the watermark makes them final.
pub struct TimeSort {
    /// The event-time column.
    time: usize,
    /// The keys that order rows of one time.
    keys: Vec<SortKey>,
    pending: Waiting,
    watermark: Watermark,
    late: LateRows,
}

impl TimeSort {
    /// Rows of `schema` in the order of their column `time`, then of `keys`.
    pub fn new(schema: SchemaRef, time: usize, keys: Vec<SortKey>, late: LateRows) -> Self {
        TimeSort {
            time,
            keys,
            pending: Waiting::new(schema, time),
            watermark: NO_WATERMARK,
            late,
        }
    }
}

impl Timed for TimeSort {
    fn fire(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        // In arrival order.
        let Some(rows) = self.pending.take_due(watermark)? else {
            return Ok(());
        };
        let n = rows.num_rows();
        let mut columns = vec![SortColumn {
            values: rows.column(self.time).clone(),
            options: None,
        }];
        for key in &self.keys {
            columns.push(SortColumn {
                values: key.expr.evaluate(&rows)?.into_array(n)?,
                options: Some(key.options),
            });
        }
        columns.push(SortColumn {
            values: Arc::new(UInt32Array::from_iter_values(0..n as u32)),
            options: None,
        });
        let order = lexsort_to_indices(&columns, None)?;
        let mut batch = ChangeBatch::inserts(take_record_batch(&rows, &order)?);
        batch.watermarks = Some(Int64Array::from(vec![self.watermark; n]));
        out.push(Message::Batch(batch));
        Ok(())
    }

    fn watermark_mut(&mut self) -> &mut Watermark {
        &mut self.watermark
    }
}

impl Operator for TimeSort {
    fn state_bound(&self) -> StateBound {
        StateBound::Watermark("rows")
    }

    fn name(&self) -> &str {
        "TimeSort"
    }

    fn state_bytes(&self) -> usize {
        self.pending.bytes()
    }

    fn on_batch(
        &mut self,
        _input: usize,
        batch: ChangeBatch,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        if batch.ops.is_some() {
            return Err(EngineError::Other(
                "ORDER BY a time attribute needs an insert-only input".into(),
            ));
        }
        let (on_time, late) = split_late(&batch, self.time, self.watermark)?;
        self.late.record(&batch.data, late, out)?;
        self.pending.push(on_time)
    }

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        self.advance(watermark, out)
    }

    fn on_end(&mut self, out: &mut Vec<Message>) -> Result<()> {
        self.finish(out)
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        let pending = self.pending.batches().to_vec();
        state.put_batches("pending", self.pending.schema().clone(), pending);
        state.put("watermark", &self.watermark)?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        self.pending.restore(state.batches("pending")?)?;
        self.watermark = state.get("watermark")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::compute::SortOptions;
    use datafusion_physical_expr::expressions::Column;

    use super::*;
    use crate::metrics::JobMetrics;
    use crate::operator::testing::{assert_restores, describe, feed, keyed_batch, keyed_schema};

    /// Rows by time, then `v` descending.
    fn by_time_then_v() -> TimeSort {
        let keys = vec![SortKey {
            expr: Arc::new(Column::new("v", 1)),
            options: SortOptions {
                descending: true,
                nulls_first: false,
            },
        }];
        let late = LateRows::new(Arc::new(JobMetrics::default()));
        TimeSort::new(keyed_schema("ts"), 2, keys, late)
    }

    fn inputs() -> Vec<(usize, Message)> {
        vec![
            (
                0,
                Message::Batch(keyed_batch("ts", &[("a", 1, 30, 0), ("b", 2, 10, 0)])),
            ),
            (
                0,
                Message::Batch(keyed_batch("ts", &[("c", 3, 10, 0), ("d", 4, 20, 0)])),
            ),
            (0, Message::Watermark(10)),
            // At the watermark: late.
            (
                0,
                Message::Batch(keyed_batch("ts", &[("e", 5, 10, 10), ("f", 6, 30, 10)])),
            ),
            (0, Message::Batch(keyed_batch("ts", &[("g", 6, 30, 10)]))),
            (0, Message::Watermark(25)),
            (0, Message::End),
        ]
    }

    #[test]
    fn rows_leave_in_time_then_key_then_arrival_order_once_final() {
        let mut op = by_time_then_v();
        let mut out = Vec::new();
        feed(&mut op, &inputs(), &mut out);
        assert_eq!(
            describe(&out),
            [
                "Insert c,3,1970-01-01T00:00:00.010",
                "Insert b,2,1970-01-01T00:00:00.010",
                "watermark 10",
                "Insert d,4,1970-01-01T00:00:00.020",
                "watermark 25",
                "Insert f,6,1970-01-01T00:00:00.030",
                "Insert g,6,1970-01-01T00:00:00.030",
                "Insert a,1,1970-01-01T00:00:00.030",
            ]
        );
    }

    #[test]
    fn a_restored_sort_goes_on_as_the_first_would() {
        assert_restores(|| Box::new(by_time_then_v()), &inputs());
    }
}
