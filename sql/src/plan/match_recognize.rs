//! `MATCH_RECOGNIZE` onto the engine: conditions that look only at the current row (and rows
//! before it) become physical expressions over input batches; the other conditions and the
//! measures become physical expressions over their terms.

use std::sync::Arc;

use arrow::datatypes::Field;
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{Column, DFSchema, ScalarValue};
use datafusion_expr::Expr;
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::expressions::Column as PhysicalColumn;
use rill_cep::Matcher;
use rill_engine::dataflow::NodeId;
use rill_engine::operator::MatchRecognize as MatchOperator;
use rill_engine::operator::match_recognize::{
    ALL_VARIABLES, Define, MatchSpec, OutputColumn, RowsPerMatch, Term as EngineTerm, Terms,
};

use super::{StreamPlanner, output_schema};
use crate::error::SqlResult;
use crate::match_recognize::{
    Analysis, Clause, MatchRecognize, Term, Variables, analyze, analyze_into,
};

impl StreamPlanner<'_> {
    pub(super) fn match_recognize(&mut self, node: &MatchRecognize) -> SqlResult<NodeId> {
        let input_schema = node.input.schema();
        let time = input_schema.index_of_column(&node.time)?;
        self.event_time_only(&node.input, time, "MATCH_RECOGNIZE")?;
        let input = self.plan_append_only(&node.input, "MATCH_RECOGNIZE")?;
        let vars = Variables {
            names: &node.names,
            subsets: &node.subsets,
            time,
        };
        // How far conditions and measures look before and after a match, and how far
        // conditions look after the current row.
        let (mut lookback, mut lookahead, mut define_lookahead) = (0u64, 0u64, 0u64);
        // The aggregates of conditions and measures number their arguments in one sequence.
        let mut arguments = 0;

        // Conditions on the current row and rows before it in the partition (PREV) are
        // evaluated on whole batches, over the input columns followed by one column per
        // (column, rows back) they read; the others over their terms, per thread.
        let mut lags: Vec<(usize, u64)> = Vec::new();
        // Per variable: none, a batch condition (Ok) or one that looks into the match (Err).
        let mut planned: Vec<Option<Result<Expr, Define>>> = Vec::with_capacity(node.names.len());
        for (var, define) in node.defines.iter().enumerate() {
            let Some(expr) = define else {
                planned.push(None);
                continue;
            };
            let analysis = analyze(expr, input_schema, &vars, Clause::Define(var))?;
            let (back, ahead) = reach(&analysis.terms);
            lookback = lookback.max(back);
            define_lookahead = define_lookahead.max(ahead);
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
                let terms = self.terms(&analysis, input_schema, &mut arguments)?;
                let condition = self.simplified(&analysis.expr, analysis.terms_schema()?)?;
                Err(Define::Match { terms, condition })
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
                Some(Ok(plain)) => Define::Batch(self.simplified(&plain, with_lags.clone())?),
                Some(Err(looks_into_match)) => looks_into_match,
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
        let (back, ahead) = reach(&analysis.terms);
        lookback = lookback.max(back);
        lookahead = lookahead.max(ahead);
        let terms_schema = analysis.terms_schema()?;
        let measures = measure_exprs
            .iter()
            .map(|e| self.simplified(e, terms_schema.clone()))
            .collect::<SqlResult<Vec<_>>>()?;
        let terms = self.terms(&analysis, input_schema, &mut arguments)?;

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
        let history_free = defines.iter().all(|d| !d.looks_into_match());
        let unmatched = matches!(
            node.rows,
            RowsPerMatch::All {
                unmatched: true,
                ..
            }
        );
        let mut matcher = Matcher::new(
            &node.pattern,
            node.after,
            node.within,
            history_free,
            unmatched,
        );
        if node.timeouts {
            matcher = matcher.with_timeouts();
        }
        let spec = MatchSpec {
            matcher,
            names: node.names.clone(),
            partition,
            time,
            order,
            defines,
            terms,
            measures,
            rows: node.rows,
            output,
            schema: output_schema(&node.schema),
            lookback,
            lookahead,
            define_lookahead,
            lags,
        };
        let arrow_input = output_schema(input_schema);
        let keys = (spec.partition.iter())
            .map(|&c| {
                let field = arrow_input.field(c);
                let column = PhysicalColumn::new(field.name(), c);
                (
                    Arc::new(column) as Arc<dyn PhysicalExpr>,
                    field.data_type().clone(),
                )
            })
            .collect();
        let output = spec.schema.clone();
        self.add_keyed(vec![(input, keys)], output, |planner| {
            let (_, late) = planner.late_rows(input, arrow_input.clone(), false)?;
            let operator = MatchOperator::new(spec.clone(), arrow_input.clone(), late)?;
            Ok(Box::new(operator))
        })
    }
}

/// How many rows before and after the current one `terms` read (`PREV`, `NEXT`).
fn reach(terms: &[Term]) -> (u64, u64) {
    let (mut back, mut ahead) = (0, 0);
    for term in terms {
        if let Term::Column { at, .. } | Term::Classifier { at, .. } = term {
            match at.physical {
                p if p < 0 => back = back.max(p.unsigned_abs()),
                p => ahead = ahead.max(p as u64),
            }
        }
    }
    (back, ahead)
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

impl StreamPlanner<'_> {
    /// The terms of `analysis` for the engine; their aggregates' arguments are numbered on
    /// from `arguments`.
    fn terms(
        &self,
        analysis: &Analysis,
        input: &DFSchema,
        arguments: &mut usize,
    ) -> SqlResult<Terms> {
        let mut terms = Vec::with_capacity(analysis.terms.len());
        for term in &analysis.terms {
            terms.push(match term {
                Term::Column {
                    column,
                    at,
                    running,
                } => EngineTerm::Column {
                    column: *column,
                    at: *at,
                    running: *running,
                },
                Term::Aggregate {
                    call,
                    vars,
                    running,
                } => {
                    let lowered = self.lower_aggregate(call, input)?;
                    let first = *arguments;
                    *arguments += lowered.aggregate.expressions().len();
                    EngineTerm::Aggregate {
                        call: lowered.aggregate,
                        vars: *vars,
                        running: *running,
                        arguments: first..*arguments,
                    }
                }
                Term::Classifier { at, running } => EngineTerm::Classifier {
                    at: *at,
                    running: *running,
                },
                Term::MatchNumber => EngineTerm::MatchNumber,
                Term::TimedOut => EngineTerm::TimedOut,
            });
        }
        Ok(Terms {
            terms,
            schema: output_schema(&analysis.terms_schema()?),
        })
    }
}
