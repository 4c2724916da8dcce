//! The per-group state of an updating aggregation's calls, by group number: updated from whole
//! batches, read for any set of groups without being consumed, reset one group at a time, and
//! taken whole for a checkpoint. DataFusion's `GroupsAccumulator`s cannot serve here: they are
//! read by emitting (and dropping) their groups.
//!
//! `COUNT`, `COUNT(DISTINCT)` ([`count_distinct`]), `SUM` of `BIGINT` and `DOUBLE`, and `MIN` /
//! `MAX` of numbers, times and strings over an append-only input keep plain vectors and are
//! updated row by row without allocating, retracting as Flink's `...WithRetractAggFunction`s
//! do. Every other call keeps a DataFusion row accumulator per group ([`RowStates`]), fed a
//! group's rows at a time.

use std::cell::OnceCell;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowNativeTypeOp, ArrowPrimitiveType, AsArray, BooleanArray, Int64Array,
    PrimitiveArray, StringArray, UInt32Array, new_empty_array,
};
use arrow::compute::{can_cast_types, cast, filter, take};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion_common::ScalarValue;
use datafusion_expr::Accumulator;
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::aggregate::AggregateFunctionExpr;

use super::aggregate::AggregateCall;
use super::not_checkpointed;
use super::retracting::{Arrival, RetractableArrival, RetractableExtremum};
use crate::checkpoint::State;
use crate::{EngineError, Result};

mod count_distinct;

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

/// The state of one or more aggregate calls over every group.
pub(crate) trait CallState: Send {
    /// Adds (or takes back) `rows`; `args` are the calls' argument columns (the same for every
    /// call served) and `filters` each call's `FILTER (WHERE ...)`, one value per row.
    fn update(
        &mut self,
        args: &[ArrayRef],
        filters: &[Option<BooleanArray>],
        rows: &Rows,
    ) -> Result<()>;

    /// Pushes each call's current result for each of `groups`.
    fn evaluate(&mut self, groups: &[usize], out: &mut Vec<ArrayRef>) -> Result<()>;

    /// Group `group` starts afresh.
    fn reset(&mut self, group: usize) -> Result<()>;

    /// Puts the state of `groups` groups under `name`, for a checkpoint.
    fn snapshot(&mut self, groups: usize, state: &mut State, name: &str) -> Result<()>;

    /// The state put under `name` by [`CallState::snapshot`].
    fn restore(&mut self, groups: usize, state: &State, name: &str) -> Result<()>;

    /// The memory the state takes.
    fn size(&self) -> usize;
}

/// The state of one aggregate call over every group.
trait OneCall: Send {
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

    // As [`CallState`]'s.
    fn reset(&mut self, group: usize) -> Result<()>;
    fn snapshot(&mut self, groups: usize, state: &mut State, name: &str) -> Result<()>;
    fn restore(&mut self, groups: usize, state: &State, name: &str) -> Result<()>;
    fn size(&self) -> usize;
}

impl<T: OneCall> CallState for T {
    fn update(
        &mut self,
        args: &[ArrayRef],
        filters: &[Option<BooleanArray>],
        rows: &Rows,
    ) -> Result<()> {
        OneCall::update(self, args, filters[0].as_ref(), rows)
    }

    fn evaluate(&mut self, groups: &[usize], out: &mut Vec<ArrayRef>) -> Result<()> {
        out.push(OneCall::evaluate(self, groups)?);
        Ok(())
    }

    fn reset(&mut self, group: usize) -> Result<()> {
        OneCall::reset(self, group)
    }

    fn snapshot(&mut self, groups: usize, state: &mut State, name: &str) -> Result<()> {
        OneCall::snapshot(self, groups, state, name)
    }

    fn restore(&mut self, groups: usize, state: &State, name: &str) -> Result<()> {
        OneCall::restore(self, groups, state, name)
    }

    fn size(&self) -> usize {
        OneCall::size(self)
    }
}

/// The states of an aggregation's calls. `COUNT(DISTINCT x)` calls of one `x` share a state
/// ([`count_distinct`]); every other call has its own.
pub(crate) struct CallStates {
    /// Each state, with the calls it serves (by number, ascending).
    states: Vec<(Box<dyn CallState>, Vec<usize>)>,
    calls: usize,
}

impl CallStates {
    /// The states of `calls`; `retracting` when the input takes rows back.
    pub fn new(calls: &[AggregateCall], retracting: bool) -> Result<Self> {
        let mut shared: Vec<(Arc<dyn PhysicalExpr>, DataType, Vec<usize>)> = Vec::new();
        let mut states = Vec::new();
        for (c, call) in calls.iter().enumerate() {
            let Some((argument, state_type)) = distinct_count(call)? else {
                states.push((call_state(call, retracting)?, vec![c]));
                continue;
            };
            let joins = shared.iter_mut().find(|(a, t, served)| {
                let same = a.as_ref() == argument.as_ref() && *t == state_type;
                same && served.len() < count_distinct::MOST_CALLS
            });
            match joins {
                Some((_, _, served)) => served.push(c),
                None => shared.push((argument, state_type, vec![c])),
            }
        }
        for (_, state_type, served) in shared {
            states.push((
                count_distinct::count_distinct(state_type, served.len(), retracting)?,
                served,
            ));
        }
        states.sort_by_key(|(_, served)| served[0]);
        Ok(CallStates {
            states,
            calls: calls.len(),
        })
    }

    /// Adds (or takes back) rows `[from, from + rows.ids.len())` of `arguments`, each call's
    /// argument columns and filter.
    pub fn update(
        &mut self,
        arguments: &[(Vec<ArrayRef>, Option<BooleanArray>)],
        from: usize,
        rows: &Rows,
    ) -> Result<()> {
        let len = rows.ids.len();
        for (state, served) in &mut self.states {
            let args: Vec<ArrayRef> = (arguments[served[0]].0.iter())
                .map(|a| a.slice(from, len))
                .collect();
            let filters: Vec<Option<BooleanArray>> = (served.iter())
                .map(|&c| arguments[c].1.as_ref().map(|f| f.slice(from, len)))
                .collect();
            state.update(&args, &filters, rows)?;
        }
        Ok(())
    }

    /// Each call's current result for each of `groups`, in call order.
    pub fn evaluate(&mut self, groups: &[usize]) -> Result<Vec<ArrayRef>> {
        let mut results: Vec<Option<ArrayRef>> = vec![None; self.calls];
        let mut out = Vec::new();
        for (state, served) in &mut self.states {
            state.evaluate(groups, &mut out)?;
            for (&c, result) in served.iter().zip(out.drain(..)) {
                results[c] = Some(result);
            }
        }
        (results.into_iter().collect::<Option<_>>())
            .ok_or_else(|| EngineError::Other("an aggregate state gave too few results".into()))
    }

    /// Group `group` starts afresh.
    pub fn reset(&mut self, group: usize) -> Result<()> {
        (self.states.iter_mut()).try_for_each(|(state, _)| state.reset(group))
    }

    /// Puts the state of `groups` groups into `state`, each state under `prefix` and its
    /// first call's number (`call3`).
    pub fn snapshot(&mut self, groups: usize, state: &mut State, prefix: &str) -> Result<()> {
        for (call, served) in &mut self.states {
            call.snapshot(groups, state, &format!("{prefix}call{}", served[0]))?;
        }
        Ok(())
    }

    /// The state [`CallStates::snapshot`] put into `state`.
    pub fn restore(&mut self, groups: usize, state: &State, prefix: &str) -> Result<()> {
        for (call, served) in &mut self.states {
            call.restore(groups, state, &format!("{prefix}call{}", served[0]))?;
        }
        Ok(())
    }

    /// The memory the states take.
    pub fn size(&self) -> usize {
        self.states.iter().map(|(state, _)| state.size()).sum()
    }
}

/// For a `COUNT(DISTINCT x)` call, `x` and the type its values are kept as.
fn distinct_count(call: &AggregateCall) -> Result<Option<(Arc<dyn PhysicalExpr>, DataType)>> {
    let function = &call.function;
    let expressions = function.expressions();
    if function.fun().name() != "count" || !function.is_distinct() || expressions.len() != 1 {
        return Ok(None);
    }
    Ok(state_type(function)?.map(|t| (expressions[0].clone(), t)))
}

/// The type of a function's argument, as its state keeps it.
fn state_type(function: &AggregateFunctionExpr) -> Result<Option<DataType>> {
    Ok(function
        .state_fields()?
        .first()
        .map(|f| match f.data_type() {
            DataType::List(item) => item.data_type().clone(),
            other => other.clone(),
        }))
}

/// The state of `call` (not a `COUNT(DISTINCT x)`); `retracting` when the input takes rows
/// back.
fn call_state(call: &AggregateCall, retracting: bool) -> Result<Box<dyn CallState>> {
    let function = &call.function;
    let result = function.field().data_type().clone();
    let name = function.fun().name();
    let one_argument = function.expressions().len() == 1;
    Ok(
        match (name, function.is_distinct(), state_type(function)?) {
            ("count", false, _) => Box::new(Count::default()),
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
                } else if result == DataType::Utf8 {
                    Box::new(TextExtremum::new(max))
                } else {
                    Box::new(RowStates::new(call, retracting))
                }
            }
            _ => Box::new(RowStates::new(call, retracting)),
        },
    )
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

/// An error if `rows` may take rows back: the state of MIN / MAX or `COUNT(DISTINCT)` over an
/// append-only input cannot.
fn append_only(rows: &Rows) -> Result<()> {
    match rows.retract {
        Some(_) => Err(EngineError::Other(
            "the state of an append-only input was given a retraction".into(),
        )),
        None => Ok(()),
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

impl OneCall for Count {
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

impl<T: ArrowPrimitiveType> OneCall for Sum<T> {
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

impl<T: ArrowPrimitiveType> OneCall for Extremum<T> {
    fn update(
        &mut self,
        args: &[ArrayRef],
        filter: Option<&BooleanArray>,
        rows: &Rows,
    ) -> Result<()> {
        append_only(rows)?;
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

/// `MIN(s)` / `MAX(s)` of strings over an append-only input: the extremum so far, per group,
/// compared byte by byte (as Flink compares strings). A group's string is overwritten in
/// place, so a new extremum allocates only when it is longer than any before.
struct TextExtremum {
    max: bool,
    values: Vec<Option<String>>,
}

impl TextExtremum {
    fn new(max: bool) -> Self {
        TextExtremum {
            max,
            values: Vec::new(),
        }
    }
}

impl OneCall for TextExtremum {
    fn update(
        &mut self,
        args: &[ArrayRef],
        filter: Option<&BooleanArray>,
        rows: &Rows,
    ) -> Result<()> {
        append_only(rows)?;
        grow(&mut self.values, rows.groups, None);
        let values = args[0].as_string::<i32>();
        for (row, value) in values.iter().enumerate() {
            let filtered = filter.is_some_and(|m| !m.is_valid(row) || !m.value(row));
            let Some(value) = value.filter(|_| !filtered) else {
                continue;
            };
            match &mut self.values[rows.ids[row]] {
                Some(best) if (value > best.as_str()) != self.max || value == best => {}
                Some(best) => {
                    best.clear();
                    best.push_str(value);
                }
                best => *best = Some(value.to_string()),
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, groups: &[usize]) -> Result<ArrayRef> {
        let values = (groups.iter()).map(|&g| self.values.get(g).and_then(Option::as_deref));
        Ok(Arc::new(StringArray::from_iter(values)))
    }

    fn reset(&mut self, group: usize) -> Result<()> {
        if let Some(value) = self.values.get_mut(group) {
            *value = None;
        }
        Ok(())
    }

    fn snapshot(&mut self, groups: usize, state: &mut State, name: &str) -> Result<()> {
        grow(&mut self.values, groups, None);
        let values = StringArray::from_iter(self.values[..groups].iter().map(Option::as_deref));
        state.put_columns(name, vec![Arc::new(values)], groups)
    }

    fn restore(&mut self, groups: usize, state: &State, name: &str) -> Result<()> {
        let [values] = read_columns(state, name, groups)?;
        let values = values
            .as_string_opt::<i32>()
            .ok_or_else(|| unreadable(name))?;
        self.values = values.iter().map(|v| v.map(str::to_string)).collect();
        Ok(())
    }

    fn size(&self) -> usize {
        let text: usize = (self.values.iter().flatten()).map(String::capacity).sum();
        self.values.capacity() * size_of::<Option<String>>() + text
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

impl OneCall for RowStates {
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
