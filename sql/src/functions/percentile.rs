//! `PERCENTILE(x, p [, frequency])`: Flink's exact percentile of the numbers `x` (NULLs left
//! out, each counted `frequency` times, a row without a positive frequency left out), a
//! `DOUBLE`, or an array of them when `p` is an array of percentages. As Flink's
//! `PercentileAggFunction` does, it sorts the values and takes the place counted from one,
//! `p * (n - 1) + 1`; between two values it weighs each by the distance to the other,
//! `(higher - place) * lower value + (place - lower) * higher value`, in doubles (the same
//! formula counted from zero rounds otherwise). A retraction takes its value's count back, so
//! it works over changelogs and bounded `OVER` frames.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion_common::utils::SingleRowListArrayBuilder;
use datafusion_common::{Result, ScalarValue, exec_err, plan_err};
use datafusion_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion_expr::utils::format_state_name;
use datafusion_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};

/// The aggregate, to register.
pub fn function() -> AggregateUDF {
    AggregateUDF::new_from_impl(Percentile {
        signature: Signature::one_of(
            vec![
                datafusion_expr::TypeSignature::Any(2),
                datafusion_expr::TypeSignature::Any(3),
            ],
            Volatility::Immutable,
        ),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Percentile {
    signature: Signature,
}

impl AggregateUDFImpl for Percentile {
    fn name(&self) -> &str {
        "percentile"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let number = |t: &DataType| t.is_numeric() || t == &DataType::Null;
        if !number(&args[0]) {
            return plan_err!("PERCENTILE takes numbers, not {}", args[0]);
        }
        if args
            .get(2)
            .is_some_and(|f| !(f.is_integer() || f == &DataType::Null))
        {
            return plan_err!("PERCENTILE's frequency is an integer, not {}", args[2]);
        }
        match &args[1] {
            DataType::List(item) if number(item.data_type()) => {
                Ok(DataType::new_list(DataType::Float64, true))
            }
            t if number(t) => Ok(DataType::Float64),
            other => plan_err!("PERCENTILE's percentage is a number or an array, not {other}"),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Counts {
            counts: BTreeMap::new(),
            array: matches!(args.return_field.data_type(), DataType::List(_)),
            percentages: None,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |name, item| {
            let name = format_state_name(args.name, name);
            Arc::new(Field::new(name, DataType::new_list(item, true), true))
        };
        Ok(vec![
            list("values", DataType::Float64),
            list("counts", DataType::Int64),
            list("percentages", DataType::Float64),
        ])
    }
}

/// A value as a map key, ordered as numbers are (`-0.0` before `0.0`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key(f64);

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// How many times each value has come (less the times it was taken back).
#[derive(Debug)]
struct Counts {
    counts: BTreeMap<Key, i64>,
    /// Whether the result is an array (the percentage was one).
    array: bool,
    /// The percentages, read from the first batch (they are constants).
    percentages: Option<Vec<f64>>,
}

impl Counts {
    /// Adds `sign` times each row's frequency (1 without one) to its value's count.
    fn add(&mut self, values: &[ArrayRef], sign: i64) -> Result<()> {
        if self.percentages.is_none() && !values[1].is_empty() {
            self.percentages = Some(percentages(&values[1])?);
        }
        let numbers = arrow::compute::cast(&values[0], &DataType::Float64)?;
        let numbers = numbers.as_primitive::<Float64Type>();
        let frequencies = match values.get(2) {
            Some(f) => Some(arrow::compute::cast(f, &DataType::Int64)?),
            None => None,
        };
        let frequencies = frequencies.as_ref().map(|f| f.as_primitive::<Int64Type>());
        for (i, v) in numbers.iter().enumerate() {
            let times = match frequencies {
                Some(f) if f.is_null(i) || f.value(i) <= 0 => continue,
                Some(f) => f.value(i),
                None => 1,
            };
            if let Some(v) = v {
                self.count(v, sign * times);
            }
        }
        Ok(())
    }

    fn count(&mut self, value: f64, times: i64) {
        let count = self.counts.entry(Key(value)).or_default();
        *count += times;
        if *count == 0 {
            self.counts.remove(&Key(value));
        }
    }

    /// The `p` percentile of the values counted, `total` of them, as Flink computes it.
    fn percentile(&self, total: i64, p: f64) -> f64 {
        let place = p * (total - 1) as f64 + 1.0;
        let (lower, higher) = (place.floor() as i64, place.ceil() as i64);
        let mut entries = self.counts.iter();
        let (mut value, mut seen) = match entries.next() {
            Some((v, c)) => (v.0, *c),
            None => return f64::NAN,
        };
        let mut next = entries.next();
        while seen < lower {
            let Some((v, c)) = next else { break };
            (value, seen) = (v.0, seen + c);
            next = entries.next();
        }
        match next {
            Some((v, _)) if seen < higher => {
                (higher as f64 - place) * value + (place - lower as f64) * v.0
            }
            _ => value,
        }
    }
}

/// A list value of `items`.
fn one_list(items: ArrayRef) -> ScalarValue {
    SingleRowListArrayBuilder::new(items).build_list_scalar()
}

/// The percentages of the second argument (a constant), each checked to be in [0, 1].
fn percentages(argument: &ArrayRef) -> Result<Vec<f64>> {
    let row = ScalarValue::try_from_array(argument, 0)?;
    let numbers: Vec<ScalarValue> = match row {
        ScalarValue::List(list) => (0..list.value(0).len())
            .map(|i| ScalarValue::try_from_array(&list.value(0), i))
            .collect::<Result<_>>()?,
        other => vec![other],
    };
    numbers
        .into_iter()
        .map(|n| match n.cast_to(&DataType::Float64)? {
            ScalarValue::Float64(Some(p)) if (0.0..=1.0).contains(&p) => Ok(p),
            other => exec_err!(
                "Percentage of PERCENTILE should be between [0.0, 1.0], but was '{other}'."
            ),
        })
        .collect()
}

impl Accumulator for Counts {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(values, 1)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(values, -1)
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let total: i64 = self.counts.values().sum();
        let percentages = self.percentages.as_deref().unwrap_or_default();
        let results: Vec<f64> = match total {
            0 => vec![],
            _ => percentages
                .iter()
                .map(|&p| self.percentile(total, p))
                .collect(),
        };
        Ok(match (self.array, total) {
            (false, 0) => ScalarValue::Float64(None),
            (false, _) => ScalarValue::Float64(results.first().copied()),
            (true, 0) => ScalarValue::new_null_list(DataType::Float64, true, 1),
            (true, _) => one_list(Arc::new(Float64Array::from(results))),
        })
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.counts.len() * 48
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values: Float64Array = self.counts.keys().map(|k| Some(k.0)).collect();
        let counts: Int64Array = self.counts.values().map(|&c| Some(c)).collect();
        let percentages: Float64Array = (self.percentages.iter().flatten())
            .map(|&p| Some(p))
            .collect();
        Ok(vec![
            one_list(Arc::new(values)),
            one_list(Arc::new(counts)),
            one_list(Arc::new(percentages)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (values, counts, percentages) = (
            states[0].as_list::<i32>(),
            states[1].as_list::<i32>(),
            states[2].as_list::<i32>(),
        );
        for row in (0..values.len()).filter(|&r| values.is_valid(r)) {
            let (v, c) = (values.value(row), counts.value(row));
            let (v, c) = (
                v.as_primitive::<Float64Type>(),
                c.as_primitive::<Int64Type>(),
            );
            for (v, c) in v.values().iter().zip(c.values()) {
                self.count(*v, *c);
            }
            let p = percentages.value(row);
            if self.percentages.is_none() && !p.is_empty() {
                self.percentages = Some(p.as_primitive::<Float64Type>().values().to_vec());
            }
        }
        Ok(())
    }
}
