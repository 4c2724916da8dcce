//! Flink's types of integer literals: `1` is an `INT` (a `BIGINT` only when it does not fit),
//! so `n + 1` over an `INT` column is an `INT` that wraps on overflow, as in Flink, and
//! `NULLIF(n, 0)` stays an `INT`. DataFusion reads every integer literal as a `BIGINT`.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

/// Gives integer literals Flink's types; runs before DataFusion's type coercion.
#[derive(Debug)]
pub struct IntegerLiterals;

impl AnalyzerRule for IntegerLiterals {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            // A LIMIT's count is not a value of the query.
            if matches!(node, LogicalPlan::Limit(_)) {
                return Ok(Transformed::no(node));
            }
            // Columns above refer to this node's outputs by name: keep the names.
            let names = NamePreserver::new(&node);
            let node = node.map_expressions(|e| {
                let name = names.save(&e);
                e.transform_up(|e| match e {
                    Expr::Literal(ScalarValue::Int64(Some(v)), meta) => match i32::try_from(v) {
                        Ok(v) => Ok(Transformed::yes(Expr::Literal(
                            ScalarValue::Int32(Some(v)),
                            meta,
                        ))),
                        Err(_) => Ok(Transformed::no(Expr::Literal(
                            ScalarValue::Int64(Some(v)),
                            meta,
                        ))),
                    },
                    other => Ok(Transformed::no(other)),
                })
                .map(|t| t.update_data(|e| name.restore(e)))
            })?;
            if node.transformed {
                node.data.recompute_schema().map(Transformed::yes)
            } else {
                Ok(node)
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "flink_integer_literals"
    }
}
