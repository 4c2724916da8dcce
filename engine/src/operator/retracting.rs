//! Aggregates over a changelog that need every value kept to answer after a retraction:
//! `MIN` / `MAX` (values counted in order, as Flink's `MinWithRetractAggFunction` keeps them)
//! and `FIRST_VALUE` / `LAST_VALUE` / `ARRAY_AGG` (values by arrival, as Flink's
//! `FirstValueWithRetractAggFunction` and `ArrayAggFunction`). DataFusion's sliding accumulators retract only the
//! oldest value, as a sliding window does, so they cannot serve here.

use std::collections::{BTreeMap, VecDeque};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};
use datafusion_common::utils::SingleRowListArrayBuilder;
use datafusion_common::{DataFusionError, HashMap, ScalarValue};
use datafusion_expr::Accumulator;

use crate::Result;

/// Values of one type in Arrow's order-preserving row encoding, as the accumulators keep them.
#[derive(Debug)]
struct Encoding {
    converter: RowConverter,
    data_type: DataType,
}

impl Encoding {
    fn new(data_type: &DataType) -> Result<Self> {
        Ok(Encoding {
            converter: RowConverter::new(vec![SortField::new(data_type.clone())])?,
            data_type: data_type.clone(),
        })
    }

    /// Calls `f` with the encoding of each non-null value of the column `values[0]`.
    fn each(&self, values: &[ArrayRef], f: impl FnMut(&[u8])) -> datafusion_common::Result<()> {
        self.each_of(values, false, f)
    }

    /// Calls `f` with the encoding of each value of the column `values[0]`, NULLs too when
    /// `nulls`.
    fn each_of(
        &self,
        values: &[ArrayRef],
        nulls: bool,
        mut f: impl FnMut(&[u8]),
    ) -> datafusion_common::Result<()> {
        let column = &values[0];
        let rows = self
            .converter
            .convert_columns(std::slice::from_ref(column))?;
        for i in (0..column.len()).filter(|&i| nulls || column.is_valid(i)) {
            f(rows.row(i).as_ref());
        }
        Ok(())
    }

    /// The values encoded as `values`, in order, as an array (NULL when there are none).
    fn list<'a>(
        &self,
        values: impl ExactSizeIterator<Item = &'a [u8]>,
    ) -> datafusion_common::Result<ScalarValue> {
        if values.len() == 0 {
            return Ok(ScalarValue::new_null_list(self.data_type.clone(), true, 1));
        }
        let parser = self.converter.parser();
        let column = self
            .converter
            .convert_rows(values.map(|v| parser.parse(v)))?;
        let list = SingleRowListArrayBuilder::new(column[0].clone()).with_nullable(true);
        Ok(list.build_list_scalar())
    }

    /// The value encoded as `bytes`, or NULL.
    fn scalar(&self, bytes: Option<&[u8]>) -> datafusion_common::Result<ScalarValue> {
        let Some(bytes) = bytes else {
            return ScalarValue::try_from(&self.data_type);
        };
        let parser = self.converter.parser();
        let column = self.converter.convert_rows([parser.parse(bytes)])?;
        ScalarValue::try_from_array(&column[0], 0)
    }
}

/// A state as one binary value: numbered byte strings, each as its number (8 bytes), its
/// length (4 bytes) and its bytes. The accumulators serve one group of a changelog and are
/// merged only into a fresh one, to restore a checkpoint.
fn encode_state<'a>(entries: impl Iterator<Item = (u64, &'a [u8])>) -> ScalarValue {
    let mut out = Vec::new();
    for (number, bytes) in entries {
        out.extend_from_slice(&number.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    ScalarValue::Binary(Some(out))
}

/// Calls `f` with each entry of every state in `states` (as [`encode_state`] wrote them).
fn decode_states(
    states: &[ArrayRef],
    mut f: impl FnMut(u64, &[u8]),
) -> datafusion_common::Result<()> {
    let damaged = || DataFusionError::Execution("a checkpointed aggregate state is damaged".into());
    let states = states[0].as_binary_opt::<i32>().ok_or_else(damaged)?;
    for mut state in states.iter().flatten() {
        while !state.is_empty() {
            let (number, rest) = state.split_first_chunk::<8>().ok_or_else(damaged)?;
            let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(damaged)?;
            let len = u32::from_le_bytes(*len) as usize;
            let bytes = rest.get(..len).ok_or_else(damaged)?;
            f(u64::from_le_bytes(*number), bytes);
            state = &rest[len..];
        }
    }
    Ok(())
}

/// A retractable `MIN` (or `MAX`): the multiset of non-null values, ordered by their
/// order-preserving encoding.
#[derive(Debug)]
pub struct RetractableExtremum {
    encoding: Encoding,
    values: BTreeMap<Box<[u8]>, u64>,
    max: bool,
}

impl RetractableExtremum {
    /// An empty `MAX` (`max`) or `MIN` of values of `data_type`.
    pub fn new(data_type: &DataType, max: bool) -> Result<Self> {
        Ok(RetractableExtremum {
            encoding: Encoding::new(data_type)?,
            values: BTreeMap::new(),
            max,
        })
    }
}

impl Accumulator for RetractableExtremum {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion_common::Result<()> {
        let counts = &mut self.values;
        self.encoding
            .each(values, |value| match counts.get_mut(value) {
                Some(count) => *count += 1,
                None => {
                    counts.insert(value.into(), 1);
                }
            })
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> datafusion_common::Result<()> {
        let counts = &mut self.values;
        self.encoding.each(values, |value| {
            if let Some(count) = counts.get_mut(value) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(value);
                }
            }
        })
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> datafusion_common::Result<ScalarValue> {
        let extremum = match self.max {
            true => self.values.last_key_value(),
            false => self.values.first_key_value(),
        };
        self.encoding.scalar(extremum.map(|(v, _)| v.as_ref()))
    }

    fn size(&self) -> usize {
        let entry = size_of::<(Box<[u8]>, u64)>() + 16;
        size_of::<Self>() + self.values.keys().map(|k| k.len() + entry).sum::<usize>()
    }

    /// The values with their counts.
    fn state(&mut self) -> datafusion_common::Result<Vec<ScalarValue>> {
        let entries = self
            .values
            .iter()
            .map(|(value, count)| (*count, value.as_ref()));
        Ok(vec![encode_state(entries)])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> datafusion_common::Result<()> {
        let counts = &mut self.values;
        decode_states(states, |count, value| {
            *counts.entry(value.into()).or_default() += count;
        })
    }
}

/// A retractable `FIRST_VALUE`, `LAST_VALUE` or `ARRAY_AGG`: the values by arrival (the
/// non-null ones, but for `ARRAY_AGG` without `IGNORE NULLS`); a retraction takes back the
/// earliest arrival of its value.
#[derive(Debug)]
pub struct RetractableArrival {
    encoding: Encoding,
    by_arrival: BTreeMap<u64, Box<[u8]>>,
    arrivals: HashMap<Box<[u8]>, VecDeque<u64>>,
    next: u64,
    answer: Arrival,
}

/// What a [`RetractableArrival`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    First,
    Last,
    /// All values, as an array; NULLs too with `nulls`; with `distinct`, each value once, in
    /// the order it came to be held (as Flink's DISTINCT aggregates: a value stays in place
    /// while any of its rows does).
    All {
        nulls: bool,
        distinct: bool,
    },
}

impl RetractableArrival {
    /// An empty accumulator of values of `data_type` that gives `answer`.
    pub fn new(data_type: &DataType, answer: Arrival) -> Result<Self> {
        Ok(RetractableArrival {
            encoding: Encoding::new(data_type)?,
            by_arrival: BTreeMap::new(),
            arrivals: HashMap::new(),
            next: 0,
            answer,
        })
    }

    fn nulls(&self) -> bool {
        matches!(self.answer, Arrival::All { nulls: true, .. })
    }

    fn distinct(&self) -> bool {
        matches!(self.answer, Arrival::All { distinct: true, .. })
    }

    /// Takes in `value`, arrived as number `number` (the highest yet).
    fn record(&mut self, number: u64, value: &[u8]) {
        let distinct = self.distinct();
        let times = self.arrivals.entry(value.into()).or_default();
        // DISTINCT: only a value's first arrival answers.
        if times.is_empty() || !distinct {
            self.by_arrival.insert(number, value.into());
        }
        times.push_back(number);
    }
}

impl Accumulator for RetractableArrival {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion_common::Result<()> {
        let mut arrived = Vec::new();
        self.encoding.each_of(values, self.nulls(), |value| {
            arrived.push(Box::<[u8]>::from(value))
        })?;
        for value in arrived {
            self.record(self.next, &value);
            self.next += 1;
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> datafusion_common::Result<()> {
        let (distinct, nulls) = (self.distinct(), self.nulls());
        let (by_arrival, arrivals) = (&mut self.by_arrival, &mut self.arrivals);
        self.encoding.each_of(values, nulls, |value| {
            if let Some(times) = arrivals.get_mut(value) {
                // A row takes back its value's earliest arrival; under DISTINCT the value
                // keeps its place until its last row goes.
                let arrival = match distinct {
                    true => times.pop_back().filter(|_| times.is_empty()),
                    false => times.pop_front(),
                };
                if let Some(arrival) = arrival {
                    by_arrival.remove(&arrival);
                }
                if times.is_empty() {
                    arrivals.remove(value);
                }
            }
        })
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> datafusion_common::Result<ScalarValue> {
        let value = match self.answer {
            Arrival::Last => self.by_arrival.last_key_value(),
            Arrival::First => self.by_arrival.first_key_value(),
            Arrival::All { .. } => {
                return self
                    .encoding
                    .list(self.by_arrival.values().map(|v| v.as_ref()));
            }
        };
        self.encoding.scalar(value.map(|(_, v)| v.as_ref()))
    }

    fn size(&self) -> usize {
        let values: usize = (self.arrivals.iter())
            .map(|(v, times)| 2 * v.len() + 8 * times.len() + 64)
            .sum();
        size_of::<Self>() + values
    }

    /// The next arrival's number (with no value), then every arrival of every value.
    fn state(&mut self) -> datafusion_common::Result<Vec<ScalarValue>> {
        let next = std::iter::once((self.next, &[][..]));
        let entries = (self.arrivals.iter())
            .flat_map(|(value, times)| times.iter().map(move |at| (*at, value.as_ref())));
        Ok(vec![encode_state(next.chain(entries))])
    }

    /// Takes in a state (into an empty accumulator: arrivals keep their numbers).
    fn merge_batch(&mut self, states: &[ArrayRef]) -> datafusion_common::Result<()> {
        let mut entries: Vec<(u64, Box<[u8]>)> = Vec::new();
        let mut first = true;
        decode_states(states, |number, value| {
            if std::mem::take(&mut first) {
                self.next = self.next.max(number);
            } else {
                entries.push((number, value.into()));
            }
        })?;
        entries.sort_unstable_by_key(|(number, _)| *number);
        for (number, value) in entries {
            self.record(number, &value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;

    use super::*;

    fn values(v: &[Option<i64>]) -> Vec<ArrayRef> {
        vec![Arc::new(Int64Array::from(v.to_vec()))]
    }

    /// A fresh accumulator that took in `acc`'s state (as a checkpoint restores it); `acc`
    /// goes on after giving it.
    fn restored(acc: &mut dyn Accumulator, fresh: Box<dyn Accumulator>) -> Box<dyn Accumulator> {
        let state = acc.state().unwrap();
        let columns: Vec<ArrayRef> = state.iter().map(|v| v.to_array().unwrap()).collect();
        let mut fresh = fresh;
        fresh.merge_batch(&columns).unwrap();
        fresh
    }

    #[test]
    fn a_restored_accumulator_goes_on_as_the_first_would() {
        let new_max = || Box::new(RetractableExtremum::new(&DataType::Int64, true).unwrap());
        let new_first =
            || Box::new(RetractableArrival::new(&DataType::Int64, Arrival::First).unwrap());
        let makers: [&dyn Fn() -> Box<dyn Accumulator>; 2] = [&|| new_max(), &|| new_first()];
        for make in makers {
            let mut acc = make();
            acc.update_batch(&values(&[Some(5), Some(9), Some(9), Some(1), Some(7)]))
                .unwrap();
            acc.retract_batch(&values(&[Some(5)])).unwrap();
            let mut copy = restored(acc.as_mut(), make());
            for a in [&mut acc, &mut copy] {
                a.retract_batch(&values(&[Some(9), Some(1)])).unwrap();
                a.update_batch(&values(&[Some(3)])).unwrap();
            }
            assert_eq!(acc.evaluate().unwrap(), copy.evaluate().unwrap());
            for a in [&mut acc, &mut copy] {
                a.retract_batch(&values(&[Some(9), Some(7)])).unwrap();
            }
            assert_eq!(acc.evaluate().unwrap(), copy.evaluate().unwrap());
            assert_eq!(copy.evaluate().unwrap(), ScalarValue::Int64(Some(3)));
        }
    }

    #[test]
    fn the_extremum_comes_back_after_any_value_is_retracted() {
        let mut max = RetractableExtremum::new(&DataType::Int64, true).unwrap();
        let mut min = RetractableExtremum::new(&DataType::Int64, false).unwrap();
        for acc in [&mut max, &mut min] {
            acc.update_batch(&values(&[Some(5), Some(9), None, Some(9), Some(1)]))
                .unwrap();
        }
        assert_eq!(max.evaluate().unwrap(), ScalarValue::Int64(Some(9)));
        assert_eq!(min.evaluate().unwrap(), ScalarValue::Int64(Some(1)));
        // Not the oldest value first: a changelog retracts any row.
        for acc in [&mut max, &mut min] {
            acc.retract_batch(&values(&[Some(9), Some(1)])).unwrap();
        }
        assert_eq!(
            max.evaluate().unwrap(),
            ScalarValue::Int64(Some(9)),
            "9 was there twice"
        );
        assert_eq!(min.evaluate().unwrap(), ScalarValue::Int64(Some(5)));
        for acc in [&mut max, &mut min] {
            acc.retract_batch(&values(&[Some(9), Some(5)])).unwrap();
        }
        assert_eq!(max.evaluate().unwrap(), ScalarValue::Int64(None));
        assert_eq!(min.evaluate().unwrap(), ScalarValue::Int64(None));
    }

    #[test]
    fn first_and_last_values_follow_arrival_after_retractions() {
        let mut first = RetractableArrival::new(&DataType::Int64, Arrival::First).unwrap();
        let mut last = RetractableArrival::new(&DataType::Int64, Arrival::Last).unwrap();
        for acc in [&mut first, &mut last] {
            acc.update_batch(&values(&[Some(5), None, Some(7), Some(5), Some(3)]))
                .unwrap();
        }
        assert_eq!(first.evaluate().unwrap(), ScalarValue::Int64(Some(5)));
        assert_eq!(last.evaluate().unwrap(), ScalarValue::Int64(Some(3)));
        // Retracting 5 takes back its first arrival: 7 is now first; retracting 3, the
        // second 5 is last.
        for acc in [&mut first, &mut last] {
            acc.retract_batch(&values(&[Some(5), Some(3)])).unwrap();
        }
        assert_eq!(first.evaluate().unwrap(), ScalarValue::Int64(Some(7)));
        assert_eq!(last.evaluate().unwrap(), ScalarValue::Int64(Some(5)));
    }

    #[test]
    fn array_agg_keeps_arrivals_and_a_restored_one_goes_on() {
        let text = |acc: &mut dyn Accumulator| acc.evaluate().unwrap().to_string();
        let make = |nulls| {
            let answer = Arrival::All {
                nulls,
                distinct: false,
            };
            RetractableArrival::new(&DataType::Int64, answer)
        };
        let mut all = make(true).unwrap();
        let mut values_only = make(false).unwrap();
        for acc in [&mut all, &mut values_only] {
            acc.update_batch(&values(&[Some(5), None, Some(7), Some(5), None]))
                .unwrap();
            // The first 5 and the first NULL go.
            acc.retract_batch(&values(&[Some(5), None])).unwrap();
        }
        assert_eq!(
            text(&mut all),
            "[7, 5, ]",
            "ScalarValue shows NULL as nothing"
        );
        assert_eq!(text(&mut values_only), "[7, 5]");
        let mut copy = restored(&mut all, Box::new(make(true).unwrap()));
        for acc in [&mut all as &mut dyn Accumulator, copy.as_mut()] {
            acc.update_batch(&values(&[Some(1)])).unwrap();
            acc.retract_batch(&values(&[Some(7), Some(5), None]))
                .unwrap();
            assert_eq!(text(acc), "[1]");
            acc.retract_batch(&values(&[Some(1)])).unwrap();
            assert!(acc.evaluate().unwrap().is_null(), "no values left");
        }
    }

    #[test]
    fn distinct_values_keep_the_place_where_they_came_until_their_last_row_goes() {
        let make = || {
            let answer = Arrival::All {
                nulls: true,
                distinct: true,
            };
            RetractableArrival::new(&DataType::Int64, answer).unwrap()
        };
        let text = |acc: &mut dyn Accumulator| acc.evaluate().unwrap().to_string();
        let mut acc = make();
        acc.update_batch(&values(&[Some(5), Some(7), Some(5), None, Some(3)]))
            .unwrap();
        assert_eq!(text(&mut acc), "[5, 7, , 3]");
        // One of two 5s goes: 5 stays first. The only 7 goes, and comes back last.
        acc.retract_batch(&values(&[Some(5), Some(7)])).unwrap();
        acc.update_batch(&values(&[Some(7)])).unwrap();
        assert_eq!(text(&mut acc), "[5, , 3, 7]");
        let mut copy = restored(&mut acc, Box::new(make()));
        for acc in [&mut acc as &mut dyn Accumulator, copy.as_mut()] {
            acc.retract_batch(&values(&[Some(5)])).unwrap();
            acc.update_batch(&values(&[Some(5)])).unwrap();
            assert_eq!(text(acc), "[, 3, 7, 5]", "the last 5 went and came back");
        }
    }
}
