//! Built-in functions: Flink's catalogue, and the functions whose Flink semantics differ from
//! DataFusion's, registered over DataFusion's under the same names.

mod avg;
mod cast;
pub mod catalog;
mod datetime;
mod encoding;
mod java_time;
mod literal;
mod math;
mod string;
mod udf;
mod variance;

use std::sync::Arc;

use datafusion::logical_expr::AggregateUDF;
use datafusion::optimizer::{Analyzer, AnalyzerRule};
use datafusion::prelude::SessionContext;

/// Registers the Flink variants.
pub fn register(ctx: &SessionContext) {
    ctx.register_udaf(AggregateUDF::new_from_impl(avg::FlinkAvg::default()));
    for udaf in variance::functions() {
        ctx.register_udaf(udaf);
    }
    for udf in string::functions()
        .into_iter()
        .chain(datetime::functions())
        .chain(math::functions())
        .chain(encoding::functions())
    {
        ctx.register_udf(udf);
    }
    for udf in crate::match_recognize::placeholders() {
        ctx.register_udf(udf);
    }
    for udf in crate::temporal::functions() {
        ctx.register_udf(udf);
    }
}

/// DataFusion's analyzer rules with rill's: integer literals get Flink's types before type
/// coercion, casts become Flink's after it, temporal join conditions are kept in place after it.
pub fn analyzer_rules() -> Vec<Arc<dyn AnalyzerRule + Send + Sync>> {
    let mut rules: Vec<Arc<dyn AnalyzerRule + Send + Sync>> =
        vec![Arc::new(literal::IntegerLiterals)];
    rules.extend(Analyzer::new().rules);
    rules.push(Arc::new(cast::FlinkCasts));
    rules.push(Arc::new(math::DecimalDivision));
    rules.push(Arc::new(crate::temporal::TemporalConditions));
    rules
}
