//! Planning a job several processes share: which columns of its Kafka table its rows are
//! routed by, so that every keyed operator finds all rows of a key in one task.
//!
//! The planner follows each node's columns back to the table's (its *lineage*: through
//! projections of columns, filters and window functions). The first keyed operator fixes
//! the routing columns: its key's columns of the table. Every later keyed operator's key
//! must hold them too; a key that is computed, a join, or a `LIMIT` is refused, naming it,
//! as they would need a second repartition (not done yet).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::expressions::Column as PhysicalColumn;
use rill_engine::dataflow::NodeId;
use rill_engine::source::Source;

use crate::error::{SqlError, SqlResult};

/// Makes a task's source: the rows of its partition of the repartition topic, with the
/// table's columns after the scan (`schema`) and the idle timeout of the table.
pub type TaskSource =
    Arc<dyn Fn(SchemaRef, Option<Duration>) -> SqlResult<Box<dyn Source>> + Send + Sync>;

/// What planning a shared job records, and, for a task, where its rows come from.
#[derive(Default)]
pub struct SharedPlan {
    /// A task's source; `None` while only finding the routing.
    pub(super) task: Option<TaskSource>,
    /// The Kafka table read, and the columns its scan keeps.
    pub scan: Option<(String, Option<Vec<usize>>)>,
    /// The names of the scan's columns.
    scan_columns: Vec<String>,
    /// The columns of the scan's rows the rows are routed by (empty: all in one task), once
    /// a keyed operator fixed them.
    pub routing: Option<Vec<usize>>,
    /// Each node's columns that are columns of the scan's rows.
    lineage: HashMap<NodeId, Vec<Option<usize>>>,
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

    /// How the job is shared, for `EXPLAIN`: where its rows are repartitioned, by what.
    pub fn describe(&self) -> String {
        let Some((table, _)) = &self.scan else {
            return String::new();
        };
        let routing = match self.routing.as_deref() {
            Some([]) | None => "all rows to one task (no key)".to_string(),
            Some(columns) => {
                let names: Vec<&str> = (columns.iter())
                    .map(|&c| self.scan_columns[c].as_str())
                    .collect();
                format!("hash({})", names.join(", "))
            }
        };
        format!(
            "shared by the processes of the consumer group: each reads its partitions of \
             '{table}' and repartitions the rows through the job's repartition topic by \
             {routing}; each partition of that topic is a task running this dataflow, its \
             source reading the task's partition in place of '{table}'\n"
        )
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

    /// `node` scans the Kafka table `table`, keeping `projection` of its `columns`; a job
    /// reading a second table is refused.
    pub(super) fn scanned(
        &mut self,
        node: NodeId,
        table: &str,
        projection: Option<Vec<usize>>,
        schema: &SchemaRef,
    ) -> SqlResult<()> {
        if let Some((first, _)) = &self.scan {
            let reads = match first == table {
                true => format!("'{table}' twice"),
                false => format!("'{first}' and '{table}'"),
            };
            return Err(SqlError::new(format!(
                "a job shared by several processes reads one Kafka table once; this one \
                 reads {reads} (not supported yet)"
            )));
        }
        self.scan = Some((table.to_string(), projection));
        self.scan_columns = schema.fields().iter().map(|f| f.name().clone()).collect();
        self.lineage
            .insert(node, (0..self.scan_columns.len()).map(Some).collect());
        Ok(())
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

    /// A keyed operator (`what`) reads `inputs`, each with its key: the first fixes the
    /// routing columns, later ones must hold them.
    pub(super) fn keyed(
        &mut self,
        what: &str,
        inputs: &[(NodeId, Vec<Arc<dyn PhysicalExpr>>)],
    ) -> SqlResult<()> {
        let [(input, keys)] = inputs else {
            return Err(SqlError::new(format!(
                "{what} reads two inputs: a job shared by several processes cannot \
                 repartition both yet"
            )));
        };
        let lineage = self.lineage.get(input);
        let mut columns = Vec::with_capacity(keys.len());
        for key in keys {
            let column = (key.as_ref() as &dyn PhysicalExpr)
                .downcast_ref::<PhysicalColumn>()
                .and_then(|c| lineage?.get(c.index()).copied().flatten());
            match column {
                Some(c) => columns.push(c),
                None => {
                    return Err(SqlError::new(format!(
                        "{what}'s key {key} is not a column of the Kafka table: a job shared \
                         by several processes routes rows by the table's columns (a computed \
                         key is not supported yet)"
                    )));
                }
            }
        }
        columns.sort_unstable();
        columns.dedup();
        match &self.routing {
            None => self.routing = Some(columns),
            Some(routing) if routing.iter().all(|c| columns.contains(c)) => {}
            Some(_) => {
                return Err(SqlError::new(format!(
                    "{what} is keyed by other columns than the operator before it: a job \
                     shared by several processes would need a second repartition (not \
                     supported yet)"
                )));
            }
        }
        Ok(())
    }
}
