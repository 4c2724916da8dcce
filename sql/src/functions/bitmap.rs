//! Flink's `BITMAP` functions: sets of 32-bit unsigned integers as Roaring bitmaps. A `BITMAP`
//! value is an Arrow `LargeBinary` holding the bitmap in Roaring's portable format, run-optimized
//! as Flink's `BITMAP_TO_BYTES` writes it (so that function returns the bytes as they are).
//! Integers go in as their 32 bits, so `-1` is 4294967295, which sorts last.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Int32Builder, Int64Array, LargeBinaryArray,
    LargeBinaryBuilder, ListBuilder, StringBuilder, UInt32Array,
};
use arrow::datatypes::{DataType, Field, FieldRef, Int32Type, Int64Type, UInt32Type};
use datafusion_common::utils::SingleRowListArrayBuilder;
use datafusion_common::{Result, ScalarValue, exec_err, plan_err};
use datafusion_expr::Volatility;
use datafusion_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion_expr::utils::format_state_name;
use datafusion_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, ScalarUDF, Signature};
use rill_engine::format::{BITMAP, write_bitmap};
use roaring::RoaringBitmap;

use super::udf::{Arg, Udf, byte_strings};

/// The scalar functions.
pub fn functions() -> Vec<ScalarUDF> {
    use Arg::Any;
    let binary = |name: &'static str, op: fn(&mut RoaringBitmap, &RoaringBitmap)| {
        Udf::with_constants(name, vec![vec![Any, Any]], returns_bitmap, move |a| {
            combine(&a[0], &a[1], op)
        })
    };
    vec![
        Udf::with_constants("bitmap_build", vec![vec![Any]], returns_bitmap, build),
        Udf::with_constants(
            "bitmap_from_bytes",
            vec![vec![Any]],
            returns_bitmap,
            from_bytes,
        ),
        binary("bitmap_and", |a, b| *a &= b),
        binary("bitmap_andnot", |a, b| *a -= b),
        binary("bitmap_or", |a, b| *a |= b),
        binary("bitmap_xor", |a, b| *a ^= b),
        Udf::with_constants(
            "bitmap_cardinality",
            vec![vec![Any]],
            |t, _| reads_bitmaps(t, DataType::Int64),
            |a| map_bitmaps(&a[0], |b| Some(b.len() as i64)),
        ),
        Udf::with_constants(
            "bitmap_to_array",
            vec![vec![Any]],
            |t, _| reads_bitmaps(t, DataType::new_list(DataType::Int32, true)),
            to_array,
        ),
        Udf::with_constants(
            "bitmap_to_bytes",
            vec![vec![Any]],
            |t, _| reads_bitmaps(t, DataType::Binary),
            |a| Ok(arrow::compute::cast(&a[0], &DataType::Binary)?),
        ),
        Udf::with_constants(
            "bitmap_to_string",
            vec![vec![Any]],
            |t, _| reads_bitmaps(t, DataType::Utf8),
            to_string,
        ),
    ]
}

/// The result type of a function of bitmaps, `result`, or an error naming what it was given.
fn reads_bitmaps(args: &[DataType], result: DataType) -> Result<DataType> {
    match args
        .iter()
        .find(|t| !matches!(t, DataType::LargeBinary | DataType::Null))
    {
        Some(other) => plan_err!(
            "a BITMAP function takes BITMAP values, not {}",
            rill_engine::format::sql_type_name(other)
        ),
        None => Ok(result),
    }
}

/// The result type of a function returning a bitmap, checking its arguments.
fn returns_bitmap(args: &[DataType], _: &[Option<&ScalarValue>]) -> Result<DataType> {
    let takes = |ok: bool| match ok {
        true => Ok(BITMAP),
        false => plan_err!(
            "wrong argument types for a BITMAP function: {}",
            args.iter()
                .map(rill_engine::format::sql_type_name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    match args {
        // BITMAP_BUILD (an array literal's integers are BIGINTs until the analyzer types
        // them) and BITMAP_FROM_BYTES.
        [DataType::List(item)] => takes(matches!(
            item.data_type(),
            DataType::Int32 | DataType::Int64 | DataType::Null
        )),
        [DataType::Binary | DataType::Null] => takes(true),
        _ => reads_bitmaps(args, BITMAP),
    }
}

/// The bitmap of `bytes` (the portable format).
pub fn read(bytes: &[u8]) -> Result<RoaringBitmap> {
    match RoaringBitmap::deserialize_from(bytes) {
        Ok(bitmap) => Ok(bitmap),
        Err(e) => exec_err!("not a bitmap: {e}"),
    }
}

/// Writes `bitmap` into `out` as a `BITMAP` value: run-optimized, as Flink writes it.
fn serialize(bitmap: &mut RoaringBitmap, out: &mut Vec<u8>) {
    bitmap.optimize();
    out.clear();
    out.reserve(bitmap.serialized_size());
    bitmap.serialize_into(out).expect("writing to memory");
}

/// Appends `bitmap` as a `BITMAP` value, using `scratch` for its bytes.
fn append(out: &mut LargeBinaryBuilder, bitmap: &mut RoaringBitmap, scratch: &mut Vec<u8>) {
    serialize(bitmap, scratch);
    out.append_value(&scratch);
}

/// `f` of each bitmap of `bitmaps` (NULL where it is NULL or `f` says so).
fn map_bitmaps(bitmaps: &ArrayRef, f: impl Fn(&RoaringBitmap) -> Option<i64>) -> Result<ArrayRef> {
    let values = large_binaries(bitmaps)?;
    let out: Int64Array = (values.iter())
        .map(|v| v.map(read).transpose().map(|b| b.and_then(|b| f(&b))))
        .collect::<Result<_>>()?;
    Ok(Arc::new(out))
}

fn large_binaries(array: &ArrayRef) -> Result<LargeBinaryArray> {
    Ok(arrow::compute::cast(array, &DataType::LargeBinary)?
        .as_binary::<i64>()
        .clone())
}

/// `BITMAP_BUILD(ints)`: the set of an array's integers (its NULLs left out).
fn build(args: &[ArrayRef]) -> Result<ArrayRef> {
    let mut out = LargeBinaryBuilder::new();
    let mut scratch = Vec::new();
    if args[0].data_type() == &DataType::Null {
        return Ok(arrow::array::new_null_array(&BITMAP, args[0].len()));
    }
    let lists = args[0].as_list::<i32>();
    for row in 0..lists.len() {
        if lists.is_null(row) {
            out.append_null();
            continue;
        }
        let items = lists.value(row);
        let mut bitmap: RoaringBitmap = match items.data_type() {
            DataType::Int32 => (items.as_primitive::<Int32Type>().iter())
                .flatten()
                .map(|v| v as u32)
                .collect(),
            DataType::Int64 => (items.as_primitive::<Int64Type>().iter())
                .flatten()
                .map(|v| match i32::try_from(v) {
                    Ok(v) => Ok(v as u32),
                    Err(_) => exec_err!("BITMAP_BUILD takes INT values, not {v}"),
                })
                .collect::<Result<_>>()?,
            _ => RoaringBitmap::new(),
        };
        append(&mut out, &mut bitmap, &mut scratch);
    }
    Ok(Arc::new(out.finish()))
}

/// `BITMAP_FROM_BYTES(bytes)`: the bitmap the portable format `bytes` holds; other bytes fail
/// the query, as in Flink.
fn from_bytes(args: &[ArrayRef]) -> Result<ArrayRef> {
    let bytes: BinaryArray = byte_strings(&args[0])?;
    let mut out = LargeBinaryBuilder::new();
    let mut scratch = Vec::new();
    for v in bytes.iter() {
        match v {
            Some(v) => append(&mut out, &mut read(v)?, &mut scratch),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// `op` of the two bitmaps of each row; NULL if either is.
fn combine(
    left: &ArrayRef,
    right: &ArrayRef,
    op: fn(&mut RoaringBitmap, &RoaringBitmap),
) -> Result<ArrayRef> {
    let (left, right) = (large_binaries(left)?, large_binaries(right)?);
    let mut out = LargeBinaryBuilder::new();
    let mut scratch = Vec::new();
    for (a, b) in left.iter().zip(right.iter()) {
        match (a, b) {
            (Some(a), Some(b)) => {
                let mut a = read(a)?;
                op(&mut a, &read(b)?);
                append(&mut out, &mut a, &mut scratch);
            }
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// `BITMAP_TO_ARRAY(b)`: the integers in unsigned order, as `INT`s.
fn to_array(args: &[ArrayRef]) -> Result<ArrayRef> {
    let bitmaps = large_binaries(&args[0])?;
    let mut out = ListBuilder::new(Int32Builder::new());
    for v in bitmaps.iter() {
        match v {
            Some(v) => {
                out.values().extend(read(v)?.iter().map(|i| Some(i as i32)));
                out.append(true);
            }
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// `BITMAP_TO_STRING(b)`: `{1,2,4294967295}`.
fn to_string(args: &[ArrayRef]) -> Result<ArrayRef> {
    let bitmaps = large_binaries(&args[0])?;
    let mut out = StringBuilder::new();
    let mut text = String::new();
    for v in bitmaps.iter() {
        match v {
            Some(v) => {
                text.clear();
                write_bitmap(&mut text, v);
                out.append_value(&text);
            }
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// The aggregates `BITMAP_BUILD_AGG(int)`, `BITMAP_AND_AGG(b)`, `BITMAP_OR_AGG(b)` and
/// `BITMAP_XOR_AGG(b)`, and their `_CARDINALITY_AGG` forms (the result's cardinality, a
/// `BIGINT`). NULLs are left out; with none but NULLs (or nothing left, over a changelog) the
/// result is NULL, and so is a `BITMAP_BUILD_AGG` of nothing, as in Flink.
pub fn aggregates() -> Vec<AggregateUDF> {
    let folds = [Fold::Build, Fold::And, Fold::Or, Fold::Xor];
    (folds.into_iter())
        .flat_map(|fold| [false, true].map(|cardinality| (fold, cardinality)))
        .map(|(fold, cardinality)| {
            AggregateUDF::new_from_impl(BitmapAgg {
                fold,
                cardinality,
                signature: Signature::any(1, Volatility::Immutable),
            })
        })
        .collect()
}

/// How an aggregate folds its rows into its bitmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Fold {
    Build,
    And,
    Or,
    Xor,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct BitmapAgg {
    fold: Fold,
    /// Whether the result is the bitmap's cardinality.
    cardinality: bool,
    signature: Signature,
}

impl AggregateUDFImpl for BitmapAgg {
    fn name(&self) -> &str {
        match (self.fold, self.cardinality) {
            (Fold::Build, false) => "bitmap_build_agg",
            (Fold::And, false) => "bitmap_and_agg",
            (Fold::Or, false) => "bitmap_or_agg",
            (Fold::Xor, false) => "bitmap_xor_agg",
            (Fold::Build, true) => "bitmap_build_cardinality_agg",
            (Fold::And, true) => "bitmap_and_cardinality_agg",
            (Fold::Or, true) => "bitmap_or_cardinality_agg",
            (Fold::Xor, true) => "bitmap_xor_cardinality_agg",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let takes = match self.fold {
            Fold::Build => matches!(args[0], DataType::Int32 | DataType::Null),
            _ => matches!(args[0], DataType::LargeBinary | DataType::Null),
        };
        match (takes, self.cardinality) {
            (true, false) => Ok(BITMAP),
            (true, true) => Ok(DataType::Int64),
            (false, _) => plan_err!(
                "{} does not take {}",
                self.name().to_ascii_uppercase(),
                rill_engine::format::sql_type_name(&args[0])
            ),
        }
    }

    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Folded {
            fold: self.fold,
            cardinality: self.cardinality,
            bitmap: None,
        }))
    }

    /// Over a changelog (or a bounded `OVER` frame): counts, which take rows back.
    fn create_sliding_accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Counted {
            fold: self.fold,
            cardinality: self.cardinality,
            rows: 0,
            counts: HashMap::new(),
            xor: RoaringBitmap::new(),
        }))
    }

    /// The folded bitmap (or the XOR of the rows, counted), and the counts of [`Counted`].
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let field = |name, data_type| {
            Arc::new(Field::new(
                format_state_name(args.name, name),
                data_type,
                true,
            ))
        };
        Ok(vec![
            field("bitmap", BITMAP),
            field("values", DataType::new_list(DataType::UInt32, true)),
            field("counts", DataType::new_list(DataType::Int64, true)),
            field("rows", DataType::Int64),
        ])
    }
}

/// The result of a bitmap aggregate: the bitmap or its cardinality, NULL for `None`.
fn result(bitmap: Option<&mut RoaringBitmap>, cardinality: bool) -> ScalarValue {
    match (bitmap, cardinality) {
        (None, false) => ScalarValue::LargeBinary(None),
        (None, true) => ScalarValue::Int64(None),
        (Some(bitmap), true) => ScalarValue::Int64(Some(bitmap.len() as i64)),
        (Some(bitmap), false) => {
            let mut bytes = Vec::new();
            serialize(bitmap, &mut bytes);
            ScalarValue::LargeBinary(Some(bytes))
        }
    }
}

/// The state of an accumulator: its bitmap, and the counts of [`Counted`] (empty for
/// [`Folded`]).
fn state(
    bitmap: Option<&mut RoaringBitmap>,
    counts: &HashMap<u32, i64>,
    rows: i64,
) -> Vec<ScalarValue> {
    let values: UInt32Array = counts.keys().map(|&v| Some(v)).collect();
    let times: Int64Array = counts.values().map(|&c| Some(c)).collect();
    let list = |items: ArrayRef| SingleRowListArrayBuilder::new(items).build_list_scalar();
    vec![
        result(bitmap, false),
        list(Arc::new(values)),
        list(Arc::new(times)),
        ScalarValue::Int64(Some(rows)),
    ]
}

/// An aggregate's bitmap so far; `None` before its first value. It takes no row back.
#[derive(Debug)]
struct Folded {
    fold: Fold,
    cardinality: bool,
    bitmap: Option<RoaringBitmap>,
}

impl Folded {
    fn fold(&mut self, other: RoaringBitmap) {
        let Some(bitmap) = &mut self.bitmap else {
            self.bitmap = Some(other);
            return;
        };
        match self.fold {
            Fold::And => *bitmap &= other,
            Fold::Xor => *bitmap ^= other,
            Fold::Build | Fold::Or => *bitmap |= other,
        }
    }

    fn fold_bitmaps(&mut self, values: &ArrayRef) -> Result<()> {
        for v in large_binaries(values)?.iter().flatten() {
            self.fold(read(v)?);
        }
        Ok(())
    }
}

impl Accumulator for Folded {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if self.fold != Fold::Build {
            return self.fold_bitmaps(&values[0]);
        }
        if values[0].null_count() == values[0].len() {
            return Ok(());
        }
        let ints = values[0].as_primitive::<Int32Type>();
        let added: RoaringBitmap = ints.iter().flatten().map(|v| v as u32).collect();
        self.fold(added);
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        // A BITMAP_BUILD_AGG's states are bitmaps too, united.
        self.fold_bitmaps(&states[0])
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(state(self.bitmap.as_mut(), &HashMap::new(), 0))
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(result(self.bitmap.as_mut(), self.cardinality))
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.bitmap.as_ref().map_or(0, |b| b.serialized_size())
    }
}

/// An aggregate over rows that may be taken back, as Flink's retracting bitmap aggregates
/// keep it: how many rows hold each value, and how many rows (bitmaps) there are; a
/// `BITMAP_XOR_AGG` keeps the XOR itself, which undoes itself.
#[derive(Debug)]
struct Counted {
    fold: Fold,
    cardinality: bool,
    rows: i64,
    counts: HashMap<u32, i64>,
    xor: RoaringBitmap,
}

impl Counted {
    /// Counts each row of `values` `sign` times.
    fn add(&mut self, values: &ArrayRef, sign: i64) -> Result<()> {
        if self.fold == Fold::Build {
            for v in values.as_primitive::<Int32Type>().iter().flatten() {
                self.count(v as u32, sign);
            }
            return Ok(());
        }
        for bytes in large_binaries(values)?.iter().flatten() {
            let bitmap = read(bytes)?;
            self.rows += sign;
            match self.fold {
                Fold::Xor => self.xor ^= bitmap,
                _ => bitmap.iter().for_each(|v| self.count(v, sign)),
            }
        }
        Ok(())
    }

    fn count(&mut self, value: u32, times: i64) {
        let count = self.counts.entry(value).or_default();
        *count += times;
        if *count == 0 {
            self.counts.remove(&value);
        }
    }

    /// The bitmap now: `None` (NULL) without rows, or for `BITMAP_BUILD_AGG` without values.
    fn bitmap(&self) -> Option<RoaringBitmap> {
        let held = |least: i64| -> RoaringBitmap {
            (self.counts.iter())
                .filter(|&(_, &c)| c >= least)
                .map(|(&v, _)| v)
                .collect()
        };
        match self.fold {
            Fold::Build => Some(held(1)).filter(|b| !b.is_empty()),
            _ if self.rows <= 0 => None,
            Fold::Or => Some(held(1)),
            Fold::And => Some(held(self.rows)),
            Fold::Xor => Some(self.xor.clone()),
        }
    }
}

impl Accumulator for Counted {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(&values[0], 1)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(&values[0], -1)
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (values, counts) = (states[1].as_list::<i32>(), states[2].as_list::<i32>());
        let (xors, rows) = (
            large_binaries(&states[0])?,
            states[3].as_primitive::<Int64Type>(),
        );
        for row in (0..rows.len()).filter(|&r| rows.is_valid(r)) {
            if self.fold == Fold::Xor && xors.is_valid(row) {
                self.xor ^= read(xors.value(row))?;
            }
            self.rows += rows.value(row);
            let values = values.value(row);
            let counts = counts.value(row);
            let values = values.as_primitive::<UInt32Type>().values();
            for (&v, &c) in values
                .iter()
                .zip(counts.as_primitive::<Int64Type>().values())
            {
                self.count(v, c);
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut xor = (self.fold == Fold::Xor).then(|| self.xor.clone());
        Ok(state(xor.as_mut(), &self.counts, self.rows))
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(result(self.bitmap().as_mut(), self.cardinality))
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.counts.len() * 24 + self.xor.serialized_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_and_aggregate_starts_from_its_first_bitmap_not_from_the_empty_one() {
        let bitmaps = |sets: &[&[u32]]| -> ArrayRef {
            let mut out = LargeBinaryBuilder::new();
            let mut scratch = Vec::new();
            for set in sets {
                append(&mut out, &mut set.iter().copied().collect(), &mut scratch);
            }
            Arc::new(out.finish())
        };
        let mut and = Folded {
            fold: Fold::And,
            cardinality: false,
            bitmap: None,
        };
        and.update_batch(&[bitmaps(&[&[1, 2, 3], &[2, 3, 4]])])
            .unwrap();
        let state = and.state().unwrap();
        let mut merged = Folded {
            fold: Fold::And,
            cardinality: false,
            bitmap: None,
        };
        merged.merge_batch(&[state[0].to_array().unwrap()]).unwrap();
        merged.update_batch(&[bitmaps(&[&[3, 9]])]).unwrap();
        let ScalarValue::LargeBinary(Some(bytes)) = merged.evaluate().unwrap() else {
            panic!("a bitmap");
        };
        assert_eq!(read(&bytes).unwrap().iter().collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn a_retracting_build_keeps_a_value_while_a_row_holds_it_and_restores_from_its_state() {
        let ints = |v: &[i32]| -> ArrayRef { Arc::new(arrow::array::Int32Array::from(v.to_vec())) };
        let counted = || Counted {
            fold: Fold::Build,
            cardinality: false,
            rows: 0,
            counts: HashMap::new(),
            xor: RoaringBitmap::new(),
        };
        let values = |acc: &mut Counted| match acc.evaluate().unwrap() {
            ScalarValue::LargeBinary(Some(b)) => read(&b).unwrap().iter().collect::<Vec<_>>(),
            ScalarValue::LargeBinary(None) => vec![],
            other => panic!("{other:?}"),
        };
        let mut acc = counted();
        acc.update_batch(&[ints(&[1, 1, 2])]).unwrap();
        acc.retract_batch(&[ints(&[1])]).unwrap();
        assert_eq!(values(&mut acc), vec![1, 2]);
        acc.retract_batch(&[ints(&[1])]).unwrap();
        assert_eq!(values(&mut acc), vec![2]);
        let state: Vec<ArrayRef> = (acc.state().unwrap().iter())
            .map(|s| s.to_array().unwrap())
            .collect();
        let mut restored = counted();
        restored.merge_batch(&state).unwrap();
        assert_eq!(values(&mut restored), vec![2]);
        restored.retract_batch(&[ints(&[2])]).unwrap();
        assert_eq!(restored.evaluate().unwrap(), ScalarValue::LargeBinary(None));
    }
}
