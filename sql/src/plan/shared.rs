//! Planning a job several processes share: which columns of its Kafka tables their rows are
//! routed by, so that every keyed operator finds all rows of a key in one task.
//!
//! The planner follows each node's columns back to the scans' (its *lineage*: through
//! projections of columns, filters, window functions and joins). The first keyed operator
//! fixes each scan's routing columns: its key's columns of that scan, in key order, hashed as
//! the key's types (so a join's two sides route equal keys alike). Every later keyed
//! operator's key must hold them too. A computed key, a later operator keyed otherwise (it
//! would need a second repartition) and `LIMIT` are refused, naming them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, SchemaRef};
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::ScalarFunctionExpr;
use datafusion_physical_expr::expressions::{CastExpr, Column as PhysicalColumn};
use rill_engine::JobMetrics;
use rill_engine::dataflow::NodeId;
use rill_engine::source::Source;

use crate::error::{SqlError, SqlResult};

/// Makes a task's source for scan `n` (in planning order): the rows of its partition of
/// that scan's repartition topic, with the table's columns after the scan (`schema`) and the
/// table's idle timeout.
pub type TaskSource =
    Arc<dyn Fn(usize, SchemaRef, Option<Duration>) -> SqlResult<Box<dyn Source>> + Send + Sync>;

/// A Kafka table read by a shared job.
#[derive(Debug, Clone)]
pub struct Scan {
    pub table: String,
    /// The table's columns the scan keeps.
    pub projection: Option<Vec<usize>>,
    /// The names of the scan's columns.
    columns: Vec<String>,
    /// The scan's columns its rows are routed by, each hashed as its type, once a keyed
    /// operator fixed them (empty: all rows to one task).
    pub routing: Option<Vec<(usize, DataType)>>,
}

/// What planning a shared job records, and, for a task, where its rows come from.
#[derive(Default)]
pub struct SharedPlan {
    /// A task's sources; `None` while only finding the routing.
    pub(super) task: Option<TaskSource>,
    /// The scans, in planning order.
    pub scans: Vec<Scan>,
    /// Each node's columns that are columns of a scan: (scan, column).
    lineage: HashMap<NodeId, Vec<Option<(usize, usize)>>>,
    /// The counters of the process's share of the job, and this dataflow's part in them.
    pub(super) metrics: Option<(Arc<JobMetrics>, usize)>,
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

    /// Counts into `metrics` (the process's, for its share of the job) as dataflow `part`.
    pub fn counting_into(mut self, metrics: Arc<JobMetrics>, part: usize) -> Self {
        self.metrics = Some((metrics, part));
        self
    }

    /// How the job is shared, for `EXPLAIN`: where its rows are repartitioned, by what.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        for (n, scan) in self.scans.iter().enumerate() {
            let routing = match scan.routing.as_deref() {
                Some([]) | None => "all rows to one task (no key)".to_string(),
                Some(columns) => {
                    let names: Vec<&str> = (columns.iter())
                        .map(|(c, _)| scan.columns[*c].as_str())
                        .collect();
                    format!("hash({})", names.join(", "))
                }
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

    /// The index the next scan gets.
    pub(super) fn next_scan(&self) -> usize {
        self.scans.len()
    }

    /// `node` scans the Kafka table `table`, keeping `projection` of its columns (`schema`).
    pub(super) fn scanned(
        &mut self,
        node: NodeId,
        table: &str,
        projection: Option<Vec<usize>>,
        schema: &SchemaRef,
    ) {
        let scan = self.scans.len();
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        self.lineage
            .insert(node, (0..columns.len()).map(|c| Some((scan, c))).collect());
        self.scans.push(Scan {
            table: table.to_string(),
            projection,
            columns,
            routing: None,
        });
    }

    /// `node`'s columns are `columns` of `input`'s (`None`: a new column).
    pub(super) fn derive(&mut self, node: NodeId, input: NodeId, columns: &[Option<usize>]) {
        if let Some(from) = self.lineage.get(&input) {
            let lineage = columns
                .iter()
                .map(|c| c.and_then(|c| from.get(c).copied().flatten()))
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
        let mut lineage = Vec::with_capacity(width);
        for ((input, &kept), &columns) in inputs.iter().zip(kept).zip(widths) {
            match self.lineage.get(input) {
                Some(from) if kept && from.len() == columns => lineage.extend(from.iter().copied()),
                _ => lineage.extend(std::iter::repeat_n(None, columns)),
            }
        }
        lineage.truncate(width);
        self.lineage.insert(node, lineage);
    }

    /// A keyed operator (`what`) reads `inputs`, each with its key: the first fixes the
    /// routing of the scans its inputs come from, later ones must hold it.
    pub(super) fn keyed(&mut self, what: &str, inputs: &[super::KeyedInput]) -> SqlResult<()> {
        let mut routes: BTreeMap<usize, Vec<(usize, DataType)>> = BTreeMap::new();
        for (input, keys) in inputs {
            let lineage = self.lineage.get(input);
            let mut scan = None;
            let mut columns = Vec::with_capacity(keys.len());
            for (key, data_type) in keys {
                let traced = column_under_casts(key.as_ref())
                    .and_then(|c| lineage?.get(c.index()).copied().flatten());
                let Some((of, column)) = traced else {
                    return Err(SqlError::new(format!(
                        "{what}'s key {key} is not a column of a Kafka table: a job shared by \
                         several processes routes rows by the tables' columns (a computed key \
                         is not supported yet)"
                    )));
                };
                if scan.is_some_and(|s| s != of) {
                    return Err(SqlError::new(format!(
                        "{what}'s key has columns of two tables: a job shared by several \
                         processes cannot route its rows by it"
                    )));
                }
                scan = Some(of);
                columns.push((column, data_type.clone()));
            }
            let scan = match scan {
                Some(scan) => scan,
                // No key: every scan feeding the input sends all its rows to one task.
                None => match lineage.and_then(|l| l.iter().flatten().next()) {
                    Some((scan, _)) => *scan,
                    None => {
                        return Err(SqlError::new(format!(
                            "{what} reads rows a job shared by several processes cannot \
                             trace to a Kafka table"
                        )));
                    }
                },
            };
            if routes.get(&scan).is_some_and(|r| *r != columns) {
                return Err(SqlError::new(format!(
                    "{what} reads one table by two keys: a job shared by several processes \
                     cannot route its rows both ways"
                )));
            }
            routes.insert(scan, columns);
        }
        // A join's sides meet only if both are routed by its keys, as its keys' types.
        let join = inputs.len() > 1;
        for (scan, columns) in routes {
            let fixed = &mut self.scans[scan].routing;
            match fixed {
                None => *fixed = Some(columns),
                Some(routing) if join && *routing == columns => {}
                Some(routing) if !join && routing.iter().all(|c| columns.contains(c)) => {}
                _ => {
                    return Err(SqlError::new(format!(
                        "{what} is keyed by other columns than the operator before it: a job \
                         shared by several processes would need a second repartition (not \
                         supported yet)"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The column `key` is, or casts (a join's key cast to its common type): rows are routed by
/// its value cast to the key's type, which is the key.
fn column_under_casts(key: &dyn PhysicalExpr) -> Option<&PhysicalColumn> {
    if let Some(column) = key.downcast_ref::<PhysicalColumn>() {
        return Some(column);
    }
    if let Some(cast) = key.downcast_ref::<CastExpr>() {
        return column_under_casts(cast.expr().as_ref());
    }
    let function = key.downcast_ref::<ScalarFunctionExpr>()?;
    match (function.name(), function.args()) {
        ("rill_cast", [value, _]) => column_under_casts(value.as_ref()),
        _ => None,
    }
}
