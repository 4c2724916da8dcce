//! Window table functions in SQL: `TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), size [, offset]))`,
//! `HOP`, `CUMULATE` and `SESSION`, planned into a [`WindowTvf`] logical node by a DataFusion
//! relation planner. The parser has already turned `TABLE t [PARTITION BY k]` into a subquery
//! and a `PARTITION_BY(k)` argument.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion_common::{
    Column, DFSchema, DFSchemaRef, DataFusionError, Diagnostic, Result, ScalarValue, Span,
};
use datafusion_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion_sql::sqlparser::ast::{
    self, FunctionArg, FunctionArgExpr, FunctionArguments, Spanned, TableFactor,
};
use rill_engine::window::WindowKind;

use crate::parser::PARTITION_BY_ARGUMENT;

/// The columns a window table function adds to its input's.
pub const WINDOW_COLUMNS: [&str; 3] = ["window_start", "window_end", "window_time"];

/// A window table function over `input`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WindowTvf {
    pub input: LogicalPlan,
    pub kind: WindowKind,
    /// The event-time column (`DESCRIPTOR(ts)`).
    pub time: Column,
    /// `PARTITION BY` keys (sessions).
    pub partition: Vec<Expr>,
    /// The input columns passed on: all but those named like the window columns.
    pub kept: Vec<usize>,
    pub schema: DFSchemaRef,
}

impl WindowTvf {
    fn new(
        input: LogicalPlan,
        kind: WindowKind,
        time: Column,
        partition: Vec<Expr>,
    ) -> Result<Self> {
        let (_, time_field) = input.schema().qualified_field_from_column(&time)?;
        let zone = match time_field.data_type() {
            DataType::Timestamp(_, zone) => zone.clone(),
            other => {
                return Err(DataFusionError::Plan(format!(
                    "the window's time column '{}' must be a TIMESTAMP or TIMESTAMP_LTZ, found {other}",
                    time.name
                )));
            }
        };
        let millis = |zone| DataType::Timestamp(TimeUnit::Millisecond, zone);
        let window = DFSchema::from_unqualified_fields(
            vec![
                Field::new(WINDOW_COLUMNS[0], millis(None), false),
                Field::new(WINDOW_COLUMNS[1], millis(None), false),
                Field::new(WINDOW_COLUMNS[2], millis(zone), false),
            ]
            .into(),
            Default::default(),
        )?;
        // The new window columns replace input columns of the same names (windows over
        // windowed results).
        let kept: Vec<usize> = (0..input.schema().fields().len())
            .filter(|i| !WINDOW_COLUMNS.contains(&input.schema().field(*i).name().as_str()))
            .collect();
        let input_part = DFSchema::new_with_metadata(
            kept.iter()
                .map(|i| {
                    let (q, f) = input.schema().qualified_field(*i);
                    (q.cloned(), f.clone())
                })
                .collect(),
            Default::default(),
        )?;
        let schema = Arc::new(input_part.join(&window)?);
        Ok(WindowTvf {
            input,
            kind,
            time,
            partition,
            kept,
            schema,
        })
    }

    /// The index of the time column in the input.
    pub fn time_index(&self) -> Result<usize> {
        self.input.schema().index_of_column(&self.time)
    }
}

impl PartialOrd for WindowTvf {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (&self.input, &self.kind, &self.time, &self.partition).partial_cmp(&(
            &other.input,
            &other.kind,
            &other.time,
            &other.partition,
        ))
    }
}

impl UserDefinedLogicalNodeCore for WindowTvf {
    fn name(&self) -> &str {
        "WindowTableFunction"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        let mut exprs = vec![Expr::Column(self.time.clone())];
        exprs.extend(self.partition.iter().cloned());
        exprs
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "WindowTableFunction: {} on {}", self.kind, self.time)?;
        if !self.partition.is_empty() {
            let keys: Vec<String> = self.partition.iter().map(|e| e.to_string()).collect();
            write!(f, " partition by {}", keys.join(", "))?;
        }
        Ok(())
    }

    /// The input columns the output columns `output` come from, and those the windows are
    /// computed from: the optimizer then reads no other (Nexmark q7's windowed maximum price
    /// needs neither the bids' URLs nor their other strings).
    fn necessary_children_exprs(&self, output: &[usize]) -> Option<Vec<Vec<usize>>> {
        let mut read = BTreeSet::new();
        read.extend(output.iter().filter_map(|&i| self.kept.get(i).copied()));
        read.insert(self.time_index().ok()?);
        for expr in &self.partition {
            for column in expr.column_refs() {
                read.insert(self.input.schema().index_of_column(column).ok()?);
            }
        }
        Some(vec![read.into_iter().collect()])
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        let input = inputs.into_iter().next().expect("one input");
        let mut exprs = exprs.into_iter();
        let time = match exprs.next() {
            Some(Expr::Column(c)) => c,
            _ => self.time.clone(),
        };
        WindowTvf::new(input, self.kind, time, exprs.collect())
    }
}

/// Plans `TABLE(TUMBLE(...))` and its siblings.
#[derive(Debug)]
pub struct WindowTvfPlanner;

impl RelationPlanner for WindowTvfPlanner {
    fn plan_relation(
        &self,
        relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let TableFactor::TableFunction {
            expr: ast::Expr::Function(function),
            alias,
        } = &relation
        else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let name = function.name.to_string().to_ascii_uppercase();
        let parameters: &[&str] = match name.as_str() {
            "TUMBLE" => &["DATA", "TIMECOL", "SIZE", "OFFSET"],
            "HOP" => &["DATA", "TIMECOL", "SLIDE", "SIZE", "OFFSET"],
            "CUMULATE" => &["DATA", "TIMECOL", "STEP", "SIZE", "OFFSET"],
            "SESSION" => &["DATA", "TIMECOL", "GAP"],
            _ => return Ok(RelationPlanning::Original(Box::new(relation))),
        };
        let span = Span::try_from_sqlparser_span(function.span());
        let FunctionArguments::List(list) = &function.args else {
            let message = format!("{name} needs arguments");
            return Err(with_span(DataFusionError::Plan(message), span));
        };
        let call = Call::new(&name, &list.args, parameters, span)?;
        let input = call.table("DATA", context)?;
        let time = call.descriptor(input.schema())?;
        let empty = DFSchema::empty();
        let mut interval = |parameter: &str| -> Result<Option<i64>> {
            let Some(expr) = call.argument(parameter) else {
                return Ok(None);
            };
            let planned = context.sql_to_expr(expr.clone(), &empty)?;
            match interval_millis(&planned) {
                Some(ms) => Ok(Some(ms)),
                None => Err(call.error(
                    expr,
                    &format!("{parameter} must be an INTERVAL of days, hours, minutes or seconds"),
                )),
            }
        };
        let required = |v: Option<i64>, p: &str| {
            v.ok_or_else(|| call.error_at_call(&format!("{name} needs the {p} argument")))
        };
        let offset = interval("OFFSET")?.unwrap_or(0);
        let kind = match name.as_str() {
            "TUMBLE" => WindowKind::Tumble {
                size: required(interval("SIZE")?, "SIZE")?,
                offset,
            },
            "HOP" => WindowKind::Hop {
                slide: required(interval("SLIDE")?, "SLIDE")?,
                size: required(interval("SIZE")?, "SIZE")?,
                offset,
            },
            "CUMULATE" => WindowKind::Cumulate {
                step: required(interval("STEP")?, "STEP")?,
                size: required(interval("SIZE")?, "SIZE")?,
                offset,
            },
            _ => WindowKind::Session {
                gap: required(interval("GAP")?, "GAP")?,
            },
        };
        kind.validate().map_err(|m| call.error_at_call(&m))?;
        let partition = match &call.partition {
            Some(keys) => keys
                .iter()
                .map(|k| context.sql_to_expr(k.clone(), input.schema()))
                .collect::<Result<Vec<_>>>()?,
            None => vec![],
        };
        if !partition.is_empty() && !matches!(kind, WindowKind::Session { .. }) {
            return Err(call.error_at_call(&format!("{name} does not take PARTITION BY")));
        }
        let node =
            WindowTvf::new(input, kind, time, partition).map_err(|e| with_span(e, call.span))?;
        let plan = LogicalPlan::Extension(datafusion_expr::Extension {
            node: Arc::new(node),
        });
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan,
            alias.clone(),
        ))))
    }
}

/// The arguments of a table function call (a window function, `TO_CHANGELOG`), by parameter
/// name.
pub(crate) struct Call<'a> {
    name: &'a str,
    arguments: Vec<(&'static str, &'a ast::Expr)>,
    pub(crate) partition: Option<Vec<ast::Expr>>,
    span: Option<Span>,
}

impl<'a> Call<'a> {
    /// The call of `name` with `args`, each taken by its name or its place in `parameters`;
    /// `span` is where errors about the call point.
    pub(crate) fn new(
        name: &'a str,
        args: &'a [FunctionArg],
        parameters: &[&'static str],
        span: Option<Span>,
    ) -> Result<Self> {
        let mut call = Call {
            name,
            arguments: vec![],
            partition: None,
            span,
        };
        let mut position = 0;
        for argument in args {
            let (named, expr) = match argument {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => (None, e),
                FunctionArg::Named {
                    name,
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } => (Some(name.value.to_ascii_uppercase()), e),
                other => {
                    return Err(call.error_at_call(&format!("unexpected argument {other}")));
                }
            };
            if let ast::Expr::Function(f) = expr
                && f.name.to_string() == PARTITION_BY_ARGUMENT
            {
                let FunctionArguments::List(keys) = &f.args else {
                    return Err(call.error(expr, "expected PARTITION BY columns"));
                };
                call.partition = Some(
                    keys.args
                        .iter()
                        .filter_map(|a| match a {
                            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                            _ => None,
                        })
                        .collect(),
                );
                continue;
            }
            let parameter = match named {
                Some(n) => *parameters
                    .iter()
                    .find(|p| **p == n)
                    .ok_or_else(|| call.error(expr, &format!("{name} has no parameter {n}")))?,
                None => {
                    let p = parameters.get(position).ok_or_else(|| {
                        call.error(
                            expr,
                            &format!("too many arguments: {name}({})", parameters.join(", ")),
                        )
                    })?;
                    position += 1;
                    p
                }
            };
            call.arguments.push((parameter, expr));
        }
        Ok(call)
    }

    pub(crate) fn argument(&self, parameter: &str) -> Option<&'a ast::Expr> {
        self.arguments
            .iter()
            .find(|(p, _)| *p == parameter)
            .map(|(_, e)| *e)
    }

    pub(crate) fn required(&self, parameter: &str) -> Result<&'a ast::Expr> {
        self.argument(parameter).ok_or_else(|| {
            self.error_at_call(&format!("{} needs the {parameter} argument", self.name))
        })
    }

    /// The table argument `parameter` (`TABLE name`, which the parser made a subquery),
    /// planned.
    pub(crate) fn table(
        &self,
        parameter: &str,
        context: &mut dyn RelationPlannerContext,
    ) -> Result<LogicalPlan> {
        match self.required(parameter)? {
            ast::Expr::Subquery(query) => context.plan(TableFactor::Derived {
                lateral: false,
                subquery: query.clone(),
                alias: None,
                sample: None,
            }),
            other => Err(self.error(other, "expected a table argument: TABLE name")),
        }
    }

    /// The column of `DESCRIPTOR(col)`, the `TIMECOL` argument.
    fn descriptor(&self, schema: &DFSchema) -> Result<Column> {
        let (expr, column) = self.descriptor_name("TIMECOL")?;
        match schema.qualified_field_with_unqualified_name(&column) {
            Ok((qualifier, field)) => Ok(Column::new(qualifier.cloned(), field.name())),
            Err(_) => Err(self.error(
                expr,
                &format!("column '{column}' not found in the window function's table"),
            )),
        }
    }

    /// The argument `parameter`, which must be `DESCRIPTOR(name)`, and the name.
    pub(crate) fn descriptor_name(&self, parameter: &str) -> Result<(&'a ast::Expr, String)> {
        let expr = self.required(parameter)?;
        let column = match expr {
            ast::Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("DESCRIPTOR") => {
                match &f.args {
                    FunctionArguments::List(l) if l.args.len() == 1 => match &l.args[0] {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(ast::Expr::Identifier(i))) => {
                            Some(i.value.clone())
                        }
                        _ => None,
                    },
                    _ => None,
                }
            }
            _ => None,
        };
        match column {
            Some(column) => Ok((expr, column)),
            None => Err(self.error(expr, "expected DESCRIPTOR(column)")),
        }
    }

    pub(crate) fn error(&self, at: &ast::Expr, message: &str) -> DataFusionError {
        with_span(
            DataFusionError::Plan(message.to_string()),
            Span::try_from_sqlparser_span(at.span()).or(self.span),
        )
    }

    pub(crate) fn error_at_call(&self, message: &str) -> DataFusionError {
        with_span(DataFusionError::Plan(message.to_string()), self.span)
    }
}

pub(crate) fn with_span(e: DataFusionError, span: Option<Span>) -> DataFusionError {
    if e.diagnostic().is_some() {
        return e;
    }
    let message = e.find_root().to_string();
    e.with_diagnostic(Diagnostic::new_error(message, span))
}

/// A constant interval of fixed length, in milliseconds.
pub fn interval_millis(expr: &Expr) -> Option<i64> {
    const DAY: i64 = 86_400_000;
    match expr {
        Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(v)), _) if v.months == 0 => {
            Some(i64::from(v.days) * DAY + v.nanoseconds / 1_000_000)
        }
        Expr::Literal(ScalarValue::IntervalDayTime(Some(v)), _) => {
            Some(i64::from(v.days) * DAY + i64::from(v.milliseconds))
        }
        _ => None,
    }
}
