//! `OVER` aggregates ordered by event time: `agg(...) OVER (PARTITION BY k ORDER BY ts
//! ROWS BETWEEN n PRECEDING AND CURRENT ROW)` or `RANGE BETWEEN INTERVAL ... PRECEDING AND
//! CURRENT ROW`. Rows wait until the watermark reaches their time (then no earlier row can
//! come); final rows are sorted by partition, time and arrival, and each partition's run is
//! evaluated in one go by DataFusion's window expressions over the run preceded by the rows
//! of earlier runs still inside the frame. Rows at or behind the watermark are late, as in
//! Flink, and dropped.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, BinaryArray, BooleanArray, Int64Array, RecordBatch, UInt32Array,
};
use arrow::compute::{
    SortColumn, concat_batches, filter_record_batch, lexsort_to_indices, take_record_batch,
};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::window::WindowExpr;

use super::aggregate::cast_to;
use super::timed::{Timed, split_late};
use super::{Operator, batches_bytes};
use crate::batch::{ChangeBatch, Message};
use crate::checkpoint::State;
use crate::late::LateRows;
use crate::time::{NO_WATERMARK, Watermark, for_each_millis};
use crate::{EngineError, Result};

/// The frame of the `OVER` window, up to the current row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// `ROWS BETWEEN n PRECEDING AND CURRENT ROW`.
    Rows(usize),
    /// `RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT ROW`, in milliseconds.
    Range(i64),
}

/// Aggregates over a sliding frame of each row's partition, in event-time order.
pub struct OverAggregate {
    partition: Vec<Arc<dyn PhysicalExpr>>,
    /// The input column holding event time.
    time: usize,
    frame: Frame,
    functions: Vec<Arc<dyn WindowExpr>>,
    /// The input columns, then one per function.
    schema: SchemaRef,
    input_schema: SchemaRef,
    /// Rows not final yet, in arrival order.
    pending: Vec<RecordBatch>,
    /// Per partition (by its key in Arrow's row format), the latest final rows that later
    /// rows' frames can still reach.
    history: HashMap<Vec<u8>, RecordBatch>,
    keys: RowConverter,
    /// The horizon of the last scan for partitions to forget.
    forgotten_until: Watermark,
    watermark: Watermark,
    late: LateRows,
}

impl OverAggregate {
    /// `functions` (sharing `partition`, the order by the time column `time` and `frame`)
    /// over rows of `input_schema`; output rows have `schema`.
    pub fn new(
        partition: Vec<Arc<dyn PhysicalExpr>>,
        time: usize,
        frame: Frame,
        functions: Vec<Arc<dyn WindowExpr>>,
        input_schema: SchemaRef,
        schema: SchemaRef,
        late: LateRows,
    ) -> Result<Self> {
        let fields = partition
            .iter()
            .map(|p| Ok(SortField::new(p.data_type(&input_schema)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(OverAggregate {
            keys: RowConverter::new(fields)?,
            partition,
            time,
            frame,
            functions,
            schema,
            input_schema,
            pending: Vec::new(),
            history: HashMap::new(),
            forgotten_until: NO_WATERMARK,
            watermark: NO_WATERMARK,
            late,
        })
    }

    /// How many partitions keep rows for later frames.
    pub fn partitions_held(&self) -> usize {
        self.history.len()
    }

    fn times(&self, batch: &RecordBatch) -> Result<Vec<i64>> {
        let mut times = Vec::with_capacity(batch.num_rows());
        for_each_millis(batch.column(self.time), |t| {
            times.push(t.unwrap_or(i64::MIN))
        })?;
        Ok(times)
    }

    /// Drops the partitions whose rows no later row's RANGE frame reaches: those before
    /// `watermark - range`, as rows not emitted yet are after the watermark. Scans the partitions at
    /// most once per `range` of watermark progress.
    fn forget(&mut self, watermark: Watermark) {
        let Frame::Range(range) = self.frame else {
            return;
        };
        let horizon = watermark.saturating_sub(range);
        if horizon < self.forgotten_until.saturating_add(range) {
            return;
        }
        self.forgotten_until = horizon;
        let time = self.time;
        self.history.retain(|_, rows| {
            let mut last = i64::MIN;
            let _ = for_each_millis(rows.column(time), |t| {
                last = last.max(t.unwrap_or(i64::MIN))
            });
            last >= horizon
        });
    }

    fn emit_final(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = concat_batches(&self.input_schema, &self.pending)?;
        let times = self.times(&pending)?;
        let ready = BooleanArray::from(times.iter().map(|t| *t <= watermark).collect::<Vec<_>>());
        let rest = filter_record_batch(&pending, &arrow::compute::not(&ready)?)?;
        self.pending = if rest.num_rows() > 0 {
            vec![rest]
        } else {
            vec![]
        };
        let ready_rows = ready.true_count();
        if ready_rows == 0 {
            return Ok(());
        }
        // Final rows by partition, time and arrival.
        let arrival: ArrayRef =
            Arc::new(UInt32Array::from_iter_values(0..pending.num_rows() as u32));
        let final_rows = filter_record_batch(&pending, &ready)?;
        let arrival = arrow::compute::filter(&arrival, &ready)?;
        let n = final_rows.num_rows();
        let eval = |e: &Arc<dyn PhysicalExpr>| -> Result<ArrayRef> {
            Ok(e.evaluate(&final_rows)?.into_array(n)?)
        };
        let partition = self
            .partition
            .iter()
            .map(eval)
            .collect::<Result<Vec<_>>>()?;
        let mut keys: Vec<SortColumn> = partition
            .iter()
            .map(|values| SortColumn {
                values: values.clone(),
                options: None,
            })
            .collect();
        keys.push(SortColumn {
            values: final_rows.column(self.time).clone(),
            options: None,
        });
        keys.push(SortColumn {
            values: arrival,
            options: None,
        });
        let order = lexsort_to_indices(&keys, None)?;
        let sorted = take_record_batch(&final_rows, &order)?;
        let partition = partition
            .iter()
            .map(|p| Ok(arrow::compute::take(p.as_ref(), &order, None)?))
            .collect::<Result<Vec<_>>>()?;
        let rows = self.keys.convert_columns(&partition)?;
        // Without PARTITION BY, all rows form one partition with an empty key.
        let key = |i: usize| {
            if partition.is_empty() {
                &[][..]
            } else {
                rows.row(i).data()
            }
        };
        let mut outputs = Vec::new();
        let mut start = 0;
        while start < n {
            let mut end = start + 1;
            while end < n && key(end) == key(start) {
                end += 1;
            }
            let key = key(start).to_vec();
            let run = sorted.slice(start, end - start);
            outputs.push(self.evaluate(key, run)?);
            start = end;
        }
        let batch = concat_batches(&self.schema, &outputs)?;
        let mut batch = ChangeBatch::inserts(batch);
        batch.watermarks = Some(Int64Array::from(vec![self.watermark; batch.num_rows()]));
        out.push(Message::Batch(batch));
        Ok(())
    }

    /// The output rows of one partition's `run` of final rows, and the partition's new history.
    fn evaluate(&mut self, key: Vec<u8>, run: RecordBatch) -> Result<RecordBatch> {
        let earlier = self.history.remove(&key);
        let held = earlier.as_ref().map_or(0, |h| h.num_rows());
        let combined = match earlier {
            Some(h) => concat_batches(&self.input_schema, [&h, &run])?,
            None => run.clone(),
        };
        let mut columns = run.columns().to_vec();
        for (function, field) in self
            .functions
            .iter()
            .zip(self.schema.fields().iter().skip(run.num_columns()))
        {
            let values = function.evaluate(&combined)?.slice(held, run.num_rows());
            columns.push(cast_to(values, field.data_type())?);
        }
        let total = combined.num_rows();
        let keep_from = match self.frame {
            Frame::Rows(n) => total.saturating_sub(n),
            Frame::Range(range) => {
                let times = self.times(&combined)?;
                let last = times.last().copied().unwrap_or(i64::MIN);
                times.partition_point(|t| *t < last.saturating_sub(range))
            }
        };
        if keep_from < total {
            self.history
                .insert(key, combined.slice(keep_from, total - keep_from));
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

impl Timed for OverAggregate {
    /// Emits the rows whose time is at or before `watermark`, then forgets what no later row
    /// can reach.
    fn fire(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        self.emit_final(watermark, out)?;
        self.forget(watermark);
        Ok(())
    }

    fn watermark_mut(&mut self) -> &mut Watermark {
        &mut self.watermark
    }
}

impl Operator for OverAggregate {
    fn state_bound(&self) -> super::StateBound {
        match self.frame {
            Frame::Range(_) => super::StateBound::Watermark("rows and partitions"),
            Frame::Rows(_) => {
                super::StateBound::Unbounded("distinct partition keys (the frame's last rows)")
            }
        }
    }

    fn name(&self) -> &str {
        "OverAggregate"
    }

    fn state_bytes(&self) -> usize {
        batches_bytes(self.pending.iter().chain(self.history.values()))
            + self.history.keys().map(Vec::len).sum::<usize>()
    }

    fn on_batch(
        &mut self,
        _input: usize,
        batch: ChangeBatch,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        if batch.ops.is_some() {
            return Err(EngineError::Other(
                "OVER aggregates need an insert-only input".into(),
            ));
        }
        let (on_time, late) = split_late(&batch, self.time, self.watermark)?;
        self.late.record(&batch.data, late, out)?;
        if on_time.num_rows() > 0 {
            self.pending.push(on_time);
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        self.advance(watermark, out)
    }

    fn on_end(&mut self, out: &mut Vec<Message>) -> Result<()> {
        self.finish(out)
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        state.put_batches("pending", self.input_schema.clone(), self.pending.clone());
        let (keys, rows): (Vec<&[u8]>, Vec<RecordBatch>) = (self.history.iter())
            .map(|(key, rows)| (key.as_slice(), rows.clone()))
            .unzip();
        let keys: ArrayRef = Arc::new(BinaryArray::from_vec(keys));
        state.put_columns("history.keys", vec![keys], rows.len())?;
        state.put_batches("history.rows", self.input_schema.clone(), rows);
        state.put("progress", &(self.forgotten_until, self.watermark))?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        self.pending = state.batches("pending")?;
        let (keys, _) = state.columns("history.keys")?;
        let keys = keys[0].as_binary::<i32>();
        let rows = state.batches("history.rows")?;
        self.history = keys
            .iter()
            .map(|k| k.unwrap_or_default().to_vec())
            .zip(rows)
            .collect();
        (self.forgotten_until, self.watermark) = state.get("progress")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use datafusion_common::ScalarValue;
    use datafusion_expr::{WindowFrame, WindowFrameBound, WindowFrameUnits};
    use datafusion_functions_aggregate::sum::sum_udaf;
    use datafusion_physical_expr::aggregate::AggregateExprBuilder;
    use datafusion_physical_expr::expressions::Column;
    use datafusion_physical_expr::window::PlainAggregateWindowExpr;
    use datafusion_physical_expr::window::SlidingAggregateWindowExpr;

    use super::*;
    use crate::operator::testing::{keyed_batch, keyed_schema};

    fn input_schema() -> SchemaRef {
        keyed_schema("ts")
    }

    /// Rows `(key, v, ts)`, all with the watermark `stamp` before them.
    fn batch(rows: &[(&str, i64, i64)], stamp: i64) -> ChangeBatch {
        let rows: Vec<_> = rows.iter().map(|&(k, v, t)| (k, v, t, stamp)).collect();
        keyed_batch("ts", &rows)
    }

    /// `SUM(v) OVER (PARTITION BY key ORDER BY ts <frame>)`.
    fn operator(frame: Frame) -> OverAggregate {
        let input = input_schema();
        let sum = Arc::new(
            AggregateExprBuilder::new(sum_udaf(), vec![Arc::new(Column::new("v", 1))])
                .schema(input.clone())
                .alias("s")
                .build()
                .unwrap(),
        );
        let window = match frame {
            Frame::Rows(n) => WindowFrame::new_bounds(
                WindowFrameUnits::Rows,
                WindowFrameBound::Preceding(ScalarValue::UInt64(Some(n as u64))),
                WindowFrameBound::CurrentRow,
            ),
            Frame::Range(ms) => WindowFrame::new_bounds(
                WindowFrameUnits::Range,
                WindowFrameBound::Preceding(ScalarValue::Int64(Some(ms))),
                WindowFrameBound::CurrentRow,
            ),
        };
        let order = [datafusion_physical_expr::PhysicalSortExpr::new_default(
            Arc::new(Column::new("ts", 2)),
        )];
        let function: Arc<dyn WindowExpr> = match frame {
            Frame::Rows(_) => Arc::new(SlidingAggregateWindowExpr::new(
                sum,
                &[],
                &order,
                Arc::new(window),
                None,
            )),
            Frame::Range(_) => Arc::new(PlainAggregateWindowExpr::new(
                sum,
                &[],
                &order,
                Arc::new(window),
                None,
            )),
        };
        let mut fields = input.fields().to_vec();
        fields.push(Arc::new(Field::new("s", DataType::Int64, true)));
        OverAggregate::new(
            vec![Arc::new(Column::new("key", 0))],
            2,
            frame,
            vec![function],
            input,
            Arc::new(Schema::new(fields)),
            LateRows::new(Arc::new(crate::metrics::JobMetrics::default())),
        )
        .unwrap()
    }

    fn sums(messages: &[Message]) -> Vec<String> {
        let mut out = Vec::new();
        for m in messages {
            if let Message::Batch(b) = m {
                let keys = b.data.column(0).as_string::<i32>();
                let sums = b.data.column(3).as_primitive::<Int64Type>();
                out.extend(
                    (0..b.num_rows()).map(|i| format!("{}:{}", keys.value(i), sums.value(i))),
                );
            }
        }
        out
    }

    #[test]
    fn rows_frames_reach_back_across_firings_in_time_order() {
        let mut op = operator(Frame::Rows(1));
        let mut out = Vec::new();
        // Out of order within the batch; b interleaves.
        op.on_batch(
            0,
            batch(
                &[("a", 2, 20), ("a", 1, 10), ("b", 100, 15), ("a", 3, 30)],
                NO_WATERMARK,
            ),
            &mut out,
        )
        .unwrap();
        op.on_watermark(20, &mut out).unwrap();
        assert_eq!(sums(&out), ["a:1", "a:3", "b:100"]);
        out.clear();
        // A row at the watermark is late; 30 and 40 see the rows before them.
        op.on_batch(0, batch(&[("a", 9, 20), ("a", 4, 40)], 20), &mut out)
            .unwrap();
        op.on_end(&mut out).unwrap();
        assert_eq!(sums(&out), ["a:5", "a:7"]);
        assert_eq!(op.late.dropped(), 1);
        // ROWS 1 PRECEDING keeps one row per partition.
        assert_eq!(op.partitions_held(), 2);
    }

    #[test]
    fn range_frames_forget_partitions_the_watermark_left_behind() {
        let mut op = operator(Frame::Range(10));
        let mut out = Vec::new();
        op.on_batch(
            0,
            batch(
                &[("a", 1, 0), ("a", 2, 10), ("a", 4, 10), ("b", 7, 5)],
                NO_WATERMARK,
            ),
            &mut out,
        )
        .unwrap();
        op.on_watermark(10, &mut out).unwrap();
        // Peers at the same time are in each other's frame.
        assert_eq!(sums(&out), ["a:1", "a:7", "a:7", "b:7"]);
        op.on_watermark(100, &mut out).unwrap();
        assert_eq!(op.partitions_held(), 0);
    }
}
