//! Maps: the `MAP[k1, v1, ...]` constructor (a later key wins over an earlier equal one),
//! `map[key]` (NULL for a key the map has not), `MAP_KEYS`, `MAP_VALUES`, `MAP_ENTRIES`,
//! `MAP_FROM_ARRAYS`, `MAP_UNION` and `STR_TO_MAP`, as Flink has them. `CARDINALITY` of a map
//! is in [`super::collection`].

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, ListArray, MapArray, StringBuilder, StructArray,
    UInt32Array, make_comparator,
};
use arrow::buffer::OffsetBuffer;
use arrow::compute::kernels::cmp::not_distinct;
use arrow::compute::{SortOptions, interleave, take};
use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion_common::{Result, exec_err, plan_err};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use rill_engine::format::{MULTISET_ENTRIES, is_multiset};

use super::collection::{common_type, first_matches};
use crate::flink::MAP_CONSTRUCTOR;

/// The functions, to register.
pub fn functions() -> Vec<ScalarUDF> {
    use Kind::*;
    [
        Map, Value, Keys, Values, FromString, Entries, FromArrays, Union,
    ]
    .into_iter()
    .map(|kind| ScalarUDF::new_from_impl(MapFunction::new(kind)))
    .collect()
}

/// `map[key]`.
pub fn value_of(map: Expr, key: Expr) -> Expr {
    let function = Arc::new(ScalarUDF::new_from_impl(MapFunction::new(Kind::Value)));
    Expr::ScalarFunction(ScalarFunction::new_udf(function, vec![map, key]))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `MAP[k1, v1, ...]`.
    Map,
    /// `map[key]`.
    Value,
    Keys,
    Values,
    /// `STR_TO_MAP(text [, pair_delimiter [, key_value_delimiter]])`, by `,` and `=`.
    FromString,
    /// `MAP_ENTRIES(map)`: an array of `ROW<key, value>`.
    Entries,
    /// `MAP_FROM_ARRAYS(keys, values)`: the i-th key to the i-th value, repeated keys kept
    /// (Flink's map of the two arrays keeps them too).
    FromArrays,
    /// `MAP_UNION(map, ...)`: per map from the second on, its entries and then those of the
    /// maps before whose key it has not (Flink's order).
    Union,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MapFunction {
    kind: Kind,
    signature: Signature,
}

impl MapFunction {
    fn new(kind: Kind) -> Self {
        MapFunction {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The type of maps from `key` to `value`.
pub(crate) fn map_type(key: DataType, value: DataType) -> DataType {
    let entries = Fields::from(vec![
        Field::new("key", key, false),
        Field::new("value", value, true),
    ]);
    DataType::Map(
        Arc::new(Field::new("entries", DataType::Struct(entries), false)),
        false,
    )
}

/// The type of `MULTISET<element>`: a map from each element to its count, under entries
/// named [`MULTISET_ENTRIES`].
pub(crate) fn multiset_type(element: DataType) -> DataType {
    let DataType::Map(entries, sorted) = map_type(element, DataType::Int32) else {
        unreachable!("a map type")
    };
    let entries = entries.as_ref().clone().with_name(MULTISET_ENTRIES);
    DataType::Map(Arc::new(entries), sorted)
}

/// The key and value fields of a map type (not of a multiset's).
fn entry_fields(data_type: &DataType) -> Option<(FieldRef, FieldRef)> {
    map_entries(data_type).filter(|_| !is_multiset(data_type))
}

/// The key and value fields of a map or multiset type.
fn map_entries(data_type: &DataType) -> Option<(FieldRef, FieldRef)> {
    let DataType::Map(entries, _) = data_type else {
        return None;
    };
    let DataType::Struct(fields) = entries.data_type() else {
        return None;
    };
    Some((fields[0].clone(), fields[1].clone()))
}

impl ScalarUDFImpl for MapFunction {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Map => MAP_CONSTRUCTOR,
            Kind::Value => "rill_map_value",
            Kind::Keys => "map_keys",
            Kind::Values => "map_values",
            Kind::FromString => "str_to_map",
            Kind::Entries => "map_entries",
            Kind::FromArrays => "map_from_arrays",
            Kind::Union => "map_union",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match self.kind {
            Kind::Map => {
                if args.is_empty() || !args.len().is_multiple_of(2) {
                    return plan_err!("MAP[...] takes keys and values in pairs");
                }
                let keys: Vec<DataType> = args.iter().step_by(2).cloned().collect();
                let values: Vec<DataType> = args.iter().skip(1).step_by(2).cloned().collect();
                let (Some(key), Some(value)) = (common_type(&keys), common_type(&values)) else {
                    return plan_err!("the keys or the values of MAP[...] have no common type");
                };
                Ok((0..args.len())
                    .map(|i| [key.clone(), value.clone()][i % 2].clone())
                    .collect())
            }
            Kind::Value => match entry_fields(&args[0]) {
                Some((key, _)) if args.len() == 2 => {
                    match common_type(&[key.data_type().clone(), args[1].clone()]) {
                        Some(common) if common == *key.data_type() => {
                            Ok(vec![args[0].clone(), common])
                        }
                        _ => plan_err!("a {} key for a map of {} keys", args[1], key.data_type()),
                    }
                }
                _ => plan_err!("a map is read by one key"),
            },
            Kind::Keys | Kind::Values | Kind::Entries
                if args.len() == 1 && entry_fields(&args[0]).is_some() =>
            {
                Ok(args.to_vec())
            }
            Kind::Keys | Kind::Values | Kind::Entries => {
                plan_err!("{} takes a map", self.name())
            }
            Kind::FromString if (1..=3).contains(&args.len()) => {
                Ok(vec![DataType::Utf8; args.len()])
            }
            Kind::FromString => plan_err!("STR_TO_MAP takes a string and up to two delimiters"),
            Kind::FromArrays => match args {
                [DataType::List(_), DataType::List(_)] => Ok(args.to_vec()),
                _ => plan_err!("MAP_FROM_ARRAYS takes an array of keys and an array of values"),
            },
            Kind::Union => {
                let entries: Option<Vec<(FieldRef, FieldRef)>> =
                    args.iter().map(entry_fields).collect();
                let Some(entries) = entries.filter(|e| !e.is_empty()) else {
                    return plan_err!("MAP_UNION takes maps");
                };
                let types = |pick: fn(&(FieldRef, FieldRef)) -> &FieldRef| {
                    let types: Vec<DataType> = entries
                        .iter()
                        .map(|e| pick(e).data_type().clone())
                        .collect();
                    common_type(&types)
                };
                match (types(|e| &e.0), types(|e| &e.1)) {
                    (Some(key), Some(value)) => Ok(vec![map_type(key, value); args.len()]),
                    _ => plan_err!("the maps of MAP_UNION have no common type"),
                }
            }
        }
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let entries = entry_fields(&args[0]);
        let list = |field: FieldRef| {
            DataType::List(Arc::new(Field::new_list_field(
                field.data_type().clone(),
                true,
            )))
        };
        Ok(match (self.kind, entries) {
            (Kind::Map, _) => map_type(args[0].clone(), args[1].clone()),
            (Kind::FromString, _) => map_type(DataType::Utf8, DataType::Utf8),
            (Kind::FromArrays, _) => match args {
                [DataType::List(keys), DataType::List(values)] => {
                    map_type(keys.data_type().clone(), values.data_type().clone())
                }
                _ => return plan_err!("MAP_FROM_ARRAYS takes two arrays"),
            },
            (Kind::Union, Some(_)) => args[0].clone(),
            (Kind::Value, Some((_, value))) => value.data_type().clone(),
            (Kind::Keys, Some((key, _))) => list(key),
            (Kind::Values, Some((_, value))) => list(value),
            (Kind::Entries, Some((key, value))) => DataType::List(Arc::new(Field::new_list_field(
                DataType::Struct(Fields::from(vec![key, value])),
                true,
            ))),
            _ => return plan_err!("{} takes a map", self.name()),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let result = match self.kind {
            Kind::Map => construct(&arrays, rows)?,
            Kind::Value => value(arrays[0].as_map(), &arrays[1])?,
            Kind::Keys | Kind::Values => {
                let map = arrays[0].as_map();
                let (column, field) = match self.kind {
                    Kind::Keys => (map.keys(), entry_fields(map.data_type()).unwrap().0),
                    _ => (map.values(), entry_fields(map.data_type()).unwrap().1),
                };
                let field = Arc::new(Field::new_list_field(field.data_type().clone(), true));
                let list = ListArray::try_new(
                    field,
                    map.offsets().clone(),
                    column.clone(),
                    map.nulls().cloned(),
                )?;
                Arc::new(list)
            }
            Kind::FromString => from_string(&arrays)?,
            Kind::FromArrays => from_arrays(arrays[0].as_list(), arrays[1].as_list())?,
            Kind::Union => union(&arrays)?,
            Kind::Entries => {
                let map = arrays[0].as_map();
                let entries = Arc::new(map.entries().clone());
                let field = Arc::new(Field::new_list_field(entries.data_type().clone(), true));
                let offsets = map.offsets().clone();
                Arc::new(ListArray::try_new(
                    field,
                    offsets,
                    entries,
                    map.nulls().cloned(),
                )?)
            }
        };
        Ok(ColumnarValue::Array(result))
    }
}

/// A map of `lengths` entries per row from `keys` and `values`, NULL where `valid` says so.
fn build(
    keys: ArrayRef,
    values: ArrayRef,
    lengths: Vec<usize>,
    valid: Option<Vec<bool>>,
) -> Result<ArrayRef> {
    if keys.null_count() > 0 {
        return exec_err!("a map key is NULL");
    }
    let data_type = map_type(keys.data_type().clone(), values.data_type().clone());
    Ok(Arc::new(map_of(&data_type, keys, values, lengths, valid)?))
}

/// A map array of `data_type` (a map's or a multiset's) with `lengths` entries per row from
/// `keys` and `values`, NULL where `valid` says so.
pub(crate) fn map_of(
    data_type: &DataType,
    keys: ArrayRef,
    values: ArrayRef,
    lengths: impl IntoIterator<Item = usize>,
    valid: Option<Vec<bool>>,
) -> Result<MapArray> {
    let (DataType::Map(field, _), Some((key, value))) = (data_type, map_entries(data_type)) else {
        return exec_err!("{data_type} is no map type");
    };
    let fields = Fields::from(vec![key, value]);
    let entries = StructArray::try_new(fields, vec![keys, values], None)?;
    let offsets = OffsetBuffer::from_lengths(lengths);
    Ok(MapArray::try_new(
        field.clone(),
        offsets,
        entries,
        valid.map(Into::into),
        false,
    )?)
}

/// Per row, the pairs of `args` whose key no later pair repeats.
fn construct(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let pairs = args.len() / 2;
    let keys: Vec<&dyn Array> = args.iter().step_by(2).map(AsRef::as_ref).collect();
    let values: Vec<&dyn Array> = args.iter().skip(1).step_by(2).map(AsRef::as_ref).collect();
    // Whether pair i's key is pair j's (i < j), for every row.
    let mut repeated: Vec<Option<BooleanArray>> = vec![None; pairs * pairs];
    for i in 0..pairs {
        for j in i + 1..pairs {
            repeated[i * pairs + j] = Some(not_distinct(&args[2 * i], &args[2 * j])?);
        }
    }
    let mut entries = Vec::with_capacity(rows * pairs);
    let mut lengths = Vec::with_capacity(rows);
    for row in 0..rows {
        let before = entries.len();
        for i in 0..pairs {
            let later = (i + 1..pairs).any(|j| {
                repeated[i * pairs + j]
                    .as_ref()
                    .is_some_and(|r| r.value(row))
            });
            if !later {
                entries.push((i, row));
            }
        }
        lengths.push(entries.len() - before);
    }
    build(
        interleave(&keys, &entries)?,
        interleave(&values, &entries)?,
        lengths,
        None,
    )
}

/// `MAP_FROM_ARRAYS`: per row, the i-th key to the i-th value; NULL if either array is.
fn from_arrays(keys: &ListArray, values: &ListArray) -> Result<ArrayRef> {
    let mut lengths = Vec::with_capacity(keys.len());
    let mut valid = Vec::with_capacity(keys.len());
    let (mut key_picks, mut value_picks) = (Vec::new(), Vec::new());
    for row in 0..keys.len() {
        if keys.is_null(row) || values.is_null(row) {
            lengths.push(0);
            valid.push(false);
            continue;
        }
        let (k, v) = (keys.value_offsets(), values.value_offsets());
        let (from_k, to_k, from_v, to_v) = (k[row], k[row + 1], v[row], v[row + 1]);
        if to_k - from_k != to_v - from_v {
            return exec_err!(
                "MAP_FROM_ARRAYS takes as many values as keys, found {} keys and {} values",
                to_k - from_k,
                to_v - from_v
            );
        }
        key_picks.extend(from_k as u32..to_k as u32);
        value_picks.extend(from_v as u32..to_v as u32);
        lengths.push((to_k - from_k) as usize);
        valid.push(true);
    }
    let keys = take(keys.values(), &UInt32Array::from(key_picks), None)?;
    let values = take(values.values(), &UInt32Array::from(value_picks), None)?;
    build(keys, values, lengths, Some(valid))
}

/// `MAP_UNION`: per row, the entries of the last map, then those of the union of the maps
/// before it whose key it has not (a map without entries changes nothing); NULL if any map
/// is NULL.
fn union(args: &[ArrayRef]) -> Result<ArrayRef> {
    let maps: Vec<&MapArray> = args.iter().map(|a| a.as_map()).collect();
    // A comparator of the keys of map i with those of each map j before it, at i(i-1)/2 + j.
    let mut comparators = Vec::new();
    for (i, later) in maps.iter().enumerate() {
        for earlier in &maps[..i] {
            let options = SortOptions::default();
            comparators.push(make_comparator(later.keys(), earlier.keys(), options)?);
        }
    }
    let same = |i: usize, a: usize, j: usize, b: usize| {
        comparators[i * (i - 1) / 2 + j](a, b) == std::cmp::Ordering::Equal
    };
    let rows = args.first().map_or(0, |a| a.len());
    let (mut picks, mut lengths, mut valid) = (Vec::new(), Vec::with_capacity(rows), Vec::new());
    let mut row_picks: Vec<(usize, usize)> = Vec::new();
    let mut next: Vec<(usize, usize)> = Vec::new();
    for row in 0..rows {
        if maps.iter().any(|m| m.is_null(row)) {
            lengths.push(0);
            valid.push(false);
            continue;
        }
        let entries = |m: usize| {
            let offsets = maps[m].value_offsets();
            offsets[row] as usize..offsets[row + 1] as usize
        };
        row_picks.clear();
        row_picks.extend(entries(0).map(|e| (0, e)));
        for m in 1..maps.len() {
            if entries(m).is_empty() {
                continue;
            }
            next.clear();
            next.extend(entries(m).map(|e| (m, e)));
            let kept = row_picks
                .iter()
                .filter(|&&(j, b)| !entries(m).any(|a| same(m, a, j, b)));
            next.extend(kept);
            std::mem::swap(&mut row_picks, &mut next);
        }
        picks.extend_from_slice(&row_picks);
        lengths.push(row_picks.len());
        valid.push(true);
    }
    let keys: Vec<&dyn Array> = maps.iter().map(|m| m.keys().as_ref()).collect();
    let values: Vec<&dyn Array> = maps.iter().map(|m| m.values().as_ref()).collect();
    build(
        interleave(&keys, &picks)?,
        interleave(&values, &picks)?,
        lengths,
        Some(valid),
    )
}

/// Each row's value under its `key`; NULL for a key the map has not.
fn value(map: &MapArray, key: &ArrayRef) -> Result<ArrayRef> {
    let first = first_matches(map.value_offsets(), map.keys(), key)?;
    let picks: UInt32Array = (first.into_iter().enumerate())
        .map(|(row, found)| found.filter(|_| map.is_valid(row) && key.is_valid(row)))
        .map(|found| found.map(|e| e as u32))
        .collect();
    Ok(take(map.values(), &picks, None)?)
}

/// `STR_TO_MAP`: pairs split by the pair delimiter, then each at the first key-value
/// delimiter (a pair without one maps its text to NULL); a later key wins; no pairs in an
/// empty text.
fn from_string(args: &[ArrayRef]) -> Result<ArrayRef> {
    let text = args[0].as_string::<i32>();
    let delimiter = |i: usize, default: &'static str| {
        let column = args.get(i).map(|a| a.as_string::<i32>());
        move |row: usize| match column {
            Some(c) if c.is_null(row) => None,
            Some(c) => Some(c.value(row)),
            None => Some(default),
        }
    };
    let (pairs, key_value) = (delimiter(1, ","), delimiter(2, "="));
    let (mut keys, mut values) = (StringBuilder::new(), StringBuilder::new());
    let mut lengths = Vec::with_capacity(text.len());
    let mut valid = Vec::with_capacity(text.len());
    let mut row_pairs: Vec<(&str, Option<&str>)> = Vec::new();
    for row in 0..text.len() {
        let (Some(pairs), Some(key_value), true) = (pairs(row), key_value(row), text.is_valid(row))
        else {
            lengths.push(0);
            valid.push(false);
            continue;
        };
        row_pairs.clear();
        // Flink maps an empty text to an empty map.
        let text = Some(text.value(row)).filter(|t| !t.is_empty());
        for pair in text.into_iter().flat_map(|t| t.split(pairs)) {
            let (key, value) = match pair.split_once(key_value) {
                Some((k, v)) => (k, Some(v)),
                None => (pair, None),
            };
            match row_pairs.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => row_pairs.push((key, value)),
            }
        }
        for (key, value) in &row_pairs {
            keys.append_value(key);
            values.append_option(*value);
        }
        lengths.push(row_pairs.len());
        valid.push(true);
    }
    build(
        Arc::new(keys.finish()),
        Arc::new(values.finish()),
        lengths,
        Some(valid),
    )
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int32Array, StringArray};

    use super::*;

    #[test]
    fn a_sliced_map_is_read_from_its_own_entries() {
        let keys: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c"]));
        let values: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(3)]));
        let other: ArrayRef = Arc::new(StringArray::from(vec!["a", "a", "z"]));
        // Per row: {key=value, other=9}, where the row's other key may repeat its key.
        let nines: ArrayRef = Arc::new(Int32Array::from(vec![9, 9, 9]));
        let map = construct(&[keys, values, other, nines], 3).unwrap();
        let map = map.as_map().slice(1, 2);
        let wanted: ArrayRef = Arc::new(StringArray::from(vec!["b", "c"]));
        let found = value(&map, &wanted).unwrap();
        let found: Vec<Option<i32>> = found
            .as_primitive::<arrow::datatypes::Int32Type>()
            .iter()
            .collect();
        assert_eq!(found, [None, Some(3)]);
        let wanted: ArrayRef = Arc::new(StringArray::from(vec!["a", "z"]));
        let found = value(&map, &wanted).unwrap();
        let found: Vec<Option<i32>> = found
            .as_primitive::<arrow::datatypes::Int32Type>()
            .iter()
            .collect();
        // Row "b" has key "a" once (its other key); row "c" has "z".
        assert_eq!(found, [Some(9), Some(9)]);
        // The first row's repeated key left it one entry, so the slice starts at entry 1.
        assert_eq!(map.value_offsets(), [1, 3, 5]);
        let map: ArrayRef = Arc::new(map);
        let text = rill_engine::format::ValueFormatter::new(&map);
        let texts: Vec<String> = (0..2)
            .map(|i| {
                let mut out = String::new();
                text.write(&mut out, i);
                out
            })
            .collect();
        assert_eq!(texts, ["{b=NULL, a=9}", "{c=3, z=9}"]);
    }
}
