//! Built-in functions: Flink's catalogue, and the functions whose Flink semantics differ from
//! DataFusion's, registered over DataFusion's under the same names.

mod avg;
mod bitmap;
mod cast;
pub mod catalog;
pub mod clock;
mod collect;
mod collection;
mod datetime;
mod encoding;
mod java_time;
pub mod json;
mod json_agg;
pub(crate) mod json_text;
mod literal;
pub(crate) mod map;
mod math;
mod percentile;
mod printf;
pub mod random;
mod ranking;
mod string;
mod type_of;
mod udf;
mod variance;
pub mod watermark;

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{DFSchema, Result};
use datafusion_expr::expr_rewriter::NamePreserver;
use datafusion_expr::utils::merge_schema;
use datafusion_expr::{AggregateUDF, Expr, GroupingSet, LogicalPlan};
use datafusion_optimizer::analyzer::resolve_grouping_function::ResolveGroupingFunction;
use datafusion_optimizer::{Analyzer, AnalyzerRule};

use crate::context::PlanContext;

/// DataFusion's functions rill does not offer: they read the wall clock or a random source
/// (results would differ from run to run), or describe DataFusion's own file scans.
const WITHDRAWN: [&str; 5] = [
    "random",
    "today",
    "version",
    "input_file_name",
    "file_row_index",
];

/// Registers the Flink variants.
pub fn register(context: &mut PlanContext) {
    for name in WITHDRAWN {
        context.deregister_udf(name);
    }
    context.register_udaf(Arc::new(AggregateUDF::new_from_impl(
        avg::FlinkAvg::default(),
    )));
    for udaf in variance::functions()
        .into_iter()
        .chain(json_agg::functions())
        .chain(bitmap::aggregates())
        .chain([percentile::function(), collect::function()])
    {
        context.register_udaf(Arc::new(udaf));
    }
    for udf in string::functions()
        .into_iter()
        .chain(datetime::functions())
        .chain(math::functions())
        .chain(encoding::functions())
        .chain(bitmap::functions())
        .chain(json::functions())
        .chain(random::functions())
        .chain([json_text::function()])
    {
        context.register_udf(Arc::new(udf));
    }
    for udf in collection::functions().into_iter().chain(map::functions()) {
        context.register_udf(Arc::new(udf));
    }
    for udwf in ranking::functions() {
        context.register_udwf(Arc::new(udwf));
    }
    context.register_expr_planner(Arc::new(collection::ArrayPlanner));
    context.register_expr_planner(Arc::new(cast::TimeOperands));
    context.register_expr_planner(Arc::new(datetime::IntervalProducts::new()));
    context.register_udf(Arc::new(type_of::function()));
    context.register_udf(Arc::new(printf::function()));
    context.register_udf(Arc::new(watermark::function()));
    for udf in clock::functions() {
        context.register_udf(Arc::new(udf));
    }
    for udf in crate::match_recognize::placeholders() {
        context.register_udf(Arc::new(udf));
    }
    for udf in crate::temporal::functions() {
        context.register_udf(Arc::new(udf));
    }
}

/// DataFusion's analyzer rules with rill's: integer literals get Flink's types and binary
/// strings are kept from text functions before type coercion, casts become Flink's after it, temporal join conditions are kept in place after it.
/// Joins against `UNNEST` become [`UnnestJoin`](crate::unnest::UnnestJoin)s first, so that the
/// other rules type what they give.
/// `GROUPING(x)` is resolved first, while its arguments are still the grouping expressions as
/// written.
pub fn analyzer_rules() -> Vec<Arc<dyn AnalyzerRule + Send + Sync>> {
    let mut rules: Vec<Arc<dyn AnalyzerRule + Send + Sync>> = vec![
        Arc::new(crate::unnest::LateralUnnest),
        Arc::new(ResolveGroupingFunction::new()),
        Arc::new(literal::IntegerLiterals),
        Arc::new(cast::TextArguments),
    ];
    rules.extend(Analyzer::new().rules);
    rules.push(Arc::new(cast::FlinkCasts));
    rules.push(Arc::new(math::DecimalDivision));
    rules.push(Arc::new(crate::temporal::TemporalConditions));
    rules
}

/// `set` with `f` applied to each of its expressions.
fn map_grouping_set(
    set: GroupingSet,
    f: impl Fn(Expr) -> Result<Transformed<Expr>>,
) -> Result<Transformed<Expr>> {
    let map = |exprs: Vec<Expr>| -> Result<Transformed<Vec<Expr>>> {
        let mut transformed = false;
        let exprs = (exprs.into_iter())
            .map(|e| {
                let t = f(e)?;
                transformed |= t.transformed;
                Ok(t.data)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Transformed::new_transformed(exprs, transformed))
    };
    Ok(match set {
        GroupingSet::Rollup(exprs) => map(exprs)?.update_data(GroupingSet::Rollup),
        GroupingSet::Cube(exprs) => map(exprs)?.update_data(GroupingSet::Cube),
        GroupingSet::GroupingSets(sets) => {
            let mut transformed = false;
            let sets = (sets.into_iter())
                .map(|set| {
                    let t = map(set)?;
                    transformed |= t.transformed;
                    Ok(t.data)
                })
                .collect::<Result<Vec<_>>>()?;
            Transformed::new_transformed(GroupingSet::GroupingSets(sets), transformed)
        }
    }
    .update_data(Expr::GroupingSet))
}

/// `plan` with every expression of every node (and subquery) but those `skip` names rewritten
/// bottom-up by `f`, which sees the schema the expression is evaluated against. Rewritten
/// expressions keep their output names, which the nodes above refer to; the nodes' types
/// follow.
fn rewrite_expressions(
    plan: LogicalPlan,
    skip: fn(&LogicalPlan) -> bool,
    f: impl Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        if skip(&node) {
            return Ok(Transformed::no(node));
        }
        let schema = match node.inputs().as_slice() {
            [] => node.schema().as_ref().clone(),
            inputs => merge_schema(inputs),
        };
        let names = NamePreserver::new(&node);
        let rewrite = |e: Expr| {
            let name = names.save(&e);
            e.transform_up(|e| f(e, &schema))
                .map(|t| t.update_data(|e| name.restore(e)))
        };
        // A grouping set's expressions keep their names each (an alias of the whole set
        // would hide the set).
        let node = node.map_expressions(|e| match e {
            Expr::GroupingSet(set) => map_grouping_set(set, rewrite),
            e => rewrite(e),
        })?;
        if node.transformed {
            node.data.recompute_schema().map(Transformed::yes)
        } else {
            Ok(node)
        }
    })
    .map(|t| t.data)
}
