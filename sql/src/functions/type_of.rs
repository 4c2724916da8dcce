//! `TYPEOF(x [, force_serializable])`: the name of `x`'s type as Flink writes it (`INT`,
//! `DECIMAL(10, 2)`, `TIMESTAMP_LTZ(3)`), with ` NOT NULL` for an expression that cannot be
//! NULL (a literal). rill has no types whose serializable name differs, so the second
//! argument changes nothing.

use arrow::datatypes::DataType;
use datafusion_common::{Result, ScalarValue};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use rill_engine::format::sql_type_name;

/// The function, to register.
pub fn function() -> ScalarUDF {
    ScalarUDF::new_from_impl(TypeOf {
        signature: Signature::one_of(
            vec![TypeSignature::Any(1), TypeSignature::Any(2)],
            Volatility::Immutable,
        ),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TypeOf {
    signature: Signature,
}

impl ScalarUDFImpl for TypeOf {
    fn name(&self) -> &str {
        "typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let field = &args.arg_fields[0];
        let mut name = sql_type_name(field.data_type());
        if !field.is_nullable() {
            name.push_str(" NOT NULL");
        }
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))))
    }
}
