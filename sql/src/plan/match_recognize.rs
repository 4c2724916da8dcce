//! `MATCH_RECOGNIZE` onto the engine: conditions that look only at the current row become
//! physical expressions over input batches, the others interpreter [`Condition`]s; measures
//! become physical expressions over their terms.

use arrow::datatypes::{DataType, Field};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::logical_expr::expr::AggregateFunction as AggregateCall;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use rill_cep::Matcher;
use rill_engine::dataflow::NodeId;
use rill_engine::operator::MatchRecognize as MatchOperator;
use rill_engine::operator::match_recognize::{
    ALL_VARIABLES, AggregateFunction, BinaryOp, Condition, Define, Literal, MatchSpec, Navigation,
    OutputColumn, RowsPerMatch, Term as EngineTerm, readable,
};

use super::{StreamPlanner, output_schema};
use crate::error::{SqlError, SqlResult};
use crate::match_recognize::{
    Analysis, Clause, MatchRecognize, Term, Variables, analyze, analyze_into,
};

impl StreamPlanner<'_> {
    pub(super) fn match_recognize(&mut self, node: &MatchRecognize) -> SqlResult<NodeId> {
        let input = self.plan_append_only(&node.input, "MATCH_RECOGNIZE")?;
        let input_schema = node.input.schema();
        let vars = Variables {
            names: &node.names,
            subsets: &node.subsets,
            time: input_schema.index_of_column(&node.time)?,
        };
        // How far conditions and measures look before and after a match.
        let (mut lookback, mut lookahead) = (0u64, 0u64);
        let mut look = |at: &Navigation| match at.physical {
            p if p < 0 => lookback = lookback.max(p.unsigned_abs()),
            p => lookahead = lookahead.max(p as u64),
        };

        // Conditions on the current row and rows before it in the partition (PREV) are
        // evaluated on whole batches, over the input columns followed by one column per
        // (column, rows back) they read; the others are interpreted per thread.
        let mut lags: Vec<(usize, u64)> = Vec::new();
        // Per variable: none, a batch condition (Ok) or an interpreted one (Err).
        let mut planned: Vec<Option<Result<Expr, Condition>>> =
            Vec::with_capacity(node.names.len());
        for (var, define) in node.defines.iter().enumerate() {
            let Some(expr) = define else {
                planned.push(None);
                continue;
            };
            let analysis = analyze(expr, input_schema, &vars, Clause::Define(var))?;
            for term in &analysis.terms {
                if let Term::Column { at, .. } = term {
                    look(at);
                }
            }
            let row_local = analysis.terms.iter().all(|t| {
                matches!(t, Term::Column { at, .. }
                    if (at.vars == ALL_VARIABLES || at.vars == 1 << var)
                        && !at.first && at.offset == 0 && at.physical <= 0)
            });
            planned.push(Some(if row_local {
                let plain = substitute(&analysis.expr, |i| {
                    let Term::Column { column, at, .. } = &analysis.terms[i] else {
                        unreachable!("row-local conditions read columns only")
                    };
                    if at.physical == 0 {
                        let (q, f) = input_schema.qualified_field(*column);
                        return Expr::Column(Column::new(q.cloned(), f.name()));
                    }
                    let lag = (*column, at.physical.unsigned_abs());
                    let j = lags.iter().position(|l| *l == lag).unwrap_or_else(|| {
                        lags.push(lag);
                        lags.len() - 1
                    });
                    Expr::Column(Column::from_name(lag_name(j)))
                });
                Ok(plain)
            } else {
                let condition = condition(&analysis.expr, &analysis, input_schema)
                    .map_err(|m| SqlError::new(format!("DEFINE {}: {m}", node.names[var])))?;
                Err(condition)
            }));
        }
        let lag_fields: Vec<Field> = lags
            .iter()
            .enumerate()
            .map(|(j, (column, _))| {
                Field::new(
                    lag_name(j),
                    input_schema.field(*column).data_type().clone(),
                    true,
                )
            })
            .collect();
        let with_lags = input_schema.join(&DFSchema::from_unqualified_fields(
            lag_fields.into(),
            Default::default(),
        )?)?;
        let mut defines = Vec::with_capacity(planned.len());
        for define in planned {
            defines.push(match define {
                None => Define::Always,
                Some(Ok(plain)) => Define::Batch(self.physical(&plain, &with_lags)?),
                Some(Err(condition)) => Define::Row(condition),
            });
        }

        // All measures share one list of terms.
        let mut analysis = Analysis {
            expr: Expr::Literal(ScalarValue::Null, None),
            terms: vec![],
            types: vec![],
        };
        let mut measure_exprs = Vec::with_capacity(node.measures.len());
        for (_, expr) in &node.measures {
            analyze_into(expr, input_schema, &vars, Clause::Measures, &mut analysis)?;
            measure_exprs.push(analysis.expr.clone());
        }
        let terms_schema = analysis.terms_schema()?;
        let measures = measure_exprs
            .iter()
            .map(|e| self.physical(e, &terms_schema))
            .collect::<SqlResult<Vec<_>>>()?;
        let mut terms = Vec::with_capacity(analysis.terms.len());
        let mut arguments = 0;
        for term in &analysis.terms {
            terms.push(match term {
                Term::Column {
                    column,
                    at,
                    running,
                } => {
                    look(at);
                    EngineTerm::Column {
                        column: *column,
                        at: *at,
                        running: *running,
                    }
                }
                Term::Aggregate {
                    call,
                    vars,
                    running,
                } => {
                    let lowered = self.lower_aggregate(call, input_schema)?;
                    let count = lowered.aggregate.expressions().len();
                    arguments += count;
                    EngineTerm::Aggregate {
                        call: lowered.aggregate,
                        vars: *vars,
                        running: *running,
                        arguments: arguments - count..arguments,
                    }
                }
                Term::Classifier { at, running } => EngineTerm::Classifier {
                    at: *at,
                    running: *running,
                },
                Term::MatchNumber => EngineTerm::MatchNumber,
            });
        }

        let order = self.sort_keys(&node.order, input_schema)?;
        let index = |c: &Column| input_schema.index_of_column(c);
        let partition = node
            .partition
            .iter()
            .map(index)
            .collect::<Result<Vec<_>, _>>()?;
        let time = index(&node.time)?;
        let mut output: Vec<OutputColumn> =
            partition.iter().map(|c| OutputColumn::Input(*c)).collect();
        let all = matches!(node.rows, RowsPerMatch::All { .. });
        if all {
            output.push(OutputColumn::Input(time));
        }
        output.extend((0..measures.len()).map(OutputColumn::Measure));
        if all {
            output.extend(
                (0..input_schema.fields().len())
                    .filter(|c| !partition.contains(c) && *c != time)
                    .map(OutputColumn::Input),
            );
        }
        let history_free = defines.iter().all(|d| !matches!(d, Define::Row(_)));
        let unmatched = matches!(
            node.rows,
            RowsPerMatch::All {
                unmatched: true,
                ..
            }
        );
        let spec = MatchSpec {
            matcher: Matcher::new(
                &node.pattern,
                node.after,
                node.within,
                history_free,
                unmatched,
            ),
            names: node.names.clone(),
            partition,
            time,
            order,
            defines,
            terms,
            terms_schema: output_schema(&terms_schema),
            measures,
            rows: node.rows,
            output,
            schema: output_schema(&node.schema),
            lookback,
            lookahead,
            lags,
        };
        let arrow_input = output_schema(input_schema);
        let (_, late) = self.late_rows(input, arrow_input.clone(), false)?;
        let operator = MatchOperator::new(spec, arrow_input, late)?;
        Ok(self.add(Box::new(operator), input))
    }
}

/// The name of the n-th lagged column of batch conditions.
fn lag_name(n: usize) -> String {
    format!("__lag{n}")
}

/// `expr` with each term column `__tN` replaced by `with(N)`.
fn substitute(expr: &Expr, mut with: impl FnMut(usize) -> Expr) -> Expr {
    expr.clone()
        .transform(|e| match &e {
            Expr::Column(c) if c.relation.is_none() && c.name.starts_with("__t") => {
                let i: usize = c.name[3..].parse().expect("a term column");
                Ok(Transformed::yes(with(i)))
            }
            _ => Ok(Transformed::no(e)),
        })
        .expect("substitution does not fail")
        .data
}

/// A condition over terms as an interpreter [`Condition`], or why it cannot be one.
fn condition(expr: &Expr, analysis: &Analysis, input: &DFSchema) -> Result<Condition, String> {
    let boxed = |e: &Expr| condition(e, analysis, input).map(Box::new);
    Ok(match expr {
        Expr::Column(c) if c.name.starts_with("__t") => {
            let i: usize = c.name[3..]
                .parse()
                .map_err(|_| format!("unknown column {c}"))?;
            match &analysis.terms[i] {
                Term::Column { column, at, .. } => {
                    let data_type = input.field(*column).data_type();
                    if !readable(data_type) {
                        return Err(format!(
                            "column {} of type {data_type} cannot be read where a condition looks into the match",
                            input.field(*column).name()
                        ));
                    }
                    Condition::Column {
                        column: *column,
                        at: *at,
                    }
                }
                Term::Aggregate { call, vars, .. } => {
                    let Expr::AggregateFunction(AggregateCall { func, params }) = call else {
                        unreachable!("aggregate terms hold aggregate calls")
                    };
                    let function = match func.name() {
                        "count" => AggregateFunction::Count,
                        "sum" => AggregateFunction::Sum,
                        "avg" => AggregateFunction::Avg,
                        "min" => AggregateFunction::Min,
                        "max" => AggregateFunction::Max,
                        other => {
                            return Err(format!(
                                "the aggregate {other} is not supported in DEFINE (COUNT, SUM, AVG, MIN, MAX are)"
                            ));
                        }
                    };
                    // The interpreter widens by itself: look through the coercion's cast.
                    let arg = match params.args.as_slice() {
                        [Expr::Cast(c)] => std::slice::from_ref(c.expr.as_ref()),
                        args => args,
                    };
                    let column = match arg {
                        [Expr::Column(c)] => {
                            Some(input.index_of_column(c).map_err(|e| e.to_string())?)
                        }
                        [Expr::Literal(_, _)] if function == AggregateFunction::Count => None,
                        _ => {
                            return Err(format!(
                                "{} in DEFINE takes one column",
                                func.name().to_uppercase()
                            ));
                        }
                    };
                    Condition::Aggregate {
                        function,
                        vars: *vars,
                        column,
                    }
                }
                Term::Classifier { .. } | Term::MatchNumber => {
                    return Err(
                        "CLASSIFIER() and MATCH_NUMBER() are not supported in DEFINE".into(),
                    );
                }
            }
        }
        Expr::Literal(v, _) => Condition::Literal(match v {
            v if v.is_null() => Literal::Null,
            ScalarValue::Boolean(Some(b)) => Literal::Bool(*b),
            ScalarValue::Float64(Some(f)) => Literal::Float(*f),
            ScalarValue::Float32(Some(f)) => Literal::Float(f64::from(*f)),
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => Literal::Str(s.clone()),
            v if v.data_type().is_integer() => match v.cast_to(&DataType::Int64) {
                Ok(ScalarValue::Int64(Some(i))) => Literal::Int(i),
                _ => return Err(format!("the constant {v} is out of range")),
            },
            ScalarValue::Decimal128(Some(_), _, _) => match v.cast_to(&DataType::Float64) {
                Ok(ScalarValue::Float64(Some(f))) => Literal::Float(f),
                _ => return Err(format!("the constant {v} cannot be read")),
            },
            other => {
                return Err(format!(
                    "constants of type {} are not supported here",
                    other.data_type()
                ));
            }
        }),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let op = match op {
                Operator::Eq => BinaryOp::Eq,
                Operator::NotEq => BinaryOp::NotEq,
                Operator::Lt => BinaryOp::Lt,
                Operator::LtEq => BinaryOp::LtEq,
                Operator::Gt => BinaryOp::Gt,
                Operator::GtEq => BinaryOp::GtEq,
                Operator::And => BinaryOp::And,
                Operator::Or => BinaryOp::Or,
                Operator::Plus => BinaryOp::Plus,
                Operator::Minus => BinaryOp::Minus,
                Operator::Multiply => BinaryOp::Multiply,
                Operator::Divide => BinaryOp::Divide,
                Operator::Modulo => BinaryOp::Modulo,
                other => {
                    return Err(format!(
                        "the operator {other} is not supported where a condition looks into the match"
                    ));
                }
            };
            Condition::Binary(boxed(left)?, op, boxed(right)?)
        }
        Expr::Not(e) => Condition::Not(boxed(e)?),
        Expr::Negative(e) => Condition::Negate(boxed(e)?),
        Expr::IsNull(e) => Condition::IsNull(boxed(e)?),
        Expr::IsNotNull(e) => Condition::IsNotNull(boxed(e)?),
        Expr::Between(Between {
            expr,
            negated,
            low,
            high,
        }) => {
            let value = boxed(expr)?;
            let inside = Condition::Binary(
                Box::new(Condition::Binary(
                    value.clone(),
                    BinaryOp::GtEq,
                    boxed(low)?,
                )),
                BinaryOp::And,
                Box::new(Condition::Binary(value, BinaryOp::LtEq, boxed(high)?)),
            );
            if *negated {
                Condition::Not(Box::new(inside))
            } else {
                inside
            }
        }
        Expr::Cast(c) if c.field.data_type().is_numeric() => condition(&c.expr, analysis, input)?,
        Expr::ScalarFunction(f) if f.func.name() == "abs" && f.args.len() == 1 => {
            Condition::Abs(boxed(&f.args[0])?)
        }
        Expr::Case(case) => {
            // `CASE x WHEN v THEN ...` compares x with each v.
            let when_then = case
                .when_then_expr
                .iter()
                .map(|(when, then)| {
                    let when = match &case.expr {
                        Some(x) => Condition::Binary(boxed(x)?, BinaryOp::Eq, boxed(when)?),
                        None => condition(when, analysis, input)?,
                    };
                    Ok((when, condition(then, analysis, input)?))
                })
                .collect::<Result<Vec<_>, String>>()?;
            let otherwise = case.else_expr.as_deref().map(boxed).transpose()?;
            Condition::Case {
                when_then,
                otherwise,
            }
        }
        other => {
            return Err(format!(
                "{other} is not supported where a condition looks into the match (comparisons, \
                 arithmetic, AND/OR/NOT, IS [NOT] NULL, BETWEEN, ABS, CASE and \
                 COUNT/SUM/AVG/MIN/MAX are)"
            ));
        }
    })
}
