//! `TO_CHANGELOG(input => TABLE t [, op => DESCRIPTOR(name)] [, op_mapping => MAP[...]])`,
//! Flink's built-in process table function: the changes of `t` as an append-only table, each
//! row with its kind in a `STRING` column before `t`'s (see
//! [`rill_engine::operator::ToChangelog`]). An `op_mapping` maps kind names (several to a
//! code when joined by commas, `'INSERT, UPDATE_AFTER'`) to codes; kinds it does not name are
//! dropped.

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
use rill_engine::operator::{default_codes, kind_name};

use crate::window::Call;

/// `TO_CHANGELOG` as planned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ToChangelogNode {
    pub input: LogicalPlan,
    /// The code of each kind (by `RowKind as usize`); `None` drops its rows.
    pub codes: [Option<String>; 4],
    /// The op column, then the input's.
    pub schema: DFSchemaRef,
}

impl PartialOrd for ToChangelogNode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (&self.input, &self.codes).partial_cmp(&(&other.input, &other.codes))
    }
}

impl UserDefinedLogicalNodeCore for ToChangelogNode {
    fn name(&self) -> &str {
        "ToChangelog"
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
        write!(f, "ToChangelog: {}", self.schema.field(0).name())
    }

    fn with_exprs_and_inputs(&self, _: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        let input = inputs.into_iter().next().expect("one input");
        Ok(ToChangelogNode {
            input,
            ..self.clone()
        })
    }
}

/// Plans `TO_CHANGELOG(...)` in `FROM`, with or without `TABLE(...)` around it.
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
        if !name.to_string().eq_ignore_ascii_case("TO_CHANGELOG") {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        }
        let span = Span::try_from_sqlparser_span(span);
        let call = Call::new("TO_CHANGELOG", args, &["INPUT", "OP", "OP_MAPPING"], span)?;
        if call.partition.is_some() {
            // As Flink 2.3 says it.
            return Err(call.error_at_call(
                "Only tables with set semantics may be partitioned: TO_CHANGELOG takes its \
                 input without PARTITION BY",
            ));
        }
        let input = match call.required("INPUT")? {
            ast::Expr::Subquery(query) => context.plan(TableFactor::Derived {
                lateral: false,
                subquery: query.clone(),
                alias: None,
                sample: None,
            })?,
            other => return Err(call.error(other, "expected a table argument: TABLE name")),
        };
        let op = match call.argument("OP") {
            Some(_) => call.descriptor_name("OP")?.1,
            None => "op".to_string(),
        };
        let codes = match call.argument("OP_MAPPING") {
            None => default_codes(),
            Some(expr) => {
                let planned = context.sql_to_expr(expr.clone(), &DFSchema::empty())?;
                mapping(&planned).map_err(|message| call.error(expr, &message))?
            }
        };
        let mut fields = vec![(None, Arc::new(Field::new(op, DataType::Utf8, false)))];
        fields.extend(
            (input.schema().iter()).map(|(qualifier, field)| (qualifier.cloned(), field.clone())),
        );
        let schema = DFSchema::new_with_metadata(fields, Default::default())
            .map_err(|e| call.error_at_call(&e.to_string()))?;
        let node = ToChangelogNode {
            input,
            codes,
            schema: Arc::new(schema),
        };
        let plan = LogicalPlan::Extension(datafusion_expr::Extension {
            node: Arc::new(node),
        });
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan,
            alias.clone(),
        ))))
    }
}

/// The codes of an `op_mapping`: a map of constant strings from kind names (joined by
/// commas) to codes.
fn mapping(map: &Expr) -> std::result::Result<[Option<String>; 4], String> {
    let Expr::ScalarFunction(call) = map else {
        return Err("op_mapping must be a MAP of strings".into());
    };
    let text = |e: &Expr| match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)), _) => Ok(s.clone()),
        _ => Err("op_mapping must be a MAP of constant strings".to_string()),
    };
    let kinds = [
        RowKind::Insert,
        RowKind::UpdateBefore,
        RowKind::UpdateAfter,
        RowKind::Delete,
    ];
    let mut codes: [Option<String>; 4] = Default::default();
    for pair in call.args.chunks(2) {
        let [names, code] = pair else {
            return Err("op_mapping must be a MAP of strings".into());
        };
        let code = text(code)?;
        for name in text(names)?.split(',').map(str::trim) {
            let Some(kind) = kinds.iter().find(|k| kind_name(**k) == name) else {
                return Err(format!(
                    "op_mapping names '{name}', which is no change kind: INSERT, \
                     UPDATE_BEFORE, UPDATE_AFTER or DELETE"
                ));
            };
            codes[*kind as usize] = Some(code.clone());
        }
    }
    Ok(codes)
}
