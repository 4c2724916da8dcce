//! `INSERT INTO t <query>` where the query reads a `VALUES` list nested in it
//! (`SELECT ... FROM (VALUES ...) AS v (a, b)`). DataFusion types every `VALUES` of an insert
//! by the target table's columns, which only fits a `VALUES` that is the whole query (it then
//! fails on, or mistypes, a nested one); such a query is planned on its own, and its columns
//! cast to the table's by position, as DataFusion does for the other queries.

use std::ops::ControlFlow;

use datafusion_common::{Result, TableReference, plan_err};
use datafusion_expr::dml::InsertOp;
use datafusion_expr::{Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, col};
use datafusion_sql::planner::ContextProvider;
use datafusion_sql::sqlparser::ast::{Query, SetExpr, Statement, Visit, Visitor};

use crate::context::PlanContext;

/// The target and query of an `INSERT` whose query holds a nested `VALUES` list (and names
/// no columns), which [`plan`] plans.
pub(crate) fn nested_values(statement: &Statement) -> Option<(String, &Query)> {
    let Statement::Insert(insert) = statement else {
        return None;
    };
    let query = insert.source.as_deref()?;
    if !insert.columns.is_empty() || matches!(query.body.as_ref(), SetExpr::Values(_)) {
        return None;
    }
    struct FindValues;
    impl Visitor for FindValues {
        type Break = ();
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
            match query.body.as_ref() {
                SetExpr::Values(_) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    query
        .visit(&mut FindValues)
        .is_break()
        .then(|| (insert.table.to_string(), query))
}

/// The insert of `query`'s rows into `table`: the query planned alone, its columns cast to
/// the table's by position.
pub(crate) fn plan(context: &PlanContext, table: &str, query: &Query) -> Result<LogicalPlan> {
    let statement = Statement::Query(Box::new(query.clone()));
    let source = context.statement_to_plan(datafusion_sql::parser::Statement::Statement(
        Box::new(statement),
    ))?;
    let target = context.get_table_source(TableReference::from(table))?;
    let columns = target.schema();
    if columns.fields().len() != source.schema().fields().len() {
        return plan_err!(
            "INSERT INTO {table}: the query gives {} columns, the table has {}",
            source.schema().fields().len(),
            columns.fields().len()
        );
    }
    let casts = (columns.fields().iter().zip(source.schema().columns()))
        .map(|(field, column)| {
            Ok(col(column)
                .cast_to(field.data_type(), source.schema())?
                .alias(field.name()))
        })
        .collect::<Result<Vec<Expr>>>()?;
    let input = LogicalPlanBuilder::from(source).project(casts)?.build()?;
    LogicalPlanBuilder::insert_into(input, table, target, InsertOp::Append)?.build()
}
