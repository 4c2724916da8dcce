//! `RAND([seed])` and `RAND_INTEGER([seed,] bound)`, drawn from Java's `java.util.Random` as
//! Flink draws them, so that a seeded call gives Flink's numbers.
//!
//! A call with a constant seed starts one generator, which each row it computes advances:
//! Flink's sequence, for rows in the order the call sees them (those of one source at
//! parallelism 1, as in Flink). A seed read from a column seeds a new generator per row, and a
//! call without one a generator seeded from the operating system. A NULL argument gives NULL
//! and draws nothing. Each call in a query has its own generator ([`with_own_generators`]).

use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int32Array};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, FieldRef, Int32Type};
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{Result, ScalarValue, exec_err};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::{
    Coercion, ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, TypeSignature, TypeSignatureClass, Volatility,
};

/// The functions, to register.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(Rand::new(Draw::Double)),
        ScalarUDF::new_from_impl(Rand::new(Draw::Integer)),
    ]
}

/// `expr` with each `RAND` and `RAND_INTEGER` call given a generator of its own, started at
/// its first row: what a query's calls are before they compute rows.
pub fn with_own_generators(expr: Expr) -> Result<Expr> {
    expr.transform_up(|e| match e {
        Expr::ScalarFunction(ScalarFunction { func, args }) => {
            match func.inner().downcast_ref::<Rand>() {
                Some(rand) => {
                    let func = Arc::new(ScalarUDF::new_from_impl(Rand::new(rand.draw)));
                    Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction {
                        func,
                        args,
                    })))
                }
                None => Ok(Transformed::no(Expr::ScalarFunction(ScalarFunction {
                    func,
                    args,
                }))),
            }
        }
        e => Ok(Transformed::no(e)),
    })
    .map(|t| t.data)
}

/// What a call draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Draw {
    /// `RAND`: a DOUBLE in [0, 1).
    Double,
    /// `RAND_INTEGER`: an INT in [0, bound).
    Integer,
}

/// A call's generator; `id` tells calls apart.
#[derive(Debug)]
struct Rand {
    draw: Draw,
    id: u64,
    signature: Signature,
    /// The generator of a call with a constant seed or none, once it has drawn.
    generator: Mutex<Option<JavaRandom>>,
}

impl Rand {
    fn new(draw: Draw) -> Self {
        static IDS: AtomicU64 = AtomicU64::new(0);
        let int = || Coercion::new_exact(TypeSignatureClass::Integer);
        let forms = match draw {
            Draw::Double => vec![
                TypeSignature::Nullary,
                TypeSignature::Coercible(vec![int()]),
            ],
            Draw::Integer => vec![
                TypeSignature::Coercible(vec![int()]),
                TypeSignature::Coercible(vec![int(), int()]),
            ],
        };
        Rand {
            draw,
            id: IDS.fetch_add(1, Ordering::Relaxed),
            signature: Signature::one_of(forms, Volatility::Volatile),
            generator: Mutex::new(None),
        }
    }

    /// The seed, the bound if any, of a call's arguments.
    fn seed_and_bound(
        &self,
        args: Vec<ColumnarValue>,
    ) -> (Option<ColumnarValue>, Option<ColumnarValue>) {
        let mut args = args.into_iter();
        match self.draw {
            Draw::Double => (args.next(), None),
            Draw::Integer if args.len() == 2 => (args.next(), args.next()),
            Draw::Integer => (None, args.next()),
        }
    }
}

impl PartialEq for Rand {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Rand {}

impl Hash for Rand {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl ScalarUDFImpl for Rand {
    fn name(&self) -> &str {
        match self.draw {
            Draw::Double => "rand",
            Draw::Integer => "rand_integer",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.draw {
            Draw::Double => DataType::Float64,
            Draw::Integer => DataType::Int32,
        })
    }

    /// NOT NULL unless an argument may be NULL, as in Flink.
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        let data_type = self.return_type(&[])?;
        Ok(Arc::new(Field::new(self.name(), data_type, nullable)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let (seed, bound) = self.seed_and_bound(args.args);
        let bounds = bound
            .map(|b| b.into_array(rows))
            .transpose()?
            .map(|b| ints(&b))
            .transpose()?;
        let bound_at = |row: usize| -> Result<Option<i32>> {
            match &bounds {
                None => Ok(Some(0)),
                Some(b) if b.is_null(row) => Ok(None),
                Some(b) if b.value(row) <= 0 => {
                    exec_err!(
                        "RAND_INTEGER: bound must be positive, found {}",
                        b.value(row)
                    )
                }
                Some(b) => Ok(Some(b.value(row))),
            }
        };
        // An INT is exact as a DOUBLE.
        let draw = |random: &mut JavaRandom, bound: i32| match self.draw {
            Draw::Double => random.next_double(),
            Draw::Integer => random.next_int(bound) as f64,
        };
        let values: Vec<Option<f64>> = match seed {
            // A seed per row: a generator per row.
            Some(ColumnarValue::Array(seeds)) => {
                let seeds = ints(&seeds)?;
                (0..rows)
                    .map(|row| {
                        if seeds.is_null(row) {
                            return Ok(None);
                        }
                        let seed = seeds.value(row) as i64;
                        Ok(bound_at(row)?.map(|bound| draw(&mut JavaRandom::new(seed), bound)))
                    })
                    .collect::<Result<_>>()?
            }
            Some(ColumnarValue::Scalar(s)) if s.is_null() => vec![None; rows],
            seed => {
                let seed = match seed {
                    Some(ColumnarValue::Scalar(s)) => s.cast_to(&DataType::Int64)?,
                    _ => ScalarValue::Int64(None),
                };
                let mut generator = self.generator.lock().expect("generator lock");
                let random = generator.get_or_insert_with(|| match seed {
                    ScalarValue::Int64(Some(seed)) => JavaRandom::new(seed),
                    _ => JavaRandom::new(RandomState::new().hash_one(self.id) as i64),
                });
                (0..rows)
                    .map(|row| Ok(bound_at(row)?.map(|bound| draw(random, bound))))
                    .collect::<Result<_>>()?
            }
        };
        Ok(ColumnarValue::Array(match self.draw {
            Draw::Double => Arc::new(values.into_iter().collect::<Float64Array>()),
            Draw::Integer => Arc::new(
                values
                    .into_iter()
                    .map(|v| v.map(|v| v as i32))
                    .collect::<Int32Array>(),
            ),
        }))
    }
}

/// An integer argument as INTs (Flink's type; a BIGINT beyond them fails).
fn ints(array: &ArrayRef) -> Result<Int32Array> {
    let exact = CastOptions {
        safe: false,
        ..Default::default()
    };
    Ok(cast_with_options(array, &DataType::Int32, &exact)?
        .as_primitive::<Int32Type>()
        .clone())
}

/// Java's `java.util.Random`: a 48-bit linear congruential generator.
#[derive(Debug)]
struct JavaRandom {
    state: i64,
}

impl JavaRandom {
    const MULTIPLIER: i64 = 0x5_DEEC_E66D;
    const MASK: i64 = (1 << 48) - 1;

    fn new(seed: i64) -> Self {
        JavaRandom {
            state: (seed ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.state = (self.state.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB)) & Self::MASK;
        (self.state >> (48 - bits)) as i32
    }

    fn next_double(&mut self) -> f64 {
        let high = (self.next(26) as i64) << 27;
        (high + self.next(27) as i64) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A value in [0, bound), `bound` positive.
    fn next_int(&mut self, bound: i32) -> i32 {
        let mut r = self.next(31);
        let m = bound - 1;
        if bound & m == 0 {
            return ((bound as i64 * r as i64) >> 31) as i32;
        }
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_java_random_sequences() {
        // What `new java.util.Random(1)` gives (Flink's `RAND(1)` over four rows).
        let mut random = JavaRandom::new(1);
        let doubles: Vec<f64> = (0..4).map(|_| random.next_double()).collect();
        assert_eq!(
            doubles,
            [
                0.7308781907032909,
                0.41008081149220166,
                0.20771484130971707,
                0.3327170559595112
            ]
        );
        // `RAND_INTEGER(1, 10)` over four rows, in Flink.
        let mut random = JavaRandom::new(1);
        let ints: Vec<i32> = (0..4).map(|_| random.next_int(10)).collect();
        assert_eq!(ints, [5, 8, 7, 3]);
    }
}
