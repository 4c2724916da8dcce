//! `CURRENT_WATERMARK(rowtime)`: the watermark current before each row (NULL before the
//! first), of the time attribute's type, as Flink gives it. The stream planner computes it in
//! the `SELECT` or `WHERE` that calls it, from a column of the rows' watermarks the step adds;
//! the function here types the call.

use arrow::datatypes::{DataType, TimeUnit};
use datafusion_common::{Result, exec_err, plan_err};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The function's name.
pub const CURRENT_WATERMARK: &str = "current_watermark";

/// The function, to register.
pub fn function() -> ScalarUDF {
    ScalarUDF::new_from_impl(CurrentWatermark {
        // Volatile: never folded into a constant, nor moved.
        signature: Signature::any(1, Volatility::Volatile),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CurrentWatermark {
    signature: Signature,
}

impl ScalarUDFImpl for CurrentWatermark {
    fn name(&self) -> &str {
        CURRENT_WATERMARK
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            DataType::Timestamp(_, zone) => {
                Ok(DataType::Timestamp(TimeUnit::Millisecond, zone.clone()))
            }
            other => plan_err!("CURRENT_WATERMARK takes a time attribute, not a value of {other}"),
        }
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        exec_err!("CURRENT_WATERMARK is computed by the SELECT or WHERE that calls it")
    }
}
