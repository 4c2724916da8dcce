//! Session window aggregation: `GROUP BY window_start, window_end, keys...` over `SESSION`.
//! Each key has a few open sessions; a row opens one or merges the sessions it bridges. Every
//! session has a slot in one set of DataFusion `GroupsAccumulator`s; merged sessions share
//! their slots through a union-find, and a watermark that closes sessions compacts the slots,
//! merging accumulator states, so state stays bounded by the open sessions.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, TimestampMillisecondArray, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion_expr::{EmitTo, GroupsAccumulator};
use serde::{Deserialize, Serialize};

use super::Operator;
use super::aggregate::{
    GroupBy, KeyTable, WindowOutput, cast_to, restore_accumulators, snapshot_accumulators,
};
use super::timed::Timed;
use crate::batch::{ChangeBatch, Message};
use crate::checkpoint::State;
use crate::late::LateRows;
use crate::time::{NO_WATERMARK, Watermark, for_each_millis};
use crate::{EngineError, Result};

/// One open session of a key.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Session {
    start: i64,
    /// Exclusive: the last row's time plus the gap.
    end: i64,
    /// Its accumulator slot (after following merges).
    slot: u32,
    /// Input sequence number of its first row, to order output independently of batching.
    seq: u64,
}

/// Aggregates rows per key and session.
pub struct SessionAggregate {
    group_by: GroupBy,
    /// The input column holding event time.
    time: usize,
    gap: i64,
    output: Vec<WindowOutput>,
    schema: SchemaRef,
    /// Numbers the keys; `sessions[key]` are that key's open sessions.
    keys: KeyTable,
    sessions: Vec<Vec<Session>>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    /// Union-find over slots: a merged session's slots point at the surviving one.
    parent: Vec<u32>,
    rows_seen: u64,
    watermark: Watermark,
    late: LateRows,
    key_ids: Vec<usize>,
}

impl SessionAggregate {
    /// Sessions with inactivity `gap` (ms) per key of `group_by`, over event time in input
    /// column `time`; `output` says what each column of `schema` holds.
    pub fn new(
        group_by: GroupBy,
        time: usize,
        gap: i64,
        output: Vec<WindowOutput>,
        schema: SchemaRef,
        late: LateRows,
    ) -> Result<Self> {
        Ok(SessionAggregate {
            keys: group_by.new_key_table()?,
            accumulators: group_by.new_accumulators()?,
            group_by,
            time,
            gap,
            output,
            schema,
            sessions: Vec::new(),
            parent: Vec::new(),
            rows_seen: 0,
            watermark: NO_WATERMARK,
            late,
            key_ids: Vec::new(),
        })
    }

    /// How many sessions hold state.
    pub fn open_sessions(&self) -> usize {
        self.sessions.iter().map(Vec::len).sum()
    }

    fn root(&mut self, mut slot: u32) -> u32 {
        while self.parent[slot as usize] != slot {
            let up = self.parent[self.parent[slot as usize] as usize];
            self.parent[slot as usize] = up;
            slot = up;
        }
        slot
    }

    /// Puts a row at `ts` (watermark `stamp` before it) of key `key` into its session;
    /// `None` if it is late.
    fn place(&mut self, key: usize, ts: i64, stamp: Watermark, seq: u64) -> Option<u32> {
        let mut window = Session {
            start: ts,
            end: ts + self.gap,
            slot: u32::MAX,
            seq,
        };
        let mut merged: Vec<u32> = Vec::new();
        let list = &mut self.sessions[key];
        list.retain(|s| {
            // Sessions complete at this row's watermark have fired and take no more rows.
            let live = s.end - 1 > stamp;
            let touches = s.start <= window.end && s.end >= window.start;
            if !(live && touches) {
                return true;
            }
            window.start = window.start.min(s.start);
            window.end = window.end.max(s.end);
            window.seq = window.seq.min(s.seq);
            merged.push(s.slot);
            false
        });
        match merged.split_first() {
            None if window.end - 1 <= stamp => return None,
            None => {
                window.slot = self.parent.len() as u32;
                self.parent.push(window.slot);
            }
            Some((&first, rest)) => {
                let first = self.root(first);
                for &other in rest {
                    let other = self.root(other);
                    self.parent[other as usize] = first;
                }
                window.slot = first;
            }
        }
        self.sessions[key].push(window);
        Some(window.slot)
    }

    fn emit(
        &self,
        fired: &[(usize, Session)],
        keys: Vec<ArrayRef>,
        aggregates: Vec<ArrayRef>,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        let time = |f: &dyn Fn(&Session) -> i64| -> ArrayRef {
            Arc::new(TimestampMillisecondArray::from_iter_values(
                fired.iter().map(|(_, s)| f(s)),
            ))
        };
        let mut columns = Vec::with_capacity(self.output.len());
        for (what, field) in self.output.iter().zip(self.schema.fields()) {
            let column = match *what {
                WindowOutput::Start => time(&|s| s.start),
                WindowOutput::End => time(&|s| s.end),
                WindowOutput::Time => time(&|s| s.end - 1),
                WindowOutput::Key(i) => keys[i].clone(),
                WindowOutput::Aggregate(i) => aggregates[i].clone(),
            };
            columns.push(cast_to(column, field.data_type())?);
        }
        let mut batch = ChangeBatch::inserts(RecordBatch::try_new(self.schema.clone(), columns)?);
        batch.watermarks = Some(Int64Array::from(vec![self.watermark; fired.len()]));
        out.push(Message::Batch(batch));
        Ok(())
    }
}

impl Timed for SessionAggregate {
    /// Emits the sessions complete at `watermark` and compacts the state to the open ones.
    fn fire(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        let closed = |s: &Session| s.end - 1 <= watermark;
        if !self.sessions.iter().flatten().any(closed) {
            return Ok(());
        }
        // Fired sessions first, ordered by end and first row; then the open ones.
        let mut fired: Vec<(usize, Session)> = Vec::new();
        let mut open: Vec<(usize, Session)> = Vec::new();
        for (key, list) in std::mem::take(&mut self.sessions).into_iter().enumerate() {
            for s in list {
                if closed(&s) {
                    fired.push((key, s))
                } else {
                    open.push((key, s))
                }
            }
        }
        fired.sort_unstable_by_key(|(_, s)| (s.end, s.seq));
        let slots = self.parent.len();
        let mut new_index = vec![0usize; slots];
        let mut root_index = vec![usize::MAX; slots];
        for (i, (_, s)) in fired.iter().chain(open.iter()).enumerate() {
            let root = self.root(s.slot);
            root_index[root as usize] = i;
        }
        for (slot, index) in new_index.iter_mut().enumerate() {
            let root = self.root(slot as u32);
            *index = root_index[root as usize];
        }
        if new_index.contains(&usize::MAX) {
            return Err(EngineError::Other(
                "internal error: a session slot lost its session".into(),
            ));
        }
        let total = fired.len() + open.len();
        let mut fresh = self.group_by.new_accumulators()?;
        let mut aggregates = Vec::with_capacity(fresh.len());
        for (old, new) in self.accumulators.iter_mut().zip(fresh.iter_mut()) {
            let state = old.state(EmitTo::All)?;
            new.merge_batch(&state, &new_index, total)?;
            aggregates.push(new.evaluate(EmitTo::First(fired.len()))?);
        }
        self.accumulators = fresh;
        // Keys: emit all, keep those with open sessions.
        let keys = self.keys.take()?;
        let pick = |rows: &[(usize, Session)]| -> Result<Vec<ArrayRef>> {
            let indices = UInt32Array::from_iter_values(rows.iter().map(|(k, _)| *k as u32));
            Ok(keys
                .iter()
                .map(|k| take(k.as_ref(), &indices, None))
                .collect::<std::result::Result<Vec<_>, _>>()?)
        };
        let fired_keys = pick(&fired)?;
        self.keys
            .intern(&pick(&open)?, open.len(), &mut self.key_ids)?;
        self.sessions = vec![Vec::new(); self.keys.len()];
        self.parent = (0..open.len() as u32).collect();
        for (i, (_, mut s)) in open.into_iter().enumerate() {
            s.slot = i as u32;
            self.sessions[self.key_ids[i]].push(s);
        }
        self.emit(&fired, fired_keys, aggregates, out)
    }

    fn watermark_mut(&mut self) -> &mut Watermark {
        &mut self.watermark
    }
}

impl Operator for SessionAggregate {
    fn state_bound(&self) -> super::StateBound {
        super::StateBound::Watermark("sessions")
    }

    fn name(&self) -> &str {
        "SessionAggregate"
    }

    fn state_bytes(&self) -> usize {
        // One accumulator slot and one union-find entry per session.
        self.keys.size()
            + self.accumulators.iter().map(|a| a.size()).sum::<usize>()
            + self.parent.len() * (size_of::<Session>() + size_of::<u32>())
    }

    fn on_batch(
        &mut self,
        _input: usize,
        batch: ChangeBatch,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        if batch.ops.is_some() {
            return Err(EngineError::Other(
                "session window aggregation needs an insert-only input".into(),
            ));
        }
        let rows = batch.num_rows();
        let input = self.group_by.evaluate(&batch.data)?;
        let mut key_ids = std::mem::take(&mut self.key_ids);
        self.keys.intern(&input.keys, rows, &mut key_ids)?;
        let keys = self.keys.len();
        if self.sessions.len() < keys {
            self.sessions.resize_with(keys, Vec::new);
        }
        let stamps = batch.watermarks.as_ref().map(|w| w.values().clone());
        let mut slots: Vec<usize> = Vec::with_capacity(rows);
        let mut kept: Vec<u32> = Vec::with_capacity(rows);
        let mut times = Vec::with_capacity(rows);
        for_each_millis(batch.data.column(self.time), |t| times.push(t))?;
        for (row, ts) in times.into_iter().enumerate() {
            let Some(ts) = ts else {
                return Err(EngineError::Other(format!(
                    "the event-time column '{}' is NULL; window functions need a time on every row",
                    batch.data.schema().field(self.time).name()
                )));
            };
            let stamp = stamps.as_ref().map_or(NO_WATERMARK, |s| s[row]);
            let seq = self.rows_seen + row as u64;
            if let Some(slot) = self.place(key_ids[row], ts, stamp, seq) {
                slots.push(slot as usize);
                kept.push(row as u32);
            }
        }
        self.rows_seen += rows as u64;
        self.key_ids = key_ids;
        let late = rows - kept.len();
        if late > 0 {
            let mut next = kept.iter().peekable();
            let dropped: Vec<u32> = (0..rows as u32)
                .filter(|r| next.next_if_eq(&r).is_none())
                .collect();
            self.late.record(&batch.data, dropped, out)?;
        }
        let input = if late > 0 {
            input.take(&UInt32Array::from(kept))?
        } else {
            input
        };
        let total = self.parent.len();
        for (accumulator, (args, filter)) in self.accumulators.iter_mut().zip(&input.arguments) {
            accumulator.update_batch(args, &slots, filter.as_ref(), total)?;
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
        let keys = self.keys.len();
        state.put_columns("keys", self.keys.snapshot()?, keys)?;
        let slots = self.parent.len();
        snapshot_accumulators(
            &self.group_by,
            &mut self.accumulators,
            slots,
            &mut state,
            "slots",
        )?;
        state.put("sessions", &self.sessions)?;
        state.put("parent", &self.parent)?;
        state.put("progress", &(self.rows_seen, self.watermark))?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        let (keys, rows) = state.columns("keys")?;
        self.keys.intern(&keys, rows, &mut self.key_ids)?;
        self.sessions = state.get("sessions")?;
        self.parent = state.get("parent")?;
        let slots = self.parent.len();
        self.accumulators = restore_accumulators(&self.group_by, state, "slots", slots)?;
        (self.rows_seen, self.watermark) = state.get("progress")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;

    use super::*;
    use crate::metrics::JobMetrics;
    use crate::operator::aggregate::tests::{count_and_sum, rows, windowed_count_and_sum};
    use crate::operator::testing::{keyed_batch, keyed_schema};

    fn input_schema() -> SchemaRef {
        keyed_schema("ts")
    }

    fn batch(rows: &[(&str, i64, i64, i64)]) -> ChangeBatch {
        keyed_batch("ts", rows)
    }

    fn operator() -> (SessionAggregate, Arc<JobMetrics>) {
        let metrics = Arc::new(JobMetrics::default());
        let (output, layout) = windowed_count_and_sum();
        let late = LateRows::new(metrics.clone());
        let op = SessionAggregate::new(count_and_sum(input_schema()), 2, 10, layout, output, late)
            .unwrap();
        (op, metrics)
    }

    /// Sessions as `key:count:sum@start-end`.
    fn sessions(messages: &[Message]) -> Vec<String> {
        let mut out = Vec::new();
        let values = rows(messages, 2);
        let mut i = 0;
        for m in messages {
            if let Message::Batch(b) = m {
                let t = |c: usize| {
                    b.data
                        .column(c)
                        .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                        .clone()
                };
                let (start, end) = (t(0), t(1));
                for r in 0..b.num_rows() {
                    out.push(format!("{}@{}-{}", values[i], start.value(r), end.value(r)));
                    i += 1;
                }
            } else {
                i += 1;
            }
        }
        out
    }

    const ROWS: [(&str, i64, i64, i64); 6] = [
        ("a", 1, 0, NO_WATERMARK),
        ("a", 2, 5, NO_WATERMARK),
        ("b", 7, 6, NO_WATERMARK),
        ("a", 3, 30, NO_WATERMARK),
        // Touches [30, 40): the second session becomes [20, 40).
        ("a", 4, 20, NO_WATERMARK),
        // Bridges [0, 15) and [20, 40): one session [0, 40).
        ("a", 5, 12, NO_WATERMARK),
    ];

    #[test]
    fn rows_bridging_sessions_merge_them_and_state_is_freed() {
        let (mut op, _) = operator();
        let mut out = Vec::new();
        op.on_batch(0, batch(&ROWS), &mut out).unwrap();
        assert_eq!(op.open_sessions(), 2);
        op.on_watermark(39, &mut out).unwrap();
        assert_eq!(sessions(&out), ["b:1:7@6-16", "a:5:15@0-40"]);
        assert_eq!(op.open_sessions(), 0);
    }

    #[test]
    fn a_restored_operator_goes_on_as_the_first_would() {
        let mut inputs: Vec<(usize, Message)> = (ROWS.iter())
            .map(|row| (0, Message::Batch(batch(&[*row]))))
            .collect();
        inputs.insert(3, (0, Message::Watermark(16)));
        inputs.push((0, Message::Watermark(35)));
        inputs.push((0, Message::End));
        crate::operator::testing::assert_restores(|| Box::new(operator().0), &inputs);
    }

    #[test]
    fn results_do_not_depend_on_batch_boundaries() {
        let (mut whole, _) = operator();
        let mut expected = Vec::new();
        whole.on_batch(0, batch(&ROWS), &mut expected).unwrap();
        whole.on_end(&mut expected).unwrap();
        let (mut single, _) = operator();
        let mut out = Vec::new();
        for row in ROWS {
            single.on_batch(0, batch(&[row]), &mut out).unwrap();
        }
        single.on_end(&mut out).unwrap();
        assert_eq!(sessions(&out), sessions(&expected));
    }

    #[test]
    fn a_late_row_opens_no_session_but_a_fired_one_is_not_reopened() {
        let (mut op, metrics) = operator();
        let mut out = Vec::new();
        op.on_batch(0, batch(&[("a", 1, 0, NO_WATERMARK)]), &mut out)
            .unwrap();
        op.on_watermark(9, &mut out).unwrap();
        // [3, 13) would have touched the fired [0, 10): it is a new session, not a merge.
        // [-20, -10) ended before the watermark: late.
        op.on_batch(0, batch(&[("a", 2, 3, 9), ("a", 3, -20, 9)]), &mut out)
            .unwrap();
        op.on_end(&mut out).unwrap();
        assert_eq!(sessions(&out), ["a:1:1@0-10", "a:1:2@3-13"]);
        assert_eq!(JobMetrics::get(&metrics.late_rows), 1);
    }
}
