//! Planning `OVER` windows: window Top-N (`ROW_NUMBER()` over window columns) and `OVER`
//! aggregates in event-time order.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion_common::{Column, DFSchema, ScalarValue};
use datafusion_expr::expr::{AggregateFunction, NullTreatment, WindowFunctionParams};
use datafusion_expr::lit;
use datafusion_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion_expr::utils::split_conjunction;
use datafusion_expr::{
    Expr, LogicalPlan, Operator, Window, WindowFrame, WindowFrameBound, WindowFrameUnits,
    WindowFunctionDefinition,
};
use datafusion_functions_aggregate::count::count;
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::window::WindowExpr;
use datafusion_physical_expr::{
    create_physical_expr, create_physical_exprs, create_physical_sort_exprs,
};
use datafusion_physical_plan::windows::create_window_expr;
use datafusion_sql::planner::ContextProvider;
use rill_engine::dataflow::NodeId;
use rill_engine::operator::aggregate::AggregateCall;
use rill_engine::operator::{Frame, KeepFirst, OverAggregate, OverFunctions, Rank, WindowRank};

use super::aggregate::{substitute, window_column};
use super::{StreamPlanner, output_schema};
use crate::error::{SqlError, SqlResult};
use crate::window::interval_millis;

impl StreamPlanner<'_> {
    /// `ROW_NUMBER() OVER (PARTITION BY window_start, window_end, ... ORDER BY ...)` under a
    /// filter `rownum <= N`: window Top-N (and deduplication with N = 1).
    pub(super) fn window(&mut self, window: &Window) -> SqlResult<NodeId> {
        let limit = self.rank_limit.take();
        let update_before_unneeded = std::mem::take(&mut self.update_before_unneeded);
        if limit.is_some() {
            let number = window.window_expr.first().map(unaliased);
            if let Some(Expr::WindowFunction(f)) = number
                && matches!(f.fun.name(), "rank" | "dense_rank")
            {
                return Err(SqlError::new(format!(
                    "{}() on streaming table is not supported currently (as in Flink): a \
                     Top-N numbers its rows with ROW_NUMBER()",
                    f.fun.name().to_ascii_uppercase()
                )));
            }
        }
        let function = match window.window_expr.as_slice() {
            [e] if matches!(unaliased(e), Expr::WindowFunction(f) if f.fun.name() == "row_number") =>
            {
                let Expr::WindowFunction(f) = unaliased(e) else {
                    unreachable!("matched above")
                };
                f
            }
            _ => return self.over_aggregate(window),
        };
        let params = &function.params;
        let window_end = window_column(&params.partition_by, 1);
        let has_start = window_column(&params.partition_by, 0).is_some();
        let Some(limit) = limit else {
            // Over event time, a running count, as in Flink.
            if event_time_order(params, window.input.schema())?.is_some() {
                return self.over_aggregate(window);
            }
            return Err(SqlError::new(
                "ROW_NUMBER() needs a filter on its result (Top-N): WHERE rownum <= N",
            ));
        };
        let (Some(window_end), true) = (window_end, has_start) else {
            return self.rank(window, params, limit, update_before_unneeded);
        };
        let schema = window.input.schema();
        let window_end = schema.index_of_column(window_end)?;
        let partition = self.physicals(&params.partition_by, schema)?;
        let order = self.sort_keys(&params.order_by, schema)?;
        let input = self.plan_append_only(&window.input, "window Top-N")?;
        let rows = output_schema(schema);
        let keyed = vec![(input, Self::typed_keys(&partition, &rows)?)];
        let output = output_schema(&window.schema);
        let node = self.add_keyed(keyed, output.clone(), |planner| {
            let (_, late) = planner.late_rows(input, rows.clone(), false)?;
            Ok(Box::new(WindowRank::new(
                window_end,
                partition.clone(),
                order.clone(),
                limit,
                output.clone(),
                late,
            )))
        })?;
        self.passes_columns(node, input, rows.fields().len(), output.fields().len());
        Ok(node)
    }

    /// `ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...)` under `rownum <= N` without
    /// windows: an updating Top-N over any changelog.
    fn rank(
        &mut self,
        window: &Window,
        params: &WindowFunctionParams,
        limit: usize,
        update_before_unneeded: bool,
    ) -> SqlResult<NodeId> {
        if params.order_by.is_empty() {
            return Err(SqlError::new(
                "Top-N needs an ORDER BY in its OVER clause: ROW_NUMBER() OVER (PARTITION BY ... \
                 ORDER BY ...)",
            ));
        }
        let schema = window.input.schema();
        let partition = self.physicals(&params.partition_by, schema)?;
        if let Some(node) = self.keep_first(window, params, limit, &partition)? {
            return Ok(node);
        }
        let order = self.sort_keys(&params.order_by, schema)?;
        let input = self.plan(&window.input)?;
        let updating = self.updating.contains(&input);
        // Flink plans `rownum = 1` by a time attribute, descending, over an append-only input
        // as a deduplication that keeps the last row: of rows of one time, the later one.
        let keep_last = match params.order_by.as_slice() {
            [sort] if !sort.asc && limit == 1 && !updating => match &sort.expr {
                Expr::Column(c) => schema.index_of_column(c).ok(),
                _ => None,
            },
            _ => None,
        }
        .is_some_and(|t| self.time_attributes(&window.input).contains(&t));
        let rows = output_schema(schema);
        let keyed = vec![(input, Self::typed_keys(&partition, &rows)?)];
        let output = output_schema(&window.schema);
        let node = self.add_keyed(keyed, output.clone(), |planner| {
            let mut operator = Rank::new(
                partition.clone(),
                order.clone(),
                limit,
                updating,
                output.clone(),
                &rows,
            )?;
            if keep_last {
                operator = operator.newest_first_on_ties();
            }
            if update_before_unneeded {
                operator = operator.without_update_before();
            }
            Ok(Box::new(operator.with_ttl(planner.state_ttl)))
        })?;
        self.passes_columns(node, input, rows.fields().len(), output.fields().len());
        self.updating.insert(node);
        self.no_time_attribute.insert(node);
        Ok(node)
    }

    /// `rownum = 1` ordered by a time attribute, ascending, over an append-only input: keep
    /// the first row per key by event time, append-only and keeping the time attribute, as
    /// Flink does.
    fn keep_first(
        &mut self,
        window: &Window,
        params: &WindowFunctionParams,
        limit: usize,
        partition: &[Arc<dyn PhysicalExpr>],
    ) -> SqlResult<Option<NodeId>> {
        let schema = window.input.schema();
        let time = match params.order_by.as_slice() {
            [sort] if sort.asc && limit == 1 => match &sort.expr {
                Expr::Column(c) => schema.index_of_column(c).ok(),
                _ => None,
            },
            _ => None,
        };
        let Some(time) = time.filter(|t| self.time_attributes(&window.input).contains(t)) else {
            return Ok(None);
        };
        let input = self.plan(&window.input)?;
        if self.updating.contains(&input) {
            return Err(SqlError::new(
                "keeping the first row by event time needs an append-only input (as in Flink)",
            ));
        }
        let rows = output_schema(schema);
        let keyed = vec![(input, Self::typed_keys(partition, &rows)?)];
        let output = output_schema(&window.schema);
        let node = self.add_keyed(keyed, output.clone(), |planner| {
            let (_, late) = planner.late_rows(input, rows.clone(), false)?;
            let operator = KeepFirst::new(partition.to_vec(), time, output.clone(), &rows, late)?;
            Ok(Box::new(operator))
        })?;
        self.passes_columns(node, input, rows.fields().len(), output.fields().len());
        Ok(Some(node))
    }

    /// Aggregates `OVER (PARTITION BY ... ORDER BY time ROWS|RANGE ...)` up to the current
    /// row, from `n` / `INTERVAL ...` or `UNBOUNDED PRECEDING`, and `LAG` `OVER (PARTITION BY
    /// ... ORDER BY time)` (alone or beside aggregates from `UNBOUNDED PRECEDING`).
    fn over_aggregate(&mut self, window: &Window) -> SqlResult<NodeId> {
        // The aggregates (with their places) and their window, which all share; the LAGs and
        // the furthest row back they read.
        let mut aggregates: Vec<(usize, &Expr)> = Vec::new();
        let mut shared: Option<WindowFrame> = None;
        let mut lags: Vec<(usize, &Expr)> = Vec::new();
        let mut lag_rows = 0;
        let mut ordered: Option<&WindowFunctionParams> = None;
        for (place, expr) in window.window_expr.iter().enumerate() {
            let Expr::WindowFunction(f) = unaliased(expr) else {
                return Err(SqlError::new(format!(
                    "unexpected window expression {expr}"
                )));
            };
            let same_order = |p: &WindowFunctionParams| {
                p.partition_by == f.params.partition_by && p.order_by == f.params.order_by
            };
            if ordered.is_some_and(|p| !same_order(p)) {
                return Err(different_windows());
            }
            ordered = Some(&f.params);
            // Flink draws them in arrival order, before the window; rill would in the
            // window's order.
            if (f.params.args.iter().chain(f.params.filter.as_deref())).any(Expr::is_volatile) {
                return Err(SqlError::new(format!(
                    "a function whose values differ from call to call (RAND, UUID, ...) in the \
                     arguments of {} OVER (...) is not supported yet",
                    f.fun.name().to_ascii_uppercase()
                )));
            }
            if f.fun.name() == "lag" {
                if !default_frame(&f.params.window_frame) {
                    return Err(SqlError::new(format!(
                        "ROW/RANGE not allowed with LAG (as in Flink): {}",
                        f.params.window_frame
                    )));
                }
                lag_rows = lag_rows.max(lag_offset(f)?);
                lags.push((place, expr));
                continue;
            }
            let counting = COUNTING_FUNCTIONS.contains(&f.fun.name());
            let aggregate = counting
                || matches!(f.fun, WindowFunctionDefinition::AggregateUDF(_))
                || VALUE_FUNCTIONS.contains(&f.fun.name());
            if !aggregate {
                return Err(SqlError::new(format!(
                    "{} OVER (...) is supported only for window Top-N \
                     (PARTITION BY window_start, window_end, ...) yet",
                    f.fun.name().to_ascii_uppercase()
                )));
            }
            let frame = if counting {
                counting_frame(f)?
            } else {
                f.params.window_frame.clone()
            };
            match &shared {
                None => shared = Some(frame),
                Some(s) if *s == frame => {}
                Some(_) => return Err(different_windows()),
            }
            aggregates.push((place, expr));
        }
        let params = ordered.ok_or_else(|| SqlError::new("a window without functions"))?;
        let schema = window.input.schema();
        let Some(time) = event_time_order(params, schema)? else {
            return Err(SqlError::new(
                "OVER aggregates must be ordered by an event-time column, ascending: \
                 ORDER BY ts",
            ));
        };
        self.event_time_only(&window.input, time, "OVER")?;
        let mut functions = Vec::new();
        if !lags.is_empty() {
            let (places, exprs): (Vec<usize>, Vec<&Expr>) = lags.into_iter().unzip();
            let lags = self.window_functions(&exprs, schema)?;
            functions.push((OverFunctions::Lags(lag_rows, lags), places));
        }
        if let Some(shared) = shared {
            let (places, exprs): (Vec<usize>, Vec<&Expr>) = aggregates.into_iter().unzip();
            let aggregates = self.over_functions(&exprs, &shared, schema)?;
            if !functions.is_empty() && !matches!(aggregates, OverFunctions::Running { .. }) {
                return Err(SqlError::new(
                    "Over Agg: Unsupported use of OVER windows. All aggregates must be \
                     computed on the same window (as in Flink): LAG beside aggregates over a \
                     bounded frame; compute them in two queries",
                ));
            }
            functions.push((aggregates, places));
        }
        let partition = self.physicals(&params.partition_by, schema)?;
        let input = self.plan_append_only(&window.input, "an OVER aggregate")?;
        let rows = output_schema(schema);
        let keyed = vec![(input, Self::typed_keys(&partition, &rows)?)];
        let output = output_schema(&window.schema);
        let node = self.add_keyed(keyed, output.clone(), |planner| {
            let (_, late) = planner.late_rows(input, rows.clone(), false)?;
            let operator = OverAggregate::new(
                partition.clone(),
                time,
                functions.clone(),
                rows.clone(),
                output.clone(),
                late,
            )?;
            Ok(Box::new(operator))
        })?;
        self.passes_columns(node, input, rows.fields().len(), output.fields().len());
        Ok(node)
    }

    /// The aggregates `exprs` over `frame`: running aggregates from `UNBOUNDED PRECEDING`
    /// (with peers in `RANGE`), or DataFusion's window expressions over a bounded frame.
    fn over_functions(
        &self,
        exprs: &[&Expr],
        frame: &WindowFrame,
        schema: &DFSchema,
    ) -> SqlResult<OverFunctions> {
        let bounds = (&frame.units, &frame.start_bound, &frame.end_bound);
        let bounded = match bounds {
            (_, WindowFrameBound::Preceding(v), WindowFrameBound::CurrentRow) if v.is_null() => {
                let peers = frame.units != WindowFrameUnits::Rows;
                let calls = self.running_calls(exprs, schema)?;
                return Ok(OverFunctions::Running { peers, calls });
            }
            (
                WindowFrameUnits::Rows,
                WindowFrameBound::Preceding(n),
                WindowFrameBound::CurrentRow,
            ) => match n.cast_to(&DataType::UInt64) {
                Ok(ScalarValue::UInt64(Some(n))) => Some(Frame::Rows(n as usize)),
                _ => None,
            },
            (
                WindowFrameUnits::Range,
                WindowFrameBound::Preceding(v),
                WindowFrameBound::CurrentRow,
            ) => interval_millis(&Expr::Literal(v.clone(), None)).map(Frame::Range),
            _ => None,
        };
        let Some(bounded) = bounded else {
            return Err(SqlError::new(format!(
                "the OVER frame {frame} is not supported on streams: use ROWS or RANGE BETWEEN \
                 UNBOUNDED PRECEDING AND CURRENT ROW, ROWS BETWEEN n PRECEDING AND CURRENT ROW \
                 or RANGE BETWEEN INTERVAL '...' PRECEDING AND CURRENT ROW"
            )));
        };
        let distinct_array = exprs.iter().any(|e| {
            matches!(unaliased(e), Expr::WindowFunction(f)
                if f.fun.name() == "array_agg" && f.params.distinct)
        });
        if distinct_array {
            return Err(SqlError::new(
                "ARRAY_AGG(DISTINCT ...) over a bounded frame is not supported yet",
            ));
        }
        let functions = self.window_functions(exprs, schema)?;
        Ok(OverFunctions::Framed(bounded, functions))
    }

    /// The aggregate calls of running `OVER` aggregates, as a `GROUP BY` would compute them.
    fn running_calls(&self, exprs: &[&Expr], schema: &DFSchema) -> SqlResult<Vec<AggregateCall>> {
        let aggregates = (exprs.iter())
            .map(|e| {
                let Expr::WindowFunction(f) = unaliased(e) else {
                    unreachable!("checked by over_aggregate")
                };
                let p = &f.params;
                // Over event time, Flink's ROW_NUMBER, RANK and DENSE_RANK count the rows (RANK
                // and DENSE_RANK with their peers): ranks by time tie only among peers, which
                // get the count after the last of them, as in Flink.
                if COUNTING_FUNCTIONS.contains(&f.fun.name()) {
                    return count(lit(1));
                }
                let udaf = match &f.fun {
                    WindowFunctionDefinition::AggregateUDF(udaf) => Some(udaf.clone()),
                    // FIRST_VALUE and LAST_VALUE are also window functions.
                    other => self.context.get_aggregate_meta(other.name()),
                };
                let Some(udaf) = udaf else {
                    unreachable!("checked by over_aggregate")
                };
                Expr::AggregateFunction(AggregateFunction::new_udf(
                    udaf,
                    p.args.clone(),
                    p.distinct,
                    p.filter.clone(),
                    vec![],
                    p.null_treatment,
                ))
            })
            .collect::<Vec<_>>();
        Ok(self.group_by(&[], &aggregates, schema)?.calls)
    }

    /// The window function calls `exprs` over `schema`.
    fn window_functions(
        &self,
        exprs: &[&Expr],
        schema: &DFSchema,
    ) -> SqlResult<Vec<Arc<dyn WindowExpr>>> {
        exprs
            .iter()
            .map(|e| self.window_function(e, schema))
            .collect()
    }

    /// The window function call `expr` (named by its alias, if any) over `schema`.
    fn window_function(&self, expr: &Expr, schema: &DFSchema) -> SqlResult<Arc<dyn WindowExpr>> {
        let name = match expr {
            Expr::Alias(alias) => alias.name.clone(),
            _ => expr.schema_name().to_string(),
        };
        let Expr::WindowFunction(call) = unaliased(expr) else {
            return Err(SqlError::new(format!(
                "unexpected window expression {expr}"
            )));
        };
        let WindowFunctionParams {
            args,
            partition_by,
            order_by,
            window_frame,
            null_treatment,
            distinct,
            filter,
        } = &call.params;
        let props = self.context.execution_props();
        let planning = PhysicalPlanningContext::default();
        let filter = (filter.as_ref())
            .map(|f| create_physical_expr(f, schema, props, &planning))
            .transpose()?;
        Ok(create_window_expr(
            &call.fun,
            name,
            &create_physical_exprs(args, schema, props, &planning)?,
            &create_physical_exprs(partition_by, schema, props, &planning)?,
            &create_physical_sort_exprs(order_by, schema, props, &planning)?,
            Arc::new(window_frame.clone()),
            Arc::clone(schema.inner()),
            // FIRST_VALUE and LAST_VALUE skip NULLs, as Flink's do.
            *null_treatment == Some(NullTreatment::IgnoreNulls)
                || VALUE_FUNCTIONS.contains(&call.fun.name()),
            *distinct,
            filter,
        )?)
    }
}

/// Whether `frame` is the default of an ordered window: `RANGE BETWEEN UNBOUNDED PRECEDING AND
/// CURRENT ROW`.
fn default_frame(frame: &WindowFrame) -> bool {
    frame.units == WindowFrameUnits::Range
        && matches!(&frame.start_bound, WindowFrameBound::Preceding(v) if v.is_null())
        && frame.end_bound == WindowFrameBound::CurrentRow
}

/// The numbering functions, which over event time count rows.
const COUNTING_FUNCTIONS: [&str; 3] = ["row_number", "rank", "dense_rank"];

/// The frame a numbering function counts over: the rows up to the current one for
/// `ROW_NUMBER`, with its peers for `RANK` and `DENSE_RANK`. They take no frame of their own.
fn counting_frame(f: &datafusion_expr::expr::WindowFunction) -> SqlResult<WindowFrame> {
    if !default_frame(&f.params.window_frame) {
        return Err(SqlError::new(
            "ROW/RANGE not allowed with RANK, DENSE_RANK or ROW_NUMBER functions (as in Flink)",
        ));
    }
    Ok(if f.fun.name() == "row_number" {
        WindowFrame::new_bounds(
            WindowFrameUnits::Rows,
            WindowFrameBound::Preceding(ScalarValue::Null),
            WindowFrameBound::CurrentRow,
        )
    } else {
        f.params.window_frame.clone()
    })
}

/// The column of `schema` a window is ordered by, if it is one event-time column, ascending.
fn event_time_order(params: &WindowFunctionParams, schema: &DFSchema) -> SqlResult<Option<usize>> {
    Ok(match params.order_by.as_slice() {
        [sort] if sort.asc => match &sort.expr {
            Expr::Column(c) => {
                let index = schema.index_of_column(c)?;
                matches!(schema.field(index).data_type(), DataType::Timestamp(..)).then_some(index)
            }
            _ => None,
        },
        _ => None,
    })
}

/// The window functions that are also aggregates (over frames from `UNBOUNDED PRECEDING`).
const VALUE_FUNCTIONS: [&str; 2] = ["first_value", "last_value"];

/// The error of `OVER` windows that differ.
fn different_windows() -> SqlError {
    SqlError::new(
        "all OVER windows of a query must have the same PARTITION BY, ORDER BY and frame \
         (as in Flink)",
    )
}

/// How many rows back `LAG(x [, offset [, default]])` reads: its offset, a constant.
fn lag_offset(f: &datafusion_expr::expr::WindowFunction) -> SqlResult<usize> {
    let Some(offset) = f.params.args.get(1) else {
        return Ok(1);
    };
    let offset = match offset {
        Expr::Literal(v, _) => v.cast_to(&DataType::Int64).ok(),
        _ => None,
    };
    match offset {
        Some(ScalarValue::Int64(Some(n))) if n >= 0 => Ok(n as usize),
        _ => Err(SqlError::new(
            "the offset of LAG must be a constant number of rows, 0 or more",
        )),
    }
}

/// The N of a filter `rownum <= N` (or `< N + 1`, `= 1`) on the `ROW_NUMBER()` column of a
/// window right under `input` (through projections).
pub(crate) fn rank_limit(predicate: &Expr, input: &LogicalPlan) -> SqlResult<Option<usize>> {
    Ok(rank_conditions(predicate, input)?
        .into_iter()
        .flatten()
        .min())
}

/// Whether `predicate`, over `input`, only limits the row number of a Top-N: Flink makes it
/// part of the Top-N, whose output then needs no `-U` rows. Any other condition stays a filter,
/// which needs them to retract the rows it let through (FLINK-9528).
pub(crate) fn only_rank_limit(predicate: &Expr, input: &LogicalPlan) -> SqlResult<bool> {
    let conditions = rank_conditions(predicate, input)?;
    Ok(!conditions.is_empty() && conditions.iter().all(Option::is_some))
}

/// The conjuncts of `predicate` over `input`, each with the limit it puts on the row number of
/// a Top-N under `input`'s projections, if it is one (none when there is no Top-N).
fn rank_conditions(predicate: &Expr, input: &LogicalPlan) -> SqlResult<Vec<Option<usize>>> {
    let mut predicate = predicate.clone();
    let mut plan = input;
    while let LogicalPlan::Projection(p) = plan {
        let map: HashMap<Column, Expr> = p
            .schema
            .columns()
            .into_iter()
            .zip(p.expr.iter().map(|e| e.clone().unalias()))
            .collect();
        predicate = substitute(predicate, &map)?;
        plan = p.input.as_ref();
    }
    let LogicalPlan::Window(window) = plan else {
        return Ok(Vec::new());
    };
    let number = window.schema.columns()[window.input.schema().fields().len()].clone();
    let limit = |e: &Expr| -> Option<usize> {
        let Expr::BinaryExpr(b) = e else { return None };
        // Type coercion may have cast either side to a common type.
        let uncast = |e: &Expr| match e {
            Expr::Cast(c) => c.expr.as_ref().clone(),
            other => other.clone(),
        };
        let (op, value) = match (uncast(&b.left), uncast(&b.right)) {
            (Expr::Column(c), Expr::Literal(v, _)) if c == number => (b.op, v),
            (Expr::Literal(v, _), Expr::Column(c)) if c == number => (b.op.swap()?, v),
            _ => return None,
        };
        let ScalarValue::Int64(Some(n)) = value.cast_to(&DataType::Int64).ok()? else {
            return None;
        };
        let n = usize::try_from(n).ok()?;
        match op {
            Operator::LtEq => Some(n),
            Operator::Lt => n.checked_sub(1),
            Operator::Eq if n == 1 => Some(1),
            _ => None,
        }
    };
    Ok(split_conjunction(&predicate)
        .into_iter()
        .map(limit)
        .collect())
}

/// `expr` without its aliases.
fn unaliased(mut expr: &Expr) -> &Expr {
    while let Expr::Alias(a) = expr {
        expr = &a.expr;
    }
    expr
}
