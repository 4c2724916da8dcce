//! Window joins: rows of two windowed inputs (window table functions, or window aggregations
//! as in Nexmark q8) joined within each window, as Flink's `WindowJoinOperator` does. Both
//! sides' rows are buffered by window end; when the watermark reaches a window's last
//! instant the window's rows are joined (INNER, LEFT, RIGHT, FULL, SEMI or ANTI), emitted,
//! and freed. Rows of a window that already fired are late: dropped and counted.

use std::collections::BTreeMap;

use arrow::array::{Int64Array, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};

use super::state::{
    Emitted, KeyEncoder, Match, Probe, Side, in_order, key_of, null_columns, take_rows,
};
use super::{JoinSpec, JoinType, describe_keys};
use crate::batch::{ChangeBatch, Message, RowKind};
use crate::checkpoint::State;
use crate::late::LateRows;
use crate::operator::timed::rows_by_window;
use crate::operator::{Operator, batches_bytes};
use crate::time::{NO_WATERMARK, Watermark};
use crate::{EngineError, Result};

/// A window join (see the module documentation).
pub struct WindowJoin {
    name: String,
    spec: JoinSpec,
    /// The `window_end` column of each input.
    ends: [usize; 2],
    keys: KeyEncoder,
    /// Rows of open windows by window end: the left input's, then the right's.
    windows: BTreeMap<i64, [Vec<RecordBatch>; 2]>,
    watermark: Watermark,
    late: [LateRows; 2],
}

impl WindowJoin {
    /// A join of `spec` within windows, the window end of each input in its column `ends`;
    /// late rows of each input go to `late`.
    pub fn new(spec: JoinSpec, ends: [usize; 2], late: [LateRows; 2]) -> Result<WindowJoin> {
        let keys = KeyEncoder::new(&spec.key_types, spec.nulls_equal)?;
        let name = format!(
            "WindowJoin {} ({}; state: left and right rows by window until the watermark \
             reaches the window's end)",
            spec.join_type.name(),
            describe_keys(spec.key_types.len())
        );
        Ok(WindowJoin {
            name,
            spec,
            ends,
            keys,
            windows: BTreeMap::new(),
            watermark: NO_WATERMARK,
            late,
        })
    }

    /// Joins the rows of every window whose last instant the watermark reached.
    fn fire(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        while let Some(entry) = self.windows.first_entry() {
            if entry.key() - 1 > watermark {
                break;
            }
            let [left, right] = entry.remove();
            let left = concat_batches(&self.spec.inputs[0], &left)?;
            let right = concat_batches(&self.spec.inputs[1], &right)?;
            if let Some(batch) = self.join(&left, &right)? {
                // Stamped with the watermark before this firing, as window aggregation does.
                let stamps = Int64Array::from(vec![self.watermark; batch.num_rows()]);
                out.push(Message::Batch(ChangeBatch {
                    data: batch,
                    ops: None,
                    watermarks: Some(stamps),
                }));
            }
        }
        Ok(())
    }

    /// The joined rows of one window.
    fn join(&self, left: &RecordBatch, right: &RecordBatch) -> Result<Option<RecordBatch>> {
        let mut rights: Side<bool> = Side::new(&self.spec.inputs[1])?;
        let (keys, right_matchable) = self.keys.encode(&self.spec.keys[1], right)?;
        let rows = rights.encode(right)?;
        let mut kept = 0;
        for i in (0..right.num_rows()).filter(|&i| right_matchable.value(i)) {
            rights.add(key_of(keys.as_ref(), i), rows.row(i), false);
            kept += 1;
        }
        let (keys, matchable) = self.keys.encode(&self.spec.keys[0], left)?;
        let probe = Probe {
            side: 0,
            batch: left,
            keys: keys.as_ref(),
            matchable: &matchable,
            inputs: &self.spec.inputs,
            filter: self.spec.filter.as_ref(),
        };
        let all = |_: usize, entries: &[_]| 0..entries.len();
        let (matches, offsets) = probe.matches(&rights, all, |_, _| true)?;
        let join_type = self.spec.join_type;
        if matches!(join_type, JoinType::Semi | JoinType::Anti) {
            let keep: Vec<u32> = (0..left.num_rows())
                .filter(|&i| (offsets[i + 1] > offsets[i]) == (join_type == JoinType::Semi))
                .map(|i| i as u32)
                .collect();
            let rows = take_record_batch(left, &UInt32Array::from(keep))?;
            return Ok((rows.num_rows() > 0).then_some(rows));
        }
        let mut emitted = Emitted::default();
        for i in 0..left.num_rows() {
            let found = &matches[offsets[i]..offsets[i + 1]];
            for m in found {
                rights.buckets[m.bucket].entries[m.entry].meta = true;
                emitted.push(RowKind::Insert, Some(i as u32), Some(*m));
            }
            if found.is_empty() && join_type.keeps_unmatched(0) {
                emitted.push(RowKind::Insert, Some(i as u32), None);
            }
        }
        if join_type.keeps_unmatched(1) {
            for (bucket, b) in rights.buckets.iter().enumerate() {
                for (entry, e) in b.entries.iter().enumerate() {
                    if !e.meta {
                        let m = Match { bucket, entry };
                        emitted.push(RowKind::Insert, None, Some(m));
                    }
                }
            }
        }
        let columns = emitted.columns(0, left, &rights)?;
        let mut batches = vec![RecordBatch::try_new(self.spec.output.clone(), columns)?];
        if join_type.keeps_unmatched(1) && kept < right.num_rows() {
            // Right rows with a NULL key matched nothing and were never kept: padded too.
            let unkeyed: Vec<u32> = (0..right.num_rows() as u32)
                .filter(|&i| !right_matchable.value(i as usize))
                .collect();
            let nulls = null_columns(&self.spec.inputs[0], unkeyed.len());
            let padded = in_order(1, take_rows(right, &unkeyed)?, nulls);
            batches.push(RecordBatch::try_new(self.spec.output.clone(), padded)?);
        }
        let rows = concat_batches(&self.spec.output, &batches)?;
        Ok((rows.num_rows() > 0).then_some(rows))
    }
}

impl Operator for WindowJoin {
    fn state_bound(&self) -> crate::operator::StateBound {
        crate::operator::StateBound::Watermark("windows")
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        for (i, sides) in self.windows.values().enumerate() {
            for (side, batches) in sides.iter().enumerate() {
                let schema = self.spec.inputs[side].clone();
                let schema = batches.first().map_or(schema, |b| b.schema());
                state.put_batches(&format!("w{i}.{side}"), schema, batches.clone());
            }
        }
        let ends: Vec<i64> = self.windows.keys().copied().collect();
        state.put("windows", &(ends, self.watermark))?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        let (ends, watermark): (Vec<i64>, Watermark) = state.get("windows")?;
        for (i, end) in ends.into_iter().enumerate() {
            let sides = [
                state.batches(&format!("w{i}.0"))?,
                state.batches(&format!("w{i}.1"))?,
            ];
            self.windows.insert(end, sides);
        }
        self.watermark = watermark;
        Ok(())
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn on_batch(&mut self, input: usize, batch: ChangeBatch, out: &mut Vec<Message>) -> Result<()> {
        if batch.ops.is_some() {
            return Err(EngineError::Other(
                "a window join needs insert-only inputs".into(),
            ));
        }
        let split = rows_by_window(&batch, self.ends[input], self.watermark, 0)?;
        self.late[input].record(&batch.data, split.late, out)?;
        for (end, rows) in split.windows {
            let part = match rows {
                None => batch.data.clone(),
                Some(rows) => take_record_batch(&batch.data, &UInt32Array::from(rows))?,
            };
            self.windows.entry(end).or_default()[input].push(part);
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

    fn state_bytes(&self) -> usize {
        batches_bytes(self.windows.values().flatten().flatten())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;

    use super::*;
    use crate::metrics::JobMetrics;
    use crate::operator::testing::{keyed_batch, keyed_join_spec};

    /// A LEFT window join on `key` of rows `(key, v, window_end)`.
    fn window_join(metrics: &Arc<JobMetrics>) -> WindowJoin {
        let spec = keyed_join_spec(JoinType::Left, "window_end");
        let late = || LateRows::new(metrics.clone());
        WindowJoin::new(spec, [2, 2], [late(), late()]).unwrap()
    }

    fn pairs(out: &[Message]) -> Vec<(i64, Option<i64>)> {
        let mut pairs = Vec::new();
        for message in out {
            let Message::Batch(b) = message else { continue };
            let (l, r) = (
                b.data.column(1).as_primitive::<Int64Type>(),
                b.data.column(4).as_primitive::<Int64Type>(),
            );
            pairs
                .extend((0..b.num_rows()).map(|i| (l.value(i), r.is_valid(i).then(|| r.value(i)))));
        }
        pairs.sort();
        pairs
    }

    #[test]
    fn a_window_is_joined_when_it_fires_then_freed_and_late_rows_are_dropped() {
        let metrics = Arc::new(JobMetrics::default());
        let mut join = window_join(&metrics);
        let mut out = Vec::new();
        join.on_batch(
            0,
            keyed_batch(
                "window_end",
                &[("a", 1, 100, 0), ("b", 2, 100, 0), ("a", 3, 200, 0)],
            ),
            &mut out,
        )
        .unwrap();
        join.on_batch(
            1,
            keyed_batch("window_end", &[("a", 10, 100, 0), ("a", 30, 200, 0)]),
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty(), "nothing before the window fires");
        join.on_watermark(99, &mut out).unwrap();
        assert_eq!(pairs(&out), [(1, Some(10)), (2, None)]);
        assert_eq!(join.windows.len(), 1, "the window ending at 100 is freed");
        // A row of the window that fired is late: dropped and counted.
        out.clear();
        join.on_batch(
            1,
            keyed_batch("window_end", &[("b", 20, 100, 99)]),
            &mut out,
        )
        .unwrap();
        assert_eq!(JobMetrics::get(&metrics.late_rows), 1);
        join.on_end(&mut out).unwrap();
        assert_eq!(pairs(&out), [(3, Some(30))]);
        assert!(join.windows.is_empty());
    }
}
