//! Tables of the session: their columns, connector and watermark, built from `CREATE TABLE`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::context::PlanContext;
use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion_common::DFSchema;
use datafusion_expr::{EmptyRelation, Expr, ExprSchemable, LogicalPlan, Projection};
use datafusion_sql::sqlparser::ast::{
    ColumnOption, CreateTable, CreateTableOptions, Expr as SqlExpr, SelectItem, SetExpr, SqlOption,
    Statement, TableConstraint, Value,
};
use rill_engine::format::sql_type_name;

use crate::connector::Connector;
use crate::error::{SqlError, SqlResult};
use crate::flink::rewrite_functions;
use crate::functions::catalog;
use crate::late::{is_late_option, late_policy};
use crate::parser::{ComputedClause, MetadataClause, StatementKind, WatermarkClause, parse_script};
use crate::skew::skew_corrected;
use crate::types::arrow_type;
use rill_engine::late::LatePolicy;
use rill_engine::source::SkewColumns;

/// How a computed column is computed from a table's stored columns.
#[derive(Debug, Clone)]
pub enum ComputedDef {
    /// An expression over a row's stored columns.
    Expr(Expr),
    /// `SKEW_CORRECTED(...)`: an event time corrected for its device's clock skew.
    SkewCorrected(SkewColumns),
}

/// A table: a named, typed stream read from or written to a connector.
#[derive(Debug, Clone)]
pub struct TableDef {
    pub name: String,
    /// All columns, computed ones included.
    pub schema: SchemaRef,
    /// The columns the connector reads.
    pub physical: SchemaRef,
    /// Computed columns (`name AS expr`), by their place in `schema`, over `physical`.
    pub computed: Vec<(usize, ComputedDef)>,
    pub connector: Connector,
    pub watermark: Option<WatermarkDef>,
    /// The columns of `PRIMARY KEY (...) NOT ENFORCED`, if declared.
    pub primary_key: Vec<String>,
    /// What windows do with this table's late rows (`'rill.late-rows'`), if set.
    pub late: Option<LatePolicy>,
    /// Columns filled from the connector's metadata (`METADATA FROM 'key'`).
    pub metadata: Vec<MetadataColumn>,
    /// The `CREATE TABLE` statement as written.
    pub ddl: String,
}

/// A column filled from the connector's metadata, not from the data.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataColumn {
    pub name: String,
    /// The connector's name for it.
    pub key: String,
    /// Read only: a sink leaves it out (`VIRTUAL`).
    pub is_virtual: bool,
}

/// The columns of a table's primary key: a `PRIMARY KEY (...)` constraint, or a column
/// declared `PRIMARY KEY`.
fn primary_key(create: &CreateTable) -> Vec<String> {
    let constraint = create.constraints.iter().find_map(|c| match c {
        TableConstraint::PrimaryKey(pk) => Some(
            pk.columns
                .iter()
                .map(|c| c.column.expr.to_string().trim_matches('"').to_string())
                .collect(),
        ),
        _ => None,
    });
    constraint.unwrap_or_else(|| {
        create
            .columns
            .iter()
            .filter(|c| {
                c.options
                    .iter()
                    .any(|o| matches!(o.option, ColumnOption::PrimaryKey(_)))
            })
            .map(|c| c.name.value.clone())
            .collect()
    })
}

/// The event-time column of a table and its watermark expression.
#[derive(Debug, Clone)]
pub struct WatermarkDef {
    pub column: String,
    /// The expression as written.
    pub text: String,
    /// The expression planned against the table's columns.
    pub expr: Expr,
}

impl TableDef {
    /// The table a `CREATE TABLE` statement defines.
    pub fn from_create(
        create: &CreateTable,
        watermark: Option<&WatermarkClause>,
        computed: &[ComputedClause],
        metadata: &[MetadataClause],
        ddl: &str,
        context: &PlanContext,
    ) -> SqlResult<TableDef> {
        let name = create.name.to_string();
        if create.query.is_some() {
            return Err(SqlError::new(
                "CREATE TABLE ... AS SELECT is not supported yet",
            ));
        }
        let mut fields = Vec::with_capacity(create.columns.len() + computed.len());
        for column in &create.columns {
            let data_type = arrow_type(&column.data_type).map_err(|e| {
                let span = column.name.span;
                let position =
                    crate::error::Position::at(span.start, column.name.value.len() as u64);
                e.or_at(position)
            })?;
            let not_null = column
                .options
                .iter()
                .any(|o| matches!(o.option, ColumnOption::NotNull));
            if fields
                .iter()
                .any(|f: &Field| f.name() == &column.name.value)
            {
                return Err(SqlError::new(format!(
                    "duplicate column '{}'",
                    column.name.value
                )));
            }
            fields.push(Field::new(&column.name.value, data_type, !not_null));
        }
        let physical = Arc::new(Schema::new(fields.clone()));
        let mut computed_columns = Vec::with_capacity(computed.len());
        for clause in computed {
            if fields.iter().any(|f| f.name() == &clause.name) {
                return Err(SqlError::at(
                    format!("duplicate column '{}'", clause.name),
                    clause.position,
                ));
            }
            let (expr, data_type) = plan_computed(clause, &physical, context)?;
            fields.insert(clause.index, Field::new(&clause.name, data_type, true));
            computed_columns.push((clause.index, expr));
        }
        let schema = Arc::new(Schema::new(fields));
        let options = table_options(&create.table_options)?;
        let in_table = |e: SqlError| SqlError {
            message: format!("table '{name}': {}", e.message),
            ..e
        };
        let (late_options, connector_options): (BTreeMap<_, _>, BTreeMap<_, _>) =
            options.into_iter().partition(|(k, _)| is_late_option(k));
        let mut connector = Connector::from_options(&connector_options).map_err(in_table)?;
        let late = late_policy(&late_options).map_err(in_table)?;
        let watermark = watermark
            .map(|w| plan_watermark(w, &schema, context))
            .transpose()?;
        let primary_key = primary_key(create);
        if let Some(missing) = primary_key.iter().find(|c| schema.index_of(c).is_err()) {
            return Err(SqlError::new(format!(
                "table '{name}': the primary key column '{missing}' is not a column"
            )));
        }
        let metadata: Vec<MetadataColumn> = metadata
            .iter()
            .map(|m| MetadataColumn {
                name: m.name.clone(),
                key: m.key.clone(),
                is_virtual: m.is_virtual,
            })
            .collect();
        connector
            .check_columns(&physical, &primary_key, &metadata)
            .map_err(in_table)?;
        Ok(TableDef {
            name,
            schema,
            physical,
            computed: computed_columns,
            connector,
            watermark,
            primary_key,
            late,
            metadata,
            ddl: ddl.to_string(),
        })
    }

    /// The table's columns as `DESCRIBE` shows them (Flink's layout).
    pub fn describe(&self) -> RecordBatch {
        let mut names = Vec::new();
        let mut types = Vec::new();
        let mut nulls = Vec::new();
        let mut watermarks = Vec::new();
        for field in self.schema.fields() {
            let rowtime = self
                .watermark
                .as_ref()
                .filter(|w| &w.column == field.name());
            names.push(field.name().clone());
            let mut t = sql_type_name(field.data_type());
            if !field.is_nullable() {
                t.push_str(" NOT NULL");
            }
            if rowtime.is_some() {
                t.push_str(" *ROWTIME*");
            }
            types.push(t);
            nulls.push(if field.is_nullable() { "TRUE" } else { "FALSE" }.to_string());
            watermarks.push(rowtime.map_or(String::new(), |w| w.text.clone()));
        }
        let extras: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(
                |f| match self.metadata.iter().find(|m| &m.name == f.name()) {
                    Some(m) => format!(
                        "METADATA FROM '{}'{}",
                        m.key,
                        if m.is_virtual { " VIRTUAL" } else { "" }
                    ),
                    None => String::new(),
                },
            )
            .collect();
        let empty = vec![String::new(); names.len()];
        RecordBatch::try_from_iter([
            ("name", Arc::new(StringArray::from(names)) as _),
            ("type", Arc::new(StringArray::from(types)) as _),
            ("null", Arc::new(StringArray::from(nulls)) as _),
            ("key", Arc::new(StringArray::from(empty.clone())) as _),
            ("extras", Arc::new(StringArray::from(extras)) as _),
            ("watermark", Arc::new(StringArray::from(watermarks)) as _),
        ])
        .expect("describe batch")
    }
}

/// A computed column's expression over the physical columns, with Flink's functions and
/// value semantics (the rewrites and analyzer rules of queries), and its type.
fn plan_computed(
    clause: &ComputedClause,
    physical: &SchemaRef,
    context: &PlanContext,
) -> SqlResult<(ComputedDef, DataType)> {
    // Positions inside the expression's own text would point elsewhere in the script.
    let at = |e: SqlError| SqlError {
        position: clause.position,
        ..e
    };
    // Through the statement pipeline: `SELECT expr`, checked and rewritten as queries are.
    let parsed = parse_script(&format!("SELECT {}", clause.expr)).map_err(at)?;
    let Some(StatementKind::Sql(statement)) = parsed.into_iter().next().map(|p| p.kind) else {
        return Err(at(SqlError::new("expected an expression")));
    };
    let mut statement = *statement;
    if let Some(skew) = select_expr(&statement).and_then(|e| skew_corrected(e, physical)) {
        let (columns, data_type) = skew.map_err(at)?;
        return Ok((ComputedDef::SkewCorrected(columns), data_type));
    }
    catalog::check(&statement).map_err(at)?;
    rewrite_functions(&mut statement).map_err(at)?;
    let Some(expr) = select_expr(&statement) else {
        return Err(at(SqlError::new("expected one expression")));
    };
    let df_schema = DFSchema::try_from(physical.as_ref().clone()).map_err(SqlError::from)?;
    let expr = context
        .create_logical_expr(&expr.to_string(), &df_schema)
        .map_err(|e| at(SqlError::from(e)))?;
    // The analyzer types literals and casts as Flink does.
    let input = LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(df_schema),
    });
    let projection = Projection::try_new(vec![expr.alias(&clause.name)], Arc::new(input))
        .map_err(|e| at(SqlError::from(e)))?;
    let analyzed = context
        .analyzer()
        .execute_and_check(
            LogicalPlan::Projection(projection),
            context.config_options(),
            |_, _| {},
        )
        .map_err(|e| at(SqlError::from(e)))?;
    let LogicalPlan::Projection(projection) = analyzed else {
        return Err(at(SqlError::new(
            "internal error: a computed column's plan",
        )));
    };
    let data_type = projection.schema.field(0).data_type().clone();
    let expr = projection.expr[0].clone().unalias();
    Ok((ComputedDef::Expr(expr), data_type))
}

/// The one expression of `SELECT expr`.
fn select_expr(statement: &Statement) -> Option<&SqlExpr> {
    let Statement::Query(query) = statement else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    match select.projection.as_slice() {
        [SelectItem::UnnamedExpr(expr)] => Some(expr),
        _ => None,
    }
}

fn plan_watermark(
    clause: &WatermarkClause,
    schema: &SchemaRef,
    context: &PlanContext,
) -> SqlResult<WatermarkDef> {
    let at = |e: SqlError| e.or_at(clause.position);
    match schema.field_with_name(&clause.column) {
        Ok(f) if matches!(f.data_type(), DataType::Timestamp(..)) => {}
        Ok(f) => {
            return Err(at(SqlError::new(format!(
                "the event-time column '{}' must be TIMESTAMP(p) or TIMESTAMP_LTZ(p), not {}",
                clause.column,
                sql_type_name(f.data_type())
            ))));
        }
        Err(_) => {
            return Err(at(SqlError::new(format!(
                "WATERMARK FOR names an unknown column '{}'",
                clause.column
            ))));
        }
    }
    let df_schema = DFSchema::try_from(schema.as_ref().clone()).map_err(SqlError::from)?;
    let expr = context
        .create_logical_expr(&clause.expr, &df_schema)
        .map_err(|e| at(SqlError::from(e)))?;
    let data_type = expr.get_type(&df_schema).map_err(SqlError::from)?;
    if !matches!(data_type, DataType::Timestamp(..)) {
        return Err(at(SqlError::new(format!(
            "the watermark expression must be a TIMESTAMP, found {}",
            sql_type_name(&data_type)
        ))));
    }
    Ok(WatermarkDef {
        column: clause.column.clone(),
        text: clause.expr.clone(),
        expr,
    })
}

/// `WITH ('k' = 'v', ...)` as a map.
fn table_options(options: &CreateTableOptions) -> SqlResult<BTreeMap<String, String>> {
    let list = match options {
        CreateTableOptions::None => return Ok(BTreeMap::new()),
        CreateTableOptions::With(list)
        | CreateTableOptions::Options(list)
        | CreateTableOptions::Plain(list)
        | CreateTableOptions::TableProperties(list) => list,
    };
    let mut map = BTreeMap::new();
    for option in list {
        let SqlOption::KeyValue { key, value } = option else {
            return Err(SqlError::new(format!(
                "expected 'key' = 'value', found {option}"
            )));
        };
        let value = match value {
            SqlExpr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            other => other.to_string(),
        };
        map.insert(key.value.clone(), value);
    }
    Ok(map)
}
