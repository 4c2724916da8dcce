//! Arrays: the `ARRAY[...]` constructor, `array[i]` (from 1; an error outside the array),
//! `CARDINALITY`, `ELEMENT`, `ARRAY_CONTAINS` and `ARRAY_POSITION`, as Flink has them. The
//! kernels work on the list's values column at once, not row by row.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int32Array, ListArray, UInt32Array};
use arrow::buffer::OffsetBuffer;
use arrow::compute::kernels::cmp::not_distinct;
use arrow::compute::{interleave, take};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion_common::{DFSchema, Result, exec_err, plan_err};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::planner::{ExprPlanner, PlannerResult, RawFieldAccessExpr};
use datafusion_expr::type_coercion::binary::type_union_resolution;
use datafusion_expr::{
    ColumnarValue, Expr, ExprSchemable, GetFieldAccess, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};

/// The functions, to register.
pub fn functions() -> Vec<ScalarUDF> {
    [
        Collection::Array,
        Collection::ElementAt,
        Collection::Cardinality,
        Collection::Element,
        Collection::Contains,
        Collection::Position,
    ]
    .into_iter()
    .map(|kind| {
        ScalarUDF::new_from_impl(ArrayFunction {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        })
    })
    .collect()
}

/// Plans `ARRAY[...]` and `array[i]` as calls of the functions above (DataFusion's own
/// planner for them comes with its nested-types crate, which rill does not build).
#[derive(Debug, Default)]
pub struct ArrayPlanner;

impl ExprPlanner for ArrayPlanner {
    fn plan_array_literal(
        &self,
        exprs: Vec<Expr>,
        _schema: &DFSchema,
    ) -> Result<PlannerResult<Vec<Expr>>> {
        Ok(PlannerResult::Planned(call(Collection::Array, exprs)))
    }

    fn plan_field_access(
        &self,
        expr: RawFieldAccessExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawFieldAccessExpr>> {
        let is_list = matches!(expr.expr.get_type(schema)?, DataType::List(_));
        match expr.field_access {
            GetFieldAccess::ListIndex { key } if is_list => Ok(PlannerResult::Planned(call(
                Collection::ElementAt,
                vec![expr.expr, *key],
            ))),
            _ => Ok(PlannerResult::Original(expr)),
        }
    }
}

fn call(kind: Collection, args: Vec<Expr>) -> Expr {
    let function = ScalarUDF::new_from_impl(ArrayFunction {
        kind,
        signature: Signature::user_defined(Volatility::Immutable),
    });
    Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(function), args))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Collection {
    /// `ARRAY[a, b, ...]`.
    Array,
    /// `array[i]`.
    ElementAt,
    Cardinality,
    /// `ELEMENT(array)`: the one element (NULL for none; more is an error).
    Element,
    /// `ARRAY_CONTAINS(array, x)`: whether an element is `x` (NULL matching NULL).
    Contains,
    /// `ARRAY_POSITION(array, x)`: where `x` first is, from 1 (0: nowhere).
    Position,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayFunction {
    kind: Collection,
    signature: Signature,
}

/// The element field of an array of `item`s.
fn item_field(item: DataType) -> FieldRef {
    Arc::new(Field::new_list_field(item, true))
}

impl ScalarUDFImpl for ArrayFunction {
    fn name(&self) -> &str {
        match self.kind {
            Collection::Array => "array",
            Collection::ElementAt => "rill_array_element",
            Collection::Cardinality => "cardinality",
            Collection::Element => "element",
            Collection::Contains => "array_contains",
            Collection::Position => "array_position",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name().to_ascii_uppercase();
        if self.kind == Collection::Array {
            if args.is_empty() {
                return plan_err!("ARRAY[] needs at least one element");
            }
            return match type_union_resolution(args) {
                Some(common) => Ok(vec![common; args.len()]),
                None => plan_err!("the elements of ARRAY[...] have no common type: {args:?}"),
            };
        }
        let arity = match self.kind {
            Collection::Cardinality | Collection::Element => 1,
            _ => 2,
        };
        let (DataType::List(item), true) = (&args[0], args.len() == arity) else {
            return plan_err!("{name} takes an array{}", [" and a value", ""][2 - arity]);
        };
        let mut types = vec![args[0].clone()];
        match (self.kind, args.get(1)) {
            (Collection::ElementAt, Some(index)) if index.is_integer() || index.is_null() => {
                types.push(DataType::Int64)
            }
            (Collection::ElementAt, _) => return plan_err!("an array index must be an integer"),
            (_, Some(value)) => {
                match type_union_resolution(&[item.data_type().clone(), value.clone()]) {
                    Some(common) if common == *item.data_type() => types.push(common),
                    _ => {
                        return plan_err!(
                            "{name} looks for a {value} in an array of {}",
                            item.data_type()
                        );
                    }
                }
            }
            (_, None) => {}
        }
        Ok(types)
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let item = match &args[0] {
            DataType::List(item) => item.data_type().clone(),
            other => other.clone(),
        };
        Ok(match self.kind {
            Collection::Array => DataType::List(item_field(args[0].clone())),
            Collection::ElementAt | Collection::Element => item,
            Collection::Cardinality | Collection::Position => DataType::Int32,
            Collection::Contains => DataType::Boolean,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let result = match self.kind {
            Collection::Array => construct(&arrays, rows)?,
            kind => {
                let list = arrays[0].as_list::<i32>();
                match kind {
                    Collection::ElementAt => element_at(list, &arrays[1])?,
                    Collection::Cardinality => cardinality(list),
                    Collection::Element => element(list)?,
                    Collection::Contains => contains(list, &arrays[1])?,
                    _ => position(list, &arrays[1])?,
                }
            }
        };
        Ok(ColumnarValue::Array(result))
    }
}

/// `rows` arrays of one element from each of `elements`.
fn construct(elements: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let width = elements.len();
    let sources: Vec<&dyn Array> = elements.iter().map(AsRef::as_ref).collect();
    let order: Vec<(usize, usize)> = (0..rows)
        .flat_map(|row| (0..width).map(move |k| (k, row)))
        .collect();
    let values = interleave(&sources, &order)?;
    let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(width, rows));
    let field = item_field(elements[0].data_type().clone());
    Ok(Arc::new(ListArray::try_new(field, offsets, values, None)?))
}

/// Each row's element `index` (from 1); NULL for a NULL array or index. An index outside the
/// array is an error: Flink answers it with a made-up value (`-1`, `' '`; checked with the
/// oracle), which rill will not imitate, and SQL's NULL would be a different answer.
fn element_at(list: &ListArray, index: &ArrayRef) -> Result<ArrayRef> {
    let index = index.as_primitive::<arrow::datatypes::Int64Type>();
    let mut picks = Vec::with_capacity(list.len());
    for row in 0..list.len() {
        if list.is_null(row) || index.is_null(row) {
            picks.push(None);
            continue;
        }
        let (i, len) = (index.value(row), list.value_length(row) as i64);
        if !(1..=len).contains(&i) {
            return exec_err!("array index {i} is outside the array of {len} elements");
        }
        picks.push(Some((list.value_offsets()[row] as i64 + i - 1) as u32));
    }
    Ok(take(list.values(), &UInt32Array::from(picks), None)?)
}

fn cardinality(list: &ListArray) -> ArrayRef {
    let lengths = (0..list.len()).map(|row| list.is_valid(row).then(|| list.value_length(row)));
    Arc::new(lengths.collect::<Int32Array>())
}

fn element(list: &ListArray) -> Result<ArrayRef> {
    if (0..list.len()).any(|row| list.is_valid(row) && list.value_length(row) > 1) {
        return exec_err!("ELEMENT of an array of more than one element");
    }
    let picks: UInt32Array = (0..list.len())
        .map(|row| {
            (list.is_valid(row) && list.value_length(row) == 1)
                .then(|| list.value_offsets()[row] as u32)
        })
        .collect();
    Ok(take(list.values(), &picks, None)?)
}

/// Per value of the list's values, whether it is its row's `needle` (NULL being NULL), and
/// per row whether the needle is NULL.
fn matches(list: &ListArray, needle: &ArrayRef) -> Result<BooleanArray> {
    // The needle of each value's row, beside the value.
    let rows: UInt32Array = (0..list.len())
        .flat_map(|row| std::iter::repeat_n(row as u32, list.value_length(row) as usize))
        .collect();
    let offsets = list.value_offsets();
    let values = list.values().slice(
        offsets[0] as usize,
        (offsets[list.len()] - offsets[0]) as usize,
    );
    let needles = take(needle, &rows, None)?;
    Ok(not_distinct(&values, &needles)?)
}

/// Per row, the first index (from 0) of a matching value, if any.
fn first_matches(list: &ListArray, needle: &ArrayRef) -> Result<Vec<Option<i32>>> {
    let found = matches(list, needle)?;
    let base = list.value_offsets()[0];
    Ok((0..list.len())
        .map(|row| {
            let (start, end) = (list.value_offsets()[row], list.value_offsets()[row + 1]);
            ((start - base)..(end - base))
                .position(|v| found.value(v as usize))
                .map(|p| p as i32)
        })
        .collect())
}

fn contains(list: &ListArray, needle: &ArrayRef) -> Result<ArrayRef> {
    let first = first_matches(list, needle)?;
    let result = (first.iter().enumerate())
        .map(|(row, found)| list.is_valid(row).then_some(found.is_some()));
    Ok(Arc::new(result.collect::<BooleanArray>()))
}

fn position(list: &ListArray, needle: &ArrayRef) -> Result<ArrayRef> {
    let first = first_matches(list, needle)?;
    let result = (first.iter().enumerate()).map(|(row, found)| {
        (list.is_valid(row) && needle.is_valid(row)).then(|| found.map_or(0, |p| p + 1))
    });
    Ok(Arc::new(result.collect::<Int32Array>()))
}

#[cfg(test)]
mod tests {
    use arrow::array::Int32Array;

    use super::*;

    /// `[1, 2]`, NULL, `[]` and `[NULL, 3]`.
    fn lists() -> ListArray {
        let values = Arc::new(Int32Array::from(vec![Some(1), Some(2), None, Some(3)]));
        let offsets = OffsetBuffer::from_lengths([2, 0, 0, 2]);
        let nulls = Some(vec![true, false, true, true].into());
        ListArray::try_new(item_field(DataType::Int32), offsets, values, nulls).unwrap()
    }

    fn ints(array: ArrayRef) -> Vec<Option<i32>> {
        array
            .as_primitive::<arrow::datatypes::Int32Type>()
            .iter()
            .collect()
    }

    #[test]
    fn arrays_are_read_by_row_from_their_values() {
        let list = lists();
        let needle: ArrayRef = Arc::new(Int32Array::from(vec![Some(2), Some(2), Some(2), None]));
        assert_eq!(ints(cardinality(&list)), [Some(2), None, Some(0), Some(2)]);
        assert_eq!(
            ints(position(&list, &needle).unwrap()),
            [Some(2), None, Some(0), None]
        );
        let found = contains(&list, &needle).unwrap();
        let found: Vec<_> = found.as_boolean().iter().collect();
        assert_eq!(found, [Some(true), None, Some(false), Some(true)]);
        let index: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![
            Some(2),
            Some(1),
            None,
            Some(1),
        ]));
        assert_eq!(
            ints(element_at(&list, &index).unwrap()),
            [Some(2), None, None, None]
        );
        let sliced = list.slice(3, 1);
        assert_eq!(
            ints(element_at(&sliced, &index.slice(0, 1)).unwrap()),
            [Some(3)]
        );
        for outside in [0, 3] {
            let index: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![outside]));
            assert!(element_at(&list.slice(0, 1), &index).is_err(), "{outside}");
        }
        let one = construct(&[Arc::new(Int32Array::from(vec![7, 8])) as ArrayRef], 2).unwrap();
        assert_eq!(
            ints(element(one.as_list::<i32>()).unwrap()),
            [Some(7), Some(8)]
        );
        assert!(element(&list).is_err(), "more than one element");
    }
}
