//! Flink SQL functions that DataFusion spells differently, rewritten in the statement before
//! planning so that Flink queries run unchanged.

use std::ops::ControlFlow;

use datafusion_sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion_sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, CaseWhen, CastKind, CeilFloorKind, DataType as SqlType,
    DateTimeField, DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgOperator, FunctionArgumentClause, FunctionArgumentList, FunctionArguments, Ident,
    JoinConstraint, JoinOperator, JsonNullClause, ObjectName, Query, SelectItem, SetExpr, Spanned,
    Statement, TableFactor, UnaryOperator, Value, Visit, VisitMut, Visitor, VisitorMut,
    visit_expressions, visit_expressions_mut,
};
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::tokenizer::{Span, Token, TokenWithSpan};

use crate::error::{Position, SqlError, SqlResult};
use crate::functions::json::JSON_KIND_MARKER;
use crate::functions::json_text::RAW_JSON;
use crate::parser::is_keyword;

/// The marker `x BETWEEN SYMMETRIC a AND b` becomes before parsing (sqlparser cannot read
/// `SYMMETRIC`): `x BETWEEN rill_symmetric(a) AND b`, expanded by [`rewrite_functions`].
const SYMMETRIC_MARKER: &str = "rill_symmetric";

/// The function `MAP[k1, v1, ...]` becomes before parsing (sqlparser cannot read it).
pub const MAP_CONSTRUCTOR: &str = "rill_map";

/// Rewrites the constructors `MAP[k1, v1, ...]` into calls `rill_map(k1, v1, ...)`, and
/// `ARRAY[a, ...]` into `array(a, ...)`: DataFusion plans an array literal's elements without
/// the columns of an enclosing query, which `CROSS JOIN UNNEST(ARRAY[t.a, t.b])` reads. Two
/// literals DataFusion reads otherwise, or not at all, are rewritten too:
/// * `TIME '12:00:00.5'` becomes `CAST('12:00:00.5' AS TIME(1))`: its precision is the digits
///   it has, as in Flink (a `TIME` is a `TIME(0)`);
/// * an interval of a range of units, `INTERVAL '1 02:30' DAY TO MINUTE`, becomes the interval
///   of its parts, `INTERVAL '1 day 2 hour 30 minute'`.
pub fn rewrite_constructors(tokens: &[TokenWithSpan]) -> Vec<TokenWithSpan> {
    let mut out = Vec::with_capacity(tokens.len());
    // Per open bracket, whether it opened a constructor.
    let mut brackets: Vec<bool> = Vec::new();
    let function = |t: &TokenWithSpan| match &t.token {
        Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("MAP") => {
            Some(MAP_CONSTRUCTOR)
        }
        Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("ARRAY") => {
            Some("array")
        }
        _ => None,
    };
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        let previous = i.checked_sub(1).and_then(|p| tokens.get(p));
        let constructor = previous.and_then(function);
        match &token.token {
            Token::LBracket if constructor.is_some() => {
                let start = out.len() - 1;
                let name = constructor.expect("checked");
                out[start] = TokenWithSpan::new(Token::make_word(name, None), tokens[i - 1].span);
                out.push(TokenWithSpan::new(Token::LParen, token.span));
                brackets.push(true);
            }
            Token::LBracket => {
                out.push(token.clone());
                brackets.push(false);
            }
            Token::RBracket if brackets.pop() == Some(true) => {
                out.push(TokenWithSpan::new(Token::RParen, token.span));
            }
            Token::SingleQuotedString(text) if is_keyword(previous, Keyword::TIME) => {
                let digits = text.split_once('.').map_or(0, |(_, f)| f.trim().len());
                let span = tokens[i - 1].span;
                let at = |token: Token| TokenWithSpan::new(token, span);
                out.pop();
                out.extend([
                    at(Token::make_keyword("CAST")),
                    at(Token::LParen),
                    token.clone(),
                    at(Token::make_keyword("AS")),
                    at(Token::make_keyword("TIME")),
                    at(Token::LParen),
                    at(Token::Number(digits.to_string(), false)),
                    at(Token::RParen),
                    at(Token::RParen),
                ]);
            }
            Token::SingleQuotedString(text) if is_keyword(previous, Keyword::INTERVAL) => {
                match interval_range(text, &tokens[i + 1..]) {
                    Some(parts) => {
                        out.push(TokenWithSpan::new(
                            Token::SingleQuotedString(parts),
                            token.span,
                        ));
                        i += 3; // the units and TO
                    }
                    None => out.push(token.clone()),
                }
            }
            _ => out.push(token.clone()),
        }
        i += 1;
    }
    out
}

/// The parts of the interval `text` of a range of units (`YEAR TO MONTH`, `DAY TO SECOND`,
/// ...), which `after` starts with, as DataFusion reads them: `-1 day -2 hour`. `None` if
/// `after` names no range, or `text` does not fit it.
fn interval_range(text: &str, after: &[TokenWithSpan]) -> Option<String> {
    const UNITS: [&str; 6] = ["YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"];
    let unit = |t: Option<&TokenWithSpan>| match t.map(|t| &t.token) {
        Some(Token::Word(w)) if w.quote_style.is_none() => {
            UNITS.iter().position(|u| w.value.eq_ignore_ascii_case(u))
        }
        _ => None,
    };
    let (from, to) = (unit(after.first())?, unit(after.get(2))?);
    let ranged = is_keyword(after.get(1), Keyword::TO) && from < to;
    // A year-month range and a day-time one do not mix.
    if !ranged || (from < 2) != (to < 2) {
        return None;
    }
    let text = text.trim();
    let (sign, text) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.strip_prefix('+').unwrap_or(text)),
    };
    let values: Vec<&str> = text.split([' ', ':', '-']).collect();
    let numeric = |v: &&str| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.');
    if values.len() != to - from + 1 || !values.iter().all(numeric) {
        return None;
    }
    let parts: Vec<String> = (values.iter().zip(&UNITS[from..=to]))
        .map(|(v, u)| format!("{sign}{v} {}", u.to_ascii_lowercase()))
        .collect();
    Some(parts.join(" "))
}

/// Marks `BETWEEN SYMMETRIC`'s lower bound (see [`SYMMETRIC_MARKER`]) and drops `ASYMMETRIC`,
/// which is what `BETWEEN` means anyway. The lower bound ends at the first `AND` outside
/// brackets and `CASE ... END`, as sqlparser reads it.
pub fn mark_symmetric_between(tokens: &[TokenWithSpan]) -> Vec<TokenWithSpan> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        out.push(tokens[i].clone());
        let between = is_keyword(tokens.get(i), Keyword::BETWEEN);
        i += 1;
        if between && is_keyword(tokens.get(i), Keyword::ASYMMETRIC) {
            i += 1;
        } else if between && is_keyword(tokens.get(i), Keyword::SYMMETRIC) {
            let Some(and) = lower_bound_end(tokens, i + 1) else {
                continue;
            };
            let at = |token: Token| TokenWithSpan::new(token, tokens[i].span);
            out.push(at(Token::make_word(SYMMETRIC_MARKER, None)));
            out.push(at(Token::LParen));
            out.extend_from_slice(&tokens[i + 1..and]);
            out.push(at(Token::RParen));
            i = and;
        }
    }
    out
}

/// The index of the `AND` that ends the lower bound of a `BETWEEN` starting at `start`.
fn lower_bound_end(tokens: &[TokenWithSpan], start: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (i, token) in tokens.iter().enumerate().skip(start) {
        match &token.token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => depth -= 1,
            Token::Word(w) if w.keyword == Keyword::CASE => depth += 1,
            Token::Word(w) if w.keyword == Keyword::END => depth -= 1,
            Token::Word(w) if w.keyword == Keyword::AND && depth == 0 => return Some(i),
            _ => {}
        }
        if depth < 0 {
            return None;
        }
    }
    None
}

/// Rewrites Flink-only function calls into DataFusion expressions (`MOD(a, b)` -> `a % b`),
/// and the keyword forms of `SUBSTRING` and `OVERLAY` into calls of rill's functions of those
/// names (DataFusion's planner would call its own, of other semantics).
pub fn rewrite_functions(statement: &mut Statement) -> SqlResult<()> {
    let flow = visit_expressions_mut(statement, |expr| {
        // x [NOT] BETWEEN SYMMETRIC a AND b, marked before parsing: `(x BETWEEN a AND b) OR
        // (x BETWEEN b AND a)`, as Calcite expands it for Flink.
        if let Expr::Between {
            expr: x,
            negated,
            low,
            high,
        } = expr
            && let Some([a]) = call_args::<1>(low, SYMMETRIC_MARKER)
        {
            let between = |low: &Expr, high: &Expr| {
                Expr::Nested(Box::new(Expr::Between {
                    expr: x.clone(),
                    negated: false,
                    low: Box::new(low.clone()),
                    high: Box::new(high.clone()),
                }))
            };
            let either = Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(between(&a, high)),
                op: BinaryOperator::Or,
                right: Box::new(between(high, &a)),
            }));
            *expr = match negated {
                true => Expr::UnaryOp {
                    op: UnaryOperator::Not,
                    expr: Box::new(either),
                },
                false => either,
            };
        }
        // A field of an expression's row, `CAST(...).x` or `(r).x`, which Flink reads and
        // DataFusion does not (it reads dotted names of columns): `get_field(..., 'x')`.
        if let Expr::CompoundFieldAccess { root, access_chain } = expr
            && !matches!(
                root.as_ref(),
                Expr::Identifier(_) | Expr::CompoundIdentifier(_)
            )
            && let Some(fields) = (access_chain.iter())
                .map(|a| match a {
                    AccessExpr::Dot(Expr::Identifier(field)) => Some(field.value.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<String>>>()
        {
            let span = root.span();
            let mut read = root.as_ref().clone();
            for field in fields {
                let name = Expr::value(Value::SingleQuotedString(field));
                read = call("get_field", [read, name], span);
            }
            *expr = read;
        }
        if let Some([a, b]) = call_args::<2>(expr, "MOD") {
            *expr = Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(a))),
                op: BinaryOperator::Modulo,
                right: Box::new(Expr::Nested(Box::new(b))),
            }));
        }
        if let Some([condition, then, otherwise]) = call_args::<3>(expr, "IF") {
            *expr = case(vec![(condition, then)], Some(otherwise));
        }
        if let Some([value, replacement]) = call_args::<2>(expr, "IFNULL") {
            *expr = call("coalesce", [value, replacement], expr.span());
        }
        // ARRAY_AGG(DISTINCT x) keeps the values in the order they came: a FILTER keeps
        // DataFusion from planning a lone one as a GROUP BY of the values, which loses that
        // order.
        if let Expr::Function(f) = expr
            && f.name.to_string().eq_ignore_ascii_case("ARRAY_AGG")
            && f.filter.is_none()
            && matches!(&f.args, FunctionArguments::List(list)
                if list.duplicate_treatment == Some(DuplicateTreatment::Distinct))
        {
            f.filter = Some(Box::new(Expr::value(Value::Boolean(true))));
        }
        // LISTAGG(x [, separator]): DataFusion's STRING_AGG, with Flink's default ','.
        if let Expr::Function(f) = expr
            && f.name.to_string().eq_ignore_ascii_case("LISTAGG")
            && let FunctionArguments::List(list) = &mut f.args
        {
            // DataFusion's STRING_AGG(DISTINCT) joins the values in a hash set's order;
            // Flink's in the order they came (oracle: `a,b`, not `b,a`).
            if list.duplicate_treatment == Some(DuplicateTreatment::Distinct) {
                let span = f.name.span();
                return ControlFlow::Break(SqlError::at(
                    "LISTAGG(DISTINCT ...) is not supported yet",
                    Position::spanning(span.start, span.end),
                ));
            }
            if list.args.len() == 1 {
                let comma = Expr::value(Value::SingleQuotedString(",".into()));
                list.args
                    .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(comma)));
            }
            f.name = ObjectName::from(vec![Ident::with_span(f.name.span(), "string_agg")]);
        }
        // (p0, t0) OVERLAPS (p1, t1), as Calcite converts it for Flink: a `t` that is an
        // interval ends at `p + t`; each pair sorted into start and end (`s <= e`, by CASE,
        // which gives Calcite's answers on NULLs); then `e0 >= s1 AND e1 >= s0`.
        if let Expr::BinaryOp {
            left,
            op: BinaryOperator::Overlaps,
            right,
        } = expr
            && let (Expr::Tuple(l), Expr::Tuple(r)) = (left.as_ref(), right.as_ref())
            && let ([p0, t0], [p1, t1]) = (l.as_slice(), r.as_slice())
        {
            let ([s0, e0], [s1, e1]) = (ordered_period(p0, t0), ordered_period(p1, t1));
            let at_least = |a: Expr, b: Expr| Expr::BinaryOp {
                left: Box::new(a),
                op: BinaryOperator::GtEq,
                right: Box::new(b),
            };
            *expr = Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(at_least(e0, s1)),
                op: BinaryOperator::And,
                right: Box::new(at_least(e1, s0)),
            }));
        }
        // GROUP_ID() tells repeated grouping sets apart; rill refuses those, so it is 0.
        if is_call_without_arguments(expr, "GROUP_ID") {
            *expr = Expr::Cast {
                kind: CastKind::Cast,
                array: false,
                expr: Box::new(Expr::value(Value::Number("0".into(), false))),
                data_type: SqlType::BigInt(None),
                format: None,
            };
        }
        // CURRENT_DATABASE(): the one database, Flink's default.
        if is_call_without_arguments(expr, "CURRENT_DATABASE") {
            *expr = Expr::value(Value::SingleQuotedString("default_database".into()));
        }
        // GROUPING_ID(a, b, ...): a BIGINT with a bit per argument, set where GROUPING(arg) is
        // 1, the last argument's the lowest.
        if let Some(args) = plain_args(expr, "GROUPING_ID").filter(|a| !a.is_empty()) {
            let span = expr.span();
            let bits = args.len();
            let id = (args.into_iter().enumerate())
                .map(|(i, arg)| {
                    let grouping = call("grouping", [arg], span);
                    let weight = (1u64 << (bits - 1 - i)).to_string();
                    Expr::BinaryOp {
                        left: Box::new(grouping),
                        op: BinaryOperator::Multiply,
                        right: Box::new(Expr::value(Value::Number(weight, false))),
                    }
                })
                .reduce(|sum, term| Expr::BinaryOp {
                    left: Box::new(sum),
                    op: BinaryOperator::Plus,
                    right: Box::new(term),
                })
                .expect("an argument at least");
            *expr = Expr::Cast {
                kind: CastKind::Cast,
                array: false,
                expr: Box::new(Expr::Nested(Box::new(id))),
                data_type: SqlType::BigInt(None),
                format: None,
            };
        }
        // ROW(a, b, ...): a row with Flink's field names, EXPR$0, EXPR$1, ...
        if let Some(args) = plain_args(expr, "ROW").filter(|a| !a.is_empty()) {
            let named = (args.into_iter().enumerate()).flat_map(|(i, arg)| {
                let name = Expr::value(Value::SingleQuotedString(format!("EXPR${i}")));
                [name, arg]
            });
            *expr = call("named_struct", named.collect::<Vec<_>>(), expr.span());
        }
        // ELT(n, e1, e2, ...): the nth expression.
        if let Some(mut args) = plain_args(expr, "ELT").filter(|a| a.len() >= 2) {
            let n = args.remove(0);
            let branches = args
                .into_iter()
                .enumerate()
                .map(|(i, e)| {
                    let number = Expr::value(Value::Number((i + 1).to_string(), false));
                    let condition = Expr::BinaryOp {
                        left: Box::new(n.clone()),
                        op: BinaryOperator::Eq,
                        right: Box::new(number),
                    };
                    (condition, e)
                })
                .collect();
            *expr = case(branches, None);
        }
        // Flink's GREATEST and LEAST are NULL when an argument is; DataFusion's skip NULLs.
        for name in ["GREATEST", "LEAST"] {
            if let Some(args) = plain_args(expr, name) {
                let span = expr.span();
                let any_null = args
                    .iter()
                    .map(|a| Expr::IsNull(Box::new(a.clone())))
                    .reduce(|a, b| Expr::BinaryOp {
                        left: Box::new(a),
                        op: BinaryOperator::Or,
                        right: Box::new(b),
                    })
                    .expect("at least one argument");
                let null = Expr::value(Value::Null);
                *expr = case(
                    vec![(any_null, null)],
                    Some(call(&name.to_lowercase(), args, span)),
                );
            }
        }
        let span = expr.span();
        match expr {
            Expr::IsNotDistinctFrom(value, kind) | Expr::IsDistinctFrom(value, kind) => {
                // `x IS [NOT] JSON kind`, marked by the parser's pre-pass.
                if let Some([kind]) = call_args::<1>(kind, JSON_KIND_MARKER) {
                    let is_json = call("is_json", [value.as_ref().clone(), kind], span);
                    *expr = match expr {
                        Expr::IsNotDistinctFrom(..) => is_json,
                        _ => Expr::UnaryOp {
                            op: UnaryOperator::Not,
                            expr: Box::new(Expr::Nested(Box::new(is_json))),
                        },
                    };
                }
            }
            Expr::Function(f)
                if ["JSON_OBJECT", "JSON_ARRAY"]
                    .iter()
                    .any(|n| f.name.to_string().eq_ignore_ascii_case(n)) =>
            {
                if let Some(call) = json_constructor(f, span) {
                    *expr = call;
                }
            }
            // The JSON aggregates (as `rewrite_json_syntax` made calls of them): the NULL
            // clause, Flink's default where none is given, with whether the value is JSON
            // text made by a nested constructor, as `json_object` takes it.
            Expr::Function(f)
                if ["rill_json_objectagg", "rill_json_arrayagg"]
                    .contains(&f.name.to_string().as_str()) =>
            {
                let object = f.name.to_string() == "rill_json_objectagg";
                if let FunctionArguments::List(list) = &mut f.args {
                    let values = if object { 2 } else { 1 };
                    if list.args.len() == values {
                        let default = if object { "NULL" } else { "ABSENT" };
                        let mode = Expr::value(Value::SingleQuotedString(default.into()));
                        list.args
                            .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(mode)));
                    }
                    let nested = matches!(list.args.get(values - 1),
                        Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Function(g))))
                            if ["json_object", "json_array"].contains(&g.name.to_string().as_str()));
                    if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))) =
                        list.args.get_mut(values)
                        && let Value::SingleQuotedString(mode) = &mut v.value
                    {
                        mode.push_str(if nested { ":1" } else { ":0" });
                    }
                }
            }
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("JSON_VALUE") => {
                // `RETURNING type`: the value read as that type, NULL where it cannot be.
                if let FunctionArguments::List(list) = &mut f.args
                    && let Some(at) = list
                        .clauses
                        .iter()
                        .position(|c| matches!(c, FunctionArgumentClause::JsonReturningClause(_)))
                    && let FunctionArgumentClause::JsonReturningClause(returning) =
                        list.clauses.remove(at)
                {
                    if matches!(
                        returning.data_type,
                        SqlType::Double(_) | SqlType::DoublePrecision | SqlType::Float(_)
                    ) {
                        // Flink fails on a JSON integer there.
                        return ControlFlow::Break(SqlError::at(
                            "JSON_VALUE ... RETURNING DOUBLE is not supported yet",
                            Position::spanning(span.start, span.end),
                        ));
                    }
                    *expr = Expr::Cast {
                        kind: CastKind::TryCast,
                        array: false,
                        expr: Box::new(expr.clone()),
                        data_type: returning.data_type,
                        format: None,
                    };
                }
            }
            Expr::Value(v) => {
                // `1e10` is a DOUBLE in Flink; only `1.5` is a DECIMAL.
                if let Value::Number(text, _) = &v.value
                    && text.contains(['e', 'E'])
                {
                    *expr = Expr::Cast {
                        kind: CastKind::Cast,
                        array: false,
                        expr: Box::new(Expr::value(Value::SingleQuotedString(text.clone()))),
                        data_type: SqlType::DoublePrecision,
                        format: None,
                    };
                }
            }
            Expr::Substring {
                expr: s,
                substring_from,
                substring_for,
                ..
            } => {
                let from = substring_from
                    .take()
                    .map_or(Expr::value(Value::Number("1".into(), false)), |f| *f);
                let args = [
                    Some(s.as_ref().clone()),
                    Some(from),
                    substring_for.take().map(|f| *f),
                ];
                *expr = call("substring", args.into_iter().flatten(), span);
            }
            Expr::Overlay {
                expr: s,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                let args = [
                    Some(s.as_ref().clone()),
                    Some(overlay_what.as_ref().clone()),
                    Some(overlay_from.as_ref().clone()),
                    overlay_for.take().map(|f| *f),
                ];
                *expr = call("overlay", args.into_iter().flatten(), span);
            }
            Expr::Like {
                pattern,
                escape_char,
                ..
            } => {
                // DataFusion's LIKE escapes with a backslash; Flink's only with ESCAPE's
                // character. Rewritten for a constant pattern; others are refused.
                if let Expr::Value(v) = pattern.as_mut()
                    && let Value::SingleQuotedString(text) = &mut v.value
                {
                    let escape = escape_char.take().and_then(|c| match c.value {
                        Value::SingleQuotedString(c) => c.chars().next(),
                        _ => None,
                    });
                    *text = backslash_escaped(text, escape);
                }
            }
            Expr::SimilarTo {
                negated,
                expr: s,
                pattern,
                escape_char,
            } => {
                if let Expr::Value(v) = pattern.as_ref()
                    && let Value::SingleQuotedString(text) = &v.value
                {
                    let escape = escape_char.as_ref().and_then(|c| match &c.value {
                        Value::SingleQuotedString(c) => c.chars().next(),
                        _ => None,
                    });
                    let regex = Expr::value(Value::SingleQuotedString(similar_regex(text, escape)));
                    let matches = call("regexp", [s.as_ref().clone(), regex], span);
                    *expr = if *negated {
                        Expr::UnaryOp {
                            op: UnaryOperator::Not,
                            expr: Box::new(Expr::Nested(Box::new(matches))),
                        }
                    } else {
                        matches
                    };
                }
            }
            Expr::Extract { field, expr: t, .. } => {
                let args = [unit_name(field), t.as_ref().clone()];
                *expr = call("extract", args, span);
            }
            Expr::Floor {
                expr: t,
                field: CeilFloorKind::DateTimeField(field),
            } if *field != DateTimeField::NoDateTime => {
                let args = [unit_name(field), t.as_ref().clone()];
                *expr = call("floor_to", args, span);
            }
            Expr::Ceil {
                expr: t,
                field: CeilFloorKind::DateTimeField(field),
            } if *field != DateTimeField::NoDateTime => {
                let args = [unit_name(field), t.as_ref().clone()];
                *expr = call("ceil_to", args, span);
            }
            Expr::Function(f)
                if ["TIMESTAMPADD", "TIMESTAMPDIFF"]
                    .iter()
                    .any(|n| f.name.to_string().eq_ignore_ascii_case(n)) =>
            {
                // The unit is a keyword, not a column.
                if let FunctionArguments::List(list) = &mut f.args
                    && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(unit))) =
                        list.args.first_mut()
                    && let Expr::Identifier(name) = unit
                {
                    *unit = Expr::value(Value::SingleQuotedString(name.value.clone()));
                }
            }
            Expr::TypedString(typed) => {
                // `TIMESTAMP '...'` has as many fraction digits as its text.
                if let (SqlType::Timestamp(None, zone), Value::SingleQuotedString(text)) =
                    (&typed.data_type, &typed.value.value)
                {
                    let digits = text.split_once('.').map_or(0, |(_, f)| f.trim().len());
                    if !matches!(digits, 0 | 3 | 6 | 9) {
                        return ControlFlow::Break(SqlError::at(
                            format!(
                                "a TIMESTAMP literal with {digits} fraction digits is not supported \
                                 yet: write 0, 3, 6 or 9"
                            ),
                            Position::spanning(span.start, span.end),
                        ));
                    }
                    *expr = Expr::Cast {
                        kind: CastKind::Cast,
                        array: false,
                        expr: Box::new(Expr::value(Value::SingleQuotedString(text.clone()))),
                        data_type: SqlType::Timestamp(Some(digits as u64), *zone),
                        format: None,
                    };
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    });
    if let ControlFlow::Break(e) = flow {
        return Err(e);
    }
    // A `JSON(text)` left is outside a JSON constructor.
    let flow = visit_expressions(statement, |expr| match expr {
        Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("JSON") => {
            let span = f.name.span();
            ControlFlow::Break(SqlError::at(
                "The JSON() function is currently only supported inside JSON_ARRAY() or as \
                 the VALUE param of JSON_OBJECT()",
                Position::spanning(span.start, span.end),
            ))
        }
        _ => ControlFlow::Continue(()),
    });
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// A LIKE pattern with escape character `escape` (none: every character is itself) in the
/// backslash escapes DataFusion reads.
fn backslash_escaped(pattern: &str, escape: Option<char>) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            if let Some(next) = chars.next() {
                out.push('\\');
                out.push(next);
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

/// A `SIMILAR TO` pattern as an anchored regular expression: `%` and `_` are wildcards, the
/// regex operators `| * + ? {} () [] .` stay (Flink reads `.` as any character), other
/// characters are themselves.
fn similar_regex(pattern: &str, escape: Option<char>) -> String {
    let mut out = String::from("^(?:");
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            if let Some(next) = chars.next() {
                out.push_str(&regex::escape(&next.to_string()));
            }
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push(c);
            }
            ']' => {
                in_class = false;
                out.push(c);
            }
            _ if in_class => out.push(c),
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '|' | '*' | '+' | '?' | '{' | '}' | '(' | ')' | ',' | '.' => out.push(c),
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push_str(")$");
    out
}

/// `JSON_OBJECT(KEY k VALUE v ... [NULL|ABSENT ON NULL])` or `JSON_ARRAY(v ... [...])` as a
/// call of rill's `json_object(mode, k, v, ...)` or `json_array(mode, v, ...)`. The mode
/// says how NULLs go (`NULL` or `ABSENT`, Flink's defaults as the default) and, after a `:`,
/// which values come from a nested constructor and are JSON text to insert as it is.
fn json_constructor(f: &Function, span: Span) -> Option<Expr> {
    let object = f.name.to_string().eq_ignore_ascii_case("JSON_OBJECT");
    let (args, clauses): (&[FunctionArg], &[FunctionArgumentClause]) = match &f.args {
        FunctionArguments::List(list) => (&list.args, &list.clauses),
        FunctionArguments::None => (&[], &[]),
        FunctionArguments::Subquery(_) => return None,
    };
    let mut nulls = if object { "NULL" } else { "ABSENT" };
    for clause in clauses {
        match clause {
            FunctionArgumentClause::JsonNullClause(JsonNullClause::NullOnNull) => nulls = "NULL",
            FunctionArgumentClause::JsonNullClause(JsonNullClause::AbsentOnNull) => {
                nulls = "ABSENT"
            }
            _ => return None,
        }
    }
    let mut values = Vec::new();
    for arg in args {
        match (object, arg) {
            (
                true,
                FunctionArg::ExprNamed {
                    name,
                    arg: FunctionArgExpr::Expr(value),
                    operator: FunctionArgOperator::Value,
                },
            ) => values.push((Some(name.clone()), value.clone())),
            // sqlparser reads a quoted key as a named argument's name.
            (
                true,
                FunctionArg::Named {
                    name,
                    arg: FunctionArgExpr::Expr(value),
                    operator: FunctionArgOperator::Value,
                },
            ) => {
                let key = Expr::value(Value::SingleQuotedString(name.value.clone()));
                values.push((Some(key), value.clone()))
            }
            (false, FunctionArg::Unnamed(FunctionArgExpr::Expr(value))) => {
                values.push((None, value.clone()))
            }
            _ => return None,
        }
    }
    // `JSON(text)`: raw JSON text, as a nested constructor's is.
    for (_, value) in &mut values {
        if let Expr::Function(g) = value
            && g.name.to_string().eq_ignore_ascii_case("JSON")
        {
            let span = g.name.span();
            g.name = ObjectName::from(vec![Ident::with_span(span, RAW_JSON)]);
        }
    }
    let nested = |e: &Expr| matches!(e, Expr::Function(g) if ["json_object", "json_array", RAW_JSON].contains(&g.name.to_string().as_str()));
    let flags: String = values
        .iter()
        .map(|(_, v)| if nested(v) { '1' } else { '0' })
        .collect();
    let mode = Expr::value(Value::SingleQuotedString(format!("{nulls}:{flags}")));
    let mut call_args = vec![mode];
    for (key, value) in values {
        call_args.extend(key);
        call_args.push(value);
    }
    let name = if object { "json_object" } else { "json_array" };
    Some(call(name, call_args, span))
}

/// The name of a time unit, as a string argument of rill's temporal functions.
fn unit_name(field: &DateTimeField) -> Expr {
    Expr::value(Value::SingleQuotedString(field.to_string()))
}

/// A call of function `name` with `args`, placed at `span` for error messages.
pub(crate) fn call(name: &str, args: impl IntoIterator<Item = Expr>, span: Span) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::with_span(span, name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// Names the unnamed expressions of a query's result as Flink does: `EXPR$i`, `i` their place
/// among the result's columns (`SELECT symbol, price * 2` gives `symbol, EXPR$1`). Columns
/// keep their names; after a `*` places are unknown, so the rest keep DataFusion's names.
pub fn name_expressions(statement: &mut Statement) {
    name_fields(statement);
    fn body(set: &mut SetExpr) {
        match set {
            SetExpr::Select(select) => {
                for (i, item) in select.projection.iter_mut().enumerate() {
                    match item {
                        SelectItem::UnnamedExpr(
                            Expr::Identifier(_) | Expr::CompoundIdentifier(_),
                        )
                        | SelectItem::ExprWithAlias { .. } => {}
                        SelectItem::UnnamedExpr(expr) => {
                            let name = clock_keyword(expr).unwrap_or_else(|| format!("EXPR${i}"));
                            let name = Ident::with_quote('`', name);
                            *item = SelectItem::ExprWithAlias {
                                expr: expr.clone(),
                                alias: name,
                            };
                        }
                        // Wildcards: the places of what follows are not known here.
                        _ => return,
                    }
                }
                uniquify(&mut select.projection);
            }
            SetExpr::SetOperation { left, .. } => body(left),
            SetExpr::Query(query) => body(&mut query.body),
            _ => {}
        }
    }
    match statement {
        Statement::Query(query) => body(&mut query.body),
        Statement::CreateView(view) => body(&mut view.query.body),
        Statement::Insert(insert) => {
            if let Some(source) = &mut insert.source {
                body(&mut source.body)
            }
        }
        _ => {}
    }
}

/// The name of a clock keyword written without parentheses (`CURRENT_TIMESTAMP`,
/// `LOCALTIME`, ...), which names its column in Flink.
fn clock_keyword(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Function(f) if matches!(f.args, FunctionArguments::None) => {
            let name = f.name.to_string().to_ascii_uppercase();
            crate::functions::clock::KEYWORDS
                .contains(&name.as_str())
                .then_some(name)
        }
        _ => None,
    }
}

/// Renames the result's columns that repeat an earlier name as Flink (Calcite) does: the
/// name with the first suffix 0, 1, ... not yet taken (`dateTime`, `dateTime0`).
fn uniquify(items: &mut [SelectItem]) {
    let name = |item: &SelectItem| match item {
        SelectItem::UnnamedExpr(e) => column_name(e).map(|c| c.value.clone()),
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
        _ => None,
    };
    let mut taken = std::collections::HashSet::new();
    for item in items {
        let Some(original) = name(item) else {
            continue;
        };
        if taken.insert(original.clone()) {
            continue;
        }
        let unique = (0..)
            .map(|k| format!("{original}{k}"))
            .find(|n| !taken.contains(n))
            .expect("a free name");
        taken.insert(unique.clone());
        let expr = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e.clone(),
            _ => unreachable!("a named item"),
        };
        *item = SelectItem::ExprWithAlias {
            expr,
            alias: Ident::with_quote('`', unique),
        };
    }
}

/// Names the fields of nested rows in every query's result as Flink does: `SELECT person.id
/// FROM t` gives a column `id` (DataFusion would name it `person[id]`). A compound name is a
/// field when its first part is not a relation of the query's `FROM` (or, when it is, when
/// it has more than two parts).
fn name_fields(statement: &mut Statement) {
    struct Fields;
    impl VisitorMut for Fields {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            name_set(&mut query.body);
            ControlFlow::Continue(())
        }
    }
    fn name_set(set: &mut SetExpr) {
        match set {
            SetExpr::Select(select) => {
                let mut relations = Vec::new();
                for from in &select.from {
                    relation_names(&from.relation, &mut relations);
                    for join in &from.joins {
                        relation_names(&join.relation, &mut relations);
                    }
                }
                for item in &mut select.projection {
                    if let SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) = item {
                        let qualified = relations.contains(&parts[0].value);
                        if let Some(field) = parts
                            .last()
                            .filter(|_| parts.len() > 1 + qualified as usize)
                        {
                            *item = SelectItem::ExprWithAlias {
                                alias: field.clone(),
                                expr: Expr::CompoundIdentifier(parts.clone()),
                            };
                        }
                    }
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                name_set(left);
                name_set(right);
            }
            _ => {}
        }
    }
    let _ = statement.visit(&mut Fields);
}

/// The names `factor` gives its relations in a `FROM`: their aliases, or the tables' names.
fn relation_names(factor: &TableFactor, names: &mut Vec<String>) {
    let alias = match factor {
        TableFactor::Table { name, alias, .. } => {
            if let Some(table) = name.0.last().and_then(|part| part.as_ident()) {
                names.push(table.value.clone());
            }
            alias
        }
        TableFactor::NestedJoin {
            table_with_joins,
            alias,
        } => {
            relation_names(&table_with_joins.relation, names);
            for join in &table_with_joins.joins {
                relation_names(&join.relation, names);
            }
            alias
        }
        TableFactor::MatchRecognize { table, alias, .. } => {
            relation_names(table, names);
            alias
        }
        TableFactor::Derived { alias, .. }
        | TableFactor::TableFunction { alias, .. }
        | TableFactor::Function { alias, .. } => alias,
        _ => &None,
    };
    if let Some(alias) = alias {
        names.push(alias.name.value.clone());
    }
}

/// Refuses what DataFusion would plan with other semantics than Flink's: the column of a
/// `RIGHT` or `FULL` join `USING (k)` (or `NATURAL`) is `COALESCE(l.k, r.k)` in Flink, the
/// left input's `k` in DataFusion.
pub fn check_joins(statement: &Statement) -> SqlResult<()> {
    struct Joins;
    impl Visitor for Joins {
        type Break = SqlError;
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<SqlError> {
            let TableFactor::NestedJoin {
                table_with_joins, ..
            } = factor
            else {
                return ControlFlow::Continue(());
            };
            check(&table_with_joins.joins)
        }
        fn pre_visit_query(
            &mut self,
            query: &datafusion_sql::sqlparser::ast::Query,
        ) -> ControlFlow<SqlError> {
            if let datafusion_sql::sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() {
                for from in &select.from {
                    check(&from.joins)?;
                }
            }
            ControlFlow::Continue(())
        }
    }
    fn check(joins: &[datafusion_sql::sqlparser::ast::Join]) -> ControlFlow<SqlError> {
        for join in joins {
            let (kind, constraint) = match &join.join_operator {
                JoinOperator::RightOuter(c) | JoinOperator::Right(c) => ("RIGHT", c),
                JoinOperator::FullOuter(c) => ("FULL", c),
                _ => continue,
            };
            if matches!(
                constraint,
                JoinConstraint::Using(_) | JoinConstraint::Natural
            ) {
                let span = join.relation.span();
                return ControlFlow::Break(SqlError::at(
                    format!(
                        "{kind} JOIN with USING or NATURAL is not supported yet: \
                         write ON l.k = r.k and COALESCE(l.k, r.k) for the joined column"
                    ),
                    Position::spanning(span.start, span.end),
                ));
            }
        }
        ControlFlow::Continue(())
    }
    match statement.visit(&mut Joins) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// `CASE WHEN c1 THEN r1 ... ELSE otherwise END`.
/// The start and end of the period `(point, temporal)` of `OVERLAPS`: `temporal` is its other
/// end, or, an interval literal, its length.
fn ordered_period(point: &Expr, temporal: &Expr) -> [Expr; 2] {
    let end = match temporal {
        Expr::Interval(_) => Expr::Nested(Box::new(Expr::BinaryOp {
            left: Box::new(point.clone()),
            op: BinaryOperator::Plus,
            right: Box::new(temporal.clone()),
        })),
        other => other.clone(),
    };
    let in_order = Expr::BinaryOp {
        left: Box::new(point.clone()),
        op: BinaryOperator::LtEq,
        right: Box::new(end.clone()),
    };
    [
        case(vec![(in_order.clone(), point.clone())], Some(end.clone())),
        case(vec![(in_order, end)], Some(point.clone())),
    ]
}

fn case(branches: Vec<(Expr, Expr)>, otherwise: Option<Expr>) -> Expr {
    Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: branches
            .into_iter()
            .map(|(condition, result)| CaseWhen { condition, result })
            .collect(),
        else_result: otherwise.map(Box::new),
    }
}

/// The `N` plain arguments of a call of function `name`, if `expr` is one.
fn call_args<const N: usize>(expr: &Expr, name: &str) -> Option<[Expr; N]> {
    plain_args(expr, name)?.try_into().ok()
}

/// The column `expr` names, without its table's name.
pub(crate) fn column_name(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Identifier(c) => Some(c),
        Expr::CompoundIdentifier(parts) => parts.last(),
        _ => None,
    }
}

/// Whether `expr` is the call `name()`.
fn is_call_without_arguments(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::Function(f) if f.name.0.len() == 1
        && f.name.to_string().eq_ignore_ascii_case(name)
        && matches!(&f.args, FunctionArguments::List(list) if list.args.is_empty()))
}

/// The plain arguments of a call of function `name`, if `expr` is one.
pub(crate) fn plain_args(expr: &Expr, name: &str) -> Option<Vec<Expr>> {
    let Expr::Function(f) = expr else { return None };
    if f.name.0.len() != 1 || !f.name.to_string().eq_ignore_ascii_case(name) {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let args: Vec<Expr> = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    (!args.is_empty()).then_some(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{StatementKind, parse_script};

    #[test]
    fn unnamed_expressions_are_named_by_their_place() {
        let named = |sql: &str| {
            let mut parsed = parse_script(sql).unwrap();
            let StatementKind::Sql(statement) = &mut parsed[0].kind else {
                panic!()
            };
            name_expressions(statement);
            statement.to_string()
        };
        assert_eq!(
            named("SELECT a, a + 1, b AS c, t.d, f(x) FROM t"),
            "SELECT a, a + 1 AS `EXPR$1`, b AS c, t.d, f(x) AS `EXPR$4` FROM t"
        );
        // After a wildcard the places are unknown.
        assert_eq!(
            named("SELECT a + 1, *, b + 1 FROM t"),
            "SELECT a + 1 AS `EXPR$0`, *, b + 1 FROM t"
        );
        assert_eq!(
            named("SELECT a + 1 FROM t UNION ALL SELECT b FROM u"),
            "SELECT a + 1 AS `EXPR$0` FROM t UNION ALL SELECT b FROM u"
        );
        // An INSERT's query too: DataFusion refuses a projection with two equal names.
        assert_eq!(
            named("INSERT INTO o SELECT f(x), f(x) FROM t"),
            "INSERT INTO o SELECT f(x) AS `EXPR$0`, f(x) AS `EXPR$1` FROM t"
        );
        // A clock keyword names its column, as in Flink.
        assert_eq!(
            named("SELECT NOW(), current_date, LOCALTIMESTAMP FROM t"),
            "SELECT NOW() AS `EXPR$0`, current_date AS `CURRENT_DATE`, \
             LOCALTIMESTAMP AS `LOCALTIMESTAMP` FROM t"
        );
    }

    #[test]
    fn mod_becomes_modulo() {
        let mut parsed = parse_script("SELECT MOD(a + 1, 7) FROM t").unwrap();
        let StatementKind::Sql(statement) = &mut parsed[0].kind else {
            panic!()
        };
        rewrite_functions(statement).unwrap();
        assert_eq!(statement.to_string(), "SELECT ((a + 1) % (7)) FROM t");
    }
}
