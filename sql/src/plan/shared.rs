//! Planning a job several processes share: which columns of its Kafka tables their rows are
//! routed by, so that every keyed operator finds all rows of a key in one task.
//!
//! The planner follows each node's columns back to the scans' (its *lineage*: through
//! projections, filters, window functions and joins), as expressions over one scan's columns.
//! The first keyed operator fixes each scan's routing: its key traced to that scan, in key
//! order, hashed as the key's types (so a join's two sides route equal keys alike). Every
//! later keyed operator's key must hold it, or share part of it. One whose key does not is
//! *cut*: each of its inputs is repartitioned again, by its key (see [`Cut`]). For `LIMIT`,
//! and for an input whose columns are not followed, every row goes to one task, with a
//! warning.
//!
//! Stage 1 computes a key before the statement's filters run: a row its key fails for goes
//! to the first task, where the statement meets it as a single process would (see
//! [`rill_engine::exchange::KeyPartitioner::tolerating_errors`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, SchemaRef};
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_expr::Volatility;
use datafusion_physical_expr::expressions::{
    BinaryExpr, CastExpr, Column as PhysicalColumn, Literal,
};
use datafusion_physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use rill_engine::JobMetrics;
use rill_engine::dataflow::NodeId;
use rill_engine::format::sql_type_name;
use rill_engine::source::Source;

use crate::error::SqlResult;

/// Makes a task's source for scan `n` (in planning order): the rows of its partition of
/// that scan's repartition topic, with the table's columns after the scan (`schema`) and the
/// table's idle timeout.
pub type TaskSource =
    Arc<dyn Fn(usize, SchemaRef, Option<Duration>) -> SqlResult<Box<dyn Source>> + Send + Sync>;

/// An expression over one scan's columns: the scan, and the expression.
type Traced = (usize, Arc<dyn PhysicalExpr>);

/// A node's columns, each computed from one scan's columns alone (else `None`), for each way
/// its rows come: one way, or one for each input of a `UNION ALL` under it.
type Lineage = Vec<Vec<Option<Traced>>>;

/// The most ways a node's rows are followed through unions (and joins of them).
const MOST_WAYS: usize = 16;

/// A key expression over a scan's columns, with the type it is hashed as.
pub type RoutingKey = (Arc<dyn PhysicalExpr>, DataType);

/// A part of a keyed operator's key traced to a scan: the scan and the part as a routing
/// key; else why not.
type TracedPart = Result<(usize, RoutingKey), String>;

/// Makes the sink that sends a task's rows into cut stream `n`, split by the key given.
pub type CutSink = Arc<
    dyn Fn(usize, Vec<RoutingKey>) -> SqlResult<Box<dyn rill_engine::sink::Sink>> + Send + Sync,
>;

/// Makes the source of a task's rows of cut stream `n`: its partition of that stream's
/// repartition topic. Every task sends its watermark at each checkpoint, so none is idle.
pub type CutSource = Arc<dyn Fn(usize) -> SqlResult<Box<dyn Source>> + Send + Sync>;

/// A cut stream: an input of a keyed operator whose key the routing cannot serve, sent again
/// by that key to the job's tasks. A task runs in parts: one up to each cut stream (it sends
/// the stream's rows on) and one up to the output; each reads the tables' rows and the cut
/// streams under it. The rows of a cut stream are a scan of their own for the operators
/// over it.
#[derive(Debug, Clone)]
pub struct Cut {
    /// The keyed operator, planned `ordinal`-th (from 0).
    pub ordinal: usize,
    /// The operator, for plans.
    pub what: String,
    /// Its key over the input's columns.
    pub keys: Vec<RoutingKey>,
    /// Why the routing before does not serve it.
    pub why: String,
}

/// Which part of a task a planning builds.
#[derive(Default)]
pub(crate) enum Stage {
    /// The whole job (finding its routing, or a task of a job without a cut).
    #[default]
    Whole,
    /// The part of a task up to cut stream `sends` (up to the output: `None`), reading the
    /// cut streams under it.
    Part {
        sends: Option<usize>,
        sinks: CutSink,
        sources: CutSource,
    },
}

/// What the planner does with an input of a cut operator.
pub(super) enum CutInput {
    /// Sends the input's rows on: the part ends here.
    SendOn(CutSink, usize),
    /// Reads the input's rows from the part that sends them.
    ReadFrom(CutSource, usize),
}

/// A Kafka table read by a shared job.
#[derive(Debug, Clone)]
pub struct Scan {
    pub table: String,
    /// The table's columns the scan keeps.
    pub projection: Option<Vec<usize>>,
    /// The key its rows are routed by, over the scan's columns, once a keyed operator fixed
    /// it (empty: all rows to one task).
    pub routing: Option<Vec<RoutingKey>>,
    /// Whether a join fixed the routing (it cannot shrink then).
    joined: bool,
    /// The rows of a cut stream, not a table.
    cut: bool,
}

/// What planning a shared job records, and, for a task, where its rows come from.
#[derive(Default)]
pub struct SharedPlan {
    /// A task's sources; `None` while only finding the routing.
    pub(super) task: Option<TaskSource>,
    /// The scans, in planning order.
    pub scans: Vec<Scan>,
    /// Each node's columns that are computed from one scan's columns alone.
    lineage: HashMap<NodeId, Lineage>,
    /// The counters of the process's share of the job, and this dataflow's part in them.
    pub(super) metrics: Option<(Arc<JobMetrics>, usize)>,
    /// Whether every row goes to one task (see [`SharedPlan::gather_in_one_task`]).
    one_task: bool,
    /// The cut streams, in planning order.
    pub cuts: Vec<Cut>,
    /// The keyed operators planned so far.
    keyed_seen: usize,
    /// The part of a task being planned.
    pub(crate) stage: Stage,
    /// The part of a task up to a cut stream: the sink sending its rows, once planned.
    pub(crate) cut_sink: Option<NodeId>,
    /// Stage 1: the partitions this process reads and the router of their rows.
    #[cfg(feature = "kafka")]
    route: Option<Route>,
}

/// Stage 1 of a shared job: the table's partitions one process reads (each with where it
/// got to before, if it did), and the router of their rows.
#[cfg(feature = "kafka")]
pub type Route = (
    std::collections::BTreeMap<String, Option<rill_kafka::repartition::OriginProgress>>,
    rill_kafka::repartition::Router,
);
#[cfg(not(feature = "kafka"))]
pub type Route = ();

impl SharedPlan {
    /// Plans the task whose rows `source` makes.
    pub fn task(source: TaskSource) -> Self {
        SharedPlan {
            task: Some(source),
            ..SharedPlan::default()
        }
    }

    /// Plans the part of a task up to cut stream `sends` (`None`: the output) of a job cut
    /// as `cuts` says, sending cut streams through `sinks`, reading them from `sources`.
    pub fn part(
        mut self,
        cuts: Vec<Cut>,
        sends: Option<usize>,
        sinks: CutSink,
        sources: CutSource,
    ) -> Self {
        self.cuts = cuts;
        self.stage = Stage::Part {
            sends,
            sinks,
            sources,
        };
        self
    }

    /// The tables' scans, without the cut streams.
    pub fn tables(&self) -> impl Iterator<Item = &Scan> {
        self.scans.iter().filter(|s| !s.cut)
    }

    /// Counts into `metrics` (the process's, for its share of the job) as dataflow `part`.
    pub fn counting_into(mut self, metrics: Arc<JobMetrics>, part: usize) -> Self {
        self.metrics = Some((metrics, part));
        self
    }

    /// How the job is shared, for `EXPLAIN`: where its rows are repartitioned, by what.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        for (n, scan) in self.tables().enumerate() {
            let routing = match scan.routing.as_deref() {
                Some([]) | None if self.one_task => {
                    "nothing: all rows to one task (no repartition serves every keyed operator)"
                        .to_string()
                }
                Some([]) | None => "all rows to one task (no key)".to_string(),
                Some(keys) => hash_sql(keys),
            };
            text.push_str(&format!(
                "shared by the processes of the consumer group: each reads its partitions of \
                 '{}' and repartitions the rows through the job's repartition topic {n} by \
                 {routing}\n",
                scan.table
            ));
        }
        if !text.is_empty() {
            text.push_str(
                "each partition of the repartition topics is a task running this dataflow, its \
                 sources reading the task's partitions in place of the tables\n",
            );
        }
        let tables = self.tables().count();
        for (n, cut) in self.cuts.iter().enumerate() {
            text.push_str(&format!(
                "{}, so the task sends an input of {} on through the job's repartition topic {} \
                 by {}, each partition the task reading it in its place\n",
                cut.why,
                cut.what,
                tables + n,
                hash_sql(&cut.keys)
            ));
        }
        text
    }

    /// Plans stage 1: the source reading `route`'s partitions.
    #[cfg(feature = "kafka")]
    pub fn route(route: Route) -> Self {
        SharedPlan {
            route: Some(route),
            ..SharedPlan::default()
        }
    }

    /// The router of stage 1, for the table's source.
    pub(super) fn take_route(&mut self) -> Option<Route> {
        #[cfg(feature = "kafka")]
        return self.route.take();
        #[cfg(not(feature = "kafka"))]
        None
    }

    /// The index the next table scanned gets.
    pub(super) fn next_scan(&self) -> usize {
        self.tables().count()
    }

    /// `node` scans the Kafka table `table`, keeping `projection` of its columns (`schema`).
    pub(super) fn scanned(
        &mut self,
        node: NodeId,
        table: &str,
        projection: Option<Vec<usize>>,
        schema: &SchemaRef,
    ) {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        self.add_scan(node, &names, table, projection, false);
    }

    /// `node`'s rows, with columns `names`, are those of a new scan, without routing: of the
    /// table `table` keeping `projection` of its columns, or of a `cut` stream. Rows without
    /// columns (`SELECT COUNT(*)`) get one no operator reads, which says what scan they come
    /// from.
    fn add_scan(
        &mut self,
        node: NodeId,
        names: &[&str],
        table: &str,
        projection: Option<Vec<usize>>,
        cut: bool,
    ) {
        let scan = self.scans.len();
        let names = match names {
            [] => &["no column"][..],
            names => names,
        };
        let columns = (names.iter().enumerate())
            .map(|(c, name)| {
                let column: Arc<dyn PhysicalExpr> = Arc::new(PhysicalColumn::new(name, c));
                Some((scan, column))
            })
            .collect();
        self.lineage.insert(node, vec![columns]);
        self.scans.push(Scan {
            table: table.to_string(),
            projection,
            routing: None,
            joined: false,
            cut,
        });
    }

    /// For a part of a task, at the next keyed operator: what to do with each of its inputs
    /// if it is cut (else nothing).
    pub(super) fn at_keyed(&mut self) -> Vec<CutInput> {
        let ordinal = self.keyed_seen;
        self.keyed_seen += 1;
        let Stage::Part {
            sends,
            sinks,
            sources,
        } = &self.stage
        else {
            return Vec::new();
        };
        (self.cuts.iter().enumerate())
            .filter(|(_, cut)| cut.ordinal == ordinal)
            .map(|(n, _)| match *sends == Some(n) {
                true => CutInput::SendOn(sinks.clone(), n),
                false => CutInput::ReadFrom(sources.clone(), n),
            })
            .collect()
    }

    /// The rows of `input`, a cut operator's input, are sent on by `sink`, or read by
    /// `node` in its place: the operator reads a scan of them (from `node`).
    pub(super) fn cut_input(&mut self, sink: Option<NodeId>, node: NodeId, input: NodeId) {
        self.cut_sink = self.cut_sink.or(sink);
        self.cut_rows(node, input);
    }

    /// `node`'s rows (`input`'s) are a cut stream's: a scan of their own, without routing.
    fn cut_rows(&mut self, node: NodeId, input: NodeId) {
        let width = (self.lineage.get(&input))
            .and_then(|ways| ways.first())
            .map_or(0, Vec::len);
        let names: Vec<String> = (0..width).map(|c| format!("column {c}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.add_scan(node, &names, "", None, true);
    }

    /// `node`'s columns are `columns` of `input`'s (`None`: a new column).
    pub(super) fn derive(&mut self, node: NodeId, input: NodeId, columns: &[Option<usize>]) {
        if let Some(from) = self.lineage.get(&input) {
            let lineage = (from.iter())
                .map(|way| {
                    (columns.iter())
                        .map(|c| c.and_then(|c| way.get(c).cloned().flatten()))
                        .collect()
                })
                .collect();
            self.lineage.insert(node, lineage);
        }
    }

    /// `node`'s columns are `exprs` over `input`'s columns (`None`: a new column).
    pub(super) fn compute(
        &mut self,
        node: NodeId,
        input: NodeId,
        exprs: &[Option<Arc<dyn PhysicalExpr>>],
    ) {
        if let Some(from) = self.lineage.get(&input) {
            let lineage = (from.iter())
                .map(|way| {
                    (exprs.iter())
                        .map(|e| trace(e.as_ref()?, way).ok())
                        .collect()
                })
                .collect();
            self.lineage.insert(node, lineage);
        }
    }

    /// `node`'s columns are those of `inputs` (of `widths` columns), one after the other,
    /// cut to `width` (a join's); those of an input not `kept` are new columns.
    pub(super) fn concatenate(
        &mut self,
        node: NodeId,
        inputs: &[NodeId],
        kept: &[bool],
        widths: &[usize],
        width: usize,
    ) {
        // Every way of each input's rows with every way of the others'.
        let mut lineage: Lineage = vec![Vec::with_capacity(width)];
        for ((input, &kept), &columns) in inputs.iter().zip(kept).zip(widths) {
            let new = vec![vec![None; columns]];
            let ways = match self.lineage.get(input) {
                Some(from) if kept && from.iter().all(|way| way.len() == columns) => from,
                _ => &new,
            };
            lineage = (lineage.iter())
                .flat_map(|before| ways.iter().map(move |way| [&before[..], way].concat()))
                .collect();
        }
        if lineage.len() > MOST_WAYS {
            return;
        }
        for way in &mut lineage {
            way.truncate(width);
        }
        self.lineage.insert(node, lineage);
    }

    /// `node` is the `UNION ALL` of `inputs`, whose columns are its own by position: its
    /// rows come each input's ways.
    pub(super) fn union(&mut self, node: NodeId, inputs: &[NodeId]) {
        let mut lineage = Lineage::new();
        for input in inputs {
            match self.lineage.get(input) {
                Some(ways) => lineage.extend(ways.iter().cloned()),
                None => return,
            }
        }
        if lineage.len() <= MOST_WAYS {
            self.lineage.insert(node, lineage);
        }
    }

    /// A keyed operator (`what`) reads `inputs`, each with its key: the first fixes the
    /// routing of the scans its inputs come from, later ones must hold it. One that cannot
    /// is cut; where that cannot serve either, every row of the job goes to one task: the
    /// warning to show, the first time.
    pub(super) fn keyed(&mut self, what: &str, inputs: &[super::KeyedInput]) -> Option<String> {
        if self.one_task {
            return None;
        }
        let why = self.route_by(what, inputs).err()?;
        // Each input of an operator the routing cannot serve is repartitioned again, by its
        // key. (A part of a task cuts where finding the routing did, before this.)
        let ordinal = self.keyed_seen.saturating_sub(1);
        let followed = inputs
            .iter()
            .all(|(input, _)| self.lineage.contains_key(input));
        if matches!(self.stage, Stage::Whole) && followed {
            for (input, keys) in inputs {
                self.cut_rows(*input, *input);
                self.cuts.push(Cut {
                    ordinal,
                    what: what.to_string(),
                    keys: keys.clone(),
                    why: why.clone(),
                });
            }
            return match self.route_by(what, inputs) {
                Ok(()) => None,
                Err(why) => self.gather_in_one_task(&why),
            };
        }
        self.gather_in_one_task(&why)
    }

    /// Sends every row of the job to one task, because of `why` (an operator needs rows
    /// another key gathered, and no repartition serves it): the warning to show, the first
    /// time. Every keyed operator then finds all of its keys in that task.
    pub(super) fn gather_in_one_task(&mut self, why: &str) -> Option<String> {
        if std::mem::replace(&mut self.one_task, true) {
            return None;
        }
        self.cuts.clear();
        self.scans.retain(|s| !s.cut);
        for scan in &mut self.scans {
            scan.routing = Some(Vec::new());
        }
        Some(format!(
            "{why}, so all the rows of this job shared by several processes go to one task: \
             one process runs its operators, and the others only share reading the tables"
        ))
    }

    /// Fixes or checks the routing for a keyed operator (see [`Self::keyed`]); else why not.
    ///
    /// Routing by part of a key keeps each key in one task: a join's sides (and a union's
    /// inputs) are routed by all of its keys, alike; any other operator by the parts of its
    /// key traced to a scan, and a later one shrinks a routing no join fixed to the part it
    /// shares with its key.
    fn route_by(&mut self, what: &str, inputs: &[super::KeyedInput]) -> Result<(), String> {
        // Each way the rows of each input come: a scan it reads, and its key's parts, each
        // traced to a scan (else why not).
        let no_lineage = vec![Vec::new()];
        let ways: Vec<(Option<usize>, Vec<TracedPart>)> = (inputs.iter())
            .flat_map(|(input, keys)| {
                let ways = self.lineage.get(input).unwrap_or(&no_lineage);
                ways.iter().map(move |lineage| {
                    let parts = (keys.iter())
                        .map(|(key, data_type)| match trace(key, lineage) {
                            Ok((scan, traced)) => Ok((scan, (traced, data_type.clone()))),
                            Err(why) => Err(format!("{what}'s key {} {why}", sql(key.as_ref()))),
                        })
                        .collect();
                    (
                        lineage.iter().flatten().next().map(|(scan, _)| *scan),
                        parts,
                    )
                })
            })
            .collect();
        let join = ways.len() > 1;
        // Several ways are routed alike by the parts of the key every way traces (a join's
        // keys, a union's), the others dropped from all.
        let width = ways.first().map_or(0, |(_, parts)| parts.len());
        let alike: Vec<bool> = (0..width)
            .map(|i| {
                !join || (ways.iter()).all(|(_, parts)| parts.get(i).is_some_and(Result::is_ok))
            })
            .collect();
        if width > 0 && !alike.contains(&true) {
            let untraced =
                (ways.iter()).find_map(|(_, parts)| parts.iter().find_map(|p| p.clone().err()));
            return Err(
                untraced.unwrap_or_else(|| format!("{what}'s key has columns of two tables"))
            );
        }
        let other_key = || format!("{what} is keyed by other columns than the operator before it");
        for (read, traced) in ways {
            // The key's parts traced to each scan, and why a part is not (the last such).
            let mut parts: BTreeMap<usize, Vec<RoutingKey>> = BTreeMap::new();
            let mut untraced = None;
            let routed = (traced.iter().zip(&alike)).filter(|(_, alike)| **alike);
            for (part, _) in routed {
                match part {
                    Ok((scan, key)) => parts.entry(*scan).or_default().push(key.clone()),
                    Err(why) => untraced = Some(why.clone()),
                }
            }
            if traced.is_empty() {
                // No key: every scan feeding the input sends all its rows to one task.
                let Some(scan) = read else {
                    return Err(format!("{what} reads rows not traced to a Kafka table"));
                };
                let routing = self.scans[scan].routing.get_or_insert_default();
                if !routing.is_empty() {
                    return Err(format!(
                        "{what} has no key, and the operator before it has one"
                    ));
                }
                continue;
            }
            let (scan, keys) = match (parts.len(), untraced) {
                (1, None) => parts.pop_first().expect("one scan"),
                (1, Some(_)) if !join => parts.pop_first().expect("one scan"),
                (0, Some(why)) => return Err(why),
                (_, Some(why)) if join => return Err(why),
                _ if join => return Err(format!("{what}'s key has columns of two tables")),
                // Over a join's rows: in one task if the key holds a side's routing.
                _ => {
                    let holds = (parts.iter()).any(|(scan, keys)| {
                        let routing = self.scans[*scan].routing.as_deref();
                        routing.is_some_and(|r| r.iter().all(|k| keys.contains(k)))
                    });
                    match holds {
                        true => continue,
                        false => return Err(other_key()),
                    }
                }
            };
            let scan = &mut self.scans[scan];
            let Some(routing) = &mut scan.routing else {
                scan.routing = Some(keys);
                scan.joined = join;
                continue;
            };
            let shared: Vec<RoutingKey> = (routing.iter())
                .filter(|k| keys.contains(k))
                .cloned()
                .collect();
            match (join, scan.joined) {
                (true, _) if *routing == keys => scan.joined = true,
                (true, false) if keys.iter().all(|k| shared.contains(k)) => {
                    *routing = keys;
                    scan.joined = true;
                }
                (false, _) if shared.len() == routing.len() => {}
                (false, false) if !shared.is_empty() => *routing = shared,
                _ => return Err(other_key()),
            }
        }
        Ok(())
    }
}

/// `expr` over a node's columns as an expression over one scan's columns, given the node's
/// `lineage`, if every column it reads is traced to one scan and every function it calls is
/// deterministic (stage 1 computes it again, before the rows reach the node); else why not,
/// to follow "`expr` ...".
fn trace(expr: &Arc<dyn PhysicalExpr>, lineage: &[Option<Traced>]) -> Result<Traced, String> {
    let mut scan = None;
    let mut why = None;
    let traced = Arc::clone(expr)
        .transform_up(|e| {
            if let Some(column) = e.downcast_ref::<PhysicalColumn>() {
                match lineage.get(column.index()).cloned().flatten() {
                    Some((of, traced)) if scan.is_none_or(|s| s == of) => {
                        scan = Some(of);
                        return Ok(Transformed::yes(traced));
                    }
                    Some(_) => why = Some("reads columns of two tables".to_string()),
                    None => {
                        why = Some(format!(
                            "reads {}, which is not computed by deterministic functions of one \
                             table's columns",
                            column.name()
                        ))
                    }
                }
            } else if let Some(function) = e.downcast_ref::<ScalarFunctionExpr>()
                && function.fun().signature().volatility != Volatility::Immutable
            {
                why = Some(format!(
                    "calls {}, which is not deterministic",
                    function.name()
                ));
            }
            Ok(Transformed::no(e))
        })
        .map_err(|e| e.to_string())?
        .data;
    match (why, scan) {
        (Some(why), _) => Err(why),
        (None, Some(scan)) => Ok((scan, traced)),
        (None, None) => Err("reads no column of a table".to_string()),
    }
}

/// A routing by `keys`, for plans: `hash(a, lower(b))`.
fn hash_sql(keys: &[RoutingKey]) -> String {
    let keys: Vec<String> = keys.iter().map(|(k, _)| sql(k.as_ref())).collect();
    format!("hash({})", keys.join(", "))
}

/// `expr` as SQL, its columns by name, each operation of two operands in parentheses.
fn sql(expr: &dyn PhysicalExpr) -> String {
    if let Some(column) = expr.downcast_ref::<PhysicalColumn>() {
        return column.name().to_string();
    }
    if let Some(literal) = expr.downcast_ref::<Literal>() {
        return match literal.value().try_as_str() {
            Some(Some(text)) => format!("'{}'", text.replace('\'', "''")),
            _ => literal.value().to_string(),
        };
    }
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        let (left, right) = (sql(binary.left().as_ref()), sql(binary.right().as_ref()));
        return format!("({left} {} {right})", binary.op());
    }
    if let Some(cast) = expr.downcast_ref::<CastExpr>() {
        return format!(
            "CAST({} AS {})",
            sql(cast.expr().as_ref()),
            sql_type_name(cast.cast_type())
        );
    }
    if let Some(function) = expr.downcast_ref::<ScalarFunctionExpr>() {
        return match (function.name(), function.args()) {
            ("rill_cast" | "rill_try_cast", [value, _]) => {
                let data_type = sql_type_name(function.return_type());
                format!("CAST({} AS {data_type})", sql(value.as_ref()))
            }
            (name, args) => {
                let args: Vec<String> = args.iter().map(|a| sql(a.as_ref())).collect();
                format!("{name}({})", args.join(", "))
            }
        };
    }
    struct Sql<'a>(&'a dyn PhysicalExpr);
    impl std::fmt::Display for Sql<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.fmt_sql(f)
        }
    }
    Sql(expr).to_string()
}
