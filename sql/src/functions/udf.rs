//! One shape for rill's scalar functions: a name, a signature, a result type and a kernel
//! over whole Arrow arrays (scalar arguments arrive as arrays of the batch's length).

use std::borrow::Cow;
use std::hash::{Hash, Hasher};

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::types::{NativeType, logical_date, logical_int64, logical_string};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    Coercion, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, TypeSignatureClass, Volatility,
};

/// A kernel: the argument arrays, all of the batch's length, to the result array.
pub type Kernel = Box<dyn Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync>;

/// A scalar function with a fixed result type computed from its argument types.
pub struct Udf {
    name: &'static str,
    signature: Signature,
    returns: fn(&[DataType]) -> DataType,
    kernel: Kernel,
}

impl std::fmt::Debug for Udf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Udf").field("name", &self.name).finish()
    }
}

impl Udf {
    /// A function `name` taking any of `forms` (lists of argument kinds).
    pub fn new(
        name: &'static str,
        forms: Vec<Vec<Arg>>,
        returns: fn(&[DataType]) -> DataType,
        kernel: impl Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync + 'static,
    ) -> ScalarUDF {
        let forms = forms
            .into_iter()
            .map(|args| TypeSignature::Coercible(args.into_iter().map(Arg::coercion).collect()))
            .collect();
        ScalarUDF::new_from_impl(Udf {
            name,
            signature: Signature::one_of(forms, Volatility::Immutable),
            returns,
            kernel: Box::new(kernel),
        })
    }
}

impl Udf {
    /// A function `name` taking one or more strings.
    pub fn variadic(
        name: &'static str,
        returns: fn(&[DataType]) -> DataType,
        kernel: impl Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync + 'static,
    ) -> ScalarUDF {
        ScalarUDF::new_from_impl(Udf {
            name,
            signature: Signature::variadic(vec![DataType::Utf8], Volatility::Immutable),
            returns,
            kernel: Box::new(kernel),
        })
    }
}

impl PartialEq for Udf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Udf {}

impl Hash for Udf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for Udf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok((self.returns)(args))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let result = (self.kernel)(&arrays)?;
        Ok(if all_scalar {
            ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&result, 0)?)
        } else {
            ColumnarValue::Array(result)
        })
    }
}

/// The kind of an argument: what it is coerced to before the kernel sees it.
#[derive(Debug, Clone, Copy)]
pub enum Arg {
    /// Any string type, passed as it is (read it with [`strings`]).
    String,
    /// Any integer, as BIGINT.
    Integer,
    /// Any timestamp, passed as it is.
    Timestamp,
    /// A date.
    Date,
}

impl Arg {
    fn coercion(self) -> Coercion {
        match self {
            Arg::String => Coercion::new_exact(TypeSignatureClass::Native(logical_string())),
            Arg::Integer => Coercion::new_implicit(
                TypeSignatureClass::Native(logical_int64()),
                vec![TypeSignatureClass::Integer],
                NativeType::Int64,
            ),
            Arg::Timestamp => Coercion::new_exact(TypeSignatureClass::Timestamp),
            Arg::Date => Coercion::new_exact(TypeSignatureClass::Native(logical_date())),
        }
    }
}

/// A string argument as a `StringArray` (cast from the other string types if need be).
pub fn strings(array: &ArrayRef) -> Result<Cow<'_, StringArray>> {
    match array.data_type() {
        DataType::Utf8 => Ok(Cow::Borrowed(array.as_string::<i32>())),
        DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
            let cast = arrow::compute::cast(array, &DataType::Utf8)?;
            Ok(Cow::Owned(cast.as_string::<i32>().clone()))
        }
        other => exec_err!("expected a string, found {other}"),
    }
}

/// The result type of a function returning STRING.
pub fn string(_: &[DataType]) -> DataType {
    DataType::Utf8
}

/// The result type of a function returning INT.
pub fn int(_: &[DataType]) -> DataType {
    DataType::Int32
}

/// The result type of a function returning BOOLEAN.
pub fn boolean(_: &[DataType]) -> DataType {
    DataType::Boolean
}
