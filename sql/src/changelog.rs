//! Flink's built-in process table functions for changelogs, as Flink 2.3 has them:
//! * `TO_CHANGELOG(input => TABLE t [, op => DESCRIPTOR(name)] [, op_mapping => MAP[...]])`:
//!   the changes of `t` as an append-only table, each row with its kind in a `STRING` column
//!   before `t`'s (see [`rill_engine::operator::ToChangelog`]). An `op_mapping` maps kind
//!   names (several to a code when joined by commas, `'INSERT, UPDATE_AFTER'`) to codes; kinds
//!   it does not name are dropped.
//! * `FROM_CHANGELOG(input => TABLE t [, op => DESCRIPTOR(name)] [, op_mapping => MAP[...]])`:
//!   the reverse, an append-only `t` whose `STRING` column `op` names each row's change kind,
//!   as the updating table of those changes, without that column (see
//!   [`rill_engine::operator::FromChangelog`]). Its `op_mapping` maps codes (several joined by
//!   commas) to kind names, and must name `UPDATE_BEFORE` (Flink 2.3 has no upsert mode).

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field};
use datafusion_common::{DFSchema, DFSchemaRef, Result, ScalarValue, Span};
use datafusion_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion_sql::sqlparser::ast::{self, FunctionArguments, Spanned, TableFactor};
use rill_engine::RowKind;
use rill_engine::operator::default_codes;

use crate::window::Call;

/// What a changelog function does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Changes {
    /// `TO_CHANGELOG`: the code of each kind (by `RowKind as usize`); `None` drops its rows.
    ToRows([Option<String>; 4]),
    /// `FROM_CHANGELOG`: the input column of the codes, and the kind of each code.
    FromRows {
        op: usize,
        codes: Vec<(String, RowKind)>,
    },
}

/// `TO_CHANGELOG` or `FROM_CHANGELOG` as planned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChangelogNode {
    pub input: LogicalPlan,
    pub function: Changes,
    /// `TO_CHANGELOG`: the op column, then the input's; `FROM_CHANGELOG`: the input's but
    /// the op column.
    pub schema: DFSchemaRef,
}

impl PartialOrd for ChangelogNode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.input.partial_cmp(&other.input)
    }
}

impl UserDefinedLogicalNodeCore for ChangelogNode {
    fn name(&self) -> &str {
        match self.function {
            Changes::ToRows(_) => "ToChangelog",
            Changes::FromRows { .. } => "FromChangelog",
        }
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let op = match self.function {
            Changes::ToRows(_) => self.schema.field(0),
            Changes::FromRows { op, .. } => self.input.schema().field(op),
        };
        write!(f, "{}: {}", self.name(), op.name())
    }

    fn with_exprs_and_inputs(&self, _: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        let input = inputs.into_iter().next().expect("one input");
        Ok(ChangelogNode {
            input,
            ..self.clone()
        })
    }
}

/// Plans `TO_CHANGELOG(...)` and `FROM_CHANGELOG(...)` in `FROM`, with or without
/// `TABLE(...)` around them.
#[derive(Debug)]
pub struct ChangelogPlanner;

impl RelationPlanner for ChangelogPlanner {
    fn plan_relation(
        &self,
        relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let (name, args, span, alias) = match &relation {
            TableFactor::Table {
                name,
                args: Some(args),
                alias,
                ..
            } => (name, &args.args, name.span(), alias),
            TableFactor::TableFunction {
                expr: ast::Expr::Function(function),
                alias,
            } => match &function.args {
                FunctionArguments::List(list) => {
                    (&function.name, &list.args, function.span(), alias)
                }
                _ => return Ok(RelationPlanning::Original(Box::new(relation))),
            },
            _ => return Ok(RelationPlanning::Original(Box::new(relation))),
        };
        let function = match name.to_string().to_ascii_uppercase().as_str() {
            "TO_CHANGELOG" => "TO_CHANGELOG",
            "FROM_CHANGELOG" => "FROM_CHANGELOG",
            _ => return Ok(RelationPlanning::Original(Box::new(relation))),
        };
        let span = Span::try_from_sqlparser_span(span);
        let call = Call::new(function, args, &["INPUT", "OP", "OP_MAPPING"], span)?;
        if call.partition.is_some() {
            // As Flink 2.3 says it.
            return Err(call.error_at_call(&format!(
                "Only tables with set semantics may be partitioned: {function} takes its \
                 input without PARTITION BY"
            )));
        }
        let input = call.table("INPUT", context)?;
        let op = match call.argument("OP") {
            Some(_) => call.descriptor_name("OP")?.1,
            None => "op".to_string(),
        };
        let mapping = match call.argument("OP_MAPPING") {
            None => None,
            Some(expr) => {
                let planned = context.sql_to_expr(expr.clone(), &DFSchema::empty())?;
                Some(pairs(&planned).map_err(|message| call.error(expr, &message))?)
            }
        };
        let plan = match function {
            "TO_CHANGELOG" => to_changelog(input, op, mapping),
            _ => from_changelog(input, op, mapping),
        }
        .map_err(|message| call.error_at_call(&message))?;
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan,
            alias.clone(),
        ))))
    }
}

/// `TO_CHANGELOG` of `input`, its codes in column `op`, by `mapping` (kind names to codes).
fn to_changelog(
    input: LogicalPlan,
    op: String,
    mapping: Option<Vec<(String, String)>>,
) -> std::result::Result<LogicalPlan, String> {
    let codes = match mapping {
        None => default_codes(),
        Some(pairs) => {
            let mut codes: [Option<String>; 4] = Default::default();
            for (names, code) in pairs {
                for kind in kinds_named(&names)? {
                    codes[kind as usize] = Some(code.clone());
                }
            }
            codes
        }
    };
    let mut fields = vec![(None, Arc::new(Field::new(op, DataType::Utf8, false)))];
    fields.extend(
        (input.schema().iter()).map(|(qualifier, field)| (qualifier.cloned(), field.clone())),
    );
    let schema =
        DFSchema::new_with_metadata(fields, Default::default()).map_err(|e| e.to_string())?;
    let node = ChangelogNode {
        input,
        function: Changes::ToRows(codes),
        schema: Arc::new(schema),
    };
    Ok(LogicalPlan::Extension(datafusion_expr::Extension {
        node: Arc::new(node),
    }))
}

/// `FROM_CHANGELOG` of `input`, the codes in its column `op`, by `mapping` (codes to kind
/// names).
fn from_changelog(
    input: LogicalPlan,
    op: String,
    mapping: Option<Vec<(String, String)>>,
) -> std::result::Result<LogicalPlan, String> {
    let Some(at) = (input.schema().fields().iter()).position(|f| f.name() == &op) else {
        return Err(format!("FROM_CHANGELOG: the input has no op column '{op}'"));
    };
    let data_type = input.schema().field(at).data_type();
    if !matches!(data_type, DataType::Utf8) {
        return Err(format!(
            "The op column '{op}' must be of STRING type, but was '{}'",
            rill_engine::format::sql_type_name(data_type)
        ));
    }
    let codes: Vec<(String, RowKind)> = match mapping {
        None => RowKind::ALL.map(|k| (k.name().to_string(), k)).to_vec(),
        Some(pairs) => {
            let mut codes = Vec::new();
            for (names, kind) in pairs {
                let [kind] = kinds_named(&kind)?[..] else {
                    return Err(format!("op_mapping maps to one change kind, not '{kind}'"));
                };
                codes.extend(names.split(',').map(|c| (c.trim().to_string(), kind)));
            }
            codes
        }
    };
    if !codes.iter().any(|(_, k)| *k == RowKind::UpdateBefore) {
        return Err(
            "The 'op_mapping' must include UPDATE_BEFORE for retract mode. Upsert mode \
                    (without UPDATE_BEFORE) is not supported in this version."
                .into(),
        );
    }
    let fields: Vec<_> = (input.schema().iter())
        .enumerate()
        .filter(|(i, _)| *i != at)
        .map(|(_, (qualifier, field))| (qualifier.cloned(), field.clone()))
        .collect();
    let schema =
        DFSchema::new_with_metadata(fields, Default::default()).map_err(|e| e.to_string())?;
    let node = ChangelogNode {
        input,
        function: Changes::FromRows { op: at, codes },
        schema: Arc::new(schema),
    };
    Ok(LogicalPlan::Extension(datafusion_expr::Extension {
        node: Arc::new(node),
    }))
}

/// The kinds `names` names, joined by commas.
fn kinds_named(names: &str) -> std::result::Result<Vec<RowKind>, String> {
    (names.split(',').map(str::trim))
        .map(|name| {
            (RowKind::ALL.into_iter())
                .find(|k| k.name() == name)
                .ok_or_else(|| {
                    format!(
                        "op_mapping names '{name}', which is no change kind: INSERT, \
                     UPDATE_BEFORE, UPDATE_AFTER or DELETE"
                    )
                })
        })
        .collect()
}

/// The pairs of an `op_mapping`: a map of constant strings.
fn pairs(map: &Expr) -> std::result::Result<Vec<(String, String)>, String> {
    let Expr::ScalarFunction(call) = map else {
        return Err("op_mapping must be a MAP of strings".into());
    };
    let text = |e: &Expr| match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)), _) => Ok(s.clone()),
        _ => Err("op_mapping must be a MAP of constant strings".to_string()),
    };
    (call.args.chunks(2))
        .map(|pair| match pair {
            [key, value] => Ok((text(key)?, text(value)?)),
            _ => Err("op_mapping must be a MAP of strings".to_string()),
        })
        .collect()
}
