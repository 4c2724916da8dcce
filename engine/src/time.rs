//! Event time: watermarks and timestamp conversion.
//!
//! Watermarks are milliseconds since the epoch, as in Flink. [`NO_WATERMARK`] is the watermark
//! before any row; [`MAX_WATERMARK`] is emitted when a bounded input ends, so every event-time
//! window fires.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, TimeUnit};

use crate::{EngineError, Result};

/// A watermark: every later row with an event time at or below it is late.
pub type Watermark = i64;

/// The watermark before any row has been seen.
pub const NO_WATERMARK: Watermark = i64::MIN;

/// The watermark a bounded source emits at end of input.
pub const MAX_WATERMARK: Watermark = i64::MAX;

/// Milliseconds per unit of a timestamp column, as a (multiplier, divisor) pair.
fn millis_scale(unit: TimeUnit) -> (i64, i64) {
    match unit {
        TimeUnit::Second => (1000, 1),
        TimeUnit::Millisecond => (1, 1),
        TimeUnit::Microsecond => (1, 1000),
        TimeUnit::Nanosecond => (1, 1_000_000),
    }
}

/// Calls `f` with each row's event time in milliseconds (`None` for NULL) of a timestamp column.
pub fn for_each_millis(array: &ArrayRef, mut f: impl FnMut(Option<i64>)) -> Result<()> {
    let DataType::Timestamp(unit, _) = array.data_type() else {
        return Err(EngineError::Other(format!(
            "event time must be a TIMESTAMP, found {}",
            array.data_type()
        )));
    };
    let (mul, div) = millis_scale(*unit);
    // Timestamps share Int64's layout: the cast reinterprets the buffer without copying.
    let ints = arrow::compute::cast(array, &DataType::Int64)?;
    let values = ints.as_primitive::<arrow::datatypes::Int64Type>().values();
    let nulls = array.logical_nulls();
    for (i, v) in values.iter().enumerate() {
        if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
            f(None);
        } else {
            f(Some((v * mul).div_euclid(div)));
        }
    }
    Ok(())
}
