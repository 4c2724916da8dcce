//! Bounded frames (`n PRECEDING`, `INTERVAL ... PRECEDING`) and `LAG`: each partition's run of
//! final rows is evaluated in one go by DataFusion's window expressions, over the run preceded
//! by the rows of earlier runs still inside the frame. Peers (rows of one time) are all final
//! at once, so they are in the same run.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, RecordBatch, UInt32Array};
use arrow::compute::{concat, concat_batches, take};
use arrow::datatypes::{FieldRef, SchemaRef};
use arrow::row::{RowConverter, SortField};
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::window::WindowExpr;

use super::{Evaluator, Frame};
use crate::Result;
use crate::checkpoint::State;
use crate::operator::aggregate::cast_to;
use crate::operator::{StateBound, batches_bytes};
use crate::time::{NO_WATERMARK, Watermark, for_each_millis};

/// The memory of a partition's history: its key and rows.
fn entry_bytes(key: &[u8], rows: &RecordBatch) -> usize {
    key.len() + batches_bytes([rows])
}

pub(super) struct Framed {
    frame: Frame,
    /// Whether peers all take the last peer's values (`LAG`'s `RANGE` window in Flink).
    peers_take_last: bool,
    functions: Vec<Arc<dyn WindowExpr>>,
    /// The fields of the functions' results.
    results: Vec<FieldRef>,
    /// The input column holding event time.
    time: usize,
    input_schema: SchemaRef,
    /// Per partition (by its key in Arrow's row format), the latest final rows that later
    /// rows' frames can still reach.
    history: HashMap<Vec<u8>, RecordBatch>,
    /// The size of `history`, kept as it changes (measuring it is then no walk over every
    /// partition).
    history_bytes: usize,
    keys: RowConverter,
    /// The horizon of the last scan for partitions to forget.
    forgotten_until: Watermark,
}

impl Framed {
    pub fn new(
        partition: &[Arc<dyn PhysicalExpr>],
        time: usize,
        frame: Frame,
        peers_take_last: bool,
        functions: Vec<Arc<dyn WindowExpr>>,
        input_schema: SchemaRef,
        results: Vec<FieldRef>,
    ) -> Result<Self> {
        let fields = partition
            .iter()
            .map(|p| Ok(SortField::new(p.data_type(&input_schema)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Framed {
            keys: RowConverter::new(fields)?,
            frame,
            peers_take_last,
            functions,
            results,
            time,
            input_schema,
            history: HashMap::new(),
            history_bytes: 0,
            forgotten_until: NO_WATERMARK,
        })
    }

    /// The size of `history`, counted partition by partition.
    fn held_bytes(&self) -> usize {
        (self.history.iter())
            .map(|(key, rows)| entry_bytes(key, rows))
            .sum()
    }

    fn times(&self, batch: &RecordBatch) -> Result<Vec<i64>> {
        let mut times = Vec::with_capacity(batch.num_rows());
        for_each_millis(batch.column(self.time), |t| {
            times.push(t.unwrap_or(i64::MIN))
        })?;
        Ok(times)
    }

    /// For each row of `run` (in time order), the place of the last row of its time.
    fn last_peers(&self, run: &RecordBatch) -> Result<UInt32Array> {
        let times = self.times(run)?;
        let n = times.len();
        let mut last = vec![0u32; n];
        // Backwards: `end` is one past the last row of the current time.
        let mut end = n;
        for i in (0..n).rev() {
            if i + 1 < n && times[i] != times[i + 1] {
                end = i + 1;
            }
            last[i] = (end - 1) as u32;
        }
        Ok(UInt32Array::from(last))
    }

    /// The function columns of one partition's `run` of final rows; keeps the partition's
    /// new history.
    fn run(&mut self, key: Vec<u8>, run: RecordBatch) -> Result<Vec<ArrayRef>> {
        let earlier = self.history.remove(&key);
        if let Some(earlier) = &earlier {
            self.history_bytes -= entry_bytes(&key, earlier);
        }
        let held = earlier.as_ref().map_or(0, |h| h.num_rows());
        let combined = match earlier {
            Some(h) => concat_batches(&self.input_schema, [&h, &run])?,
            None => run.clone(),
        };
        let last_peers = match self.peers_take_last {
            true => Some(self.last_peers(&run)?),
            false => None,
        };
        let columns = (self.functions.iter().zip(&self.results))
            .map(|(function, field)| {
                let mut values = function.evaluate(&combined)?.slice(held, run.num_rows());
                if let Some(last) = &last_peers {
                    values = take(&values, last, None)?;
                }
                cast_to(values, field.data_type())
            })
            .collect::<Result<Vec<_>>>()?;
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
            let kept = combined.slice(keep_from, total - keep_from);
            self.history_bytes += entry_bytes(&key, &kept);
            self.history.insert(key, kept);
        }
        Ok(columns)
    }
}

impl Evaluator for Framed {
    fn evaluate(&mut self, rows: &RecordBatch, partition: &[ArrayRef]) -> Result<Vec<ArrayRef>> {
        let keys = self.keys.convert_columns(partition)?;
        // Without PARTITION BY, all rows form one partition with an empty key.
        let key = |i: usize| {
            if partition.is_empty() {
                &[][..]
            } else {
                keys.row(i).data()
            }
        };
        let n = rows.num_rows();
        let mut pieces: Vec<Vec<ArrayRef>> = vec![Vec::new(); self.functions.len()];
        let mut start = 0;
        while start < n {
            let mut end = start + 1;
            while end < n && key(end) == key(start) {
                end += 1;
            }
            let columns = self.run(key(start).to_vec(), rows.slice(start, end - start))?;
            for (pieces, column) in pieces.iter_mut().zip(columns) {
                pieces.push(column);
            }
            start = end;
        }
        (pieces.iter())
            .map(|pieces| {
                let pieces: Vec<&dyn Array> = pieces.iter().map(AsRef::as_ref).collect();
                Ok(concat(&pieces)?)
            })
            .collect()
    }

    /// Drops the partitions whose rows no later row's RANGE frame reaches: those before
    /// `watermark - range`, as rows not emitted yet are after the watermark. Scans the
    /// partitions at most once per `range` of watermark progress.
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
        let bytes = &mut self.history_bytes;
        self.history.retain(|key, rows| {
            let mut last = i64::MIN;
            let _ = for_each_millis(rows.column(time), |t| {
                last = last.max(t.unwrap_or(i64::MIN))
            });
            if last < horizon {
                *bytes -= entry_bytes(key, rows);
            }
            last >= horizon
        });
    }

    fn partitions(&self) -> usize {
        self.history.len()
    }

    fn state_bound(&self) -> StateBound {
        match self.frame {
            Frame::Range(_) => StateBound::Watermark("rows and partitions"),
            Frame::Rows(_) => {
                StateBound::Unbounded("distinct partition keys (the frame's last rows)")
            }
        }
    }

    fn state_bytes(&self) -> usize {
        self.history_bytes
    }

    fn snapshot(&mut self, state: &mut State, name: &str) -> Result<()> {
        let (keys, rows): (Vec<&[u8]>, Vec<RecordBatch>) = (self.history.iter())
            .map(|(key, rows)| (key.as_slice(), rows.clone()))
            .unzip();
        let keys: ArrayRef = Arc::new(BinaryArray::from_vec(keys));
        state.put_columns(&format!("{name}.keys"), vec![keys], rows.len())?;
        state.put_batches(&format!("{name}.rows"), self.input_schema.clone(), rows);
        state.put(&format!("{name}.forgotten_until"), &self.forgotten_until)
    }

    fn restore(&mut self, state: &State, name: &str) -> Result<()> {
        let (keys, _) = state.columns(&format!("{name}.keys"))?;
        let keys = keys[0].as_binary::<i32>();
        let rows = state.batches(&format!("{name}.rows"))?;
        self.history = keys
            .iter()
            .map(|k| k.unwrap_or_default().to_vec())
            .zip(rows)
            .collect();
        self.history_bytes = self.held_bytes();
        self.forgotten_until = state.get(&format!("{name}.forgotten_until"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion_common::ScalarValue;
    use datafusion_expr::{WindowFrame, WindowFrameBound, WindowFrameUnits};
    use datafusion_functions_aggregate::sum::sum_udaf;
    use datafusion_physical_expr::PhysicalSortExpr;
    use datafusion_physical_expr::aggregate::AggregateExprBuilder;
    use datafusion_physical_expr::expressions::Column;
    use datafusion_physical_expr::window::PlainAggregateWindowExpr;

    use arrow::datatypes::DataType;

    use super::*;
    use crate::operator::testing::{keyed_batch, keyed_schema, random};

    /// `SUM(v) OVER (PARTITION BY key ORDER BY ts RANGE BETWEEN INTERVAL '0.1' SECOND
    /// PRECEDING AND CURRENT ROW)` over rows `(key, v, ts)`.
    fn framed() -> Framed {
        let input = keyed_schema("ts");
        let sum = AggregateExprBuilder::new(sum_udaf(), vec![Arc::new(Column::new("v", 1))])
            .schema(input.clone())
            .alias("s")
            .build()
            .unwrap();
        let window = WindowFrame::new_bounds(
            WindowFrameUnits::Range,
            WindowFrameBound::Preceding(ScalarValue::Int64(Some(100))),
            WindowFrameBound::CurrentRow,
        );
        let order = [PhysicalSortExpr::new_default(Arc::new(Column::new(
            "ts", 2,
        )))];
        let function: Arc<dyn WindowExpr> = Arc::new(PlainAggregateWindowExpr::new(
            Arc::new(sum),
            &[],
            &order,
            Arc::new(window),
            None,
        ));
        let result = Arc::new(arrow::datatypes::Field::new("s", DataType::Int64, true));
        let partition: Vec<Arc<dyn PhysicalExpr>> = vec![Arc::new(Column::new("key", 0))];
        Framed::new(
            &partition,
            2,
            Frame::Range(100),
            false,
            vec![function],
            input,
            vec![result],
        )
        .unwrap()
    }

    /// The history's size measured is the size held, as partitions' rows come, leave the
    /// frame, partitions are forgotten, and after a restore.
    #[test]
    fn the_state_measured_is_the_state_held() {
        let mut keys: Vec<String> = (0..20)
            .map(|i| format!("{}{i}", "k".repeat(i % 4)))
            .collect();
        keys.sort();
        let mut next = random(9);
        let (mut framed, mut time) = (framed(), 0);
        for step in 0..200 {
            // Final rows sorted by partition and time: a few partitions, a few rows each.
            let mut rows = Vec::new();
            for key in &keys {
                if next(4) > 0 {
                    continue;
                }
                let mut t = time;
                for _ in 0..1 + next(3) {
                    t += next(30) as i64;
                    rows.push((key.as_str(), 1, t, 0));
                }
            }
            if !rows.is_empty() {
                let batch = keyed_batch("ts", &rows).data;
                framed.evaluate(&batch, &[batch.column(0).clone()]).unwrap();
            }
            time += next(60) as i64;
            framed.forget(time);
            assert_eq!(framed.history_bytes, framed.held_bytes(), "step {step}");
            if step == 100 {
                let mut state = State::new();
                framed.snapshot(&mut state, "f").unwrap();
                let mut restored = self::framed();
                restored.restore(&state, "f").unwrap();
                assert_eq!(restored.history_bytes, framed.held_bytes(), "restored");
                framed = restored;
            }
        }
        assert!(framed.held_bytes() > 0);
    }
}
