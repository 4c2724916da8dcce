//! The per-group state of an updating aggregation's calls, by group number: updated from whole
//! batches, read for any set of groups without being consumed, reset one group at a time, and
//! taken whole for a checkpoint. DataFusion's `GroupsAccumulator`s cannot serve here: they are
//! read by emitting (and dropping) their groups.
//!
//! `COUNT`, `COUNT(DISTINCT)` (of integers and times as themselves, of other values by
//! their row encoding), `SUM` of `BIGINT` and `DOUBLE`, and `MIN` /
//! `MAX` of numbers and times over an append-only input keep plain vectors and are updated row
//! by row without allocating, retracting as Flink's `...WithRetractAggFunction`s do. Every other
//! call keeps a DataFusion row accumulator per group ([`RowStates`]), fed a group's rows at a
//! time.

use std::borrow::Borrow;
use std::cell::OnceCell;

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowNativeTypeOp, ArrowPrimitiveType, AsArray, BinaryArray, BooleanArray,
    Int64Array, PrimitiveArray, UInt32Array, new_empty_array,
};
use arrow::compute::{can_cast_types, cast, filter, take};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use arrow::row::{RowConverter, SortField};
use datafusion_common::{HashMap, ScalarValue};
use datafusion_expr::Accumulator;
use datafusion_physical_expr::aggregate::AggregateFunctionExpr;

use super::aggregate::AggregateCall;
use super::not_checkpointed;
use super::retracting::{Arrival, RetractableArrival, RetractableExtremum};
use crate::checkpoint::State;
use crate::{EngineError, Result};

/// Rows of a batch as the calls' states take them.
pub(crate) struct Rows<'a> {
    /// Per row, the number of its group.
    pub ids: &'a [usize],
    /// Per row, whether it takes a row back (`-U`, `-D`); `None` for an append-only input.
    pub retract: Option<&'a [bool]>,
    /// The number of groups (every id is below it).
    pub groups: usize,
    /// The rows in group order, made the first time a row accumulator asks.
    order: OnceCell<UInt32Array>,
}

impl<'a> Rows<'a> {
    pub fn new(ids: &'a [usize], retract: Option<&'a [bool]>, groups: usize) -> Self {
        Rows {
            ids,
            retract,
            groups,
            order: OnceCell::new(),
        }
    }

    /// Whether row `row` takes a row back.
    fn retracts(&self, row: usize) -> bool {
        self.retract.is_some_and(|r| r[row])
    }

    /// `+1` for a row that adds, `-1` for one that takes back.
    pub fn sign(&self, row: usize) -> i64 {
        if self.retracts(row) { -1 } else { 1 }
    }

    /// The rows' indices sorted by group (stable).
    fn order(&self) -> &UInt32Array {
        self.order.get_or_init(|| {
            let mut order: Vec<u32> = (0..self.ids.len() as u32).collect();
            order.sort_by_key(|&i| self.ids[i as usize]);
            UInt32Array::from(order)
        })
    }
}

/// One aggregate call's state over every group.
pub(crate) trait CallState: Send {
    /// Adds (or takes back) `rows`; `args` are the call's argument columns and `filter` its
    /// `FILTER (WHERE ...)`, one value per row.
    fn update(
        &mut self,
        args: &[ArrayRef],
        filter: Option<&BooleanArray>,
        rows: &Rows,
    ) -> Result<()>;

    /// The current result of each of `groups`.
    fn evaluate(&mut self, groups: &[usize]) -> Result<ArrayRef>;

    /// Group `group` starts afresh.
    fn reset(&mut self, group: usize) -> Result<()>;

    /// Puts the state of `groups` groups under `name`, for a checkpoint.
    fn snapshot(&mut self, groups: usize, state: &mut State, name: &str) -> Result<()>;

    /// The state put under `name` by [`CallState::snapshot`].
    fn restore(&mut self, groups: usize, state: &State, name: &str) -> Result<()>;

    /// The memory the state takes.
    fn size(&self) -> usize;
}

/// The state for `call`; `retracting` when the input takes rows back.
pub(crate) fn call_state(call: &AggregateCall, retracting: bool) -> Result<Box<dyn CallState>> {
    let function = &call.function;
    let result = function.field().data_type().clone();
    // The type of the argument, as the function's state keeps it.
    let state_type = function
        .state_fields()?
        .first()
        .map(|f| match f.data_type() {
            DataType::List(item) => item.data_type().clone(),
            other => other.clone(),
        });
    let name = function.fun().name();
    let one_argument = function.expressions().len() == 1;
    Ok(match (name, function.is_distinct(), state_type) {
        ("count", false, _) => Box::new(Count::default()),
        ("count", true, Some(t)) if one_argument && as_integers(&t) => {
            Box::new(CountDistinct::<i64>::new(()))
        }
        ("count", true, Some(t)) if one_argument => {
            let converter = RowConverter::new(vec![SortField::new(t)])?;
            Box::new(CountDistinct::<Box<[u8]>>::new(converter))
        }
        ("sum", false, Some(t)) if one_argument && t == result => match result {
            DataType::Int64 => Box::new(Sum::<Int64Type>::default()),
            DataType::Float64 => Box::new(Sum::<Float64Type>::default()),
            _ => Box::new(RowStates::new(call, retracting)),
        },
        ("min" | "max", false, Some(t)) if one_argument && !retracting && t == result => {
            let max = name == "max";
            if as_integers(&result) {
                Box::new(Extremum::<Int64Type>::new(result, max))
            } else if matches!(result, DataType::Float32 | DataType::Float64) {
                Box::new(Extremum::<Float64Type>::new(result, max))
            } else {
                Box::new(RowStates::new(call, retracting))
            }
        }
        _ => Box::new(RowStates::new(call, retracting)),
    })
}

/// rill's `ARRAY_AGG`, which keeps values by arrival over a changelog and, with `DISTINCT`, in
/// the order they came (DataFusion's keeps a hash set's order).
pub(crate) fn array_agg(function: &AggregateFunctionExpr) -> Result<Box<dyn Accumulator>> {
    let data_type = function.field().data_type().clone();
    let DataType::List(item) = &data_type else {
        return Err(EngineError::Other(format!("ARRAY_AGG of {data_type}")));
    };
    let answer = Arrival::All {
        nulls: !function.ignore_nulls(),
        distinct: function.is_distinct(),
    };
    Ok(Box::new(RetractableArrival::new(item.data_type(), answer)?))
}

/// Whether values of `data_type` are integers (numbers, dates, times) that `BIGINT` holds and
/// gives back unchanged.
fn as_integers(data_type: &DataType) -> bool {
    use DataType::*;
    matches!(
        data_type,
        Int8 | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | Date32
            | Date64
            | Timestamp(_, _)
            | Time32(_)
            | Time64(_)
            | Duration(_)
    ) && can_cast_types(data_type, &Int64)
        && can_cast_types(&Int64, data_type)
}

/// Calls `f(row, value)` for every row that counts: its filter holds and `values` has a value.
fn each_counted<T: Copy>(
    values: &[T],
    nulls: Option<&arrow::buffer::NullBuffer>,
    filter: Option<&BooleanArray>,
    mut f: impl FnMut(usize, T),
) {
    for (row, value) in values.iter().enumerate() {
        let null = nulls.is_some_and(|n| n.is_null(row));
        let filtered = filter.is_some_and(|m| !m.is_valid(row) || !m.value(row));
        if !null && !filtered {
            f(row, *value);
        }
    }
}

/// Vector `v` grown to `len` with `fill`.
fn grow<T: Clone>(v: &mut Vec<T>, len: usize, fill: T) {
    if v.len() < len {
        v.resize(len, fill);
    }
}

/// `COUNT(x...)` and `COUNT(*)`: rows whose arguments are all non-NULL.
#[derive(Default)]
struct Count {
    counts: Vec<i64>,
}

impl CallState for Count {
    fn update(
        &mut self,
        args: &[ArrayRef],
        filter: Option<&BooleanArray>,
        rows: &Rows,
    ) -> Result<()> {
        grow(&mut self.counts, rows.groups, 0);
        let nulls: Vec<_> = args.iter().map(|a| a.logical_nulls()).collect();
        let nulls = arrow::buffer::NullBuffer::union_many(nulls.iter().map(Option::as_ref));
        each_counted(rows.ids, nulls.as_ref(), filter, |row, id| {
            self.counts[id] += rows.sign(row);
        });
        Ok(())
    }

    fn evaluate(&mut self, groups: &[usize]) -> Result<ArrayRef> {
        let counts = groups
            .iter()
            .map(|&g| self.counts.get(g).copied().unwrap_or(0));
        Ok(Arc::new(Int64Array::from_iter_values(counts)))
    }

    fn reset(&mut self, group: usize) -> Result<()> {
        if let Some(count) = self.counts.get_mut(group) {
            *count = 0;
        }
        Ok(())
    }

    fn snapshot(&mut self, groups: usize, state: &mut State, name: &str) -> Result<()> {
        grow(&mut self.counts, groups, 0);
        let counts = Int64Array::from(self.counts[..groups].to_vec());
        state.put_columns(name, vec![Arc::new(counts)], groups)
    }

    fn restore(&mut self, groups: usize, state: &State, name: &str) -> Result<()> {
        let [counts] = read_columns(state, name, groups)?;
        self.counts = counts.as_primitive::<Int64Type>().values().to_vec();
        Ok(())
    }

    fn size(&self) -> usize {
        self.counts.capacity() * 8
    }
}

/// `COUNT(DISTINCT x)`: per group, how many of its live rows hold each value (a value leaves
/// when none does). Values are keys of type `K` ([`DistinctKey`]).
struct CountDistinct<K: DistinctKey> {
    seen: Vec<HashMap<K, i64>>,
    values: K::Values,
}

/// How `COUNT(DISTINCT x)` tells values apart: integers as themselves (`i64`), any other
/// values by their Arrow row encoding (`Box<[u8]>`).
trait DistinctKey: std::hash::Hash + Eq + Ord + Clone + Send + Borrow<Self::Ref> + Sized {
    /// What turns argument columns into keys.
    type Values: Send;
    /// A key as a row gives it, looked up without allocating.
    type Ref: std::hash::Hash + Eq + ?Sized;

    /// Calls `f(row, key)` for every row that counts: its filter holds and `args` has a value.
    fn each(
        values: &mut Self::Values,
        args: &[ArrayRef],
        filter: Option<&BooleanArray>,
        f: impl FnMut(usize, &Self::Ref),
    ) -> Result<()>;

    /// The key kept for a value first seen in a group.
    fn owned(key: &Self::Ref) -> Self;

    /// The keys as a column, for a checkpoint.
    fn column(keys: Vec<&Self>) -> ArrayRef;

    /// The key at `row` of a column of [`DistinctKey::column`].
    fn at(column: &ArrayRef, row: usize) -> Self;
}

impl DistinctKey for i64 {
    type Values = ();
    type Ref = i64;

    fn each(
        _: &mut (),
        args: &[ArrayRef],
        filter: Option<&BooleanArray>,
        mut f: impl FnMut(usize, &i64),
    ) -> Result<()> {
        let values = cast(&args[0], &DataType::Int64)?;
        let values = values.as_primitive::<Int64Type>();
        each_counted(values.values(), values.nulls(), filter, |row, value| {
            f(row, &value)
        });
        Ok(())
    }

    fn owned(key: &i64) -> i64 {
        *key
    }

    fn column(keys: Vec<&i64>) -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(keys.into_iter().copied()))
    }

    fn at(column: &ArrayRef, row: usize) -> i64 {
        column.as_primitive::<Int64Type>().value(row)
    }
}

impl DistinctKey for Box<[u8]> {
    type Values = RowConverter;
    type Ref = [u8];

    fn each(
        converter: &mut RowConverter,
        args: &[ArrayRef],
        filter: Option<&BooleanArray>,
        mut f: impl FnMut(usize, &[u8]),
    ) -> Result<()> {
        let encoded = converter.convert_columns(args)?;
        for row in 0..encoded.num_rows() {
            let null = args.iter().any(|a| a.is_null(row));
            let filtered = filter.is_some_and(|m| !m.is_valid(row) || !m.value(row));
            if !null && !filtered {
                f(row, encoded.row(row).as_ref());
            }
        }
        Ok(())
    }

    fn owned(key: &[u8]) -> Box<[u8]> {
        key.into()
    }

    fn column(keys: Vec<&Box<[u8]>>) -> ArrayRef {
        Arc::new(BinaryArray::from_iter_values(keys))
    }

    fn at(column: &ArrayRef, row: usize) -> Box<[u8]> {
        column.as_binary::<i32>().value(row).into()
    }
}

impl<K: DistinctKey> CountDistinct<K> {
    fn new(values: K::Values) -> Self {
        CountDistinct {
            seen: Vec::new(),
            values,
        }
    }
}

impl<K: DistinctKey> CallState for CountDistinct<K> {
    fn update(
        &mut self,
        args: &[ArrayRef],
        filter: Option<&BooleanArray>,
        rows: &Rows,
    ) -> Result<()> {
        grow(&mut self.seen, rows.groups, HashMap::new());
        let seen = &mut self.seen;
        K::each(&mut self.values, args, filter, |row, value| {
            let seen = &mut seen[rows.ids[row]];
            let sign = rows.sign(row);
            match seen.get_mut(value) {
                Some(times) if *times + sign == 0 => {
                    seen.remove(value);
                }
                Some(times) => *times += sign,
                None => {
                    seen.insert(K::owned(value), sign);
                }
            }
        })
    }

    fn evaluate(&mut self, groups: &[usize]) -> Result<ArrayRef> {
        let counts = groups
            .iter()
            .map(|&g| self.seen.get(g).map_or(0, |s| s.len() as i64));
        Ok(Arc::new(Int64Array::from_iter_values(counts)))
    }

    fn reset(&mut self, group: usize) -> Result<()> {
        if let Some(seen) = self.seen.get_mut(group) {
            *seen = HashMap::new();
        }
        Ok(())
    }

    fn snapshot(&mut self, _groups: usize, state: &mut State, name: &str) -> Result<()> {
        let (mut ids, mut values, mut times) = (Vec::new(), Vec::new(), Vec::new());
        for (id, seen) in self.seen.iter().enumerate() {
            let mut entries: Vec<(&K, &i64)> = seen.iter().collect();
            entries.sort_unstable();
            for (value, count) in entries {
                ids.push(id as i64);
                values.push(value);
                times.push(*count);
            }
        }
        let entries = ids.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            K::column(values),
            Arc::new(Int64Array::from(times)),
        ];
        state.put_columns(name, columns, entries)
    }

    fn restore(&mut self, groups: usize, state: &State, name: &str) -> Result<()> {
        let ([ids, values, times], entries) = state.columns_of(name)?;
        let (ids, times) = (
            ids.as_primitive::<Int64Type>(),
            times.as_primitive::<Int64Type>(),
        );
        self.seen = vec![HashMap::new(); groups];
        for e in 0..entries {
            let seen =
                (self.seen.get_mut(ids.value(e) as usize)).ok_or_else(|| unreadable(name))?;
            seen.insert(K::at(&values, e), times.value(e));
        }
        Ok(())
    }

    fn size(&self) -> usize {
        let entries: usize = self.seen.iter().map(|s| s.capacity()).sum();
        self.seen.capacity() * size_of::<HashMap<K, i64>>()
            + entries * (size_of::<K>() + size_of::<i64>())
    }
}

/// `SUM(x)`: the sum and the number of values in it, NULL when there are none (after
/// retractions too), as Flink's `SumWithRetractAggFunction`. Values are added in row order.
struct Sum<T: ArrowPrimitiveType> {
    sums: Vec<T::Native>,
    counts: Vec<i64>,
}

impl<T: ArrowPrimitiveType> Default for Sum<T> {
    fn default() -> Self {
        Sum {
            sums: Vec::new(),
            counts: Vec::new(),
        }
    }
}

impl<T: ArrowPrimitiveType> CallState for Sum<T> {
    fn update(
        &mut self,
        args: &[ArrayRef],
        filter: Option<&BooleanArray>,
        rows: &Rows,
    ) -> Result<()> {
        grow(&mut self.sums, rows.groups, T::Native::ZERO);
        grow(&mut self.counts, rows.groups, 0);
        let values = primitives::<T>(&args[0])?;
        let (values, nulls) = (values.values(), values.nulls());
        each_counted(values, nulls, filter, |row, value| {
            let id = rows.ids[row];
            if rows.retracts(row) {
                self.sums[id] = self.sums[id].sub_wrapping(value);
                self.counts[id] -= 1;
            } else {
                self.sums[id] = self.sums[id].add_wrapping(value);
                self.counts[id] += 1;
            }
        });
        Ok(())
    }

    fn evaluate(&mut self, groups: &[usize]) -> Result<ArrayRef> {
        let sums = groups.iter().map(|&g| {
            let counted = self.counts.get(g).is_some_and(|c| *c > 0);
            counted.then(|| self.sums[g])
        });
        Ok(Arc::new(PrimitiveArray::<T>::from_iter(sums)))
    }

    fn reset(&mut self, group: usize) -> Result<()> {
        if group < self.sums.len() {
            self.sums[group] = T::Native::ZERO;
            self.counts[group] = 0;
        }
        Ok(())
    }

    fn snapshot(&mut self, groups: usize, state: &mut State, name: &str) -> Result<()> {
        grow(&mut self.sums, groups, T::Native::ZERO);
        grow(&mut self.counts, groups, 0);
        let sums = PrimitiveArray::<T>::from_iter_values(self.sums[..groups].iter().copied());
        let counts = Arc::new(Int64Array::from(self.counts[..groups].to_vec()));
        state.put_columns(name, vec![Arc::new(sums), counts], groups)
    }

    fn restore(&mut self, groups: usize, state: &State, name: &str) -> Result<()> {
        let [sums, counts] = read_columns(state, name, groups)?;
        self.sums = primitives::<T>(&sums)?.values().to_vec();
        self.counts = counts.as_primitive::<Int64Type>().values().to_vec();
        Ok(())
    }

    fn size(&self) -> usize {
        self.sums.capacity() * size_of::<T::Native>() + self.counts.capacity() * 8
    }
}

/// `MIN(x)` / `MAX(x)` over an append-only input: the extremum so far, per group.
/// Values are compared as `T` (`BIGINT` for integers and times, `DOUBLE` for floats, NaN after
/// every number as DataFusion orders them).
struct Extremum<T: ArrowPrimitiveType> {
    /// The result's type (the argument's).
    data_type: DataType,
    max: bool,
    values: Vec<Option<T::Native>>,
}

impl<T: ArrowPrimitiveType> Extremum<T> {
    fn new(data_type: DataType, max: bool) -> Self {
        Extremum {
            data_type,
            max,
            values: Vec::new(),
        }
    }
}

impl<T: ArrowPrimitiveType> CallState for Extremum<T> {
    fn update(
        &mut self,
        args: &[ArrayRef],
        filter: Option<&BooleanArray>,
        rows: &Rows,
    ) -> Result<()> {
        if rows.retract.is_some() {
            return Err(EngineError::Other(
                "MIN / MAX state of an append-only input was given a retraction".into(),
            ));
        }
        grow(&mut self.values, rows.groups, None);
        let values = cast(&args[0], &T::DATA_TYPE)?;
        let values = primitives::<T>(&values)?;
        let (values, nulls) = (values.values(), values.nulls());
        let max = self.max;
        each_counted(values, nulls, filter, |row, value| {
            let best = &mut self.values[rows.ids[row]];
            let better = match *best {
                None => true,
                Some(b) if max => value.is_gt(b),
                Some(b) => value.is_lt(b),
            };
            if better {
                *best = Some(value);
            }
        });
        Ok(())
    }

    fn evaluate(&mut self, groups: &[usize]) -> Result<ArrayRef> {
        let values = groups
            .iter()
            .map(|&g| self.values.get(g).copied().flatten());
        let values = PrimitiveArray::<T>::from_iter(values);
        Ok(cast(&values, &self.data_type)?)
    }

    fn reset(&mut self, group: usize) -> Result<()> {
        if let Some(value) = self.values.get_mut(group) {
            *value = None;
        }
        Ok(())
    }

    fn snapshot(&mut self, groups: usize, state: &mut State, name: &str) -> Result<()> {
        grow(&mut self.values, groups, None);
        let values = PrimitiveArray::<T>::from_iter(self.values[..groups].iter().copied());
        state.put_columns(name, vec![Arc::new(values)], groups)
    }

    fn restore(&mut self, groups: usize, state: &State, name: &str) -> Result<()> {
        let [values] = read_columns(state, name, groups)?;
        self.values = primitives::<T>(&values)?.iter().collect();
        Ok(())
    }

    fn size(&self) -> usize {
        self.values.capacity() * size_of::<Option<T::Native>>()
    }
}

/// Any other call: a DataFusion row accumulator per group (retractable ones over a
/// changelog), fed a group's rows at a time.
struct RowStates {
    call: AggregateCall,
    retracting: bool,
    accumulators: Vec<Box<dyn Accumulator>>,
}

impl RowStates {
    fn new(call: &AggregateCall, retracting: bool) -> Self {
        RowStates {
            call: call.clone(),
            retracting,
            accumulators: Vec::new(),
        }
    }

    /// A fresh accumulator; a retractable one over a changelog.
    fn accumulator(&self) -> Result<Box<dyn Accumulator>> {
        let function = &self.call.function;
        let name = function.fun().name();
        if name == "array_agg" && (self.retracting || function.is_distinct()) {
            return array_agg(function);
        }
        if !self.retracting {
            return Ok(function.create_accumulator()?);
        }
        let data_type = function.field().data_type().clone();
        Ok(match name {
            "min" => Box::new(RetractableExtremum::new(&data_type, false)?),
            "max" => Box::new(RetractableExtremum::new(&data_type, true)?),
            "first_value" => Box::new(RetractableArrival::new(&data_type, Arrival::First)?),
            "last_value" => Box::new(RetractableArrival::new(&data_type, Arrival::Last)?),
            _ => function.create_sliding_accumulator()?,
        })
    }

    fn grow(&mut self, groups: usize) -> Result<()> {
        while self.accumulators.len() < groups {
            let fresh = self.accumulator()?;
            self.accumulators.push(fresh);
        }
        Ok(())
    }

    /// Feeds `args` (one group's rows) to `accumulator`; `retract` says which rows take back.
    /// Runs of rows of one kind go in their order, as one row at a time would: an
    /// accumulator may care (`JSON_OBJECTAGG` fails on a key it holds, so a key's `-U` must
    /// come before its `+U`).
    fn feed(
        accumulator: &mut dyn Accumulator,
        args: &[ArrayRef],
        retract: Option<&[bool]>,
    ) -> Result<()> {
        let Some(retract) = retract else {
            return Ok(accumulator.update_batch(args)?);
        };
        if retract.iter().any(|r| *r) && !accumulator.supports_retract_batch() {
            return Err(EngineError::Other(
                "an aggregate over an updating input cannot retract rows".into(),
            ));
        }
        let mut start = 0;
        while start < retract.len() {
            let kind = retract[start];
            let len = retract[start..].iter().take_while(|r| **r == kind).count();
            let run: Vec<ArrayRef> = args.iter().map(|a| a.slice(start, len)).collect();
            match kind {
                true => accumulator.retract_batch(&run)?,
                false => accumulator.update_batch(&run)?,
            }
            start += len;
        }
        Ok(())
    }
}

impl CallState for RowStates {
    fn update(
        &mut self,
        args: &[ArrayRef],
        filter_mask: Option<&BooleanArray>,
        rows: &Rows,
    ) -> Result<()> {
        self.grow(rows.groups)?;
        let order = rows.order();
        let sorted = args
            .iter()
            .map(|a| Ok(take(a.as_ref(), order, None)?))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let mask = match filter_mask {
            Some(f) => Some(take(f, order, None)?.as_boolean().clone()),
            None => None,
        };
        let order = order.values();
        let mut start = 0;
        while start < order.len() {
            let id = rows.ids[order[start] as usize];
            let mut end = start + 1;
            while end < order.len() && rows.ids[order[end] as usize] == id {
                end += 1;
            }
            let len = end - start;
            let mut group_args: Vec<ArrayRef> =
                sorted.iter().map(|a| a.slice(start, len)).collect();
            let mut retract: Option<Vec<bool>> = rows
                .retract
                .map(|r| order[start..end].iter().map(|&i| r[i as usize]).collect());
            if let Some(mask) = &mask {
                let mask = mask.slice(start, len);
                group_args = group_args
                    .iter()
                    .map(|a| filter(a.as_ref(), &mask))
                    .collect::<std::result::Result<_, _>>()?;
                retract = retract.map(|r| {
                    r.iter()
                        .enumerate()
                        .filter(|(i, _)| mask.is_valid(*i) && mask.value(*i))
                        .map(|(_, r)| *r)
                        .collect()
                });
            }
            Self::feed(
                self.accumulators[id].as_mut(),
                &group_args,
                retract.as_deref(),
            )?;
            start = end;
        }
        Ok(())
    }

    fn evaluate(&mut self, groups: &[usize]) -> Result<ArrayRef> {
        let data_type = self.call.function.field().data_type().clone();
        if groups.is_empty() {
            return Ok(new_empty_array(&data_type));
        }
        self.grow(groups.iter().max().map_or(0, |g| g + 1))?;
        let values = groups
            .iter()
            .map(|&g| self.accumulators[g].evaluate())
            .collect::<datafusion_common::Result<Vec<_>>>()?;
        Ok(ScalarValue::iter_to_array(values)?)
    }

    fn reset(&mut self, group: usize) -> Result<()> {
        if group < self.accumulators.len() {
            self.accumulators[group] = self.accumulator()?;
        }
        Ok(())
    }

    fn snapshot(&mut self, groups: usize, state: &mut State, name: &str) -> Result<()> {
        let function = &self.call.function;
        let fun = function.fun().name();
        let distinct = function.is_distinct() && fun != "array_agg";
        if self.retracting && (distinct || !RETRACTABLE_STATE.contains(&fun)) {
            return Err(not_checkpointed(&format!(
                "{} over an updating input",
                fun.to_ascii_uppercase()
            )));
        }
        self.grow(groups)?;
        // Taking an accumulator's state consumes it: each is rebuilt from its state. (The
        // accumulator's own state: a retracting one keeps other than the function's.)
        let mut columns: Vec<Vec<ScalarValue>> = Vec::new();
        for accumulator in &mut self.accumulators[..groups] {
            let values = accumulator.state()?;
            columns.resize_with(values.len(), || Vec::with_capacity(groups));
            for (column, value) in columns.iter_mut().zip(values) {
                column.push(value);
            }
        }
        let columns = (columns.into_iter())
            .map(ScalarValue::iter_to_array)
            .collect::<datafusion_common::Result<Vec<_>>>()?;
        for g in 0..groups {
            let mut rebuilt = self.accumulator()?;
            let row: Vec<ArrayRef> = columns.iter().map(|c| c.slice(g, 1)).collect();
            rebuilt.merge_batch(&row)?;
            self.accumulators[g] = rebuilt;
        }
        state.put_columns(name, columns, groups)
    }

    fn restore(&mut self, groups: usize, state: &State, name: &str) -> Result<()> {
        let (columns, rows) = state.columns(name)?;
        if rows != groups {
            return Err(unreadable(name));
        }
        self.accumulators = Vec::with_capacity(groups);
        for g in 0..groups {
            let mut accumulator = self.accumulator()?;
            let row: Vec<ArrayRef> = columns.iter().map(|c| c.slice(g, 1)).collect();
            accumulator.merge_batch(&row)?;
            self.accumulators.push(accumulator);
        }
        Ok(())
    }

    fn size(&self) -> usize {
        // Groups are alike: the first one's size stands for every one's.
        let each = self.accumulators.first().map_or(0, |a| a.size());
        self.accumulators.len() * each
    }
}

/// The aggregates whose row accumulators over an updating input have a state to checkpoint
/// (the variances: rill's, whose state is the count and the sums; the JSON aggregates: rill's).
const RETRACTABLE_STATE: [&str; 15] = [
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "first_value",
    "last_value",
    "stddev_pop",
    "stddev_samp",
    "var_pop",
    "var_samp",
    "variance",
    "array_agg",
    "rill_json_arrayagg",
    "rill_json_objectagg",
];

/// `array` as values of `T`.
fn primitives<T: ArrowPrimitiveType>(array: &ArrayRef) -> Result<&PrimitiveArray<T>> {
    array.as_primitive_opt::<T>().ok_or_else(|| {
        EngineError::Other(format!(
            "an aggregate expected {} values, found {}",
            T::DATA_TYPE,
            array.data_type()
        ))
    })
}

/// The `N` columns of `groups` rows put under `name`.
pub(crate) fn read_columns<const N: usize>(
    state: &State,
    name: &str,
    groups: usize,
) -> Result<[ArrayRef; N]> {
    let (columns, rows) = state.columns_of(name)?;
    if rows != groups {
        return Err(unreadable(name));
    }
    Ok(columns)
}

fn unreadable(name: &str) -> EngineError {
    EngineError::Other(format!(
        "a checkpointed state does not read: '{name}' does not hold the plan's aggregates"
    ))
}
