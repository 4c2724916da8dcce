//! `AVG` with Flink's result type: an integer average of integers.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, UInt64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt64Type};
use datafusion_common::types::{NativeType, logical_float64, logical_int64};
use datafusion_common::{Result, ScalarValue, not_impl_err};
use datafusion_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion_expr::utils::format_state_name;
use datafusion_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Coercion, EmitTo, GroupsAccumulator, Signature,
    TypeSignature, TypeSignatureClass, Volatility,
};
use datafusion_functions_aggregate::average::avg_udaf;

/// `AVG` as in Flink: over integers it is an integer, the sum divided by the count and
/// truncated toward zero (`AVG(volume)` of 1 and 2 is 1); other types as DataFusion's.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct FlinkAvg {
    inner: Arc<AggregateUDF>,
    signature: Signature,
}

impl Default for FlinkAvg {
    fn default() -> Self {
        // DataFusion's signature, except that integers stay integers.
        let one = |c: Coercion| TypeSignature::Coercible(vec![c]);
        let signature = Signature::one_of(
            vec![
                one(Coercion::new_exact(TypeSignatureClass::Decimal)),
                one(Coercion::new_exact(TypeSignatureClass::Duration)),
                one(Coercion::new_implicit(
                    TypeSignatureClass::Native(logical_int64()),
                    vec![TypeSignatureClass::Integer],
                    NativeType::Int64,
                )),
                one(Coercion::new_implicit(
                    TypeSignatureClass::Native(logical_float64()),
                    vec![TypeSignatureClass::Float],
                    NativeType::Float64,
                )),
            ],
            Volatility::Immutable,
        );
        FlinkAvg {
            inner: avg_udaf(),
            signature,
        }
    }
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

impl AggregateUDFImpl for FlinkAvg {
    fn name(&self) -> &str {
        "avg"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [t] if is_integer(t) => Ok(DataType::Int64),
            _ => self.inner.return_type(arg_types),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if is_integer(args.expr_fields[0].data_type()) {
            if args.is_distinct {
                return not_impl_err!("AVG(DISTINCT ...) over integers is not supported yet");
            }
            return Ok(Box::<IntegerAvgRow>::default());
        }
        self.inner.inner().accumulator(args)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        if is_integer(args.input_fields[0].data_type()) {
            return Ok(vec![
                Arc::new(Field::new(
                    format_state_name(args.name, "count"),
                    DataType::UInt64,
                    true,
                )),
                Arc::new(Field::new(
                    format_state_name(args.name, "sum"),
                    DataType::Int64,
                    true,
                )),
            ]);
        }
        self.inner.inner().state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        if is_integer(args.expr_fields[0].data_type()) {
            return !args.is_distinct;
        }
        self.inner.inner().groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        if is_integer(args.expr_fields[0].data_type()) {
            return Ok(Box::new(IntegerAvg::default()));
        }
        self.inner.inner().create_groups_accumulator(args)
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
}

/// Grouped integer average: a sum and a count per group.
#[derive(Debug, Default)]
struct IntegerAvg {
    counts: Vec<u64>,
    sums: Vec<i64>,
}

impl IntegerAvg {
    /// Adds `counts[i]` rows summing to `sums[i]` to group `groups[i]`, where valid.
    fn add(
        &mut self,
        groups: &[usize],
        sums: &Int64Array,
        counts: Option<&UInt64Array>,
        filter: Option<&BooleanArray>,
        total: usize,
    ) {
        self.counts.resize(total, 0);
        self.sums.resize(total, 0);
        for (i, &g) in groups.iter().enumerate() {
            if sums.is_null(i) || filter.is_some_and(|f| !f.is_valid(i) || !f.value(i)) {
                continue;
            }
            // Flink's BIGINT arithmetic wraps on overflow.
            self.sums[g] = self.sums[g].wrapping_add(sums.value(i));
            self.counts[g] += counts.map_or(1, |c| c.value(i));
        }
    }
}

impl GroupsAccumulator for IntegerAvg {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        groups: &[usize],
        filter: Option<&BooleanArray>,
        total: usize,
    ) -> Result<()> {
        let values = arrow::compute::cast(&values[0], &DataType::Int64)?;
        self.add(
            groups,
            values.as_primitive::<Int64Type>(),
            None,
            filter,
            total,
        );
        Ok(())
    }

    fn merge_batch(&mut self, values: &[ArrayRef], groups: &[usize], total: usize) -> Result<()> {
        let counts = values[0].as_primitive::<UInt64Type>();
        self.add(
            groups,
            values[1].as_primitive::<Int64Type>(),
            Some(counts),
            None,
            total,
        );
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let counts = emit_to.take_needed(&mut self.counts);
        let sums = emit_to.take_needed(&mut self.sums);
        // Java's long division truncates toward zero, as Rust's does.
        let averages: Int64Array = counts
            .iter()
            .zip(&sums)
            .map(|(&c, &s)| (c > 0).then(|| s.wrapping_div(c as i64)))
            .collect();
        Ok(Arc::new(averages))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let counts = emit_to.take_needed(&mut self.counts);
        let sums = emit_to.take_needed(&mut self.sums);
        Ok(vec![
            Arc::new(UInt64Array::from(counts)),
            Arc::new(Int64Array::from(sums)),
        ])
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let values = arrow::compute::cast(&values[0], &DataType::Int64)?;
        let values = values.as_primitive::<Int64Type>();
        let counts: UInt64Array = (0..values.len())
            .map(|i| {
                let kept = values.is_valid(i) && filter.is_none_or(|f| f.is_valid(i) && f.value(i));
                Some(u64::from(kept))
            })
            .collect();
        Ok(vec![Arc::new(counts), Arc::new(values.clone())])
    }

    fn size(&self) -> usize {
        self.counts.capacity() * 8 + self.sums.capacity() * 8
    }
}

/// Integer average of one group, for updating aggregation: it can retract rows.
#[derive(Debug, Default)]
struct IntegerAvgRow {
    count: u64,
    sum: i64,
}

impl Accumulator for IntegerAvgRow {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = arrow::compute::cast(&values[0], &DataType::Int64)?;
        let values = values.as_primitive::<Int64Type>();
        self.count += (values.len() - values.null_count()) as u64;
        self.sum = values.iter().flatten().fold(self.sum, i64::wrapping_add);
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = arrow::compute::cast(&values[0], &DataType::Int64)?;
        let values = values.as_primitive::<Int64Type>();
        self.count -= (values.len() - values.null_count()) as u64;
        self.sum = values.iter().flatten().fold(self.sum, i64::wrapping_sub);
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(
            (self.count > 0).then(|| self.sum.wrapping_div(self.count as i64)),
        ))
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::UInt64(Some(self.count)),
            ScalarValue::Int64(Some(self.sum)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let counts = states[0].as_primitive::<UInt64Type>();
        self.count += counts.iter().flatten().sum::<u64>();
        let sums = states[1].as_primitive::<Int64Type>();
        self.sum = sums.iter().flatten().fold(self.sum, i64::wrapping_add);
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
    fn integer_average_truncates_toward_zero_and_merges() {
        let mut avg = IntegerAvg::default();
        let values: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(1),
            Some(2),
            None,
            Some(-7),
            Some(2),
        ]));
        avg.update_batch(&[values], &[0, 0, 0, 1, 1], None, 3)
            .unwrap();
        let state = avg.state(EmitTo::All).unwrap();
        let mut merged = IntegerAvg::default();
        merged.merge_batch(&state, &[1, 1, 0], 2).unwrap();
        let result = merged.evaluate(EmitTo::All).unwrap();
        // group 1 merges the old groups 0 and 1: (1 + 2 - 7 + 2) / 4; group 0 has no rows.
        assert_eq!(
            result.as_primitive::<Int64Type>(),
            &Int64Array::from(vec![None, Some(-0)])
        );
        let mut avg = IntegerAvg::default();
        let values: ArrayRef = Arc::new(Int64Array::from(vec![-7, 2]));
        avg.update_batch(&[values], &[0, 0], None, 1).unwrap();
        assert_eq!(
            avg.evaluate(EmitTo::All)
                .unwrap()
                .as_primitive::<Int64Type>()
                .value(0),
            -2
        );
    }

    #[test]
    fn row_average_retracts() {
        let mut avg = IntegerAvgRow::default();
        let values: ArrayRef = Arc::new(Int64Array::from(vec![Some(4), None, Some(9), Some(2)]));
        avg.update_batch(&[values]).unwrap();
        assert_eq!(avg.evaluate().unwrap(), ScalarValue::Int64(Some(5)));
        avg.retract_batch(&[Arc::new(Int64Array::from(vec![9])) as ArrayRef])
            .unwrap();
        assert_eq!(avg.evaluate().unwrap(), ScalarValue::Int64(Some(3)));
    }
}
