//! `COUNT(DISTINCT x)`, for one call or for several calls of the same `x` that differ in their
//! `FILTER` (Nexmark q16 counts distinct bidders overall and in three price ranges). Calls of
//! one `x` share a state, as Flink shares one map per distinct argument: a row looks its value
//! up once, however many of the calls count it. As in Flink, the state keeps per value how
//! many rows each call counts over a changelog, and only which calls count it (a bit each)
//! over an append-only input, whose entries are then 16 bytes instead of 40.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int64Array};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::row::{RowConverter, SortField};
use hashbrown::DefaultHashBuilder;

use super::{CallState, Rows, append_only, as_integers, grow, unreadable};
use crate::Result;
use crate::checkpoint::State;

mod value_table;

use value_table::{Vacant, ValueTable};

/// The most calls one state serves; more calls of one argument take more states.
pub(super) const MOST_CALLS: usize = 4;

/// The state of `calls` (1 to [`MOST_CALLS`]) `COUNT(DISTINCT x)` calls of one `x`, whose
/// values the function keeps as `state_type`; `retracting` when the input takes rows back.
pub(super) fn count_distinct(
    state_type: DataType,
    calls: usize,
    retracting: bool,
) -> Result<Box<dyn CallState>> {
    if as_integers(&state_type) {
        return Ok(tallies::<i64>((), calls, retracting));
    }
    let converter = RowConverter::new(vec![SortField::new(state_type)])?;
    Ok(tallies::<Box<[u8]>>(converter, calls, retracting))
}

/// A state of `calls` calls that counts rows per value if `retracting`, else marks values.
fn tallies<K: DistinctKey + 'static>(
    values: K::Values,
    calls: usize,
    retracting: bool,
) -> Box<dyn CallState> {
    match (calls, retracting) {
        (1, true) => Box::new(CountDistinct::<K, [i64; 1], 1>::new(values, calls)),
        (2, true) => Box::new(CountDistinct::<K, [i64; 2], 2>::new(values, calls)),
        (_, true) => Box::new(CountDistinct::<K, [i64; MOST_CALLS], MOST_CALLS>::new(
            values, calls,
        )),
        (_, false) => Box::new(CountDistinct::<K, Marks, MOST_CALLS>::new(values, calls)),
    }
}

/// Per group, a tally `T` of each value ([`Tally`]: which of the calls, lanes of `N`, count
/// it; a value leaves when none does), and how many values each call counts. Values are keys
/// of type `K` ([`DistinctKey`]).
struct CountDistinct<K: DistinctKey, T: Tally<N>, const N: usize> {
    seen: Vec<ValueTable<K, T>>,
    /// The memory of the tables' slots.
    slots: usize,
    distinct: Vec<[i64; N]>,
    /// The calls served (the first lanes).
    calls: usize,
    values: K::Values,
    hasher: DefaultHashBuilder,
    /// The hashes of a batch's keys.
    hashes: Vec<u64>,
}

/// What a state keeps of a value in a group: which calls (lanes of `N`) count it; vacant
/// when none does.
trait Tally<const N: usize>: Vacant + Ord + Send + 'static {
    /// Whether the tally can take rows back.
    const RETRACTS: bool;

    /// Counts a row (`sign` 1) or takes one back (-1) for the calls of `lanes`, adding each
    /// call's change in distinct values to `distinct`.
    fn count(&mut self, lanes: [bool; N], sign: i64, distinct: &mut [i64; N]);

    /// How many rows call `lane` counts (0 or 1 if the tally only marks values).
    fn times(&self, lane: usize) -> i64;

    /// The tally that counts `times` rows for each call.
    fn of(times: [i64; N]) -> Self;
}

impl<const N: usize> Vacant for [i64; N] {
    const VACANT: Self = [0; N];
}

/// Over a changelog: how many live rows each call counts. A value counts as distinct while
/// more rows added it than took it back, as in Flink: a retraction that came first (of a row
/// whose group was forgotten) leaves a negative count, which no distinct value shows.
impl<const N: usize> Tally<N> for [i64; N] {
    const RETRACTS: bool = true;

    fn count(&mut self, lanes: [bool; N], sign: i64, distinct: &mut [i64; N]) {
        for lane in 0..N {
            if lanes[lane] {
                let was = self[lane] > 0;
                self[lane] += sign;
                distinct[lane] += i64::from(self[lane] > 0) - i64::from(was);
            }
        }
    }

    fn times(&self, lane: usize) -> i64 {
        self[lane]
    }

    fn of(times: [i64; N]) -> Self {
        times
    }
}

/// Over an append-only input, which calls have counted a value: a bit per call.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Marks(u8);

impl Vacant for Marks {
    const VACANT: Self = Marks(0);
}

impl<const N: usize> Tally<N> for Marks {
    const RETRACTS: bool = false;

    fn count(&mut self, lanes: [bool; N], _sign: i64, distinct: &mut [i64; N]) {
        for lane in 0..N {
            let bit = 1 << lane;
            if lanes[lane] && self.0 & bit == 0 {
                self.0 |= bit;
                distinct[lane] += 1;
            }
        }
    }

    fn times(&self, lane: usize) -> i64 {
        i64::from(self.0 >> lane & 1)
    }

    fn of(times: [i64; N]) -> Self {
        let bits = (times.iter().enumerate()).map(|(lane, &t)| u8::from(t != 0) << lane);
        Marks(bits.fold(0, |a, b| a | b))
    }
}

/// How `COUNT(DISTINCT x)` tells values apart: integers as themselves (`i64`), any other
/// values by their Arrow row encoding (`Box<[u8]>`).
trait DistinctKey: Hash + Eq + Ord + Default + Send + Borrow<Self::Ref> + Sized {
    /// What turns argument columns into keys.
    type Values: Send;
    /// A key as a row gives it, looked up without allocating.
    type Ref: Hash + Eq + ?Sized;
    /// The keys of a batch's rows.
    type Keys;

    /// The keys of the rows of `args`.
    fn keys(values: &mut Self::Values, args: &[ArrayRef]) -> Result<Self::Keys>;

    /// The key of `row`; `None` where the argument is null.
    fn key(keys: &Self::Keys, row: usize) -> Option<&Self::Ref>;

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
    type Keys = Int64Array;

    fn keys(_: &mut (), args: &[ArrayRef]) -> Result<Int64Array> {
        Ok(cast(&args[0], &DataType::Int64)?.as_primitive().clone())
    }

    fn key(keys: &Int64Array, row: usize) -> Option<&i64> {
        keys.is_valid(row).then(|| &keys.values()[row])
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
    type Keys = (arrow::row::Rows, Option<NullBuffer>);

    fn keys(converter: &mut RowConverter, args: &[ArrayRef]) -> Result<Self::Keys> {
        let nulls = (args.iter()).fold(None, |n, a| {
            NullBuffer::union(n.as_ref(), a.logical_nulls().as_ref())
        });
        Ok((converter.convert_columns(args)?, nulls))
    }

    fn key((encoded, nulls): &Self::Keys, row: usize) -> Option<&[u8]> {
        nulls
            .as_ref()
            .is_none_or(|n| n.is_valid(row))
            .then(|| encoded.row(row).data())
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

/// How many rows ahead a batch's update asks for the memory of a row's value.
const AHEAD: usize = 16;

impl<K: DistinctKey, T: Tally<N>, const N: usize> CountDistinct<K, T, N> {
    fn new(values: K::Values, calls: usize) -> Self {
        assert!(calls <= N, "{calls} calls in {N} lanes");
        CountDistinct {
            seen: Vec::new(),
            slots: 0,
            distinct: Vec::new(),
            calls,
            values,
            hasher: DefaultHashBuilder::default(),
            hashes: Vec::new(),
        }
    }
}

impl<K: DistinctKey, T: Tally<N>, const N: usize> CallState for CountDistinct<K, T, N> {
    fn update(
        &mut self,
        args: &[ArrayRef],
        filters: &[Option<BooleanArray>],
        rows: &Rows,
    ) -> Result<()> {
        if !T::RETRACTS {
            append_only(rows)?;
        }
        if self.seen.len() < rows.groups {
            self.seen.resize_with(rows.groups, ValueTable::default);
        }
        grow(&mut self.distinct, rows.groups, [0; N]);
        let keys = K::keys(&mut self.values, args)?;
        let count = rows.ids.len();
        self.hashes.clear();
        self.hashes.extend(
            (0..count).map(|row| K::key(&keys, row).map_or(0, |key| self.hasher.hash_one(key))),
        );
        for row in 0..count {
            if let Some(&hash) = self.hashes.get(row + AHEAD) {
                self.seen[rows.ids[row + AHEAD]].prefetch(hash);
            }
            let Some(key) = K::key(&keys, row) else {
                continue;
            };
            // The lanes of the calls whose filter takes the row.
            let mut lanes = [false; N];
            for (lane, filter) in lanes.iter_mut().zip(filters) {
                *lane = filter
                    .as_ref()
                    .is_none_or(|f| f.is_valid(row) && f.value(row));
            }
            if !lanes.contains(&true) {
                continue;
            }
            let id = rows.ids[row];
            let table = &mut self.seen[id];
            let before = table.size();
            let slot = table.slot(self.hashes[row], key, K::owned, &self.hasher);
            self.slots += table.size() - before;
            let tally = table.tally(slot);
            tally.count(lanes, rows.sign(row), &mut self.distinct[id]);
            if *tally == T::VACANT {
                table.remove(slot, &self.hasher);
            }
        }
        Ok(())
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
            self.slots -= seen.size();
            *seen = ValueTable::default();
            self.distinct[group] = [0; N];
        }
        Ok(())
    }

    /// Columns: each entry's group, value, and how many rows each call counts for it.
    fn snapshot(&mut self, _groups: usize, state: &mut State, name: &str) -> Result<()> {
        let (mut ids, mut values) = (Vec::new(), Vec::new());
        let mut times = vec![Vec::new(); self.calls];
        for (id, seen) in self.seen.iter().enumerate() {
            let mut entries: Vec<(&K, &T)> = seen.iter().collect();
            entries.sort_unstable();
            for (value, tally) in entries {
                ids.push(id as i64);
                values.push(value);
                for (lane, times) in times.iter_mut().enumerate() {
                    times.push(tally.times(lane));
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
        self.seen = (0..groups).map(|_| ValueTable::default()).collect();
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
                distinct[lane] += i64::from(counts[lane] > 0);
            }
            let tally = T::of(counts);
            if tally == T::VACANT {
                return Err(unreadable(name));
            }
            seen.insert(K::at(values, e), tally, &self.hasher);
        }
        self.slots = self.seen.iter().map(ValueTable::size).sum();
        Ok(())
    }

    fn size(&self) -> usize {
        self.seen.capacity() * size_of::<ValueTable<K, T>>()
            + self.slots
            + self.distinct.capacity() * size_of::<[i64; N]>()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::operator::testing::random;

    /// Two calls of one argument: all values, and values of rows whose filter holds.
    fn two_calls(retracting: bool) -> Box<dyn CallState> {
        tallies::<i64>((), 2, retracting)
    }

    /// What each group's calls count, from the live rows `(group, value, filtered)`.
    fn expected(live: &[(usize, i64, bool)], groups: usize) -> Vec<[i64; 2]> {
        let mut values = vec![[BTreeSet::new(), BTreeSet::new()]; groups];
        for &(group, value, filtered) in live {
            values[group][0].insert(value);
            if filtered {
                values[group][1].insert(value);
            }
        }
        (values.iter())
            .map(|[all, some]| [all.len() as i64, some.len() as i64])
            .collect()
    }

    /// The counts `state` gives for `groups` groups.
    fn counts(state: &mut dyn CallState, groups: usize) -> Vec<[i64; 2]> {
        let mut out = Vec::new();
        state
            .evaluate(&(0..groups).collect::<Vec<_>>(), &mut out)
            .unwrap();
        let [all, some] = [&out[0], &out[1]].map(|a| a.as_primitive::<Int64Type>().clone());
        (0..groups).map(|g| [all.value(g), some.value(g)]).collect()
    }

    /// Many values in few groups, so that tables grow, and over a changelog are emptied again:
    /// the counts follow the live rows through resets and a checkpoint, and the state's size
    /// is its tables' as they stand.
    #[test]
    fn distinct_counts_follow_the_live_rows() {
        const GROUPS: usize = 3;
        for retracting in [false, true] {
            let mut state = two_calls(retracting);
            let mut live: Vec<(usize, i64, bool)> = Vec::new();
            let mut next = random(11);
            for step in 0..200 {
                let mut batch = Vec::new();
                for _ in 0..=next(40) {
                    if retracting && !live.is_empty() && next(3) == 0 {
                        let row = live.swap_remove(next(live.len() as u64) as usize);
                        batch.push((row, true));
                    } else {
                        let row = (next(GROUPS as u64) as usize, next(500) as i64, next(3) == 0);
                        live.push(row);
                        batch.push((row, false));
                    }
                }
                let ids: Vec<usize> = batch.iter().map(|((g, _, _), _)| *g).collect();
                let retract: Vec<bool> = batch.iter().map(|(_, r)| *r).collect();
                let values = Int64Array::from_iter_values(batch.iter().map(|((_, v, _), _)| *v));
                let filter = BooleanArray::from_iter(batch.iter().map(|((_, _, f), _)| Some(*f)));
                let rows = Rows::new(&ids, retracting.then_some(&retract[..]), GROUPS);
                let args: Vec<ArrayRef> = vec![Arc::new(values)];
                state.update(&args, &[None, Some(filter)], &rows).unwrap();
                if step % 50 == 49 {
                    state.reset(1).unwrap();
                    live.retain(|(g, _, _)| *g != 1);
                }
                if step == 120 {
                    let mut checkpoint = State::new();
                    state.snapshot(GROUPS, &mut checkpoint, "d").unwrap();
                    state = two_calls(retracting);
                    state.restore(GROUPS, &checkpoint, "d").unwrap();
                }
                assert_eq!(counts(state.as_mut(), GROUPS), expected(&live, GROUPS));
            }
            let held = counts(state.as_mut(), GROUPS).iter().flatten().sum::<i64>();
            assert!(held > 300, "{held} values held: the tables did not grow");
        }
    }

    /// The memory counted for the tables' slots is theirs as they grow and are reset.
    #[test]
    fn a_state_counts_its_tables_memory() {
        let mut state = CountDistinct::<i64, Marks, MOST_CALLS>::new((), 1);
        let tables = |state: &CountDistinct<i64, Marks, MOST_CALLS>| -> usize {
            state.seen.iter().map(ValueTable::size).sum()
        };
        let ids = [0, 1, 1, 1];
        for base in 0..100 {
            let values = Int64Array::from_iter_values((0..4).map(|v| base * 4 + v));
            let args: Vec<ArrayRef> = vec![Arc::new(values)];
            state
                .update(&args, &[None], &Rows::new(&ids, None, 2))
                .unwrap();
            assert_eq!(state.slots, tables(&state));
        }
        let before = state.size();
        state.reset(1).unwrap();
        assert_eq!(state.slots, tables(&state));
        assert!(
            state.size() < before - 300 * 16,
            "{} of {before}",
            state.size()
        );
    }

    /// A retraction before its row leaves the value uncounted, however many calls see it,
    /// and the row that follows it only evens the count, as in Flink.
    #[test]
    fn a_retraction_before_its_row_counts_no_value() {
        let mut state = two_calls(true);
        let update = |state: &mut Box<dyn CallState>, retract: bool| {
            let args: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![7]))];
            let filter = Some(BooleanArray::from(vec![true]));
            let retract = [retract];
            let rows = Rows::new(&[0], Some(&retract), 1);
            state.update(&args, &[None, filter], &rows).unwrap();
        };
        update(&mut state, true);
        assert_eq!(counts(state.as_mut(), 1), [[0, 0]]);
        update(&mut state, false);
        assert_eq!(counts(state.as_mut(), 1), [[0, 0]]);
        update(&mut state, false);
        assert_eq!(counts(state.as_mut(), 1), [[1, 1]]);
    }
}
