//! Flink's arithmetic where DataFusion's differs: integers wrap instead of failing, `LOG(x)`
//! is the natural logarithm, `ROUND` rounds the shortest decimal text of a double half up,
//! `FLOOR`/`CEIL` of a decimal have scale 0, decimal division has Flink's result type.

use std::sync::Arc;

use arrow::array::ArrowNativeTypeOp;
use arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, Float64Array, StringBuilder};
use arrow::datatypes::{
    DataType, Decimal128Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, i256,
};
use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, Result, ScalarValue, exec_err, not_impl_err};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_optimizer::AnalyzerRule;

use rill_engine::format::shortest_digits;

use super::udf::{Arg, Udf, string, strings};

/// The math functions rill has in Flink's form.
pub fn functions() -> Vec<ScalarUDF> {
    use Arg::{Integer as I, Number as N, String as S};
    vec![
        Udf::new("abs", vec![vec![N]], same, abs),
        Udf::new("sign", vec![vec![N]], same, sign),
        Udf::new("floor", vec![vec![N]], integral, |a| {
            round_integral(&a[0], f64::floor)
        }),
        Udf::new("ceil", vec![vec![N]], integral, |a| {
            round_integral(&a[0], f64::ceil)
        }),
        Udf::new("ceiling", vec![vec![N]], integral, |a| {
            round_integral(&a[0], f64::ceil)
        }),
        Udf::with_constants("round", vec![vec![N], vec![N, I]], round_type, round),
        Udf::with_constants(
            "truncate",
            vec![vec![N], vec![N, I]],
            truncate_type,
            truncate,
        ),
        Udf::new("sqrt", vec![vec![N]], double, |a| {
            unary_double(&a[0], f64::sqrt)
        }),
        Udf::new("log", vec![vec![N], vec![N, N]], double, log),
        Udf::new("e", vec![vec![]], double, |_| {
            Ok(Arc::new(Float64Array::from(vec![std::f64::consts::E])))
        }),
        Udf::new("bin", vec![vec![I]], string, |a| radix(&a[0], 2)),
        Udf::new("hex", vec![vec![I], vec![S]], string, hex),
    ]
}

fn same(args: &[DataType]) -> DataType {
    args[0].clone()
}

fn double(_: &[DataType]) -> DataType {
    DataType::Float64
}

/// `FLOOR` and `CEIL` keep integers and doubles, and give a decimal scale 0.
fn integral(args: &[DataType]) -> DataType {
    match &args[0] {
        DataType::Decimal128(p, _) => DataType::Decimal128(*p, 0),
        other => other.clone(),
    }
}

/// `f` of each integer of `array` (of any integer type), narrowed back to that type by
/// wrapping around, as Java does.
fn map_integers(array: &ArrayRef, f: impl Fn(i64) -> i64) -> Result<ArrayRef> {
    Ok(match array.data_type() {
        DataType::Int8 => Arc::new(
            array
                .as_primitive::<Int8Type>()
                .unary::<_, Int8Type>(|v| f(v.into()) as i8),
        ),
        DataType::Int16 => Arc::new(
            array
                .as_primitive::<Int16Type>()
                .unary::<_, Int16Type>(|v| f(v.into()) as i16),
        ),
        DataType::Int32 => Arc::new(
            array
                .as_primitive::<Int32Type>()
                .unary::<_, Int32Type>(|v| f(v.into()) as i32),
        ),
        DataType::Int64 => Arc::new(array.as_primitive::<Int64Type>().unary::<_, Int64Type>(f)),
        other => return exec_err!("expected an integer, found {other}"),
    })
}

fn doubles(array: &ArrayRef) -> Result<ArrayRef> {
    Ok(arrow::compute::cast(array, &DataType::Float64)?)
}

fn unary_double(array: &ArrayRef, f: impl Fn(f64) -> f64) -> Result<ArrayRef> {
    let values = doubles(array)?;
    Ok(Arc::new(
        values
            .as_primitive::<Float64Type>()
            .unary::<_, Float64Type>(f),
    ))
}

/// `ABS(x)`: `ABS` of the smallest integer is itself, as in Java.
fn abs(args: &[ArrayRef]) -> Result<ArrayRef> {
    let a = &args[0];
    match a.data_type() {
        t if t.is_integer() => map_integers(a, i64::wrapping_abs),
        DataType::Decimal128(..) => Ok(Arc::new(
            a.as_primitive::<Decimal128Type>()
                .unary::<_, Decimal128Type>(i128::wrapping_abs)
                .with_data_type(a.data_type().clone()),
        )),
        DataType::Float32 => Ok(arrow::compute::cast(
            &unary_double(a, f64::abs)?,
            &DataType::Float32,
        )?),
        _ => unary_double(a, f64::abs),
    }
}

/// `SIGN(x)`: -1, 0 or 1 in the type of `x`.
fn sign(args: &[ArrayRef]) -> Result<ArrayRef> {
    let a = &args[0];
    match a.data_type() {
        t if t.is_integer() => map_integers(a, i64::signum),
        DataType::Decimal128(_, s) => {
            let one = 10i128.pow(u32::try_from(*s).unwrap_or(0));
            Ok(Arc::new(
                a.as_primitive::<Decimal128Type>()
                    .unary::<_, Decimal128Type>(|v| v.signum() * one)
                    .with_data_type(a.data_type().clone()),
            ))
        }
        t => {
            let signs = unary_double(a, |v| if v == 0.0 { 0.0 } else { v.signum() })?;
            Ok(arrow::compute::cast(&signs, t)?)
        }
    }
}

/// `FLOOR(x)` and `CEIL(x)` of numbers: integers as they are, decimals to scale 0.
fn round_integral(a: &ArrayRef, f: fn(f64) -> f64) -> Result<ArrayRef> {
    match a.data_type() {
        t if t.is_integer() => Ok(a.clone()),
        DataType::Decimal128(p, s) => {
            let unit = 10i128.pow(u32::try_from(*s).unwrap_or(0));
            let up = f(0.5) == 1.0;
            let values: Decimal128Array = a
                .as_primitive::<Decimal128Type>()
                .unary::<_, Decimal128Type>(|v| {
                    let (q, r) = (v.div_euclid(unit), v.rem_euclid(unit));
                    if up && r != 0 { q + 1 } else { q }
                });
            Ok(Arc::new(values.with_precision_and_scale(*p, 0)?))
        }
        t => Ok(arrow::compute::cast(&unary_double(a, f)?, t)?),
    }
}

/// `ROUND(x [, d])`, half away from zero. A double is rounded as the decimal of its shortest
/// text (Java's `BigDecimal.valueOf`), so `ROUND(1.005, 2)` is 1.01, and -0.0 becomes 0.0.
fn round(args: &[ArrayRef]) -> Result<ArrayRef> {
    let a = &args[0];
    let places: Vec<Option<i64>> = match args.get(1) {
        Some(p) => p.as_primitive::<Int64Type>().iter().collect(),
        None => vec![Some(0); a.len()],
    };
    match a.data_type() {
        t if t.is_integer() => {
            // The number of places is a constant.
            let places = places.iter().flatten().next().copied().unwrap_or(0);
            map_integers(a, |v| round_integer(v, places))
        }
        DataType::Decimal128(..) => {
            // The number of places is a constant, which the result type depends on.
            let places = places.iter().flatten().next().copied().unwrap_or(0);
            to_places(a, places, round_half_up)
        }
        t => {
            let values = doubles(a)?;
            let rounded: Float64Array = values
                .as_primitive::<Float64Type>()
                .iter()
                .zip(&places)
                .map(|(v, p)| Some(round_double(v?, (*p)?)))
                .collect();
            Ok(arrow::compute::cast(&(Arc::new(rounded) as ArrayRef), t)?)
        }
    }
}

/// `ROUND`'s result type: that of its argument, except that a decimal keeps `places` digits
/// (none for negative places) and one more integer digit, for the carry.
fn round_type(args: &[DataType], constants: &[Option<&ScalarValue>]) -> Result<DataType> {
    let places = match constants.get(1) {
        Some(Some(v)) => match v.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(p)) => p,
            _ => 0,
        },
        Some(None) if matches!(args[0], DataType::Decimal128(..)) => {
            return exec_err!("ROUND of a DECIMAL takes a constant number of places");
        }
        _ => 0,
    };
    Ok(match &args[0] {
        DataType::Decimal128(p, s) => decimal_round_type(*p, *s, places),
        other => other.clone(),
    })
}

fn decimal_round_type(p: u8, s: i8, places: i64) -> DataType {
    let (p, s) = (i64::from(p), i64::from(s));
    if places >= s {
        return DataType::Decimal128(p as u8, s as i8);
    }
    let places = places.max(0);
    DataType::Decimal128((1 + p - s + places).min(38) as u8, places as i8)
}

/// `TRUNCATE`'s result type: `ROUND`'s. Flink fails on doubles at run time; rill refuses them.
fn truncate_type(args: &[DataType], constants: &[Option<&ScalarValue>]) -> Result<DataType> {
    if matches!(args[0], DataType::Float32 | DataType::Float64) {
        return not_impl_err!("TRUNCATE of a DOUBLE is not supported yet");
    }
    round_type(args, constants)
}

/// `TRUNCATE(x [, d])`: `x` cut to `d` (default 0) decimal places, toward zero.
fn truncate(args: &[ArrayRef]) -> Result<ArrayRef> {
    let a = &args[0];
    let places = match args.get(1) {
        Some(p) => p
            .as_primitive::<Int64Type>()
            .iter()
            .flatten()
            .next()
            .unwrap_or(0),
        None => 0,
    };
    match a.data_type() {
        t if t.is_integer() => {
            let unit = 10i64.checked_pow((-places).max(0) as u32);
            map_integers(a, |v| unit.map_or(0, |u| v / u * u))
        }
        DataType::Decimal128(..) => to_places(a, places, |v, unit| v / unit),
        other => exec_err!("TRUNCATE of {other} is not supported yet"),
    }
}

/// Decimals `a` with `places` decimal places (`ROUND`'s result type), each value divided by
/// the unit of the last kept digit with `divide` (rounding or truncating).
fn to_places(a: &ArrayRef, places: i64, divide: fn(i128, i128) -> i128) -> Result<ArrayRef> {
    let DataType::Decimal128(p, s) = a.data_type() else {
        return exec_err!("expected a decimal, found {}", a.data_type());
    };
    let result = decimal_round_type(*p, *s, places);
    let DataType::Decimal128(_, to) = result else {
        unreachable!("a decimal")
    };
    // Down to `to` fraction digits, then for negative places to tens, hundreds, ...
    let fraction = 10i128.pow((i32::from(*s) - i32::from(to)).clamp(0, 38) as u32);
    let tens = 10i128.pow(u32::try_from(-places.min(0)).unwrap_or(0).min(38));
    let values: Decimal128Array = a
        .as_primitive::<Decimal128Type>()
        .unary::<_, Decimal128Type>(|v| divide(v, fraction * tens) * tens);
    Ok(Arc::new(values.with_data_type(result)))
}

/// `v / unit` rounded half away from zero.
fn round_half_up(v: i128, unit: i128) -> i128 {
    let (q, r) = (v / unit, v % unit);
    if r.abs() * 2 >= unit {
        q + v.signum()
    } else {
        q
    }
}

fn round_integer(v: i64, places: i64) -> i64 {
    if places >= 0 {
        return v;
    }
    match 10i128.checked_pow(places.unsigned_abs() as u32) {
        Some(unit) => (round_half_up(i128::from(v), unit) * unit) as i64,
        None => 0,
    }
}

fn round_double(v: f64, places: i64) -> f64 {
    if !v.is_finite() {
        return v;
    }
    // Away from a tie, rounding the double itself gives the same: k / 10^places, correctly
    // rounded, is what reading the decimal text of k * 10^-places gives.
    if (0..=15).contains(&places) {
        let scale = 10f64.powi(places as i32);
        let x = v * scale;
        let fraction = (x - x.trunc()).abs();
        if x.abs() < 1e15 && (fraction - 0.5).abs() > 1e-6 {
            return x.round() / scale + 0.0;
        }
    }
    // The shortest text of `v`, rounded as a decimal number.
    let (negative, digits, exp) = shortest_digits(format_args!("{v:e}"));
    let exp = i64::from(exp);
    let digits: Vec<u8> = digits.bytes().map(|d| d - b'0').collect();
    // `digits` d0.d1d2... times 10^exp: keep the digits down to 10^-places.
    let keep = exp + 1 + places;
    if keep < 0 {
        return 0.0;
    }
    let keep = keep as usize;
    if keep >= digits.len() {
        return v + 0.0;
    }
    let mut kept: Vec<u8> = digits[..keep].to_vec();
    if digits[keep] >= 5 {
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, 1);
                break;
            }
            i -= 1;
            if kept[i] == 9 {
                kept[i] = 0;
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    let carried = kept.len() as i64 - keep as i64;
    let mut text = String::with_capacity(kept.len() + 8);
    if negative {
        text.push('-');
    }
    text.push('0');
    for d in &kept {
        text.push((b'0' + d) as char);
    }
    let scale = exp + 1 + carried - kept.len() as i64;
    text.push_str(&format!("e{scale}"));
    text.parse::<f64>().unwrap_or(v) + 0.0
}

/// `LOG(x)` is the natural logarithm; `LOG(b, x)` the logarithm of `x` to base `b`.
fn log(args: &[ArrayRef]) -> Result<ArrayRef> {
    if args.len() == 1 {
        return unary_double(&args[0], f64::ln);
    }
    let (base, x) = (doubles(&args[0])?, doubles(&args[1])?);
    let values: Float64Array = base
        .as_primitive::<Float64Type>()
        .iter()
        .zip(x.as_primitive::<Float64Type>().iter())
        .map(|(b, x)| Some(x?.ln() / b?.ln()))
        .collect();
    Ok(Arc::new(values))
}

/// `BIN(n)`, `HEX(n)`: the digits of the 64-bit two's complement of `n`.
fn radix(array: &ArrayRef, base: u32) -> Result<ArrayRef> {
    let longs = arrow::compute::cast(array, &DataType::Int64)?;
    let mut out = StringBuilder::with_capacity(longs.len(), longs.len() * 16);
    for v in longs.as_primitive::<Int64Type>().iter() {
        match v {
            Some(v) if base == 2 => out.append_value(format!("{:b}", v as u64)),
            Some(v) => out.append_value(format!("{:X}", v as u64)),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// `HEX(n)` or `HEX(s)` (the UTF-8 bytes of `s`, upper case).
fn hex(args: &[ArrayRef]) -> Result<ArrayRef> {
    if args[0].data_type().is_integer() {
        return radix(&args[0], 16);
    }
    let s = strings(&args[0])?;
    let mut out = StringBuilder::with_capacity(s.len(), s.len() * 16);
    for v in s.iter() {
        match v {
            Some(v) => {
                let text: String = v.bytes().map(|b| format!("{b:02X}")).collect();
                out.append_value(text);
            }
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Gives decimal division Flink's result type: scale `max(6, s1 + p2 + 1)`, precision
/// `p1 - s1 + s2 + scale`, both reduced to fit 38 digits; runs after type coercion.
#[derive(Debug)]
pub struct DecimalDivision;

impl AnalyzerRule for DecimalDivision {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        let function = Arc::new(ScalarUDF::new_from_impl(DecimalDivide {
            signature: Signature::any(3, Volatility::Immutable),
        }));
        super::rewrite_expressions(plan, |_| false, |e, schema| divide(e, schema, &function))
    }

    fn name(&self) -> &str {
        "flink_decimal_division"
    }
}

fn divide(e: Expr, schema: &DFSchema, function: &Arc<ScalarUDF>) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Divide,
        right,
    }) = &e
    else {
        return Ok(Transformed::no(e));
    };
    let (DataType::Decimal128(p1, s1), DataType::Decimal128(p2, s2)) =
        (left.get_type(schema)?, right.get_type(schema)?)
    else {
        return Ok(Transformed::no(e));
    };
    let (p1, s1, p2, s2) = (i32::from(p1), i32::from(s1), i32::from(p2), i32::from(s2));
    let mut scale = 6.max(s1 + p2 + 1);
    let mut precision = p1 - s1 + s2 + scale;
    if precision > 38 {
        scale = 6.max(38 - (precision - scale)).min(38);
        precision = 38;
    }
    let target = ScalarValue::Decimal128(None, precision as u8, scale as i8);
    Ok(Transformed::yes(Expr::ScalarFunction(
        ScalarFunction::new_udf(
            function.clone(),
            vec![
                left.as_ref().clone(),
                right.as_ref().clone(),
                Expr::Literal(target, None),
            ],
        ),
    )))
}

/// `rill_divide(a, b, NULL of the result type)`: the quotient rounded half up, NULL when it
/// does not fit, an error when dividing by zero.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DecimalDivide {
    signature: Signature,
}

impl ScalarUDFImpl for DecimalDivide {
    fn name(&self) -> &str {
        "rill_divide"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[2].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let DataType::Decimal128(p, s) = *args.return_field.data_type() else {
            return exec_err!("rill_divide returns a decimal");
        };
        let rows = args.number_rows;
        let a = args.args[0].to_array(rows)?;
        let b = args.args[1].to_array(rows)?;
        let (DataType::Decimal128(_, s1), DataType::Decimal128(_, s2)) =
            (a.data_type(), b.data_type())
        else {
            return exec_err!("rill_divide divides decimals");
        };
        // a / 10^s1 / (b / 10^s2) * 10^s = a * 10^(s - s1 + s2) / b
        let shift = i32::from(s) - i32::from(*s1) + i32::from(*s2);
        let limit = i256::from_i128(10).pow_wrapping(u32::from(p));
        let (a, b) = (
            a.as_primitive::<Decimal128Type>(),
            b.as_primitive::<Decimal128Type>(),
        );
        let mut quotients = Vec::with_capacity(rows);
        for (x, y) in a.iter().zip(b.iter()) {
            let (Some(x), Some(y)) = (x, y) else {
                quotients.push(None);
                continue;
            };
            if y == 0 {
                return exec_err!("Division by zero");
            }
            let (mut x, mut y) = (i256::from_i128(x), i256::from_i128(y));
            let ten = i256::from_i128(10);
            if shift >= 0 {
                x = x.wrapping_mul(ten.pow_wrapping(shift as u32));
            } else {
                y = y.wrapping_mul(ten.pow_wrapping((-shift) as u32));
            }
            let (q, r) = (x.wrapping_div(y), x.wrapping_rem(y));
            let twice = r.wrapping_abs().wrapping_mul(i256::from_i128(2));
            let q = if twice >= y.wrapping_abs() {
                let negative = (x < i256::ZERO) != (y < i256::ZERO);
                q.wrapping_add(if negative { i256::MINUS_ONE } else { i256::ONE })
            } else {
                q
            };
            quotients.push((q.wrapping_abs() < limit).then(|| q.as_i128()));
        }
        let values = Decimal128Array::from(quotients).with_precision_and_scale(p, s)?;
        Ok(ColumnarValue::Array(Arc::new(values)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_round_as_their_shortest_text() {
        assert_eq!(round_double(1.005, 2), 1.01);
        assert_eq!(round_double(2.675, 2), 2.68);
        assert_eq!(round_double(-2.5, 0), -3.0);
        assert_eq!(round_double(9.96, 1), 10.0);
        assert_eq!(round_double(1234.5, -2), 1200.0);
        assert_eq!(round_double(-1e-300, 2).to_bits(), 0.0f64.to_bits());
        assert_eq!(round_double(1e300, 2), 1e300);
        assert_eq!(round_integer(2147483647, -1), 2147483650);
    }
}
