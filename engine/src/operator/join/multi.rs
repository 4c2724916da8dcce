//! An inner join of three or more inputs on one key they all share, as Flink's multi-way join
//! (`table.optimizer.multi-join.enabled`, Flink 2.1) runs `A JOIN B ON a.k = b.k JOIN C ON
//! b.k = c.k`: every input is kept by the key, and a row arriving on one input meets every
//! combination of the other inputs' rows under its key. A chain of two-way joins gives the same
//! changes, but its second join keeps each row of the first's output, a row per match, wide
//! with the columns of both inputs; this join keeps each input's rows once.
//!
//! Being inner, it forwards the kind of each input row to the rows it makes, as the chain of
//! inner joins does.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion_physical_expr::PhysicalExpr;

use super::state::{KeyEncoder, Match, Side, key_of, take_rows};
use crate::Result;
use crate::batch::{ChangeBatch, Message, RowKind};
use crate::checkpoint::State;
use crate::operator::{Operator, StateBound};
use crate::time::Watermark;

/// What a multi-way join computes.
#[derive(Clone)]
pub struct MultiJoinSpec {
    /// Each input's key expressions, in one order: position `p` of every input's key is
    /// compared with position `p` of the others'.
    pub keys: Vec<Vec<Arc<dyn PhysicalExpr>>>,
    /// The type the keys' columns are compared as.
    pub key_types: Vec<DataType>,
    /// Whether NULL keys match each other; otherwise a row with a NULL key matches nothing.
    pub nulls_equal: bool,
    /// The rows of each input.
    pub inputs: Vec<SchemaRef>,
    /// The output's columns, each an input and a column of its rows.
    pub columns: Vec<(usize, usize)>,
    /// The output rows.
    pub output: SchemaRef,
}

/// A multi-way inner join (see the module documentation).
pub struct MultiJoin {
    name: String,
    spec: MultiJoinSpec,
    keys: KeyEncoder,
    /// Each input's rows by key; their notes are empty (an inner join counts nothing).
    sides: Vec<Side<()>>,
}

/// The rows a batch makes: each a kind, the input row, and one row of every other input.
#[derive(Default)]
struct Combinations {
    kinds: Vec<i8>,
    input: Vec<u32>,
    /// Per input, its row in each combination (empty for the input the batch came from).
    others: Vec<Vec<Match>>,
    /// Per input, the entry of the combination being made and how many there are.
    odometer: Vec<(usize, usize)>,
}

impl MultiJoin {
    pub fn new(spec: MultiJoinSpec) -> Result<MultiJoin> {
        let keys = KeyEncoder::new(&spec.key_types, spec.nulls_equal)?;
        let sides = spec.inputs.iter().map(Side::new).collect::<Result<_>>()?;
        let name = format!(
            "MultiJoin INNER of {} inputs ({} key column{}; state: the rows of every input \
             for ever)",
            spec.inputs.len(),
            spec.key_types.len(),
            if spec.key_types.len() == 1 { "" } else { "s" },
        );
        Ok(MultiJoin {
            name,
            spec,
            keys,
            sides,
        })
    }

    /// Keeps about `budget` bytes of each input's rows in memory, and older ones in a
    /// temporary file.
    pub fn spilling_beyond(mut self, budget: usize) -> Self {
        let sides = std::mem::take(&mut self.sides);
        self.sides = sides
            .into_iter()
            .map(|side| side.spilling_beyond(budget, std::env::temp_dir()))
            .collect();
        super::describe_spill(&mut self.name, budget);
        self
    }

    /// Pushes the combinations of input row `row` (of kind `kind`) with the rows of the other
    /// inputs in `buckets` (one per input; `None` for the row's own), the last input's row
    /// varying fastest.
    fn combine(
        &self,
        out: &mut Combinations,
        (kind, row): (RowKind, u32),
        buckets: &[Option<usize>],
    ) {
        out.odometer.clear();
        out.odometer.extend(
            (buckets.iter().zip(&self.sides))
                .map(|(b, side)| (0, b.map_or(1, |b| side.buckets[b].entries.len()))),
        );
        loop {
            out.kinds.push(kind as i8);
            out.input.push(row);
            for (j, bucket) in buckets.iter().enumerate() {
                if let Some(bucket) = *bucket {
                    let entry = out.odometer[j].0;
                    out.others[j].push(Match { bucket, entry });
                }
            }
            // The next combination, as an odometer counts.
            let mut j = buckets.len();
            loop {
                if j == 0 {
                    return;
                }
                j -= 1;
                let (at, size) = &mut out.odometer[j];
                *at += 1;
                if *at < *size {
                    break;
                }
                *at = 0;
            }
        }
    }

    /// The output batch of `made` for a batch `batch` from input `input`.
    fn build(&self, input: usize, batch: &RecordBatch, made: Combinations) -> Result<ChangeBatch> {
        let n = made.kinds.len();
        // Each input's columns, of the inputs the output has columns of.
        let mut inputs: Vec<Vec<ArrayRef>> = Vec::with_capacity(self.sides.len());
        for (j, (side, rows)) in self.sides.iter().zip(made.others).enumerate() {
            inputs.push(match j {
                _ if !self.spec.columns.iter().any(|(from, _)| *from == j) => Vec::new(),
                _ if j == input => take_rows(batch, &made.input)?,
                _ => side.match_columns(rows.into_iter().map(Some))?,
            });
        }
        let columns = (self.spec.columns.iter())
            .map(|&(from, column)| inputs[from][column].clone())
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(n));
        let data = RecordBatch::try_new_with_options(self.spec.output.clone(), columns, &options)?;
        Ok(ChangeBatch::of_kinds(data, made.kinds))
    }
}

impl Operator for MultiJoin {
    fn name(&self) -> &str {
        &self.name
    }

    fn state_bound(&self) -> StateBound {
        StateBound::Unbounded("the rows of every input")
    }

    fn on_batch(&mut self, input: usize, batch: ChangeBatch, out: &mut Vec<Message>) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let (keys, matchable) = self.keys.encode(&self.spec.keys[input], &batch.data)?;
        let rows = self.sides[input].encode(&batch.data)?;
        let mut made = Combinations {
            others: vec![Vec::new(); self.sides.len()],
            ..Combinations::default()
        };
        let mut buckets = vec![None; self.sides.len()];
        for i in 0..batch.num_rows() {
            // A row with a NULL key can never match: it need not be kept.
            if !matchable.value(i) {
                continue;
            }
            let key = key_of(keys.as_ref(), i);
            let kind = batch.row_kind(i);
            let mut all_match = true;
            for (j, side) in self.sides.iter().enumerate() {
                buckets[j] = match j == input {
                    true => None,
                    false => side.bucket_of(key),
                };
                all_match &= j == input || buckets[j].is_some();
            }
            if all_match {
                self.combine(&mut made, (kind, i as u32), &buckets);
            }
            match kind {
                RowKind::Insert | RowKind::UpdateAfter => {
                    self.sides[input].add(key, rows.row(i), ());
                }
                RowKind::UpdateBefore | RowKind::Delete => {
                    self.sides[input].retract(key, rows.row(i));
                }
            }
        }
        if !made.kinds.is_empty() {
            out.push(Message::Batch(self.build(input, &batch.data, made)?));
        }
        self.sides[input].spill_failure()
    }

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        out.push(Message::Watermark(watermark));
        Ok(())
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        for (i, side) in self.sides.iter().enumerate() {
            side.snapshot(&mut state, &format!("side{i}"))?;
        }
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        for (i, side) in self.sides.iter_mut().enumerate() {
            side.restore(state, &format!("side{i}"))?;
        }
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        self.sides.iter().map(Side::bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::Schema;
    use datafusion_physical_expr::expressions::Column;

    use super::*;
    use crate::operator::testing::{
        assert_restores, describe, kv_batch, kv_schema as schema, random,
    };
    use crate::operator::{Join, JoinSpec, JoinType};

    fn concatenated(inputs: &[SchemaRef]) -> SchemaRef {
        let fields: Vec<_> = (inputs.iter())
            .flat_map(|s| s.fields().iter().cloned())
            .collect();
        Arc::new(Schema::new(fields))
    }

    fn key(name: &str, index: usize) -> Vec<Arc<dyn PhysicalExpr>> {
        vec![Arc::new(Column::new(name, index))]
    }

    /// `a JOIN b ON ak = bk JOIN c ON bk = ck` as one operator.
    fn multi() -> MultiJoin {
        let inputs = vec![schema("a"), schema("b"), schema("c")];
        MultiJoin::new(MultiJoinSpec {
            keys: vec![key("ak", 0), key("bk", 0), key("ck", 0)],
            key_types: vec![DataType::Utf8],
            nulls_equal: false,
            output: concatenated(&inputs),
            columns: (0..3).flat_map(|j| [(j, 0), (j, 1)]).collect(),
            inputs,
        })
        .unwrap()
    }

    /// The same as a chain of two inner joins.
    fn chain() -> [Join; 2] {
        let two_way = |inputs: [SchemaRef; 2], keys| {
            let spec = JoinSpec {
                join_type: JoinType::Inner,
                keys,
                key_types: vec![DataType::Utf8],
                nulls_equal: false,
                filter: None,
                output: concatenated(&inputs),
                inputs,
            };
            Join::new(spec, [None, None]).unwrap()
        };
        let first = two_way([schema("a"), schema("b")], [key("ak", 0), key("bk", 0)]);
        let ab = concatenated(&[schema("a"), schema("b")]);
        let second = two_way([ab, schema("c")], [key("bk", 2), key("ck", 0)]);
        [first, second]
    }

    /// Rows (kind, key, value) as a batch of any input.
    fn batch(input: usize, rows: &[(RowKind, Option<&str>, i64)]) -> ChangeBatch {
        kv_batch(schema(["a", "b", "c"][input]), rows)
    }

    /// Random changelogs of the three inputs, batch by batch: inserts of keys `x`, `y`, `z`
    /// and NULL, and retractions (as deletes or as updates) of rows inserted before, some of
    /// them twice over, so that a retraction also meets rows it does not find.
    fn random_batches(count: usize) -> Vec<(usize, ChangeBatch)> {
        let mut next = random(11);
        let keys = [Some("x"), Some("y"), Some("z"), None];
        let mut held: [Vec<(Option<&str>, i64)>; 3] = Default::default();
        let mut batches = Vec::new();
        for step in 0..count {
            let input = next(3) as usize;
            let mut rows = Vec::new();
            for _ in 0..=next(4) {
                let value = step as i64 * 10 + rows.len() as i64;
                match (next(3), held[input].is_empty()) {
                    (0, false) => {
                        let at = next(held[input].len() as u64) as usize;
                        let (k, v) = held[input][at];
                        if next(4) > 0 {
                            held[input].swap_remove(at);
                        }
                        match next(2) {
                            0 => rows.push((RowKind::Delete, k, v)),
                            _ => {
                                rows.push((RowKind::UpdateBefore, k, v));
                                rows.push((RowKind::UpdateAfter, k, value));
                                held[input].push((k, value));
                            }
                        }
                    }
                    _ => {
                        let k = keys[next(4) as usize];
                        rows.push((RowKind::Insert, k, value));
                        held[input].push((k, value));
                    }
                }
            }
            batches.push((input, batch(input, &rows)));
        }
        batches
    }

    fn sorted(mut lines: Vec<String>) -> Vec<String> {
        lines.sort();
        lines
    }

    #[test]
    fn gives_the_changes_of_a_chain_of_two_way_joins() {
        let mut one = multi();
        let [mut first, mut second] = chain();
        let mut rows = 0;
        for (step, (input, batch)) in random_batches(400).into_iter().enumerate() {
            let mut out = Vec::new();
            one.on_batch(input, batch.clone(), &mut out).unwrap();
            let mut through = Vec::new();
            match input {
                2 => second.on_batch(1, batch, &mut through).unwrap(),
                _ => {
                    let mut between = Vec::new();
                    first.on_batch(input, batch, &mut between).unwrap();
                    for message in between {
                        let Message::Batch(b) = message else { continue };
                        second.on_batch(0, b, &mut through).unwrap();
                    }
                }
            }
            let (out, through) = (describe(&out), describe(&through));
            rows += out.len();
            assert_eq!(sorted(out), sorted(through), "step {step}");
        }
        assert!(rows > 1000, "the inputs meet often: {rows} rows");
        assert!(one.state_bytes() > 0);
    }

    #[test]
    fn emits_the_columns_it_is_asked_for_in_their_order() {
        let inputs = vec![schema("a"), schema("b"), schema("c")];
        let output = Arc::new(Schema::new(vec![
            inputs[2].field(1).clone(),
            inputs[0].field(0).clone(),
        ]));
        let mut join = MultiJoin::new(MultiJoinSpec {
            keys: vec![key("ak", 0), key("bk", 0), key("ck", 0)],
            key_types: vec![DataType::Utf8],
            nulls_equal: false,
            inputs,
            columns: vec![(2, 1), (0, 0)],
            output,
        })
        .unwrap();
        let mut out = Vec::new();
        let rows = |k, v| {
            [
                (RowKind::Insert, Some(k), v),
                (RowKind::Insert, Some("y"), 0),
            ]
        };
        join.on_batch(2, batch(2, &rows("x", 30)), &mut out)
            .unwrap();
        join.on_batch(0, batch(0, &rows("x", 10)), &mut out)
            .unwrap();
        assert!(out.is_empty(), "b has no rows yet");
        join.on_batch(1, batch(1, &rows("x", 20)[..1]), &mut out)
            .unwrap();
        assert_eq!(describe(&out), ["Insert 30,x"]);
    }

    #[test]
    fn a_restored_multi_way_join_goes_on_as_the_first_would() {
        let inputs: Vec<(usize, Message)> = (random_batches(12).into_iter())
            .map(|(input, batch)| (input, Message::Batch(batch)))
            .collect();
        assert_restores(|| Box::new(multi()), &inputs);
    }
}
