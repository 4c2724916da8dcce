//! Conditions that look into the match (`LAST(A.price, 1)`, `AVG(A.price)`, `A.price` in the
//! condition of another variable): a small interpreter run per thread, reading values straight
//! from the stored Arrow arrays, without allocating.

use std::cmp::Ordering;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use rill_cep::EXCLUDED;

use super::rows::{MatchRows, Navigation, PartitionRows, RowStore};

/// A condition, or part of one.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// An input column at a row of the match.
    Column {
        column: usize,
        at: Navigation,
    },
    Literal(Literal),
    Not(Box<Condition>),
    Negate(Box<Condition>),
    IsNull(Box<Condition>),
    IsNotNull(Box<Condition>),
    Abs(Box<Condition>),
    /// `CASE WHEN c THEN v ... ELSE e END`: the value of the first true `c` (NULL without
    /// `ELSE`).
    Case {
        when_then: Vec<(Condition, Condition)>,
        otherwise: Option<Box<Condition>>,
    },
    Binary(Box<Condition>, BinaryOp, Box<Condition>),
    /// An aggregate over the rows of `vars` so far (all rows for `COUNT(*)`: no column).
    Aggregate {
        function: AggregateFunction,
        vars: u64,
        column: Option<usize>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
    Plus,
    Minus,
    Multiply,
    Divide,
    Modulo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunction {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// A value while a condition is evaluated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

/// Whether the interpreter reads columns of `data_type`.
pub fn readable(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::Float32
            | DataType::Float64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Timestamp(_, _)
            | DataType::Date32
    )
}

/// A column as the interpreter reads it, converted once per stored batch: integers,
/// timestamps and dates as `Int64`, floats as `Float64`, strings as `Utf8`.
#[derive(Debug, Clone)]
pub enum Typed {
    Int(Int64Array),
    Float(Float64Array),
    Str(StringArray),
    Bool(BooleanArray),
}

impl Typed {
    /// `array` converted, or `None` if the interpreter does not read its type.
    pub fn new(array: &ArrayRef) -> crate::Result<Option<Typed>> {
        let data_type = array.data_type();
        if !readable(data_type) {
            return Ok(None);
        }
        let as_type = |t: &DataType| cast(array, t);
        Ok(Some(match data_type {
            DataType::Boolean => Typed::Bool(array.as_boolean().clone()),
            DataType::Float32 | DataType::Float64 => Typed::Float(
                as_type(&DataType::Float64)?
                    .as_primitive::<Float64Type>()
                    .clone(),
            ),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                Typed::Str(as_type(&DataType::Utf8)?.as_string::<i32>().clone())
            }
            DataType::Date32 => Typed::Int(
                as_type(&DataType::Int32)
                    .and_then(|a| cast(&a, &DataType::Int64))?
                    .as_primitive::<Int64Type>()
                    .clone(),
            ),
            _ => Typed::Int(
                as_type(&DataType::Int64)?
                    .as_primitive::<Int64Type>()
                    .clone(),
            ),
        }))
    }

    fn value(&self, row: usize) -> Value<'_> {
        match self {
            Typed::Int(a) if a.is_valid(row) => Value::Int(a.value(row)),
            Typed::Float(a) if a.is_valid(row) => Value::Float(a.value(row)),
            Typed::Str(a) if a.is_valid(row) => Value::Str(a.value(row)),
            Typed::Bool(a) if a.is_valid(row) => Value::Bool(a.value(row)),
            _ => Value::Null,
        }
    }
}

/// Where a condition is evaluated: a row being tried with a variable in a match.
pub struct Scope<'a> {
    pub rows: MatchRows<'a>,
    pub partition: &'a PartitionRows,
    pub store: &'a RowStore,
}

impl Scope<'_> {
    fn value(&self, column: usize, position: u64) -> Value<'_> {
        let Some(row) = self.partition.get(position) else {
            return Value::Null;
        };
        match &self.store.get(row.batch).typed[column] {
            Some(typed) => typed.value(row.row as usize),
            None => Value::Null,
        }
    }
}

impl Condition {
    /// Whether the condition is true (NULL is not).
    pub fn holds(&self, scope: &Scope) -> bool {
        self.eval(scope) == Value::Bool(true)
    }

    fn eval<'a>(&'a self, scope: &'a Scope) -> Value<'a> {
        match self {
            Condition::Column { column, at } => match at.target(&scope.rows, true) {
                Some(position) => scope.value(*column, position),
                None => Value::Null,
            },
            Condition::Literal(l) => match l {
                Literal::Null => Value::Null,
                Literal::Bool(b) => Value::Bool(*b),
                Literal::Int(i) => Value::Int(*i),
                Literal::Float(f) => Value::Float(*f),
                Literal::Str(s) => Value::Str(s),
            },
            Condition::Not(c) => match c.eval(scope) {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Null,
            },
            Condition::Negate(c) => match c.eval(scope) {
                Value::Int(i) => Value::Int(i.wrapping_neg()),
                Value::Float(f) => Value::Float(-f),
                _ => Value::Null,
            },
            Condition::Abs(c) => match c.eval(scope) {
                Value::Int(i) => Value::Int(i.wrapping_abs()),
                Value::Float(f) => Value::Float(f.abs()),
                _ => Value::Null,
            },
            Condition::Case {
                when_then,
                otherwise,
            } => match when_then.iter().find(|(when, _)| when.holds(scope)) {
                Some((_, then)) => then.eval(scope),
                None => otherwise.as_ref().map_or(Value::Null, |e| e.eval(scope)),
            },
            Condition::IsNull(c) => Value::Bool(c.eval(scope) == Value::Null),
            Condition::IsNotNull(c) => Value::Bool(c.eval(scope) != Value::Null),
            Condition::Binary(l, op, r) => binary(l.eval(scope), *op, || r.eval(scope)),
            Condition::Aggregate {
                function,
                vars,
                column,
            } => aggregate(*function, *vars, *column, scope),
        }
    }
}

fn binary<'a>(left: Value<'a>, op: BinaryOp, right: impl FnOnce() -> Value<'a>) -> Value<'a> {
    use BinaryOp::*;
    // Three-valued logic: FALSE AND x is FALSE, TRUE OR x is TRUE, whatever x is.
    match (op, left) {
        (And, Value::Bool(false)) => return Value::Bool(false),
        (Or, Value::Bool(true)) => return Value::Bool(true),
        _ => {}
    }
    let right = right();
    match op {
        And | Or => match (left, right) {
            (_, Value::Bool(b)) if b == (op == Or) => Value::Bool(b),
            (Value::Bool(_), Value::Bool(b)) => Value::Bool(b),
            _ => Value::Null,
        },
        Eq | NotEq | Lt | LtEq | Gt | GtEq => {
            let Some(order) = compare(left, right) else {
                return Value::Null;
            };
            Value::Bool(match op {
                Eq => order == Ordering::Equal,
                NotEq => order != Ordering::Equal,
                Lt => order == Ordering::Less,
                LtEq => order != Ordering::Greater,
                Gt => order == Ordering::Greater,
                _ => order != Ordering::Less,
            })
        }
        Plus | Minus | Multiply | Divide | Modulo => arithmetic(left, op, right),
    }
}

fn compare(left: Value, right: Value) -> Option<Ordering> {
    match (left, right) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(&b)),
        (Value::Int(a), Value::Float(b)) => (a as f64).partial_cmp(&b),
        (Value::Float(a), Value::Int(b)) => a.partial_cmp(&(b as f64)),
        (Value::Float(a), Value::Float(b)) => a.partial_cmp(&b),
        (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(&b)),
        _ => None,
    }
}

fn arithmetic<'a>(left: Value<'a>, op: BinaryOp, right: Value<'a>) -> Value<'a> {
    use BinaryOp::*;
    match (left, right) {
        (Value::Int(a), Value::Int(b)) => match op {
            Plus => Value::Int(a.wrapping_add(b)),
            Minus => Value::Int(a.wrapping_sub(b)),
            Multiply => Value::Int(a.wrapping_mul(b)),
            Divide => a.checked_div(b).map_or(Value::Null, Value::Int),
            _ => a.checked_rem(b).map_or(Value::Null, Value::Int),
        },
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            let float = |v| match v {
                Value::Int(i) => i as f64,
                Value::Float(f) => f,
                _ => unreachable!("numbers only"),
            };
            let (a, b) = (float(left), float(right));
            Value::Float(match op {
                Plus => a + b,
                Minus => a - b,
                Multiply => a * b,
                Divide => a / b,
                _ => a % b,
            })
        }
        _ => Value::Null,
    }
}

/// An aggregate over the rows of the match so far that belong to `vars`.
fn aggregate<'a>(
    function: AggregateFunction,
    vars: u64,
    column: Option<usize>,
    scope: &'a Scope,
) -> Value<'a> {
    let rows = &scope.rows;
    let mut count = 0i64;
    let mut int_sum = 0i64;
    let mut float_sum = 0f64;
    let mut floats = false;
    let mut best = Value::Null;
    for i in 0..rows.len() {
        if vars >> (rows.label(i) & !EXCLUDED) & 1 == 0 {
            continue;
        }
        let Some(column) = column else {
            count += 1;
            continue;
        };
        let value = scope.value(column, rows.start + i as u64);
        match value {
            Value::Null => continue,
            Value::Int(v) => {
                int_sum = int_sum.wrapping_add(v);
                float_sum += v as f64;
            }
            Value::Float(v) => {
                floats = true;
                float_sum += v;
            }
            _ => {}
        }
        count += 1;
        let better = match function {
            AggregateFunction::Min => Ordering::Less,
            _ => Ordering::Greater,
        };
        if best == Value::Null || compare(value, best) == Some(better) {
            best = value;
        }
    }
    let sum = || {
        if floats {
            Value::Float(float_sum)
        } else {
            Value::Int(int_sum)
        }
    };
    match function {
        AggregateFunction::Count => Value::Int(count),
        _ if count == 0 => Value::Null,
        AggregateFunction::Sum => sum(),
        // Flink's AVG of integers is an integer.
        AggregateFunction::Avg if !floats => Value::Int(int_sum / count),
        AggregateFunction::Avg => Value::Float(float_sum / count as f64),
        AggregateFunction::Min | AggregateFunction::Max => best,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, RecordBatch, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;
    use crate::operator::match_recognize::rows::{ALL_VARIABLES, RowRef};

    #[test]
    fn evaluates_navigations_aggregates_and_three_valued_logic() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("price", DataType::Float64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Float64Array::from(vec![
                    Some(10.0),
                    Some(8.0),
                    None,
                    Some(7.0),
                ])),
                Arc::new(StringArray::from(vec!["a", "b", "c", "d"])),
            ],
        )
        .unwrap();
        let mut store = RowStore::default();
        let typed = batch
            .columns()
            .iter()
            .map(Typed::new)
            .collect::<crate::Result<_>>()
            .unwrap();
        let id = store.push(batch, vec![], typed);
        let mut partition = PartitionRows::default();
        for row in 0..4 {
            partition.push(RowRef { batch: id, row });
        }
        // Rows 0..3 as A B B, row 3 being tried as B.
        let scope = Scope {
            rows: MatchRows::trying(0, &[0, 1, 1], 1),
            partition: &partition,
            store: &store,
        };
        let price = |at| Box::new(Condition::Column { column: 0, at });
        let last_b = |offset| Navigation {
            vars: 1 << 1,
            first: false,
            offset,
            physical: 0,
        };
        let lt = |l, r| Condition::Binary(l, BinaryOp::Lt, r);
        // B.price < LAST(B.price, 1): 7 < NULL is unknown.
        assert!(!lt(price(Navigation::CURRENT), price(last_b(1))).holds(&scope));
        // ... but B.price < LAST(B.price, 2) (8) holds.
        assert!(lt(price(Navigation::CURRENT), price(last_b(2))).holds(&scope));
        let avg = |vars| {
            Box::new(Condition::Aggregate {
                function: AggregateFunction::Avg,
                vars,
                column: Some(0),
            })
        };
        // AVG(B.price) skips the NULL: (8 + 7) / 2 = 7.5 < A.price (10).
        let a_price = price(Navigation {
            vars: 1,
            ..last_b(0)
        });
        assert!(lt(avg(1 << 1), a_price).holds(&scope));
        let count_all = Condition::Aggregate {
            function: AggregateFunction::Count,
            vars: ALL_VARIABLES,
            column: None,
        };
        let four = Box::new(Condition::Literal(Literal::Int(4)));
        assert!(Condition::Binary(Box::new(count_all), BinaryOp::Eq, four).holds(&scope));
        // NULL OR TRUE is TRUE; NULL AND TRUE is unknown.
        let null = || Box::new(Condition::Literal(Literal::Null));
        let yes = || Box::new(Condition::Literal(Literal::Bool(true)));
        assert!(Condition::Binary(null(), BinaryOp::Or, yes()).holds(&scope));
        assert!(!Condition::Binary(null(), BinaryOp::And, yes()).holds(&scope));
        // Strings compare; PREV(name) of the current row is 'c'.
        let prev_name = Box::new(Condition::Column {
            column: 1,
            at: Navigation {
                physical: -1,
                ..Navigation::CURRENT
            },
        });
        let c = Box::new(Condition::Literal(Literal::Str("c".into())));
        assert!(Condition::Binary(prev_name, BinaryOp::Eq, c).holds(&scope));
        // ABS(B.price - A.price) = 3; CASE picks the first true branch.
        let diff = Box::new(Condition::Binary(
            price(Navigation::CURRENT),
            BinaryOp::Minus,
            price(Navigation {
                vars: 1,
                ..last_b(0)
            }),
        ));
        let three = || Box::new(Condition::Literal(Literal::Float(3.0)));
        assert!(
            Condition::Binary(Box::new(Condition::Abs(diff)), BinaryOp::Eq, three()).holds(&scope)
        );
        let case = Condition::Case {
            when_then: vec![
                (*null(), Condition::Literal(Literal::Int(1))),
                (*yes(), Condition::Literal(Literal::Int(2))),
            ],
            otherwise: None,
        };
        let two = Box::new(Condition::Literal(Literal::Int(2)));
        assert!(Condition::Binary(Box::new(case), BinaryOp::Eq, two).holds(&scope));
    }
}
