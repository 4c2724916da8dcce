//! Non-windowed `GROUP BY` (and `DISTINCT`): an updating aggregation. Each batch updates the
//! groups its rows belong to; every group whose result changed is emitted as `+I` (first
//! result), `-U`/`+U` (old and new result) or `-D` (its last row was retracted). Rows are
//! aggregated a group at a time on slices of the batch; accumulators are DataFusion's row
//! accumulators, which can be evaluated repeatedly and can retract.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int8Array, UInt32Array, new_empty_array,
};
use arrow::compute::filter;
use arrow::datatypes::DataType;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Accumulator;

use super::aggregate::{GroupBy, GroupInput, KeyTable};
use super::retracting::{RetractableArrival, RetractableExtremum};
use super::{Operator, not_checkpointed};
use crate::batch::{ChangeBatch, Message, RowKind};
use crate::checkpoint::State;
use crate::operator::expiry::Expiry;
use crate::time::{NO_WATERMARK, Watermark};
use crate::{EngineError, Result};

/// One group: its key, accumulators, live row count, the result last emitted, and when a row
/// last updated it (the row's watermark stamp).
struct Group {
    key: Vec<ScalarValue>,
    accumulators: Vec<Box<dyn Accumulator>>,
    rows: i64,
    emitted: Option<Vec<ScalarValue>>,
    updated: Watermark,
}

/// An updating `GROUP BY`.
pub struct GroupAggregate {
    group_by: GroupBy,
    /// Whether the input retracts rows: accumulators must then support retraction.
    retracting: bool,
    /// Keys, then aggregates.
    schema: SchemaRef,
    /// Numbers the keys (one global group without keys).
    keys: KeyTable,
    groups: Vec<Group>,
    ids: Vec<usize>,
    /// How long, in event time, a group is kept after its last update
    /// (`'table.exec.state.ttl'`): then it starts afresh, as Flink's state TTL does.
    ttl: Option<i64>,
    expiry: Expiry,
}

impl GroupAggregate {
    /// Aggregates by `group_by`; output rows have `schema` (keys, then aggregates). With
    /// `retracting`, the input is itself a changelog.
    pub fn new(group_by: GroupBy, schema: SchemaRef, retracting: bool) -> Result<Self> {
        Ok(GroupAggregate {
            retracting,
            keys: group_by.new_key_table()?,
            group_by,
            schema,
            groups: Vec::new(),
            ids: Vec::new(),
            ttl: None,
            expiry: Expiry::default(),
        })
    }

    /// Groups not updated for `ttl` ms of event time start afresh.
    pub fn with_ttl(mut self, ttl: Option<i64>) -> Self {
        self.ttl = ttl;
        self
    }

    /// Forgets group `id` (silently: its last result stands), freeing its accumulators.
    fn forget(&mut self, id: usize) -> Result<()> {
        let fresh = self.accumulators()?;
        let group = &mut self.groups[id];
        group.accumulators = fresh;
        group.rows = 0;
        group.emitted = None;
        group.updated = NO_WATERMARK;
        Ok(())
    }

    /// Fresh accumulators for a group; retractable ones over a changelog.
    fn accumulators(&self) -> Result<Vec<Box<dyn Accumulator>>> {
        (0..self.group_by.calls.len())
            .map(|c| self.accumulator(c))
            .collect()
    }

    /// A fresh accumulator for aggregate call `c`.
    fn accumulator(&self, c: usize) -> Result<Box<dyn Accumulator>> {
        let call = &self.group_by.calls[c];
        if !self.retracting {
            return Ok(call.function.create_accumulator()?);
        }
        let data_type = call.function.field().data_type().clone();
        Ok(match call.function.fun().name() {
            "min" => Box::new(RetractableExtremum::new(&data_type, false)?),
            "max" => Box::new(RetractableExtremum::new(&data_type, true)?),
            "first_value" => Box::new(RetractableArrival::new(&data_type, false)?),
            "last_value" => Box::new(RetractableArrival::new(&data_type, true)?),
            _ => call.function.create_sliding_accumulator()?,
        })
    }

    fn new_group(&self, input: &GroupInput, row: usize) -> Result<Group> {
        let key = input
            .keys
            .iter()
            .map(|k| ScalarValue::try_from_array(k.as_ref(), row))
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        Ok(Group {
            accumulators: self.accumulators()?,
            key,
            rows: 0,
            emitted: None,
            updated: NO_WATERMARK,
        })
    }

    /// Feeds rows `[start, start + len)` of `input` (rows sorted by group) to `group`;
    /// `retract` says which of them are retractions.
    fn feed(
        group: &mut Group,
        input: &GroupInput,
        start: usize,
        len: usize,
        retract: Option<&[bool]>,
    ) -> Result<()> {
        let retractions = retract.map_or(0, |r| r.iter().filter(|x| **x).count());
        group.rows += (len - retractions) as i64 - retractions as i64;
        for (accumulator, (args, call_filter)) in
            group.accumulators.iter_mut().zip(&input.arguments)
        {
            let mut args: Vec<ArrayRef> = args.iter().map(|a| a.slice(start, len)).collect();
            let mut kinds = retract.map(<[bool]>::to_vec);
            if let Some(f) = call_filter {
                let mask = f.slice(start, len);
                args = args
                    .iter()
                    .map(|a| filter(a.as_ref(), &mask))
                    .collect::<std::result::Result<_, _>>()?;
                kinds = kinds.map(|k| {
                    k.iter()
                        .enumerate()
                        .filter(|(i, _)| mask.is_valid(*i) && mask.value(*i))
                        .map(|(_, r)| *r)
                        .collect()
                });
            }
            match kinds {
                None => accumulator.update_batch(&args)?,
                Some(kinds) => {
                    let pick = |want: bool| -> Result<Vec<ArrayRef>> {
                        let mask = BooleanArray::from(
                            kinds.iter().map(|r| *r == want).collect::<Vec<_>>(),
                        );
                        Ok(args
                            .iter()
                            .map(|a| filter(a.as_ref(), &mask))
                            .collect::<std::result::Result<_, _>>()?)
                    };
                    accumulator.update_batch(&pick(false)?)?;
                    if kinds.iter().any(|r| *r) {
                        if !accumulator.supports_retract_batch() {
                            return Err(EngineError::Other(
                                "an aggregate over an updating input cannot retract rows".into(),
                            ));
                        }
                        accumulator.retract_batch(&pick(true)?)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl Operator for GroupAggregate {
    fn state_bound(&self) -> super::StateBound {
        match self.ttl {
            Some(ttl) => super::StateBound::Ttl(ttl),
            None => super::StateBound::Unbounded("distinct keys"),
        }
    }

    fn name(&self) -> &str {
        "GroupAggregate"
    }

    fn state_bytes(&self) -> usize {
        // Groups are alike: the first one's size stands for every one's.
        let per_group = self.groups.first().map_or(0, |g| {
            size_of::<Group>()
                + g.key.iter().map(ScalarValue::size).sum::<usize>()
                + g.accumulators.iter().map(|a| a.size()).sum::<usize>()
        });
        self.keys.size() + self.groups.len() * per_group
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
        for row in 0..rows {
            if self.ids[row] == self.groups.len() {
                let group = self.new_group(&input, row)?;
                self.groups.push(group);
            }
        }
        // Rows by group (stable), so each group gets one contiguous slice.
        let mut order: Vec<u32> = (0..rows as u32).collect();
        order.sort_by_key(|&i| self.ids[i as usize]);
        let order = UInt32Array::from(order);
        let sorted = input.take(&order)?;
        let order = order.values();
        let stamps = batch.watermarks.as_ref();
        let retract: Option<Vec<bool>> = batch.ops.as_ref().map(|ops| {
            order
                .iter()
                .map(|&i| {
                    matches!(
                        RowKind::from_code(ops.value(i as usize)),
                        RowKind::UpdateBefore | RowKind::Delete
                    )
                })
                .collect()
        });
        let mut changed = Vec::new();
        let mut start = 0;
        while start < rows {
            let id = self.ids[order[start] as usize];
            let mut end = start + 1;
            while end < rows && self.ids[order[end] as usize] == id {
                end += 1;
            }
            // With a TTL, a row that comes the TTL after the group's last update finds it
            // forgotten: the rows before it are aggregated and emitted first.
            let mut from = start;
            if let Some(ttl) = self.ttl {
                for at in start..end {
                    let stamp = stamps.map_or(NO_WATERMARK, |s| s.value(order[at] as usize));
                    let updated = self.groups[id].updated;
                    if updated != NO_WATERMARK && stamp != NO_WATERMARK && stamp - updated >= ttl {
                        let kinds = retract.as_ref().map(|r| &r[from..at]);
                        Self::feed(&mut self.groups[id], &sorted, from, at - from, kinds)?;
                        self.emit(&[id], out)?;
                        self.forget(id)?;
                        from = at;
                    }
                    if stamp != NO_WATERMARK {
                        self.groups[id].updated = stamp;
                        self.expiry.list(id, stamp.saturating_add(ttl));
                    }
                }
            }
            let kinds = retract.as_ref().map(|r| &r[from..end]);
            Self::feed(&mut self.groups[id], &sorted, from, end - from, kinds)?;
            changed.push(id);
            start = end;
        }
        self.emit(&changed, out)
    }

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        if let Some(ttl) = self.ttl {
            for id in self.expiry.due(watermark) {
                let updated = self.groups[id].updated;
                if updated == NO_WATERMARK {
                    continue;
                }
                match updated.saturating_add(ttl) {
                    due if due <= watermark => self.forget(id)?,
                    due => self.expiry.list(id, due),
                }
            }
        }
        out.push(Message::Watermark(watermark));
        Ok(())
    }

    fn snapshot(&mut self) -> Result<State> {
        if self.retracting
            && let Some(call) = self.group_by.calls.iter().find(|c| {
                c.function.is_distinct() || !RETRACTABLE_STATE.contains(&c.function.fun().name())
            })
        {
            return Err(not_checkpointed(&format!(
                "{} over an updating input",
                call.function.fun().name().to_ascii_uppercase()
            )));
        }
        let mut state = State::new();
        let total = self.groups.len();
        state.put_columns("keys", self.keys.snapshot()?, total)?;
        // Per aggregate call: its accumulators' state columns, then its emitted values.
        let mut columns: Vec<ArrayRef> = Vec::new();
        let mut widths = Vec::new();
        for (c, call) in self.group_by.calls.iter().enumerate() {
            // Taking an accumulator's state consumes it: each is rebuilt from its state.
            // (The accumulator's own state: a retracting one keeps other than the function's.)
            let mut states: Vec<Vec<ScalarValue>> = Vec::new();
            for group in &mut self.groups {
                let values = group.accumulators[c].state()?;
                states.resize_with(values.len(), || Vec::with_capacity(total));
                for (column, value) in states.iter_mut().zip(values) {
                    column.push(value);
                }
            }
            widths.push(states.len());
            let states = (states.into_iter())
                .map(ScalarValue::iter_to_array)
                .collect::<datafusion::common::Result<Vec<_>>>()?;
            for id in 0..total {
                let mut rebuilt = self.accumulator(c)?;
                let row: Vec<ArrayRef> = states.iter().map(|s| s.slice(id, 1)).collect();
                rebuilt.merge_batch(&row)?;
                self.groups[id].accumulators[c] = rebuilt;
            }
            columns.extend(states);
            let none = ScalarValue::try_from(call.function.field().data_type())?;
            let emitted = self.groups.iter().map(|g| {
                g.emitted
                    .as_ref()
                    .map_or_else(|| none.clone(), |e| e[c].clone())
            });
            columns.push(to_array(
                emitted.collect(),
                call.function.field().data_type(),
            )?);
        }
        let emitted: BooleanArray = self
            .groups
            .iter()
            .map(|g| Some(g.emitted.is_some()))
            .collect();
        columns.push(Arc::new(emitted));
        state.put_columns("groups", columns, total)?;
        let rows: Vec<(i64, Watermark)> = self.groups.iter().map(|g| (g.rows, g.updated)).collect();
        state.put("rows", &(widths, rows))?;
        state.put("expiry", &self.expiry)?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        let (keys, total) = state.columns("keys")?;
        self.keys.intern(&keys, total, &mut self.ids)?;
        let (columns, _) = state.columns("groups")?;
        let (widths, rows): (Vec<usize>, Vec<(i64, Watermark)>) = state.get("rows")?;
        let expected = widths.iter().map(|w| w + 1).sum::<usize>() + 1;
        if columns.len() != expected
            || widths.len() != self.group_by.calls.len()
            || rows.len() != total
        {
            return Err(EngineError::Other(
                "a checkpointed state does not read: its groups do not hold the plan's aggregates"
                    .into(),
            ));
        }
        let emitted = columns[columns.len() - 1].as_boolean().clone();
        for (id, (count, updated)) in rows.into_iter().enumerate() {
            let key = keys
                .iter()
                .map(|k| ScalarValue::try_from_array(k, id))
                .collect::<datafusion::common::Result<Vec<_>>>()?;
            let mut accumulators = self.accumulators()?;
            let mut values = Vec::new();
            let mut at = 0;
            for (accumulator, width) in accumulators.iter_mut().zip(&widths) {
                let states: Vec<ArrayRef> = columns[at..at + width]
                    .iter()
                    .map(|c| c.slice(id, 1))
                    .collect();
                accumulator.merge_batch(&states)?;
                values.push(ScalarValue::try_from_array(&columns[at + width], id)?);
                at += width + 1;
            }
            self.groups.push(Group {
                key,
                accumulators,
                rows: count,
                emitted: emitted.value(id).then_some(values),
                updated,
            });
        }
        self.expiry = state.get("expiry")?;
        Ok(())
    }
}

/// The aggregates whose accumulators over an updating input have a state to checkpoint.
const RETRACTABLE_STATE: [&str; 7] = [
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "first_value",
    "last_value",
];

/// `values` (of `data_type`) as an array.
fn to_array(values: Vec<ScalarValue>, data_type: &DataType) -> Result<ArrayRef> {
    match values.is_empty() {
        true => Ok(new_empty_array(data_type)),
        false => Ok(ScalarValue::iter_to_array(values)?),
    }
}

impl GroupAggregate {
    /// Emits the changes of the groups `changed`.
    fn emit(&mut self, changed: &[usize], out: &mut Vec<Message>) -> Result<()> {
        let mut kinds: Vec<i8> = Vec::new();
        let mut rows: Vec<(usize, Vec<ScalarValue>)> = Vec::new();
        for &id in changed {
            if self.groups[id].rows <= 0 {
                let fresh = self.accumulators()?;
                let group = &mut self.groups[id];
                if let Some(old) = group.emitted.take() {
                    kinds.push(RowKind::Delete as i8);
                    rows.push((id, old));
                }
                group.accumulators = fresh;
                group.rows = 0;
                continue;
            }
            let group = &mut self.groups[id];
            let new = group
                .accumulators
                .iter_mut()
                .map(|a| a.evaluate())
                .collect::<datafusion::common::Result<Vec<_>>>()?;
            match group.emitted.replace(new.clone()) {
                None => kinds.push(RowKind::Insert as i8),
                Some(old) if old == new => continue,
                Some(old) => {
                    kinds.push(RowKind::UpdateBefore as i8);
                    rows.push((id, old));
                    kinds.push(RowKind::UpdateAfter as i8);
                }
            }
            rows.push((id, new));
        }
        if rows.is_empty() {
            return Ok(());
        }
        let keys = self.group_by.keys.len();
        let mut columns = Vec::with_capacity(self.schema.fields().len());
        for (c, field) in self.schema.fields().iter().enumerate() {
            let values = rows.iter().map(|(id, aggregates)| {
                if c < keys {
                    self.groups[*id].key[c].clone()
                } else {
                    aggregates[c - keys].clone()
                }
            });
            let column = ScalarValue::iter_to_array(values)?;
            columns.push(super::aggregate::cast_to(column, field.data_type())?);
        }
        out.push(Message::Batch(ChangeBatch {
            data: RecordBatch::try_new(self.schema.clone(), columns)?,
            ops: Some(Int8Array::from(kinds)),
            watermarks: None,
        }));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{Field, Schema};

    use super::*;
    use crate::operator::aggregate::tests::count_and_sum;
    use crate::operator::testing::{assert_restores, keyed_batch, keyed_schema};

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
}
