//! `PROCTIME()`: the processing time, a `TIMESTAMP_LTZ(3)` read from the clock when a batch of
//! rows is computed (one value per batch). A column of it is a processing-time attribute: what
//! `FOR SYSTEM_TIME AS OF` names for a lookup join. Its values depend on when the job runs, as
//! in Flink; nothing rill computes on event time reads them.

use std::time::{SystemTime, UNIX_EPOCH};

use arrow::datatypes::{DataType, TimeUnit};
use datafusion_common::{Result, ScalarValue};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::types::LOCAL_TIME_ZONE;

/// The function's name.
pub const PROCTIME: &str = "proctime";

/// The function, to register.
pub fn function() -> ScalarUDF {
    ScalarUDF::new_from_impl(Proctime {
        // Volatile: read when rows are computed, never folded into a constant when planning.
        signature: Signature::nullary(Volatility::Volatile),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Proctime {
    signature: Signature,
}

impl ScalarUDFImpl for Proctime {
    fn name(&self) -> &str {
        PROCTIME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(
            TimeUnit::Millisecond,
            Some(LOCAL_TIME_ZONE.into()),
        ))
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Ok(ColumnarValue::Scalar(ScalarValue::TimestampMillisecond(
            Some(now),
            Some(LOCAL_TIME_ZONE.into()),
        )))
    }
}
