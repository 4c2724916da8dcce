//! `STDDEV_POP`, `STDDEV_SAMP`, `VAR_POP`, `VAR_SAMP` and `VARIANCE` of doubles as Flink
//! computes them, from sums: `(SUM(x * x) - SUM(x) * SUM(x) / COUNT(x)) / COUNT(x)`
//! (`COUNT(x) - 1` for samples, NULL for a sample of one), its square root for deviations,
//! in the argument's type. Over integers Flink's results are integers whose rounding the
//! oracle does not pin down yet, so they are refused.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion_common::{Result, ScalarValue, not_impl_err};
use datafusion_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion_expr::utils::format_state_name;
use datafusion_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, TypeSignature, Volatility,
};

/// The five functions, to register over DataFusion's.
pub fn functions() -> Vec<AggregateUDF> {
    [
        ("stddev_pop", false, true),
        ("stddev_samp", true, true),
        ("var_pop", false, false),
        ("var_samp", true, false),
        ("variance", true, false),
    ]
    .into_iter()
    .map(|(name, sample, root)| {
        AggregateUDF::new_from_impl(Variance {
            name,
            sample,
            root,
            signature: Signature::new(TypeSignature::Numeric(1), Volatility::Immutable),
        })
    })
    .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Variance {
    name: &'static str,
    /// Divide by `COUNT - 1` rather than `COUNT`.
    sample: bool,
    /// The square root (a deviation rather than a variance).
    root: bool,
    signature: Signature,
}

impl AggregateUDFImpl for Variance {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            t @ (DataType::Float32 | DataType::Float64) => Ok(t.clone()),
            other => not_impl_err!(
                "{}({other}) is not supported yet: cast the argument to DOUBLE",
                self.name.to_uppercase()
            ),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Sums {
            data_type: args.return_field.data_type().clone(),
            sample: self.sample,
            root: self.root,
            count: 0,
            sum: 0.0,
            sum_squares: 0.0,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let field = |name: &str, t: DataType| {
            Arc::new(Field::new(format_state_name(args.name, name), t, true))
        };
        Ok(vec![
            field("count", DataType::Int64),
            field("sum", DataType::Float64),
            field("sum_squares", DataType::Float64),
        ])
    }
}

/// The count and sums of one group.
#[derive(Debug)]
struct Sums {
    data_type: DataType,
    sample: bool,
    root: bool,
    count: i64,
    sum: f64,
    sum_squares: f64,
}

impl Sums {
    /// Adds (`sign` 1) or removes (-1) the rows of `values`.
    fn add(&mut self, values: &ArrayRef, sign: i64) -> Result<()> {
        let values = arrow::compute::cast(values, &DataType::Float64)?;
        for x in values.as_primitive::<Float64Type>().iter().flatten() {
            self.count += sign;
            self.sum += sign as f64 * x;
            self.sum_squares += sign as f64 * x * x;
        }
        Ok(())
    }
}

impl Accumulator for Sums {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(&values[0], 1)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(&values[0], -1)
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let denominator = match (self.count, self.sample) {
            (0, _) | (1, true) => return ScalarValue::try_from(&self.data_type),
            (n, true) => n - 1,
            (n, false) => n,
        };
        let diff = self.sum_squares - self.sum * self.sum / self.count as f64;
        let quotient = diff / denominator as f64;
        let value = if self.root {
            quotient.powf(0.5)
        } else {
            quotient
        };
        ScalarValue::Float64(Some(value)).cast_to(&self.data_type)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Int64(Some(self.count)),
            ScalarValue::Float64(Some(self.sum)),
            ScalarValue::Float64(Some(self.sum_squares)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for i in 0..states[0].len() {
            if states[0].is_null(i) {
                continue;
            }
            self.count += states[0].as_primitive::<Int64Type>().value(i);
            self.sum += states[1].as_primitive::<Float64Type>().value(i);
            self.sum_squares += states[2].as_primitive::<Float64Type>().value(i);
        }
        Ok(())
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_refused_doubles_keep_their_type() {
        let sample = &functions()[1];
        assert!(sample.return_type(&[DataType::Int64]).is_err());
        assert_eq!(
            sample.return_type(&[DataType::Float64]).unwrap(),
            DataType::Float64
        );
    }

    #[test]
    fn a_sample_of_one_is_null_and_rows_can_be_retracted() {
        let mut sums = Sums {
            data_type: DataType::Float64,
            sample: true,
            root: false,
            count: 0,
            sum: 0.0,
            sum_squares: 0.0,
        };
        let values = |v: Vec<f64>| -> ArrayRef { Arc::new(arrow::array::Float64Array::from(v)) };
        sums.update_batch(&[values(vec![2.0])]).unwrap();
        assert_eq!(sums.evaluate().unwrap(), ScalarValue::Float64(None));
        sums.update_batch(&[values(vec![4.0, 9.0])]).unwrap();
        // 2, 4, 9: mean 5, squares of deviations 9 + 1 + 16 = 26, over 2.
        assert_eq!(sums.evaluate().unwrap(), ScalarValue::Float64(Some(13.0)));
        sums.retract_batch(&[values(vec![9.0])]).unwrap();
        assert_eq!(sums.evaluate().unwrap(), ScalarValue::Float64(Some(2.0)));
    }
}
