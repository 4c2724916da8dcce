//! `CAST` as Flink does it where arrow's cast differs: Flink's text of doubles (`1.0E300`),
//! booleans (`TRUE`) and timestamps (`2024-01-01 00:00:23.070`); integers narrowed by
//! wrapping and floating-point numbers by saturating, as Java's casts do; a number too large
//! for a `DECIMAL` becomes NULL; a value cut (and padded) to the length of `VARCHAR(n)`,
//! `CHAR(n)`, `VARBINARY(n)`, `BINARY(n)` and `TIME(p)`; binary strings read as UTF-8 text and
//! cast to and from text only. Binary strings are also kept from text functions, and times of
//! two precisions brought to one where they meet.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, ListArray, PrimitiveArray, StringArray, StringBuilder,
    StructArray, new_null_array,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Decimal128Type, Fields, Float32Type, Float64Type,
    Int8Type, Int16Type, Int32Type, Int64Type, Time32MillisecondType, TimeUnit,
};
use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion_expr::expr::{Cast, ScalarFunction, TryCast};
use datafusion_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility, lit, when,
};
use datafusion_functions::core::expr_fn::{get_field, named_struct};
use datafusion_optimizer::AnalyzerRule;
use rill_engine::format::{
    ValueFormatter, is_multiset, java_double, java_float, parse_java_decimal, parse_java_float,
    sql_type_name,
};

use super::catalog::{self, Group};
use super::udf::{Arg, Udf, strings};
use crate::types::{LENGTH, PADDED};

/// Whether casting `from` to `to` needs Flink's cast rather than arrow's.
fn differs(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let text = matches!(to, Utf8 | LargeUtf8 | Utf8View);
    // A decimal that holds every value of `from` needs no overflow check.
    let narrow_decimal = |digits: i16| match to {
        Decimal128(p, s) => i16::from(*p) - i16::from(*s) < digits,
        _ => false,
    };
    match from {
        // Java's number text: `1.5f`, `1E+5`, no `inf`; a decimal rounded half up.
        Utf8 | LargeUtf8 | Utf8View => matches!(to, Float32 | Float64 | Decimal128(..)),
        Float32 | Float64 => text || to.is_integer() || matches!(to, Decimal128(..)),
        Boolean => text,
        Timestamp(_, zone) => text || (zone.is_none() && *to == Date32) || matches!(to, Time32(_)),
        Int8 | UInt8 => (to.is_integer() && to != from) || narrow_decimal(3),
        Int16 | UInt16 => (to.is_integer() && to != from) || narrow_decimal(5),
        Int32 | UInt32 => (to.is_integer() && to != from) || narrow_decimal(10),
        Int64 => (to.is_integer() && to != from) || narrow_decimal(19),
        UInt64 => (to.is_integer() && to != from) || narrow_decimal(20),
        Decimal128(p, s) => narrow_decimal(i16::from(*p) - i16::from(*s)),
        List(_) | Struct(_) | Map(..) | Binary | LargeBinary | Interval(_) => text,
        Time32(_) => text || matches!(to, Timestamp(..)),
        _ => false,
    }
}

/// Replaces the casts (explicit, and those type coercion added) whose Flink semantics differ
/// from arrow's with calls of [`FlinkCast`], and wraps casts to a type with a length
/// (`VARCHAR(3)`) in [`fit`]; runs after type coercion.
#[derive(Debug)]
pub struct FlinkCasts;

impl AnalyzerRule for FlinkCasts {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        let functions = Functions {
            cast: Arc::new(ScalarUDF::new_from_impl(FlinkCast::new(false))),
            try_cast: Arc::new(ScalarUDF::new_from_impl(FlinkCast::new(true))),
            fit: Arc::new(fit()),
        };
        super::rewrite_expressions(plan, |_| false, |e, schema| rewrite(e, schema, &functions))
    }

    fn name(&self) -> &str {
        "flink_casts"
    }
}

fn rewrite(e: Expr, schema: &DFSchema, functions: &Functions) -> Result<Transformed<Expr>> {
    let (inner, field) = match &e {
        Expr::Cast(c) => (&c.expr, &c.field),
        Expr::TryCast(c) => (&c.expr, &c.field),
        _ => return Ok(Transformed::no(e)),
    };
    let to = field.data_type();
    let from = inner.get_type(schema)?;
    if let (DataType::Struct(from_fields), DataType::Struct(to_fields)) = (&from, to)
        && from_fields.len() == to_fields.len()
        && (from_fields.iter().zip(to_fields)).any(|(f, t)| f.name() != t.name())
    {
        let try_cast = matches!(e, Expr::TryCast(_));
        return by_position(inner, from_fields, to_fields, try_cast, schema, functions)
            .map(Transformed::yes);
    }
    if let DataType::Timestamp(_, zone) = &from
        && (to.is_numeric() || matches!(to, DataType::Decimal128(..)))
    {
        let ltz = if zone.is_some() { "_LTZ" } else { "" };
        return plan_err!(
            "The cast from TIMESTAMP{ltz} type to NUMERIC type is not allowed. It's recommended \
             to use UNIX_TIMESTAMP(CAST(timestamp_col AS STRING)) instead."
        );
    }
    let text_or_bytes = |t: &DataType| {
        matches!(
            t,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::Null
        )
    };
    if (from == DataType::Binary || to == &DataType::Binary)
        && !(text_or_bytes(&from) && text_or_bytes(to))
    {
        return plan_err!(
            "The cast from {} to {} is not allowed: a binary string casts to and from text",
            sql_type_name(&from),
            sql_type_name(to)
        );
    }
    let length = field.metadata().get(LENGTH);
    let differs = differs(&from, to);
    if !differs && length.is_none() {
        return Ok(Transformed::no(e));
    }
    let converted = if differs {
        let target = Expr::Literal(ScalarValue::try_from(to)?, None);
        let function = match e {
            Expr::TryCast(_) => &functions.try_cast,
            _ => &functions.cast,
        };
        Expr::ScalarFunction(ScalarFunction::new_udf(
            function.clone(),
            vec![inner.as_ref().clone(), target],
        ))
    } else {
        // The same cast, without the length that `fit` takes care of.
        match &e {
            Expr::TryCast(_) => Expr::TryCast(TryCast::new(inner.clone(), to.clone())),
            _ => Expr::Cast(Cast::new(inner.clone(), to.clone())),
        }
    };
    let Some(length) = length else {
        return Ok(Transformed::yes(converted));
    };
    let length: i64 = length
        .parse()
        .map_err(|_| DataFusionError::Internal(format!("a length of {length}")))?;
    let padded = field.metadata().contains_key(PADDED);
    let args = vec![converted, lit(length), lit(padded)];
    let call = ScalarFunction::new_udf(functions.fit.clone(), args);
    Ok(Transformed::yes(Expr::ScalarFunction(call)))
}

/// A row cast to a row type of other field names, field by field in order, as Flink casts rows
/// (DataFusion matches fields by name); a NULL row stays NULL.
fn by_position(
    row: &Expr,
    from: &Fields,
    to_fields: &Fields,
    try_cast: bool,
    schema: &DFSchema,
    functions: &Functions,
) -> Result<Expr> {
    let mut args = Vec::with_capacity(2 * from.len());
    for (f, t) in from.iter().zip(to_fields) {
        let value = Box::new(get_field(row.clone(), f.name().as_str()));
        let cast = match try_cast {
            true => Expr::TryCast(TryCast::new(value, t.data_type().clone())),
            false => Expr::Cast(Cast::new(value, t.data_type().clone())),
        };
        args.extend([
            lit(t.name().as_str()),
            rewrite(cast, schema, functions)?.data,
        ]);
    }
    // Now of the same field names: DataFusion's cast settles their nullability.
    let to = DataType::Struct(to_fields.clone());
    let null = Expr::Literal(ScalarValue::try_from(&to)?, None);
    let built = Expr::Cast(Cast::new(Box::new(named_struct(args)), to));
    when(row.clone().is_null(), null).otherwise(built)
}

/// The functions casts are rewritten to.
struct Functions {
    cast: Arc<ScalarUDF>,
    try_cast: Arc<ScalarUDF>,
    fit: Arc<ScalarUDF>,
}

/// Refuses binary strings (and bitmaps) where Flink takes only text, which DataFusion would
/// read as UTF-8:
/// the arguments of Flink's string functions (but those that read bytes: `DECODE`,
/// `TO_BASE64`) and of `||`. Runs before type coercion, which would hide them.
#[derive(Debug)]
pub struct TextArguments;

impl AnalyzerRule for TextArguments {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        super::rewrite_expressions(
            plan,
            |_| false,
            |e, schema| {
                let (name, args) = match &e {
                    Expr::ScalarFunction(f) => (f.name().to_uppercase(), f.args.iter().collect()),
                    Expr::BinaryExpr(b) if b.op == Operator::StringConcat => {
                        ("||".to_string(), vec![b.left.as_ref(), b.right.as_ref()])
                    }
                    _ => return Ok(Transformed::no(e)),
                };
                let reads_bytes = ["DECODE", "TO_BASE64"].contains(&name.as_str());
                let text_only = name == "||"
                    || catalog::lookup(&name)
                        .is_some_and(|f| f.group == Group::Strings && !reads_bytes);
                if !text_only {
                    return Ok(Transformed::no(e));
                }
                let binary = |a: &&Expr| match a.get_type(schema) {
                    Ok(t @ (DataType::Binary | DataType::LargeBinary)) => Some(t),
                    _ => None,
                };
                if let Some(t) = args.iter().find_map(binary) {
                    return plan_err!(
                        "{name} takes text, not {}: make text of it with CAST(... AS STRING) \
                         (or DECODE(..., charset) for bytes)",
                        sql_type_name(&t)
                    );
                }
                Ok(Transformed::no(e))
            },
        )
    }

    fn name(&self) -> &str {
        "flink_text_arguments"
    }
}

/// Brings the `TIME(0)` side of an operator whose other side is a `TIME(3)` to milliseconds,
/// which DataFusion's type coercion does not do.
#[derive(Debug)]
pub struct TimeOperands;

impl ExprPlanner for TimeOperands {
    fn plan_binary_op(
        &self,
        mut expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let (seconds, millis) = (
            DataType::Time32(TimeUnit::Second),
            DataType::Time32(TimeUnit::Millisecond),
        );
        let (left, right) = (expr.left.get_type(schema), expr.right.get_type(schema));
        let (Ok(left), Ok(right)) = (left, right) else {
            return Ok(PlannerResult::Original(expr));
        };
        let widen = |side: Expr| Expr::Cast(Cast::new(Box::new(side), millis.clone()));
        if left == seconds && right == millis {
            expr.left = widen(expr.left);
        } else if left == millis && right == seconds {
            expr.right = widen(expr.right);
        }
        Ok(PlannerResult::Original(expr))
    }
}

/// `rill_cast(value, NULL of the target type)`, or `rill_try_cast`, which gives NULL for
/// text that is no number.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FlinkCast {
    signature: Signature,
    try_cast: bool,
}

impl FlinkCast {
    fn new(try_cast: bool) -> Self {
        FlinkCast {
            signature: Signature::any(2, Volatility::Immutable),
            try_cast,
        }
    }
}

impl ScalarUDFImpl for FlinkCast {
    fn name(&self) -> &str {
        match self.try_cast {
            true => "rill_try_cast",
            false => "rill_cast",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[1].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let to = args.return_field.data_type().clone();
        let cast = |a: &ArrayRef| match a.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                from_text(a, &to, self.try_cast)
            }
            _ => cast(a, &to),
        };
        match &args.args[0] {
            ColumnarValue::Array(a) => cast(a).map(ColumnarValue::Array),
            ColumnarValue::Scalar(s) => {
                let result = cast(&s.to_array()?)?;
                ScalarValue::try_from_array(&result, 0).map(ColumnarValue::Scalar)
            }
        }
    }
}

/// Flink's cast of `array` to `to`, for the pairs [`differs`] names.
fn cast(array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    let from = array.data_type();
    if matches!(
        to,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        let text = to_text(array)?;
        return Ok(arrow::compute::cast(&text, to)?);
    }
    if let (DataType::Time32(_), DataType::Timestamp(..)) = (from, to) {
        return Ok(arrow::compute::cast(&time_as_timestamp(array)?, to)?);
    }
    if let (DataType::Timestamp(..), DataType::Time32(_)) = (from, to) {
        // Flink reads the time of day of a timestamp before 1970 as a negative number of
        // milliseconds, which it cannot write and computes nonsense with.
        let before_1970 = arrow::compute::cast(array, &DataType::Int64)?
            .as_primitive::<Int64Type>()
            .iter()
            .any(|v| v.is_some_and(|v| v < 0));
        if before_1970 {
            return exec_err!("Flink cannot cast a timestamp before 1970 to TIME");
        }
        return Ok(arrow::compute::cast(array, to)?);
    }
    if let (DataType::Timestamp(..), DataType::Date32) = (from, to) {
        // Flink's day of a TIMESTAMP is its epoch milliseconds divided by a day's, truncated:
        // a time before 1970 falls on the next day (the oracle shows this).
        let millis =
            arrow::compute::cast(array, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
        let millis = arrow::compute::cast(&millis, &DataType::Int64)?;
        let days = millis
            .as_primitive::<Int64Type>()
            .unary::<_, Date32Type>(|ms| (ms / 86_400_000) as i32);
        return Ok(Arc::new(days));
    }
    if matches!(to, DataType::Decimal128(..)) {
        // Out of range is NULL in Flink.
        let options = CastOptions {
            safe: true,
            ..Default::default()
        };
        return Ok(cast_with_options(array, to, &options)?);
    }
    match (from, to) {
        (DataType::Float32 | DataType::Float64, _) => {
            let doubles = arrow::compute::cast(array, &DataType::Float64)?;
            let doubles = doubles.as_primitive::<Float64Type>();
            // Rust's `as` saturates, and maps NaN to 0, as Java's casts do.
            Ok(match to {
                DataType::Int8 => convert::<_, Int8Type>(doubles, |v| v as i8),
                DataType::Int16 => convert::<_, Int16Type>(doubles, |v| v as i16),
                DataType::Int32 => convert::<_, Int32Type>(doubles, |v| v as i32),
                DataType::Int64 => convert::<_, Int64Type>(doubles, |v| v as i64),
                other => return exec_err!("no Flink cast from {from} to {other}"),
            })
        }
        (f, _) if f.is_integer() => {
            let longs = arrow::compute::cast(array, &DataType::Int64)?;
            let longs = longs.as_primitive::<Int64Type>();
            // Java narrows integers by keeping the low bits, as Rust's `as` does.
            Ok(match to {
                DataType::Int8 => convert::<_, Int8Type>(longs, |v| v as i8),
                DataType::Int16 => convert::<_, Int16Type>(longs, |v| v as i16),
                DataType::Int32 => convert::<_, Int32Type>(longs, |v| v as i32),
                DataType::Int64 => Arc::new(longs.clone()),
                other => return exec_err!("no Flink cast from {from} to {other}"),
            })
        }
        _ => exec_err!("no Flink cast from {from} to {to}"),
    }
}

/// Flink's cast of the text `array` to a FLOAT, DOUBLE or DECIMAL, which reads Java's number
/// text, trimmed: an error for what is no number (or too large a decimal), NULL with
/// `try_cast`.
fn from_text(array: &ArrayRef, to: &DataType, try_cast: bool) -> Result<ArrayRef> {
    let text = arrow::compute::cast(array, &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    Ok(match to {
        DataType::Decimal128(p, s) => {
            let decimals =
                parse_each::<Decimal128Type>(text, to, try_cast, |v| text_to_decimal(v, *p, *s))?;
            Arc::new(decimals.with_precision_and_scale(*p, *s)?)
        }
        // Java's parser trims the text itself.
        DataType::Float32 => Arc::new(parse_each::<Float32Type>(
            text,
            to,
            try_cast,
            parse_java_float,
        )?),
        _ => Arc::new(parse_each::<Float64Type>(
            text,
            to,
            try_cast,
            parse_java_float,
        )?),
    })
}

/// Flink's cast of `text` to `DECIMAL(precision, scale)`, `None` where it gives NULL (or,
/// outside TRY_CAST, fails). Of up to 18 digits and characters, Flink reads the digits and
/// point, an exponent, and spaces after, skipping the one character that ends the digits
/// (`1.5f` is 1.5), rounding half up and counting leading zeros as digits; otherwise it
/// reads Java's BigDecimal between spaces.
fn text_to_decimal(text: &str, precision: u8, scale: i8) -> Option<i128> {
    let space = |b: &u8| matches!(b, b' ' | b'\n' | b'\t');
    if precision > 18 || text.len() > 18 {
        let text = text.trim_matches(|c: char| c.is_ascii() && space(&(c as u8)));
        return parse_java_decimal(text, precision, scale).ok().flatten();
    }
    let bytes = text.as_bytes();
    let mut i = bytes.iter().position(|b| !space(b))?;
    let negative = bytes[i] == b'-';
    if negative || bytes[i] == b'+' {
        i += 1;
        if i == bytes.len() {
            return None;
        }
    }
    let (mut significand, mut digits, mut point) = (0i128, 0i32, None);
    let mut last = 0;
    while i < bytes.len() {
        last = bytes[i];
        i += 1;
        match last {
            b'0'..=b'9' => {
                significand = significand * 10 + i128::from(last - b'0');
                digits += 1;
            }
            b'.' if point.is_some() => return None,
            b'.' => point = Some(digits),
            _ => break,
        }
    }
    let mut exponent = 0i32;
    if matches!(last, b'e' | b'E') && i < bytes.len() {
        let negative = bytes[i] == b'-';
        if negative || bytes[i] == b'+' {
            i += 1;
            if i == bytes.len() {
                return None;
            }
        }
        while i < bytes.len() {
            let b = bytes[i];
            i += 1;
            if !b.is_ascii_digit() {
                break;
            }
            if exponent < 40 {
                exponent = exponent * 10 + i32::from(b - b'0');
            }
        }
        if negative {
            exponent = -exponent;
        }
    }
    if !bytes[i..].iter().all(space) {
        return None;
    }
    let change = exponent - (digits - point.unwrap_or(digits)) + i32::from(scale);
    if digits + change > i32::from(precision) {
        return None;
    }
    // Of at most 18 digits, nothing is left 19 places down.
    let magnitude = match change {
        0.. => significand * 10i128.pow(change as u32),
        -18..0 => (significand + 5 * 10i128.pow((-change - 1) as u32)) / 10i128.pow(-change as u32),
        _ => 0,
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// Each value of `text` read by `parse` (NULL stays NULL); one it cannot read is an error,
/// or NULL with `try_cast`.
fn parse_each<T: ArrowPrimitiveType>(
    text: &StringArray,
    to: &DataType,
    try_cast: bool,
    parse: impl Fn(&str) -> Option<T::Native>,
) -> Result<PrimitiveArray<T>> {
    (text.iter())
        .map(|value| match value.map(|v| (v, parse(v))) {
            None => Ok(None),
            Some((_, Some(n))) => Ok(Some(n)),
            Some(_) if try_cast => Ok(None),
            Some((v, None)) => exec_err!(
                "cannot cast '{v}' to {}: no number, or out of its range",
                sql_type_name(to)
            ),
        })
        .collect()
}

/// Each time of day of `times` (a `Time32` array) as that time on 1970-01-01, a timestamp of
/// the same unit.
pub(super) fn time_as_timestamp(times: &ArrayRef) -> Result<ArrayRef> {
    let DataType::Time32(unit) = times.data_type() else {
        return exec_err!("expected a TIME, found {}", times.data_type());
    };
    let count = arrow::compute::cast(times, &DataType::Int32)?;
    let count = arrow::compute::cast(&count, &DataType::Int64)?;
    Ok(arrow::compute::cast(
        &count,
        &DataType::Timestamp(*unit, None),
    )?)
}

fn convert<F: ArrowPrimitiveType, T: ArrowPrimitiveType>(
    array: &PrimitiveArray<F>,
    f: impl Fn(F::Native) -> T::Native,
) -> ArrayRef {
    Arc::new(array.unary::<_, T>(f))
}

/// Flink's text of each value of `array`.
pub fn to_text(array: &ArrayRef) -> Result<ArrayRef> {
    if array.null_count() == array.len() {
        return Ok(new_null_array(&DataType::Utf8, array.len()));
    }
    match array.data_type() {
        DataType::List(_) => return array_text(array.as_list::<i32>()),
        DataType::Struct(_) => return row_text(array.as_struct()),
        // Flink writes a map or a multiset in its hash map's order, which rill does not
        // reproduce.
        data_type @ DataType::Map(..) => {
            let name = if is_multiset(data_type) {
                "MULTISET"
            } else {
                "MAP"
            };
            return exec_err!("CAST of a {name} to STRING is not supported yet");
        }
        _ => {}
    }
    let mut out = StringBuilder::with_capacity(array.len(), array.len() * 16);
    let mut text = String::new();
    let formatter = ValueFormatter::new(array);
    for i in 0..array.len() {
        if array.is_null(i) {
            out.append_null();
            continue;
        }
        text.clear();
        match array.data_type() {
            DataType::Float64 => {
                java_double(&mut text, array.as_primitive::<Float64Type>().value(i))
            }
            DataType::Float32 => {
                java_float(&mut text, array.as_primitive::<Float32Type>().value(i))
            }
            DataType::Boolean => text.push_str(if array.as_boolean().value(i) {
                "TRUE"
            } else {
                "FALSE"
            }),
            // A TIME(p) of p > 0 keeps at least one fraction digit.
            DataType::Time32(TimeUnit::Millisecond) => {
                formatter.write(&mut text, i);
                if !text.contains('.') {
                    text.push_str(".0");
                }
            }
            // A binary string's text is its bytes read as UTF-8, as Java's `new String` reads
            // them (a malformed sequence as U+FFFD).
            DataType::Binary => {
                text.push_str(&String::from_utf8_lossy(array.as_binary::<i32>().value(i)))
            }
            _ => formatter.write(&mut text, i),
        }
        out.append_value(&text);
    }
    Ok(Arc::new(out.finish()))
}

/// Flink's text of each array of `list`: `[a, NULL, c]`, each element as it casts to text.
fn array_text(list: &ListArray) -> Result<ArrayRef> {
    let items = to_text(list.values())?;
    let items = items.as_string::<i32>();
    let offsets = list.value_offsets();
    Ok(enclosed(list, ('[', ']'), |row| {
        let range = offsets[row] as usize..offsets[row + 1] as usize;
        range.map(|v| items.is_valid(v).then(|| items.value(v)))
    }))
}

/// Flink's text of each row of `rows`: `(a, NULL, c)`, each field as it casts to text.
fn row_text(rows: &StructArray) -> Result<ArrayRef> {
    let fields = (rows.columns().iter())
        .map(to_text)
        .collect::<Result<Vec<_>>>()?;
    let fields: Vec<_> = fields.iter().map(|f| f.as_string::<i32>()).collect();
    Ok(enclosed(rows, ('(', ')'), |row| {
        (fields.iter()).map(move |f| f.is_valid(row).then(|| f.value(row)))
    }))
}

/// Per value of `values` (NULL where it is), its `parts` between the `brackets`, separated by
/// `, `, a NULL part as `NULL`.
fn enclosed<'a, I: Iterator<Item = Option<&'a str>>>(
    values: &dyn Array,
    (open, close): (char, char),
    parts: impl Fn(usize) -> I,
) -> ArrayRef {
    let mut out = StringBuilder::with_capacity(values.len(), values.len() * 16);
    let mut text = String::new();
    for row in 0..values.len() {
        if values.is_null(row) {
            out.append_null();
            continue;
        }
        text.clear();
        text.push(open);
        for (k, part) in parts(row).enumerate() {
            if k > 0 {
                text.push_str(", ");
            }
            text.push_str(part.unwrap_or("NULL"));
        }
        text.push(close);
        out.append_value(&text);
    }
    Arc::new(out.finish())
}

/// `rill_fit(value, length, padded)`: a string cut to `length` characters, or a binary string
/// to `length` bytes, and when `padded` filled up to it with spaces or zero bytes: Flink's
/// cast to `VARCHAR(n)`, `CHAR(n)`, `VARBINARY(n)` and `BINARY(n)`; a time cut to `length`
/// fraction digits: its cast to `TIME(p)`.
fn fit() -> ScalarUDF {
    use Arg::{Any, Integer};
    let returns = |args: &[DataType]| args[0].clone();
    Udf::new("rill_fit", vec![vec![Any, Integer, Any]], returns, |args| {
        let length = args[1].as_primitive::<Int64Type>().value(0) as usize;
        let padded = args[2].as_boolean().value(0);
        let values = &args[0];
        Ok(match values.data_type() {
            DataType::Time32(TimeUnit::Millisecond) => {
                let step = 10i32.pow(3 - length.min(3) as u32);
                let millis = values.as_primitive::<Time32MillisecondType>();
                Arc::new(millis.unary::<_, Time32MillisecondType>(|ms| ms - ms % step))
            }
            DataType::Binary => {
                let mut out = BinaryBuilder::with_capacity(values.len(), values.len() * length);
                let mut bytes = Vec::with_capacity(length);
                for v in values.as_binary::<i32>() {
                    let Some(v) = v else {
                        out.append_null();
                        continue;
                    };
                    bytes.clear();
                    bytes.extend_from_slice(&v[..v.len().min(length)]);
                    if padded {
                        bytes.resize(length, 0);
                    }
                    out.append_value(&bytes);
                }
                Arc::new(out.finish())
            }
            _ => {
                let mut out = StringBuilder::with_capacity(values.len(), values.len() * length);
                let mut text = String::with_capacity(length);
                for v in strings(values)?.iter() {
                    let Some(v) = v else {
                        out.append_null();
                        continue;
                    };
                    let end = v.char_indices().nth(length).map_or(v.len(), |(at, _)| at);
                    text.clear();
                    text.push_str(&v[..end]);
                    if padded {
                        let short = length.saturating_sub(v[..end].chars().count());
                        text.extend(std::iter::repeat_n(' ', short));
                    }
                    out.append_value(&text);
                }
                Arc::new(out.finish())
            }
        })
    })
}
