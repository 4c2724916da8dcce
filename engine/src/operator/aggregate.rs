//! Grouped aggregation state shared by the aggregating operators: DataFusion's `GroupValues`
//! to number the groups and its `GroupsAccumulator`s to aggregate whole batches at once.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion_expr::{EmitTo, GroupsAccumulator};
use datafusion_physical_expr::aggregate::AggregateFunctionExpr;
use datafusion_physical_expr::{GroupsAccumulatorAdapter, PhysicalExpr};
use datafusion_physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion_physical_plan::aggregates::order::GroupOrdering;

use crate::checkpoint::State;
use crate::{EngineError, Result};

/// One aggregate call: the function and its optional `FILTER (WHERE ...)`.
#[derive(Debug, Clone)]
pub struct AggregateCall {
    pub function: Arc<AggregateFunctionExpr>,
    pub filter: Option<Arc<dyn PhysicalExpr>>,
}

/// The group keys and aggregate calls of a `GROUP BY`.
#[derive(Debug, Clone)]
pub struct GroupBy {
    /// Key expressions over the input rows.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The keys' columns, as the groups' keys are emitted.
    pub key_schema: SchemaRef,
    pub calls: Vec<AggregateCall>,
}

/// Keys and aggregate arguments evaluated on a batch.
pub struct GroupInput {
    pub keys: Vec<ArrayRef>,
    /// Per call: its argument columns and its filter.
    pub arguments: Vec<(Vec<ArrayRef>, Option<BooleanArray>)>,
    pub rows: usize,
}

impl GroupBy {
    /// Evaluates keys and arguments on `batch`.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<GroupInput> {
        let rows = batch.num_rows();
        let eval = |e: &Arc<dyn PhysicalExpr>| -> Result<ArrayRef> {
            Ok(e.evaluate(batch)?.into_array(rows)?)
        };
        let keys = self.keys.iter().map(eval).collect::<Result<Vec<_>>>()?;
        let mut arguments = Vec::with_capacity(self.calls.len());
        for call in &self.calls {
            let args = call
                .function
                .expressions()
                .iter()
                .map(eval)
                .collect::<Result<Vec<_>>>()?;
            let filter = match &call.filter {
                Some(f) => Some(
                    eval(f)?
                        .as_boolean_opt()
                        .ok_or_else(|| EngineError::Other("FILTER is not a boolean".into()))?
                        .clone(),
                ),
                None => None,
            };
            arguments.push((args, filter));
        }
        Ok(GroupInput {
            keys,
            arguments,
            rows,
        })
    }

    /// Empty groups with fresh accumulators.
    pub fn new_groups(&self) -> Result<Groups> {
        Ok(Groups {
            keys: self.new_key_table()?,
            accumulators: self.new_accumulators()?,
            ids: Vec::new(),
        })
    }

    /// An empty table numbering the distinct keys.
    pub fn new_key_table(&self) -> Result<KeyTable> {
        KeyTable::new(self.key_schema.clone())
    }

    /// One fresh accumulator per call.
    pub fn new_accumulators(&self) -> Result<Vec<Box<dyn GroupsAccumulator>>> {
        self.calls
            .iter()
            .map(|c| new_accumulator(&c.function))
            .collect()
    }
}

impl GroupInput {
    /// The rows at `indices`.
    pub fn take(&self, indices: &UInt32Array) -> Result<GroupInput> {
        let pick = |a: &ArrayRef| -> Result<ArrayRef> { Ok(take(a.as_ref(), indices, None)?) };
        let keys = self.keys.iter().map(pick).collect::<Result<Vec<_>>>()?;
        let mut arguments = Vec::with_capacity(self.arguments.len());
        for (args, filter) in &self.arguments {
            let args = args.iter().map(pick).collect::<Result<Vec<_>>>()?;
            let filter = match filter {
                Some(f) => Some(take(f, indices, None)?.as_boolean().clone()),
                None => None,
            };
            arguments.push((args, filter));
        }
        Ok(GroupInput {
            keys,
            arguments,
            rows: indices.len(),
        })
    }
}

/// Numbers distinct keys in order of first appearance: DataFusion's `GroupValues`, or, without
/// key columns, one number for every row.
pub struct KeyTable {
    schema: SchemaRef,
    /// `None` without key columns.
    values: Option<Box<dyn GroupValues>>,
    /// Without key columns: whether the one key has rows.
    keyless_rows: bool,
}

impl KeyTable {
    /// An empty table for keys of `schema` (which may have no columns).
    pub fn new(schema: SchemaRef) -> Result<KeyTable> {
        let values = match schema.fields().is_empty() {
            true => None,
            false => Some(new_group_values(schema.clone(), &GroupOrdering::None)?),
        };
        Ok(KeyTable {
            schema,
            values,
            keyless_rows: false,
        })
    }

    /// Sets `ids` to the number of each of the `rows` rows' keys, numbering new keys.
    pub fn intern(&mut self, keys: &[ArrayRef], rows: usize, ids: &mut Vec<usize>) -> Result<()> {
        ids.clear();
        match &mut self.values {
            Some(values) => values.intern(keys, ids)?,
            None => {
                ids.resize(rows, 0);
                self.keyless_rows |= rows > 0;
            }
        }
        Ok(())
    }

    /// How many keys are numbered.
    pub fn len(&self) -> usize {
        self.values
            .as_ref()
            .map_or(usize::from(self.keyless_rows), |v| v.len())
    }

    /// Whether no key is numbered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The memory the keys take.
    pub fn size(&self) -> usize {
        self.values.as_ref().map_or(0, |v| v.size())
    }

    /// Forgets every key.
    pub fn clear(&mut self) -> Result<()> {
        *self = KeyTable::new(self.schema.clone())?;
        Ok(())
    }

    /// Every key's columns, in number order; the table starts over empty. (A new DataFusion
    /// table: some kinds cannot take keys again after emitting all of them.)
    pub fn take(&mut self) -> Result<Vec<ArrayRef>> {
        let fresh = KeyTable::new(self.schema.clone())?;
        let old = std::mem::replace(self, fresh);
        match old.values {
            Some(mut values) => Ok(values.emit(EmitTo::All)?),
            None => Ok(vec![]),
        }
    }
}

/// What an output column of a window aggregation holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowOutput {
    Start,
    End,
    /// `window_time`: the window's last instant.
    Time,
    /// The n-th group key.
    Key(usize),
    /// The n-th aggregate call.
    Aggregate(usize),
}

/// A set of groups and their running aggregates.
pub struct Groups {
    keys: KeyTable,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    ids: Vec<usize>,
}

impl Groups {
    /// Adds rows: each goes to the group of its keys, new groups are made as needed.
    pub fn update(&mut self, input: &GroupInput) -> Result<()> {
        self.keys.intern(&input.keys, input.rows, &mut self.ids)?;
        let total = self.len();
        for (accumulator, (args, filter)) in self.accumulators.iter_mut().zip(&input.arguments) {
            accumulator.update_batch(args, &self.ids, filter.as_ref(), total)?;
        }
        Ok(())
    }

    /// The number of groups.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The memory of the keys and accumulators.
    pub fn size(&self) -> usize {
        self.keys.size() + self.accumulators.iter().map(|a| a.size()).sum::<usize>()
    }

    /// Every group's keys and then its aggregates, in order of the groups' first rows. The
    /// groups are gone afterwards.
    pub fn emit(&mut self) -> Result<Vec<ArrayRef>> {
        let mut columns = self.keys.take()?;
        for accumulator in &mut self.accumulators {
            columns.push(accumulator.evaluate(EmitTo::All)?);
        }
        Ok(columns)
    }
}

/// Groups made read-only: their keys and their accumulators' states, which any number of
/// other groups can merge (a slice of HOP or CUMULATE windows, read by each of its windows).
pub struct Frozen {
    keys: Vec<ArrayRef>,
    /// Per aggregate call, its state columns.
    states: Vec<Vec<ArrayRef>>,
    rows: usize,
}

impl Groups {
    /// The groups as read-only states.
    pub fn freeze(mut self) -> Result<Frozen> {
        let rows = self.len();
        let keys = self.keys.take()?;
        let states = (self.accumulators.iter_mut())
            .map(|a| Ok(a.state(EmitTo::All)?))
            .collect::<Result<_>>()?;
        Ok(Frozen { keys, states, rows })
    }

    /// Merges `frozen` in: its groups' states join the groups of the same keys, new groups
    /// are made as needed.
    pub fn merge(&mut self, frozen: &Frozen) -> Result<()> {
        self.keys.intern(&frozen.keys, frozen.rows, &mut self.ids)?;
        let total = self.len();
        for (accumulator, states) in self.accumulators.iter_mut().zip(&frozen.states) {
            accumulator.merge_batch(states, &self.ids, total)?;
        }
        Ok(())
    }
}

impl Frozen {
    /// The memory of the keys and states.
    pub fn size(&self) -> usize {
        let arrays = self.keys.iter().chain(self.states.iter().flatten());
        arrays.map(|a| a.get_array_memory_size()).sum()
    }

    /// Puts the states under `name`, for a checkpoint.
    pub fn snapshot(&self, state: &mut State, name: &str) -> Result<()> {
        state.put_columns(&format!("{name}.keys"), self.keys.clone(), self.rows)?;
        let widths: Vec<usize> = self.states.iter().map(Vec::len).collect();
        state.put(&format!("{name}.widths"), &widths)?;
        let columns = self.states.iter().flatten().cloned().collect();
        state.put_columns(&format!("{name}.states"), columns, self.rows)
    }

    /// The states put under `name` by [`Frozen::snapshot`].
    pub fn restore(state: &State, name: &str) -> Result<Frozen> {
        let (keys, rows) = state.columns(&format!("{name}.keys"))?;
        let widths: Vec<usize> = state.get(&format!("{name}.widths"))?;
        let (columns, _) = state.columns(&format!("{name}.states"))?;
        let mut columns = columns.into_iter();
        let states = (widths.into_iter())
            .map(|width| columns.by_ref().take(width).collect())
            .collect();
        Ok(Frozen { keys, states, rows })
    }
}

impl Groups {
    /// Every group's keys and then its aggregates, like [`Groups::emit`], but the groups stay
    /// (with the same numbers) to take more rows. Costs a copy of the accumulators' state.
    pub fn evaluate_and_keep(&mut self, group_by: &GroupBy) -> Result<Vec<ArrayRef>> {
        let total = self.len();
        let mut columns = self.keys.take()?;
        self.keys.intern(&columns, total, &mut self.ids)?;
        let mut kept = group_by.new_accumulators()?;
        let mut results = group_by.new_accumulators()?;
        for ((accumulator, keep), result) in self
            .accumulators
            .iter_mut()
            .zip(&mut kept)
            .zip(&mut results)
        {
            let state = accumulator.state(EmitTo::All)?;
            keep.merge_batch(&state, &self.ids, total)?;
            result.merge_batch(&state, &self.ids, total)?;
            columns.push(result.evaluate(EmitTo::All)?);
        }
        self.accumulators = kept;
        Ok(columns)
    }
}

impl Groups {
    /// Puts the groups' keys and aggregate states under `name`, for a checkpoint; the groups
    /// carry on unchanged. Costs a copy of the accumulators' state.
    pub fn snapshot(&mut self, group_by: &GroupBy, state: &mut State, name: &str) -> Result<()> {
        let total = self.len();
        let keys = self.keys.snapshot()?;
        state.put_columns(&format!("{name}.keys"), keys, total)?;
        snapshot_accumulators(group_by, &mut self.accumulators, total, state, name)
    }

    /// The groups put under `name` by [`Groups::snapshot`].
    pub fn restore(group_by: &GroupBy, state: &State, name: &str) -> Result<Groups> {
        let mut groups = group_by.new_groups()?;
        let (keys, total) = state.columns(&format!("{name}.keys"))?;
        groups.keys.intern(&keys, total, &mut groups.ids)?;
        groups.accumulators = restore_accumulators(group_by, state, name, total)?;
        Ok(groups)
    }
}

impl KeyTable {
    /// Every key's columns, in number order, for a checkpoint; the keys keep their numbers.
    pub fn snapshot(&mut self) -> Result<Vec<ArrayRef>> {
        let total = self.len();
        let columns = self.take()?;
        self.intern(&columns, total, &mut Vec::new())?;
        Ok(columns)
    }
}

/// Puts the state of `accumulators` (over `total` groups) under `name`, for a checkpoint;
/// they carry on unchanged (rebuilt from that state).
pub(crate) fn snapshot_accumulators(
    group_by: &GroupBy,
    accumulators: &mut Vec<Box<dyn GroupsAccumulator>>,
    total: usize,
    state: &mut State,
    name: &str,
) -> Result<()> {
    let ids: Vec<usize> = (0..total).collect();
    let mut kept = group_by.new_accumulators()?;
    let mut columns = Vec::new();
    let mut widths = Vec::with_capacity(kept.len());
    for (accumulator, keep) in accumulators.iter_mut().zip(&mut kept) {
        let states = accumulator.state(EmitTo::All)?;
        keep.merge_batch(&states, &ids, total)?;
        widths.push(states.len());
        columns.extend(states);
    }
    *accumulators = kept;
    state.put(&format!("{name}.widths"), &widths)?;
    state.put_columns(&format!("{name}.states"), columns, total)
}

/// Accumulators over `total` groups from the state put under `name` by
/// [`snapshot_accumulators`].
pub(crate) fn restore_accumulators(
    group_by: &GroupBy,
    state: &State,
    name: &str,
    total: usize,
) -> Result<Vec<Box<dyn GroupsAccumulator>>> {
    let widths: Vec<usize> = state.get(&format!("{name}.widths"))?;
    let (columns, rows) = state.columns(&format!("{name}.states"))?;
    let mut accumulators = group_by.new_accumulators()?;
    if rows != total
        || widths.len() != accumulators.len()
        || columns.len() != widths.iter().sum::<usize>()
    {
        return Err(EngineError::Other(format!(
            "a checkpointed state does not read: '{name}' does not hold the plan's aggregates"
        )));
    }
    let ids: Vec<usize> = (0..total).collect();
    let mut columns = columns.into_iter();
    for (accumulator, width) in accumulators.iter_mut().zip(widths) {
        let states: Vec<ArrayRef> = columns.by_ref().take(width).collect();
        accumulator.merge_batch(&states, &ids, total)?;
    }
    Ok(accumulators)
}

/// DataFusion's vectorised accumulator where the function has one, else its row accumulator
/// behind an adapter (as DataFusion's own aggregation does).
pub(crate) fn new_accumulator(
    function: &Arc<AggregateFunctionExpr>,
) -> Result<Box<dyn GroupsAccumulator>> {
    if function.groups_accumulator_supported() {
        return Ok(function.create_groups_accumulator()?);
    }
    let function = function.clone();
    Ok(Box::new(GroupsAccumulatorAdapter::new(move || {
        function.create_accumulator()
    })))
}

/// `column` as `data_type` (a no-op when it already is).
pub fn cast_to(column: ArrayRef, data_type: &DataType) -> Result<ArrayRef> {
    if column.data_type() == data_type {
        Ok(column)
    } else {
        Ok(arrow::compute::cast(&column, data_type)?)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{Field, Schema, TimeUnit};
    use datafusion_functions_aggregate::count::count_udaf;
    use datafusion_functions_aggregate::sum::sum_udaf;
    use datafusion_physical_expr::aggregate::AggregateExprBuilder;
    use datafusion_physical_expr::expressions::Column;

    use super::*;
    use crate::batch::{ChangeBatch, Message};

    /// The output of [`count_and_sum`] per window: `window_start, window_end, key, cnt,
    /// total`, and what each column holds.
    pub(crate) fn windowed_count_and_sum() -> (SchemaRef, Vec<WindowOutput>) {
        let time = |name| Field::new(name, DataType::Timestamp(TimeUnit::Millisecond, None), true);
        let schema = Arc::new(Schema::new(vec![
            time("window_start"),
            time("window_end"),
            Field::new("key", DataType::Utf8, true),
            Field::new("cnt", DataType::Int64, true),
            Field::new("total", DataType::Int64, true),
        ]));
        let layout = vec![
            WindowOutput::Start,
            WindowOutput::End,
            WindowOutput::Key(0),
            WindowOutput::Aggregate(0),
            WindowOutput::Aggregate(1),
        ];
        (schema, layout)
    }

    /// `GROUP BY key` with `COUNT(v), SUM(v)` over rows `(key STRING, v BIGINT, ...)`.
    pub(crate) fn count_and_sum(input: SchemaRef) -> GroupBy {
        let v: Arc<dyn PhysicalExpr> = Arc::new(Column::new("v", 1));
        let call = |udaf, name: &str| AggregateCall {
            function: Arc::new(
                AggregateExprBuilder::new(udaf, vec![v.clone()])
                    .schema(input.clone())
                    .alias(name)
                    .build()
                    .unwrap(),
            ),
            filter: None,
        };
        GroupBy {
            keys: vec![Arc::new(Column::new("key", 0))],
            key_schema: Arc::new(Schema::new(vec![Field::new("key", DataType::Utf8, true)])),
            calls: vec![call(count_udaf(), "cnt"), call(sum_udaf(), "total")],
        }
    }

    /// The batches among `messages` as `key:count:sum` strings, with each message's kind.
    pub(crate) fn rows(messages: &[Message], key: usize) -> Vec<String> {
        let mut out = Vec::new();
        for m in messages {
            match m {
                Message::Batch(ChangeBatch { data, .. }) => {
                    let keys = data
                        .column(key)
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .unwrap();
                    let n = data.num_columns();
                    let ints = |c: usize| {
                        data.column(c)
                            .as_primitive::<arrow::datatypes::Int64Type>()
                            .clone()
                    };
                    let (cnt, sum) = (ints(n - 2), ints(n - 1));
                    for i in 0..data.num_rows() {
                        out.push(format!(
                            "{}:{}:{}",
                            keys.value(i),
                            cnt.value(i),
                            sum.value(i)
                        ));
                    }
                }
                Message::Watermark(w) => out.push(format!("wm {w}")),
                Message::Barrier(id) => out.push(format!("barrier {id}")),
                Message::End => out.push("end".into()),
                Message::Side(n, batch) => out.push(format!("side {n}: {} rows", batch.num_rows())),
            }
        }
        out
    }

    #[test]
    fn groups_emit_in_order_of_first_row() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
        ]));
        let group_by = count_and_sum(schema.clone());
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["b", "a", "b"])),
                Arc::new(Int64Array::from(vec![Some(1), Some(2), None])),
            ],
        )
        .unwrap();
        let mut groups = group_by.new_groups().unwrap();
        groups.update(&group_by.evaluate(&batch).unwrap()).unwrap();
        let columns = groups.emit().unwrap();
        let data = RecordBatch::try_from_iter([
            ("key", columns[0].clone()),
            ("cnt", columns[1].clone()),
            ("total", columns[2].clone()),
        ])
        .unwrap();
        let out = rows(&[Message::Batch(ChangeBatch::inserts(data))], 0);
        // COUNT(v) skips the NULL; SUM too.
        assert_eq!(out, ["b:1:1", "a:1:2"]);
        assert!(groups.is_empty());
        assert!(columns[1].len() == 2);
    }
}
