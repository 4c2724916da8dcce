//! `COLLECT(x)`: the `MULTISET` of a group's non-NULL values, each with the number of rows
//! that hold it, as Flink's `CollectAggFunction` keeps it (an empty multiset when there are
//! none). A retraction takes its value's count back, so it works over changelogs and bounded
//! `OVER` frames. The elements are kept in Arrow's row format, so they come out in ascending
//! order; Flink lists them in its hash map's order.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array};
use arrow::datatypes::{DataType, Field, FieldRef, Int32Type};
use arrow::row::{RowConverter, SortField};
use datafusion_common::utils::SingleRowListArrayBuilder;
use datafusion_common::{Result, ScalarValue, plan_err};
use datafusion_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion_expr::utils::format_state_name;
use datafusion_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};

use super::map::{map_of, multiset_type};

/// The aggregate, to register.
pub fn function() -> AggregateUDF {
    AggregateUDF::new_from_impl(Collect {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Collect {
    signature: Signature,
}

impl AggregateUDFImpl for Collect {
    fn name(&self) -> &str {
        "collect"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            DataType::Null => plan_err!("COLLECT takes a typed value, not NULL"),
            element => Ok(multiset_type(element.clone())),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let element = args.exprs[0].data_type(args.schema)?;
        Ok(Box::new(Counts {
            rows: RowConverter::new(vec![SortField::new(element.clone())])?,
            element,
            counts: BTreeMap::new(),
        }))
    }

    /// The elements and their counts, as two arrays.
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |name, item| {
            let name = format_state_name(args.name, name);
            Arc::new(Field::new(name, DataType::new_list(item, true), true))
        };
        Ok(vec![
            list("elements", args.input_fields[0].data_type().clone()),
            list("counts", DataType::Int32),
        ])
    }
}

/// Each element (in the row format) with its count; none with a count of zero.
#[derive(Debug)]
struct Counts {
    element: DataType,
    rows: RowConverter,
    counts: BTreeMap<Box<[u8]>, i32>,
}

impl Counts {
    /// Counts each non-NULL value of `values` `times` times.
    fn add(&mut self, values: &ArrayRef, times: &dyn Fn(usize) -> i32) -> Result<()> {
        let rows = self.rows.convert_columns(std::slice::from_ref(values))?;
        for i in (0..values.len()).filter(|&i| values.is_valid(i)) {
            let row = rows.row(i);
            match self.counts.get_mut(row.as_ref()) {
                Some(count) => {
                    *count += times(i);
                    if *count == 0 {
                        self.counts.remove(row.as_ref());
                    }
                }
                None => {
                    self.counts.insert(row.as_ref().into(), times(i));
                }
            }
        }
        Ok(())
    }

    /// The elements, as an array, and their counts.
    fn columns(&self) -> Result<(ArrayRef, Int32Array)> {
        let parser = self.rows.parser();
        let rows = self.counts.keys().map(|bytes| parser.parse(bytes));
        let mut elements = self.rows.convert_rows(rows)?;
        let elements = elements.pop().expect("one column");
        Ok((elements, self.counts.values().copied().collect()))
    }
}

/// A one-row list of `items`.
fn one_list(items: ArrayRef) -> ScalarValue {
    SingleRowListArrayBuilder::new(items).build_list_scalar()
}

impl Accumulator for Counts {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(&values[0], &|_| 1)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(&values[0], &|_| -1)
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let (elements, counts) = self.columns()?;
        let data_type = multiset_type(self.element.clone());
        let lengths = [elements.len()];
        let map = map_of(&data_type, elements, Arc::new(counts), lengths, None)?;
        Ok(ScalarValue::Map(Arc::new(map)))
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.counts.keys().map(|k| k.len() + 48).sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (elements, counts) = self.columns()?;
        Ok(vec![one_list(elements), one_list(Arc::new(counts))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (elements, counts) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for row in (0..elements.len()).filter(|&r| elements.is_valid(r)) {
            let counts = counts.value(row);
            let counts = counts.as_primitive::<Int32Type>();
            self.add(&elements.value(row), &|i| counts.value(i))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::StringArray;

    use super::*;

    fn counts() -> Counts {
        Counts {
            element: DataType::Utf8,
            rows: RowConverter::new(vec![SortField::new(DataType::Utf8)]).unwrap(),
            counts: BTreeMap::new(),
        }
    }

    fn text(value: ScalarValue) -> String {
        let array = value.to_array().unwrap();
        let mut out = String::new();
        rill_engine::format::ValueFormatter::new(&array).write(&mut out, 0);
        out
    }

    #[test]
    fn a_multiset_counts_values_takes_them_back_and_survives_its_state() {
        let mut collect = counts();
        let rows: ArrayRef = Arc::new(StringArray::from(vec![
            Some("pear"),
            None,
            Some("fig"),
            Some("pear"),
            Some("apple"),
        ]));
        collect.update_batch(&[rows]).unwrap();
        let gone: ArrayRef = Arc::new(StringArray::from(vec!["apple", "pear", "kiwi"]));
        collect.retract_batch(&[gone]).unwrap();
        // apple's count fell to zero; kiwi was taken back before it came, as Flink counts it.
        assert_eq!(
            text(collect.evaluate().unwrap()),
            "{fig=1, kiwi=-1, pear=1}"
        );
        let state: Vec<ArrayRef> = (collect.state().unwrap().iter())
            .map(|s| s.to_array().unwrap())
            .collect();
        let mut restored = counts();
        restored.merge_batch(&state).unwrap();
        restored.merge_batch(&state).unwrap();
        assert_eq!(
            text(restored.evaluate().unwrap()),
            "{fig=2, kiwi=-2, pear=2}"
        );
        assert_eq!(text(counts().evaluate().unwrap()), "{}");
    }
}
