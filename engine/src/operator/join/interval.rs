//! Interval joins: rows of two event-time streams whose times lie within bounds of each other
//! (`l.ts BETWEEN r.ts - INTERVAL .. AND r.ts + INTERVAL ..`), as Flink's `RowTimeIntervalJoin`
//! runs them. Output is append-only and keeps both time attributes.
//!
//! Each side keeps its rows, by join key, only while a partner can still arrive: a left row
//! at `t` can meet right rows up to `t - lower`, so it is kept while the watermark is below
//! that, and dropped (null-padded first if it never matched and the left side is outer) once
//! the watermark passes it. A row that arrives after that point is still joined with what
//! the other side holds, then padded at once if it found nothing. The output watermark is
//! held back by the larger of the two distances, so that joined rows are not late downstream.

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};

use super::arena::Entry;
use super::state::{Emitted, KeyEncoder, Probe, Side, in_order, key_of, null_columns};
use super::{JoinSpec, describe_keys};
use crate::Result;
use crate::batch::{ChangeBatch, Message, RowKind};
use crate::checkpoint::State;
use crate::operator::Operator;
use crate::operator::expiry::Expiry;
use crate::time::{NO_WATERMARK, Watermark};

/// The time condition of an interval join: `lower <= l.t - r.t <= upper`, in milliseconds,
/// over the time columns `times` of the left and right input.
#[derive(Debug, Clone, Copy)]
pub struct IntervalBounds {
    pub times: [usize; 2],
    pub lower: i64,
    pub upper: i64,
}

/// A row's time, and whether it has matched (so needs no padding).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Timed {
    time: i64,
    matched: bool,
}

impl super::state::Note for Timed {
    const WIDTH: usize = 2;

    fn number(&self, i: usize) -> i64 {
        match i {
            0 => self.time,
            _ => i64::from(self.matched),
        }
    }

    fn from_numbers(numbers: impl Fn(usize) -> i64) -> Self {
        Timed {
            time: numbers(0),
            matched: numbers(1) != 0,
        }
    }
}

/// An interval join (see the module documentation).
pub struct IntervalJoin {
    name: String,
    spec: JoinSpec,
    bounds: IntervalBounds,
    keys: KeyEncoder,
    sides: [Side<Timed>; 2],
    /// Per side, when buckets have rows the watermark passed: at their oldest row's time.
    expiry: [Expiry; 2],
    watermark: Watermark,
    /// The output watermark last sent.
    sent: Watermark,
}

impl IntervalJoin {
    /// An interval join of `spec` (INNER, LEFT, RIGHT or FULL) under `bounds`.
    pub fn new(spec: JoinSpec, bounds: IntervalBounds) -> Result<IntervalJoin> {
        let keys = KeyEncoder::new(&spec.key_types, spec.nulls_equal)?;
        let sides = [Side::new(&spec.inputs[0])?, Side::new(&spec.inputs[1])?];
        let name = format!(
            "IntervalJoin {} ({}; {} <= left time - right time <= {} ms; state: left rows \
             until the watermark passes their time + {} ms, right rows until it passes their \
             time + {} ms)",
            spec.join_type.name(),
            describe_keys(spec.key_types.len()),
            bounds.lower,
            bounds.upper,
            -bounds.lower,
            bounds.upper,
        );
        Ok(IntervalJoin {
            name,
            spec,
            bounds,
            keys,
            sides,
            expiry: [Expiry::default(), Expiry::default()],
            watermark: NO_WATERMARK,
            sent: NO_WATERMARK,
        })
    }

    /// How far behind its own time a row of `side` can still meet a partner: the left row
    /// at `t` meets right rows up to `t - lower`, the right row at `t` left rows up to
    /// `t + upper`.
    fn reach(&self, side: usize) -> i64 {
        match side {
            0 => -self.bounds.lower,
            _ => self.bounds.upper,
        }
    }

    /// The times of the other side's partners of a row of `side` at `time`.
    fn partner_times(&self, side: usize, time: i64) -> (i64, i64) {
        let IntervalBounds { lower, upper, .. } = self.bounds;
        match side {
            0 => (time.saturating_sub(upper), time.saturating_sub(lower)),
            _ => (time.saturating_add(lower), time.saturating_add(upper)),
        }
    }

    /// The rows' times of input `side` (NULL: never matches, never kept).
    fn times(&self, side: usize, batch: &RecordBatch) -> Result<Int64Array> {
        let column = batch.column(self.bounds.times[side]);
        Ok(cast(column, &DataType::Int64)?
            .as_primitive::<Int64Type>()
            .clone())
    }

    /// Drops the rows of `side` the watermark has passed (up to `expiration`), padding those
    /// of an outer side that never matched.
    fn expire(&mut self, side: usize, expiration: i64, out: &mut Vec<Message>) -> Result<()> {
        let pads = self.spec.join_type.keeps_unmatched(side);
        let mut padded = Vec::new();
        let mut ends = Vec::new();
        for slot in self.expiry[side].due(expiration) {
            self.sides[side].retain(
                slot,
                |m| m.time > expiration,
                |row, m| {
                    if pads && !m.matched {
                        padded.extend_from_slice(row);
                        ends.push(padded.len());
                    }
                },
            );
            let bucket = &self.sides[side].buckets[slot];
            if let Some(oldest) = bucket.entries.iter().map(|e| e.meta.time).min() {
                self.expiry[side].list(slot, oldest);
            }
        }
        if !ends.is_empty() {
            let mut start = 0;
            let rows = ends.iter().map(|&end| {
                let row = &padded[start..end];
                start = end;
                Some(row)
            });
            let own = self.sides[side].columns(rows)?;
            let nulls = null_columns(&self.spec.inputs[1 - side], ends.len());
            out.push(Message::Batch(self.output(in_order(side, own, nulls))?));
        }
        Ok(())
    }

    /// An output batch of `columns`, stamped with the watermark downstream operators have
    /// (rows padded as a watermark passes them go out before that watermark does).
    fn output(&self, columns: Vec<ArrayRef>) -> Result<ChangeBatch> {
        let n = columns.first().map_or(0, |c| c.len());
        let data = RecordBatch::try_new(self.spec.output.clone(), columns)?;
        Ok(ChangeBatch {
            data,
            ops: None,
            watermarks: Some(Int64Array::from(vec![self.sent; n])),
        })
    }

    /// The output watermark for operator time `watermark`.
    fn held_back(&self, watermark: Watermark) -> Watermark {
        let delay = self.reach(0).max(self.reach(1)).max(0);
        match watermark {
            NO_WATERMARK | i64::MAX => watermark,
            w => w.saturating_sub(delay),
        }
    }

    fn advance(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        self.watermark = watermark;
        for side in 0..2 {
            let expiration = match watermark {
                i64::MAX => i64::MAX,
                w => w.saturating_sub(self.reach(side)).saturating_sub(1),
            };
            self.expire(side, expiration, out)?;
        }
        Ok(())
    }
}

impl Operator for IntervalJoin {
    fn state_bound(&self) -> crate::operator::StateBound {
        crate::operator::StateBound::Watermark("rows")
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        for (i, side) in self.sides.iter().enumerate() {
            side.snapshot(&mut state, &format!("side{i}"))?;
        }
        state.put("expiry", &(&self.expiry, self.watermark, self.sent))?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        for (i, side) in self.sides.iter_mut().enumerate() {
            side.restore(state, &format!("side{i}"))?;
        }
        (self.expiry, self.watermark, self.sent) = state.get("expiry")?;
        Ok(())
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn on_batch(&mut self, input: usize, batch: ChangeBatch, out: &mut Vec<Message>) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let times = self.times(input, &batch.data)?;
        let (keys, mut matchable) = self.keys.encode(&self.spec.keys[input], &batch.data)?;
        if times.null_count() > 0 {
            let valid = arrow::compute::is_not_null(&times)?;
            matchable = arrow::compute::and(&matchable, &valid)?;
        }
        let probe = Probe {
            side: input,
            batch: &batch.data,
            keys: keys.as_ref(),
            matchable: &matchable,
            inputs: &self.spec.inputs,
            filter: self.spec.filter.as_ref(),
        };
        // A key's rows are kept in time order: the partners are a run of them.
        let partners = |i: usize, entries: &[Entry<Timed>]| {
            let (from, to) = self.partner_times(input, times.value(i));
            entries.partition_point(|e| e.meta.time < from)
                ..entries.partition_point(|e| e.meta.time <= to)
        };
        let (matches, offsets) = probe.matches(&self.sides[1 - input], partners, |_, _| true)?;
        let rows = self.sides[input].encode(&batch.data)?;
        let join_type = self.spec.join_type;
        let (input_outer, other_outer) = (
            join_type.keeps_unmatched(input),
            join_type.keeps_unmatched(1 - input),
        );
        let mut emitted = Emitted::default();
        for i in 0..batch.num_rows() {
            let found = &matches[offsets[i]..offsets[i + 1]];
            for m in found {
                if other_outer {
                    self.sides[1 - input].buckets[m.bucket].entries[m.entry]
                        .meta
                        .matched = true;
                }
                emitted.push(RowKind::Insert, Some(i as u32), Some(*m));
            }
            let matched = !found.is_empty();
            let time = times.value(i);
            let keep = matchable.value(i) && self.watermark < self.partner_times(input, time).1;
            if keep {
                let key = key_of(keys.as_ref(), i);
                let held = Timed { time, matched };
                let slot = self.sides[input].add_sorted(key, rows.row(i), held, |m| m.time <= time);
                self.expiry[input].list(slot, time);
            } else if !matched && input_outer {
                emitted.push(RowKind::Insert, Some(i as u32), None);
            }
        }
        if !emitted.kinds.is_empty() {
            let columns = emitted.columns(input, &batch.data, &self.sides[1 - input])?;
            out.push(Message::Batch(self.output(columns)?));
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        self.advance(watermark, out)?;
        let held = self.held_back(watermark);
        if held > self.sent {
            self.sent = held;
            out.push(Message::Watermark(held));
        }
        Ok(())
    }

    fn on_end(&mut self, out: &mut Vec<Message>) -> Result<()> {
        self.advance(i64::MAX, out)
    }

    fn state_bytes(&self) -> usize {
        let expiry: usize = self.expiry.iter().map(Expiry::bytes).sum();
        expiry + self.sides.iter().map(Side::bytes).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::operator::JoinType;
    use crate::operator::testing::{keyed_batch, keyed_join_spec};

    /// `l.ts BETWEEN r.ts - 10 AND r.ts + 5` on rows `(key, v, ts)` of both sides.
    fn interval_join(join_type: JoinType) -> IntervalJoin {
        let spec = keyed_join_spec(join_type, "ts");
        let bounds = IntervalBounds {
            times: [2, 2],
            lower: -10,
            upper: 5,
        };
        IntervalJoin::new(spec, bounds).unwrap()
    }

    /// `(left v, right v)` of the joined rows emitted (`None` for padding).
    fn pairs(out: &[Message]) -> Vec<(Option<i64>, Option<i64>)> {
        let mut pairs = Vec::new();
        for message in out {
            let Message::Batch(b) = message else { continue };
            let l = b.data.column(1).as_primitive::<Int64Type>();
            let r = b.data.column(4).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                pairs.push((
                    l.is_valid(i).then(|| l.value(i)),
                    r.is_valid(i).then(|| r.value(i)),
                ));
            }
        }
        pairs
    }

    #[test]
    fn a_restored_join_goes_on_as_the_first_would() {
        let inputs = vec![
            (
                0,
                Message::Batch(keyed_batch("ts", &[("a", 1, 100, 0), ("a", 2, 200, 0)])),
            ),
            (
                1,
                Message::Batch(keyed_batch("ts", &[("a", 10, 108, 0), ("b", 3, 50, 0)])),
            ),
            (0, Message::Watermark(111)),
            (1, Message::Batch(keyed_batch("ts", &[("a", 11, 195, 111)]))),
            (0, Message::Batch(keyed_batch("ts", &[("b", 4, 150, 111)]))),
            (0, Message::Watermark(211)),
            (0, Message::End),
        ];
        crate::operator::testing::assert_restores(
            || Box::new(interval_join(JoinType::Full)),
            &inputs,
        );
    }

    #[test]
    fn rows_are_kept_until_the_watermark_passes_their_last_partner() {
        let mut join = interval_join(JoinType::Left);
        let mut out = Vec::new();
        // Left rows at 100 and 200: partners are right rows at [l - 5, l + 10].
        join.on_batch(
            0,
            keyed_batch("ts", &[("a", 1, 100, 0), ("a", 2, 200, 0)]),
            &mut out,
        )
        .unwrap();
        join.on_batch(1, keyed_batch("ts", &[("a", 10, 108, 0)]), &mut out)
            .unwrap();
        assert_eq!(pairs(&out), [(Some(1), Some(10))]);
        out.clear();
        let rows = |join: &IntervalJoin| [join.sides[0].rows(), join.sides[1].rows()];
        assert_eq!(rows(&join), [2, 1]);
        // The watermark passes 110: the left row at 100 can meet nothing more (it matched,
        // so it is dropped without padding); the right row at 108 can still meet left rows
        // up to 113.
        join.on_watermark(111, &mut out).unwrap();
        assert!(pairs(&out).is_empty());
        assert_eq!(rows(&join), [1, 1], "the row at 100 is freed");
        // Past 210, the unmatched left row at 200 is padded, and past 113 the right row goes.
        join.on_watermark(211, &mut out).unwrap();
        assert_eq!(pairs(&out), [(Some(2), None)]);
        assert_eq!(rows(&join), [0, 0], "nothing left in state");
        // The output watermark is held back by the larger reach (10).
        assert!(matches!(out.last(), Some(Message::Watermark(201))));
    }

    #[test]
    fn a_row_after_its_partners_expired_is_joined_with_what_is_left_then_padded() {
        let mut join = interval_join(JoinType::Full);
        let mut out = Vec::new();
        join.on_watermark(500, &mut out).unwrap();
        out.clear();
        // Late on both sides: nothing to meet, nothing kept, padded at once.
        join.on_batch(0, keyed_batch("ts", &[("a", 1, 100, 500)]), &mut out)
            .unwrap();
        join.on_batch(1, keyed_batch("ts", &[("a", 10, 100, 500)]), &mut out)
            .unwrap();
        assert_eq!(pairs(&out), [(Some(1), None), (None, Some(10))]);
        assert_eq!([join.sides[0].rows(), join.sides[1].rows()], [0, 0]);
    }
}
