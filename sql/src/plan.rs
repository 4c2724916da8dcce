//! The stream planner: a DataFusion `LogicalPlan` becomes an engine [`Dataflow`] of sources
//! and incremental operators. Expressions become DataFusion `PhysicalExpr`s evaluated on
//! whole batches.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::compute::SortOptions;
use arrow::datatypes::DataType;
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::DFSchema;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, ScalarValue};
use datafusion::execution::SessionState;
use datafusion::logical_expr::expr::WindowFunctionParams;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    Aggregate, Expr, ExprSchemable, LogicalPlan, Operator, Window, WindowFrameBound,
    WindowFrameUnits, WindowFunctionDefinition,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::aggregate::LoweredAggregateBuilder;
use datafusion::physical_planner::create_window_expr;
use rill_engine::Dataflow;
use rill_engine::dataflow::NodeId;
use rill_engine::operator::aggregate::{AggregateCall, GroupBy};
use rill_engine::operator::{
    Calc, Frame, GroupAggregate, Operator as StreamOperator, OverAggregate, SessionAggregate,
    SortKey, WindowAggregate, WindowAssign, WindowOutput, WindowRank,
};
use rill_engine::source::{FileSource, FileSourceOptions, ValuesSource, WatermarkAssigner};
use rill_engine::window::WindowKind;

use crate::catalog::TableDef;
use crate::connector::Connector;
use crate::error::{SqlError, SqlResult};
use crate::window::{WINDOW_COLUMNS, WindowTvf, interval_millis};
use rill_engine::late::{LatePolicy, LateRows};

/// A planned query: its dataflow up to the node that emits the result rows.
pub struct QueryPlan {
    pub dataflow: Dataflow,
    /// The node whose output is the query result.
    pub output: NodeId,
    /// The result columns.
    pub schema: SchemaRef,
    /// Whether the result is a changelog with updates (`-U`, `+U`, `-D`) rather than inserts.
    pub updating: bool,
}

/// Builds a dataflow for one query.
pub struct StreamPlanner<'a> {
    state: &'a SessionState,
    tables: &'a BTreeMap<String, TableDef>,
    batch_size: usize,
    dataflow: Dataflow,
    /// Nodes whose output is an updating changelog.
    updating: HashSet<NodeId>,
    /// `rownum <= N` of a filter above the `ROW_NUMBER()` window being planned.
    rank_limit: Option<usize>,
    /// Late-row policies set by tables, by the nodes their rows flow through.
    late: HashMap<NodeId, LatePolicy>,
    /// The session's late-row policy, for rows of tables without one.
    default_late: LatePolicy,
}

impl<'a> StreamPlanner<'a> {
    /// A planner resolving tables in `tables`; sources read `batch_size` rows at a time;
    /// late rows of tables without a policy get `default_late`.
    pub fn new(
        state: &'a SessionState,
        tables: &'a BTreeMap<String, TableDef>,
        batch_size: usize,
        default_late: LatePolicy,
    ) -> Self {
        StreamPlanner {
            state,
            tables,
            batch_size,
            dataflow: Dataflow::new(),
            updating: HashSet::new(),
            rank_limit: None,
            late: HashMap::new(),
            default_late,
        }
    }

    /// Plans `plan` (optimised) into a dataflow.
    pub fn plan_query(mut self, plan: &LogicalPlan) -> SqlResult<QueryPlan> {
        let output = self.plan(plan)?;
        Ok(QueryPlan {
            updating: self.updating.contains(&output),
            dataflow: self.dataflow,
            output,
            schema: output_schema(plan.schema()),
        })
    }

    fn plan(&mut self, plan: &LogicalPlan) -> SqlResult<NodeId> {
        match plan {
            LogicalPlan::Projection(p) => {
                let (predicate, input) = match p.input.as_ref() {
                    LogicalPlan::Filter(f) => (Some(&f.predicate), f.input.as_ref()),
                    other => (None, other),
                };
                if let Some(predicate) = predicate {
                    self.rank_limit = rank_limit(predicate, input)?;
                }
                let node = self.plan(input)?;
                let schema = input.schema();
                let predicate = predicate.map(|e| self.physical(e, schema)).transpose()?;
                let exprs = p
                    .expr
                    .iter()
                    .map(|e| self.physical(e, schema))
                    .collect::<SqlResult<Vec<_>>>()?;
                let calc = Calc::new(predicate, Some(exprs), output_schema(&p.schema));
                Ok(self.add(Box::new(calc), node))
            }
            LogicalPlan::Filter(f) => {
                self.rank_limit = rank_limit(&f.predicate, &f.input)?;
                let node = self.plan(&f.input)?;
                let predicate = self.physical(&f.predicate, f.input.schema())?;
                let calc = Calc::new(Some(predicate), None, output_schema(f.input.schema()));
                Ok(self.add(Box::new(calc), node))
            }
            LogicalPlan::SubqueryAlias(a) => self.plan(&a.input),
            LogicalPlan::TableScan(scan) => {
                let name = scan.table_name.table();
                let table = self.tables.get(name).ok_or_else(|| {
                    SqlError::new(format!("table '{name}' is not a stream table"))
                })?;
                if !scan.filters.is_empty() {
                    return Err(SqlError::new("internal error: filters pushed into a scan"));
                }
                let node = self.scan(table, scan.projection.clone())?;
                if let Some(policy) = &table.late {
                    self.late.insert(node, policy.clone());
                }
                Ok(node)
            }
            LogicalPlan::EmptyRelation(e) => {
                let rows = usize::from(e.produce_one_row);
                let schema = output_schema(&e.schema);
                let options = RecordBatchOptions::new().with_row_count(Some(rows));
                let batch = RecordBatch::try_new_with_options(schema, vec![], &options)?;
                let source = ValuesSource::new(vec![batch]);
                Ok(self.dataflow.add_source(Box::new(source)))
            }
            LogicalPlan::Values(v) => {
                // Each row is a list of constant expressions: evaluate them on a one-row batch.
                let one = RecordBatch::try_new_with_options(
                    Arc::new(Schema::empty()),
                    vec![],
                    &RecordBatchOptions::new().with_row_count(Some(1)),
                )?;
                let schema = output_schema(&v.schema);
                let empty = DFSchema::empty();
                let mut batches = Vec::with_capacity(v.values.len());
                for row in &v.values {
                    let mut columns = Vec::with_capacity(row.len());
                    for (expr, field) in row.iter().zip(schema.fields()) {
                        let value = self.physical(expr, &empty)?.evaluate(&one)?.into_array(1)?;
                        columns.push(arrow::compute::cast(&value, field.data_type())?);
                    }
                    batches.push(RecordBatch::try_new(schema.clone(), columns)?);
                }
                Ok(self
                    .dataflow
                    .add_source(Box::new(ValuesSource::new(batches))))
            }
            LogicalPlan::Extension(e) => match e.node.as_any().downcast_ref::<WindowTvf>() {
                Some(tvf) => self.window_tvf(tvf),
                None => Err(SqlError::new(format!("{} is not supported", e.node.name()))),
            },
            LogicalPlan::Aggregate(aggregate) => self.aggregate(aggregate),
            LogicalPlan::Window(window) => self.window(window),
            other => Err(SqlError::new(format!(
                "{} is not supported on streams yet",
                describe_node(other)
            ))),
        }
    }

    /// Adds an operator over `input` whose output updates when its input does.
    /// Its late-row policy is the input's.
    fn add(&mut self, operator: Box<dyn StreamOperator>, input: NodeId) -> NodeId {
        let node = self.dataflow.add_operator(operator, vec![input]);
        if self.updating.contains(&input) {
            self.updating.insert(node);
        }
        if let Some(policy) = self.late.get(&input).cloned() {
            self.late.insert(node, policy);
        }
        node
    }

    /// What to do with late rows reaching an operator on `input`, which must not be `update`
    /// unless `updates` (only window aggregation updates results).
    fn late_rows(
        &self,
        input: NodeId,
        schema: SchemaRef,
        updates: bool,
    ) -> SqlResult<(LatePolicy, LateRows)> {
        let policy = self.late.get(&input).unwrap_or(&self.default_late).clone();
        if !updates && matches!(policy, LatePolicy::Update { .. }) {
            return Err(SqlError::new(
                "'rill.late-rows' = 'update' applies to window aggregation only; \
                 this query's late rows would reach another operator",
            ));
        }
        let late = LateRows::new(&policy, schema, self.dataflow.metrics())?;
        Ok((policy, late))
    }

    /// Plans `plan`, which must be append-only to feed `what`.
    fn plan_append_only(&mut self, plan: &LogicalPlan, what: &str) -> SqlResult<NodeId> {
        let node = self.plan(plan)?;
        if self.updating.contains(&node) {
            return Err(SqlError::new(format!(
                "{what} needs an append-only input, but its input is an updating result \
                 (e.g. of a GROUP BY without windows)"
            )));
        }
        Ok(node)
    }

    /// `TUMBLE`, `HOP`, `CUMULATE`: rows get their windows.
    fn window_tvf(&mut self, tvf: &WindowTvf) -> SqlResult<NodeId> {
        if matches!(tvf.kind, WindowKind::Session { .. }) {
            return Err(SqlError::new(
                "SESSION windows are supported in window aggregation only: \
                 GROUP BY window_start, window_end, ...",
            ));
        }
        let input = self.plan_append_only(&tvf.input, "a window function")?;
        let assign = WindowAssign::new(
            tvf.kind,
            tvf.time_index()?,
            tvf.kept.clone(),
            output_schema(&tvf.schema),
        );
        Ok(self.add(Box::new(assign), input))
    }

    /// `GROUP BY window_start, window_end, ...` over a window table function.
    fn aggregate(&mut self, aggregate: &Aggregate) -> SqlResult<NodeId> {
        if let Some(session) = SessionInput::find(aggregate)? {
            return self.session_aggregate(aggregate, session);
        }
        let input_schema = aggregate.input.schema();
        let window_end = aggregate.group_expr.iter().find_map(|e| match e {
            Expr::Column(c) if c.name == WINDOW_COLUMNS[1] => Some(c),
            _ => None,
        });
        let has_start = aggregate
            .group_expr
            .iter()
            .any(|e| matches!(e, Expr::Column(c) if c.name == WINDOW_COLUMNS[0]));
        let (Some(window_end), true) = (window_end, has_start && has_window(&aggregate.input))
        else {
            return self.group_aggregate(aggregate);
        };
        let window_end = input_schema.index_of_column(window_end)?;
        let group_by = self.group_by(&aggregate.group_expr, &aggregate.aggr_expr, input_schema)?;
        let input = self.plan_append_only(&aggregate.input, "window aggregation")?;
        let (policy, late) = self.late_rows(input, output_schema(input_schema), true)?;
        let updating = policy.lateness() > 0;
        let operator = WindowAggregate::new(
            group_by,
            window_end,
            output_schema(&aggregate.schema),
            &policy,
            late,
        );
        let node = self.add(Box::new(operator), input);
        if updating {
            self.updating.insert(node);
        }
        Ok(node)
    }

    /// `ROW_NUMBER() OVER (PARTITION BY window_start, window_end, ... ORDER BY ...)` under a
    /// filter `rownum <= N`: window Top-N (and deduplication with N = 1).
    fn window(&mut self, window: &Window) -> SqlResult<NodeId> {
        let limit = self.rank_limit.take();
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
        let name = function.fun.name().to_ascii_uppercase();
        let params = &function.params;
        let window_end = params.partition_by.iter().find_map(|e| match e {
            Expr::Column(c) if c.name == WINDOW_COLUMNS[1] => Some(c),
            _ => None,
        });
        let has_start = params
            .partition_by
            .iter()
            .any(|e| matches!(e, Expr::Column(c) if c.name == WINDOW_COLUMNS[0]));
        let (Some(window_end), true, "ROW_NUMBER") = (window_end, has_start, name.as_str()) else {
            return Err(SqlError::new(format!(
                "{name} OVER (...) is not supported on streams yet: window Top-N needs \
                 ROW_NUMBER() OVER (PARTITION BY window_start, window_end, ... ORDER BY ...)"
            )));
        };
        let Some(limit) = limit else {
            return Err(SqlError::new(
                "ROW_NUMBER() over windows needs a filter on its result: WHERE rownum <= N",
            ));
        };
        let schema = window.input.schema();
        let window_end = schema.index_of_column(window_end)?;
        let partition = params
            .partition_by
            .iter()
            .map(|e| self.physical(e, schema))
            .collect::<SqlResult<Vec<_>>>()?;
        let order = params
            .order_by
            .iter()
            .map(|sort| {
                Ok(SortKey {
                    expr: self.physical(&sort.expr, schema)?,
                    options: SortOptions {
                        descending: !sort.asc,
                        nulls_first: sort.nulls_first,
                    },
                })
            })
            .collect::<SqlResult<Vec<_>>>()?;
        let input = self.plan_append_only(&window.input, "window Top-N")?;
        let (_, late) = self.late_rows(input, output_schema(schema), false)?;
        let operator = WindowRank::new(
            window_end,
            partition,
            order,
            limit,
            output_schema(&window.schema),
            late,
        );
        Ok(self.add(Box::new(operator), input))
    }

    /// Aggregates `OVER (PARTITION BY ... ORDER BY time ROWS|RANGE ... PRECEDING)`.
    fn over_aggregate(&mut self, window: &Window) -> SqlResult<NodeId> {
        let mut shared: Option<&WindowFunctionParams> = None;
        for expr in &window.window_expr {
            let Expr::WindowFunction(f) = unaliased(expr) else {
                return Err(SqlError::new(format!(
                    "unexpected window expression {expr}"
                )));
            };
            if f.fun.name() == "row_number"
                || !matches!(f.fun, WindowFunctionDefinition::AggregateUDF(_))
            {
                return Err(SqlError::new(format!(
                    "{} OVER (...) is supported only for window Top-N \
                     (PARTITION BY window_start, window_end, ...) yet",
                    f.fun.name().to_ascii_uppercase()
                )));
            }
            let same = |p: &WindowFunctionParams| {
                p.partition_by == f.params.partition_by
                    && p.order_by == f.params.order_by
                    && p.window_frame == f.params.window_frame
            };
            match shared {
                None => shared = Some(&f.params),
                Some(p) if same(p) => {}
                Some(_) => {
                    return Err(SqlError::new(
                        "all OVER windows of a query must have the same PARTITION BY, \
                         ORDER BY and frame (as in Flink)",
                    ));
                }
            }
        }
        let params = shared.ok_or_else(|| SqlError::new("a window without functions"))?;
        let schema = window.input.schema();
        let time = match params.order_by.as_slice() {
            [sort] if sort.asc => match &sort.expr {
                Expr::Column(c) => {
                    let index = schema.index_of_column(c)?;
                    matches!(schema.field(index).data_type(), DataType::Timestamp(..))
                        .then_some(index)
                }
                _ => None,
            },
            _ => None,
        };
        let Some(time) = time else {
            return Err(SqlError::new(
                "OVER aggregates must be ordered by an event-time column, ascending: \
                 ORDER BY ts",
            ));
        };
        let frame = &params.window_frame;
        let bounded = match (&frame.units, &frame.start_bound, &frame.end_bound) {
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
        let Some(frame) = bounded else {
            return Err(SqlError::new(format!(
                "the OVER frame {frame} is not supported on streams yet: use ROWS BETWEEN n \
                 PRECEDING AND CURRENT ROW or RANGE BETWEEN INTERVAL '...' PRECEDING AND CURRENT ROW"
            )));
        };
        let partition = params
            .partition_by
            .iter()
            .map(|e| self.physical(e, schema))
            .collect::<SqlResult<Vec<_>>>()?;
        let planning = PhysicalPlanningContext::default();
        let functions = window
            .window_expr
            .iter()
            .map(|e| create_window_expr(e, schema, self.state.execution_props(), &planning))
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        let input = self.plan_append_only(&window.input, "an OVER aggregate")?;
        let (_, late) = self.late_rows(input, output_schema(schema), false)?;
        let operator = OverAggregate::new(
            partition,
            time,
            frame,
            functions,
            output_schema(schema),
            output_schema(&window.schema),
            late,
        )?;
        Ok(self.add(Box::new(operator), input))
    }

    /// `GROUP BY` without windows: an updating aggregation.
    fn group_aggregate(&mut self, aggregate: &Aggregate) -> SqlResult<NodeId> {
        let group_by = self.group_by(
            &aggregate.group_expr,
            &aggregate.aggr_expr,
            aggregate.input.schema(),
        )?;
        let input = self.plan(&aggregate.input)?;
        let retracting = self.updating.contains(&input);
        if retracting
            && let Some(call) = group_by.calls.iter().find(|c| {
                matches!(
                    c.function.fun().name(),
                    "min" | "max" | "first_value" | "last_value"
                )
            })
        {
            return Err(SqlError::new(format!(
                "{} over an updating input (an aggregate of an aggregate) is not supported yet: \
                 it needs every value kept to retract one",
                c_name(call)
            )));
        }
        let operator = GroupAggregate::new(group_by, output_schema(&aggregate.schema), retracting)?;
        let node = self.add(Box::new(operator), input);
        self.updating.insert(node);
        Ok(node)
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
        let window = |e: &Expr| match e {
            Expr::Column(c) if c.relation.is_none() => {
                WINDOW_COLUMNS.iter().position(|w| *w == c.name)
            }
            _ => None,
        };
        let uses_window = |e: &Expr| {
            e.column_refs()
                .iter()
                .any(|c| c.relation.is_none() && WINDOW_COLUMNS.contains(&c.name.as_str()))
        };
        let mut output = Vec::new();
        let mut keys = Vec::new();
        for e in &group_expr {
            match window(e) {
                Some(0) => output.push(WindowOutput::Start),
                Some(1) => output.push(WindowOutput::End),
                Some(_) => output.push(WindowOutput::Time),
                None if uses_window(e) => {
                    return Err(SqlError::new(format!(
                        "a session window's group key can use window columns only as they are: {e}"
                    )));
                }
                None => {
                    output.push(WindowOutput::Key(keys.len()));
                    keys.push(e.clone());
                }
            }
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
        output.extend((0..aggr_expr.len()).map(WindowOutput::Aggregate));
        let input_schema = tvf.input.schema();
        let mut input = self.plan_append_only(&tvf.input, "a window function")?;
        if let Some(predicate) = conjunction(filters) {
            let predicate = self.physical(&predicate, input_schema)?;
            let calc = Calc::new(Some(predicate), None, output_schema(input_schema));
            input = self.add(Box::new(calc), input);
        }
        let group_by = self.group_by(&keys, &aggr_expr, input_schema)?;
        let (_, late) = self.late_rows(input, output_schema(input_schema), false)?;
        let operator = SessionAggregate::new(
            group_by,
            tvf.time_index()?,
            gap,
            output,
            output_schema(&aggregate.schema),
            late,
        )?;
        Ok(self.add(Box::new(operator), input))
    }

    /// Keys and aggregate calls of an `Aggregate`, as physical expressions over its input.
    fn group_by(
        &self,
        group_expr: &[Expr],
        aggr_expr: &[Expr],
        input_schema: &DFSchema,
    ) -> SqlResult<GroupBy> {
        let arrow_schema = input_schema.as_arrow();
        if group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
            return Err(SqlError::new(
                "GROUPING SETS, CUBE and ROLLUP are not supported",
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
            let planning = PhysicalPlanningContext::default();
            let lowered = LoweredAggregateBuilder::new(
                expr,
                input_schema,
                arrow_schema,
                self.state.execution_props(),
                &planning,
            )
            .build()?;
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

    fn scan(&mut self, table: &TableDef, projection: Option<Vec<usize>>) -> SqlResult<NodeId> {
        match &table.connector {
            Connector::Filesystem {
                path,
                format,
                ignore_parse_errors,
            } => {
                let watermarks = match &table.watermark {
                    Some(w) => {
                        let schema = DFSchema::try_from(table.schema.as_ref().clone())?;
                        Some(match bounded_delay(&w.expr, &schema) {
                            Some((column, millis)) => WatermarkAssigner::delayed(column, millis),
                            None => WatermarkAssigner::new(self.physical(&w.expr, &schema)?),
                        })
                    }
                    None => None,
                };
                let options = FileSourceOptions {
                    path: path.clone(),
                    format: *format,
                    schema: table.schema.clone(),
                    projection,
                    batch_size: self.batch_size,
                    ignore_parse_errors: *ignore_parse_errors,
                };
                let source = FileSource::new(table.name.clone(), options, watermarks)
                    .map_err(|e| SqlError::new(format!("table '{}': {e}", table.name)))?;
                Ok(self.dataflow.add_source(Box::new(source)))
            }
            Connector::Print | Connector::Blackhole => Err(SqlError::new(format!(
                "table '{}' is a sink ('connector' = '{}') and cannot be read",
                table.name,
                if table.connector == Connector::Print {
                    "print"
                } else {
                    "blackhole"
                }
            ))),
        }
    }

    fn physical(&self, expr: &Expr, schema: &DFSchema) -> SqlResult<Arc<dyn PhysicalExpr>> {
        Ok(self.state.create_physical_expr(expr.clone(), schema)?)
    }
}

/// The Arrow schema rows of a plan node have. Every column is nullable: DataFusion's
/// nullability is an inference, and the engine should not fail on a NULL it missed.
pub fn output_schema(schema: &DFSchema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// The N of a filter `rownum <= N` (or `< N + 1`, `= 1`) on the `ROW_NUMBER()` column of a
/// window right under `input` (through projections).
fn rank_limit(predicate: &Expr, input: &LogicalPlan) -> SqlResult<Option<usize>> {
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
        return Ok(None);
    };
    let number = window.schema.columns()[window.input.schema().fields().len()].clone();
    let limit = |e: &Expr| -> Option<usize> {
        let Expr::BinaryExpr(b) = e else { return None };
        let (op, value) = match (b.left.as_ref(), b.right.as_ref()) {
            (Expr::Column(c), Expr::Literal(v, _)) if *c == number => (b.op, v),
            (Expr::Literal(v, _), Expr::Column(c)) if *c == number => (b.op.swap()?, v),
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
        .filter_map(limit)
        .min())
}

/// `expr` without its aliases.
fn unaliased(mut expr: &Expr) -> &Expr {
    while let Expr::Alias(a) = expr {
        expr = &a.expr;
    }
    expr
}

/// The SQL name of an aggregate call, upper case.
fn c_name(call: &AggregateCall) -> String {
    call.function.fun().name().to_ascii_uppercase()
}

/// `column - INTERVAL '...'` (or the column alone) as the column's index and the delay in
/// milliseconds: the watermark strategy sources compute without evaluating an expression.
fn bounded_delay(expr: &Expr, schema: &DFSchema) -> Option<(usize, i64)> {
    match expr {
        Expr::Column(c) => Some((schema.index_of_column(c).ok()?, 0)),
        Expr::BinaryExpr(b) if b.op == Operator::Minus => match (b.left.as_ref(), b.right.as_ref())
        {
            (Expr::Column(c), right) => {
                Some((schema.index_of_column(c).ok()?, interval_millis(right)?))
            }
            _ => None,
        },
        _ => None,
    }
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
fn substitute(expr: Expr, map: &HashMap<Column, Expr>) -> SqlResult<Expr> {
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

/// Whether `plan` reads from a window table function through projections and filters.
fn has_window(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Extension(e) => e.node.as_any().is::<WindowTvf>(),
        LogicalPlan::Projection(_) | LogicalPlan::Filter(_) | LogicalPlan::SubqueryAlias(_) => {
            plan.inputs().into_iter().any(has_window)
        }
        _ => false,
    }
}

/// A user-facing name for a plan node that has no streaming implementation.
fn describe_node(plan: &LogicalPlan) -> String {
    match plan {
        LogicalPlan::Aggregate(_) => "GROUP BY / aggregation".into(),
        LogicalPlan::Window(_) => "OVER window".into(),
        LogicalPlan::Join(_) => "JOIN".into(),
        LogicalPlan::Sort(_) => "ORDER BY".into(),
        LogicalPlan::Limit(_) => "LIMIT".into(),
        LogicalPlan::Union(_) => "UNION".into(),
        LogicalPlan::Distinct(_) => "DISTINCT".into(),
        other => other.display().to_string(),
    }
}
