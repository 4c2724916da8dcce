//! Deduplication keeping the first row per key by event time (`ROW_NUMBER() OVER (PARTITION BY
//! k ORDER BY rowtime ASC)` kept where it is 1), as Flink's
//! `RowTimeDeduplicateKeepFirstRowFunction` runs it: append-only, and the time attribute stays
//! one. Each key's earliest row waits until the watermark reaches its time, then is emitted;
//! the key's later rows are ignored. Late rows (before the watermark) are dropped and counted.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, Int64Array};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Int64Type, SchemaRef};
use arrow::row::{RowConverter, SortField};
use datafusion_common::HashMap;
use datafusion_physical_expr::PhysicalExpr;

use super::Operator;
use super::rank::ranked_rows;
use crate::Result;
use crate::batch::{ChangeBatch, Message};
use crate::checkpoint::State;
use crate::late::LateRows;
use crate::time::{NO_WATERMARK, Watermark};

/// What a key holds: its earliest row so far and that row's time, or that its row was emitted.
enum First {
    Waiting { row: Box<[u8]>, time: i64 },
    Emitted,
}

/// The memory of a key's entry: its key, its waiting row, and about what the map keeps
/// beside them.
fn entry_bytes(key: &[u8], first: &First) -> usize {
    key.len()
        + 48
        + match first {
            First::Waiting { row, .. } => row.len(),
            First::Emitted => 0,
        }
}

/// The memory of a key listed as due: its copy and pointer.
fn due_bytes(key: &[u8]) -> usize {
    key.len() + 16
}

/// Keep-first deduplication on event time (see the module documentation).
pub struct KeepFirst {
    partition: Vec<Arc<dyn PhysicalExpr>>,
    /// The input column of the event time.
    time: usize,
    /// The input columns, then the row number (always 1).
    schema: SchemaRef,
    keys: Option<RowConverter>,
    rows: RowConverter,
    firsts: HashMap<Box<[u8]>, First>,
    /// Keys waiting to emit, by the time of their row.
    due: BTreeMap<i64, Vec<Box<[u8]>>>,
    /// The size of `firsts` and `due`, kept as they change (measuring it is then no walk
    /// over every key).
    bytes: usize,
    watermark: Watermark,
    late: LateRows,
}

impl KeepFirst {
    /// The first row per `partition` by the time in column `time` of rows of `input`; output
    /// rows have `schema` (the input's columns, then the row number).
    pub fn new(
        partition: Vec<Arc<dyn PhysicalExpr>>,
        time: usize,
        schema: SchemaRef,
        input: &SchemaRef,
        late: LateRows,
    ) -> Result<KeepFirst> {
        let keys = partition
            .iter()
            .map(|e| Ok(SortField::new(e.data_type(input)?)))
            .collect::<Result<Vec<_>>>()?;
        let rows = input
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        Ok(KeepFirst {
            keys: (!keys.is_empty())
                .then(|| RowConverter::new(keys))
                .transpose()?,
            rows: RowConverter::new(rows)?,
            partition,
            time,
            schema,
            firsts: HashMap::new(),
            due: BTreeMap::new(),
            bytes: 0,
            watermark: NO_WATERMARK,
            late,
        })
    }

    /// The size of `firsts` and `due`, counted entry by entry.
    fn held_bytes(&self) -> usize {
        let firsts = self.firsts.iter().map(|(k, f)| entry_bytes(k, f));
        let due = self.due.values().flatten().map(|k| due_bytes(k));
        firsts.sum::<usize>() + due.sum::<usize>()
    }

    /// Emits the waiting rows whose time the watermark reached.
    fn emit(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        let mut rows = Vec::new();
        while let Some(entry) = self.due.first_entry() {
            if *entry.key() > watermark {
                break;
            }
            let time = *entry.key();
            for key in entry.remove() {
                self.bytes -= due_bytes(&key);
                // A key listed at a time it no longer waits for found an earlier row since.
                if let Some(first) = self.firsts.get_mut(&key)
                    && matches!(first, First::Waiting { time: t, .. } if *t == time)
                    && let First::Waiting { row, .. } = std::mem::replace(first, First::Emitted)
                {
                    self.bytes -= row.len();
                    rows.push(row);
                }
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        let ranks = vec![1; rows.len()];
        let data = ranked_rows(&self.rows, rows.iter().map(|r| &r[..]), ranks, &self.schema)?;
        out.push(Message::Batch(ChangeBatch {
            data,
            ops: None,
            // Stamped with the watermark before this one, as window aggregation does.
            watermarks: Some(Int64Array::from(vec![self.watermark; rows.len()])),
        }));
        Ok(())
    }
}

impl Operator for KeepFirst {
    fn state_bound(&self) -> super::StateBound {
        super::StateBound::Unbounded("distinct keys (a mark each once emitted)")
    }

    fn name(&self) -> &str {
        "KeepFirst (state: per key its earliest row until the watermark reaches it, then a mark)"
    }

    fn on_batch(
        &mut self,
        _input: usize,
        batch: ChangeBatch,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        // Late: before the watermark current when the row came (Flink's `<`, not `<=`).
        let times = cast(batch.data.column(self.time), &DataType::Int64)?;
        let times = times.as_primitive::<Int64Type>();
        let stamps = batch.watermarks.as_ref();
        let keep: Vec<bool> = (0..batch.num_rows())
            .map(|i| {
                let before = stamps.map_or(self.watermark, |s| s.value(i).max(self.watermark));
                times.is_valid(i) && times.value(i) >= before
            })
            .collect();
        let late: Vec<u32> = (0..keep.len() as u32)
            .filter(|&i| !keep[i as usize])
            .collect();
        self.late.record(&batch.data, late, out)?;
        let on_time = filter_record_batch(&batch.data, &BooleanArray::from(keep))?;
        let n = on_time.num_rows();
        let keys = match &self.keys {
            Some(converter) => {
                let columns = self
                    .partition
                    .iter()
                    .map(|e| Ok(e.evaluate(&on_time)?.into_array(n)?))
                    .collect::<Result<Vec<_>>>()?;
                Some(converter.convert_columns(&columns)?)
            }
            None => None,
        };
        let rows = self.rows.convert_columns(on_time.columns())?;
        let times = cast(on_time.column(self.time), &DataType::Int64)?;
        let times = times.as_primitive::<Int64Type>();
        for i in 0..n {
            let key = keys.as_ref().map_or(&[][..], |k| k.row(i).data());
            let time = times.value(i);
            let earlier = match self.firsts.get(key) {
                None => true,
                Some(First::Waiting { time: t, .. }) => time < *t,
                Some(First::Emitted) => false,
            };
            if earlier {
                let first = First::Waiting {
                    row: rows.row(i).data().into(),
                    time,
                };
                self.bytes += entry_bytes(key, &first) + due_bytes(key);
                if let Some(replaced) = self.firsts.insert(key.into(), first) {
                    self.bytes -= entry_bytes(key, &replaced);
                }
                self.due.entry(time).or_default().push(key.into());
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        self.emit(watermark, out)?;
        self.watermark = watermark;
        out.push(Message::Watermark(watermark));
        Ok(())
    }

    fn on_end(&mut self, out: &mut Vec<Message>) -> Result<()> {
        self.emit(Watermark::MAX, out)
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        let mut times: Vec<Option<i64>> = Vec::with_capacity(self.firsts.len());
        let firsts = self.firsts.iter().map(|(key, first)| match first {
            First::Waiting { row, time } => {
                times.push(Some(*time));
                (key.as_ref(), row.as_ref())
            }
            First::Emitted => {
                times.push(None);
                (key.as_ref(), &[][..])
            }
        });
        state.put_byte_pairs("firsts", firsts)?;
        state.put("times", &times)?;
        // The keys due, in the order they are emitted in.
        let due: Vec<(i64, usize)> = self.due.iter().map(|(t, keys)| (*t, keys.len())).collect();
        state.put_byte_strings("due", self.due.values().flatten().map(|k| &k[..]))?;
        state.put("due.times", &(due, self.watermark))?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        let times: Vec<Option<i64>> = state.get("times")?;
        for ((key, row), time) in state.byte_pairs("firsts")?.iter().zip(times) {
            let first = match time {
                Some(time) => First::Waiting {
                    row: row.into(),
                    time,
                },
                None => First::Emitted,
            };
            self.firsts.insert(key.into(), first);
        }
        let (due, watermark): (Vec<(i64, usize)>, Watermark) = state.get("due.times")?;
        let keys = state.byte_strings("due")?;
        let mut keys = keys.iter();
        for (time, count) in due {
            self.due
                .insert(time, keys.by_ref().take(count).map(Box::from).collect());
        }
        self.watermark = watermark;
        self.bytes = self.held_bytes();
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;
    use arrow::datatypes::{Field, Schema};
    use datafusion_physical_expr::expressions::Column;

    use super::*;
    use crate::metrics::JobMetrics;
    use crate::operator::testing::{keyed_batch, keyed_schema, random};

    fn emitted(out: &[Message]) -> Vec<i64> {
        out.iter()
            .filter_map(|m| match m {
                Message::Batch(b) => Some(b.data.column(1).as_primitive::<Int64Type>().clone()),
                _ => None,
            })
            .flat_map(|v| v.values().to_vec())
            .collect()
    }

    /// The first row per `key` by `ts`, counting late rows in `metrics`.
    fn keep_first(metrics: &Arc<JobMetrics>) -> KeepFirst {
        let input = keyed_schema("ts");
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("rn", DataType::UInt64, true));
        let late = LateRows::new(metrics.clone());
        let key = Arc::new(Column::new("key", 0));
        let schema = Arc::new(Schema::new(fields));
        KeepFirst::new(vec![key], 2, schema, &input, late).unwrap()
    }

    /// The state measured is the sum of its entries, as rows come, earlier rows replace
    /// waiting ones, the watermark emits them, and after a restore.
    #[test]
    fn the_state_measured_is_the_state_held() {
        let metrics = Arc::new(JobMetrics::default());
        let mut op = keep_first(&metrics);
        let keys: Vec<String> = (0..1000)
            .map(|i| format!("{}{i}", "k".repeat(i % 7)))
            .collect();
        let mut next = random(5);
        let (mut watermark, mut out) = (0, Vec::new());
        for step in 0..300 {
            let rows: Vec<(&str, i64, i64, i64)> = (0..1 + next(6))
                .map(|_| {
                    // Keys come for a few steps each, some rows earlier than others.
                    let key = &keys[step * 3 + next(20) as usize];
                    (
                        key.as_str(),
                        0,
                        watermark + next(400) as i64 - 20,
                        watermark,
                    )
                })
                .collect();
            op.on_batch(0, keyed_batch("ts", &rows), &mut out).unwrap();
            if next(3) == 0 {
                watermark += next(100) as i64;
                op.on_watermark(watermark, &mut out).unwrap();
            }
            assert_eq!(op.state_bytes(), op.held_bytes(), "step {step}");
            if step == 150 {
                let state = op.snapshot().unwrap();
                op = keep_first(&metrics);
                op.restore(&state).unwrap();
                assert_eq!(op.state_bytes(), op.held_bytes(), "restored");
            }
        }
        assert!(!emitted(&out).is_empty() && !op.due.is_empty());
        op.on_end(&mut out).unwrap();
        assert_eq!(op.state_bytes(), op.held_bytes(), "at the end");
    }

    #[test]
    fn a_restored_operator_goes_on_as_the_first_would() {
        let inputs = [
            keyed_batch(
                "ts",
                &[("a", 1, 200, 0), ("a", 2, 100, 0), ("b", 3, 300, 0)],
            ),
            keyed_batch("ts", &[("c", 6, 260, 0), ("b", 7, 280, 0)]),
        ]
        .into_iter()
        .map(Message::Batch)
        .chain([Message::Watermark(250)])
        .chain([Message::Batch(keyed_batch(
            "ts",
            &[("a", 4, 50, 250), ("c", 8, 255, 250)],
        ))])
        .chain([Message::End])
        .map(|m| (0, m))
        .collect::<Vec<_>>();
        let metrics = Arc::new(JobMetrics::default());
        crate::operator::testing::assert_restores(|| Box::new(keep_first(&metrics)), &inputs);
    }

    #[test]
    fn the_earliest_row_is_emitted_once_the_watermark_reaches_it() {
        let metrics = Arc::new(JobMetrics::default());
        let mut first = keep_first(&metrics);
        let mut out = Vec::new();
        // For "a", the row at 100 arrives after the one at 200: it is the first.
        let rows = [("a", 1, 200, 0), ("a", 2, 100, 0), ("b", 3, 300, 0)];
        first
            .on_batch(0, keyed_batch("ts", &rows), &mut out)
            .unwrap();
        first.on_watermark(250, &mut out).unwrap();
        assert_eq!(emitted(&out), [2]);
        // Nothing more for "a"; a row of "b" behind the watermark is late.
        out.clear();
        let rows = [("a", 4, 50, 250), ("b", 5, 240, 250)];
        first
            .on_batch(0, keyed_batch("ts", &rows), &mut out)
            .unwrap();
        assert_eq!(JobMetrics::get(&metrics.late_rows), 2);
        first.on_end(&mut out).unwrap();
        assert_eq!(emitted(&out), [3]);
    }
}
