//! Aggregates over a changelog that need every value kept to answer after a retraction:
//! `MIN` / `MAX` (values counted in order, as Flink's `MinWithRetractAggFunction` keeps them)
//! and `FIRST_VALUE` / `LAST_VALUE` (values by arrival, as Flink's
//! `FirstValueWithRetractAggFunction`). DataFusion's sliding accumulators retract only the
//! oldest value, as a sliding window does, so they cannot serve here.

use std::collections::{BTreeMap, HashMap, VecDeque};

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::Accumulator;

use crate::Result;

/// A retractable `MIN` (or `MAX`): the multiset of non-null values, ordered by their
/// order-preserving row encoding.
#[derive(Debug)]
pub struct RetractableExtremum {
    converter: RowConverter,
    values: BTreeMap<Box<[u8]>, u64>,
    max: bool,
    data_type: DataType,
}

impl RetractableExtremum {
    /// An empty `MAX` (`max`) or `MIN` of values of `data_type`.
    pub fn new(data_type: &DataType, max: bool) -> Result<Self> {
        Ok(RetractableExtremum {
            converter: RowConverter::new(vec![SortField::new(data_type.clone())])?,
            values: BTreeMap::new(),
            max,
            data_type: data_type.clone(),
        })
    }
}

impl Accumulator for RetractableExtremum {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        let column = &values[0];
        let rows = self
            .converter
            .convert_columns(std::slice::from_ref(column))?;
        for i in (0..column.len()).filter(|&i| column.is_valid(i)) {
            let row = rows.row(i);
            match self.values.get_mut(row.as_ref()) {
                Some(count) => *count += 1,
                None => {
                    self.values.insert(row.as_ref().into(), 1);
                }
            }
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        let column = &values[0];
        let rows = self
            .converter
            .convert_columns(std::slice::from_ref(column))?;
        for i in (0..column.len()).filter(|&i| column.is_valid(i)) {
            let row = rows.row(i);
            if let Some(count) = self.values.get_mut(row.as_ref()) {
                *count -= 1;
                if *count == 0 {
                    self.values.remove(row.as_ref());
                }
            }
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> datafusion::common::Result<ScalarValue> {
        let extremum = match self.max {
            true => self.values.last_key_value(),
            false => self.values.first_key_value(),
        };
        let Some((bytes, _)) = extremum else {
            return ScalarValue::try_from(&self.data_type);
        };
        let parser = self.converter.parser();
        let column = self.converter.convert_rows([parser.parse(bytes)])?;
        ScalarValue::try_from_array(&column[0], 0)
    }

    fn size(&self) -> usize {
        size_of::<Self>()
            + self
                .values
                .keys()
                .map(|k| k.len() + size_of::<(Box<[u8]>, u64)>() + 16)
                .sum::<usize>()
    }

    fn state(&mut self) -> datafusion::common::Result<Vec<ScalarValue>> {
        Err(DataFusionError::NotImplemented(
            "a retractable MIN/MAX is never merged".into(),
        ))
    }

    fn merge_batch(&mut self, _states: &[ArrayRef]) -> datafusion::common::Result<()> {
        Err(DataFusionError::NotImplemented(
            "a retractable MIN/MAX is never merged".into(),
        ))
    }
}

/// A retractable `FIRST_VALUE` (or `LAST_VALUE`): the non-null values by arrival; a
/// retraction takes back the earliest arrival of its value.
#[derive(Debug)]
pub struct RetractableArrival {
    converter: RowConverter,
    by_arrival: BTreeMap<u64, Box<[u8]>>,
    arrivals: HashMap<Box<[u8]>, VecDeque<u64>>,
    next: u64,
    last: bool,
    data_type: DataType,
}

impl RetractableArrival {
    /// An empty `LAST_VALUE` (`last`) or `FIRST_VALUE` of values of `data_type`.
    pub fn new(data_type: &DataType, last: bool) -> Result<Self> {
        Ok(RetractableArrival {
            converter: RowConverter::new(vec![SortField::new(data_type.clone())])?,
            by_arrival: BTreeMap::new(),
            arrivals: HashMap::new(),
            next: 0,
            last,
            data_type: data_type.clone(),
        })
    }
}

impl Accumulator for RetractableArrival {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        let column = &values[0];
        let rows = self
            .converter
            .convert_columns(std::slice::from_ref(column))?;
        for i in (0..column.len()).filter(|&i| column.is_valid(i)) {
            let value: Box<[u8]> = rows.row(i).as_ref().into();
            self.arrivals
                .entry(value.clone())
                .or_default()
                .push_back(self.next);
            self.by_arrival.insert(self.next, value);
            self.next += 1;
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        let column = &values[0];
        let rows = self
            .converter
            .convert_columns(std::slice::from_ref(column))?;
        for i in (0..column.len()).filter(|&i| column.is_valid(i)) {
            let row = rows.row(i);
            if let Some(arrivals) = self.arrivals.get_mut(row.as_ref()) {
                if let Some(arrival) = arrivals.pop_front() {
                    self.by_arrival.remove(&arrival);
                }
                if arrivals.is_empty() {
                    self.arrivals.remove(row.as_ref());
                }
            }
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> datafusion::common::Result<ScalarValue> {
        let value = match self.last {
            true => self.by_arrival.last_key_value(),
            false => self.by_arrival.first_key_value(),
        };
        let Some((_, bytes)) = value else {
            return ScalarValue::try_from(&self.data_type);
        };
        let parser = self.converter.parser();
        let column = self.converter.convert_rows([parser.parse(bytes)])?;
        ScalarValue::try_from_array(&column[0], 0)
    }

    fn size(&self) -> usize {
        size_of::<Self>()
            + self
                .by_arrival
                .values()
                .map(|v| 2 * v.len() + 64)
                .sum::<usize>()
    }

    fn state(&mut self) -> datafusion::common::Result<Vec<ScalarValue>> {
        Err(DataFusionError::NotImplemented(
            "a retractable FIRST_VALUE/LAST_VALUE is never merged".into(),
        ))
    }

    fn merge_batch(&mut self, _states: &[ArrayRef]) -> datafusion::common::Result<()> {
        Err(DataFusionError::NotImplemented(
            "a retractable FIRST_VALUE/LAST_VALUE is never merged".into(),
        ))
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
        let mut first = RetractableArrival::new(&DataType::Int64, false).unwrap();
        let mut last = RetractableArrival::new(&DataType::Int64, true).unwrap();
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
}
