//! The stream planner: a DataFusion `LogicalPlan` becomes an engine [`Dataflow`] of sources
//! and incremental operators. Expressions become DataFusion `PhysicalExpr`s evaluated on
//! whole batches.

use datafusion_expr::simplify::SimplifyContext;
use datafusion_optimizer::simplify_expressions::ExprSimplifier;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::context::PlanContext;
use arrow::compute::SortOptions;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, DFSchema, plan_err};
use datafusion_expr::{
    Expr, FetchType, LogicalPlan, Operator, SkipType, SortExpr, UserDefinedLogicalNodeCore,
};
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::expressions::Column as PhysicalColumn;
use rill_engine::Dataflow;
use rill_engine::dataflow::NodeId;
use rill_engine::exchange::KeyPartitioner;
use rill_engine::late::{LatePolicy, LateRows};
use rill_engine::operator::{
    Calc, Limit, Normalize, Operator as StreamOperator, SortKey, Union, Unnest, WATERMARK_COLUMN,
};
use rill_engine::source::{
    Computed, ComputedColumn, FileFormat, FileInput, FileSource, FileSourceOptions, NexmarkSource,
    RowShape, SkewCorrection, Source, ValuesSource, WatermarkAssigner, columns_read,
};

use self::struct_fields::StructFieldsRead;
use crate::catalog::{ComputedDef, TableDef};
use crate::changelog::ChangelogNode;
use crate::connector::Connector;
use crate::error::{SqlError, SqlResult};
use crate::functions::watermark::CURRENT_WATERMARK;
use crate::late::side_file_sink;
use crate::match_recognize::MatchRecognize;
use crate::session::CDC_DUPLICATES;
use crate::skew::SKEW_CORRECTED;
use crate::unnest::UnnestJoin;
use crate::window::{WindowTvf, interval_millis};
use over::only_rank_limit;
pub(crate) use over::rank_limit;

mod aggregate;
mod changelog;
mod join;
mod match_recognize;
mod multi_join;
mod over;
pub mod shared;
mod sort;
mod struct_fields;

use shared::SharedPlan;

/// A planned query: its dataflow up to the node that emits the result rows.
pub struct QueryPlan {
    pub dataflow: Dataflow,
    /// The node whose output is the query result.
    pub output: NodeId,
    /// The result columns.
    pub schema: SchemaRef,
    /// Whether the result is a changelog with updates (`-U`, `+U`, `-D`) rather than inserts.
    pub updating: bool,
    /// A shared job's routing and source, as planned.
    pub shared: Option<Box<SharedPlan>>,
}

/// When window aggregations emit early results.
#[derive(Debug, Clone, Copy)]
pub enum EarlyFire {
    /// Each time the watermark passes a multiple of this many ms (rill's option).
    EventTime(i64),
    /// Every this many ms by the clock (Flink's option): early results then depend on
    /// timing, as in Flink.
    ProcessingTime(i64),
}

/// Builds a dataflow for one query.
pub struct StreamPlanner<'a> {
    context: &'a PlanContext,
    tables: &'a BTreeMap<String, TableDef>,
    batch_size: usize,
    dataflow: Dataflow,
    /// Nodes whose output is an updating changelog.
    updating: HashSet<NodeId>,
    /// `rownum <= N` of a filter above the `ROW_NUMBER()` window being planned.
    rank_limit: Option<usize>,
    /// A window aggregation being planned asks the HOP or CUMULATE function under it for
    /// rows by slice; the function says it gives them by setting `sliced`.
    slice_request: bool,
    sliced: Option<rill_engine::window::WindowKind>,
    /// Late-row policies set by tables, by the nodes their rows flow through.
    late: HashMap<NodeId, LatePolicy>,
    /// The session's late-row policy, for rows of tables without one.
    default_late: LatePolicy,
    /// Whether a source planned so far never ends (standard input, a followed file).
    unbounded_input: bool,
    /// Nodes whose rows have no time attribute (a regular join's output, as in Flink).
    no_time_attribute: HashSet<NodeId>,
    /// Updating nodes whose sequence of changes (not what they add up to) depends on batch
    /// sizes or timing: a `GROUP BY` folds a batch's changes of a group into one, as Flink's
    /// mini-batch does, and a regular join interleaves its inputs' changes.
    folded_changes: HashSet<NodeId>,
    /// Nodes whose rows carry windows of processing time (a window function over a
    /// `PROCTIME()` attribute).
    processing_time_windows: HashSet<NodeId>,
    /// How long regular joins keep a row, in event time (`'table.exec.state.ttl'`).
    state_ttl: Option<i64>,
    /// Bytes of each input's rows a regular join keeps in memory before it writes older ones
    /// to a temporary file (`'rill.state.join-memory'`).
    join_memory: usize,
    /// When window aggregations emit early results.
    early_fire: Option<EarlyFire>,
    /// `/*+ STATE_TTL('t' = '1 d') */`: per table or alias, the TTL of a join input or
    /// aggregation reading it, in ms (0: for ever).
    state_ttl_hints: BTreeMap<String, i64>,
    /// Whether change events may come twice, so are normalised by primary key.
    cdc_duplicates: bool,
    /// `'table.exec.source.idle-timeout'`, in ms (0: none).
    idle_timeout: i64,
    /// Instances of each keyed operator (`'parallelism.default'`).
    parallelism: usize,
    /// A job shared by several processes: its routing, found while planning.
    shared: Option<SharedPlan>,
    /// The side files the operator being built sends its late rows to, by side output,
    /// with the rows' schema.
    side_files: Vec<(PathBuf, SchemaRef)>,
    /// Every side file of the query so far: one writer each.
    side_paths: HashSet<PathBuf>,
    /// The tables the query reads more than once, each with the columns all its scans read
    /// (all: `None`) and, once planned, its one source: every scan reads that source, as
    /// Flink reuses a source (`table.optimizer.reuse-source-enabled`), so its input is read
    /// and decoded once.
    reused: HashMap<String, (Option<Vec<usize>>, Option<NodeId>)>,
    /// The columns, and fields of struct columns, the statement reads: JSON files decode
    /// only those.
    struct_fields: StructFieldsRead,
    /// Whether the sink needs no `-U` rows, while planning the nodes whose changes reach it
    /// through projections and a Top-N's limit alone: the Top-N, updating aggregation or
    /// change-event normalisation among them makes none (Flink's `ONLY_UPDATE_AFTER`).
    update_before_unneeded: bool,
}

/// How much of each input's rows a regular join keeps in memory unless
/// `'rill.state.join-memory'` says: the rows past it are written to a temporary file, which
/// the kernel's page cache keeps in memory while it has room.
const DEFAULT_JOIN_MEMORY: usize = 64 << 20;

/// A calc's expressions, and the type of the column of rows' watermarks they read, if any.
type CalcExprs = (Vec<Arc<dyn PhysicalExpr>>, Option<DataType>);

/// A keyed operator's input: its node and its key, each expression with the type it is
/// hashed as (equal keys of a join's two inputs must hash alike).
type KeyedInput = (NodeId, Vec<(Arc<dyn PhysicalExpr>, DataType)>);

impl<'a> StreamPlanner<'a> {
    /// A planner resolving tables in `tables`; sources read `batch_size` rows at a time;
    /// late rows of tables without a policy get `default_late`.
    pub fn new(
        context: &'a PlanContext,
        tables: &'a BTreeMap<String, TableDef>,
        batch_size: usize,
        default_late: LatePolicy,
    ) -> Self {
        StreamPlanner {
            context,
            tables,
            batch_size,
            dataflow: Dataflow::new(),
            updating: HashSet::new(),
            rank_limit: None,
            slice_request: false,
            sliced: None,
            late: HashMap::new(),
            default_late,
            unbounded_input: false,
            no_time_attribute: HashSet::new(),
            folded_changes: HashSet::new(),
            processing_time_windows: HashSet::new(),
            state_ttl: None,
            join_memory: DEFAULT_JOIN_MEMORY,
            early_fire: None,
            state_ttl_hints: BTreeMap::new(),
            cdc_duplicates: false,
            idle_timeout: 0,
            parallelism: 1,
            shared: None,
            side_files: Vec::new(),
            side_paths: HashSet::new(),
            reused: HashMap::new(),
            struct_fields: StructFieldsRead::default(),
            update_before_unneeded: false,
        }
    }

    /// Plans a job several processes share (as one task of it, or to find its routing).
    pub fn with_shared(mut self, shared: SharedPlan) -> Self {
        if let Some((metrics, part)) = &shared.metrics {
            self.dataflow.share_metrics(metrics.clone(), *part);
        }
        self.shared = Some(shared);
        self
    }

    /// Runs each keyed operator as `n` instances, each with its share of the keys.
    pub fn with_parallelism(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        self
    }

    /// Fails the job when one operator holds more than `bytes` of state.
    pub fn with_state_limit(mut self, bytes: usize) -> Self {
        self.dataflow.set_state_limit(bytes);
        self
    }

    /// Regular joins keep `bytes` of each input's rows in memory, and older ones in a
    /// temporary file.
    pub fn with_join_memory(mut self, bytes: usize) -> Self {
        self.join_memory = bytes;
        self
    }

    /// Regular joins keep rows `millis` of event time after they arrived (0: for ever).
    pub fn with_state_ttl(mut self, millis: i64) -> Self {
        self.state_ttl = (millis > 0).then_some(millis);
        self
    }

    /// Window aggregations emit early results as `early` says.
    pub fn with_early_fire(mut self, early: EarlyFire) -> Self {
        self.early_fire = Some(early);
        self
    }

    /// The `STATE_TTL` hint's times to live by table or alias, in ms.
    pub fn with_state_ttl_hints(mut self, hints: BTreeMap<String, i64>) -> Self {
        self.state_ttl_hints = hints;
        self
    }

    /// The time to live of the state an operator keeps of `input`'s rows: a `STATE_TTL` hint
    /// naming a table or alias of those rows, else `'table.exec.state.ttl'`.
    fn state_ttl_of(&self, input: &LogicalPlan) -> Option<i64> {
        let hinted = input
            .schema()
            .iter()
            .find_map(|(qualifier, _)| self.state_ttl_hints.get(qualifier?.table()).copied());
        match hinted {
            Some(millis) => (millis > 0).then_some(millis),
            None => self.state_ttl,
        }
    }

    /// After how long without data a source stops holding the watermark back
    /// (`'table.exec.source.idle-timeout'`, in ms; 0: never), unless its table says.
    pub fn with_idle_timeout(mut self, millis: i64) -> Self {
        self.idle_timeout = millis;
        self
    }

    /// Change events may come more than once (`'table.exec.source.cdc-events-duplicate'`):
    /// they are normalised by the table's primary key.
    pub fn with_cdc_duplicates(mut self, duplicates: bool) -> Self {
        self.cdc_duplicates = duplicates;
        self
    }

    /// The query's sink needs no `-U` rows (when `unneeded`).
    pub fn with_sink_needing_no_update_before(mut self, unneeded: bool) -> Self {
        self.update_before_unneeded = unneeded;
        self
    }

    /// Plans `plan` (optimised) into a dataflow.
    pub fn plan_query(mut self, plan: &LogicalPlan) -> SqlResult<QueryPlan> {
        // A shared job routes each scan's rows on its own.
        if self.shared.is_none() {
            self.reused = reused_tables(plan);
        }
        self.struct_fields = StructFieldsRead::of(plan, self.tables);
        let output = self.plan(plan)?;
        Ok(QueryPlan {
            updating: self.updating.contains(&output),
            dataflow: self.dataflow,
            output,
            schema: output_schema(plan.schema()),
            shared: self.shared.map(Box::new),
        })
    }

    fn plan(&mut self, plan: &LogicalPlan) -> SqlResult<NodeId> {
        let calc = matches!(plan, LogicalPlan::Projection(_) | LogicalPlan::Filter(_));
        if !calc && plan.expressions().iter().any(calls_current_watermark) {
            return Err(current_watermark_misplaced());
        }
        // Only projections and a Top-N's limit pass on that the sink needs no `-U` rows; a window
        // takes it for its Top-N, an aggregation and a scan (its normalisation) for themselves.
        if std::mem::take(&mut self.update_before_unneeded) {
            self.update_before_unneeded = match plan {
                LogicalPlan::Projection(p) => match p.input.as_ref() {
                    LogicalPlan::Filter(f) => only_rank_limit(&f.predicate, &f.input)?,
                    _ => true,
                },
                LogicalPlan::Filter(f) => only_rank_limit(&f.predicate, &f.input)?,
                LogicalPlan::SubqueryAlias(_)
                | LogicalPlan::Window(_)
                | LogicalPlan::Aggregate(_)
                | LogicalPlan::TableScan(_) => true,
                _ => false,
            };
        }
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
                let calc = self.calc(predicate, Some(&p.expr), input, output_schema(&p.schema))?;
                let calc_node = self.add(Box::new(calc), node);
                self.computes_columns(calc_node, node, &p.expr, schema, p.expr.len());
                Ok(calc_node)
            }
            LogicalPlan::Filter(f) => {
                self.rank_limit = rank_limit(&f.predicate, &f.input)?;
                let node = self.plan(&f.input)?;
                let schema = output_schema(f.input.schema());
                let calc = self.calc(Some(&f.predicate), None, &f.input, schema)?;
                let calc_node = self.add(Box::new(calc), node);
                if let Some(shared) = &mut self.shared {
                    let columns: Vec<Option<usize>> =
                        (0..f.input.schema().fields().len()).map(Some).collect();
                    shared.derive(calc_node, node, &columns);
                }
                Ok(calc_node)
            }
            LogicalPlan::SubqueryAlias(a) => self.plan(&a.input),
            LogicalPlan::TableScan(scan) => {
                let update_before = !std::mem::take(&mut self.update_before_unneeded);
                let name = scan.table_name.table();
                let table = self.tables.get(name).ok_or_else(|| {
                    SqlError::new(format!("table '{name}' is not a stream table"))
                })?;
                if !scan.filters.is_empty() {
                    return Err(SqlError::new("internal error: filters pushed into a scan"));
                }
                let Some((columns, planned)) = self.reused.get(name).cloned() else {
                    return self.scan_once(table, scan.projection.clone(), update_before);
                };
                let source = match planned {
                    Some(source) => source,
                    None => {
                        // Shared: another reader may need its -U rows.
                        let source = self.scan_once(table, columns.clone(), true)?;
                        self.reused
                            .insert(name.to_string(), (columns.clone(), Some(source)));
                        source
                    }
                };
                // This scan's columns, of those the source reads.
                let all = |n: usize| (0..n).collect::<Vec<_>>();
                let read = columns.unwrap_or_else(|| all(table.schema.fields().len()));
                let wanted =
                    (scan.projection.clone()).unwrap_or_else(|| all(table.schema.fields().len()));
                if wanted == read {
                    return Ok(source);
                }
                let calc = columns_of(&table.schema, &wanted, &read)?;
                Ok(self.add(Box::new(calc), source))
            }
            LogicalPlan::EmptyRelation(e) => {
                let schema = output_schema(&e.schema);
                // No rows (e.g. `WHERE FALSE`, planned away), or one row of no columns.
                let batch = if e.produce_one_row {
                    let options = RecordBatchOptions::new().with_row_count(Some(1));
                    RecordBatch::try_new_with_options(schema, vec![], &options)?
                } else {
                    RecordBatch::new_empty(schema)
                };
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
            LogicalPlan::Extension(e) => {
                let any = e.node.as_any();
                if let Some(tvf) = any.downcast_ref::<WindowTvf>() {
                    self.window_tvf(tvf)
                } else if let Some(node) = any.downcast_ref::<ChangelogNode>() {
                    self.changelog(node)
                } else if let Some(node) = any.downcast_ref::<MatchRecognize>() {
                    self.match_recognize(node)
                } else if let Some(node) = any.downcast_ref::<UnnestJoin>() {
                    let input = self.plan(&node.input)?;
                    let collection = self.physical(&node.collection, node.input.schema())?;
                    let schema = output_schema(UserDefinedLogicalNodeCore::schema(node));
                    let elements = schema.fields().len() - node.input.schema().fields().len();
                    let unnest = Unnest::new(collection, node.outer, node.ordinality, schema);
                    let unnest_node = self.add(Box::new(unnest), input);
                    if let Some(shared) = &mut self.shared {
                        // The input's columns pass through; the element's are new.
                        let columns: Vec<Option<usize>> = (0..node.input.schema().fields().len())
                            .map(Some)
                            .chain(std::iter::repeat_n(None, elements))
                            .collect();
                        shared.derive(unnest_node, input, &columns);
                    }
                    Ok(unnest_node)
                } else {
                    Err(SqlError::new(format!("{} is not supported", e.node.name())))
                }
            }
            LogicalPlan::Limit(limit) => {
                let why = "LIMIT counts the rows of every task";
                if let Some(warning) = self.shared.as_mut().and_then(|s| s.gather_in_one_task(why))
                {
                    self.dataflow.warn(warning);
                }
                let skip = match limit.get_skip_type()? {
                    SkipType::Literal(n) => n,
                    SkipType::UnsupportedExpr => {
                        return Err(SqlError::new("OFFSET must be a constant number"));
                    }
                };
                let fetch = match limit.get_fetch_type()? {
                    FetchType::Literal(n) => n,
                    FetchType::UnsupportedExpr => {
                        return Err(SqlError::new("LIMIT must be a constant number"));
                    }
                };
                if let LogicalPlan::Sort(sort) = limit.input.as_ref() {
                    return self.sort(sort, skip, fetch);
                }
                let node = self.plan(&limit.input)?;
                if self.updating.contains(&node) {
                    return Err(SqlError::new(
                        "LIMIT over an updating result is not supported yet",
                    ));
                }
                Ok(self.add(Box::new(Limit::new(skip, fetch)), node))
            }
            LogicalPlan::Union(union) => {
                let inputs = union
                    .inputs
                    .iter()
                    .map(|input| self.plan(input))
                    .collect::<SqlResult<Vec<_>>>()?;
                let operator = Union::new(output_schema(&union.schema));
                let node = self
                    .dataflow
                    .add_operator(Box::new(operator), inputs.clone());
                if let Some(shared) = &mut self.shared {
                    shared.union(node, &inputs);
                }
                for input in inputs {
                    if self.updating.contains(&input) {
                        self.updating.insert(node);
                    }
                    if self.no_time_attribute.contains(&input) {
                        self.no_time_attribute.insert(node);
                    }
                    if self.folded_changes.contains(&input) {
                        self.folded_changes.insert(node);
                    }
                }
                Ok(node)
            }
            LogicalPlan::Aggregate(aggregate) => self.aggregate(aggregate),
            LogicalPlan::Join(join) => self.join(join),
            LogicalPlan::Window(window) => self.window(window),
            LogicalPlan::Sort(sort) => self.sort(sort, 0, None),
            LogicalPlan::Unnest(_) => Err(SqlError::new(
                "UNNEST is a table in Flink SQL, not a function of SELECT",
            )
            .with_hint("join it: `FROM t CROSS JOIN UNNEST(t.arr) AS u (x)`")),
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
        self.inherit(node, input);
        node
    }

    /// `node`'s output updates, lacks time attributes, has windows of processing time and has
    /// late rows as `input`'s does.
    fn inherit(&mut self, node: NodeId, input: NodeId) {
        if self.updating.contains(&input) {
            self.updating.insert(node);
        }
        if self.no_time_attribute.contains(&input) {
            self.no_time_attribute.insert(node);
        }
        if self.folded_changes.contains(&input) {
            self.folded_changes.insert(node);
        }
        if self.processing_time_windows.contains(&input) {
            self.processing_time_windows.insert(node);
        }
        if let Some(policy) = self.late.get(&input).cloned() {
            self.late.insert(node, policy);
        }
    }

    /// For a shared job: `node`'s first columns are `exprs` over the rows of `input`
    /// (`schema`), the rest up to `width` new.
    fn computes_columns(
        &mut self,
        node: NodeId,
        input: NodeId,
        exprs: &[Expr],
        schema: &DFSchema,
        width: usize,
    ) {
        if self.shared.is_none() {
            return;
        }
        // An expression only the calc computes (CURRENT_WATERMARK) is a new column.
        let mut exprs: Vec<Option<Arc<dyn PhysicalExpr>>> = exprs
            .iter()
            .map(|e| self.physical(e, schema).ok())
            .collect();
        exprs.resize(width, None);
        if let Some(shared) = &mut self.shared {
            shared.compute(node, input, &exprs);
        }
    }

    /// For a shared job: `node`'s first `kept` columns are `input`'s, the rest up to `width`
    /// new.
    fn passes_columns(&mut self, node: NodeId, input: NodeId, kept: usize, width: usize) {
        if let Some(shared) = &mut self.shared {
            let columns: Vec<Option<usize>> =
                (0..width).map(|c| Some(c).filter(|&c| c < kept)).collect();
            shared.derive(node, input, &columns);
        }
    }

    /// Adds a keyed operator made by `make`, whose rows have `schema`: as
    /// `'parallelism.default'` instances, each with its share of the keys, when every input
    /// has a key and no late rows go to a side file (which one writer owns); else as one.
    /// With one input, its output inherits the input's properties, as with [`Self::add`].
    fn add_keyed(
        &mut self,
        mut inputs: Vec<KeyedInput>,
        schema: SchemaRef,
        mut make: impl FnMut(&mut Self) -> SqlResult<Box<dyn StreamOperator>>,
    ) -> SqlResult<NodeId> {
        self.cut_before_keyed(&mut inputs)?;
        let side_file = (inputs.iter())
            .any(|(node, _)| matches!(self.late_policy(*node), LatePolicy::SideOutput(_)));
        let keyless = inputs.iter().any(|(_, keys)| keys.is_empty());
        let parts = if side_file || keyless {
            1
        } else {
            self.parallelism
        };
        let mut instances = Vec::with_capacity(parts);
        for _ in 0..parts {
            instances.push(make(self)?);
        }
        let side_files = std::mem::take(&mut self.side_files);
        // Named without the details some operators' names carry, in parentheses.
        let name = instances[0].name();
        let name = name.split_once(" (").map_or(name, |(name, _)| name);
        if let Some(warning) = (self.shared.as_mut()).and_then(|s| s.keyed(name, &inputs)) {
            self.dataflow.warn(warning);
        }
        let single = match inputs.as_slice() {
            [(input, _)] => Some(*input),
            _ => None,
        };
        let inputs = inputs
            .into_iter()
            .map(|(node, keys)| (node, KeyPartitioner::new(keys, parts)))
            .collect();
        let node = self.dataflow.add_keyed(instances, inputs, schema);
        for (path, rows) in side_files {
            self.dataflow
                .add_side_sink(side_file_sink(path, rows)?, node);
        }
        if let Some(input) = single {
            self.inherit(node, input);
        }
        Ok(node)
    }

    /// For a part of a task of a job whose keyed operators are cut ([`shared::Cut`]), at a
    /// cut operator: each input's rows are sent on by the part up to it, and read from its
    /// cut stream by the others.
    fn cut_before_keyed(&mut self, inputs: &mut [KeyedInput]) -> SqlResult<()> {
        let Some(shared) = &mut self.shared else {
            return Ok(());
        };
        for ((input, keys), cut) in inputs.iter_mut().zip(shared.at_keyed()) {
            let (sink, node) = match cut {
                shared::CutInput::SendOn(sinks, n) => {
                    let sink = self.dataflow.add_sink(sinks(n, keys.clone())?, *input);
                    (Some(sink), *input)
                }
                shared::CutInput::ReadFrom(sources, n) => {
                    let node = self.dataflow.add_source(sources(n)?);
                    self.inherit(node, *input);
                    (None, node)
                }
            };
            (self.shared.as_mut())
                .expect("shared")
                .cut_input(sink, node, *input);
            *input = node;
        }
        Ok(())
    }

    /// The late-row policy of rows of `input`.
    fn late_policy(&self, input: NodeId) -> &LatePolicy {
        self.late.get(&input).unwrap_or(&self.default_late)
    }

    /// What to do with late rows of `schema` reaching the operator being built (by
    /// [`Self::add_keyed`]) on `input`; the policy must not be `update` unless `updates`
    /// (only window aggregation updates results). Rows for a side file go to a side output
    /// of the operator, whose sink `add_keyed` adds.
    fn late_rows(
        &mut self,
        input: NodeId,
        schema: SchemaRef,
        updates: bool,
    ) -> SqlResult<(LatePolicy, LateRows)> {
        let policy = self.late_policy(input).clone();
        let metrics = self.dataflow.metrics();
        let late = match &policy {
            LatePolicy::Update { .. } if !updates => {
                return Err(SqlError::new(
                    "'rill.late-rows' = 'update' applies to window aggregation only; \
                     this query's late rows would reach another operator",
                ));
            }
            LatePolicy::SideOutput(path) => {
                if self.shared.is_some() {
                    return Err(SqlError::new(format!(
                        "late rows to a side file ('{}') in a job several processes share: \
                         each would write the same file",
                        crate::late::LATE_ROWS_PATH
                    ))
                    .with_hint("set 'rill.late-rows' to 'drop' or 'update' for a shared job"));
                }
                if !self.side_paths.insert(path.clone()) {
                    return Err(SqlError::new(format!(
                        "late rows of two operators (or of both inputs of one) would go to \
                         the side file '{}', which takes the late rows of one; a window over \
                         a window's results keeps its table's late-row policy",
                        path.display()
                    ))
                    .with_hint(
                        "give the tables different 'rill.late-rows.path's, or set \
                         'rill.late-rows' = 'drop' for this query",
                    ));
                }
                self.side_files.push((path.clone(), schema));
                LateRows::to_side(self.side_files.len() - 1, metrics)
            }
            LatePolicy::Drop | LatePolicy::Update { .. } => LateRows::new(metrics),
        };
        Ok((policy, late))
    }

    /// Plans `plan`, which must be append-only and carry its time attributes to feed `what`.
    fn plan_append_only(&mut self, plan: &LogicalPlan, what: &str) -> SqlResult<NodeId> {
        let node = self.plan_windowed(plan, what)?;
        self.no_processing_time_windows(what, &[node])?;
        Ok(node)
    }

    /// Refuses windows of processing time in `nodes` for `what`: only window aggregation
    /// takes them.
    fn no_processing_time_windows(&self, what: &str, nodes: &[NodeId]) -> SqlResult<()> {
        if nodes
            .iter()
            .any(|n| self.processing_time_windows.contains(n))
        {
            return Err(SqlError::new(format!(
                "{what} over windows of processing time (a PROCTIME() attribute) is not \
                 supported yet: only window aggregation is"
            )));
        }
        Ok(())
    }

    /// [`Self::plan_append_only`] for a window aggregation, which may also aggregate windows
    /// of processing time.
    fn plan_windowed(&mut self, plan: &LogicalPlan, what: &str) -> SqlResult<NodeId> {
        let node = self.plan(plan)?;
        if self.no_time_attribute.contains(&node) {
            return Err(SqlError::new(format!(
                "{what} needs a time attribute, but its input has none: the result of a regular \
                 join or of a Top-N keeps no event time (as in Flink)"
            )));
        }
        if self.updating.contains(&node) {
            return Err(SqlError::new(format!(
                "{what} needs an append-only input, but its input is an updating result \
                 (e.g. of a GROUP BY without windows)"
            )));
        }
        Ok(node)
    }

    /// A source reading `projection` of `table`'s columns, with the table's late-row policy
    /// (and, unless `update_before`, a normalisation making no `-U` rows).
    fn scan_once(
        &mut self,
        table: &TableDef,
        projection: Option<Vec<usize>>,
        update_before: bool,
    ) -> SqlResult<NodeId> {
        let node = self.scan(table, projection, update_before)?;
        if let Some(policy) = &table.late {
            self.late.insert(node, policy.clone());
        }
        Ok(node)
    }

    fn scan(
        &mut self,
        table: &TableDef,
        projection: Option<Vec<usize>>,
        update_before: bool,
    ) -> SqlResult<NodeId> {
        let records = table.connector.records().copied();
        if records.is_none() && !matches!(table.connector, Connector::Nexmark(_)) {
            return Err(SqlError::new(format!(
                "table '{}' is a sink ('connector' = '{}') and cannot be read",
                table.name,
                if table.connector == Connector::Print {
                    "print"
                } else {
                    "blackhole"
                }
            )));
        }
        let watermarks = match &table.watermark {
            Some(w) => {
                let schema = DFSchema::try_from(table.schema.as_ref().clone())?;
                Some(match bounded_delay(&w.expr, &schema) {
                    Some((column, millis)) => WatermarkAssigner::delayed(column, millis),
                    None => {
                        let rowtime = schema.index_of_column_by_name(None, &w.column);
                        let rowtime = rowtime.ok_or_else(|| {
                            SqlError::new(format!("no event time column {}", w.column))
                        })?;
                        WatermarkAssigner::new(rowtime, self.simplified(&w.expr, schema.clone())?)
                    }
                })
            }
            None => None,
        };
        let upsert = matches!(&table.connector, Connector::Kafka(k) if k.upsert);
        let change_events = records.is_some_and(|r| r.format.is_changelog());
        let changelog = change_events || upsert;
        // Duplicate change events are normalised by primary key, on whole rows; so are the
        // latest rows of an upsert topic's keys.
        let normalise = (change_events && self.cdc_duplicates) || upsert;
        let computed = match table.computed.as_slice() {
            [] => None,
            columns => {
                let stored = DFSchema::try_from(table.physical.as_ref().clone())?;
                let column = |computed: &ComputedDef| -> SqlResult<ComputedColumn> {
                    Ok(match computed {
                        ComputedDef::Expr(expr) => {
                            ComputedColumn::expr(self.simplified(expr, stored.clone())?)?
                        }
                        ComputedDef::SkewCorrected(columns) => {
                            if self.shared.is_some() {
                                return Err(SqlError::new(format!(
                                    "table '{}': {SKEW_CORRECTED} in a job shared by several \
                                     processes is not supported yet (its estimates would \
                                     not move with a partition to another process)",
                                    table.name
                                )));
                            }
                            let device = table.physical.field(columns.device).data_type();
                            let skew = SkewCorrection::new(columns.clone(), device.clone())?;
                            ComputedColumn::skew_corrected(skew)
                        }
                    })
                };
                let columns = columns
                    .iter()
                    .map(|(at, computed)| Ok((*at, column(computed)?)))
                    .collect::<SqlResult<_>>()?;
                Some(Computed {
                    schema: table.schema.clone(),
                    columns,
                })
            }
        };
        if self.shared.is_some() {
            if !matches!(table.connector, Connector::Kafka(_)) {
                return Err(SqlError::new(format!(
                    "a job shared by several processes reads a Kafka table; '{}' is not one",
                    table.name
                )));
            }
            if changelog {
                return Err(SqlError::new(format!(
                    "table '{}' reads change events: a job shared by several processes \
                     cannot repartition them yet",
                    table.name
                )));
            }
        }
        let scanned = match &projection {
            Some(columns) => Arc::new(table.schema.project(columns)?),
            None => table.schema.clone(),
        };
        let mut shape = RowShape {
            changelog,
            computed,
            projection: if normalise { None } else { projection.clone() },
            stored: None,
        };
        let source: Box<dyn Source> = match &table.connector {
            Connector::Kafka(kafka) => {
                self.unbounded_input |= kafka.bounded.is_none();
                let mut kafka = kafka.clone();
                if kafka.idle_timeout.is_none() && self.idle_timeout > 0 {
                    kafka.idle_timeout = Some(Duration::from_millis(self.idle_timeout as u64));
                }
                match self.shared.as_mut() {
                    Some(shared) if shared.task.is_some() => {
                        let task = shared.task.as_ref().expect("a task");
                        task(shared.next_scan(), scanned.clone(), kafka.idle_timeout)?
                    }
                    shared => crate::connector::create_kafka_source(
                        &kafka,
                        table,
                        shape,
                        watermarks,
                        self.batch_size,
                        shared.and_then(SharedPlan::take_route),
                    )?,
                }
            }
            Connector::Nexmark(settings) => {
                self.unbounded_input |= settings.events.is_none();
                Box::new(
                    NexmarkSource::new(
                        table.name.clone(),
                        settings.clone(),
                        self.columns_read(table, &mut shape),
                        shape,
                        watermarks,
                        self.batch_size,
                    )
                    .map_err(|e| SqlError::new(format!("table '{}': {e}", table.name)))?,
                )
            }
            connector => {
                let records = records.expect("a file-like connector");
                let (input, follow) = match connector {
                    Connector::Filesystem {
                        path,
                        monitor_interval,
                        ..
                    } => (
                        FileInput::Path(path.clone()),
                        monitor_interval.map(Duration::from_millis),
                    ),
                    _ => (FileInput::Stdin, None),
                };
                self.unbounded_input |= input == FileInput::Stdin || follow.is_some();
                let schema = match records.format {
                    FileFormat::Json => self.columns_read(table, &mut shape),
                    _ => table.physical.clone(),
                };
                let options = FileSourceOptions {
                    input,
                    follow,
                    records,
                    schema,
                    shape,
                    batch_size: self.batch_size,
                };
                Box::new(
                    FileSource::new(table.name.clone(), options, watermarks)
                        .map_err(|e| SqlError::new(format!("table '{}': {e}", table.name)))?,
                )
            }
        };
        let mut node = self.dataflow.add_source(source);
        if let Some(shared) = &mut self.shared {
            shared.scanned(node, &table.name, projection.clone(), &scanned);
        }
        if changelog {
            self.updating.insert(node);
        }
        if normalise {
            if table.primary_key.is_empty() && !upsert {
                return Err(SqlError::new(format!(
                    "Configuration '{CDC_DUPLICATES}' is enabled which requires the changelog \
                     sources to define a PRIMARY KEY. However, table '{}' doesn't have a \
                     primary key.",
                    table.name
                )));
            }
            let key = table
                .primary_key
                .iter()
                .map(|c| table.schema.index_of(c))
                .collect::<std::result::Result<_, _>>()?;
            let mut normalize = Normalize::new(table.schema.clone(), key)?;
            if !update_before {
                normalize = normalize.without_update_before();
            }
            node = self.add(Box::new(normalize), node);
            if let Some(columns) = projection {
                let all: Vec<usize> = (0..table.schema.fields().len()).collect();
                node = self.add(Box::new(columns_of(&table.schema, &columns, &all)?), node);
            }
        }
        Ok(node)
    }

    /// Only the source of table `name` with `projection` of its columns (stage 1 of a
    /// shared job, which routes the rows it reads).
    pub fn plan_scan(mut self, name: &str, projection: Option<Vec<usize>>) -> SqlResult<Dataflow> {
        let table = self
            .tables
            .get(name)
            .ok_or_else(|| SqlError::new(format!("table '{name}' is not a stream table")))?;
        self.scan(table, projection, true)?;
        Ok(self.dataflow)
    }

    fn physical(&self, expr: &Expr, schema: &DFSchema) -> SqlResult<Arc<dyn PhysicalExpr>> {
        if calls_current_watermark(expr) {
            return Err(current_watermark_misplaced());
        }
        Ok(self.context.create_physical_expr(expr.clone(), schema)?)
    }

    /// The columns of `table` its source makes: only those the statement reads, and only
    /// the fields of struct columns it reads, as Flink's JSON format decodes them (`shape`
    /// then puts back the others, as NULLs). For JSON decoding and the nexmark generator.
    fn columns_read(&self, table: &TableDef, shape: &mut RowShape) -> SchemaRef {
        let read = columns_read(&table.physical, |c| self.struct_fields.column(c));
        if read != table.physical {
            shape.stored = Some(table.physical.clone());
        }
        read
    }

    /// `expr` over `schema` as a physical expression, coerced and simplified first as the
    /// optimizer does for the rest of a plan (`COALESCE`, for one, runs only simplified).
    fn simplified(&self, expr: &Expr, schema: DFSchema) -> SqlResult<Arc<dyn PhysicalExpr>> {
        let schema = Arc::new(schema);
        let context = SimplifyContext::builder()
            .with_schema(schema.clone())
            .build();
        let simplifier = ExprSimplifier::new(context);
        let expr = simplifier.simplify(simplifier.coerce(expr.clone(), &schema)?)?;
        self.physical(&expr, &schema)
    }

    /// The calc of `WHERE predicate` then `SELECT projection` (all columns when `None`) over
    /// the rows of `input`, giving rows of `schema`. `CURRENT_WATERMARK(t)` of a time
    /// attribute `t` reads a column of the rows' watermarks the calc adds.
    fn calc(
        &self,
        predicate: Option<&Expr>,
        projection: Option<&[Expr]>,
        input: &LogicalPlan,
        schema: SchemaRef,
    ) -> SqlResult<Calc> {
        let exprs: Vec<&Expr> = predicate
            .into_iter()
            .chain(projection.into_iter().flatten())
            .collect();
        let (mut exprs, watermarks) = self.calc_exprs(&exprs, input)?;
        let predicate = predicate.map(|_| exprs.remove(0));
        let calc = Calc::new(predicate, projection.map(|_| exprs), schema)?;
        Ok(match watermarks {
            Some(data_type) => calc.with_watermark_column(data_type),
            None => calc,
        })
    }

    /// `exprs` over the rows of `input` as [`Self::calc`] computes them, and the type of the
    /// column of the rows' watermarks, if they read it.
    fn calc_exprs(&self, exprs: &[&Expr], input: &LogicalPlan) -> SqlResult<CalcExprs> {
        let schema = input.schema();
        if !exprs.iter().any(|e| calls_current_watermark(e)) {
            let exprs = exprs.iter().map(|e| self.physical(e, schema));
            return Ok((exprs.collect::<SqlResult<_>>()?, None));
        }
        let time_attributes = self.time_attributes(input);
        let mut watermark_type = None;
        let mut rewritten = Vec::with_capacity(exprs.len());
        for expr in exprs {
            let expr = (*expr).clone().transform_up(|e| {
                let Expr::ScalarFunction(f) = &e else {
                    return Ok(Transformed::no(e));
                };
                if f.func.name() != CURRENT_WATERMARK {
                    return Ok(Transformed::no(e));
                }
                let time = match &f.args[..] {
                    [Expr::Column(c)] => schema.index_of_column(c).ok(),
                    _ => None,
                };
                let Some(time) = time.filter(|t| time_attributes.contains(t)) else {
                    return plan_err!(
                        "CURRENT_WATERMARK takes a time attribute of the rows (a column with a \
                         WATERMARK), as in Flink: {e}"
                    );
                };
                let data_type = match schema.field(time).data_type() {
                    DataType::Timestamp(_, zone) => {
                        DataType::Timestamp(TimeUnit::Millisecond, zone.clone())
                    }
                    other => return plan_err!("a time attribute of type {other}"),
                };
                watermark_type = Some(data_type);
                Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                    WATERMARK_COLUMN,
                ))))
            })?;
            rewritten.push(expr.data);
        }
        let data_type = watermark_type.expect("a call was rewritten");
        let column = DFSchema::from_unqualified_fields(
            vec![Field::new(WATERMARK_COLUMN, data_type.clone(), true)].into(),
            Default::default(),
        )?;
        let extended = schema.join(&column)?;
        let exprs = rewritten.iter().map(|e| self.physical(e, &extended));
        Ok((exprs.collect::<SqlResult<_>>()?, Some(data_type)))
    }

    fn physicals(
        &self,
        exprs: &[Expr],
        schema: &DFSchema,
    ) -> SqlResult<Vec<Arc<dyn PhysicalExpr>>> {
        exprs.iter().map(|e| self.physical(e, schema)).collect()
    }

    /// `exprs` over rows of `schema`, each with its type, as a keyed operator's key.
    fn typed_keys(
        exprs: &[Arc<dyn PhysicalExpr>],
        schema: &Schema,
    ) -> SqlResult<Vec<(Arc<dyn PhysicalExpr>, DataType)>> {
        exprs
            .iter()
            .map(|e| Ok((e.clone(), e.data_type(schema)?)))
            .collect()
    }

    /// `ORDER BY` keys as physical sort keys over rows of `schema`.
    fn sort_keys(&self, sorts: &[SortExpr], schema: &DFSchema) -> SqlResult<Vec<SortKey>> {
        sorts
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
            .collect()
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

/// A user-facing name for a plan node that has no streaming implementation.
fn describe_node(plan: &LogicalPlan) -> String {
    match plan {
        LogicalPlan::Join(_) => "JOIN".into(),
        LogicalPlan::Sort(_) => "ORDER BY".into(),
        LogicalPlan::Limit(_) => "LIMIT".into(),
        LogicalPlan::Union(_) => "UNION".into(),
        LogicalPlan::Distinct(_) => "DISTINCT".into(),
        other => other.display().to_string(),
    }
}

/// The error of a `CURRENT_WATERMARK` where rill does not compute it.
fn current_watermark_misplaced() -> SqlError {
    SqlError::new(
        "CURRENT_WATERMARK is supported in SELECT and WHERE (of rows with a time attribute), \
         not in an aggregate, a join condition or a pattern",
    )
}

/// Whether `expr` calls `CURRENT_WATERMARK`.
fn calls_current_watermark(expr: &Expr) -> bool {
    expr.exists(|e| Ok(matches!(e, Expr::ScalarFunction(f) if f.func.name() == CURRENT_WATERMARK)))
        .unwrap_or(false)
}

/// The calc keeping `wanted` of `table`'s columns, in that order, from rows of its columns
/// `read` (sorted, and holding every wanted one).
fn columns_of(table: &SchemaRef, wanted: &[usize], read: &[usize]) -> SqlResult<Calc> {
    let exprs = (wanted.iter())
        .map(|c| {
            let at = read
                .binary_search(c)
                .expect("the rows have every wanted column");
            let field = table.field(*c);
            Arc::new(PhysicalColumn::new(field.name(), at)) as Arc<dyn PhysicalExpr>
        })
        .collect();
    let schema = Arc::new(table.project(wanted)?);
    Ok(Calc::new(None, Some(exprs), schema)?)
}

/// The tables `plan` scans more than once, each with the union of the columns its scans read
/// (sorted; `None` when one reads all).
fn reused_tables(plan: &LogicalPlan) -> HashMap<String, (Option<Vec<usize>>, Option<NodeId>)> {
    let mut scans: HashMap<String, (usize, Option<BTreeSet<usize>>)> = HashMap::new();
    plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let (count, columns) = (scans.entry(scan.table_name.table().to_string()))
                .or_insert_with(|| (0, Some(BTreeSet::new())));
            *count += 1;
            match (&scan.projection, columns.as_mut()) {
                (Some(projection), Some(columns)) => columns.extend(projection),
                _ => *columns = None,
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .expect("the visit does not fail");
    (scans.into_iter())
        .filter(|(_, (count, _))| *count > 1)
        .map(|(table, (_, columns))| {
            let columns = columns.map(|c| c.into_iter().collect());
            (table, (columns, None))
        })
        .collect()
}
