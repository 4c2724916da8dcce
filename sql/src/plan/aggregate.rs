//! Planning aggregations: window table functions and window aggregation (including
//! `SESSION`), and updating `GROUP BY`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema};
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{Column, DFSchema, DFSchemaRef, ScalarValue};
use datafusion_expr::expr::NullTreatment;
use datafusion_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion_expr::utils::conjunction;
use datafusion_expr::{
    Aggregate, Expr, ExprSchemable, GroupingSet, LogicalPlan, LogicalPlanBuilder,
};
use datafusion_physical_expr::aggregate::{LoweredAggregate, LoweredAggregateBuilder};
use rill_engine::dataflow::NodeId;
use rill_engine::late::LateRows;
use rill_engine::operator::aggregate::{AggregateCall, GroupBy};
use rill_engine::operator::{
    Calc, GroupAggregate, SessionAggregate, Union, WindowAggregate, WindowAssign, WindowOutput,
};
use rill_engine::window::WindowKind;

use super::join::column_of;
use super::{EarlyFire, StreamPlanner, output_schema};
use crate::error::{SqlError, SqlResult};
use crate::session::{EARLY_FIRE_INTERVAL, FLINK_EARLY_FIRE_DELAY};
use crate::window::{WINDOW_COLUMNS, WindowTvf};

impl StreamPlanner<'_> {
    /// `TUMBLE`, `HOP`, `CUMULATE`: rows get their windows.
    pub(super) fn window_tvf(&mut self, tvf: &WindowTvf) -> SqlResult<NodeId> {
        if matches!(tvf.kind, WindowKind::Session { .. }) {
            return Err(SqlError::new(
                "SESSION windows are supported in window aggregation only: \
                 GROUP BY window_start, window_end, ...",
            ));
        }
        let processing_time = (self.proctime_attributes(&tvf.input)).contains(&tvf.time_index()?);
        let slices = std::mem::take(&mut self.slice_request) && !processing_time;
        let input = self.plan_append_only(&tvf.input, "a window function")?;
        let assign = WindowAssign::new(
            tvf.kind,
            tvf.time_index()?,
            tvf.kept.clone(),
            output_schema(&tvf.schema),
        );
        // Slices only without an allowed lateness: a late row's update would have to reach
        // every window of its slice that fired.
        let assign = match slices && self.late_policy(input).lateness() == 0 {
            true => {
                self.sliced = Some(tvf.kind);
                assign.slices()
            }
            false => assign,
        };
        let node = self.add(Box::new(assign), input);
        if processing_time {
            self.processing_time_windows.insert(node);
        }
        if let Some(shared) = &mut self.shared {
            let mut columns: Vec<Option<usize>> = tvf.kept.iter().map(|&k| Some(k)).collect();
            columns.resize(tvf.schema.fields().len(), None);
            shared.derive(node, input, &columns);
        }
        Ok(node)
    }

    /// `GROUP BY window_start, window_end, ...` over a window table function (also with
    /// `GROUPING SETS`, `ROLLUP` or `CUBE` of the other keys).
    pub(super) fn aggregate(&mut self, aggregate: &Aggregate) -> SqlResult<NodeId> {
        // Only an updating GROUP BY makes -U rows; the window aggregations make none.
        let update_before_unneeded = std::mem::take(&mut self.update_before_unneeded);
        let expansion = expand_grouping_sets(aggregate)?;
        if let Some(session) = SessionInput::find(aggregate)? {
            if expansion.is_some() {
                return Err(SqlError::new(
                    "GROUPING SETS, CUBE and ROLLUP over SESSION windows are not supported yet",
                ));
            }
            return self.session_aggregate(aggregate, session);
        }
        let (input_schema, group_expr) = match &expansion {
            Some(expansion) => (&expansion.schema, &expansion.keys),
            None => (aggregate.input.schema(), &aggregate.group_expr),
        };
        // The input's window bounds, from a window function or a window aggregation (a
        // cascading one), under any name; both must be keys (of every grouping set).
        let is_key = |i: usize| (group_expr.iter()).any(|e| column_of(e, input_schema) == Some(i));
        let Some((window_start, window_end)) = self
            .window_bounds(&aggregate.input)
            .filter(|&(start, end)| is_key(start) && is_key(end))
        else {
            return self.group_aggregate(aggregate, expansion, !update_before_unneeded);
        };
        // Flink orders a window's ARRAY_AGG(DISTINCT) values as its state holds them, not
        // as they came (oracle: MOD(x, 2) of 1, 2 gives [0, 1]).
        let distinct_array = (aggregate.aggr_expr.iter()).any(|e| {
            matches!(e, Expr::AggregateFunction(f) if f.func.name() == "array_agg" && f.params.distinct)
        });
        if distinct_array {
            return Err(SqlError::new(
                "ARRAY_AGG(DISTINCT ...) in a window aggregation is not supported yet",
            ));
        }
        // The window's columns are constant in a window: only the other keys are hashed.
        let bound = |e: &Expr| match column_of(e, input_schema) {
            Some(i) if i == window_start => Some(0),
            Some(i) if i == window_end => Some(1),
            _ => window_named(e).filter(|&w| w == 2),
        };
        // Early results read each window's own groups: no slices.
        let early_fire = self.early_fire()?;
        self.slice_request =
            expansion.is_none() && sliceable(aggregate, &bound) && early_fire.is_none();
        let (layout, keys) = window_layout(group_expr, bound, aggregate.aggr_expr.len());
        let group_by = self.group_by(&keys, &aggregate.aggr_expr, input_schema)?;
        let mut input = self.plan_windowed(&aggregate.input, "window aggregation")?;
        if let Some(expansion) = &expansion {
            input = self.expand(input, aggregate.input.schema(), expansion)?;
        }
        self.slice_request = false;
        let sliced = self.sliced.take();
        let processing_time = self.processing_time_windows.contains(&input);
        if processing_time && early_fire.is_some() {
            return Err(SqlError::new(
                "early results of windows on processing time are not supported",
            ));
        }
        let rows = output_schema(input_schema);
        let updating = self.late_policy(input).lateness() > 0 || early_fire.is_some();
        let keyed = vec![(input, Self::typed_keys(&group_by.keys, &rows)?)];
        let output = output_schema(&aggregate.schema);
        // Late rows as they came, not as expanded.
        let arrived = output_schema(aggregate.input.schema());
        let node = self.add_keyed(keyed, output.clone(), |planner| {
            let (policy, late) = match &expansion {
                Some(expansion) => {
                    let (policy, late) = planner.late_rows(input, arrived.clone(), true)?;
                    let late = expansion.late_rows_once(late, arrived.fields().len());
                    (policy, late)
                }
                None => planner.late_rows(input, rows.clone(), true)?,
            };
            let operator = WindowAggregate::new(
                group_by.clone(),
                window_end,
                Some(window_start),
                layout.clone(),
                output.clone(),
                &policy,
                late,
            );
            Ok(match (sliced, early_fire) {
                _ if processing_time => Box::new(operator.on_processing_time()),
                (Some(kind), _) => Box::new(operator.with_slices(kind)),
                (None, Some(EarlyFire::EventTime(interval))) => {
                    Box::new(operator.with_early_fire(interval))
                }
                (None, Some(EarlyFire::ProcessingTime(delay))) => {
                    let delay = std::time::Duration::from_millis(delay as u64);
                    Box::new(operator.with_early_fire_on_ticks(delay))
                }
                (None, None) => Box::new(operator),
            })
        })?;
        if expansion.is_none() {
            let width = output.fields().len();
            self.computes_columns(node, input, group_expr, input_schema, width);
        }
        if updating {
            self.updating.insert(node);
            self.folded_changes.insert(node);
        }
        if processing_time {
            // Its rows have no event time, and their windows are done.
            self.processing_time_windows.remove(&node);
            self.no_time_attribute.insert(node);
        }
        Ok(node)
    }

    /// `GROUP BY` without windows: an updating aggregation. `GROUPING SETS`, `ROLLUP` and
    /// `CUBE` aggregate the input expanded to a row per grouping set. Unless `update_before`, it
    /// makes no `-U` rows (for a sink that needs none).
    fn group_aggregate(
        &mut self,
        aggregate: &Aggregate,
        expansion: Option<Expansion>,
        update_before: bool,
    ) -> SqlResult<NodeId> {
        let expanded = expansion.is_some();
        let (group_by, input, input_rows) = match expansion {
            Some(expansion) => {
                if self.window_bounds(&aggregate.input).is_some() {
                    return Err(SqlError::new(
                        "a window aggregation by GROUPING SETS, CUBE or ROLLUP needs \
                         window_start and window_end in every grouping set",
                    ));
                }
                let group_by =
                    self.group_by(&expansion.keys, &aggregate.aggr_expr, &expansion.schema)?;
                let input = self.plan(&aggregate.input)?;
                let input = self.expand(input, aggregate.input.schema(), &expansion)?;
                (group_by, input, output_schema(&expansion.schema))
            }
            None => {
                let input_schema = aggregate.input.schema();
                let group_by =
                    self.group_by(&aggregate.group_expr, &aggregate.aggr_expr, input_schema)?;
                let input = self.plan(&aggregate.input)?;
                (group_by, input, output_schema(input_schema))
            }
        };
        let retracting = self.updating.contains(&input);
        if retracting {
            // Refused at planning rather than failing on the first retraction.
            for call in &group_by.calls {
                let name = call.function.fun().name();
                let kept = matches!(name, "min" | "max" | "first_value" | "last_value");
                let retracts = call
                    .function
                    .create_sliding_accumulator()
                    .is_ok_and(|a| a.supports_retract_batch());
                if !kept && !retracts {
                    return Err(SqlError::new(format!(
                        "{} over an updating input (an aggregate of an aggregate, a join with \
                         an outer side, a changelog source) is not supported yet: it cannot take \
                         back a row",
                        name.to_ascii_uppercase()
                    )));
                }
            }
        }
        let ttl = self.state_ttl_of(&aggregate.input);
        let keyed = vec![(input, Self::typed_keys(&group_by.keys, &input_rows)?)];
        let output = output_schema(&aggregate.schema);
        let node = self.add_keyed(keyed, output.clone(), |_| {
            let mut operator = GroupAggregate::new(group_by.clone(), output.clone(), retracting)?;
            if !update_before {
                operator = operator.without_update_before();
            }
            Ok(Box::new(operator.with_ttl(ttl)))
        })?;
        if !expanded {
            let (keys, schema) = (&aggregate.group_expr, aggregate.input.schema());
            self.computes_columns(node, input, keys, schema, output.fields().len());
        }
        if self.unbounded_input {
            self.dataflow.warn(
                "GROUP BY without a window keeps state for every key it has seen, and this \
                 query's input never ends: its memory grows with the number of distinct keys \
                 (window the aggregation, or set 'rill.state.max-size' to stop the job first)",
            );
        }
        self.updating.insert(node);
        self.folded_changes.insert(node);
        Ok(node)
    }

    /// `input` (rows of `input_schema`) once per projection of `expansion`, merged.
    fn expand(
        &mut self,
        input: NodeId,
        input_schema: &DFSchema,
        expansion: &Expansion,
    ) -> SqlResult<NodeId> {
        let rows = output_schema(&expansion.schema);
        let mut parts = Vec::with_capacity(expansion.projections.len());
        for projection in &expansion.projections {
            let projection = self.physicals(projection, input_schema)?;
            let calc = Calc::new(None, Some(projection), rows.clone())?;
            parts.push(self.add(Box::new(calc), input));
        }
        let node = (self.dataflow).add_operator(Box::new(Union::new(rows)), parts);
        self.inherit(node, input);
        Ok(node)
    }

    /// When window aggregations emit early results, if they do.
    fn early_fire(&self) -> SqlResult<Option<EarlyFire>> {
        let (every, option) = match self.early_fire {
            None => return Ok(None),
            Some(EarlyFire::EventTime(n)) => (n, EARLY_FIRE_INTERVAL),
            Some(EarlyFire::ProcessingTime(n)) => (n, FLINK_EARLY_FIRE_DELAY),
        };
        if every <= 0 {
            return Err(SqlError::new(format!(
                "'{option}' must be a positive duration"
            )));
        }
        Ok(self.early_fire)
    }

    /// Aggregation over `SESSION`: one operator over the function's input rows.
    fn session_aggregate(
        &mut self,
        aggregate: &Aggregate,
        session: SessionInput,
    ) -> SqlResult<NodeId> {
        let SessionInput {
            tvf,
            group_expr,
            aggr_expr,
            filters,
        } = session;
        let WindowKind::Session { gap } = tvf.kind else {
            unreachable!("SessionInput holds a SESSION")
        };
        self.event_time_only(&tvf.input, tvf.time_index()?, "a window")?;
        if self.early_fire()?.is_some() {
            return Err(SqlError::new(
                "early results are for TUMBLE, HOP and CUMULATE windows, not SESSION (as in \
                 Flink)",
            ));
        }
        let uses_window = |e: &Expr| {
            e.column_refs()
                .iter()
                .any(|c| c.relation.is_none() && WINDOW_COLUMNS.contains(&c.name.as_str()))
        };
        let (output, keys) = window_layout(&group_expr, window_named, aggr_expr.len());
        if let Some(key) = keys.iter().find(|k| uses_window(k)) {
            return Err(SqlError::new(format!(
                "a session window's group key can use window columns only as they are: {key}"
            )));
        }
        if !(output.contains(&WindowOutput::Start) && output.contains(&WindowOutput::End)) {
            return Err(SqlError::new(
                "aggregation over SESSION must GROUP BY window_start and window_end",
            ));
        }
        for key in &tvf.partition {
            if !keys.contains(key) {
                return Err(SqlError::new(format!(
                    "GROUP BY must include the SESSION's PARTITION BY key {key}"
                )));
            }
        }
        if aggr_expr.iter().chain(&filters).any(uses_window) {
            return Err(SqlError::new(
                "aggregates over SESSION cannot use window_start, window_end or window_time",
            ));
        }
        let input_schema = tvf.input.schema();
        let mut input = self.plan_append_only(&tvf.input, "a window function")?;
        if let Some(predicate) = conjunction(filters) {
            let predicate = self.physical(&predicate, input_schema)?;
            let calc = Calc::new(Some(predicate), None, output_schema(input_schema))?;
            input = self.add(Box::new(calc), input);
        }
        let group_by = self.group_by(&keys, &aggr_expr, input_schema)?;
        let rows = output_schema(input_schema);
        let time = tvf.time_index()?;
        let keyed = vec![(input, Self::typed_keys(&group_by.keys, &rows)?)];
        let schema = output_schema(&aggregate.schema);
        self.add_keyed(keyed, schema.clone(), |planner| {
            let (_, late) = planner.late_rows(input, rows.clone(), false)?;
            let operator = SessionAggregate::new(
                group_by.clone(),
                time,
                gap,
                output.clone(),
                schema.clone(),
                late,
            )?;
            Ok(Box::new(operator))
        })
    }

    /// An aggregate call as a physical aggregate over rows of `input_schema`. `FIRST_VALUE`
    /// and `LAST_VALUE` skip NULLs, as Flink's do (DataFusion's keep them unless told
    /// `IGNORE NULLS`).
    pub(super) fn lower_aggregate(
        &self,
        expr: &Expr,
        input_schema: &DFSchema,
    ) -> SqlResult<LoweredAggregate> {
        let expr = expr
            .clone()
            .transform_up(|e| match e {
                Expr::AggregateFunction(mut f)
                    if matches!(f.func.name(), "first_value" | "last_value") =>
                {
                    f.params.null_treatment = Some(NullTreatment::IgnoreNulls);
                    Ok(Transformed::yes(Expr::AggregateFunction(f)))
                }
                other => Ok(Transformed::no(other)),
            })?
            .data;
        let planning = PhysicalPlanningContext::default();
        Ok(LoweredAggregateBuilder::new(
            &expr,
            input_schema,
            input_schema.as_arrow(),
            self.context.execution_props(),
            &planning,
        )
        .build()?)
    }

    /// Keys and aggregate calls of an `Aggregate`, as physical expressions over its input.
    pub(super) fn group_by(
        &self,
        group_expr: &[Expr],
        aggr_expr: &[Expr],
        input_schema: &DFSchema,
    ) -> SqlResult<GroupBy> {
        if group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
            return Err(SqlError::new(
                "GROUPING SETS, CUBE and ROLLUP are not supported in this aggregation yet",
            ));
        }
        let keys = group_expr
            .iter()
            .map(|e| self.physical(e, input_schema))
            .collect::<SqlResult<Vec<_>>>()?;
        let key_fields = group_expr
            .iter()
            .map(|e| {
                Ok(e.to_field(input_schema)?
                    .1
                    .as_ref()
                    .clone()
                    .with_nullable(true))
            })
            .collect::<SqlResult<Vec<Field>>>()?;
        let key_schema = Arc::new(Schema::new(key_fields));
        let mut calls = Vec::with_capacity(aggr_expr.len());
        for expr in aggr_expr {
            let lowered = self.lower_aggregate(expr, input_schema)?;
            if !lowered.order_bys.is_empty() {
                return Err(SqlError::new(format!(
                    "ORDER BY inside an aggregate call is not supported: {expr}"
                )));
            }
            calls.push(AggregateCall {
                function: lowered.aggregate,
                filter: lowered.filter,
            });
        }
        Ok(GroupBy {
            keys,
            key_schema,
            calls,
        })
    }
}

/// The input of an aggregation by `GROUPING SETS`, `ROLLUP` or `CUBE`, with each row repeated
/// once per grouping set: the input's columns followed by the grouping expressions, NULL where
/// the set leaves them out (but for columns in every set, such as a window's bounds, which are
/// keys as they are), and the set's `__grouping_id` as DataFusion numbers it (a bit per
/// expression, set where it is left out, the rightmost the lowest).
struct Expansion {
    /// Per grouping set, the expressions of its rows over the input.
    projections: Vec<Vec<Expr>>,
    /// The expanded rows' columns.
    schema: DFSchemaRef,
    /// The grouping expressions' columns and `__grouping_id`, which the rows are grouped by.
    keys: Vec<Expr>,
    /// The `__grouping_id` of the first set's copies.
    first_id: u64,
}

impl Expansion {
    /// `late` counting (and sending) each input row once, as it came.
    fn late_rows_once(&self, late: LateRows, input_columns: usize) -> LateRows {
        late.of_copies(self.schema.fields().len() - 1, self.first_id, input_columns)
    }
}

/// The expansion of `aggregate`'s input, if it groups by grouping sets.
fn expand_grouping_sets(aggregate: &Aggregate) -> SqlResult<Option<Expansion>> {
    let [Expr::GroupingSet(set)] = aggregate.group_expr.as_slice() else {
        return Ok(None);
    };
    let distinct = set.distinct_expr();
    let n = distinct.len();
    let sets: Vec<Vec<&Expr>> = match set {
        GroupingSet::Rollup(exprs) => (0..=exprs.len())
            .rev()
            .map(|i| exprs[..i].iter().collect())
            .collect(),
        GroupingSet::Cube(exprs) => (0..1usize << exprs.len())
            .map(|left_out| {
                (exprs.iter().enumerate())
                    .filter(|&(j, _)| left_out & (1 << j) == 0)
                    .map(|(_, e)| e)
                    .collect()
            })
            .collect(),
        GroupingSet::GroupingSets(sets) => sets.iter().map(|s| s.iter().collect()).collect(),
    };
    // A column in every set (a window's bounds) is a key as it is.
    let always = |e: &Expr| matches!(e, Expr::Column(_)) && sets.iter().all(|s| s.contains(&e));
    let schema = aggregate.input.schema();
    let id_type = aggregate.schema.field(n).data_type();
    let mut masks: Vec<u64> = Vec::with_capacity(sets.len());
    let mut projections = Vec::with_capacity(sets.len());
    for grouped in &sets {
        let mask = (distinct.iter().enumerate())
            .filter(|(_, e)| !grouped.contains(e))
            .fold(0u64, |mask, (j, _)| mask | 1 << (n - 1 - j));
        // Flink answers a repeated set with rows that are not the set's (checked with the
        // oracle): refused rather than answered otherwise.
        if masks.contains(&mask) {
            return Err(SqlError::new(
                "a grouping set that repeats another is not supported (Flink's answer for it \
                 differs from SQL's)",
            ));
        }
        masks.push(mask);
        let mut exprs: Vec<Expr> = schema.columns().into_iter().map(Expr::Column).collect();
        for (j, key) in distinct.iter().enumerate() {
            if always(key) {
                continue;
            }
            let value = match grouped.contains(key) {
                true => (*key).clone(),
                false => Expr::Literal(ScalarValue::try_from(&key.get_type(schema)?)?, None),
            };
            exprs.push(value.alias(grouping_key(j)));
        }
        let id = ScalarValue::UInt64(Some(mask)).cast_to(id_type)?;
        exprs.push(Expr::Literal(id, None).alias(Aggregate::INTERNAL_GROUPING_ID));
        projections.push(exprs);
    }
    // The columns of a projection that keeps the input's names (and so its qualifiers), with
    // every key nullable.
    let first = LogicalPlanBuilder::from(aggregate.input.as_ref().clone())
        .project(projections[0].clone())?
        .build()?;
    let fields = (first.schema().iter())
        .map(|(qualifier, field)| {
            let nullable = field.is_nullable() || field.name().starts_with(GROUPING_KEY);
            let field = Arc::new(field.as_ref().clone().with_nullable(nullable));
            (qualifier.cloned(), field)
        })
        .collect();
    let keys = (distinct.iter().enumerate())
        .map(|(j, key)| match always(key) {
            true => (*key).clone(),
            false => Expr::Column(Column::from_name(grouping_key(j))),
        })
        .chain([Expr::Column(Column::from_name(
            Aggregate::INTERNAL_GROUPING_ID,
        ))])
        .collect();
    Ok(Some(Expansion {
        projections,
        schema: Arc::new(DFSchema::new_with_metadata(fields, HashMap::new())?),
        keys,
        first_id: masks[0],
    }))
}

/// The prefix of the grouping expressions' columns in the expanded input.
const GROUPING_KEY: &str = "__rill_grouping_key";

/// The name of the `j`-th grouping expression's column in the expanded input.
fn grouping_key(j: usize) -> String {
    format!("{GROUPING_KEY}{j}")
}

/// Whether a window aggregation can take its rows by slice: its input is a HOP or CUMULATE
/// function through projections, filters and aliases that use the window columns only to
/// pass them on, and the aggregation uses them only as the window's keys (`bound` says which
/// keys are the window's). A slice's bounds are not its windows': nothing else may see them.
fn sliceable(aggregate: &Aggregate, bound: &impl Fn(&Expr) -> Option<usize>) -> bool {
    let mut path = Vec::new();
    let mut plan = aggregate.input.as_ref();
    let tvf = loop {
        let input = match plan {
            LogicalPlan::Projection(p) => &p.input,
            LogicalPlan::Filter(f) => &f.input,
            LogicalPlan::SubqueryAlias(a) => &a.input,
            LogicalPlan::Extension(e) => match e.node.as_any().downcast_ref::<WindowTvf>() {
                Some(tvf) if tvf.kind.slice().is_some() => break tvf,
                _ => return false,
            },
            _ => return false,
        };
        path.push(plan);
        plan = input.as_ref();
    };
    // The positions of the window columns in the rows of each node, from the function up.
    let n = tvf.schema.fields().len();
    let mut window: Vec<usize> = (n - WINDOW_COLUMNS.len()..n).collect();
    let uses = |window: &[usize], e: &Expr, schema: &DFSchema| {
        (e.column_refs().iter())
            .any(|c| schema.index_of_column(c).is_ok_and(|i| window.contains(&i)))
    };
    for node in path.into_iter().rev() {
        match node {
            LogicalPlan::Projection(p) => {
                let mut passed = Vec::new();
                for (i, e) in p.expr.iter().enumerate() {
                    match e.clone().unalias() {
                        _ if !uses(&window, e, p.input.schema()) => {}
                        Expr::Column(_) => passed.push(i),
                        _ => return false,
                    }
                }
                window = passed;
            }
            LogicalPlan::Filter(f) if uses(&window, &f.predicate, f.input.schema()) => {
                return false;
            }
            _ => {}
        }
    }
    let schema = aggregate.input.schema();
    let window_key = |e: &Expr| !uses(&window, e, schema) || bound(e).is_some();
    aggregate.group_expr.iter().all(window_key)
        && !aggregate.aggr_expr.iter().any(|e| uses(&window, e, schema))
}

/// What each output column of a window aggregation holds: the window's columns among the
/// group keys, the other keys (returned), then the aggregates.
fn window_layout(
    group_expr: &[Expr],
    window: impl Fn(&Expr) -> Option<usize>,
    aggregates: usize,
) -> (Vec<WindowOutput>, Vec<Expr>) {
    let mut layout = Vec::with_capacity(group_expr.len() + aggregates);
    let mut keys = Vec::new();
    for e in group_expr {
        layout.push(match window(e) {
            Some(0) => WindowOutput::Start,
            Some(1) => WindowOutput::End,
            Some(_) => WindowOutput::Time,
            _ => {
                keys.push(e.clone());
                WindowOutput::Key(keys.len() - 1)
            }
        });
    }
    layout.extend((0..aggregates).map(WindowOutput::Aggregate));
    (layout, keys)
}

/// The `SESSION` function under an aggregation, with the aggregation's expressions and the
/// filters in between rewritten onto the function's columns.
struct SessionInput {
    tvf: WindowTvf,
    group_expr: Vec<Expr>,
    aggr_expr: Vec<Expr>,
    filters: Vec<Expr>,
}

impl SessionInput {
    fn find(aggregate: &Aggregate) -> SqlResult<Option<SessionInput>> {
        let mut group_expr = aggregate.group_expr.clone();
        let mut aggr_expr = aggregate.aggr_expr.clone();
        let mut filters = Vec::new();
        let mut plan = aggregate.input.as_ref();
        loop {
            // Each step maps the columns of `plan` onto expressions over its input.
            let (map, input): (HashMap<Column, Expr>, &LogicalPlan) = match plan {
                LogicalPlan::Projection(p) => (
                    p.schema
                        .columns()
                        .into_iter()
                        .zip(p.expr.iter().map(|e| e.clone().unalias()))
                        .collect(),
                    p.input.as_ref(),
                ),
                LogicalPlan::SubqueryAlias(a) => (
                    a.schema
                        .columns()
                        .into_iter()
                        .zip(a.input.schema().columns().into_iter().map(Expr::Column))
                        .collect(),
                    a.input.as_ref(),
                ),
                LogicalPlan::Filter(f) => {
                    filters.push(f.predicate.clone());
                    plan = f.input.as_ref();
                    continue;
                }
                LogicalPlan::Extension(e) => {
                    return Ok(e
                        .node
                        .as_any()
                        .downcast_ref::<WindowTvf>()
                        .filter(|t| matches!(t.kind, WindowKind::Session { .. }))
                        .map(|tvf| SessionInput {
                            tvf: tvf.clone(),
                            group_expr,
                            aggr_expr,
                            filters,
                        }));
                }
                _ => return Ok(None),
            };
            for e in group_expr
                .iter_mut()
                .chain(aggr_expr.iter_mut())
                .chain(filters.iter_mut())
            {
                *e = substitute(e.clone(), &map)?;
            }
            plan = input;
        }
    }
}

/// `expr` with the columns in `map` replaced.
pub(super) fn substitute(expr: Expr, map: &HashMap<Column, Expr>) -> SqlResult<Expr> {
    Ok(expr
        .transform(|e| match &e {
            Expr::Column(c) => match map.get(c) {
                Some(replacement) => Ok(Transformed::yes(replacement.clone())),
                None => Ok(Transformed::no(e)),
            },
            _ => Ok(Transformed::no(e)),
        })?
        .data)
}

/// Which window column `e` names: 0 for `window_start`, 1 `window_end`, 2 `window_time`.
fn window_named(e: &Expr) -> Option<usize> {
    match e {
        Expr::Column(c) => WINDOW_COLUMNS.iter().position(|w| *w == c.name),
        _ => None,
    }
}

/// The column among `keys` named like window column `n` (`window_start`, `window_end`, ...).
pub(super) fn window_column(keys: &[Expr], n: usize) -> Option<&Column> {
    keys.iter().find_map(|e| match e {
        Expr::Column(c) if window_named(e) == Some(n) => Some(c),
        _ => None,
    })
}
