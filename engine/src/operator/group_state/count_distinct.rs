//! `COUNT(DISTINCT x)`, for one call or for several calls of the same `x` that differ in their
//! `FILTER` (Nexmark q16 counts distinct bidders overall and in three price ranges). Calls of
//! one `x` share a state, as Flink shares one map per distinct argument: a row looks its value
//! up once, however many of the calls count it.

use std::borrow::Borrow;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::row::{RowConverter, SortField};
use datafusion_common::HashMap;

use super::{CallState, Rows, as_integers, each_counted, grow, unreadable};
use crate::Result;
use crate::checkpoint::State;

/// The most calls one state serves; more calls of one argument take more states.
pub(super) const MOST_CALLS: usize = 4;

/// The state of `calls` (1 to [`MOST_CALLS`]) `COUNT(DISTINCT x)` calls of one `x`, whose
/// values the function keeps as `state_type`.
pub(super) fn count_distinct(state_type: DataType, calls: usize) -> Result<Box<dyn CallState>> {
    if as_integers(&state_type) {
        return Ok(lanes::<i64>((), calls));
    }
    let converter = RowConverter::new(vec![SortField::new(state_type)])?;
    Ok(lanes::<Box<[u8]>>(converter, calls))
}

/// A state of `calls` calls, with as few lanes as hold them.
fn lanes<K: DistinctKey + 'static>(values: K::Values, calls: usize) -> Box<dyn CallState> {
    match calls {
        1 => Box::new(CountDistinct::<K, 1>::new(values, calls)),
        2 => Box::new(CountDistinct::<K, 2>::new(values, calls)),
        _ => Box::new(CountDistinct::<K, MOST_CALLS>::new(values, calls)),
    }
}

/// Per group, how many of its live rows each call (a lane of `N`) counts for each value (a
/// value leaves when no call counts it), and how many values each call counts. Values are
/// keys of type `K` ([`DistinctKey`]).
struct CountDistinct<K: DistinctKey, const N: usize> {
    seen: Vec<HashMap<K, [i64; N]>>,
    distinct: Vec<[i64; N]>,
    /// The calls served (the first lanes).
    calls: usize,
    values: K::Values,
}

/// How `COUNT(DISTINCT x)` tells values apart: integers as themselves (`i64`), any other
/// values by their Arrow row encoding (`Box<[u8]>`).
trait DistinctKey: std::hash::Hash + Eq + Ord + Clone + Send + Borrow<Self::Ref> + Sized {
    /// What turns argument columns into keys.
    type Values: Send;
    /// A key as a row gives it, looked up without allocating.
    type Ref: std::hash::Hash + Eq + ?Sized;

    /// Calls `f(row, key)` for every row where `args` has a value.
    fn each(
        values: &mut Self::Values,
        args: &[ArrayRef],
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

    fn each(_: &mut (), args: &[ArrayRef], mut f: impl FnMut(usize, &i64)) -> Result<()> {
        let values = cast(&args[0], &DataType::Int64)?;
        let values = values.as_primitive::<Int64Type>();
        each_counted(values.values(), values.nulls(), None, |row, value| {
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
        mut f: impl FnMut(usize, &[u8]),
    ) -> Result<()> {
        let encoded = converter.convert_columns(args)?;
        for row in 0..encoded.num_rows() {
            if !args.iter().any(|a| a.is_null(row)) {
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

impl<K: DistinctKey, const N: usize> CountDistinct<K, N> {
    fn new(values: K::Values, calls: usize) -> Self {
        assert!(calls <= N, "{calls} calls in {N} lanes");
        CountDistinct {
            seen: Vec::new(),
            distinct: Vec::new(),
            calls,
            values,
        }
    }
}

impl<K: DistinctKey, const N: usize> CallState for CountDistinct<K, N> {
    fn update(
        &mut self,
        args: &[ArrayRef],
        filters: &[Option<BooleanArray>],
        rows: &Rows,
    ) -> Result<()> {
        grow(&mut self.seen, rows.groups, HashMap::new());
        grow(&mut self.distinct, rows.groups, [0; N]);
        let (seen, distinct) = (&mut self.seen, &mut self.distinct);
        K::each(&mut self.values, args, |row, value| {
            // The lanes of the calls whose filter takes the row.
            let mut lanes = [false; N];
            for (lane, filter) in lanes.iter_mut().zip(filters) {
                *lane = filter
                    .as_ref()
                    .is_none_or(|f| f.is_valid(row) && f.value(row));
            }
            if !lanes.contains(&true) {
                return;
            }
            let (sign, id) = (rows.sign(row), rows.ids[row]);
            let (seen, distinct) = (&mut seen[id], &mut distinct[id]);
            let mut count = |times: &mut [i64; N]| {
                for lane in 0..N {
                    if lanes[lane] {
                        let was = times[lane] != 0;
                        times[lane] += sign;
                        distinct[lane] += i64::from(times[lane] != 0) - i64::from(was);
                    }
                }
            };
            match seen.get_mut(value) {
                Some(times) => {
                    count(times);
                    if *times == [0; N] {
                        seen.remove(value);
                    }
                }
                None => {
                    let mut times = [0; N];
                    count(&mut times);
                    seen.insert(K::owned(value), times);
                }
            }
        })
    }

    fn evaluate(&mut self, groups: &[usize], out: &mut Vec<ArrayRef>) -> Result<()> {
        for lane in 0..self.calls {
            let counts = groups
                .iter()
                .map(|&g| self.distinct.get(g).map_or(0, |d| d[lane]));
            out.push(Arc::new(Int64Array::from_iter_values(counts)));
        }
        Ok(())
    }

    fn reset(&mut self, group: usize) -> Result<()> {
        if let Some(seen) = self.seen.get_mut(group) {
            *seen = HashMap::new();
            self.distinct[group] = [0; N];
        }
        Ok(())
    }

    /// Columns: each entry's group, value, and how many rows each call counts for it.
    fn snapshot(&mut self, _groups: usize, state: &mut State, name: &str) -> Result<()> {
        let (mut ids, mut values) = (Vec::new(), Vec::new());
        let mut times = vec![Vec::new(); self.calls];
        for (id, seen) in self.seen.iter().enumerate() {
            let mut entries: Vec<(&K, &[i64; N])> = seen.iter().collect();
            entries.sort_unstable();
            for (value, counts) in entries {
                ids.push(id as i64);
                values.push(value);
                for (lane, times) in times.iter_mut().enumerate() {
                    times.push(counts[lane]);
                }
            }
        }
        let entries = ids.len();
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(ids)), K::column(values)];
        columns.extend(
            times
                .into_iter()
                .map(|t| Arc::new(Int64Array::from(t)) as ArrayRef),
        );
        state.put_columns(name, columns, entries)
    }

    fn restore(&mut self, groups: usize, state: &State, name: &str) -> Result<()> {
        let (columns, entries) = state.columns(name)?;
        let [ids, values, times @ ..] = columns.as_slice() else {
            return Err(unreadable(name));
        };
        if times.len() != self.calls {
            return Err(unreadable(name));
        }
        let ids = ids.as_primitive::<Int64Type>();
        let times: Vec<&Int64Array> = times.iter().map(|t| t.as_primitive()).collect();
        self.seen = vec![HashMap::new(); groups];
        self.distinct = vec![[0; N]; groups];
        for e in 0..entries {
            let id = ids.value(e) as usize;
            let (Some(seen), Some(distinct)) = (self.seen.get_mut(id), self.distinct.get_mut(id))
            else {
                return Err(unreadable(name));
            };
            let mut counts = [0; N];
            for (lane, times) in times.iter().enumerate() {
                counts[lane] = times.value(e);
                distinct[lane] += i64::from(counts[lane] != 0);
            }
            seen.insert(K::at(values, e), counts);
        }
        Ok(())
    }

    fn size(&self) -> usize {
        let entries: usize = self.seen.iter().map(|s| s.capacity()).sum();
        self.seen.capacity() * size_of::<HashMap<K, [i64; N]>>()
            + self.distinct.capacity() * size_of::<[i64; N]>()
            + entries * (size_of::<K>() + size_of::<[i64; N]>())
    }
}
