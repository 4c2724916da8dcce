//! `FOR SYSTEM_TIME AS OF`: the table of a temporal or lookup join. sqlparser's generic
//! dialect does not read the clause and DataFusion would not plan it. So before parsing,
//! `rates FOR SYSTEM_TIME AS OF o.ts [AS r]` becomes a reference to the table named `"rates
//! FOR SYSTEM_TIME AS OF o.ts"`, aliased `r` (or `rates`); then, in the parsed statement, the
//! table gets its name back and the join's condition a first conjunct `rill_as_of(o.ts,
//! r.<rates' time column>, refusal)`: a marker the stream planner finds in the join's filter
//! (and removes) to plan a temporal join, which also keeps both columns from being projected
//! away. Whether the join is an event-time temporal join or a processing-time lookup join
//! depends on the type of `o.ts`, which only the planner knows: so a table that cannot be
//! versioned (no primary key or no time attribute) is marked with one of its columns and the
//! error Flink gives for it (the refusal, a text literal; empty for a versioned table), which
//! the planner reports unless `o.ts` is a `PROCTIME()` attribute. An analyzer rule,
//! [`TemporalConditions`], then keeps the join's other conditions from being pushed into the
//! versioned input.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{DFSchema, Result, ScalarValue};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::utils::{conjunction, split_conjunction, split_conjunction_owned};
use datafusion_expr::{
    ColumnarValue, Expr as LogicalExpr, Filter, LogicalPlan, Operator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_optimizer::AnalyzerRule;
use datafusion_sql::sqlparser::ast::{
    self, BinaryOperator, Expr, Ident, JoinConstraint, JoinOperator, ObjectName, Query, SetExpr,
    Statement, TableFactor, VisitMut, VisitorMut,
};
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::tokenizer::{Span, Token, TokenWithSpan, Word};

use crate::catalog::TableDef;
use crate::error::{Position, SqlError, SqlResult};
use crate::parser::is_keyword;
use crate::plan::rank_limit;

/// The marker function in a temporal join's condition: `rill_as_of(probe time, version time
/// (or any column of the table), refusal [, the join's residual condition])`.
pub const AS_OF_MARKER: &str = "rill_as_of";

/// Why a table cannot be a temporal join's versioned table, and the position of its name, as
/// the marker's refusal carries them (`line:column:length:message`).
fn encode_refusal(message: &str, at: Option<Position>) -> String {
    let (line, column, len) = at.map_or((0, 0, 0), |p| (p.line, p.column, p.len));
    format!("{line}:{column}:{len}:{message}")
}

/// The error a marker's refusal carries (`None` for an empty refusal: a versioned table).
pub fn decode_refusal(refusal: &str) -> Option<SqlError> {
    let mut parts = refusal.splitn(4, ':');
    let mut number = || parts.next()?.parse::<u64>().ok();
    let (line, column, len) = (number()?, number()?, number()?);
    let message = parts.next()?;
    let position = (line > 0).then_some(Position { line, column, len });
    Some(SqlError::at(message, position))
}

const AS_OF: &str = " FOR SYSTEM_TIME AS OF ";

/// The versioned table and the probe time of a table name made by [`rewrite_system_time`].
pub fn split_as_of(name: &str) -> Option<(&str, &str)> {
    name.split_once(AS_OF)
}

fn word(token: Option<&TokenWithSpan>) -> Option<&Word> {
    match token {
        Some(TokenWithSpan {
            token: Token::Word(w),
            ..
        }) => Some(w),
        _ => None,
    }
}

/// Rewrites each `table FOR SYSTEM_TIME AS OF t [[AS] alias]` (`t` a possibly qualified
/// column) into a reference to the table `"table FOR SYSTEM_TIME AS OF t"` with the alias
/// (the table's own name when there is none).
pub fn rewrite_system_time(tokens: &[TokenWithSpan]) -> SqlResult<Vec<TokenWithSpan>> {
    let starts = |i: usize| {
        is_keyword(tokens.get(i), Keyword::FOR)
            && is_keyword(tokens.get(i + 1), Keyword::SYSTEM_TIME)
    };
    if !(0..tokens.len()).any(starts) {
        return Ok(tokens.to_vec());
    }
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len() + 2);
    let mut i = 0;
    while i < tokens.len() {
        if !starts(i) {
            out.push(tokens[i].clone());
            i += 1;
            continue;
        }
        let at = Position::spanning(tokens[i].span.start, tokens[i + 1].span.end);
        let Some(table) = out.last().and_then(|t| word(Some(t))).cloned() else {
            return Err(SqlError::at(
                "FOR SYSTEM_TIME AS OF must follow a table name",
                at,
            ));
        };
        if !(is_keyword(tokens.get(i + 2), Keyword::AS)
            && is_keyword(tokens.get(i + 3), Keyword::OF))
        {
            return Err(SqlError::at(
                "expected FOR SYSTEM_TIME AS OF <time column>",
                at,
            ));
        }
        // The time: a column, maybe qualified (`o.ts`).
        let mut j = i + 4;
        let mut time = Vec::new();
        while let Some(w) = word(tokens.get(j)) {
            time.push(w.to_string());
            if !matches!(tokens.get(j + 1).map(|t| &t.token), Some(Token::Period)) {
                break;
            }
            j += 2;
        }
        if time.is_empty() {
            return Err(SqlError::at(
                "FOR SYSTEM_TIME AS OF needs a time column of the probe side, e.g. o.order_time",
                at,
            ));
        }
        let name = format!("{}{AS_OF}{}", table.value, time.join("."));
        let last = out.len() - 1;
        out[last].token = Token::Word(Word {
            value: name,
            quote_style: Some('"'),
            keyword: Keyword::NoKeyword,
        });
        i = j + 1;
        let aliased = is_keyword(tokens.get(i), Keyword::AS)
            || word(tokens.get(i)).is_some_and(|w| w.keyword == Keyword::NoKeyword);
        if !aliased {
            let span = tokens[i - 1].span;
            out.push(TokenWithSpan::new(Token::make_keyword("AS"), span));
            out.push(TokenWithSpan::new(Token::Word(table), span));
        }
    }
    Ok(out)
}

/// What a temporal join needs of the table or view it probes: its primary key and its time
/// attribute, if it has them, and the name of its first column (a lookup join's marker).
#[derive(Debug, Clone, Default)]
pub struct Versioned {
    pub primary_key: Vec<String>,
    pub rowtime: Option<String>,
    pub first_column: String,
}

impl From<&TableDef> for Versioned {
    fn from(table: &TableDef) -> Self {
        Versioned {
            primary_key: table.primary_key.clone(),
            rowtime: table.watermark.as_ref().map(|w| w.column.clone()),
            first_column: first_column(table.schema.fields()),
        }
    }
}

fn first_column(fields: &arrow::datatypes::Fields) -> String {
    fields.first().map(|f| f.name().clone()).unwrap_or_default()
}

/// The key and time attribute of a view that keeps the last row per key by event time
/// (`ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts DESC)` kept where it is 1): a versioned view,
/// as Flink infers it. A view of another shape has neither.
pub fn versioned_view(plan: &LogicalPlan, tables: &BTreeMap<String, TableDef>) -> Versioned {
    fn below(plan: &LogicalPlan) -> &LogicalPlan {
        match plan {
            LogicalPlan::Projection(p) => below(&p.input),
            LogicalPlan::SubqueryAlias(a) => below(&a.input),
            other => other,
        }
    }
    fn rowtime_of(plan: &LogicalPlan, tables: &BTreeMap<String, TableDef>) -> Option<String> {
        match plan {
            LogicalPlan::TableScan(scan) => tables
                .get(scan.table_name.table())?
                .watermark
                .as_ref()
                .map(|w| w.column.clone()),
            LogicalPlan::Filter(f) => rowtime_of(&f.input, tables),
            LogicalPlan::Projection(p) => rowtime_of(&p.input, tables),
            LogicalPlan::SubqueryAlias(a) => rowtime_of(&a.input, tables),
            _ => None,
        }
    }
    let found = || -> Option<Versioned> {
        let LogicalPlan::Filter(filter) = below(plan) else {
            return None;
        };
        let LogicalPlan::Window(window) = below(&filter.input) else {
            return None;
        };
        let functions: Vec<LogicalExpr> = window
            .window_expr
            .iter()
            .map(|e| e.clone().unalias())
            .collect();
        let [LogicalExpr::WindowFunction(f)] = functions.as_slice() else {
            return None;
        };
        let first_only = rank_limit(&filter.predicate, &filter.input).ok()? == Some(1);
        let [order] = f.params.order_by.as_slice() else {
            return None;
        };
        let (LogicalExpr::Column(time), false) = (&order.expr, order.asc) else {
            return None;
        };
        let primary_key = f
            .params
            .partition_by
            .iter()
            .map(|e| match e {
                LogicalExpr::Column(c) => Some(c.name.clone()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        let rowtime = rowtime_of(&window.input, tables)?;
        (f.fun.name() == "row_number"
            && first_only
            && rowtime == time.name
            && !primary_key.is_empty())
        .then_some(Versioned {
            primary_key,
            rowtime: Some(rowtime),
            first_column: String::new(),
        })
    };
    Versioned {
        first_column: first_column(plan.schema().fields()),
        ..found().unwrap_or_default()
    }
}

/// Gives each versioned table of `statement` its name back and marks its join's condition
/// (see the module documentation), with Flink's errors for a table without a primary key or
/// time attribute; `tables` describes a table or view by name.
pub fn mark_temporal_joins(
    statement: &mut Statement,
    tables: &dyn Fn(&str) -> Option<Versioned>,
) -> SqlResult<()> {
    struct Marker<'a>(&'a dyn Fn(&str) -> Option<Versioned>);
    impl VisitorMut for Marker<'_> {
        type Break = SqlError;
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<SqlError> {
            match mark_set_expr(&mut query.body, self.0) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => ControlFlow::Break(e),
            }
        }
    }
    match statement.visit(&mut Marker(tables)) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn mark_set_expr(body: &mut SetExpr, tables: &dyn Fn(&str) -> Option<Versioned>) -> SqlResult<()> {
    match body {
        SetExpr::Select(select) => {
            for from in &mut select.from {
                mark_joins(&mut from.joins, tables)?;
            }
            Ok(())
        }
        SetExpr::SetOperation { left, right, .. } => {
            mark_set_expr(left, tables)?;
            mark_set_expr(right, tables)
        }
        _ => Ok(()),
    }
}

fn mark_joins(
    joins: &mut [ast::Join],
    tables: &dyn Fn(&str) -> Option<Versioned>,
) -> SqlResult<()> {
    for join in joins {
        if let TableFactor::NestedJoin {
            table_with_joins, ..
        } = &mut join.relation
        {
            mark_joins(&mut table_with_joins.joins, tables)?;
        }
        let TableFactor::Table { name, alias, .. } = &mut join.relation else {
            continue;
        };
        let Some(ident) = name.0.last().and_then(|p| p.as_ident()) else {
            continue;
        };
        let Some((table, time)) = split_as_of(&ident.value) else {
            continue;
        };
        let (table, time) = (table.to_string(), time.to_string());
        let span = ident.span;
        let at = Position::spanning(span.start, span.end);
        let def =
            tables(&table).ok_or_else(|| SqlError::at(format!("table '{table}' not found"), at))?;
        // Refused unless the probe time is a processing-time attribute (a lookup join).
        let refusal = if def.primary_key.is_empty() {
            Some(format!(
                "Temporal Table Join requires primary key in versioned table, but no primary \
                 key can be found: declare PRIMARY KEY (...) NOT ENFORCED on '{table}'"
            ))
        } else if def.rowtime.is_none() {
            Some(format!(
                "Event-Time Temporal Table Join requires both primary key and row time \
                 attribute in versioned table, but no row time attribute can be found: \
                 declare a WATERMARK on '{table}'"
            ))
        } else {
            None
        };
        let refusal = refusal.map_or(String::new(), |r| encode_refusal(&r, at));
        let version = def.rowtime.clone().unwrap_or(def.first_column.clone());
        let relation = alias
            .as_ref()
            .map_or(Ident::new(&table), |a| a.name.clone());
        *name = ObjectName::from(vec![Ident::new(table.clone())]);
        // The probe time's parts as written (maybe quoted), the version column by its name.
        let part = |part: &str| match part.chars().next() {
            Some(q @ ('"' | '`')) if part.len() > 1 => {
                Ident::with_quote(q, &part[1..part.len() - 1])
            }
            _ => Ident::new(part),
        };
        let args = [
            Expr::CompoundIdentifier(time.split('.').map(part).collect()),
            Expr::CompoundIdentifier(vec![relation, Ident::with_quote('"', version)]),
            Expr::value(ast::Value::SingleQuotedString(refusal)),
        ];
        let marker = crate::flink::call(AS_OF_MARKER, args, Span::empty());
        let constraint = match &mut join.join_operator {
            JoinOperator::Join(c)
            | JoinOperator::Inner(c)
            | JoinOperator::Left(c)
            | JoinOperator::LeftOuter(c) => c,
            _ => {
                return Err(SqlError::at(
                    "a temporal join (FOR SYSTEM_TIME AS OF) is a JOIN or LEFT JOIN",
                    at,
                ));
            }
        };
        let JoinConstraint::On(condition) = constraint else {
            return Err(SqlError::at(
                "a temporal join needs ON with the versioned table's primary key",
                at,
            ));
        };
        *condition = Expr::BinaryOp {
            left: Box::new(marker),
            op: BinaryOperator::And,
            right: Box::new(Expr::Nested(Box::new(condition.clone()))),
        };
    }
    Ok(())
}

/// Keeps the conditions of a temporal join where they apply: DataFusion would push a
/// condition on the versioned side down into that input, which changes which version is the
/// latest (Flink filters after choosing it). So the join's non-equality conditions move into
/// the marker (its third argument, the join's residual condition), and conditions of a
/// `WHERE` above the join that read the versioned side are wrapped in `rill_keep`, an identity
/// that also reads the probe side, so that it stays at (or above) the join.
#[derive(Debug)]
pub struct TemporalConditions;

impl AnalyzerRule for TemporalConditions {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up(|node| match node {
            LogicalPlan::Join(mut join) if marker_of(join.filter.as_ref()).is_some() => {
                let filter = join.filter.take().expect("has a marker");
                let (left, right) = (join.left.schema().clone(), join.right.schema().clone());
                let is_equi = |e: &LogicalExpr| match e {
                    LogicalExpr::BinaryExpr(b) if b.op == Operator::Eq => {
                        let within = |e: &LogicalExpr, s: &DFSchema| {
                            e.column_refs().iter().all(|c| s.has_column(c))
                        };
                        (within(&b.left, &left) && within(&b.right, &right))
                            || (within(&b.left, &right) && within(&b.right, &left))
                    }
                    _ => false,
                };
                let (mut marker, mut kept, mut residual) = (None, Vec::new(), Vec::new());
                for conjunct in split_conjunction_owned(filter) {
                    match conjunct {
                        LogicalExpr::ScalarFunction(f) if f.func.name() == AS_OF_MARKER => {
                            marker = Some(f)
                        }
                        c if is_equi(&c) => kept.push(c),
                        c => residual.push(c),
                    }
                }
                let mut marker = marker.expect("found above");
                marker.args.extend(conjunction(residual));
                kept.insert(0, LogicalExpr::ScalarFunction(marker));
                join.filter = conjunction(kept);
                Ok(Transformed::yes(LogicalPlan::Join(join)))
            }
            LogicalPlan::Filter(filter) => {
                let LogicalPlan::Join(join) = filter.input.as_ref() else {
                    return Ok(Transformed::no(LogicalPlan::Filter(filter)));
                };
                let Some(marker) = marker_of(join.filter.as_ref()) else {
                    return Ok(Transformed::no(LogicalPlan::Filter(filter)));
                };
                // Reading the probe time too, the condition reads both sides: DataFusion pushes
                // it into neither (a volatile function alone does not stop it).
                let probe_time = marker.args[0].clone();
                let right = join.right.schema().clone();
                let keep = Arc::new(keep_function());
                let predicate = conjunction(
                    split_conjunction_owned(filter.predicate)
                        .into_iter()
                        .map(
                            |c| match c.column_refs().iter().any(|col| right.has_column(col)) {
                                true => LogicalExpr::ScalarFunction(ScalarFunction::new_udf(
                                    keep.clone(),
                                    vec![c, probe_time.clone()],
                                )),
                                false => c,
                            },
                        ),
                )
                .expect("a filter has a predicate");
                Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(
                    predicate,
                    filter.input,
                )?)))
            }
            node => Ok(Transformed::no(node)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "rill_temporal_conditions"
    }
}

/// The marker among the conjuncts of a join's filter.
fn marker_of(filter: Option<&LogicalExpr>) -> Option<&ScalarFunction> {
    split_conjunction(filter?)
        .into_iter()
        .find_map(|c| match c {
            LogicalExpr::ScalarFunction(f) if f.func.name() == AS_OF_MARKER => Some(f),
            _ => None,
        })
}

/// `rill_keep(condition, probe time)`: the condition, never pushed down.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Keep {
    signature: Signature,
}

impl ScalarUDFImpl for Keep {
    fn name(&self) -> &str {
        "rill_keep"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(args.args.into_iter().next().expect("one argument"))
    }
}

fn keep_function() -> ScalarUDF {
    ScalarUDF::new_from_impl(Keep {
        signature: Signature::variadic_any(Volatility::Volatile),
    })
}

/// The marker function: true, never simplified away (volatile), found by the planner.
#[derive(Debug, PartialEq, Eq, Hash)]
struct AsOf {
    signature: Signature,
}

impl ScalarUDFImpl for AsOf {
    fn name(&self) -> &str {
        AS_OF_MARKER
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
    }
}

/// The marker function and the condition keeper, to register in the session.
pub fn functions() -> [ScalarUDF; 2] {
    [as_of_marker(), keep_function()]
}

fn as_of_marker() -> ScalarUDF {
    ScalarUDF::new_from_impl(AsOf {
        signature: Signature::variadic_any(Volatility::Volatile),
    })
}

#[cfg(test)]
mod tests {
    use datafusion_sql::sqlparser::tokenizer::Tokenizer;

    use super::*;
    use crate::parser::dialect;

    fn rewrite(sql: &str) -> String {
        let tokens: Vec<TokenWithSpan> = Tokenizer::new(dialect(), sql)
            .tokenize_with_location()
            .unwrap()
            .into_iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_)))
            .collect();
        let out = rewrite_system_time(&tokens).unwrap();
        out.iter()
            .map(|t| t.token.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_versioned_table_is_renamed_and_keeps_its_alias() {
        assert_eq!(
            rewrite("SELECT * FROM o JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.c = r.c"),
            "SELECT * FROM o JOIN \"rates FOR SYSTEM_TIME AS OF o.ts\" AS r ON o . c = r . c"
        );
        assert_eq!(
            rewrite("SELECT * FROM o LEFT JOIN rates FOR SYSTEM_TIME AS OF ts ON o.c = rates.c"),
            "SELECT * FROM o LEFT JOIN \"rates FOR SYSTEM_TIME AS OF ts\" AS rates ON o . c = rates . c"
        );
        assert_eq!(
            split_as_of("rates FOR SYSTEM_TIME AS OF o.ts"),
            Some(("rates", "o.ts"))
        );
    }
}
