//! `OVER` aggregates ordered by event time: `agg(...) OVER (PARTITION BY k ORDER BY ts
//! ROWS BETWEEN n PRECEDING AND CURRENT ROW)`, `RANGE BETWEEN INTERVAL ... PRECEDING AND
//! CURRENT ROW`, or either from `UNBOUNDED PRECEDING` (running aggregates). Rows wait until the
//! watermark reaches their time (then no earlier row can come); final rows are sorted by
//! partition, time and arrival and handed to the functions in that order. Rows at or behind
//! the watermark are late, as in Flink, and dropped.

mod framed;
mod running;

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::{
    SortColumn, concat_batches, filter_record_batch, lexsort_to_indices, take_record_batch,
};
use arrow::datatypes::{FieldRef, Schema, SchemaRef};
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::window::WindowExpr;

use self::framed::Framed;
use self::running::Running;
use super::aggregate::AggregateCall;
use super::timed::{Timed, split_late};
use super::{Operator, StateBound, batches_bytes};
use crate::batch::{ChangeBatch, Message};
use crate::checkpoint::State;
use crate::late::LateRows;
use crate::time::{NO_WATERMARK, Watermark, for_each_millis};
use crate::{EngineError, Result};

/// A bounded frame of the `OVER` window, up to the current row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// `ROWS BETWEEN n PRECEDING AND CURRENT ROW`.
    Rows(usize),
    /// `RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT ROW`, in milliseconds.
    Range(i64),
}

/// Functions of an `OVER` window and the frame they read.
#[derive(Clone)]
pub enum OverFunctions {
    /// DataFusion's window expressions over a bounded `Frame`.
    Framed(Frame, Vec<Arc<dyn WindowExpr>>),
    /// `LAG`s reading at most this many rows back. Rows of the same time (peers) all take the
    /// value of the last of them, as in Flink, whose `LAG` reads a `RANGE` window.
    Lags(usize, Vec<Arc<dyn WindowExpr>>),
    /// Aggregate calls over every row of the partition so far (`UNBOUNDED PRECEDING`). With
    /// `peers` (`RANGE`), rows of the same time share one result, which counts all of them;
    /// otherwise (`ROWS`) each row counts the rows before it in time and arrival order.
    Running {
        peers: bool,
        calls: Vec<AggregateCall>,
    },
}

/// How the function columns of final rows are computed, and what each partition keeps for
/// later rows.
trait Evaluator: Send {
    /// The function columns of `rows`: final rows sorted by partition, time and arrival, with
    /// `partition` their partition key columns.
    fn evaluate(&mut self, rows: &RecordBatch, partition: &[ArrayRef]) -> Result<Vec<ArrayRef>>;

    /// Drops what rows after `watermark` can no longer reach.
    fn forget(&mut self, watermark: Watermark);

    /// How many partitions keep state.
    fn partitions(&self) -> usize;

    fn state_bound(&self) -> StateBound;

    fn state_bytes(&self) -> usize;

    /// Puts the state under names starting with `name`, for a checkpoint.
    fn snapshot(&mut self, state: &mut State, name: &str) -> Result<()>;

    /// The state put under `name` by [`Evaluator::snapshot`].
    fn restore(&mut self, state: &State, name: &str) -> Result<()>;
}

/// Aggregates over a frame of each row's partition, in event-time order.
pub struct OverAggregate {
    partition: Vec<Arc<dyn PhysicalExpr>>,
    /// The input column holding event time.
    time: usize,
    /// The functions, each group with the places of its columns among the function columns.
    evaluators: Vec<(Box<dyn Evaluator>, Vec<usize>)>,
    /// The input columns, then one per function.
    schema: SchemaRef,
    input_schema: SchemaRef,
    /// Rows not final yet, in arrival order.
    pending: Vec<RecordBatch>,
    watermark: Watermark,
    late: LateRows,
}

impl OverAggregate {
    /// `functions` (sharing `partition` and the order by the time column `time`) over rows
    /// of `input_schema`; output rows have `schema`: the input columns, then the functions'
    /// columns, each group of functions giving the columns at the places it comes with.
    pub fn new(
        partition: Vec<Arc<dyn PhysicalExpr>>,
        time: usize,
        functions: Vec<(OverFunctions, Vec<usize>)>,
        input_schema: SchemaRef,
        schema: SchemaRef,
        late: LateRows,
    ) -> Result<Self> {
        let fields = &schema.fields()[input_schema.fields().len()..];
        let evaluators = (functions.into_iter())
            .map(|(functions, places)| {
                let results = places.iter().map(|&p| fields[p].clone()).collect();
                let evaluator =
                    Self::evaluator(&partition, time, functions, &input_schema, results)?;
                Ok((evaluator, places))
            })
            .collect::<Result<_>>()?;
        Ok(OverAggregate {
            partition,
            time,
            evaluators,
            schema,
            input_schema,
            pending: Vec::new(),
            watermark: NO_WATERMARK,
            late,
        })
    }

    /// What computes `functions`, whose results have the fields `results`.
    fn evaluator(
        partition: &[Arc<dyn PhysicalExpr>],
        time: usize,
        functions: OverFunctions,
        input_schema: &SchemaRef,
        results: Vec<FieldRef>,
    ) -> Result<Box<dyn Evaluator>> {
        Ok(match functions {
            OverFunctions::Framed(frame, functions) => Box::new(Framed::new(
                partition,
                time,
                frame,
                false,
                functions,
                input_schema.clone(),
                results,
            )?),
            OverFunctions::Lags(rows, functions) => Box::new(Framed::new(
                partition,
                time,
                Frame::Rows(rows),
                true,
                functions,
                input_schema.clone(),
                results,
            )?),
            OverFunctions::Running { peers, calls } => {
                let keys = (partition.iter())
                    .map(|p| p.return_field(input_schema))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let keys = Arc::new(Schema::new(keys));
                Box::new(Running::new(calls, keys, time, peers, results)?)
            }
        })
    }

    /// How many partitions keep state for later rows.
    pub fn partitions_held(&self) -> usize {
        (self.evaluators.iter())
            .map(|(e, _)| e.partitions())
            .max()
            .unwrap_or(0)
    }

    fn emit_final(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = concat_batches(&self.input_schema, &self.pending)?;
        let mut ready = Vec::with_capacity(pending.num_rows());
        for_each_millis(pending.column(self.time), |t| {
            ready.push(t.unwrap_or(i64::MIN) <= watermark)
        })?;
        let ready = BooleanArray::from(ready);
        let rest = filter_record_batch(&pending, &arrow::compute::not(&ready)?)?;
        self.pending = if rest.num_rows() > 0 {
            vec![rest]
        } else {
            vec![]
        };
        if ready.true_count() == 0 {
            return Ok(());
        }
        // Final rows by partition, time and arrival.
        let arrival: ArrayRef =
            Arc::new(UInt32Array::from_iter_values(0..pending.num_rows() as u32));
        let final_rows = filter_record_batch(&pending, &ready)?;
        let arrival = arrow::compute::filter(&arrival, &ready)?;
        let n = final_rows.num_rows();
        let partition = (self.partition.iter())
            .map(|e| Ok(e.evaluate(&final_rows)?.into_array(n)?))
            .collect::<Result<Vec<_>>>()?;
        let mut keys: Vec<SortColumn> = (partition.iter())
            .map(|values| SortColumn {
                values: values.clone(),
                options: None,
            })
            .collect();
        for values in [final_rows.column(self.time).clone(), arrival] {
            keys.push(SortColumn {
                values,
                options: None,
            });
        }
        let order = lexsort_to_indices(&keys, None)?;
        let sorted = take_record_batch(&final_rows, &order)?;
        let partition = (partition.iter())
            .map(|p| Ok(arrow::compute::take(p.as_ref(), &order, None)?))
            .collect::<Result<Vec<_>>>()?;
        let mut results = vec![None; self.schema.fields().len() - sorted.num_columns()];
        for (evaluator, places) in &mut self.evaluators {
            let columns = evaluator.evaluate(&sorted, &partition)?;
            for (&place, column) in places.iter().zip(columns) {
                results[place] = Some(column);
            }
        }
        let mut columns = sorted.columns().to_vec();
        columns.extend(results.into_iter().flatten());
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        let mut batch = ChangeBatch::inserts(batch);
        batch.watermarks = Some(Int64Array::from(vec![self.watermark; batch.num_rows()]));
        out.push(Message::Batch(batch));
        Ok(())
    }
}

impl Timed for OverAggregate {
    /// Emits the rows whose time is at or before `watermark`, then forgets what no later row
    /// can reach.
    fn fire(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        self.emit_final(watermark, out)?;
        for (evaluator, _) in &mut self.evaluators {
            evaluator.forget(watermark);
        }
        Ok(())
    }

    fn watermark_mut(&mut self) -> &mut Watermark {
        &mut self.watermark
    }
}

impl Operator for OverAggregate {
    fn state_bound(&self) -> StateBound {
        // Unbounded state wins over state the watermark frees.
        let mut bounds: Vec<StateBound> = (self.evaluators.iter())
            .map(|(e, _)| e.state_bound())
            .collect();
        bounds.sort_by_key(|b| !matches!(b, StateBound::Unbounded(_)));
        bounds.into_iter().next().unwrap_or(StateBound::None)
    }

    fn name(&self) -> &str {
        "OverAggregate"
    }

    fn state_bytes(&self) -> usize {
        batches_bytes(&self.pending)
            + (self.evaluators.iter())
                .map(|(e, _)| e.state_bytes())
                .sum::<usize>()
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
        for (i, (evaluator, _)) in self.evaluators.iter_mut().enumerate() {
            evaluator.snapshot(&mut state, &format!("functions{i}"))?;
        }
        state.put("watermark", &self.watermark)?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        self.pending = state.batches("pending")?;
        for (i, (evaluator, _)) in self.evaluators.iter_mut().enumerate() {
            evaluator.restore(state, &format!("functions{i}"))?;
        }
        self.watermark = state.get("watermark")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Field, Int64Type};
    use datafusion_common::ScalarValue;
    use datafusion_expr::{AggregateUDF, WindowFrame, WindowFrameBound, WindowFrameUnits};
    use datafusion_functions_aggregate::min_max::max_udaf;
    use datafusion_functions_aggregate::sum::sum_udaf;
    use datafusion_physical_expr::aggregate::{AggregateExprBuilder, AggregateFunctionExpr};
    use datafusion_physical_expr::expressions::Column;
    use datafusion_physical_expr::window::PlainAggregateWindowExpr;
    use datafusion_physical_expr::window::SlidingAggregateWindowExpr;

    use super::*;
    use crate::operator::testing::{assert_restores, keyed_batch, keyed_schema};

    fn input_schema() -> SchemaRef {
        keyed_schema("ts")
    }

    /// Rows `(key, v, ts)`, all with the watermark `stamp` before them.
    fn batch(rows: &[(&str, i64, i64)], stamp: i64) -> ChangeBatch {
        let rows: Vec<_> = rows.iter().map(|&(k, v, t)| (k, v, t, stamp)).collect();
        keyed_batch("ts", &rows)
    }

    /// `function(v)` over the input rows, named `name`.
    fn call(function: Arc<AggregateUDF>, name: &str) -> Arc<AggregateFunctionExpr> {
        Arc::new(
            AggregateExprBuilder::new(function, vec![Arc::new(Column::new("v", 1))])
                .schema(input_schema())
                .alias(name)
                .build()
                .unwrap(),
        )
    }

    /// `functions` (with results named after the calls) `OVER (PARTITION BY key ORDER BY ts
    /// ...)`.
    fn operator(functions: Vec<(OverFunctions, Vec<usize>)>, names: &[&str]) -> OverAggregate {
        let input = input_schema();
        let mut fields = input.fields().to_vec();
        for name in names {
            fields.push(Arc::new(Field::new(*name, DataType::Int64, true)));
        }
        OverAggregate::new(
            vec![Arc::new(Column::new("key", 0))],
            2,
            functions,
            input,
            Arc::new(Schema::new(fields)),
            LateRows::new(Arc::new(crate::metrics::JobMetrics::default())),
        )
        .unwrap()
    }

    /// `SUM(v) OVER (PARTITION BY key ORDER BY ts <frame>)`.
    fn framed(frame: Frame) -> OverAggregate {
        let sum = call(sum_udaf(), "s");
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
        operator(
            vec![(OverFunctions::Framed(frame, vec![function]), vec![0])],
            &["s"],
        )
    }

    /// `SUM(v), MAX(v) OVER (PARTITION BY key ORDER BY ts ROWS|RANGE BETWEEN UNBOUNDED
    /// PRECEDING AND CURRENT ROW)`.
    fn running(peers: bool) -> OverAggregate {
        let calls = [call(sum_udaf(), "s"), call(max_udaf(), "m")]
            .into_iter()
            .map(|function| AggregateCall {
                function,
                filter: None,
            })
            .collect();
        let functions = OverFunctions::Running { peers, calls };
        operator(vec![(functions, vec![0, 1])], &["s", "m"])
    }

    /// Each output row as `key:result,...` (the results of every function).
    fn results(messages: &[Message]) -> Vec<String> {
        let mut out = Vec::new();
        for m in messages {
            if let Message::Batch(b) = m {
                let keys = b.data.column(0).as_string::<i32>();
                for i in 0..b.num_rows() {
                    let values: Vec<String> = (b.data.columns()[3..].iter())
                        .map(|c| c.as_primitive::<Int64Type>().value(i).to_string())
                        .collect();
                    out.push(format!("{}:{}", keys.value(i), values.join(",")));
                }
            }
        }
        out
    }

    #[test]
    fn rows_frames_reach_back_across_firings_in_time_order() {
        let mut op = framed(Frame::Rows(1));
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
        assert_eq!(results(&out), ["a:1", "a:3", "b:100"]);
        out.clear();
        // A row at the watermark is late; 30 and 40 see the rows before them.
        op.on_batch(0, batch(&[("a", 9, 20), ("a", 4, 40)], 20), &mut out)
            .unwrap();
        op.on_end(&mut out).unwrap();
        assert_eq!(results(&out), ["a:5", "a:7"]);
        assert_eq!(op.late.dropped(), 1);
        // ROWS 1 PRECEDING keeps one row per partition.
        assert_eq!(op.partitions_held(), 2);
    }

    #[test]
    fn range_frames_forget_partitions_the_watermark_left_behind() {
        let mut op = framed(Frame::Range(10));
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
        assert_eq!(results(&out), ["a:1", "a:7", "a:7", "b:7"]);
        op.on_watermark(100, &mut out).unwrap();
        assert_eq!(op.partitions_held(), 0);
    }

    /// Rows out of order, two of `a` at time 20, then a late row and two more of `a`.
    fn running_inputs() -> Vec<(usize, Message)> {
        let first = [("a", 2, 20), ("a", 1, 10), ("b", 100, 15), ("a", 5, 20)];
        [
            (0, Message::Batch(batch(&first, NO_WATERMARK))),
            (0, Message::Watermark(20)),
            (0, Message::Batch(batch(&[("a", 9, 20), ("a", 4, 40)], 20))),
            (0, Message::Batch(batch(&[("a", 3, 30)], 20))),
            (0, Message::End),
        ]
        .into()
    }

    #[test]
    fn running_rows_count_every_row_before_in_time_and_arrival_order() {
        let mut op = running(false);
        let mut out = Vec::new();
        crate::operator::testing::feed(&mut op, &running_inputs(), &mut out);
        let expected = ["a:1,1", "a:3,2", "a:8,5", "b:100,100", "a:11,5", "a:15,5"];
        assert_eq!(results(&out), expected);
        assert_eq!(op.late.dropped(), 1);
        assert_eq!(op.partitions_held(), 2);
    }

    #[test]
    fn running_range_gives_peers_one_result_counting_all_of_them() {
        let mut op = running(true);
        let mut out = Vec::new();
        crate::operator::testing::feed(&mut op, &running_inputs(), &mut out);
        let expected = ["a:1,1", "a:8,5", "a:8,5", "b:100,100", "a:11,5", "a:15,5"];
        assert_eq!(results(&out), expected);
    }

    #[test]
    fn restored_running_aggregates_go_on_as_the_first_would() {
        for peers in [false, true] {
            assert_restores(|| Box::new(running(peers)), &running_inputs());
        }
    }
}
