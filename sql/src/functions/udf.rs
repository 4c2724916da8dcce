//! One shape for rill's scalar functions: a name, a signature, a result type and a kernel
//! over whole Arrow arrays (scalar arguments arrive as arrays of the batch's length).

use std::borrow::Cow;
use std::hash::{Hash, Hasher};

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, StringArray};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion_common::types::{logical_date, logical_string};
use datafusion_common::{Result, ScalarValue, exec_err};
use datafusion_expr::{
    Coercion, ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, TypeSignature, TypeSignatureClass, Volatility,
};

/// A kernel: the argument arrays, all of the batch's length, to the result array.
pub type Kernel = Box<dyn Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync>;

/// A scalar function with a fixed result type computed from its argument types.
pub struct Udf {
    name: &'static str,
    signature: Signature,
    /// The argument kinds of each form.
    forms: Vec<Vec<Arg>>,
    returns: Returns,
    kernel: Kernel,
}

/// How a function's result type follows from its arguments.
enum Returns {
    /// From their types.
    Types(fn(&[DataType]) -> DataType),
    /// From their types and the values of the constant ones.
    Constants(fn(&[DataType], &[Option<&ScalarValue>]) -> Result<DataType>),
}

impl std::fmt::Debug for Udf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Udf").field("name", &self.name).finish()
    }
}

impl Udf {
    /// A function `name` taking any of `forms` (lists of argument kinds).
    #[allow(clippy::new_ret_no_self)] // Built functions are DataFusion's `ScalarUDF`s.
    pub fn new(
        name: &'static str,
        forms: Vec<Vec<Arg>>,
        returns: fn(&[DataType]) -> DataType,
        kernel: impl Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync + 'static,
    ) -> ScalarUDF {
        Udf::with_forms(name, forms, Returns::Types(returns), Box::new(kernel))
    }

    /// A function whose result type depends on the values of constant arguments.
    pub fn with_constants(
        name: &'static str,
        forms: Vec<Vec<Arg>>,
        returns: fn(&[DataType], &[Option<&ScalarValue>]) -> Result<DataType>,
        kernel: impl Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync + 'static,
    ) -> ScalarUDF {
        Udf::with_forms(name, forms, Returns::Constants(returns), Box::new(kernel))
    }

    /// A function `name` taking one or more strings.
    pub fn variadic(
        name: &'static str,
        returns: fn(&[DataType]) -> DataType,
        kernel: impl Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync + 'static,
    ) -> ScalarUDF {
        let signature = Signature::variadic(vec![DataType::Utf8], Volatility::Immutable);
        Udf::build(
            name,
            signature,
            vec![],
            Returns::Types(returns),
            Box::new(kernel),
        )
    }

    /// A function `name` taking one or more values of any types.
    pub fn variadic_any(
        name: &'static str,
        returns: fn(&[DataType]) -> DataType,
        kernel: impl Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync + 'static,
    ) -> ScalarUDF {
        let signature = Signature::variadic_any(Volatility::Immutable);
        Udf::build(
            name,
            signature,
            vec![],
            Returns::Types(returns),
            Box::new(kernel),
        )
    }

    fn with_forms(
        name: &'static str,
        forms: Vec<Vec<Arg>>,
        returns: Returns,
        kernel: Kernel,
    ) -> ScalarUDF {
        let signatures = forms
            .iter()
            .map(|args| match args.as_slice() {
                [] => TypeSignature::Nullary,
                _ => TypeSignature::Coercible(args.iter().map(|a| a.coercion()).collect()),
            })
            .collect();
        let signature = Signature::one_of(signatures, Volatility::Immutable);
        Udf::build(name, signature, forms, returns, kernel)
    }

    fn build(
        name: &'static str,
        signature: Signature,
        forms: Vec<Vec<Arg>>,
        returns: Returns,
        kernel: Kernel,
    ) -> ScalarUDF {
        ScalarUDF::new_from_impl(Udf {
            name,
            signature,
            forms,
            returns,
            kernel,
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
        match self.returns {
            Returns::Types(returns) => Ok(returns(args)),
            Returns::Constants(returns) => returns(args, &vec![None; args.len()]),
        }
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let data_type = match self.returns {
            Returns::Types(returns) => returns(&types),
            Returns::Constants(returns) => returns(&types, args.scalar_arguments)?,
        };
        Ok(Arc::new(Field::new(self.name, data_type, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let mut arrays = ColumnarValue::values_to_arrays(&args.args)?;
        // Integer arguments reach the kernel as BIGINT, whatever integer type they have.
        let form = self.forms.iter().find(|f| f.len() == arrays.len());
        for (array, kind) in arrays.iter_mut().zip(form.into_iter().flatten()) {
            if matches!(kind, Arg::Integer) && array.data_type().is_integer() {
                *array = arrow::compute::cast(array, &DataType::Int64)?;
            }
        }
        let result = (self.kernel)(&arrays)?;
        Ok(if all_scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)
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
    /// Any integer, as BIGINT (integer literals stay constants for the result type).
    Integer,
    /// Any number, passed as it is.
    Number,
    /// Any value, passed as it is.
    Any,
    /// Any timestamp, passed as it is.
    Timestamp,
    /// A date.
    Date,
    /// Any binary string, passed as it is (read it with [`byte_strings`]).
    Bytes,
    /// A time of day.
    Time,
}

impl Arg {
    fn coercion(self) -> Coercion {
        match self {
            Arg::String => Coercion::new_exact(TypeSignatureClass::Native(logical_string())),
            Arg::Integer => Coercion::new_exact(TypeSignatureClass::Integer),
            Arg::Number => Coercion::new_exact(TypeSignatureClass::Numeric),
            Arg::Any => Coercion::new_exact(TypeSignatureClass::Any),
            Arg::Timestamp => Coercion::new_exact(TypeSignatureClass::Timestamp),
            Arg::Date => Coercion::new_exact(TypeSignatureClass::Native(logical_date())),
            Arg::Bytes => Coercion::new_exact(TypeSignatureClass::Binary),
            Arg::Time => Coercion::new_exact(TypeSignatureClass::Time),
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

/// A string or binary string argument's bytes (a string's UTF-8) as a `BinaryArray`.
pub fn byte_strings(array: &ArrayRef) -> Result<BinaryArray> {
    Ok(match array.data_type() {
        DataType::Binary => array.as_binary::<i32>().clone(),
        DataType::Utf8 => BinaryArray::from(array.as_string::<i32>().clone()),
        DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
            BinaryArray::from(strings(array)?.into_owned())
        }
        _ => arrow::compute::cast(array, &DataType::Binary)?
            .as_binary::<i32>()
            .clone(),
    })
}

/// The result type of a function returning BYTES.
pub fn bytes(_: &[DataType]) -> DataType {
    DataType::Binary
}

/// The result type of a function returning STRING.
pub fn string(_: &[DataType]) -> DataType {
    DataType::Utf8
}

/// The result type of a function returning INT.
pub fn int(_: &[DataType]) -> DataType {
    DataType::Int32
}

/// The result type of a function returning BIGINT.
pub fn bigint(_: &[DataType]) -> DataType {
    DataType::Int64
}

/// The result type of a function returning BOOLEAN.
pub fn boolean(_: &[DataType]) -> DataType {
    DataType::Boolean
}

/// What a constant argument (a pattern, a path) compiles to, compiled once per distinct value
/// as a kernel goes through its rows.
pub struct Compiled<T> {
    last: Option<(String, T)>,
}

impl<T> Compiled<T> {
    pub fn new() -> Self {
        Compiled { last: None }
    }

    /// What `text` compiles to with `compile`, reused while the text stays the same.
    pub fn get(&mut self, text: &str, compile: impl FnOnce(&str) -> T) -> &mut T {
        if self.last.as_ref().is_none_or(|(t, _)| t != text) {
            self.last = Some((text.to_string(), compile(text)));
        }
        &mut self.last.as_mut().expect("just set").1
    }
}
