//! What DataFusion needs to turn rill's SQL into logical plans and expressions: settings,
//! functions, the relations a statement may name, and the analyzer and optimizer passes.
//!
//! rill's stand-in for DataFusion's `SessionState`, which lives in the `datafusion` crate with
//! DataFusion's execution engine, file formats and catalogs: rill runs none of them, and not
//! building them takes about a fifth off a cold build.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use chrono::{DateTime, Utc};
use datafusion_common::alias::AliasGenerator;
use datafusion_common::config::ConfigOptions;
use datafusion_common::{DFSchema, DataFusionError, Result, TableReference, plan_err};
use datafusion_expr::execution_props::ExecutionProps;
use datafusion_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion_expr::planner::{ContextProvider, ExprPlanner, RelationPlanner, TypePlanner};
use datafusion_expr::registry::FunctionRegistry;
use datafusion_expr::simplify::SimplifyContext;
use datafusion_expr::{
    AggregateUDF, Expr, HigherOrderUDF, LogicalPlan, ScalarUDF, TableSource, TableType, WindowUDF,
};
use datafusion_optimizer::analyzer::{Analyzer, AnalyzerRule};
use datafusion_optimizer::simplify_expressions::ExprSimplifier;
use datafusion_optimizer::{Optimizer, OptimizerConfig};
use datafusion_physical_expr::{PhysicalExpr, create_physical_expr};
use datafusion_sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion_sql::planner::{PlannerContext, SqlToRel};
use datafusion_sql::sqlparser::dialect::dialect_from_str;

/// Settings, functions and relations for planning, and the passes plans go through.
#[derive(Clone)]
pub struct PlanContext {
    options: Arc<ConfigOptions>,
    scalar: HashMap<String, Arc<ScalarUDF>>,
    aggregate: HashMap<String, Arc<AggregateUDF>>,
    window: HashMap<String, Arc<WindowUDF>>,
    expr_planners: Vec<Arc<dyn ExprPlanner>>,
    relation_planners: Vec<Arc<dyn RelationPlanner>>,
    relations: HashMap<String, Arc<dyn TableSource>>,
    analyzer: Analyzer,
    optimizer: Optimizer,
    props: ExecutionProps,
}

impl PlanContext {
    /// A context with DataFusion's functions and expression planners (those of the function
    /// families rill builds), `analyzer_rules` and DataFusion's optimizer, consulting
    /// `relation_planners` first for each `FROM` item.
    pub fn new(
        options: ConfigOptions,
        analyzer_rules: Vec<Arc<dyn AnalyzerRule + Send + Sync>>,
        relation_planners: Vec<Arc<dyn RelationPlanner>>,
    ) -> Self {
        let mut context = PlanContext {
            options: Arc::new(options),
            scalar: HashMap::new(),
            aggregate: HashMap::new(),
            window: HashMap::new(),
            expr_planners: vec![
                Arc::new(datafusion_functions::core::planner::CoreFunctionPlanner::default()),
                Arc::new(datafusion_functions::datetime::planner::DatetimeFunctionPlanner),
                Arc::new(datafusion_functions::unicode::planner::UnicodeFunctionPlanner),
                Arc::new(datafusion_functions_aggregate::planner::AggregateFunctionPlanner),
                Arc::new(datafusion_functions_window::planner::WindowFunctionPlanner),
            ],
            relation_planners,
            relations: HashMap::new(),
            analyzer: Analyzer::with_rules(analyzer_rules),
            optimizer: Optimizer::new(),
            props: ExecutionProps::new(),
        };
        for udf in datafusion_functions::all_default_functions() {
            // Functions that read settings (the session time zone) take them now.
            let udf = match udf.inner().with_updated_config(&context.options) {
                Some(updated) => Arc::new(updated),
                None => udf,
            };
            context.register_udf(udf);
        }
        for udaf in datafusion_functions_aggregate::all_default_aggregate_functions() {
            context.register_udaf(udaf);
        }
        for udwf in datafusion_functions_window::all_default_window_functions() {
            insert_named(
                &mut context.window,
                udwf.name(),
                udwf.aliases(),
                udwf.clone(),
            );
        }
        context
    }

    /// Adds an expression planner, consulted before the others.
    pub fn register_expr_planner(&mut self, planner: Arc<dyn ExprPlanner>) {
        self.expr_planners.insert(0, planner);
    }

    pub fn register_udf(&mut self, udf: Arc<ScalarUDF>) {
        insert_named(&mut self.scalar, udf.name(), udf.aliases(), udf.clone());
    }

    /// Adds (or replaces) a window function, under its name and aliases.
    pub fn register_udwf(&mut self, udwf: Arc<WindowUDF>) {
        insert_named(&mut self.window, udwf.name(), udwf.aliases(), udwf.clone());
    }

    /// Adds (or replaces) an aggregate function, under its name and aliases.
    pub fn register_udaf(&mut self, udaf: Arc<AggregateUDF>) {
        insert_named(
            &mut self.aggregate,
            udaf.name(),
            udaf.aliases(),
            udaf.clone(),
        );
    }

    /// Removes a scalar function and its aliases.
    pub fn deregister_udf(&mut self, name: &str) {
        if let Some(udf) = self.scalar.remove(name) {
            for alias in udf.aliases() {
                self.scalar.remove(alias);
            }
        }
    }

    /// Names of the scalar and aggregate functions (aliases included), unsorted.
    pub fn function_names(&self) -> impl Iterator<Item = &String> {
        self.scalar.keys().chain(self.aggregate.keys())
    }

    /// Makes `name` resolve to a table of `schema` (replacing what it named).
    pub fn register_table(&mut self, name: &str, schema: SchemaRef) {
        let relation = Relation { schema, view: None };
        self.relations.insert(name.into(), Arc::new(relation));
    }

    /// Makes `name` resolve to the view `plan` (replacing what it named).
    pub fn register_view(&mut self, name: &str, plan: LogicalPlan) {
        let schema = Arc::clone(plan.schema().inner());
        let relation = Relation {
            schema,
            view: Some(plan),
        };
        self.relations.insert(name.into(), Arc::new(relation));
    }

    /// Forgets the table or view `name`.
    pub fn deregister(&mut self, name: &str) {
        self.relations.remove(name);
    }

    /// The settings.
    pub fn config_options(&self) -> &Arc<ConfigOptions> {
        &self.options
    }

    /// What expressions see when they run (the planning time, for `NOW()`).
    pub fn execution_props(&self) -> &ExecutionProps {
        &self.props
    }

    /// The analyzer passes.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// A statement's logical plan, as DataFusion builds it (not yet analyzed).
    pub fn statement_to_plan(&self, statement: DFStatement) -> Result<LogicalPlan> {
        self.sql_planner().statement_to_plan(statement)
    }

    /// `plan` through the analyzer and the optimizer.
    pub fn optimize(&self, plan: LogicalPlan) -> Result<LogicalPlan> {
        let analyzed = self
            .analyzer
            .execute_and_check(plan, &self.options, |_, _| {})?;
        self.optimizer.optimize(analyzed, self, |_, _| {})
    }

    /// The SQL expression `sql` planned against `schema`.
    pub fn create_logical_expr(&self, sql: &str, schema: &DFSchema) -> Result<Expr> {
        let options = &self.options.sql_parser;
        let Some(dialect) = dialect_from_str(options.dialect) else {
            return plan_err!("unknown SQL dialect {}", options.dialect);
        };
        let expr = DFParserBuilder::new(sql)
            .with_dialect(dialect.as_ref())
            .with_recursion_limit(options.recursion_limit.get())
            .build()?
            .parse_into_expr()?;
        self.sql_planner()
            .sql_to_expr_with_alias(expr, schema, &mut PlannerContext::new())
    }

    /// `expr` over `schema` as a physical expression, its types coerced first and its random
    /// calls each given a generator.
    pub fn create_physical_expr(
        &self,
        expr: Expr,
        schema: &DFSchema,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let simplify = SimplifyContext::builder()
            .with_schema(Arc::new(schema.clone()))
            .with_config_options(Arc::clone(&self.options))
            .with_query_execution_start_time(self.props.query_execution_start_time)
            .build();
        let expr = ExprSimplifier::new(simplify).coerce(expr, schema)?;
        let expr = crate::functions::random::with_own_generators(expr)?;
        let planning = PhysicalPlanningContext::default();
        create_physical_expr(&expr, schema, &self.props, &planning)
    }

    fn sql_planner(&self) -> SqlToRel<'_, Self> {
        SqlToRel::new_with_options(self, (&self.options.sql_parser).into())
    }
}

/// Inserts `value` under `name` and each of `aliases`.
fn insert_named<T: Clone>(map: &mut HashMap<String, T>, name: &str, aliases: &[String], value: T) {
    for alias in aliases {
        map.insert(alias.clone(), value.clone());
    }
    map.insert(name.into(), value);
}

/// What to say of `name`, which is no table or view: the error, and a hint naming the
/// `known` ones.
pub(crate) fn unknown_relation(name: &str, mut known: Vec<&str>) -> (String, String) {
    known.sort();
    let hint = match known.is_empty() {
        true => "no tables yet: CREATE TABLE first".to_string(),
        false => format!("known: {}", known.join(", ")),
    };
    (format!("table or view '{name}' does not exist"), hint)
}

/// A table (its columns) or a view (its plan, which the analyzer puts in its place).
struct Relation {
    schema: SchemaRef,
    view: Option<LogicalPlan>,
}

impl TableSource for Relation {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        match self.view {
            Some(_) => TableType::View,
            None => TableType::Base,
        }
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        self.view.as_ref().map(Cow::Borrowed)
    }
}

impl ContextProvider for PlanContext {
    fn get_table_source(&self, name: TableReference) -> Result<Arc<dyn TableSource>> {
        let relation = match name {
            TableReference::Bare { ref table } => self.relations.get(table.as_ref()),
            _ => None,
        };
        relation.cloned().ok_or_else(|| {
            let known = self.relations.keys().map(String::as_str).collect();
            let (message, hint) = unknown_relation(&name.to_string(), known);
            DataFusionError::Plan(format!("{message} ({hint})"))
        })
    }

    fn get_expr_planners(&self) -> &[Arc<dyn ExprPlanner>] {
        &self.expr_planners
    }

    fn get_relation_planners(&self) -> &[Arc<dyn RelationPlanner>] {
        &self.relation_planners
    }

    fn get_type_planner(&self) -> Option<Arc<dyn TypePlanner>> {
        Some(Arc::new(crate::types::FlinkTypes))
    }

    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        self.scalar.get(name).cloned()
    }

    fn get_higher_order_meta(&self, _name: &str) -> Option<Arc<HigherOrderUDF>> {
        None
    }

    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        self.aggregate.get(name).cloned()
    }

    fn get_window_meta(&self, name: &str) -> Option<Arc<WindowUDF>> {
        self.window.get(name).cloned()
    }

    fn get_variable_type(&self, _variable_names: &[String]) -> Option<DataType> {
        None
    }

    fn options(&self) -> &ConfigOptions {
        &self.options
    }

    fn udf_names(&self) -> Vec<String> {
        self.scalar.keys().cloned().collect()
    }

    fn higher_order_function_names(&self) -> Vec<String> {
        vec![]
    }

    fn udaf_names(&self) -> Vec<String> {
        self.aggregate.keys().cloned().collect()
    }

    fn udwf_names(&self) -> Vec<String> {
        self.window.keys().cloned().collect()
    }
}

/// The optimizer's rules read the settings, and one (`SELECT DISTINCT ON`) finds a function.
impl OptimizerConfig for PlanContext {
    fn query_execution_start_time(&self) -> Option<DateTime<Utc>> {
        self.props.query_execution_start_time
    }

    fn alias_generator(&self) -> &Arc<AliasGenerator> {
        &self.props.alias_generator
    }

    fn options(&self) -> Arc<ConfigOptions> {
        Arc::clone(&self.options)
    }

    fn function_registry(&self) -> Option<&dyn FunctionRegistry> {
        Some(self)
    }
}

impl FunctionRegistry for PlanContext {
    fn udfs(&self) -> HashSet<String> {
        self.scalar.keys().cloned().collect()
    }

    fn higher_order_function_names(&self) -> HashSet<String> {
        HashSet::new()
    }

    fn udafs(&self) -> HashSet<String> {
        self.aggregate.keys().cloned().collect()
    }

    fn udwfs(&self) -> HashSet<String> {
        self.window.keys().cloned().collect()
    }

    fn udf(&self, name: &str) -> Result<Arc<ScalarUDF>> {
        found(self.scalar.get(name), "scalar function", name)
    }

    fn higher_order_function(&self, name: &str) -> Result<Arc<HigherOrderUDF>> {
        plan_err!("there is no higher-order function '{name}'")
    }

    fn udaf(&self, name: &str) -> Result<Arc<AggregateUDF>> {
        found(self.aggregate.get(name), "aggregate function", name)
    }

    fn udwf(&self, name: &str) -> Result<Arc<WindowUDF>> {
        found(self.window.get(name), "window function", name)
    }

    fn expr_planners(&self) -> Vec<Arc<dyn ExprPlanner>> {
        self.expr_planners.clone()
    }
}

fn found<T>(function: Option<&Arc<T>>, kind: &str, name: &str) -> Result<Arc<T>> {
    match function {
        Some(f) => Ok(Arc::clone(f)),
        None => plan_err!("there is no {kind} '{name}'"),
    }
}
