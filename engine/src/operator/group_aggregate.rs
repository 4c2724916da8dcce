//! Non-windowed `GROUP BY` (and `DISTINCT`): an updating aggregation. Each batch updates the
//! groups its rows belong to; every group whose result changed is emitted as `+I` (first
//! result), `-U`/`+U` (old and new result) or `-D` (its last row was retracted). The groups'
//! states are vectors by group number ([`super::group_state`]); a changed group's old result is
//! read before the batch and its new one after, and its key is taken from the batch.

use std::sync::Arc;

use arrow::array::make_comparator;
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int8Array, Int64Array};
use arrow::compute::SortOptions;
use arrow::compute::kernels::cmp::not_distinct;
use arrow::compute::{and, interleave, take};
use arrow::datatypes::{Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::Operator;
use super::aggregate::{GroupBy, GroupInput, KeyTable, cast_to};
use super::group_state::{CallStates, Rows, read_columns};
use crate::Result;
use crate::batch::{ChangeBatch, Message, RowKind};
use crate::checkpoint::State;
use crate::operator::expiry::Expiry;
use crate::time::{NO_WATERMARK, Watermark};

/// An updating `GROUP BY`.
pub struct GroupAggregate {
    group_by: GroupBy,
    /// Keys, then aggregates.
    schema: SchemaRef,
    /// Numbers the keys (one global group without keys).
    keys: KeyTable,
    /// The aggregate calls' states over all groups.
    calls: CallStates,
    /// Per group: its live row count, whether its result is out (and is then the current
    /// one), and when a row last updated it (the row's watermark stamp).
    rows: Vec<i64>,
    emitted: Vec<bool>,
    updated: Vec<Watermark>,
    ids: Vec<usize>,
    /// Per group, its first row in the batch at hand (`u32::MAX`: none).
    first_row: Vec<u32>,
    /// How long, in event time, a group is kept after its last update
    /// (`'table.exec.state.ttl'`): then it starts afresh, as Flink's state TTL does.
    ttl: Option<i64>,
    expiry: Expiry,
    /// Whether an update makes a `-U` row before its `+U` (not for a sink that needs none).
    update_before: bool,
}

impl GroupAggregate {
    /// Aggregates by `group_by`; output rows have `schema` (keys, then aggregates). With
    /// `retracting`, the input is itself a changelog.
    pub fn new(group_by: GroupBy, schema: SchemaRef, retracting: bool) -> Result<Self> {
        let calls = CallStates::new(&group_by.calls, retracting)?;
        Ok(GroupAggregate {
            keys: group_by.new_key_table()?,
            calls,
            group_by,
            schema,
            rows: Vec::new(),
            emitted: Vec::new(),
            updated: Vec::new(),
            ids: Vec::new(),
            first_row: Vec::new(),
            ttl: None,
            expiry: Expiry::default(),
            update_before: true,
        })
    }

    /// Makes no `-U` rows, for a sink that needs none (Flink's `ONLY_UPDATE_AFTER`): an
    /// update is its `+U` row alone.
    pub fn without_update_before(mut self) -> Self {
        self.update_before = false;
        self
    }

    /// Groups not updated for `ttl` ms of event time start afresh.
    pub fn with_ttl(mut self, ttl: Option<i64>) -> Self {
        self.ttl = ttl;
        self
    }

    /// Group `id` starts afresh: no rows, no result out.
    fn reset(&mut self, id: usize) -> Result<()> {
        self.calls.reset(id)?;
        self.rows[id] = 0;
        self.emitted[id] = false;
        self.updated[id] = NO_WATERMARK;
        Ok(())
    }

    /// Aggregates rows `[from, to)` of `input` (whose groups are `self.ids`) and emits the
    /// changes of their groups.
    fn apply(
        &mut self,
        input: &GroupInput,
        retract: Option<&[bool]>,
        (from, to): (usize, usize),
        out: &mut Vec<Message>,
    ) -> Result<()> {
        if from == to {
            return Ok(());
        }
        let ids = &self.ids[from..to];
        // The groups the rows touch, in number order, each with its first row.
        let mut touched = Vec::new();
        for (row, &id) in ids.iter().enumerate() {
            if self.first_row[id] == u32::MAX {
                self.first_row[id] = row as u32;
                touched.push(id);
            }
        }
        touched.sort_unstable();
        let first_rows: Vec<u32> = touched.iter().map(|&id| self.first_row[id]).collect();
        for &id in &touched {
            self.first_row[id] = u32::MAX;
        }
        let retract = retract.map(|r| &r[from..to]);
        let old = match touched.iter().any(|&id| self.emitted[id]) {
            true => Some(self.calls.evaluate(&touched)?),
            false => None,
        };
        let rows = Rows::new(ids, retract, self.rows.len());
        for (row, &id) in ids.iter().enumerate() {
            self.rows[id] += rows.sign(row);
        }
        self.calls.update(&input.arguments, from, &rows)?;
        let new = self.calls.evaluate(&touched)?;
        let same = match &old {
            Some(old) => Some(same_values(old, &new, touched.len())?),
            None => None,
        };
        // Output rows as (kind, the group's first row, 0 for its old result or 1 for its new,
        // its place in `touched`).
        let mut picks: Vec<(RowKind, u32, usize, usize)> = Vec::new();
        for (at, &id) in touched.iter().enumerate() {
            let row = first_rows[at];
            if self.rows[id] <= 0 {
                if self.emitted[id] {
                    picks.push((RowKind::Delete, row, 0, at));
                }
                let updated = self.updated[id];
                self.reset(id)?;
                self.updated[id] = updated;
            } else if !self.emitted[id] {
                picks.push((RowKind::Insert, row, 1, at));
                self.emitted[id] = true;
            } else if !same.as_ref().is_some_and(|s| s.value(at)) {
                if self.update_before {
                    picks.push((RowKind::UpdateBefore, row, 0, at));
                }
                picks.push((RowKind::UpdateAfter, row, 1, at));
            }
        }
        if picks.is_empty() {
            return Ok(());
        }
        let key_rows: arrow::array::UInt32Array = picks
            .iter()
            .map(|(_, row, _, _)| from as u32 + row)
            .collect();
        let results: Vec<(usize, usize)> = picks.iter().map(|(_, _, v, at)| (*v, *at)).collect();
        let mut columns = Vec::with_capacity(self.schema.fields().len());
        for key in &input.keys {
            columns.push(take(key.as_ref(), &key_rows, None)?);
        }
        for (c, new) in new.iter().enumerate() {
            let old = old.as_ref().map_or(new, |old| &old[c]);
            columns.push(interleave(&[old.as_ref(), new.as_ref()], &results)?);
        }
        let columns = (columns.into_iter().zip(self.schema.fields()))
            .map(|(column, field)| cast_to(column, field.data_type()))
            .collect::<Result<_>>()?;
        let kinds: Int8Array = picks.iter().map(|(kind, ..)| *kind as i8).collect();
        out.push(Message::Batch(ChangeBatch {
            data: RecordBatch::try_new(self.schema.clone(), columns)?,
            ops: Some(kinds),
            watermarks: None,
        }));
        Ok(())
    }
}

/// Per row (of `rows`), whether columns `a` and `b` hold the same values (NULL the same as
/// NULL).
fn same_values(a: &[ArrayRef], b: &[ArrayRef], rows: usize) -> Result<BooleanArray> {
    let mut same = BooleanArray::from(vec![true; rows]);
    for (a, b) in a.iter().zip(b) {
        let equal = match a.data_type().is_nested() {
            // Arrays and rows (ARRAY_AGG): the comparison kernels take no nested values.
            true => {
                let compare = make_comparator(a.as_ref(), b.as_ref(), SortOptions::default())?;
                (0..rows)
                    .map(|i| Some(compare(i, i) == std::cmp::Ordering::Equal))
                    .collect()
            }
            false => not_distinct(a, b)?,
        };
        same = and(&same, &equal)?;
    }
    Ok(same)
}

impl Operator for GroupAggregate {
    fn state_bound(&self) -> super::StateBound {
        match self.ttl {
            Some(ttl) => super::StateBound::Ttl(ttl),
            None => super::StateBound::Unbounded("distinct keys"),
        }
    }

    fn name(&self) -> &str {
        match self.update_before {
            true => "GroupAggregate",
            false => "GroupAggregate (no -U rows)",
        }
    }

    fn state_bytes(&self) -> usize {
        let per_group = size_of::<i64>() + size_of::<bool>() + size_of::<Watermark>();
        self.keys.size() + self.rows.capacity() * per_group + self.calls.size()
    }

    fn on_batch(
        &mut self,
        _input: usize,
        batch: ChangeBatch,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let input = self.group_by.evaluate(&batch.data)?;
        self.keys.intern(&input.keys, rows, &mut self.ids)?;
        let groups = self.keys.len();
        self.rows.resize(groups, 0);
        self.emitted.resize(groups, false);
        self.updated.resize(groups, NO_WATERMARK);
        self.first_row.resize(groups, u32::MAX);
        let retract: Option<Vec<bool>> = batch.ops.as_ref().map(|ops| {
            (ops.values().iter())
                .map(|&op| {
                    matches!(
                        RowKind::from_code(op),
                        RowKind::UpdateBefore | RowKind::Delete
                    )
                })
                .collect()
        });
        let retract = retract.as_deref();
        let (Some(ttl), Some(stamps)) = (self.ttl, batch.watermarks.as_ref()) else {
            return self.apply(&input, retract, (0, rows), out);
        };
        // A row that comes the TTL after its group's last update finds the group forgotten:
        // the rows before it are aggregated and emitted first.
        let mut from = 0;
        for row in 0..rows {
            let id = self.ids[row];
            let stamp = stamps.value(row);
            if stamp == NO_WATERMARK {
                continue;
            }
            let updated = self.updated[id];
            if updated != NO_WATERMARK && stamp - updated >= ttl {
                self.apply(&input, retract, (from, row), out)?;
                self.reset(id)?;
                from = row;
            }
            self.updated[id] = stamp;
            self.expiry.list(id, stamp.saturating_add(ttl));
        }
        self.apply(&input, retract, (from, rows), out)
    }

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        if let Some(ttl) = self.ttl {
            for id in self.expiry.due(watermark) {
                let updated = self.updated[id];
                if updated == NO_WATERMARK {
                    continue;
                }
                match updated.saturating_add(ttl) {
                    due if due <= watermark => self.reset(id)?,
                    due => self.expiry.list(id, due),
                }
            }
        }
        out.push(Message::Watermark(watermark));
        Ok(())
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        let groups = self.keys.len();
        state.put_columns("keys", self.keys.snapshot()?, groups)?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(self.rows.clone())),
            Arc::new(BooleanArray::from(self.emitted.clone())),
            Arc::new(Int64Array::from(self.updated.clone())),
        ];
        state.put_columns("groups", columns, groups)?;
        self.calls.snapshot(groups, &mut state, "")?;
        state.put("expiry", &self.expiry)?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        let (keys, groups) = state.columns("keys")?;
        self.keys.intern(&keys, groups, &mut self.ids)?;
        let [counts, emitted, updated] = read_columns(state, "groups", groups)?;
        self.rows = counts.as_primitive::<Int64Type>().values().to_vec();
        self.emitted = emitted
            .as_boolean()
            .iter()
            .map(|e| e == Some(true))
            .collect();
        self.updated = updated.as_primitive::<Int64Type>().values().to_vec();
        self.first_row = vec![u32::MAX; groups];
        self.calls.restore(groups, state, "")?;
        self.expiry = state.get("expiry")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion_expr::{AggregateUDF, Operator as BinaryOp};
    use datafusion_functions_aggregate::count::count_udaf;
    use datafusion_functions_aggregate::min_max::{max_udaf, min_udaf};
    use datafusion_functions_aggregate::sum::sum_udaf;
    use datafusion_physical_expr::PhysicalExpr;
    use datafusion_physical_expr::aggregate::AggregateExprBuilder;
    use datafusion_physical_expr::expressions::{BinaryExpr, CastExpr, Column, lit};

    use super::*;
    use crate::operator::aggregate::AggregateCall;
    use crate::operator::aggregate::tests::count_and_sum;
    use crate::operator::testing::{
        assert_restores, describe, feed, keyed_batch, keyed_schema, random,
    };

    /// `COUNT(v), SUM(v) GROUP BY key`, over a changelog if `retracting`.
    fn aggregate(retracting: bool) -> Box<dyn Operator> {
        let output = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, true),
            Field::new("cnt", DataType::Int64, false),
            Field::new("total", DataType::Int64, true),
        ]));
        let group_by = count_and_sum(keyed_schema("ts"));
        Box::new(GroupAggregate::new(group_by, output, retracting).unwrap())
    }

    #[test]
    fn a_restored_aggregation_goes_on_as_the_first_would() {
        let none = NO_WATERMARK;
        let inputs: Vec<(usize, Message)> = [
            keyed_batch("ts", &[("a", 1, 0, none), ("b", 2, 0, none)]),
            keyed_batch("ts", &[("a", 3, 0, none)]),
            keyed_batch(
                "ts",
                &[("c", 4, 0, none), ("b", 5, 0, none), ("a", 6, 0, none)],
            ),
        ]
        .into_iter()
        .map(|b| (0, Message::Batch(b)))
        .chain([(0, Message::End)])
        .collect();
        assert_restores(|| aggregate(false), &inputs);
    }

    #[test]
    fn a_restored_aggregation_over_a_changelog_goes_on_as_the_first_would() {
        let none = NO_WATERMARK;
        let changes = |rows: &[(&str, i64)], kinds: &[RowKind]| {
            let rows: Vec<_> = rows.iter().map(|(k, v)| (*k, *v, 0, none)).collect();
            let mut batch = keyed_batch("ts", &rows);
            batch.ops = Some(kinds.iter().map(|k| *k as i8).collect());
            (0, Message::Batch(batch))
        };
        let (i, d) = (RowKind::Insert, RowKind::Delete);
        let inputs = vec![
            changes(&[("a", 1), ("b", 2), ("a", 3)], &[i, i, i]),
            changes(&[("a", 1), ("c", 4)], &[d, i]),
            changes(&[("b", 2), ("a", 5)], &[d, i]),
            (0, Message::End),
        ];
        assert_restores(|| aggregate(true), &inputs);
    }

    /// `COUNT(v), COUNT(DISTINCT v), COUNT(DISTINCT CAST(v AS STRING)), SUM(v), MIN(v), MAX(v),
    /// SUM(v) FILTER (WHERE v > 2), COUNT(DISTINCT v) FILTER (WHERE v > 2),
    /// MIN(CAST(v * 7 AS STRING)), MAX(CAST(v * 7 AS STRING)),
    /// COUNT(DISTINCT v) FILTER (WHERE v < 2) GROUP BY key` over rows `(key, v)`. The three
    /// `COUNT(DISTINCT v)` share a state.
    fn every_state(retracting: bool) -> GroupAggregate {
        let input = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
        ]));
        let v: Arc<dyn PhysicalExpr> = Arc::new(Column::new("v", 1));
        let text: Arc<dyn PhysicalExpr> = Arc::new(CastExpr::new(v.clone(), DataType::Utf8, None));
        let call_of =
            |udaf: Arc<AggregateUDF>, arg: &Arc<dyn PhysicalExpr>, name: &str, distinct| {
                let function = AggregateExprBuilder::new(udaf, vec![arg.clone()])
                    .schema(input.clone())
                    .alias(name)
                    .with_distinct(distinct)
                    .build()
                    .unwrap();
                AggregateCall {
                    function: Arc::new(function),
                    filter: None,
                }
            };
        let call = |udaf, name: &str, distinct| call_of(udaf, &v, name, distinct);
        let over_two: Arc<dyn PhysicalExpr> =
            Arc::new(BinaryExpr::new(v.clone(), BinaryOp::Gt, lit(2i64)));
        let mut big = call(sum_udaf(), "big", false);
        big.filter = Some(over_two.clone());
        let mut distinct_big = call(count_udaf(), "distinct_big", true);
        distinct_big.filter = Some(over_two);
        let mut distinct_small = call(count_udaf(), "distinct_small", true);
        distinct_small.filter = Some(Arc::new(BinaryExpr::new(
            v.clone(),
            BinaryOp::Lt,
            lit(2i64),
        )));
        let times_seven: Arc<dyn PhysicalExpr> = Arc::new(CastExpr::new(
            Arc::new(BinaryExpr::new(v.clone(), BinaryOp::Multiply, lit(7i64))),
            DataType::Utf8,
            None,
        ));
        let group_by = GroupBy {
            keys: vec![Arc::new(Column::new("key", 0))],
            key_schema: Arc::new(Schema::new(vec![Field::new("key", DataType::Utf8, true)])),
            calls: vec![
                call(count_udaf(), "cnt", false),
                call(count_udaf(), "distinct", true),
                call_of(count_udaf(), &text, "distinct_text", true),
                call(sum_udaf(), "total", false),
                call(min_udaf(), "lo", false),
                call(max_udaf(), "hi", false),
                big,
                distinct_big,
                call_of(min_udaf(), &times_seven, "lo_text", false),
                call_of(max_udaf(), &times_seven, "hi_text", false),
                distinct_small,
            ],
        };
        let mut fields = vec![Field::new("key", DataType::Utf8, true)];
        for name in [
            "cnt",
            "distinct",
            "distinct_text",
            "total",
            "lo",
            "hi",
            "big",
            "distinct_big",
        ] {
            fields.push(Field::new(name, DataType::Int64, true));
        }
        for name in ["lo_text", "hi_text"] {
            fields.push(Field::new(name, DataType::Utf8, true));
        }
        fields.push(Field::new("distinct_small", DataType::Int64, true));
        GroupAggregate::new(group_by, Arc::new(Schema::new(fields)), retracting).unwrap()
    }

    /// Random changes `(kind, key, v)`: inserts, and with `retracting` also retractions of
    /// live rows, in batches of 1 to 9 rows.
    fn random_changes(seed: u64, retracting: bool) -> Vec<Vec<(RowKind, String, Option<i64>)>> {
        let mut next = random(seed);
        let mut live: Vec<(String, Option<i64>)> = Vec::new();
        let mut batches = Vec::new();
        for _ in 0..60 {
            let mut batch = Vec::new();
            for _ in 0..=next(9) {
                if retracting && !live.is_empty() && next(3) == 0 {
                    let (key, v) = live.swap_remove(next(live.len() as u64) as usize);
                    let kind = [RowKind::Delete, RowKind::UpdateBefore][next(2) as usize];
                    batch.push((kind, key, v));
                } else {
                    let key = format!("k{}", next(4));
                    let v = (next(5) != 0).then(|| next(6) as i64);
                    live.push((key.clone(), v));
                    batch.push((RowKind::Insert, key, v));
                }
            }
            batches.push(batch);
        }
        batches
    }

    /// `changes` as a batch of `(key, v)`, with their kinds if `retracting`.
    fn change_batch(changes: &[(RowKind, String, Option<i64>)], retracting: bool) -> ChangeBatch {
        let keys = StringArray::from_iter_values(changes.iter().map(|c| c.1.clone()));
        let values = Int64Array::from_iter(changes.iter().map(|c| c.2));
        let data = RecordBatch::try_from_iter([
            ("key", Arc::new(keys) as ArrayRef),
            ("v", Arc::new(values) as ArrayRef),
        ])
        .unwrap();
        let mut batch = ChangeBatch::inserts(data);
        if retracting {
            batch.ops = Some(changes.iter().map(|c| c.0 as i8).collect());
        }
        batch
    }

    /// What every group's row should read, from the live rows.
    fn expected(live: &[(String, Option<i64>)]) -> BTreeMap<String, String> {
        let mut by_key: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        let mut rows: BTreeMap<String, usize> = BTreeMap::new();
        for (key, v) in live {
            *rows.entry(key.clone()).or_default() += 1;
            by_key.entry(key.clone()).or_default().extend(v);
        }
        let text = |v: Option<i64>| v.map_or("NULL".to_string(), |v| v.to_string());
        rows.keys()
            .map(|key| {
                let mut values = by_key.remove(key).unwrap_or_default();
                let big: Vec<i64> = values.iter().copied().filter(|v| *v > 2).collect();
                let (count, total) = (values.len(), values.iter().sum::<i64>());
                let (lo, hi) = (values.iter().min().copied(), values.iter().max().copied());
                // Strings compare byte by byte: "14" before "7".
                let texts: Vec<String> = values.iter().map(|v| (v * 7).to_string()).collect();
                let (lo_text, hi_text) = (texts.iter().min(), texts.iter().max());
                values.sort();
                values.dedup();
                let distinct_big = values.iter().filter(|v| **v > 2).count();
                let distinct_small = values.iter().filter(|v| **v < 2).count();
                let row = format!(
                    "{key},{count},{},{},{},{},{},{},{distinct_big},{},{},{distinct_small}",
                    values.len(),
                    values.len(),
                    text((count > 0).then_some(total)),
                    text(lo),
                    text(hi),
                    text((!big.is_empty()).then(|| big.iter().sum())),
                    lo_text.map_or("NULL", |t| t),
                    hi_text.map_or("NULL", |t| t),
                );
                (key.clone(), row)
            })
            .collect()
    }

    /// Without `-U` rows (for a sink that needs none), the changelog is read as an upsert
    /// table is: a `+U` replaces its key's row, and no `-U` comes.
    #[test]
    fn every_group_reads_what_its_live_rows_give_after_each_batch() {
        let cases = [(1, false), (2, false), (3, true), (4, true), (5, true)];
        for ((seed, retracting), update_before) in
            cases.into_iter().flat_map(|c| [(c, true), (c, false)])
        {
            let mut operator = every_state(retracting);
            if !update_before {
                operator = operator.without_update_before();
            }
            let mut live: Vec<(String, Option<i64>)> = Vec::new();
            let mut table: BTreeMap<String, String> = BTreeMap::new();
            for changes in random_changes(seed, retracting) {
                let batch = change_batch(&changes, retracting);
                for (kind, key, v) in changes {
                    match kind {
                        RowKind::Insert => live.push((key, v)),
                        _ => {
                            let at = live.iter().position(|r| *r == (key.clone(), v)).unwrap();
                            live.remove(at);
                        }
                    }
                }
                let mut out = Vec::new();
                feed(&mut operator, &[(0, Message::Batch(batch))], &mut out);
                // Apply the changelog: each retraction must name the row as it stands.
                for line in describe(&out) {
                    let (kind, row) = line.split_once(' ').unwrap();
                    let key = row.split(',').next().unwrap().to_string();
                    let replaced = match kind {
                        "Insert" | "UpdateAfter" => table.insert(key, row.into()),
                        _ => {
                            assert!(update_before || kind == "Delete", "{line}");
                            assert_eq!(table.remove(&key).as_deref(), Some(row), "{line}");
                            None
                        }
                    };
                    // With -U rows, a +U comes after its key's row was taken back; without,
                    // it replaces it.
                    let replaces = kind == "UpdateAfter" && !update_before;
                    assert_eq!(replaced.is_some(), replaces, "{line}");
                }
                assert_eq!(
                    table,
                    expected(&live),
                    "seed {seed}, -U rows {update_before}"
                );
            }
        }
    }

    #[test]
    fn a_restored_aggregation_of_every_state_goes_on_as_the_first_would() {
        for retracting in [false, true] {
            let inputs: Vec<(usize, Message)> = random_changes(7, retracting)
                .into_iter()
                .take(12)
                .map(|changes| (0, Message::Batch(change_batch(&changes, retracting))))
                .collect();
            assert_restores(|| Box::new(every_state(retracting)), &inputs);
        }
    }
}
