//! Flink's temporal functions: date parts (`EXTRACT`, `YEAR`, ... `SECOND`), `FLOOR`/`CEIL`
//! to a unit, `TIMESTAMPADD`, `TIMESTAMPDIFF`, and conversions from and to text and epoch
//! numbers with Java patterns. Times are UTC, rill's session time zone.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int32Array, Int64Array, IntervalMonthDayNanoArray,
    StringBuilder, TimestampMillisecondArray,
};
use arrow::datatypes::{
    DataType, Date32Type, Int64Type, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit,
    TimeUnit,
};
use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, TimeZone, Timelike};
use datafusion_common::{DFSchema, Result, exec_datafusion_err, exec_err};
use datafusion_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion_expr::{Expr, ExprSchemable, ScalarUDF};
use datafusion_sql::sqlparser::ast::BinaryOperator;

use super::java_time::{Pattern, parse_default};
use super::udf::{Arg, Compiled, Udf, string, strings};
use crate::types::LOCAL_TIME_ZONE;

/// The temporal functions rill has in Flink's form.
pub fn functions() -> Vec<ScalarUDF> {
    use Arg::{Date as D, Integer as I, String as S, Time as Tm, Timestamp as T};
    let temporal = || vec![vec![T], vec![D]];
    let unit_temporal = || vec![vec![S, T], vec![S, D]];
    let mut functions = vec![
        Udf::new(
            "extract",
            vec![vec![S, T], vec![S, D], vec![S, Tm]],
            bigint,
            |a| date_part(unit(&a[0])?, &a[1]),
        ),
        Udf::new("floor_to", unit_temporal(), same_as_last, |a| {
            round_to(unit(&a[0])?, &a[1], false)
        }),
        Udf::new("ceil_to", unit_temporal(), same_as_last, |a| {
            round_to(unit(&a[0])?, &a[1], true)
        }),
        Udf::new(
            "timestampadd",
            vec![vec![S, I, T], vec![S, I, D]],
            same_as_last,
            |a| timestamp_add(unit(&a[0])?, &a[1], &a[2]),
        ),
        Udf::new(
            "timestampdiff",
            vec![vec![S, T, T], vec![S, D, D], vec![S, T, D], vec![S, D, T]],
            |_| DataType::Int32,
            |a| timestamp_diff(unit(&a[0])?, &a[1], &a[2]),
        ),
        Udf::new(
            "date_format",
            vec![vec![T, S], vec![S, S]],
            string,
            date_format,
        ),
        Udf::new(
            "to_timestamp",
            vec![vec![S], vec![S, S]],
            |_| DataType::Timestamp(TimeUnit::Millisecond, None),
            to_timestamp,
        ),
        Udf::new(
            "to_date",
            vec![vec![S], vec![S, S]],
            |_| DataType::Date32,
            to_date,
        ),
        Udf::new(
            "unix_timestamp",
            vec![vec![S], vec![S, S]],
            bigint,
            unix_timestamp,
        ),
        Udf::new(
            "from_unixtime",
            vec![vec![I], vec![I, S]],
            string,
            from_unixtime,
        ),
        Udf::new(
            "to_timestamp_ltz",
            vec![vec![I], vec![I, I]],
            |_| DataType::Timestamp(TimeUnit::Millisecond, Some(LOCAL_TIME_ZONE.into())),
            to_timestamp_ltz,
        ),
        Udf::new("convert_tz", vec![vec![S, S, S]], string, convert_tz),
    ];
    for (name, unit) in [
        ("year", Unit::Year),
        ("quarter", Unit::Quarter),
        ("month", Unit::Month),
        ("week", Unit::Week),
        ("dayofyear", Unit::DayOfYear),
        ("dayofmonth", Unit::Day),
        ("dayofweek", Unit::DayOfWeek),
        ("hour", Unit::Hour),
        ("minute", Unit::Minute),
        ("second", Unit::Second),
    ] {
        let mut forms = temporal();
        if matches!(unit, Unit::Hour | Unit::Minute | Unit::Second) {
            forms.push(vec![Tm]);
        }
        functions.push(Udf::new(name, forms, bigint, move |a| {
            date_part(unit, &a[0])
        }));
    }
    functions
}

fn bigint(_: &[DataType]) -> DataType {
    DataType::Int64
}

fn same_as_last(args: &[DataType]) -> DataType {
    args.last().cloned().unwrap_or(DataType::Null)
}

/// A time unit of `EXTRACT`, `FLOOR ... TO`, `TIMESTAMPADD` and `TIMESTAMPDIFF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
    DayOfWeek,
    DayOfYear,
}

impl Unit {
    /// The length of a unit of fixed length, in seconds.
    fn seconds(self) -> Option<i64> {
        Some(match self {
            Unit::Second => 1,
            Unit::Minute => 60,
            Unit::Hour => 3_600,
            Unit::Day => 86_400,
            Unit::Week => 7 * 86_400,
            _ => return None,
        })
    }

    /// The length of a calendar unit, in months.
    fn months(self) -> Option<u32> {
        Some(match self {
            Unit::Month => 1,
            Unit::Quarter => 3,
            Unit::Year => 12,
            _ => return None,
        })
    }
}

/// The unit named by the first argument (a constant).
fn unit(names: &ArrayRef) -> Result<Unit> {
    let names = strings(names)?;
    let Some(name) = names.iter().flatten().next() else {
        return exec_err!("a time unit is needed");
    };
    Ok(match name.to_ascii_uppercase().as_str() {
        "SECOND" | "SQL_TSI_SECOND" => Unit::Second,
        "MINUTE" | "SQL_TSI_MINUTE" => Unit::Minute,
        "HOUR" | "SQL_TSI_HOUR" => Unit::Hour,
        "DAY" | "SQL_TSI_DAY" => Unit::Day,
        "WEEK" | "SQL_TSI_WEEK" => Unit::Week,
        "MONTH" | "SQL_TSI_MONTH" => Unit::Month,
        "QUARTER" | "SQL_TSI_QUARTER" => Unit::Quarter,
        "YEAR" | "SQL_TSI_YEAR" => Unit::Year,
        "DOW" => Unit::DayOfWeek,
        "DOY" => Unit::DayOfYear,
        other => return exec_err!("the time unit {other} is not supported"),
    })
}

/// Dates or timestamps as whole numbers in their own unit, readable as calendar times.
struct Temporal {
    values: Int64Array,
    /// `None` for dates (days), else the timestamp's unit and zone.
    unit: Option<(TimeUnit, Option<Arc<str>>)>,
}

impl Temporal {
    fn of(array: &ArrayRef) -> Result<Temporal> {
        Ok(match array.data_type() {
            DataType::Date32 => Temporal {
                values: array.as_primitive::<Date32Type>().unary(i64::from),
                unit: None,
            },
            DataType::Timestamp(unit, zone) => Temporal {
                values: arrow::compute::cast(array, &DataType::Int64)?
                    .as_primitive::<Int64Type>()
                    .clone(),
                unit: Some((*unit, zone.clone())),
            },
            other => return exec_err!("expected a date or a timestamp, found {other}"),
        })
    }

    /// Units per second (per day for dates).
    fn per_second(&self) -> i64 {
        match &self.unit {
            None => 1,
            Some((TimeUnit::Second, _)) => 1,
            Some((TimeUnit::Millisecond, _)) => 1_000,
            Some((TimeUnit::Microsecond, _)) => 1_000_000,
            Some((TimeUnit::Nanosecond, _)) => 1_000_000_000,
        }
    }

    fn time(&self, v: i64) -> Option<NaiveDateTime> {
        if self.unit.is_none() {
            return NaiveDate::from_num_days_from_ce_opt(i32::try_from(v).ok()? + 719_163)
                .map(|d| d.and_time(Default::default()));
        }
        let per = self.per_second();
        let nanos = v.rem_euclid(per) * (1_000_000_000 / per);
        DateTime::from_timestamp(v.div_euclid(per), nanos as u32).map(|t| t.naive_utc())
    }

    fn value(&self, t: NaiveDateTime) -> Option<i64> {
        if self.unit.is_none() {
            return Some(i64::from(t.date().num_days_from_ce() - 719_163));
        }
        let per = self.per_second();
        let utc = t.and_utc();
        let sub = i64::from(utc.timestamp_subsec_nanos()) / (1_000_000_000 / per);
        utc.timestamp().checked_mul(per)?.checked_add(sub)
    }

    /// Milliseconds since the epoch.
    fn millis(&self, v: i64) -> i64 {
        match self.unit {
            None => v * 86_400_000,
            Some(_) => {
                let per = self.per_second();
                if per >= 1_000 {
                    v.div_euclid(per / 1_000)
                } else {
                    v * 1_000
                }
            }
        }
    }

    /// `values` as an array of this temporal type.
    fn array(&self, values: Int64Array) -> Result<ArrayRef> {
        Ok(match &self.unit {
            None => Arc::new(values.unary::<_, Date32Type>(|v| v as i32)),
            Some((unit, zone)) => {
                arrow::compute::cast(&values, &DataType::Timestamp(*unit, zone.clone()))?
            }
        })
    }

    /// `f` of every non-NULL time, NULL where it gives `None`.
    fn map(&self, f: impl Fn(NaiveDateTime) -> Option<NaiveDateTime>) -> Result<ArrayRef> {
        let values: Int64Array = self
            .values
            .iter()
            .map(|v| self.value(f(self.time(v?)?)?))
            .collect();
        self.array(values)
    }
}

/// `EXTRACT(unit FROM t)` and `YEAR(t)` ... `SECOND(t)`.
fn date_part(unit: Unit, array: &ArrayRef) -> Result<ArrayRef> {
    if let DataType::Time32(_) = array.data_type() {
        if !matches!(unit, Unit::Hour | Unit::Minute | Unit::Second) {
            return exec_err!("a TIME has hours, minutes and seconds, not {unit:?}");
        }
        return date_part(unit, &super::cast::time_as_timestamp(array)?);
    }
    let t = Temporal::of(array)?;
    let zoneless = matches!(t.unit, Some((_, None)));
    let parts: Int64Array = t
        .values
        .iter()
        .map(|v| {
            let v = v?;
            if zoneless {
                return flink_timestamp_part(unit, t.millis(v));
            }
            date_part_of(unit, t.time(v)?)
        })
        .collect();
    Ok(Arc::new(parts))
}

/// Part `unit` of `t`.
fn date_part_of(unit: Unit, t: NaiveDateTime) -> Option<i64> {
    Some(i64::from(match unit {
        Unit::Second => t.second(),
        Unit::Minute => t.minute(),
        Unit::Hour => t.hour(),
        Unit::Day => t.day(),
        Unit::Week => t.iso_week().week(),
        Unit::Month => t.month(),
        Unit::Quarter => t.month0() / 3 + 1,
        Unit::Year => return Some(i64::from(t.year())),
        // Sunday is 1.
        Unit::DayOfWeek => t.weekday().num_days_from_sunday() + 1,
        Unit::DayOfYear => t.ordinal(),
    }))
}

/// A part of a zone-less `TIMESTAMP` as Flink reads it: the date from its epoch milliseconds
/// divided by a day's with truncation, the time of day from the remainder, so that a time
/// before 1970 falls on the next day with a negative time of day (the oracle shows this).
fn flink_timestamp_part(unit: Unit, millis: i64) -> Option<i64> {
    const DAY: i64 = 86_400_000;
    let (days, rest) = (millis / DAY, millis % DAY);
    Some(match unit {
        Unit::Hour => rest / 3_600_000,
        Unit::Minute => rest / 60_000 % 60,
        Unit::Second => rest / 1_000 % 60,
        _ => {
            let date = NaiveDate::from_num_days_from_ce_opt(i32::try_from(days).ok()? + 719_163)?;
            let day = date.and_time(Default::default());
            return date_part_of(unit, day);
        }
    })
}

/// The start of the `unit` that holds `t`.
fn floor(unit: Unit, t: NaiveDateTime) -> Option<NaiveDateTime> {
    let date = t.date();
    let day = date.and_time(Default::default());
    Some(match unit {
        Unit::Second => t.with_nanosecond(0)?,
        Unit::Minute => t.with_nanosecond(0)?.with_second(0)?,
        Unit::Hour => t.with_nanosecond(0)?.with_second(0)?.with_minute(0)?,
        Unit::Day => day,
        Unit::Month => day.with_day(1)?,
        Unit::Quarter => day.with_day(1)?.with_month(date.month0() / 3 * 3 + 1)?,
        Unit::Year => day.with_day(1)?.with_month(1)?,
        _ => return None,
    })
}

/// `t` plus `n` units.
fn add(unit: Unit, n: i64, t: NaiveDateTime) -> Option<NaiveDateTime> {
    if let Some(seconds) = unit.seconds() {
        return t.checked_add_signed(chrono::TimeDelta::try_seconds(n.checked_mul(seconds)?)?);
    }
    let months = i64::from(unit.months()?).checked_mul(n)?;
    let step = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    if months >= 0 {
        t.checked_add_months(step)
    } else {
        t.checked_sub_months(step)
    }
}

/// `FLOOR(t TO unit)` and `CEIL(t TO unit)`.
fn round_to(unit: Unit, array: &ArrayRef, up: bool) -> Result<ArrayRef> {
    if floor(unit, NaiveDateTime::default()).is_none() {
        return exec_err!("FLOOR and CEIL to {unit:?} are not supported");
    }
    let t = Temporal::of(array)?;
    // A timestamp to a unit of fixed length: arithmetic on the raw values.
    if let (Some(seconds), Some(_)) = (unit.seconds(), &t.unit)
        && unit != Unit::Week
    {
        let length = seconds * t.per_second();
        let values = t.values.unary::<_, Int64Type>(|v| {
            let start = v - v.rem_euclid(length);
            if up && start != v {
                start + length
            } else {
                start
            }
        });
        return t.array(values);
    }
    t.map(|t| {
        let start = floor(unit, t)?;
        if up && start != t {
            add(unit, 1, start)
        } else {
            Some(start)
        }
    })
}

/// `TIMESTAMPADD(unit, n, t)`.
fn timestamp_add(unit: Unit, n: &ArrayRef, array: &ArrayRef) -> Result<ArrayRef> {
    if unit.seconds().is_none() && unit.months().is_none() {
        return exec_err!("TIMESTAMPADD does not take {unit:?}");
    }
    let t = Temporal::of(array)?;
    let n = n.as_primitive::<Int64Type>();
    // A unit of fixed length: arithmetic on the raw values (NULL on overflow).
    if let Some(seconds) = unit.seconds() {
        let per_unit = match t.unit {
            Some(_) => seconds * t.per_second(),
            None if seconds % 86_400 == 0 => seconds / 86_400,
            None => return exec_err!("TIMESTAMPADD of {unit:?} to a DATE is not supported yet"),
        };
        let values: Int64Array = t
            .values
            .iter()
            .zip(n.iter())
            .map(|(v, n)| v?.checked_add(n?.checked_mul(per_unit)?))
            .collect();
        return t.array(values);
    }
    let values: Int64Array = t
        .values
        .iter()
        .zip(n.iter())
        .map(|(v, n)| t.value(add(unit, n?, t.time(v?)?)?))
        .collect();
    t.array(values)
}

/// `TIMESTAMPDIFF(unit, t1, t2)`: whole units from `t1` to `t2`, truncated toward zero.
fn timestamp_diff(unit: Unit, from: &ArrayRef, to: &ArrayRef) -> Result<ArrayRef> {
    let (a, b) = (Temporal::of(from)?, Temporal::of(to)?);
    if unit.seconds().is_none() && unit.months().is_none() {
        return exec_err!("TIMESTAMPDIFF does not take {unit:?}");
    }
    let diffs: Int32Array = a
        .values
        .iter()
        .zip(b.values.iter())
        .map(|(x, y)| {
            let (x, y) = (x?, y?);
            if let Some(seconds) = unit.seconds() {
                let millis = b.millis(y) - a.millis(x);
                return Some((millis / (seconds * 1_000)) as i32);
            }
            let (x, y) = (a.time(x)?, b.time(y)?);
            let mut months = (y.year() - x.year()) * 12 + y.month() as i32 - x.month() as i32;
            // A month is whole once the day and time of day are reached again.
            let rest = |t: NaiveDateTime| (t.day(), t.time());
            if months > 0 && rest(y) < rest(x) {
                months -= 1;
            } else if months < 0 && rest(y) > rest(x) {
                months += 1;
            }
            Some(months / unit.months()? as i32)
        })
        .collect();
    Ok(Arc::new(diffs))
}

/// The calendar times of a temporal argument, or of text read in Flink's default format.
fn times(array: &ArrayRef) -> Result<Vec<Option<NaiveDateTime>>> {
    if matches!(
        array.data_type(),
        DataType::Date32 | DataType::Timestamp(..)
    ) {
        let t = Temporal::of(array)?;
        return Ok(t.values.iter().map(|v| t.time(v?)).collect());
    }
    Ok(strings(array)?.iter().map(|s| parse_default(s?)).collect())
}

/// Java patterns, parsed once per distinct pattern.
struct Patterns(Compiled<std::result::Result<Pattern, String>>);

impl Patterns {
    fn new() -> Self {
        Patterns(Compiled::new())
    }

    fn get(&mut self, pattern: &str) -> Result<&Pattern> {
        match self.0.get(pattern, Pattern::new) {
            Ok(parsed) => Ok(parsed),
            Err(e) => Err(exec_datafusion_err!("date pattern '{pattern}': {e}")),
        }
    }
}

/// Formats `times` with the patterns of `formats` (or `default`), row by row.
fn format_times(
    times: &[Option<NaiveDateTime>],
    formats: Option<&ArrayRef>,
    default: &str,
) -> Result<ArrayRef> {
    let formats = formats.map(strings).transpose()?;
    let mut patterns = Patterns::new();
    let mut out = StringBuilder::with_capacity(times.len(), times.len() * 20);
    // The text of the last time written, and the pattern and key it was written for: times
    // come in runs that are written alike (all of a minute for `HH:mm`).
    let mut text = String::new();
    let mut written = None;
    for (i, t) in times.iter().enumerate() {
        let pattern = match &formats {
            Some(f) if f.is_null(i) => None,
            Some(f) => Some(f.value(i)),
            None => Some(default),
        };
        match (t, pattern) {
            (Some(t), Some(pattern)) => {
                let compiled = patterns.get(pattern)?;
                let key = Some((pattern, compiled.text_key(t)));
                if written != key {
                    text.clear();
                    compiled.format(t, &mut text);
                    written = key;
                }
                out.append_value(&text);
            }
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// `DATE_FORMAT(t, pattern)`.
fn date_format(args: &[ArrayRef]) -> Result<ArrayRef> {
    format_times(&times(&args[0])?, Some(&args[1]), "")
}

/// The times of text `args[0]` read with pattern `args[1]` (Flink's default format without).
fn parse_times(args: &[ArrayRef]) -> Result<Vec<Option<NaiveDateTime>>> {
    let text = strings(&args[0])?;
    let Some(formats) = args.get(1) else {
        return Ok(text.iter().map(|s| parse_default(s?)).collect());
    };
    let formats = strings(formats)?;
    let mut patterns = Patterns::new();
    (0..text.len())
        .map(|i| {
            if text.is_null(i) || formats.is_null(i) {
                return Ok(None);
            }
            Ok(patterns.get(formats.value(i))?.parse(text.value(i)))
        })
        .collect()
}

/// `TO_TIMESTAMP(text [, pattern])`: NULL where the text does not match.
fn to_timestamp(args: &[ArrayRef]) -> Result<ArrayRef> {
    let times = parse_times(args)?;
    let millis: TimestampMillisecondArray = times
        .iter()
        .map(|t| t.map(|t| t.and_utc().timestamp_millis()))
        .collect();
    Ok(Arc::new(millis))
}

/// `TO_DATE(text [, pattern])`.
fn to_date(args: &[ArrayRef]) -> Result<ArrayRef> {
    let times = parse_times(args)?;
    let days: Date32Array = times
        .iter()
        .map(|t| t.map(|t| t.date().num_days_from_ce() - 719_163))
        .collect();
    Ok(Arc::new(days))
}

/// `UNIX_TIMESTAMP(text [, pattern])`: seconds since the epoch, `Long.MIN_VALUE` where the
/// text does not match (as Flink says).
fn unix_timestamp(args: &[ArrayRef]) -> Result<ArrayRef> {
    let text = strings(&args[0])?;
    let times = parse_times(args)?;
    let seconds: Int64Array = times
        .iter()
        .enumerate()
        .map(|(i, t)| (!text.is_null(i)).then(|| t.map_or(i64::MIN, |t| t.and_utc().timestamp())))
        .collect();
    Ok(Arc::new(seconds))
}

/// `FROM_UNIXTIME(seconds [, pattern])`.
fn from_unixtime(args: &[ArrayRef]) -> Result<ArrayRef> {
    if args.len() == 1 {
        // The default format is the text of a TIMESTAMP(0), for any year.
        let seconds = arrow::compute::cast(&args[0], &DataType::Timestamp(TimeUnit::Second, None))?;
        return super::cast::to_text(&seconds);
    }
    let seconds = args[0].as_primitive::<Int64Type>();
    let times: Vec<Option<NaiveDateTime>> = seconds
        .iter()
        .map(|s| DateTime::from_timestamp(s?, 0).map(|t| t.naive_utc()))
        .collect();
    format_times(&times, args.get(1), "yyyy-MM-dd HH:mm:ss")
}

/// `TO_TIMESTAMP_LTZ(n [, precision])`: `n` seconds (precision 0) or milliseconds (3, the
/// default) since the epoch.
fn to_timestamp_ltz(args: &[ArrayRef]) -> Result<ArrayRef> {
    let n = args[0].as_primitive::<Int64Type>();
    let precision = args.get(1).map(|p| p.as_primitive::<Int64Type>());
    let millis: TimestampMillisecondArray = (0..n.len())
        .map(|i| {
            let scale = match precision {
                None => 1,
                Some(p) if p.is_null(i) => return Ok(None),
                Some(p) => match p.value(i) {
                    0 => 1_000,
                    3 => 1,
                    other => {
                        return exec_err!("TO_TIMESTAMP_LTZ takes precision 0 or 3, not {other}");
                    }
                },
            };
            Ok(n.is_valid(i).then(|| n.value(i).wrapping_mul(scale)))
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(millis.with_timezone(LOCAL_TIME_ZONE)))
}

/// `CONVERT_TZ(text, from_zone, to_zone)`.
fn convert_tz(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (text, from, to) = (strings(&args[0])?, strings(&args[1])?, strings(&args[2])?);
    let zone = |name: &str| -> Result<chrono_tz::Tz> {
        name.parse()
            .map_err(|_| exec_datafusion_err!("unknown time zone '{name}'"))
    };
    let times: Vec<Option<NaiveDateTime>> = (0..text.len())
        .map(|i| {
            if text.is_null(i) || from.is_null(i) || to.is_null(i) {
                return Ok(None);
            }
            let Some(local) = parse_default(text.value(i)) else {
                return Ok(None);
            };
            let (from, to) = (zone(from.value(i))?, zone(to.value(i))?);
            Ok(from
                .from_local_datetime(&local)
                .earliest()
                .map(|t| t.with_timezone(&to).naive_local()))
        })
        .collect::<Result<_>>()?;
    format_times(&times, None, "yyyy-MM-dd HH:mm:ss")
}

/// Plans `interval * n` and `n * interval` for an integer `n`, which DataFusion refuses, as
/// `rill_interval_times(interval, n)`: each part of the interval times `n`, as in Flink.
#[derive(Debug)]
pub struct IntervalProducts(Arc<ScalarUDF>);

impl IntervalProducts {
    pub fn new() -> Self {
        let times = Udf::new(
            "rill_interval_times",
            vec![vec![Arg::Any, Arg::Integer]],
            |_| DataType::Interval(IntervalUnit::MonthDayNano),
            interval_times,
        );
        IntervalProducts(Arc::new(times))
    }
}

impl ExprPlanner for IntervalProducts {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let interval = |e: &Expr| matches!(e.get_type(schema), Ok(DataType::Interval(_)));
        let integer = |e: &Expr| e.get_type(schema).is_ok_and(|t| t.is_integer());
        if expr.op != BinaryOperator::Multiply {
            return Ok(PlannerResult::Original(expr));
        }
        let args = match (&expr.left, &expr.right) {
            (l, r) if interval(l) && integer(r) => vec![expr.left, expr.right],
            (l, r) if integer(l) && interval(r) => vec![expr.right, expr.left],
            _ => return Ok(PlannerResult::Original(expr)),
        };
        Ok(PlannerResult::Planned(self.0.call(args)))
    }
}

/// Each interval of `args[0]` times the integer of `args[1]`; an overflow fails the query.
fn interval_times(args: &[ArrayRef]) -> Result<ArrayRef> {
    let unit = DataType::Interval(IntervalUnit::MonthDayNano);
    let intervals = arrow::compute::cast(&args[0], &unit)?;
    let intervals = intervals.as_primitive::<IntervalMonthDayNanoType>();
    let factors = args[1].as_primitive::<Int64Type>();
    // The days and time multiply as one span (Flink's milliseconds), put back as whole days
    // and the time past them, which keeps the nanoseconds from overflowing.
    const DAY: i128 = 86_400_000_000_000;
    let product = |i: IntervalMonthDayNano, n: i64| {
        let months = i.months.checked_mul(i32::try_from(n).ok()?)?;
        let span = (i128::from(i.days) * DAY + i128::from(i.nanoseconds)).checked_mul(n.into())?;
        let days = i32::try_from(span / DAY).ok()?;
        Some(IntervalMonthDayNano::new(months, days, (span % DAY) as i64))
    };
    let products = (intervals.iter().zip(factors.iter()))
        .map(|pair| match pair {
            (Some(i), Some(n)) => match product(i, n) {
                Some(p) => Ok(Some(p)),
                None => exec_err!("an interval times {n} overflows"),
            },
            _ => Ok(None),
        })
        .collect::<Result<IntervalMonthDayNanoArray>>()?;
    Ok(Arc::new(products))
}
