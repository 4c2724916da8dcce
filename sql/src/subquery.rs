//! Scalar subqueries. The optimizer turns each into a join with the subquery's result, as
//! Flink does; a join repeats a row for each row of that result, where Flink fails the job
//! once a scalar subquery gives a second row. So rill takes only a subquery that gives at most
//! one row by its shape: an aggregate without `GROUP BY`, a `LIMIT 1`, one `VALUES` row.

use datafusion_common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion_expr::{Expr, FetchType, LogicalPlan};

use crate::error::{SqlError, SqlResult};

/// Refuses `plan` if one of its scalar subqueries may give more than one row.
pub fn check(plan: &LogicalPlan) -> SqlResult<()> {
    let mut refusal = None;
    plan.apply_with_subqueries(|node| {
        for expr in node.expressions() {
            expr.apply(|e| {
                if let Expr::ScalarSubquery(s) = e
                    && !at_most_one_row(&s.subquery)
                {
                    refusal = Some(SqlError::new(
                        "a scalar subquery must give at most one row: an aggregate without GROUP \
                         BY, or LIMIT 1 (Flink fails the job when one gives a second row)",
                    ));
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })?;
        }
        Ok(match refusal {
            Some(_) => TreeNodeRecursion::Stop,
            None => TreeNodeRecursion::Continue,
        })
    })?;
    refusal.map_or(Ok(()), Err)
}

/// Whether `plan` gives at most one row (per outer row, for a correlated subquery).
fn at_most_one_row(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Aggregate(a) => a.group_expr.is_empty(),
        LogicalPlan::Limit(l) => {
            matches!(l.get_fetch_type(), Ok(FetchType::Literal(Some(n))) if n <= 1)
                || at_most_one_row(&l.input)
        }
        LogicalPlan::Values(v) => v.values.len() <= 1,
        LogicalPlan::EmptyRelation(_) => true,
        LogicalPlan::Projection(_)
        | LogicalPlan::Filter(_)
        | LogicalPlan::Sort(_)
        | LogicalPlan::SubqueryAlias(_) => plan.inputs().into_iter().all(at_most_one_row),
        _ => false,
    }
}
