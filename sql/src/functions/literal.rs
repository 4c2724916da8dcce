//! Flink's types of integer literals: `1` is an `INT` (a `BIGINT` only when it does not fit),
//! so `n + 1` over an `INT` column is an `INT` that wraps on overflow, as in Flink, and
//! `NULLIF(n, 0)` stays an `INT`. DataFusion reads every integer literal as a `BIGINT`.

use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{Result, ScalarValue};
use datafusion_expr::{Expr, LogicalPlan};
use datafusion_optimizer::AnalyzerRule;

/// Gives integer literals Flink's types; runs before DataFusion's type coercion.
#[derive(Debug)]
pub struct IntegerLiterals;

impl AnalyzerRule for IntegerLiterals {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        // A LIMIT's count is not a value of the query.
        let limit = |node: &LogicalPlan| matches!(node, LogicalPlan::Limit(_));
        super::rewrite_expressions(plan, limit, |e, _| {
            Ok(match e {
                Expr::Literal(ScalarValue::Int64(Some(v)), meta) => match i32::try_from(v) {
                    Ok(v) => Transformed::yes(Expr::Literal(ScalarValue::Int32(Some(v)), meta)),
                    Err(_) => Transformed::no(Expr::Literal(ScalarValue::Int64(Some(v)), meta)),
                },
                other => Transformed::no(other),
            })
        })
    }

    fn name(&self) -> &str {
        "flink_integer_literals"
    }
}
