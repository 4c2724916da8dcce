//! A SQL session: settings, tables and views, and the execution of statements into outcomes
//! the shell shows or runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use datafusion_common::config::ConfigOptions;
use datafusion_expr::{LogicalPlan, WriteOp};
use datafusion_sql::sqlparser::ast::{AnalyzeFormat, AnalyzeFormatKind, ObjectType, Statement};
use rill_engine::Dataflow;
use rill_engine::checkpoint::CheckpointConfig;

use crate::catalog::TableDef;
use crate::changelog::ChangelogPlanner;
use crate::context::{PlanContext, unknown_relation};
use crate::error::{SqlError, SqlResult};
use crate::flink::{check_joins, name_expressions, rewrite_functions};
use crate::functions::catalog;
use crate::group_window::rewrite_group_windows;
use crate::late::{is_late_option, late_policy};
use crate::match_recognize::{MatchRecognizePlanner, explain_automata};
use crate::parser::{ParsedStatement, StatementKind};
use crate::plan::shared::{SharedPlan, Stage};
use crate::plan::{EarlyFire, QueryPlan, StreamPlanner, output_schema};
use crate::temporal::{Versioned, mark_temporal_joins, versioned_view};
use crate::types::LOCAL_TIME_ZONE;
use crate::units::{duration_millis, memory_bytes};
use crate::unnest::UnnestPlanner;
use crate::window::WindowTvfPlanner;

/// The Flink SQL client's option for how results are shown: `'table'`, `'tableau'` or
/// `'changelog'`.
pub const RESULT_MODE: &str = "sql-client.execution.result-mode";

/// The most state one operator of a job may hold (a memory size, e.g. `'4 gb'`).
pub const STATE_MAX_SIZE: &str = "rill.state.max-size";

/// How much of each input's rows a regular join keeps in memory before it writes older ones
/// to a temporary file (a memory size).
pub const JOIN_MEMORY: &str = "rill.state.join-memory";

/// Flink's option saying change events may be delivered more than once.
pub const CDC_DUPLICATES: &str = "table.exec.source.cdc-events-duplicate";

/// Flink's option: after how long without data a source (Kafka: a partition) stops holding the
/// watermark back (`0`: never); a table's `'scan.watermark.idle-timeout'` wins.
pub const SOURCE_IDLE_TIMEOUT: &str = "table.exec.source.idle-timeout";

/// Flink's option for how long idle state is kept (`0`: for ever); in rill, event time.
pub const STATE_TTL: &str = "table.exec.state.ttl";

/// rill's early results of window aggregations: each time the watermark passes a multiple of
/// this much event time (Flink's `table.exec.emit.early-fire.*` fires on processing time).
pub const EARLY_FIRE_INTERVAL: &str = "rill.emit.early-fire.event-time-interval";

/// Flink's switch for early results on processing time (every so often by the clock, so
/// they depend on timing; the final results do not).
pub const FLINK_EARLY_FIRE: &str = "table.exec.emit.early-fire.enabled";

/// How often Flink's early results come, by the clock.
pub const FLINK_EARLY_FIRE_DELAY: &str = "table.exec.emit.early-fire.delay";

/// How many instances each keyed operator runs as (Flink's option).
pub const PARALLELISM: &str = "parallelism.default";

/// Time between checkpoints; setting it turns checkpoints on (Flink's name).
pub const CHECKPOINT_INTERVAL: &str = "execution.checkpointing.interval";

/// The directory checkpoints go to (Flink's name).
pub const CHECKPOINT_DIR: &str = "execution.checkpointing.dir";

/// A checkpoint to resume from instead of the directory's latest (Flink's name).
pub const RECOVERY_PATH: &str = "execution.state-recovery.path";

/// `'true'`: an `INSERT` job reading a Kafka table is shared by every process running it
/// with the table's consumer group (scale-out).
pub const SCALE_OUT: &str = "rill.scale-out";

/// Session settings that are not SQL.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Rows per batch read by sources.
    pub batch_size: usize,
    /// Instances of each keyed operator, unless `'parallelism.default'` says.
    pub parallelism: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            batch_size: 8192,
            parallelism: default_parallelism(),
        }
    }
}

/// One instance of each keyed operator per core.
pub fn default_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// What executing a statement produced.
pub enum Outcome {
    /// The session changed; a short confirmation.
    Done(String),
    /// A small result (SHOW TABLES, DESCRIBE) to print.
    Table(RecordBatch),
    /// Text to print as it is (EXPLAIN, SHOW CREATE TABLE).
    Text(String),
    /// A continuous query whose result the caller sends to a sink of its choice.
    Query(QueryPlan),
    /// `INSERT INTO`: a complete job.
    Insert(Dataflow),
    /// `INSERT INTO` shared by the processes of a consumer group (`'rill.scale-out'`).
    Shared(Box<SharedJob>),
}

/// An `INSERT` job shared by several processes: planned again for each part this process
/// runs.
pub struct SharedJob {
    pub(crate) sql: Statement,
    pub(crate) statement: ParsedStatement,
}

/// A view: its statement and result columns.
#[derive(Clone)]
struct ViewDef {
    ddl: String,
    schema: arrow::datatypes::SchemaRef,
    /// The view's key and time attribute when it keeps the last row per key (a versioned
    /// view, for temporal joins).
    versioned: Versioned,
}

/// Tables, views and settings, and a DataFusion context that resolves names and types. A
/// clone plans as the session did when cloned (a job running in the background replans its
/// tasks with it).
#[derive(Clone)]
pub struct Session {
    context: PlanContext,
    tables: BTreeMap<String, TableDef>,
    views: BTreeMap<String, ViewDef>,
    settings: BTreeMap<String, String>,
    options: SessionOptions,
    /// The `STATE_TTL` hint of the statement being planned.
    state_ttl_hints: BTreeMap<String, i64>,
}

impl Session {
    /// A new session.
    pub fn new(options: SessionOptions) -> Self {
        let mut config = ConfigOptions::new();
        // Flink identifiers are case-sensitive; keep them as written.
        config.sql_parser.enable_ident_normalization = false;
        config.sql_parser.collect_spans = true;
        // `1.5` is a DECIMAL(2, 1) in Flink, not a DOUBLE.
        config.sql_parser.parse_float_as_decimal = true;
        config.execution.time_zone = Some(LOCAL_TIME_ZONE.into());
        // A scalar subquery becomes a join with its (one-row) result, as in Flink, which
        // streams; DataFusion would otherwise run an uncorrelated one once, up front.
        config
            .optimizer
            .enable_physical_uncorrelated_scalar_subquery = false;
        let mut context = PlanContext::new(
            config,
            crate::functions::analyzer_rules(),
            vec![
                Arc::new(WindowTvfPlanner),
                Arc::new(ChangelogPlanner),
                Arc::new(MatchRecognizePlanner),
                Arc::new(UnnestPlanner),
            ],
        );
        crate::functions::register(&mut context);
        Session {
            context,
            tables: BTreeMap::new(),
            views: BTreeMap::new(),
            settings: BTreeMap::new(),
            options,
            state_ttl_hints: BTreeMap::new(),
        }
    }

    /// A session setting made with `SET`.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings.get(key).map(String::as_str)
    }

    /// Names of tables and views, sorted.
    pub fn relation_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .tables
            .keys()
            .chain(self.views.keys())
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// Names of the scalar and aggregate functions, sorted.
    pub fn function_names(&self) -> Vec<String> {
        let mut names: Vec<String> = (self.context.function_names())
            .filter(|name| *name != crate::parser::FINAL_FUNCTION)
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Column names of a table or view.
    pub fn columns_of(&self, name: &str) -> Vec<String> {
        let schema = match (self.tables.get(name), self.views.get(name)) {
            (Some(t), _) => &t.schema,
            (None, Some(v)) => &v.schema,
            (None, None) => return vec![],
        };
        schema.fields().iter().map(|f| f.name().clone()).collect()
    }

    /// Runs one statement.
    pub async fn execute(&mut self, statement: &ParsedStatement) -> SqlResult<Outcome> {
        match &statement.kind {
            StatementKind::Set(None) => Ok(Outcome::Table(key_values(
                ("key", "value"),
                self.settings.iter().map(|(k, v)| (k.clone(), v.clone())),
            ))),
            StatementKind::Set(Some((key, value))) => self.set(key, value),
            StatementKind::Reset(key) => {
                match key {
                    Some(k) => {
                        self.settings.remove(k);
                    }
                    None => self.settings.clear(),
                }
                Ok(Outcome::Done("Session property has been reset.".into()))
            }
            StatementKind::CreateTable {
                statement: create,
                watermark,
                computed,
                metadata,
            } => {
                let Statement::CreateTable(create) = create.as_ref() else {
                    unreachable!("parser yields CREATE TABLE here")
                };
                let name = create.name.to_string();
                if self.exists(&name) {
                    if create.if_not_exists {
                        return Ok(Outcome::Done(format!("Table '{name}' exists.")));
                    }
                    return Err(
                        SqlError::new(format!("table or view '{name}' already exists")).with_hint(
                            format!("DROP TABLE {name} first, or use CREATE TABLE IF NOT EXISTS"),
                        ),
                    );
                }
                let table = TableDef::from_create(
                    create,
                    watermark.as_ref(),
                    computed,
                    metadata,
                    &statement.text,
                    &self.context,
                )?;
                self.context.register_table(&name, table.schema.clone());
                self.tables.insert(name.clone(), table);
                Ok(Outcome::Done(format!("Table '{name}' created.")))
            }
            StatementKind::Sql(sql) => {
                let mut sql = sql.as_ref().clone();
                rewrite_group_windows(&mut sql)?;
                check_joins(&sql)?;
                catalog::check(&sql)?;
                rewrite_functions(&mut sql)?;
                name_expressions(&mut sql);
                let versioned = |name: &str| match self.tables.get(name) {
                    Some(table) => Some(Versioned::from(table)),
                    None => self.views.get(name).map(|v| v.versioned.clone()),
                };
                mark_temporal_joins(&mut sql, &versioned)?;
                self.state_ttl_hints = state_ttl_hints(&statement.text)?;
                self.execute_sql(&sql, statement).await
            }
        }
    }

    fn set(&mut self, key: &str, value: &str) -> SqlResult<Outcome> {
        match key {
            "table.local-time-zone" if value != LOCAL_TIME_ZONE => {
                return Err(SqlError::new(format!(
                    "'table.local-time-zone' = '{value}' is not supported yet: rill runs in UTC"
                )));
            }
            RESULT_MODE if !matches!(value, "table" | "tableau" | "changelog") => {
                return Err(
                    SqlError::new(format!("unknown '{RESULT_MODE}' = '{value}'")).with_hint(
                        "'table' (the current rows, redrawn in place), 'tableau' (rows as they \
                         come) or 'changelog' (with their change kind)",
                    ),
                );
            }
            STATE_MAX_SIZE | JOIN_MEMORY => {
                memory_bytes(value)?;
            }
            STATE_TTL | SOURCE_IDLE_TIMEOUT => {
                duration_millis(value)?;
            }
            CHECKPOINT_INTERVAL if duration_millis(value)? <= 0 => {
                return Err(SqlError::new(format!(
                    "'{CHECKPOINT_INTERVAL}' must be positive, found '{value}'"
                )));
            }
            CDC_DUPLICATES if !matches!(value, "true" | "false") => {
                return Err(SqlError::new(format!(
                    "'{CDC_DUPLICATES}' must be 'true' or 'false', found '{value}'"
                )));
            }
            PARALLELISM => {
                parallelism(value)?;
            }
            _ => {}
        }
        if is_late_option(key) {
            // Checked together with the other late-row settings, ignoring unset partners.
            let mut settings = self.settings.clone();
            settings.insert(key.to_string(), value.to_string());
            let late: BTreeMap<String, String> = settings
                .into_iter()
                .filter(|(k, _)| is_late_option(k))
                .collect();
            if let Err(e) = late_policy(&late)
                && !e.message.contains("needs")
            {
                return Err(e);
            }
        }
        self.settings.insert(key.to_string(), value.to_string());
        Ok(Outcome::Done("Session property has been set.".into()))
    }

    fn exists(&self, name: &str) -> bool {
        self.tables.contains_key(name) || self.views.contains_key(name)
    }

    async fn execute_sql(
        &mut self,
        sql: &Statement,
        statement: &ParsedStatement,
    ) -> SqlResult<Outcome> {
        match sql {
            Statement::Query(_) => {
                let mut plan = self.plan_query(sql.clone()).await?;
                self.checkpoint(&mut plan.dataflow, statement, None)?;
                Ok(Outcome::Query(plan))
            }
            Statement::Insert(_) if self.setting(SCALE_OUT) == Some("true") => {
                let job = SharedJob {
                    sql: sql.clone(),
                    statement: statement.clone(),
                };
                // Refused now, not once running, if it cannot be shared.
                self.plan_shared(&job, SharedPlan::default(), None).await?;
                Ok(Outcome::Shared(Box::new(job)))
            }
            Statement::Insert(_) => {
                let mut dataflow = self.plan_insert(sql.clone()).await?;
                self.checkpoint(&mut dataflow, statement, None)?;
                Ok(Outcome::Insert(dataflow))
            }
            Statement::CreateView(view) => {
                let name = view.name.to_string();
                if self.exists(&name) && !view.or_replace {
                    return Err(SqlError::new(format!(
                        "table or view '{name}' already exists"
                    )));
                }
                if self.tables.contains_key(&name) {
                    return Err(SqlError::new(format!("'{name}' is a table, not a view")));
                }
                let query = Statement::Query(view.query.clone());
                let plan = self.context.statement_to_plan(df_statement(query))?;
                let schema = output_schema(plan.schema());
                let versioned = versioned_view(&plan, &self.tables);
                self.context.register_view(&name, plan);
                let ddl = statement.text.clone();
                let view = ViewDef {
                    ddl,
                    schema,
                    versioned,
                };
                self.views.insert(name.clone(), view);
                Ok(Outcome::Done(format!("View '{name}' created.")))
            }
            Statement::Drop {
                object_type: object_type @ (ObjectType::Table | ObjectType::View),
                if_exists,
                names,
                ..
            } => {
                for name in names {
                    let name = name.to_string();
                    let removed = match object_type {
                        ObjectType::Table => self.tables.remove(&name).is_some(),
                        _ => self.views.remove(&name).is_some(),
                    };
                    if !removed && !if_exists {
                        return Err(SqlError::new(format!(
                            "{} '{name}' does not exist",
                            if *object_type == ObjectType::Table {
                                "table"
                            } else {
                                "view"
                            }
                        )));
                    }
                    self.context.deregister(&name);
                }
                Ok(Outcome::Done("Dropped.".into()))
            }
            Statement::ShowTables { .. } => Ok(Outcome::Table(one_column(
                "table name",
                self.relation_names(),
            ))),
            Statement::ShowCreate { obj_name, .. } => {
                let name = obj_name.to_string();
                let ddl = self
                    .tables
                    .get(&name)
                    .map(|t| t.ddl.clone())
                    .or_else(|| self.views.get(&name).map(|v| v.ddl.clone()))
                    .ok_or_else(|| self.unknown_relation(&name))?;
                Ok(Outcome::Text(format!("{ddl};")))
            }
            Statement::ExplainTable { table_name, .. } => {
                let name = table_name.to_string();
                match self.tables.get(&name) {
                    Some(t) => Ok(Outcome::Table(t.describe())),
                    None if self.views.contains_key(&name) => {
                        let columns = self.columns_of(&name);
                        Ok(Outcome::Table(one_column("name", columns)))
                    }
                    None => Err(self.unknown_relation(&name)),
                }
            }
            Statement::Explain {
                statement: inner,
                format,
                options,
                ..
            } => {
                // `FORMAT GRAPHVIZ` / `(FORMAT DOT)`: the MATCH_RECOGNIZE automata as DOT.
                let format_option = options.iter().flatten().find_map(|o| {
                    o.name
                        .value
                        .eq_ignore_ascii_case("FORMAT")
                        .then(|| o.arg.as_ref().map(|a| a.to_string().to_uppercase()))
                        .flatten()
                });
                let dot = matches!(
                    format,
                    Some(AnalyzeFormatKind::Keyword(AnalyzeFormat::GRAPHVIZ))
                        | Some(AnalyzeFormatKind::Assignment(AnalyzeFormat::GRAPHVIZ))
                ) || matches!(format_option.as_deref(), Some("DOT" | "GRAPHVIZ"));
                if dot {
                    let plan = self.logical_plan(inner.as_ref().clone()).await?;
                    let automata = explain_automata(&plan, true);
                    if automata.is_empty() {
                        return Err(SqlError::new(
                            "EXPLAIN in DOT shows the automata of MATCH_RECOGNIZE; this statement has none",
                        ));
                    }
                    return Ok(Outcome::Text(automata.join("\n")));
                }
                let mut sharing = String::new();
                let (logical, dataflow) = match inner.as_ref() {
                    Statement::Insert(_) if self.setting(SCALE_OUT) == Some("true") => {
                        let plan = self.logical_plan(inner.as_ref().clone()).await?;
                        let job = SharedJob {
                            sql: inner.as_ref().clone(),
                            statement: statement.clone(),
                        };
                        let (dataflow, shared) =
                            self.plan_shared(&job, SharedPlan::default(), None).await?;
                        sharing = shared.describe();
                        (plan, dataflow)
                    }
                    Statement::Insert(_) => {
                        let plan = self.logical_plan(inner.as_ref().clone()).await?;
                        let dataflow = self.plan_insert(inner.as_ref().clone()).await?;
                        (plan, dataflow)
                    }
                    _ => {
                        let plan = self.logical_plan(inner.as_ref().clone()).await?;
                        let planner = self.planner()?;
                        (plan.clone(), planner.plan_query(&plan)?.dataflow)
                    }
                };
                let mut text = format!(
                    "== Logical plan ==\n{}\n\n== Dataflow ==\n{sharing}{}",
                    logical.display_indent(),
                    dataflow.describe()
                );
                for warning in dataflow.warnings() {
                    text.push_str(&format!("\n\nwarning: {warning}"));
                }
                for automaton in explain_automata(&logical, false) {
                    text.push_str("\n\n== MATCH_RECOGNIZE automaton ==\n");
                    text.push_str(&automaton);
                }
                Ok(Outcome::Text(text))
            }
            other => Err(SqlError::new(format!(
                "unsupported statement: {}",
                other
                    .to_string()
                    .split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            ))),
        }
    }

    /// Turns on checkpoints for `dataflow` (the plan of `statement`) when the session's
    /// settings ask for them; refuses a job that cannot take part.
    /// `part` (a task of a shared job) checkpoints in a directory of its own under it.
    fn checkpoint(
        &self,
        dataflow: &mut Dataflow,
        statement: &ParsedStatement,
        part: Option<&str>,
    ) -> SqlResult<()> {
        let setting = |key| self.settings.get(key).map(String::as_str);
        let (interval, dir) = match (setting(CHECKPOINT_INTERVAL), setting(CHECKPOINT_DIR)) {
            (None, None) => {
                if setting(RECOVERY_PATH).is_some() {
                    return Err(SqlError::new(format!(
                        "'{RECOVERY_PATH}' resumes a checkpointed job: set \
                         '{CHECKPOINT_INTERVAL}' and '{CHECKPOINT_DIR}' too"
                    )));
                }
                return Ok(());
            }
            (Some(interval), Some(dir)) => (duration_millis(interval)?, dir),
            (Some(_), None) => {
                return Err(SqlError::new(format!(
                    "checkpoints need a directory: SET '{CHECKPOINT_DIR}' = '/path'"
                )));
            }
            (None, Some(_)) => {
                return Err(SqlError::new(format!(
                    "'{CHECKPOINT_DIR}' is set but checkpoints are off: SET \
                     '{CHECKPOINT_INTERVAL}' = '10 s' to turn them on"
                )));
            }
        };
        let dir = match part {
            Some(part) => std::path::Path::new(dir).join(part),
            None => dir.into(),
        };
        // A task of a shared job claims its directory each time a process starts it.
        let owner = part.map(|part| {
            let started = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            format!(
                "{part} in process {} started at {started:x}",
                std::process::id()
            )
        });
        let config = CheckpointConfig {
            owner,
            dir,
            interval: std::time::Duration::from_millis(interval as u64),
            recovery: setting(RECOVERY_PATH).map(Into::into),
        };
        // The job's statement and the tables and views it may read identify its state.
        let mut identity = normalized(&statement.text);
        for ddl in self.relations_named(&statement.text) {
            identity.push('\n');
            identity.push_str(&normalized(ddl));
        }
        dataflow
            .set_checkpointing(config, identity)
            .map_err(|e| SqlError::new(e.to_string()))
    }

    /// The DDL of every table and view `text` names, directly or through the views it names
    /// (each relation whose name's last word is a word of the text: a superset of those it
    /// reads, so a change to one it reads is never missed), in name order; every relation's
    /// when a text does not tokenize.
    fn relations_named(&self, text: &str) -> Vec<&str> {
        let relations = (self.tables.iter().map(|(name, t)| (name, &t.ddl, false)))
            .chain(self.views.iter().map(|(name, v)| (name, &v.ddl, true)));
        let all = || relations.clone().map(|(_, ddl, _)| ddl.as_str()).collect();
        // Each relation by the last word of its name.
        let Some(relations) = relations
            .clone()
            .map(|(name, ddl, view)| {
                let last = crate::parser::words_in_order(name)?.pop()?;
                Some((last, (name.as_str(), ddl.as_str(), view)))
            })
            .collect::<Option<Vec<_>>>()
        else {
            return all();
        };
        let mut named: BTreeMap<&str, &str> = BTreeMap::new();
        let mut texts = vec![text];
        while let Some(text) = texts.pop() {
            let Some(words) = crate::parser::words(text) else {
                return all();
            };
            for (last, (name, ddl, view)) in &relations {
                if words.contains(last) && named.insert(name, ddl).is_none() && *view {
                    texts.push(ddl);
                }
            }
        }
        named.into_values().collect()
    }

    fn unknown_relation(&self, name: &str) -> SqlError {
        let names = self.relation_names();
        let (message, hint) = unknown_relation(name, names.iter().map(String::as_str).collect());
        SqlError::new(message).with_hint(hint)
    }

    /// A stream planner with this session's tables and settings.
    fn planner(&self) -> SqlResult<StreamPlanner<'_>> {
        let late = late_policy(&self.settings)?.unwrap_or_default();
        let mut planner =
            StreamPlanner::new(&self.context, &self.tables, self.options.batch_size, late);
        if let Some(ttl) = self.settings.get(STATE_TTL) {
            planner = planner.with_state_ttl(duration_millis(ttl)?);
        }
        if let Some(interval) = self.settings.get(EARLY_FIRE_INTERVAL) {
            planner = planner.with_early_fire(EarlyFire::EventTime(duration_millis(interval)?));
        } else if self.setting(FLINK_EARLY_FIRE) == Some("true") {
            let delay = self.setting(FLINK_EARLY_FIRE_DELAY).ok_or_else(|| {
                SqlError::new(format!(
                    "'{FLINK_EARLY_FIRE}' needs '{FLINK_EARLY_FIRE_DELAY}': how often early \
                     results come"
                ))
                .with_hint(format!("SET '{FLINK_EARLY_FIRE_DELAY}' = '10 s'"))
            })?;
            planner = planner.with_early_fire(EarlyFire::ProcessingTime(duration_millis(delay)?));
        }
        planner = planner.with_state_ttl_hints(self.state_ttl_hints.clone());
        if let Some(timeout) = self.settings.get(SOURCE_IDLE_TIMEOUT) {
            planner = planner.with_idle_timeout(duration_millis(timeout)?);
        }
        let parallelism = match self.settings.get(PARALLELISM) {
            Some(n) => parallelism(n)?,
            None => self.options.parallelism,
        };
        planner = planner.with_parallelism(parallelism);
        let duplicates = self.settings.get(CDC_DUPLICATES).map(String::as_str);
        planner = planner.with_cdc_duplicates(duplicates == Some("true"));
        if let Some(size) = self.settings.get(JOIN_MEMORY) {
            planner = planner.with_join_memory(memory_bytes(size)? as usize);
        }
        let limit = match self.settings.get(STATE_MAX_SIZE) {
            Some(size) => Some(memory_bytes(size)? as usize),
            None => default_state_limit(),
        };
        Ok(match limit {
            Some(bytes) => planner.with_state_limit(bytes),
            None => planner,
        })
    }

    async fn logical_plan(&self, statement: Statement) -> SqlResult<LogicalPlan> {
        let plan = match crate::insert::nested_values(&statement) {
            Some((table, query)) => crate::insert::plan(&self.context, &table, query)?,
            None => self.context.statement_to_plan(df_statement(statement))?,
        };
        crate::subquery::check(&plan)?;
        Ok(self.context.optimize(plan)?)
    }

    async fn plan_query(&self, statement: Statement) -> SqlResult<QueryPlan> {
        let plan = self.logical_plan(statement).await?;
        self.planner()?.plan_query(&plan)
    }

    /// Plans `job` as `shared` says (a task, stage 1, or only to find its routing); task
    /// `task`'s checkpoints and output files go to a directory `task-N` of their own
    /// (`task-N-cut-C` for the part of a task up to cut stream C, which writes no output).
    /// Returns what planning found of the routing too.
    pub(crate) async fn plan_shared(
        &self,
        job: &SharedJob,
        shared: SharedPlan,
        task: Option<usize>,
    ) -> SqlResult<(Dataflow, SharedPlan)> {
        let (query, mut table) = self
            .plan_insert_query(job.sql.clone(), Some(shared))
            .await?;
        let shared = query.shared.map(|s| *s).unwrap_or_default();
        let mut dataflow = query.dataflow;
        let part = match (shared.cut_sink, &shared.stage) {
            (Some(cut), Stage::Part { sends: Some(n), .. }) => {
                dataflow.keep_upstream_of(cut);
                task.map(|t| format!("task-{t}-cut-{n}"))
            }
            _ => {
                let part = task.map(|t| format!("task-{t}"));
                if let Some(part) = &part {
                    table.connector = table.connector.for_task(&table.name, part)?;
                }
                let sink = table.connector.create_sink(&table)?;
                let sink = dataflow.add_sink(sink, query.output);
                if matches!(shared.stage, Stage::Part { .. }) {
                    dataflow.keep_upstream_of(sink);
                }
                part
            }
        };
        if part.is_some() {
            self.checkpoint(&mut dataflow, &job.statement, part.as_deref())?;
        }
        Ok((dataflow, shared))
    }

    /// Stage 1 of a shared job: only the source of its table `name`, with `projection` of its
    /// columns, reading the partitions of `shared`'s route.
    #[cfg(feature = "kafka")]
    pub(crate) fn plan_shared_scan(
        &self,
        name: &str,
        projection: Option<Vec<usize>>,
        shared: SharedPlan,
    ) -> SqlResult<Dataflow> {
        self.planner()?
            .with_parallelism(1)
            .with_shared(shared)
            .plan_scan(name, projection)
    }

    /// The table `name`, if there is one.
    #[cfg(feature = "kafka")]
    pub(crate) fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.get(name)
    }

    async fn plan_insert(&self, statement: Statement) -> SqlResult<Dataflow> {
        let (mut query, table) = self.plan_insert_query(statement, None).await?;
        let sink = table.connector.create_sink(&table)?;
        query.dataflow.add_sink(sink, query.output);
        Ok(query.dataflow)
    }

    /// The query of an `INSERT` and the table it writes, checked to take its changes.
    async fn plan_insert_query(
        &self,
        statement: Statement,
        shared: Option<SharedPlan>,
    ) -> SqlResult<(QueryPlan, TableDef)> {
        let plan = self.logical_plan(statement).await?;
        let LogicalPlan::Dml(dml) = &plan else {
            return Err(SqlError::new("INSERT did not plan to an insert"));
        };
        if !matches!(dml.op, WriteOp::Insert(_)) {
            return Err(SqlError::new("only INSERT INTO is supported"));
        }
        let name = dml.table_name.table();
        let table = self
            .tables
            .get(name)
            .ok_or_else(|| SqlError::new(format!("cannot insert into '{name}': not a table")))?;
        let planner = match shared {
            Some(shared) => self.planner()?.with_parallelism(1).with_shared(shared),
            None => self.planner()?,
        };
        let planner =
            planner.with_sink_needing_no_update_before(table.connector.needs_no_update_before());
        let query = planner.plan_query(&dml.input)?;
        if query.updating && !table.connector.accepts_updates() {
            return Err(SqlError::new(format!(
                "Table sink '{name}' doesn't support consuming update and delete changes, \
                 which this query produces (+U/-U/-D rows, e.g. of a GROUP BY without windows \
                 or an outer join)"
            ))
            .with_hint(
                "aggregate in windows (TUMBLE, HOP, ...), or write to a 'print' table or a \
                 filesystem table with 'format' = 'debezium-json'",
            ));
        }
        Ok((query, table.clone()))
    }
}

static STATE_TTL_HINT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"(?is)/\*\+\s*STATE_TTL\s*\((.*?)\)\s*\*/").expect("valid regex")
});

static HINT_PAIR: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"^\s*'([^']*)'\s*=\s*'([^']*)'\s*$").expect("valid regex")
});

/// Flink's `/*+ STATE_TTL('table or alias' = 'duration', ...) */` hints in a statement: the
/// time to live of the state kept of each named input, in ms.
fn state_ttl_hints(text: &str) -> SqlResult<BTreeMap<String, i64>> {
    let mut hints = BTreeMap::new();
    for hint in STATE_TTL_HINT.captures_iter(text) {
        for pair in hint[1].split(',') {
            let Some(pair) = HINT_PAIR.captures(pair) else {
                return Err(SqlError::new(format!(
                    "STATE_TTL hint: expected 'table' = 'duration' pairs, found {}",
                    pair.trim()
                )));
            };
            hints.insert(pair[1].to_string(), duration_millis(&pair[2])?);
        }
    }
    Ok(hints)
}

/// The number of instances `'parallelism.default'` = `value` asks for.
fn parallelism(value: &str) -> SqlResult<usize> {
    value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        SqlError::new(format!(
            "'{PARALLELISM}' must be a positive number, found '{value}'"
        ))
    })
}

/// Half the machine's memory: one operator past it would soon have the machine swapping.
fn default_state_limit() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: usize = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024 / 2)
}

/// `text` with its runs of white space made single spaces.
fn normalized(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn df_statement(statement: Statement) -> datafusion_sql::parser::Statement {
    datafusion_sql::parser::Statement::Statement(Box::new(statement))
}

fn one_column(name: &str, values: Vec<String>) -> RecordBatch {
    RecordBatch::try_from_iter([(name, Arc::new(StringArray::from(values)) as _)])
        .expect("one-column batch")
}

fn key_values(names: (&str, &str), pairs: impl Iterator<Item = (String, String)>) -> RecordBatch {
    let (keys, values): (Vec<String>, Vec<String>) = pairs.unzip();
    RecordBatch::try_from_iter([
        (names.0, Arc::new(StringArray::from(keys)) as _),
        (names.1, Arc::new(StringArray::from(values)) as _),
    ])
    .expect("key-value batch")
}

#[cfg(test)]
mod tests {
    use datafusion_common::tree_node::{TreeNode, TreeNodeRecursion};

    use super::*;
    use crate::parser::parse_script;

    #[test]
    fn a_job_is_identified_by_the_relations_it_names_through_views() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let mut session = Session::new(SessionOptions::default());
        let script =
            "CREATE TABLE Ticks (symbol STRING) WITH ('connector' = 'stdin', 'format' = 'csv');
            CREATE TABLE other (symbol STRING) WITH ('connector' = 'stdin', 'format' = 'csv');
            CREATE TABLE out (symbol STRING) WITH ('connector' = 'blackhole');
            CREATE VIEW v AS SELECT symbol FROM Ticks;
            CREATE VIEW w AS SELECT symbol FROM v;
            CREATE TABLE \"dotted.name\" (symbol STRING) WITH ('connector' = 'stdin', 'format' = 'csv');";
        for statement in parse_script(script).unwrap() {
            runtime.block_on(session.execute(&statement)).unwrap();
        }
        let ddl = |name: &str| -> String {
            let table = session.tables.iter().find(|(n, _)| n.as_str() == name);
            let view = session.views.iter().find(|(n, _)| n.as_str() == name);
            table
                .map(|(_, t)| t.ddl.clone())
                .or(view.map(|(_, v)| v.ddl.clone()))
                .unwrap()
        };
        let named = session.relations_named("INSERT INTO out SELECT * FROM w");
        assert_eq!(named, [ddl("Ticks"), ddl("out"), ddl("v"), ddl("w")]);
        let named = session.relations_named("INSERT INTO out SELECT * FROM \"dotted.name\"");
        assert_eq!(named, [ddl("\"dotted.name\""), ddl("out")]);
        // A text that does not tokenize names every relation.
        assert_eq!(session.relations_named("SELECT 'unclosed").len(), 6);
    }

    #[test]
    fn a_window_table_function_reads_only_the_columns_used_above_it() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let mut session = Session::new(SessionOptions::default());
        let script = "CREATE TABLE bids (auction BIGINT, price BIGINT, url STRING, ts TIMESTAMP(3),
                WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
                WITH ('connector' = 'stdin', 'format' = 'json');
            SELECT window_end, MAX(price) FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts),
                INTERVAL '10' SECOND)) GROUP BY window_start, window_end";
        let mut statements = parse_script(script).unwrap();
        let query = statements.pop().unwrap();
        runtime.block_on(session.execute(&statements[0])).unwrap();
        let StatementKind::Sql(query) = query.kind else {
            panic!("a query")
        };
        let plan = runtime.block_on(session.logical_plan(*query)).unwrap();
        let mut read = None;
        plan.apply(|node| {
            if let LogicalPlan::Extension(e) = node
                && e.node.name() == "WindowTableFunction"
            {
                let fields = e.node.inputs()[0].schema().fields();
                read = Some(fields.iter().map(|f| f.name().clone()).collect::<Vec<_>>());
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        assert_eq!(read.expect("a window TVF"), ["price", "ts"]);
    }
}
