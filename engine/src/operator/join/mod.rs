//! Joins. This module holds regular joins of two changelogs, as Flink's streaming join runs
//! them: INNER, LEFT, RIGHT and FULL outer joins, and the semi and anti joins of `IN` /
//! `EXISTS` subqueries; its submodules the interval, window, temporal and multi-way joins, and
//! the state they share.
//!
//! Both inputs of a regular join are kept in state, by join key, for as long as the job runs
//! (or for their time to live, `'table.exec.state.ttl'`). A row arriving on
//! one side is matched against the other side's rows with its key (and the residual
//! predicate, evaluated on all candidate pairs of a batch at once), then added to or retracted
//! from its own side. What is emitted follows Flink's `JoinHelper` and `SemiAntiJoinHelper`
//! exactly: an inner join forwards its input's change kinds; a join with an outer side emits
//! `+I` and `-D` (except that a retraction from its inner side keeps its kind, `-U` or `-D`),
//! keeping, for each row of an outer side, how many rows it matches, so
//! that its null-padded row is retracted when its first match arrives (`-D[L,null]`,
//! `+I[L,R]`) and emitted again when its last match is retracted (`-D[L,R]`, `+I[L,null]`).
//! A semi (anti) join emits a left row while it has (has no) matches.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::row::Rows;
use datafusion_physical_expr::PhysicalExpr;
use encoding::EncodedRows;

use super::Operator;
use crate::Result;
use crate::batch::{ChangeBatch, Message, RowKind};
use crate::checkpoint::State;
use crate::operator::expiry::Expiry;
use crate::time::{NO_WATERMARK, Watermark};
use state::{Emitted, KeyEncoder, Match, Probe, Side, key_of};

mod arena;
mod encoding;
mod interval;
mod lookup;
mod multi;
mod state;
mod temporal;
mod window;

pub use interval::{IntervalBounds, IntervalJoin};
pub use lookup::LookupJoin;
pub use multi::{MultiJoin, MultiJoinSpec};
pub use temporal::TemporalJoin;
pub use window::WindowJoin;

/// How rows of the two inputs combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinType {
    Inner,
    Left,
    Right,
    Full,
    /// Left rows that have a match (`IN`, `EXISTS`).
    Semi,
    /// Left rows that have no match (`NOT IN`, `NOT EXISTS`).
    Anti,
}

impl JoinType {
    /// Whether rows of input `side` (0 = left) are kept when they match nothing: padded with
    /// nulls for outer joins, the rows semi and anti joins emit or hold back.
    fn keeps_unmatched(self, side: usize) -> bool {
        match self {
            JoinType::Inner => false,
            JoinType::Left | JoinType::Semi | JoinType::Anti => side == 0,
            JoinType::Right => side == 1,
            JoinType::Full => true,
        }
    }

    /// Whether only left rows are emitted (from `IN` / `EXISTS`).
    pub fn is_semi_or_anti(self) -> bool {
        matches!(self, JoinType::Semi | JoinType::Anti)
    }

    /// The name `EXPLAIN` shows.
    pub fn name(self) -> &'static str {
        match self {
            JoinType::Inner => "INNER",
            JoinType::Left => "LEFT",
            JoinType::Right => "RIGHT",
            JoinType::Full => "FULL",
            JoinType::Semi => "SEMI",
            JoinType::Anti => "ANTI",
        }
    }
}

/// What a join computes.
#[derive(Clone)]
pub struct JoinSpec {
    pub join_type: JoinType,
    /// The equi-join keys of the left and the right input, pairwise; with none, every pair of
    /// rows is a candidate (a theta join, all rows under one key).
    pub keys: [Vec<Arc<dyn PhysicalExpr>>; 2],
    /// The type both keys of a pair are compared as.
    pub key_types: Vec<DataType>,
    /// Whether NULL keys match each other (`IS NOT DISTINCT FROM`); otherwise a row with a
    /// NULL key matches nothing.
    pub nulls_equal: bool,
    /// The rest of the join condition, over the left columns followed by the right columns.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// The rows of each input.
    pub inputs: [SchemaRef; 2],
    /// The output rows: left then right columns, or the left columns of a semi or anti join.
    pub output: SchemaRef,
}

/// What a regular join notes about a row it holds. Packed to 4-byte alignment: 12 bytes
/// rather than 16, so that with the place of its row an entry takes 24 rather than 32
/// (Nexmark q7 holds 9.2 M at 10 M events).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[repr(C, packed(4))]
struct Held {
    /// For a side that keeps unmatched rows: how many rows of the other side it matches.
    matches: u32,
    /// The watermark when the row arrived, from which its time to live counts.
    arrived: Watermark,
}

impl state::Note for Held {
    const WIDTH: usize = 2;

    fn number(&self, i: usize) -> i64 {
        match i {
            0 => i64::from(self.matches),
            _ => self.arrived,
        }
    }

    fn from_numbers(numbers: impl Fn(usize) -> i64) -> Self {
        Held {
            matches: numbers(0) as u32,
            arrived: numbers(1),
        }
    }
}

const _: () = assert!(
    size_of::<arena::Entry<Held>>() == 24,
    "an entry of 24 bytes"
);

/// A regular join (see the module documentation).
pub struct Join {
    /// What `EXPLAIN` shows: the join kind and the state it keeps.
    name: String,
    spec: JoinSpec,
    keys: KeyEncoder,
    sides: [Side<Held>; 2],
    /// Per side, how long, in event time, a row is kept after it arrived
    /// (`'table.exec.state.ttl'`, or the `STATE_TTL` hint).
    ttl: [Option<i64>; 2],
    /// Per side, when buckets have rows whose time to live is over.
    expiry: [Expiry; 2],
    watermark: Watermark,
}

impl Join {
    /// A join computing `spec`, keeping each side's rows for ever, or for its `ttl` ms of
    /// event time (the watermark) after they arrived.
    pub fn new(spec: JoinSpec, ttl: [Option<i64>; 2]) -> Result<Join> {
        let keys = KeyEncoder::new(&spec.key_types, spec.nulls_equal)?;
        // A side kept for ever defers indexing its rows until a probe needs them there; a
        // side with a time to live lists each row's bucket for expiry as it comes.
        let side = |i: usize| {
            let side = Side::new(&spec.inputs[i])?;
            Ok::<_, crate::EngineError>(match ttl[i] {
                Some(_) => side,
                None => side.deferring_index(),
            })
        };
        let sides = [side(0)?, side(1)?];
        let lifetime = |side: &str, ttl: Option<i64>| match ttl {
            Some(ms) => format!("{side} rows until the watermark is {ms} ms past their arrival"),
            None => format!("{side} rows for ever"),
        };
        let name = format!(
            "RegularJoin {} ({}; state: {}, {})",
            spec.join_type.name(),
            describe_keys(spec.key_types.len()),
            lifetime("left", ttl[0]),
            lifetime("right", ttl[1]),
        );
        Ok(Join {
            name,
            spec,
            keys,
            sides,
            ttl,
            expiry: [Expiry::default(), Expiry::default()],
            watermark: NO_WATERMARK,
        })
    }

    /// Keeps about `budget` bytes of each input's rows in memory, and older ones in a
    /// temporary file.
    pub fn spilling_beyond(mut self, budget: usize) -> Self {
        self.sides = self
            .sides
            .map(|side| side.spilling_beyond(budget, std::env::temp_dir()));
        describe_spill(&mut self.name, budget);
        self
    }

    /// When each row of `batch` arrived: the watermark of its input before it (its stamp), or
    /// the operator's watermark for an input without event time.
    fn arrivals(&self, batch: &ChangeBatch) -> Vec<Watermark> {
        match &batch.watermarks {
            Some(stamps) => stamps.values().to_vec(),
            None => vec![self.watermark; batch.num_rows()],
        }
    }

    /// Drops the rows whose time to live is over at `watermark` (silently, as Flink's state
    /// TTL does: their results stand).
    fn expire(&mut self, watermark: Watermark) {
        for ((side, expiry), ttl) in self.sides.iter_mut().zip(&mut self.expiry).zip(self.ttl) {
            let Some(ttl) = ttl else { continue };
            let alive =
                |h: &Held| h.arrived == NO_WATERMARK || h.arrived.saturating_add(ttl) > watermark;
            for slot in expiry.due(watermark) {
                side.retain(slot, alive, |_, _| {});
                let bucket = &side.buckets[slot];
                let arrivals = bucket.entries.iter().map(|e| e.meta.arrived);
                if let Some(oldest) = arrivals.filter(|a| *a != NO_WATERMARK).min() {
                    expiry.list(slot, oldest.saturating_add(ttl));
                }
            }
        }
    }

    /// Applies rows of `batch` from input `side` to the state, in order, noting what to emit.
    fn apply(
        &mut self,
        side: usize,
        batch: &ChangeBatch,
        (keys, rows, matchable, arrivals): (
            Option<&Rows>,
            &EncodedRows,
            &BooleanArray,
            &[Watermark],
        ),
        (matches, offsets): (&[Match], &[usize]),
    ) -> Emitted {
        let join_type = self.spec.join_type;
        let input_outer = join_type.keeps_unmatched(side);
        let other_outer = join_type.keeps_unmatched(1 - side);
        let semi_anti = join_type.is_semi_or_anti();
        let anti = join_type == JoinType::Anti;
        let [left, right] = &mut self.sides;
        let (own, other) = if side == 0 {
            (left, right)
        } else {
            (right, left)
        };
        let mut out = Emitted::default();
        for i in 0..batch.num_rows() {
            let kind = batch.row_kind(i);
            let accumulate = matches!(kind, RowKind::Insert | RowKind::UpdateAfter);
            let found = &matches[offsets[i]..offsets[i + 1]];
            let row = rows.row(i);
            let key = key_of(keys, i);
            let me = Some(i as u32);
            if semi_anti {
                if side == 0 {
                    // A left row: emitted with its own kind while it has (anti: lacks) matches.
                    if found.is_empty() == anti {
                        out.push(kind, me, None);
                    }
                } else {
                    // A right row changes whether the left rows it matches have a match.
                    for m in found {
                        let count = &mut other.meta_mut(*m).matches;
                        let before = *count;
                        if accumulate {
                            *count += 1;
                        } else {
                            *count = count.saturating_sub(1);
                        }
                        let left_row = Some(*m);
                        match (accumulate, before, anti) {
                            (true, 0, false) => out.push(kind, None, left_row),
                            (true, 0, true) => out.push(RowKind::Delete, None, left_row),
                            (false, 1, false) => out.push(kind, None, left_row),
                            (false, 1, true) => out.push(RowKind::Insert, None, left_row),
                            _ => {}
                        }
                    }
                }
            } else if accumulate {
                if other_outer {
                    for m in found {
                        let count = &mut other.meta_mut(*m).matches;
                        if *count == 0 {
                            out.push(RowKind::Delete, None, Some(*m));
                        }
                        *count += 1;
                    }
                }
                if input_outer && found.is_empty() {
                    out.push(RowKind::Insert, me, None);
                }
                let kind = if input_outer || other_outer {
                    RowKind::Insert
                } else {
                    kind
                };
                for m in found {
                    out.push(kind, me, Some(*m));
                }
            } else {
                if input_outer && found.is_empty() {
                    out.push(RowKind::Delete, me, None);
                }
                let kind = if input_outer { RowKind::Delete } else { kind };
                for m in found {
                    out.push(kind, me, Some(*m));
                }
                if other_outer {
                    for m in found {
                        let count = &mut other.meta_mut(*m).matches;
                        if *count == 1 {
                            out.push(RowKind::Insert, None, Some(*m));
                        }
                        *count = count.saturating_sub(1);
                    }
                }
            }
            // A row with a NULL key can never match: it need not be kept.
            if matchable.value(i) {
                if accumulate {
                    let arrived = arrivals[i];
                    let held = Held {
                        matches: found.len() as u32,
                        arrived,
                    };
                    match self.ttl[side] {
                        Some(ttl) => {
                            let slot = own.add(key, row, held);
                            if arrived != NO_WATERMARK {
                                self.expiry[side].list(slot, arrived.saturating_add(ttl));
                            }
                        }
                        None => own.push(key, row, held),
                    }
                } else {
                    own.retract(key, row);
                }
            }
        }
        out
    }

    /// The output batch of `emitted` rows for an input batch from `side`.
    fn build(&self, side: usize, batch: &RecordBatch, emitted: Emitted) -> Result<ChangeBatch> {
        let n = emitted.kinds.len();
        let other = &self.sides[1 - side];
        let columns: Vec<ArrayRef> = match (self.spec.join_type.is_semi_or_anti(), side) {
            // Only left rows are emitted: from the input, or from the left state.
            (true, 0) => state::take_rows(batch, &emitted.input)?,
            (true, _) => other.match_columns(emitted.other.into_iter())?,
            (false, _) => emitted.columns(side, batch, other)?,
        };
        let options = RecordBatchOptions::new().with_row_count(Some(n));
        let data = RecordBatch::try_new_with_options(self.spec.output.clone(), columns, &options)?;
        Ok(ChangeBatch::of_kinds(data, emitted.kinds))
    }
}

/// Adds to a join's name, which ends in its state's description in parentheses, where the
/// rows past `budget` go.
fn describe_spill(name: &mut String, budget: usize) {
    let size = match budget % (1 << 20) {
        0 => format!("{} MiB", budget >> 20),
        _ => format!("{budget} bytes"),
    };
    let at = name.rfind(')').unwrap_or(name.len());
    name.insert_str(
        at,
        &format!("; an input's rows past {size} in a temporary file"),
    );
}

/// How `EXPLAIN` describes the join key.
fn describe_keys(columns: usize) -> String {
    match columns {
        0 => "no key: all rows under one".to_string(),
        1 => "1 key column".to_string(),
        n => format!("{n} key columns"),
    }
}

impl Operator for Join {
    fn state_bound(&self) -> crate::operator::StateBound {
        match self.ttl {
            [Some(left), Some(right)] => crate::operator::StateBound::Ttl(left.max(right)),
            _ => crate::operator::StateBound::Unbounded("the rows of both inputs"),
        }
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        for (i, side) in self.sides.iter().enumerate() {
            side.snapshot(&mut state, &format!("side{i}"))?;
        }
        state.put("expiry", &(&self.expiry, self.watermark))?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        for (i, side) in self.sides.iter_mut().enumerate() {
            side.restore(state, &format!("side{i}"))?;
        }
        (self.expiry, self.watermark) = state.get("expiry")?;
        Ok(())
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn on_batch(&mut self, input: usize, batch: ChangeBatch, out: &mut Vec<Message>) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let (keys, matchable) = self.keys.encode(&self.spec.keys[input], &batch.data)?;
        let probe = Probe {
            side: input,
            batch: &batch.data,
            keys: keys.as_ref(),
            matchable: &matchable,
            inputs: &self.spec.inputs,
            filter: self.spec.filter.as_ref(),
        };
        let arrivals = self.arrivals(&batch);
        // With a time to live, rows meet only while both are alive: when the later one arrives
        // less than the earlier one's side's TTL after it. Rows in state past it may not have
        // been dropped yet (that waits for the watermark of both inputs), so this decides,
        // whatever the timing. A row that came before any watermark never expires.
        let alive = |i: usize, h: &Held| {
            let (probe, held) = (arrivals[i], h.arrived);
            if probe == NO_WATERMARK || held == NO_WATERMARK {
                return true;
            }
            let (first, ttl) = match held <= probe {
                true => (held, self.ttl[1 - input]),
                false => (probe, self.ttl[input]),
            };
            ttl.is_none_or(|ttl| probe.max(held) - first < ttl)
        };
        let all = |_: usize, entries: &[_]| 0..entries.len();
        self.sides[1 - input].ready_for(batch.num_rows());
        let (matches, offsets) = probe.matches(&self.sides[1 - input], all, alive)?;
        let rows = self.sides[input].encode(&batch.data)?;
        let emitted = self.apply(
            input,
            &batch,
            (keys.as_ref(), &rows, &matchable, &arrivals),
            (&matches, &offsets),
        );
        if !emitted.kinds.is_empty() {
            out.push(Message::Batch(self.build(input, &batch.data, emitted)?));
        }
        self.sides[input].spill_failure()
    }

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        self.watermark = watermark;
        self.expire(watermark);
        for side in &mut self.sides {
            side.spill_failure()?;
        }
        out.push(Message::Watermark(watermark));
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        let expiry: usize = self.expiry.iter().map(Expiry::bytes).sum();
        expiry + self.sides.iter().map(Side::bytes).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::util::display::array_value_to_string;
    use datafusion_expr::Operator as BinaryOp;
    use datafusion_physical_expr::expressions::{BinaryExpr, Column};

    use arrow::datatypes::Schema;

    use super::*;
    use crate::operator::testing::{kv_batch, kv_schema};

    fn join(join_type: JoinType, filter: Option<Arc<dyn PhysicalExpr>>) -> Join {
        join_with_ttl(join_type, filter, [None, None])
    }

    fn join_with_ttl(
        join_type: JoinType,
        filter: Option<Arc<dyn PhysicalExpr>>,
        ttl: [Option<i64>; 2],
    ) -> Join {
        let inputs = [kv_schema("l"), kv_schema("r")];
        let output = match join_type {
            JoinType::Semi | JoinType::Anti => inputs[0].clone(),
            _ => Arc::new(arrow::datatypes::Schema::new(
                inputs
                    .iter()
                    .flat_map(|s| s.fields().iter().cloned())
                    .collect::<Vec<_>>(),
            )),
        };
        let key = |name: &str| Arc::new(Column::new(name, 0)) as Arc<dyn PhysicalExpr>;
        let spec = JoinSpec {
            join_type,
            keys: [vec![key("lk")], vec![key("rk")]],
            key_types: vec![DataType::Utf8],
            nulls_equal: false,
            filter,
            inputs,
            output,
        };
        Join::new(spec, ttl).unwrap()
    }

    #[test]
    fn a_restored_join_goes_on_as_the_first_would() {
        let shape = join(JoinType::Full, None);
        let batch = |side, rows| (side, Message::Batch(change_batch(&shape, side, rows)));
        let inputs = vec![
            batch(
                0,
                &[("+I", Some("a"), 1), ("+I", Some("b"), 2), ("+I", None, 3)],
            ),
            batch(1, &[("+I", Some("a"), 10), ("+I", Some("a"), 11)]),
            batch(0, &[("-D", Some("a"), 1), ("+I", Some("c"), 4)]),
            batch(1, &[("-D", Some("a"), 10), ("+I", Some("b"), 12)]),
            (0, Message::End),
        ];
        crate::operator::testing::assert_restores(|| Box::new(join(JoinType::Full, None)), &inputs);
    }

    /// Rows (`"+I"`, key, value) of input `side` as a batch.
    fn change_batch(join: &Join, side: usize, rows: &[(&str, Option<&str>, i64)]) -> ChangeBatch {
        let kind = |s: &str| match s {
            "+I" => RowKind::Insert,
            "-U" => RowKind::UpdateBefore,
            "+U" => RowKind::UpdateAfter,
            _ => RowKind::Delete,
        };
        let rows: Vec<_> = rows.iter().map(|&(k, key, v)| (kind(k), key, v)).collect();
        kv_batch(join.spec.inputs[side].clone(), &rows)
    }

    /// Feeds `rows` (`"+I"`, key, value) to input `side`; what the join emits, as
    /// `+I[a, 1, a, 10]`.
    fn feed(join: &mut Join, side: usize, rows: &[(&str, Option<&str>, i64)]) -> Vec<String> {
        let batch = change_batch(join, side, rows);
        let mut out = Vec::new();
        join.on_batch(side, batch, &mut out).unwrap();
        let mut lines = Vec::new();
        for message in out {
            let Message::Batch(b) = message else { continue };
            for i in 0..b.num_rows() {
                let values: Vec<String> = b
                    .data
                    .columns()
                    .iter()
                    .map(|c| match c.is_null(i) {
                        true => "null".to_string(),
                        false => array_value_to_string(c, i).unwrap(),
                    })
                    .collect();
                lines.push(format!(
                    "{}[{}]",
                    b.row_kind(i).short_name(),
                    values.join(", ")
                ));
            }
        }
        lines
    }

    #[test]
    fn left_join_pads_until_the_first_match_and_again_after_the_last() {
        let mut j = join(JoinType::Left, None);
        assert_eq!(
            feed(&mut j, 0, &[("+I", Some("a"), 1)]),
            ["+I[a, 1, null, null]"]
        );
        assert_eq!(
            feed(&mut j, 1, &[("+I", Some("a"), 10)]),
            ["-D[a, 1, null, null]", "+I[a, 1, a, 10]"]
        );
        assert_eq!(
            feed(&mut j, 1, &[("+I", Some("a"), 11)]),
            ["+I[a, 1, a, 11]"]
        );
        // A retraction from the inner side keeps its kind, the new row comes as +I (Flink
        // does the same, as the oracle's exact changelog shows).
        assert_eq!(
            feed(&mut j, 1, &[("-U", Some("a"), 10), ("+U", Some("a"), 12)]),
            ["-U[a, 1, a, 10]", "+I[a, 1, a, 12]"]
        );
        assert_eq!(
            feed(&mut j, 1, &[("-D", Some("a"), 11)]),
            ["-D[a, 1, a, 11]"]
        );
        assert_eq!(
            feed(&mut j, 1, &[("-D", Some("a"), 12)]),
            ["-D[a, 1, a, 12]", "+I[a, 1, null, null]"]
        );
        assert_eq!(
            feed(&mut j, 0, &[("-D", Some("a"), 1)]),
            ["-D[a, 1, null, null]"]
        );
        assert_eq!(j.state_bytes(), 0, "every row was retracted");
    }

    #[test]
    fn inner_join_forwards_the_change_kinds_of_its_input() {
        let mut j = join(JoinType::Inner, None);
        assert!(feed(&mut j, 0, &[("+I", Some("a"), 1), ("+I", Some("a"), 2)]).is_empty());
        assert_eq!(
            feed(&mut j, 1, &[("+I", Some("a"), 10), ("+I", Some("b"), 20)]),
            ["+I[a, 1, a, 10]", "+I[a, 2, a, 10]"]
        );
        assert_eq!(
            feed(&mut j, 0, &[("-U", Some("a"), 2), ("+U", Some("a"), 3)]),
            ["-U[a, 2, a, 10]", "+U[a, 3, a, 10]"]
        );
        assert_eq!(
            feed(&mut j, 1, &[("-D", Some("a"), 10)]),
            ["-D[a, 1, a, 10]", "-D[a, 3, a, 10]"]
        );
    }

    #[test]
    fn full_join_pads_both_sides_and_counts_duplicates() {
        let mut j = join(JoinType::Full, None);
        assert_eq!(
            feed(&mut j, 1, &[("+I", Some("a"), 10), ("+I", Some("a"), 10)]),
            ["+I[null, null, a, 10]", "+I[null, null, a, 10]"]
        );
        // Each copy of the right row loses its padding.
        assert_eq!(
            feed(&mut j, 0, &[("+I", Some("a"), 1)]),
            [
                "-D[null, null, a, 10]",
                "-D[null, null, a, 10]",
                "+I[a, 1, a, 10]",
                "+I[a, 1, a, 10]"
            ]
        );
        assert_eq!(
            feed(&mut j, 1, &[("-D", Some("a"), 10)]),
            ["-D[a, 1, a, 10]"],
            "the left row still has a match"
        );
        assert_eq!(
            feed(&mut j, 0, &[("-D", Some("a"), 1)]),
            ["-D[a, 1, a, 10]", "+I[null, null, a, 10]"]
        );
    }

    #[test]
    fn null_keys_match_nothing_but_are_padded_and_retracted() {
        let mut j = join(JoinType::Full, None);
        assert_eq!(
            feed(&mut j, 1, &[("+I", None, 10)]),
            ["+I[null, null, null, 10]"]
        );
        assert_eq!(
            feed(&mut j, 0, &[("+I", None, 1)]),
            ["+I[null, 1, null, null]"]
        );
        assert_eq!(
            feed(&mut j, 0, &[("-D", None, 1)]),
            ["-D[null, 1, null, null]"]
        );
    }

    #[test]
    fn the_residual_condition_decides_what_counts_as_a_match() {
        // lv < rv
        let filter = Arc::new(BinaryExpr::new(
            Arc::new(Column::new("lv", 1)),
            BinaryOp::Lt,
            Arc::new(Column::new("rv", 3)),
        ));
        let mut j = join(JoinType::Left, Some(filter));
        assert_eq!(
            feed(&mut j, 0, &[("+I", Some("a"), 5), ("+I", Some("a"), 50)]),
            ["+I[a, 5, null, null]", "+I[a, 50, null, null]"]
        );
        assert_eq!(
            feed(&mut j, 1, &[("+I", Some("a"), 10)]),
            ["-D[a, 5, null, null]", "+I[a, 5, a, 10]"]
        );
    }

    #[test]
    fn a_condition_over_some_columns_leaves_others_of_any_nullability() {
        // Keys declared NOT NULL, which the condition (lv < rv) does not read.
        let not_null = |side: &str| {
            let schema = kv_schema(side);
            let fields = (schema.fields().iter().enumerate())
                .map(|(i, f)| Arc::new(f.as_ref().clone().with_nullable(i != 0)));
            Arc::new(Schema::new(fields.collect::<Vec<_>>()))
        };
        let inputs = [not_null("l"), not_null("r")];
        let fields: Vec<_> = inputs.iter().flat_map(|s| s.fields().to_vec()).collect();
        let key = |name: &str| Arc::new(Column::new(name, 0)) as Arc<dyn PhysicalExpr>;
        let spec = JoinSpec {
            join_type: JoinType::Inner,
            keys: [vec![key("lk")], vec![key("rk")]],
            key_types: vec![DataType::Utf8],
            nulls_equal: false,
            filter: Some(Arc::new(BinaryExpr::new(
                Arc::new(Column::new("lv", 1)),
                BinaryOp::Lt,
                Arc::new(Column::new("rv", 3)),
            ))),
            inputs,
            output: Arc::new(Schema::new(fields)),
        };
        let mut j = Join::new(spec, [None, None]).unwrap();
        assert!(feed(&mut j, 0, &[("+I", Some("a"), 5), ("+I", Some("a"), 50)]).is_empty());
        assert_eq!(
            feed(&mut j, 1, &[("+I", Some("a"), 10)]),
            ["+I[a, 5, a, 10]"]
        );
    }

    #[test]
    fn semi_and_anti_joins_follow_the_matches_of_the_right_side() {
        let mut semi = join(JoinType::Semi, None);
        let mut anti = join(JoinType::Anti, None);
        let left = [("+I", Some("a"), 1)];
        assert!(feed(&mut semi, 0, &left).is_empty());
        assert_eq!(feed(&mut anti, 0, &left), ["+I[a, 1]"]);
        let two = [("+I", Some("a"), 10), ("+I", Some("a"), 11)];
        assert_eq!(feed(&mut semi, 1, &two), ["+I[a, 1]"]);
        assert_eq!(feed(&mut anti, 1, &two), ["-D[a, 1]"]);
        let one = [("-D", Some("a"), 10)];
        assert!(feed(&mut semi, 1, &one).is_empty());
        assert!(feed(&mut anti, 1, &one).is_empty());
        let last = [("-D", Some("a"), 11)];
        assert_eq!(feed(&mut semi, 1, &last), ["-D[a, 1]"]);
        assert_eq!(feed(&mut anti, 1, &last), ["+I[a, 1]"]);
    }

    /// A side kept for ever puts its rows in their buckets only when a probe or a change
    /// needs them there, and a probe of few rows reads those not there yet in one pass. What
    /// the join emits must be, row for row and in order, what it emits when every row goes to
    /// its bucket as it comes (as it does with a time to live, here one that never ends):
    /// through probes small and large for the rows waiting, retractions, NULL keys, a
    /// residual condition and a restore while rows wait.
    #[test]
    fn deferring_the_index_or_spilling_rows_changes_nothing_the_join_emits() {
        use crate::operator::testing::random;
        let never = Some(i64::MAX / 2);
        let keys = [Some("a"), Some("b"), Some("c"), Some("d"), None];
        let types = [
            JoinType::Inner,
            JoinType::Left,
            JoinType::Right,
            JoinType::Full,
            JoinType::Semi,
            JoinType::Anti,
        ];
        for (seed, join_type) in types.into_iter().enumerate() {
            // lv < rv, for the joins with both sides' columns.
            let filter = (!join_type.is_semi_or_anti()).then(|| {
                Arc::new(BinaryExpr::new(
                    Arc::new(Column::new("lv", 1)),
                    BinaryOp::Lt,
                    Arc::new(Column::new("rv", 3)),
                )) as Arc<dyn PhysicalExpr>
            });
            let mut deferring = join(join_type, filter.clone());
            // Keeps no full block of rows in memory.
            let mut spilling = join(join_type, filter.clone()).spilling_beyond(0);
            let mut indexing = join_with_ttl(join_type, filter, [never, never]);
            let mut next = random(seed as u64);
            let mut held: [Vec<(Option<&str>, i64)>; 2] = Default::default();
            let (mut waited, mut read, mut side, mut restored) = (0, 0, 0, false);
            for step in 0..600 {
                // Runs of batches from one side; mostly a few rows, sometimes many.
                if next(8) == 0 {
                    side = 1 - side;
                }
                let most = if next(5) == 0 { 60 } else { 3 };
                let size = 1 + next(most);
                // A few batches retract rows (which puts their side's rows in their buckets).
                let retracts = next(5) == 0;
                let mut rows = Vec::new();
                for _ in 0..size {
                    let value = (step * 100 + rows.len()) as i64;
                    match next(3) {
                        0 if retracts && !held[side].is_empty() => {
                            let at = next(held[side].len() as u64) as usize;
                            let (key, v) = held[side].swap_remove(at);
                            match next(2) {
                                0 => rows.push(("-D", key, v)),
                                _ => {
                                    rows.extend([("-U", key, v), ("+U", key, value)]);
                                    held[side].push((key, value));
                                }
                            }
                        }
                        _ => {
                            let key = keys[next(keys.len() as u64) as usize];
                            rows.push(("+I", key, value));
                            held[side].push((key, value));
                        }
                    }
                }
                let emitted = feed(&mut deferring, side, &rows);
                assert_eq!(
                    emitted,
                    feed(&mut indexing, side, &rows),
                    "{join_type:?}, step {step}"
                );
                assert_eq!(
                    emitted,
                    feed(&mut spilling, side, &rows),
                    "{join_type:?}, step {step}, spilling"
                );
                // Rows this batch added wait; the other side's were read or indexed.
                waited = waited.max(deferring.sides[side].waiting().0);
                read = read.max(deferring.sides[1 - side].waiting().1);
                if step >= 300 && !restored && deferring.sides[side].waiting().0 > 0 {
                    restored = true;
                    // Rows still waiting stay so through a restore.
                    let waiting = deferring.sides.each_ref().map(|s| s.waiting().0);
                    let state = deferring.snapshot().unwrap();
                    deferring = join(join_type, deferring.spec.filter.clone());
                    deferring.restore(&state).unwrap();
                    assert_eq!(deferring.sides.each_ref().map(|s| s.waiting().0), waiting);
                }
            }
            assert!(
                waited > 100,
                "{join_type:?}: {waited} rows waited for their buckets"
            );
            assert!(
                read > 1,
                "{join_type:?}: probes read rows not in their buckets"
            );
            assert!(restored, "{join_type:?}: restored with rows waiting");
            let spilled = spilling.sides.each_ref().map(|s| s.spilled());
            assert!(
                spilled.iter().all(|&bytes| bytes > 0),
                "{join_type:?}: both sides spilled rows: {spilled:?} bytes"
            );
        }
    }

    #[test]
    fn with_a_time_to_live_idle_rows_are_dropped_as_the_watermark_passes() {
        let mut j = join_with_ttl(JoinType::Inner, None, [Some(100), Some(100)]);
        let mut out = Vec::new();
        j.on_watermark(1000, &mut out).unwrap();
        assert!(feed(&mut j, 0, &[("+I", Some("a"), 1)]).is_empty());
        j.on_watermark(1099, &mut out).unwrap();
        assert_eq!(
            feed(&mut j, 1, &[("+I", Some("a"), 10)]),
            ["+I[a, 1, a, 10]"]
        );
        // 100 ms after the left row arrived it is gone: a new right row finds nothing.
        j.on_watermark(1100, &mut out).unwrap();
        assert!(feed(&mut j, 1, &[("+I", Some("a"), 11)]).is_empty());
        assert_eq!(j.sides[0].rows(), 0);
        j.on_watermark(1300, &mut out).unwrap();
        assert_eq!(
            j.state_bytes(),
            j.expiry.iter().map(Expiry::bytes).sum::<usize>()
        );
    }
}
