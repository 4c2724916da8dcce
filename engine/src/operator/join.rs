//! Regular joins of two changelogs, as Flink's streaming join runs them: INNER, LEFT, RIGHT and
//! FULL outer joins, and the semi and anti joins of `IN` / `EXISTS` subqueries.
//!
//! Both inputs are kept in state, by join key, for as long as the job runs. A row arriving on
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

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::HashMap;
use datafusion::physical_expr::PhysicalExpr;

use super::Operator;
use crate::batch::{ChangeBatch, Message, RowKind};
use crate::{EngineError, Result};

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

    fn is_semi_or_anti(self) -> bool {
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

/// What a regular join computes.
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

/// A row held in state: its bytes in its bucket's data, and for a row of a side that keeps
/// unmatched rows, how many rows of the other side it matches.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: usize,
    len: usize,
    matches: u32,
}

/// The rows of one side under one join key, in arrival order (a retraction removes the
/// oldest identical row).
#[derive(Default)]
struct Bucket {
    data: Vec<u8>,
    entries: Vec<Entry>,
    /// Bytes of `data` no entry refers to any more.
    garbage: usize,
}

impl Bucket {
    fn row(&self, entry: usize) -> &[u8] {
        let e = &self.entries[entry];
        &self.data[e.start..e.start + e.len]
    }

    fn push(&mut self, row: &[u8], matches: u32) {
        self.entries.push(Entry {
            start: self.data.len(),
            len: row.len(),
            matches,
        });
        self.data.extend_from_slice(row);
    }

    /// Removes the oldest row equal to `row`; false when there is none.
    fn retract(&mut self, row: &[u8]) -> bool {
        let Some(i) = (0..self.entries.len()).find(|&i| self.row(i) == row) else {
            return false;
        };
        self.garbage += self.entries.remove(i).len;
        if self.garbage > 4096 && self.garbage * 2 > self.data.len() {
            self.compact();
        }
        true
    }

    /// Drops the bytes of retracted rows.
    fn compact(&mut self) {
        let mut data = Vec::with_capacity(self.data.len() - self.garbage);
        for e in &mut self.entries {
            let start = data.len();
            data.extend_from_slice(&self.data[e.start..e.start + e.len]);
            e.start = start;
        }
        self.data = data;
        self.garbage = 0;
    }

    fn bytes(&self) -> usize {
        self.data.capacity() + self.entries.capacity() * std::mem::size_of::<Entry>()
    }
}

/// The rows of one input, by join key.
struct Side {
    /// Encodes this input's rows (all columns) to the bytes kept in state, and back.
    rows: RowConverter,
    /// Join key bytes to the slot of the key's bucket.
    index: HashMap<Box<[u8]>, usize>,
    buckets: Vec<Bucket>,
    /// Slots of buckets whose key went away.
    free: Vec<usize>,
    /// A row of nulls in this input's encoding, for padding.
    null_row: Rows,
}

impl Side {
    fn new(schema: &SchemaRef) -> Result<Side> {
        let fields = schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let rows = RowConverter::new(fields)?;
        let nulls: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| arrow::array::new_null_array(f.data_type(), 1))
            .collect();
        let null_row = rows.convert_columns(&nulls)?;
        Ok(Side {
            rows,
            index: HashMap::new(),
            buckets: Vec::new(),
            free: Vec::new(),
            null_row,
        })
    }

    fn bucket_of(&self, key: &[u8]) -> Option<usize> {
        self.index.get(key).copied()
    }

    fn add(&mut self, key: &[u8], row: &[u8], matches: u32) {
        let slot = match self.index.get(key) {
            Some(&slot) => slot,
            None => {
                let slot = self.free.pop().unwrap_or_else(|| {
                    self.buckets.push(Bucket::default());
                    self.buckets.len() - 1
                });
                self.index.insert(key.into(), slot);
                slot
            }
        };
        self.buckets[slot].push(row, matches);
    }

    fn retract(&mut self, key: &[u8], row: &[u8]) {
        let Some(slot) = self.bucket_of(key) else {
            return;
        };
        let bucket = &mut self.buckets[slot];
        if bucket.retract(row) && bucket.entries.is_empty() {
            self.buckets[slot] = Bucket::default();
            self.index.remove(key);
            self.free.push(slot);
        }
    }

    fn bytes(&self) -> usize {
        let keys: usize = self.index.keys().map(|k| k.len() + 32).sum();
        keys + self.buckets.iter().map(Bucket::bytes).sum::<usize>()
    }
}

/// A row of the other side that matches an input row: its bucket and entry.
#[derive(Debug, Clone, Copy)]
struct Match {
    bucket: usize,
    entry: usize,
}

/// Where a column of an output row comes from.
#[derive(Clone, Copy)]
enum Source {
    /// The input row at this index.
    Input(u32),
    /// A row of the other side's state.
    State(Match),
    /// Nulls (padding).
    Null,
}

/// The rows being emitted for one input batch, built as columns at the end.
#[derive(Default)]
struct Emitted {
    kinds: Vec<i8>,
    /// The input side's part of each row.
    input: Vec<Option<u32>>,
    /// The other side's part of each row.
    other: Vec<Option<Match>>,
}

impl Emitted {
    fn push(&mut self, kind: RowKind, input: Source, other: Source) {
        self.kinds.push(kind as i8);
        self.input.push(match input {
            Source::Input(i) => Some(i),
            _ => None,
        });
        self.other.push(match other {
            Source::State(m) => Some(m),
            _ => None,
        });
    }
}

/// A regular join (see the module documentation).
pub struct Join {
    /// What `EXPLAIN` shows: the join kind and the state it keeps.
    name: String,
    spec: JoinSpec,
    keys: Option<RowConverter>,
    sides: [Side; 2],
}

impl Join {
    /// A join computing `spec`.
    pub fn new(spec: JoinSpec) -> Result<Join> {
        let keys = match spec.key_types.is_empty() {
            true => None,
            false => Some(RowConverter::new(
                spec.key_types
                    .iter()
                    .map(|t| SortField::new(t.clone()))
                    .collect(),
            )?),
        };
        let sides = [Side::new(&spec.inputs[0])?, Side::new(&spec.inputs[1])?];
        let key = match spec.key_types.len() {
            0 => "no key: all rows under one".to_string(),
            n => format!("{n} key column{}", if n > 1 { "s" } else { "" }),
        };
        let name = format!(
            "RegularJoin {} ({key}; state: every row of both inputs, never freed)",
            spec.join_type.name()
        );
        Ok(Join {
            name,
            spec,
            keys,
            sides,
        })
    }

    /// The join key of each row of `batch` from input `side`, as bytes, and which rows can
    /// match at all (a NULL key matches nothing unless NULLs are equal).
    fn key_rows(&self, side: usize, batch: &RecordBatch) -> Result<(Option<Rows>, BooleanArray)> {
        let n = batch.num_rows();
        let Some(converter) = &self.keys else {
            return Ok((None, BooleanArray::from(vec![true; n])));
        };
        let mut columns = Vec::with_capacity(self.spec.key_types.len());
        let mut matchable = BooleanArray::from(vec![true; n]);
        for (expr, ty) in self.spec.keys[side].iter().zip(&self.spec.key_types) {
            let mut key = expr.evaluate(batch)?.into_array(n)?;
            if key.data_type() != ty {
                key = cast(&key, ty)?;
            }
            if !self.spec.nulls_equal && key.null_count() > 0 {
                let valid = arrow::compute::is_not_null(&key)?;
                matchable = arrow::compute::and(&matchable, &valid)?;
            }
            columns.push(key);
        }
        Ok((Some(converter.convert_columns(&columns)?), matchable))
    }

    /// For each row of `batch` (from input `side`), the rows of the other side it matches:
    /// candidates by key, then filtered by the residual predicate, all pairs at once.
    /// Row `i`'s matches are `matches[offsets[i]..offsets[i + 1]]`.
    fn find_matches(
        &self,
        side: usize,
        batch: &RecordBatch,
        keys: Option<&Rows>,
        matchable: &BooleanArray,
    ) -> Result<(Vec<Match>, Vec<usize>)> {
        let other = &self.sides[1 - side];
        let mut matches = Vec::new();
        let mut offsets = Vec::with_capacity(batch.num_rows() + 1);
        let mut probe = Vec::new();
        offsets.push(0);
        for i in 0..batch.num_rows() {
            if matchable.value(i) {
                let key = keys.map_or(&[][..], |k| k.row(i).data());
                if let Some(bucket) = other.bucket_of(key) {
                    for entry in 0..other.buckets[bucket].entries.len() {
                        matches.push(Match { bucket, entry });
                        probe.push(i as u32);
                    }
                }
            }
            offsets.push(matches.len());
        }
        let Some(filter) = &self.spec.filter else {
            return Ok((matches, offsets));
        };
        if matches.is_empty() {
            return Ok((matches, offsets));
        }
        let pairs = self.pairs(side, batch, &probe, &matches)?;
        let mask = filter.evaluate(&pairs)?.into_array(pairs.num_rows())?;
        let mask = mask
            .as_boolean_opt()
            .ok_or_else(|| EngineError::Other("join condition is not a boolean".into()))?;
        let mut kept = Vec::with_capacity(matches.len());
        let mut start = 0;
        for offset in offsets.iter_mut().skip(1) {
            let end = *offset;
            for k in start..end {
                if mask.is_valid(k) && mask.value(k) {
                    kept.push(matches[k]);
                }
            }
            start = end;
            *offset = kept.len();
        }
        Ok((kept, offsets))
    }

    /// The joined rows (left columns, then right) of input rows `probe` of `batch` (from
    /// input `side`) with the other side's rows `matches`.
    fn pairs(
        &self,
        side: usize,
        batch: &RecordBatch,
        probe: &[u32],
        matches: &[Match],
    ) -> Result<RecordBatch> {
        let indices = UInt32Array::from(probe.to_vec());
        let input: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &indices, None))
            .collect::<std::result::Result<_, _>>()?;
        let other = self.state_columns(1 - side, matches.iter().map(|m| Some(*m)))?;
        let (left, right) = if side == 0 {
            (input, other)
        } else {
            (other, input)
        };
        let schema = joined_schema(&self.spec.inputs);
        Ok(RecordBatch::try_new(
            schema,
            left.into_iter().chain(right).collect(),
        )?)
    }

    /// Columns of rows of `side`'s state (nulls for `None`).
    fn state_columns(
        &self,
        side: usize,
        rows: impl Iterator<Item = Option<Match>>,
    ) -> Result<Vec<ArrayRef>> {
        let state = &self.sides[side];
        let null = state.null_row.row(0);
        let parser = state.rows.parser();
        let rows: Vec<_> = rows
            .map(|m| match m {
                Some(m) => parser.parse(state.buckets[m.bucket].row(m.entry)),
                None => null,
            })
            .collect();
        Ok(state.rows.convert_rows(rows)?)
    }

    /// Applies rows of `batch` from input `side` to the state, in order, noting what to emit.
    fn apply(
        &mut self,
        side: usize,
        batch: &ChangeBatch,
        keys: Option<&Rows>,
        rows: &Rows,
        matchable: &BooleanArray,
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
            let key = keys.map_or(&[][..], |k| k.row(i).data());
            let me = Source::Input(i as u32);
            if semi_anti {
                if side == 0 {
                    // A left row: emitted with its own kind while it has (anti: lacks) matches.
                    if found.is_empty() == anti {
                        out.push(kind, me, Source::Null);
                    }
                } else {
                    // A right row changes whether the left rows it matches have a match.
                    for m in found {
                        let entry = &mut other.buckets[m.bucket].entries[m.entry];
                        let before = entry.matches;
                        if accumulate {
                            entry.matches += 1;
                        } else {
                            entry.matches = entry.matches.saturating_sub(1);
                        }
                        let left_row = Source::State(*m);
                        match (accumulate, before, anti) {
                            (true, 0, false) => out.push(kind, Source::Null, left_row),
                            (true, 0, true) => out.push(RowKind::Delete, Source::Null, left_row),
                            (false, 1, false) => out.push(kind, Source::Null, left_row),
                            (false, 1, true) => out.push(RowKind::Insert, Source::Null, left_row),
                            _ => {}
                        }
                    }
                }
            } else if accumulate {
                if other_outer {
                    for m in found {
                        let entry = &mut other.buckets[m.bucket].entries[m.entry];
                        if entry.matches == 0 {
                            out.push(RowKind::Delete, Source::Null, Source::State(*m));
                        }
                        entry.matches += 1;
                    }
                }
                if input_outer && found.is_empty() {
                    out.push(RowKind::Insert, me, Source::Null);
                }
                let kind = if input_outer || other_outer {
                    RowKind::Insert
                } else {
                    kind
                };
                for m in found {
                    out.push(kind, me, Source::State(*m));
                }
            } else {
                if input_outer && found.is_empty() {
                    out.push(RowKind::Delete, me, Source::Null);
                }
                let kind = if input_outer { RowKind::Delete } else { kind };
                for m in found {
                    out.push(kind, me, Source::State(*m));
                }
                if other_outer {
                    for m in found {
                        let entry = &mut other.buckets[m.bucket].entries[m.entry];
                        if entry.matches == 1 {
                            out.push(RowKind::Insert, Source::Null, Source::State(*m));
                        }
                        entry.matches = entry.matches.saturating_sub(1);
                    }
                }
            }
            // A row with a NULL key can never match: it need not be kept.
            if matchable.value(i) {
                if accumulate {
                    own.add(key, row.data(), found.len() as u32);
                } else {
                    own.retract(key, row.data());
                }
            }
        }
        out
    }

    /// The output batch of `emitted` rows for an input batch from `side`.
    fn build(&self, side: usize, batch: &RecordBatch, emitted: Emitted) -> Result<ChangeBatch> {
        let n = emitted.kinds.len();
        let indices = UInt32Array::from(emitted.input);
        let input: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &indices, None))
            .collect::<std::result::Result<_, _>>()?;
        let columns: Vec<ArrayRef> = if self.spec.join_type.is_semi_or_anti() {
            // Only left rows are emitted: from the input, or from the left state.
            if side == 0 {
                input
            } else {
                self.state_columns(0, emitted.other.into_iter())?
            }
        } else {
            let other = self.state_columns(1 - side, emitted.other.into_iter())?;
            if side == 0 {
                input.into_iter().chain(other).collect()
            } else {
                other.into_iter().chain(input).collect()
            }
        };
        let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(n));
        let data = RecordBatch::try_new_with_options(self.spec.output.clone(), columns, &options)?;
        let all_inserts = emitted.kinds.iter().all(|k| *k == RowKind::Insert as i8);
        Ok(ChangeBatch {
            data,
            ops: (!all_inserts).then(|| arrow::array::Int8Array::from(emitted.kinds)),
            watermarks: None,
        })
    }
}

/// The schema of left rows followed by right rows, as the residual predicate reads them.
fn joined_schema(inputs: &[SchemaRef; 2]) -> SchemaRef {
    let fields: Vec<_> = inputs
        .iter()
        .flat_map(|s| s.fields().iter().cloned())
        .collect();
    Arc::new(arrow::datatypes::Schema::new(fields))
}

impl Operator for Join {
    fn name(&self) -> &str {
        &self.name
    }

    fn on_batch(&mut self, input: usize, batch: ChangeBatch, out: &mut Vec<Message>) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let (keys, matchable) = self.key_rows(input, &batch.data)?;
        let (matches, offsets) =
            self.find_matches(input, &batch.data, keys.as_ref(), &matchable)?;
        let rows = self.sides[input]
            .rows
            .convert_columns(batch.data.columns())?;
        let emitted = self.apply(
            input,
            &batch,
            keys.as_ref(),
            &rows,
            &matchable,
            (&matches, &offsets),
        );
        if !emitted.kinds.is_empty() {
            out.push(Message::Batch(self.build(input, &batch.data, emitted)?));
        }
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        self.sides.iter().map(Side::bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int8Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use arrow::util::display::array_value_to_string;
    use datafusion::logical_expr::Operator as BinaryOp;
    use datafusion::physical_expr::expressions::{BinaryExpr, Column};

    use super::*;

    /// Rows `(k STRING, v BIGINT)` of either side.
    fn schema(side: &str) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(format!("{side}k"), DataType::Utf8, true),
            Field::new(format!("{side}v"), DataType::Int64, true),
        ]))
    }

    fn join(join_type: JoinType, filter: Option<Arc<dyn PhysicalExpr>>) -> Join {
        let inputs = [schema("l"), schema("r")];
        let output = match join_type {
            JoinType::Semi | JoinType::Anti => inputs[0].clone(),
            _ => joined_schema(&inputs),
        };
        let key = |name: &str| Arc::new(Column::new(name, 0)) as Arc<dyn PhysicalExpr>;
        Join::new(JoinSpec {
            join_type,
            keys: [vec![key("lk")], vec![key("rk")]],
            key_types: vec![DataType::Utf8],
            nulls_equal: false,
            filter,
            inputs,
            output,
        })
        .unwrap()
    }

    /// Feeds `rows` (`"+I"`, key, value) to input `side`; what the join emits, as
    /// `+I[a, 1, a, 10]`.
    fn feed(join: &mut Join, side: usize, rows: &[(&str, Option<&str>, i64)]) -> Vec<String> {
        let kind = |s: &str| match s {
            "+I" => RowKind::Insert,
            "-U" => RowKind::UpdateBefore,
            "+U" => RowKind::UpdateAfter,
            _ => RowKind::Delete,
        } as i8;
        let data = RecordBatch::try_new(
            join.spec.inputs[side].clone(),
            vec![
                Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap();
        let batch = ChangeBatch {
            data,
            ops: Some(Int8Array::from_iter_values(rows.iter().map(|r| kind(r.0)))),
            watermarks: None,
        };
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
}
