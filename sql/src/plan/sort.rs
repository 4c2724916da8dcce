//! Planning `ORDER BY` on streams, as Flink does. With `LIMIT n` it is an updating Top-N of
//! the whole stream: a `ROW_NUMBER()` Top-N without `PARTITION BY`, its number dropped (Flink's
//! sort-limit), `OFFSET m` dropping the first `m`. Without, it is a temporal sort, whose first
//! key is a time attribute, ascending.

use datafusion_expr::expr::WindowFunction;
use datafusion_expr::{
    Expr, ExprFunctionExt, LogicalPlanBuilder, Sort, WindowFunctionDefinition, col, lit,
};
use datafusion_sql::planner::ContextProvider;
use rill_engine::dataflow::NodeId;
use rill_engine::operator::TimeSort;

use super::{StreamPlanner, output_schema};
use crate::error::{SqlError, SqlResult};

/// The row number of a sort-limit's Top-N, dropped after it.
const ROW_NUMBER: &str = "rill_sort_row_number";

impl StreamPlanner<'_> {
    /// `sort`, keeping `fetch` rows after the first `skip` if given.
    pub(super) fn sort(
        &mut self,
        sort: &Sort,
        skip: usize,
        fetch: Option<usize>,
    ) -> SqlResult<NodeId> {
        // The sort's own fetch counts the skipped rows.
        let fetch = match (fetch, sort.fetch) {
            (Some(a), Some(b)) => Some(a.min(b.saturating_sub(skip))),
            (a, b) => a.or(b.map(|b| b.saturating_sub(skip))),
        };
        match fetch {
            Some(limit) => self.sort_limit(sort, skip, limit),
            None if skip > 0 => Err(SqlError::new(
                "OFFSET without LIMIT after ORDER BY on a stream is not supported",
            )),
            None => self.time_sort(sort),
        }
    }

    /// Rows `skip + 1` to `skip + limit` in `sort`'s order: a Top-N of `skip + limit` rows
    /// that keeps those numbered after `skip`.
    fn sort_limit(&mut self, sort: &Sort, skip: usize, limit: usize) -> SqlResult<NodeId> {
        let row_number = self
            .context
            .get_window_meta("row_number")
            .ok_or_else(|| SqlError::new("internal error: no ROW_NUMBER"))?;
        let number = Expr::from(WindowFunction::new(
            WindowFunctionDefinition::WindowUDF(row_number),
            vec![],
        ))
        .order_by(sort.expr.clone())
        .build()?
        .alias(ROW_NUMBER);
        let columns = sort.input.schema().columns().into_iter().map(Expr::Column);
        let top_n = LogicalPlanBuilder::from(sort.input.as_ref().clone())
            .window(vec![number])?
            .filter(
                col(ROW_NUMBER)
                    .gt(lit(skip as i64))
                    .and(col(ROW_NUMBER).lt_eq(lit((skip + limit) as i64))),
            )?
            .project(columns)?
            .build()?;
        self.plan(&top_n)
    }

    fn time_sort(&mut self, sort: &Sort) -> SqlResult<NodeId> {
        let schema = sort.input.schema();
        let Some((first, rest)) = sort.expr.split_first() else {
            return self.plan(&sort.input);
        };
        let time = match &first.expr {
            Expr::Column(c) if first.asc => schema.index_of_column(c).ok(),
            _ => None,
        }
        .filter(|t| self.time_attributes(&sort.input).contains(t));
        let Some(time) = time else {
            return Err(SqlError::new(
                "ORDER BY on a stream must start with a time attribute, ascending (as in \
                 Flink): ORDER BY ts [, ...]",
            )
            .with_hint("for the first rows in another order, add LIMIT n (a Top-N)"));
        };
        let keys = self.sort_keys(rest, schema)?;
        let input = self.plan_append_only(&sort.input, "ORDER BY")?;
        let rows = output_schema(schema);
        self.add_keyed(vec![(input, vec![])], rows.clone(), |planner| {
            let (_, late) = planner.late_rows(input, rows.clone(), false)?;
            Ok(Box::new(TimeSort::new(
                rows.clone(),
                time,
                keys.clone(),
                late,
            )))
        })
    }
}
