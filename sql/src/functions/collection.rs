//! Arrays: the `ARRAY[...]` constructor, `array[i]` (from 1; NULL outside the array),
//! `CARDINALITY`, `ELEMENT` and the `ARRAY_*` functions, as Flink has them. The kernels read
//! and take from the list's values column at once; only choosing which values a row keeps
//! goes row by row.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, BooleanArray, Int32Array, ListArray, StringBuilder,
    UInt32Array, make_comparator, new_null_array,
};
use arrow::buffer::OffsetBuffer;
use arrow::compute::kernels::cmp::not_distinct;
use arrow::compute::{SortColumn, SortOptions, interleave, lexsort_to_indices, take};
use arrow::datatypes::{DataType, Field, FieldRef};
use arrow::row::{RowConverter, SortField};
use datafusion_common::{DFSchema, Result, exec_err, plan_err};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::planner::{ExprPlanner, PlannerResult, RawFieldAccessExpr};
use datafusion_expr::type_coercion::binary::type_union_resolution;
use datafusion_expr::{
    ColumnarValue, Expr, ExprSchemable, GetFieldAccess, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use rill_engine::format::is_multiset;

/// The functions, to register.
pub fn functions() -> Vec<ScalarUDF> {
    use Collection::*;
    [
        Array,
        ElementAt,
        Cardinality,
        Element,
        Contains,
        Position,
        Distinct,
        Reverse,
        Remove,
        Append,
        Prepend,
        Concat,
        Slice,
        Sort,
        Max,
        Min,
        Join,
        Union,
        Intersect,
        Except,
        Split,
    ]
    .into_iter()
    .map(|kind| ScalarUDF::new_from_impl(ArrayFunction::new(kind)))
    .collect()
}

/// Plans `array[i]` and `map[key]` as calls of the functions above (DataFusion's own planner
/// comes with its nested-types crate, which rill does not build). `ARRAY[...]` needs none: the
/// parser makes it a call of `array` (`flink::rewrite_constructors`).
#[derive(Debug, Default)]
pub struct ArrayPlanner;

impl ExprPlanner for ArrayPlanner {
    fn plan_field_access(
        &self,
        expr: RawFieldAccessExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawFieldAccessExpr>> {
        let Ok(data_type) = expr.expr.get_type(schema) else {
            return Ok(PlannerResult::Original(expr));
        };
        match (expr.field_access, data_type) {
            (GetFieldAccess::ListIndex { key }, DataType::List(_)) => Ok(PlannerResult::Planned(
                call(Collection::ElementAt, vec![expr.expr, *key]),
            )),
            (GetFieldAccess::ListIndex { key }, DataType::Map(..)) => Ok(PlannerResult::Planned(
                super::map::value_of(expr.expr, *key),
            )),
            // `map['key']` comes as a field's name.
            (GetFieldAccess::NamedStructField { name }, DataType::Map(..)) => {
                let key = Expr::Literal(name, None);
                Ok(PlannerResult::Planned(super::map::value_of(expr.expr, key)))
            }
            (field_access, _) => Ok(PlannerResult::Original(RawFieldAccessExpr {
                field_access,
                expr: expr.expr,
            })),
        }
    }
}

fn call(kind: Collection, args: Vec<Expr>) -> Expr {
    let function = ScalarUDF::new_from_impl(ArrayFunction::new(kind));
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
    /// `ARRAY_DISTINCT(array)`: each value once, where it first is.
    Distinct,
    Reverse,
    /// `ARRAY_REMOVE(array, x)`: without the elements that are `x`.
    Remove,
    /// `ARRAY_APPEND(array, x)`.
    Append,
    /// `ARRAY_PREPEND(array, x)`.
    Prepend,
    /// `ARRAY_CONCAT(array, ...)`: NULL if any is.
    Concat,
    /// `ARRAY_SLICE(array, from [, to])`: from 1 (0 too), negative from the end, inclusive.
    Slice,
    /// `ARRAY_SORT(array [, ascending [, nulls_first]])`.
    Sort,
    /// `ARRAY_MAX(array)`, of the non-NULL elements.
    Max,
    Min,
    /// `ARRAY_JOIN(array, delimiter [, null_replacement])`.
    Join,
    /// `ARRAY_UNION(a, b)`: the elements of both, each once.
    Union,
    /// `ARRAY_INTERSECT(a, b)`: the elements of `a` that `b` has, each once.
    Intersect,
    /// `ARRAY_EXCEPT(a, b)`: the elements of `a` that `b` has not, each once.
    Except,
    /// `SPLIT(string, delimiter)`: the parts between delimiters (every character for an
    /// empty delimiter; none of an empty string).
    Split,
}

impl Collection {
    /// How many arguments the function takes, at least and at most.
    fn arity(self) -> (usize, usize) {
        use Collection::*;
        match self {
            Array | Concat => (1, usize::MAX),
            Cardinality | Element | Distinct | Reverse | Max | Min => (1, 1),
            ElementAt | Contains | Position | Remove | Append | Prepend | Union | Intersect
            | Except | Split => (2, 2),
            Slice | Join => (2, 3),
            Sort => (1, 3),
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayFunction {
    kind: Collection,
    signature: Signature,
}

impl ArrayFunction {
    fn new(kind: Collection) -> Self {
        ArrayFunction {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The type values of `types` meet in, as Flink finds it: a floating-point number with any
/// other number is a `DOUBLE` (DataFusion would make a wide `DECIMAL` of it).
pub(super) fn common_type(types: &[DataType]) -> Option<DataType> {
    let floating = types.iter().any(DataType::is_floating);
    if floating && types.iter().all(|t| t.is_numeric() || t.is_null()) {
        return Some(DataType::Float64);
    }
    type_union_resolution(types)
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
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
            Collection::Distinct => "array_distinct",
            Collection::Reverse => "array_reverse",
            Collection::Remove => "array_remove",
            Collection::Append => "array_append",
            Collection::Prepend => "array_prepend",
            Collection::Concat => "array_concat",
            Collection::Slice => "array_slice",
            Collection::Sort => "array_sort",
            Collection::Max => "array_max",
            Collection::Min => "array_min",
            Collection::Join => "array_join",
            Collection::Union => "array_union",
            Collection::Intersect => "array_intersect",
            Collection::Except => "array_except",
            Collection::Split => "split",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        use Collection::*;
        let name = self.name().to_ascii_uppercase();
        let (least, most) = self.kind.arity();
        if !(least..=most).contains(&args.len()) {
            return plan_err!(
                "{name} takes {least} to {most} arguments, not {}",
                args.len()
            );
        }
        let items = |args: &[DataType]| -> Result<DataType> {
            let mut items = Vec::with_capacity(args.len());
            for arg in args {
                match arg {
                    DataType::List(item) => items.push(item.data_type().clone()),
                    DataType::Null => {}
                    other => return plan_err!("{name} takes arrays, not {other}"),
                }
            }
            match common_type(&items) {
                Some(common) => Ok(common),
                None => plan_err!("the arrays of {name} have no common element type"),
            }
        };
        match self.kind {
            // Flink's code generator fails on it ("Expect an array or a map").
            Cardinality if args.iter().any(is_multiset) => {
                return plan_err!("CARDINALITY of a MULTISET is not supported yet");
            }
            Cardinality if matches!(args, [DataType::Map(..)]) => return Ok(args.to_vec()),
            Split if args.iter().all(is_text) => return Ok(vec![DataType::Utf8; 2]),
            Split => return plan_err!("{name} splits a string by a string"),
            Array => match common_type(args) {
                Some(common) => return Ok(vec![common; args.len()]),
                None => {
                    return plan_err!("the elements of ARRAY[...] have no common type: {args:?}");
                }
            },
            Concat | Union | Intersect | Except => {
                return Ok(vec![DataType::List(item_field(items(args)?)); args.len()]);
            }
            _ => {}
        }
        let mut item = items(&args[..1])?;
        let mut types = vec![DataType::Null];
        for arg in &args[1..] {
            let wanted = match self.kind {
                ElementAt | Slice if arg.is_integer() || arg.is_null() => DataType::Int64,
                ElementAt | Slice => return plan_err!("{name} takes integer positions"),
                Sort => DataType::Boolean,
                Join if is_text(&item) => {
                    item = DataType::Utf8;
                    DataType::Utf8
                }
                Join => return plan_err!("{name} joins an array of strings"),
                // The value and the elements meet in their common type.
                _ => match common_type(&[item.clone(), arg.clone()]) {
                    Some(common) => {
                        item = common.clone();
                        common
                    }
                    None => return plan_err!("{name}: a {arg} where the array holds {item}"),
                },
            };
            types.push(wanted);
        }
        types[0] = DataType::List(item_field(item));
        Ok(types)
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        use Collection::*;
        let item = match &args[0] {
            DataType::List(item) => item.data_type().clone(),
            other => other.clone(),
        };
        Ok(match self.kind {
            Array => DataType::List(item_field(args[0].clone())),
            Split => DataType::List(item_field(DataType::Utf8)),
            ElementAt | Element | Max | Min => item,
            Cardinality | Position => DataType::Int32,
            Contains => DataType::Boolean,
            Join => DataType::Utf8,
            Distinct | Reverse | Remove | Append | Prepend | Concat | Slice | Sort | Union
            | Intersect | Except => args[0].clone(),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let result = match self.kind {
            Collection::Array => construct(&arrays, rows)?,
            Collection::Split => split(&arrays[0], &arrays[1])?,
            Collection::Concat => {
                let lists: Vec<&ListArray> = arrays.iter().map(|a| a.as_list::<i32>()).collect();
                concat_rows(&lists)?
            }
            Collection::Union => {
                let both = concat_rows(&[arrays[0].as_list::<i32>(), arrays[1].as_list::<i32>()])?;
                distinct(both.as_list::<i32>())?
            }
            Collection::Intersect | Collection::Except => {
                let keep = self.kind == Collection::Intersect;
                filter_by(arrays[0].as_list::<i32>(), arrays[1].as_list::<i32>(), keep)?
            }
            Collection::Prepend => {
                let element = construct(&arrays[1..], rows)?;
                concat_rows(&[element.as_list::<i32>(), arrays[0].as_list::<i32>()])?
            }
            Collection::Cardinality if matches!(arrays[0].data_type(), DataType::Map(..)) => {
                let map = arrays[0].as_map();
                let sizes = (0..map.len()).map(|row| {
                    let offsets = map.value_offsets();
                    map.is_valid(row).then(|| offsets[row + 1] - offsets[row])
                });
                Arc::new(sizes.collect::<Int32Array>())
            }
            kind => {
                let list = arrays[0].as_list::<i32>();
                let arg = |i: usize| &arrays[i];
                match kind {
                    Collection::ElementAt => element_at(list, arg(1))?,
                    Collection::Cardinality => cardinality(list),
                    Collection::Element => element(list)?,
                    Collection::Contains => contains(list, arg(1))?,
                    Collection::Position => position(list, arg(1))?,
                    Collection::Distinct => distinct(list)?,
                    Collection::Reverse => rebuild(list, |_, range, picks| {
                        picks.extend(range.rev());
                        Ok(true)
                    })?,
                    Collection::Remove => remove(list, arg(1))?,
                    Collection::Append => {
                        let element = construct(&arrays[1..], rows)?;
                        concat_rows(&[list, element.as_list::<i32>()])?
                    }
                    Collection::Slice => slice(list, arg(1), arrays.get(2))?,
                    Collection::Sort => sort(list, arrays.get(1), arrays.get(2))?,
                    Collection::Max => extreme(list, true)?,
                    Collection::Min => extreme(list, false)?,
                    _ => join(list, arg(1), arrays.get(2))?,
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

/// Each row's element `index` (from 1); NULL for a NULL array or index, and outside the array,
/// as Flink answers for arrays it reads (checked with the oracle; for a constant array its
/// planner makes up a value, `-1` or `' '`, which rill does not imitate).
fn element_at(list: &ListArray, index: &ArrayRef) -> Result<ArrayRef> {
    let index = index.as_primitive::<arrow::datatypes::Int64Type>();
    let mut picks = Vec::with_capacity(list.len());
    for row in 0..list.len() {
        if list.is_null(row) || index.is_null(row) {
            picks.push(None);
            continue;
        }
        let (i, len) = (index.value(row), list.value_length(row) as i64);
        picks.push(
            (1..=len)
                .contains(&i)
                .then(|| (list.value_offsets()[row] as i64 + i - 1) as u32),
        );
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

/// The values rows of `offsets` hold (a slice of `values`), and beside each, its row.
fn beside_rows(offsets: &[i32], values: &ArrayRef) -> (UInt32Array, ArrayRef) {
    let rows = (offsets.windows(2).enumerate())
        .flat_map(|(row, ends)| std::iter::repeat_n(row as u32, (ends[1] - ends[0]) as usize))
        .collect();
    let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
    let held = values.slice(first as usize, (last - first) as usize);
    (rows, held)
}

/// Per value rows of `offsets` hold (from `offsets[0]` on), whether it is its row's `needle`
/// (NULL being a value).
fn matches(offsets: &[i32], values: &ArrayRef, needle: &ArrayRef) -> Result<BooleanArray> {
    let (rows, held) = beside_rows(offsets, values);
    Ok(not_distinct(&held, &take(needle, &rows, None)?)?)
}

/// Per row of `offsets` (over `values`), the index in `values` of its first value that is
/// the row's `needle` (NULL being a value), if any.
pub(super) fn first_matches(
    offsets: &[i32],
    values: &ArrayRef,
    needle: &ArrayRef,
) -> Result<Vec<Option<usize>>> {
    let found = matches(offsets, values, needle)?;
    let base = offsets[0] as usize;
    Ok((offsets.windows(2))
        .map(|ends| (ends[0] as usize..ends[1] as usize).find(|&v| found.value(v - base)))
        .collect())
}

fn contains(list: &ListArray, needle: &ArrayRef) -> Result<ArrayRef> {
    let first = first_matches(list.value_offsets(), list.values(), needle)?;
    let result = (first.iter().enumerate())
        .map(|(row, found)| list.is_valid(row).then_some(found.is_some()));
    Ok(Arc::new(result.collect::<BooleanArray>()))
}

fn position(list: &ListArray, needle: &ArrayRef) -> Result<ArrayRef> {
    let offsets = list.value_offsets();
    let first = first_matches(offsets, list.values(), needle)?;
    let result = (first.iter().enumerate()).map(|(row, found)| {
        (list.is_valid(row) && needle.is_valid(row))
            .then(|| found.map_or(0, |v| (v - offsets[row] as usize) as i32 + 1))
    });
    Ok(Arc::new(result.collect::<Int32Array>()))
}

/// An array per row of `list` made of the values `pick` chooses from the row's value range;
/// NULL for NULL rows and where `pick` says false.
fn rebuild(
    list: &ListArray,
    mut pick: impl FnMut(usize, std::ops::Range<u32>, &mut Vec<u32>) -> Result<bool>,
) -> Result<ArrayRef> {
    let offsets = list.value_offsets();
    let mut picks = Vec::new();
    let mut lengths = Vec::with_capacity(list.len());
    let mut valid = Vec::with_capacity(list.len());
    for row in 0..list.len() {
        let before = picks.len();
        let range = offsets[row] as u32..offsets[row + 1] as u32;
        valid.push(list.is_valid(row) && pick(row, range, &mut picks)?);
        lengths.push(picks.len() - before);
    }
    let values = take(list.values(), &UInt32Array::from(picks), None)?;
    let DataType::List(field) = list.data_type() else {
        unreachable!("a list array")
    };
    let offsets = OffsetBuffer::from_lengths(lengths);
    Ok(Arc::new(ListArray::try_new(
        field.clone(),
        offsets,
        values,
        Some(valid.into()),
    )?))
}

/// Per row, the arrays of `lists` one after the other; NULL if any is NULL.
fn concat_rows(lists: &[&ListArray]) -> Result<ArrayRef> {
    let rows = lists[0].len();
    let sources: Vec<&dyn Array> = lists.iter().map(|l| l.values().as_ref()).collect();
    let mut order = Vec::new();
    let mut lengths = Vec::with_capacity(rows);
    let mut valid = Vec::with_capacity(rows);
    for row in 0..rows {
        let before = order.len();
        let all = lists.iter().all(|l| l.is_valid(row));
        if all {
            for (k, list) in lists.iter().enumerate() {
                let offsets = list.value_offsets();
                order.extend((offsets[row] as usize..offsets[row + 1] as usize).map(|v| (k, v)));
            }
        }
        lengths.push(order.len() - before);
        valid.push(all);
    }
    let values = interleave(&sources, &order)?;
    let field = item_field(values.data_type().clone());
    let offsets = OffsetBuffer::from_lengths(lengths);
    Ok(Arc::new(ListArray::try_new(
        field,
        offsets,
        values,
        Some(valid.into()),
    )?))
}

/// Each value once per row, where it first is (NULL being a value).
fn distinct(list: &ListArray) -> Result<ArrayRef> {
    let converter = RowConverter::new(vec![SortField::new(list.value_type())])?;
    let encoded = converter.convert_columns(&[list.values().clone()])?;
    let mut seen: HashSet<&[u8]> = HashSet::new();
    rebuild(list, |_, range, picks| {
        seen.clear();
        picks.extend(range.filter(|&v| seen.insert(encoded.row(v as usize).data())));
        Ok(true)
    })
}

/// Per row, the distinct values of `list` that `other` has (`keep`) or has not; NULL where
/// either is NULL.
fn filter_by(list: &ListArray, other: &ListArray, keep: bool) -> Result<ArrayRef> {
    let converter = RowConverter::new(vec![SortField::new(list.value_type())])?;
    let encoded = converter.convert_columns(&[list.values().clone()])?;
    let others = converter.convert_columns(&[other.values().clone()])?;
    let (mut seen, mut present): (HashSet<&[u8]>, HashSet<&[u8]>) = Default::default();
    rebuild(list, |row, range, picks| {
        if other.is_null(row) {
            return Ok(false);
        }
        let offsets = other.value_offsets();
        present.clear();
        present.extend(
            (offsets[row] as usize..offsets[row + 1] as usize).map(|v| others.row(v).data()),
        );
        seen.clear();
        picks.extend(range.filter(|&v| {
            let value = encoded.row(v as usize).data();
            present.contains(value) == keep && seen.insert(value)
        }));
        Ok(true)
    })
}

/// Each row without the values that are its `needle` (NULL being a value).
fn remove(list: &ListArray, needle: &ArrayRef) -> Result<ArrayRef> {
    let found = matches(list.value_offsets(), list.values(), needle)?;
    let base = list.value_offsets()[0] as u32;
    rebuild(list, |_, range, picks| {
        picks.extend(range.filter(|&v| !found.value((v - base) as usize)));
        Ok(true)
    })
}

/// `ARRAY_SLICE`'s bounds over an array of `len` elements, as a range of positions from 0.
fn slice_range(len: i64, from: i64, to: i64) -> std::ops::Range<i64> {
    let position = |offset: i64| match offset {
        0 => 1,
        o if o < 0 => len + o + 1,
        o => o,
    };
    let (from, to) = (position(from).max(1), position(to).min(len));
    from - 1..to.max(from - 1)
}

fn slice(list: &ListArray, from: &ArrayRef, to: Option<&ArrayRef>) -> Result<ArrayRef> {
    let from = from.as_primitive::<arrow::datatypes::Int64Type>();
    let to = to.map(|t| t.as_primitive::<arrow::datatypes::Int64Type>());
    rebuild(list, |row, range, picks| {
        let len = range.len() as i64;
        let bound = |a: &arrow::array::Int64Array| a.is_valid(row).then(|| a.value(row));
        let (Some(start), Some(end)) = (bound(from), to.map_or(Some(len), bound)) else {
            return Ok(false);
        };
        let part = slice_range(len, start, end);
        picks.extend((part.start..part.end).map(|i| range.start + i as u32));
        Ok(true)
    })
}

/// The value of a constant boolean argument (`default` if absent).
fn constant_flag(flag: Option<&ArrayRef>, default: bool, what: &str) -> Result<Option<bool>> {
    let Some(flag) = flag else {
        return Ok(Some(default));
    };
    let flag = flag.as_boolean();
    let first = flag.is_valid(0).then(|| flag.value(0));
    if (0..flag.len()).any(|i| flag.is_valid(i).then(|| flag.value(i)) != first) {
        return exec_err!("ARRAY_SORT's {what} must be a constant");
    }
    Ok(first)
}

/// Each row's values sorted (ascending with NULLs first unless told otherwise); NULL if an
/// order argument is NULL.
fn sort(
    list: &ListArray,
    ascending: Option<&ArrayRef>,
    nulls: Option<&ArrayRef>,
) -> Result<ArrayRef> {
    let Some(ascending) = constant_flag(ascending, true, "order")? else {
        return Ok(new_null_array(list.data_type(), list.len()));
    };
    let Some(nulls_first) = constant_flag(nulls, ascending, "NULL order")? else {
        return Ok(new_null_array(list.data_type(), list.len()));
    };
    // One sort of all values by row, then value: each row's values stay together.
    let offsets = list.value_offsets();
    let (rows, values) = beside_rows(offsets, list.values());
    let options = SortOptions {
        descending: !ascending,
        nulls_first,
    };
    let order = lexsort_to_indices(
        &[
            SortColumn {
                values: Arc::new(rows),
                options: None,
            },
            SortColumn {
                values,
                options: Some(options),
            },
        ],
        None,
    )?;
    let base = offsets[0] as u32;
    let mut sorted = order.values().iter().map(|&i| i + base);
    rebuild(list, |_, range, picks| {
        picks.extend(sorted.by_ref().take(range.len()));
        Ok(true)
    })
}

/// Each row's largest (`max`) or smallest non-NULL value; NULL for none.
fn extreme(list: &ListArray, max: bool) -> Result<ArrayRef> {
    let values = list.values();
    let compare = make_comparator(values.as_ref(), values.as_ref(), SortOptions::default())?;
    let offsets = list.value_offsets();
    let picks: UInt32Array = (0..list.len())
        .map(|row| {
            let range = offsets[row] as usize..offsets[row + 1] as usize;
            (range.filter(|&v| values.is_valid(v)))
                .reduce(|best, v| {
                    let order = compare(v, best);
                    match (max, order) {
                        (true, Ordering::Greater) | (false, Ordering::Less) => v,
                        _ => best,
                    }
                })
                .filter(|_| list.is_valid(row))
                .map(|v| v as u32)
        })
        .collect();
    Ok(take(values, &picks, None)?)
}

fn split(strings: &ArrayRef, delimiters: &ArrayRef) -> Result<ArrayRef> {
    let (strings, delimiters) = (strings.as_string::<i32>(), delimiters.as_string::<i32>());
    let mut parts = StringBuilder::new();
    let mut lengths = Vec::with_capacity(strings.len());
    let mut valid = Vec::with_capacity(strings.len());
    for row in 0..strings.len() {
        let before = parts.len();
        let both = strings.is_valid(row) && delimiters.is_valid(row);
        if both {
            let (text, delimiter) = (strings.value(row), delimiters.value(row));
            if delimiter.is_empty() {
                for (at, c) in text.char_indices() {
                    parts.append_value(&text[at..at + c.len_utf8()]);
                }
            } else if !text.is_empty() {
                for part in text.split(delimiter) {
                    parts.append_value(part);
                }
            }
        }
        lengths.push(parts.len() - before);
        valid.push(both);
    }
    let field = item_field(DataType::Utf8);
    let offsets = OffsetBuffer::from_lengths(lengths);
    let values = Arc::new(parts.finish());
    Ok(Arc::new(ListArray::try_new(
        field,
        offsets,
        values,
        Some(valid.into()),
    )?))
}

/// Each row's strings joined by its delimiter, NULL elements skipped or replaced.
fn join(
    list: &ListArray,
    delimiter: &ArrayRef,
    replacement: Option<&ArrayRef>,
) -> Result<ArrayRef> {
    let values = list.values().as_string::<i32>();
    let delimiter = delimiter.as_string::<i32>();
    let replacement = replacement.map(|r| r.as_string::<i32>());
    let offsets = list.value_offsets();
    let mut out = StringBuilder::new();
    let mut text = String::new();
    for row in 0..list.len() {
        if list.is_null(row) || delimiter.is_null(row) {
            out.append_null();
            continue;
        }
        text.clear();
        let mut first = true;
        for v in offsets[row] as usize..offsets[row + 1] as usize {
            let value = match values.is_valid(v) {
                true => values.value(v),
                false => match replacement.filter(|r| r.is_valid(row)) {
                    Some(r) => r.value(row),
                    None => continue,
                },
            };
            if !first {
                text.push_str(delimiter.value(row));
            }
            first = false;
            text.push_str(value);
        }
        out.append_value(&text);
    }
    Ok(Arc::new(out.finish()))
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
        for outside in [0, 3, -1] {
            let index: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![outside]));
            let got = ints(element_at(&list.slice(0, 1), &index).unwrap());
            assert_eq!(got, [None], "{outside}");
        }
        let one = construct(&[Arc::new(Int32Array::from(vec![7, 8])) as ArrayRef], 2).unwrap();
        assert_eq!(
            ints(element(one.as_list::<i32>()).unwrap()),
            [Some(7), Some(8)]
        );
        assert!(element(&list).is_err(), "more than one element");
    }

    /// Each row's text, as Flink writes an array.
    fn texts(array: ArrayRef) -> Vec<String> {
        let formatter = rill_engine::format::ValueFormatter::new(&array);
        (0..array.len())
            .map(|i| match array.is_null(i) {
                true => "NULL".to_string(),
                false => {
                    let mut text = String::new();
                    formatter.write(&mut text, i);
                    text
                }
            })
            .collect()
    }

    #[test]
    fn arrays_are_rebuilt_from_the_values_of_their_own_rows() {
        // A slice: its first row's values do not start the values column.
        let list = &lists().slice(1, 3);
        let needle: ArrayRef = Arc::new(Int32Array::from(vec![3, 3, 3]));
        assert_eq!(texts(distinct(list).unwrap()), ["NULL", "[]", "[NULL, 3]"]);
        assert_eq!(
            texts(remove(list, &needle).unwrap()),
            ["NULL", "[]", "[NULL]"]
        );
        assert_eq!(
            texts(sort(list, None, None).unwrap()),
            ["NULL", "[]", "[NULL, 3]"]
        );
        let descending: ArrayRef = Arc::new(BooleanArray::from(vec![false; 3]));
        let sorted = sort(list, Some(&descending), None).unwrap();
        assert_eq!(texts(sorted), ["NULL", "[]", "[3, NULL]"]);
        assert_eq!(texts(extreme(list, true).unwrap()), ["NULL", "NULL", "3"]);
        let both = concat_rows(&[list, list]).unwrap();
        assert_eq!(texts(both), ["NULL", "[]", "[NULL, 3, NULL, 3]"]);
        let from: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![1, 1, -1]));
        assert_eq!(
            texts(slice(list, &from, None).unwrap()),
            ["NULL", "[]", "[3]"]
        );
    }

    #[test]
    fn slices_count_from_one_or_from_the_end() {
        let ranges = [(2, 3), (0, 2), (-3, -2), (3, 1), (2, 10), (5, 6), (-9, 1)]
            .map(|(from, to)| slice_range(4, from, to));
        assert_eq!(ranges, [1..3, 0..2, 1..3, 2..2, 1..4, 4..4, 0..1]);
    }
}
