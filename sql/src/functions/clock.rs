//! The functions that read the clock: `PROCTIME()`, `NOW()`, `CURRENT_TIMESTAMP`,
//! `CURRENT_ROW_TIMESTAMP()`, `LOCALTIMESTAMP`, `LOCALTIME`, `CURRENT_TIME` and `CURRENT_DATE`,
//! with Flink's types (rill's local time zone is UTC).
//!
//! As in a Flink streaming job, they are read when rows are computed, never folded into a
//! constant when the query is planned: a standing query's `WHERE ts > NOW() - INTERVAL '1'
//! HOUR` moves with time. rill reads the clock once per batch (Flink once per row), so the
//! rows of a batch share one value. A column of `PROCTIME()` is a processing-time attribute,
//! what `FOR SYSTEM_TIME AS OF` names for a lookup join. Their values depend on when the job
//! runs; nothing rill computes on event time reads them.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion_common::{Result, ScalarValue};
use datafusion_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::types::LOCAL_TIME_ZONE;

/// The processing-time function's name.
pub const PROCTIME: &str = "proctime";

/// SQL's clock keywords, written without parentheses; each names its result column, as in
/// Flink.
pub const KEYWORDS: [&str; 5] = [
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "LOCALTIME",
    "LOCALTIMESTAMP",
];

const MILLIS_PER_DAY: i64 = 86_400_000;

/// What a clock function gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Reading {
    /// The instant, a `TIMESTAMP_LTZ(3)`.
    Instant,
    /// The local date and time, a `TIMESTAMP(3)`.
    LocalTimestamp,
    /// The local time of day, a `TIME(0)`.
    LocalTime,
    /// The local date, a `DATE`.
    LocalDate,
}

/// The functions, to register.
pub fn functions() -> Vec<ScalarUDF> {
    use Reading::*;
    [
        (PROCTIME, Instant),
        ("now", Instant),
        ("current_timestamp", Instant),
        ("current_row_timestamp", Instant),
        ("localtimestamp", LocalTimestamp),
        ("localtime", LocalTime),
        ("current_time", LocalTime),
        ("current_date", LocalDate),
    ]
    .into_iter()
    .map(|(name, reading)| {
        ScalarUDF::new_from_impl(Clock {
            name,
            reading,
            // Volatile: read when rows are computed, never folded into a constant when planning.
            signature: Signature::nullary(Volatility::Volatile),
        })
    })
    .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Clock {
    name: &'static str,
    reading: Reading,
    signature: Signature,
}

impl Reading {
    fn data_type(self) -> DataType {
        match self {
            Reading::Instant => {
                DataType::Timestamp(TimeUnit::Millisecond, Some(LOCAL_TIME_ZONE.into()))
            }
            Reading::LocalTimestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
            Reading::LocalTime => DataType::Time32(TimeUnit::Second),
            Reading::LocalDate => DataType::Date32,
        }
    }

    /// The value at `millis` since the epoch (UTC, rill's local time zone).
    fn at(self, millis: i64) -> ScalarValue {
        match self {
            Reading::Instant => {
                ScalarValue::TimestampMillisecond(Some(millis), Some(LOCAL_TIME_ZONE.into()))
            }
            Reading::LocalTimestamp => ScalarValue::TimestampMillisecond(Some(millis), None),
            Reading::LocalTime => {
                ScalarValue::Time32Second(Some((millis.rem_euclid(MILLIS_PER_DAY) / 1000) as i32))
            }
            Reading::LocalDate => {
                ScalarValue::Date32(Some(millis.div_euclid(MILLIS_PER_DAY) as i32))
            }
        }
    }
}

impl ScalarUDFImpl for Clock {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.reading.data_type())
    }

    fn return_field_from_args(&self, _: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            self.name,
            self.reading.data_type(),
            false,
        )))
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Ok(ColumnarValue::Scalar(self.reading.at(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_readings_split_an_instant_into_date_and_time_of_day() {
        // 2024-03-05 07:08:09.123 UTC, and an instant before the epoch.
        let millis = 1_709_622_489_123;
        assert_eq!(
            Reading::LocalDate.at(millis),
            ScalarValue::Date32(Some(19_787))
        );
        assert_eq!(
            Reading::LocalTime.at(millis),
            ScalarValue::Time32Second(Some(7 * 3600 + 8 * 60 + 9))
        );
        assert_eq!(
            Reading::LocalTimestamp.at(millis),
            ScalarValue::TimestampMillisecond(Some(millis), None)
        );
        assert_eq!(Reading::LocalDate.at(-1), ScalarValue::Date32(Some(-1)));
        assert_eq!(
            Reading::LocalTime.at(-1000),
            ScalarValue::Time32Second(Some(86_399))
        );
    }
}
