//! Flink's legacy group windows, `GROUP BY k, TUMBLE(ts, size)` (also `HOP(ts, slide, size)`
//! and `SESSION(ts, gap)`) with `TUMBLE_START(ts, size)`, `TUMBLE_END` and `TUMBLE_ROWTIME`
//! (and the `HOP_` and `SESSION_` ones) in the select list, rewritten before planning into the
//! window table function they mean: the `FROM` becomes
//! `TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), size))`, the window call in the `GROUP BY` becomes
//! `window_start, window_end, window_time`, and the auxiliary functions the window's columns. A session's
//! other keys partition it (`SESSION(TABLE t PARTITION BY k, ...)`), so each key has its own
//! sessions, as in a legacy session window.

use std::ops::ControlFlow;

use datafusion_sql::sqlparser::ast::{
    Expr, GroupByExpr, Ident, Query, Select, SetExpr, Spanned, Statement, TableFactor, VisitMut,
    VisitorMut, visit_expressions_mut,
};
use datafusion_sql::sqlparser::parser::Parser;

use crate::error::{Position, SqlError, SqlResult};
use crate::flink::{column_name, plain_args};
use crate::parser::{PARTITION_BY_ARGUMENT, dialect};
use crate::window::WINDOW_COLUMNS;

/// Rewrites every legacy group window of `statement` (see the module documentation).
pub fn rewrite_group_windows(statement: &mut Statement) -> SqlResult<()> {
    struct Windows;
    impl VisitorMut for Windows {
        type Break = SqlError;
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<SqlError> {
            match rewrite_set(&mut query.body) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => ControlFlow::Break(e),
            }
        }
    }
    fn rewrite_set(set: &mut SetExpr) -> SqlResult<()> {
        match set {
            SetExpr::Select(select) => rewrite_select(select),
            SetExpr::SetOperation { left, right, .. } => {
                rewrite_set(left)?;
                rewrite_set(right)
            }
            _ => Ok(()),
        }
    }
    match statement.visit(&mut Windows) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// The window functions, with the number of their arguments.
const WINDOWS: [(&str, usize); 3] = [("TUMBLE", 2), ("HOP", 3), ("SESSION", 2)];

/// The window function `expr` calls, with its arguments.
fn window_call(expr: &Expr) -> Option<(&'static str, Vec<Expr>)> {
    WINDOWS.iter().find_map(|&(window, arity)| {
        let args = plain_args(expr, window)?;
        (args.len() == arity).then_some((window, args))
    })
}

fn rewrite_select(select: &mut Select) -> SqlResult<()> {
    let GroupByExpr::Expressions(keys, _) = &mut select.group_by else {
        return Ok(());
    };
    let Some(at) = keys.iter().position(|k| window_call(k).is_some()) else {
        return Ok(());
    };
    let position = Position::spanning(keys[at].span().start, keys[at].span().end);
    let (window, args) = window_call(&keys[at]).expect("a window call");
    let Some(time) = column_name(&args[0]) else {
        return Err(SqlError::at(
            format!("{window} needs a time attribute column as its first argument"),
            position,
        ));
    };
    let [from] = select.from.as_slice() else {
        return Err(SqlError::at(
            format!("GROUP BY {window}(...) needs one table or subquery in FROM, without joins"),
            position,
        ));
    };
    if !from.joins.is_empty() {
        return Err(SqlError::at(
            format!(
                "GROUP BY {window}(...) over a join is not supported: window the join's \
                     result in a subquery"
            ),
            position,
        ));
    }
    let (input, alias) = match &from.relation {
        TableFactor::Table { name, alias, .. } => (
            format!("(SELECT * FROM {name})"),
            alias
                .as_ref()
                .map(|a| a.name.clone())
                .or_else(|| name.0.last().and_then(|p| p.as_ident()).cloned()),
        ),
        TableFactor::Derived {
            subquery, alias, ..
        } => (
            format!("({subquery})"),
            alias.as_ref().map(|a| a.name.clone()),
        ),
        _ => {
            return Err(SqlError::at(
                format!("GROUP BY {window}(...) needs a table or subquery in FROM"),
                position,
            ));
        }
    };
    let others: Vec<&Expr> = keys
        .iter()
        .enumerate()
        .filter_map(|(i, k)| (i != at).then_some(k))
        .collect();
    let mut arguments = vec![input, format!("DESCRIPTOR({time})")];
    arguments.extend(args[1..].iter().map(|a| a.to_string()));
    if window == "SESSION" && !others.is_empty() {
        let columns = others
            .iter()
            .map(|k| {
                column_name(k).map(|c| c.to_string()).ok_or_else(|| {
                    SqlError::at(
                        "the other keys of a SESSION group window must be columns",
                        Position::spanning(k.span().start, k.span().end),
                    )
                })
            })
            .collect::<SqlResult<Vec<_>>>()?;
        arguments.push(format!("{PARTITION_BY_ARGUMENT}({})", columns.join(", ")));
    }
    let alias = alias.map_or(String::new(), |a| format!(" AS {a}"));
    let factor = format!("TABLE({window}({})){alias}", arguments.join(", "));
    let relation = Parser::new(dialect())
        .try_with_sql(&factor)
        .and_then(|mut p| p.parse_table_factor())
        .map_err(|e| SqlError::at(format!("cannot rewrite the group window: {e}"), position))?;
    select.from[0].relation = relation;
    keys.splice(
        at..=at,
        WINDOW_COLUMNS.map(|c| Expr::Identifier(Ident::new(c))),
    );
    // The auxiliary functions, wherever this query uses them.
    let columns = [
        ("_START", "window_start"),
        ("_END", "window_end"),
        ("_ROWTIME", "window_time"),
    ];
    let _ = visit_expressions_mut(select, |expr| {
        if let Expr::Function(f) = expr {
            let name = f.name.to_string().to_ascii_uppercase();
            if let Some((_, column)) = columns.iter().find(|(suffix, _)| {
                name.strip_suffix(suffix)
                    .is_some_and(|w| WINDOWS.iter().any(|(window, _)| *window == w))
            }) {
                *expr = Expr::Identifier(Ident::new(*column));
            }
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{StatementKind, parse_script};

    fn rewritten(sql: &str) -> SqlResult<String> {
        let StatementKind::Sql(statement) = parse_script(sql).unwrap().remove(0).kind else {
            panic!("a query");
        };
        let mut statement = *statement;
        rewrite_group_windows(&mut statement)?;
        Ok(statement.to_string())
    }

    #[test]
    fn group_windows_become_window_functions() {
        let sql = rewritten(
            "SELECT k, TUMBLE_END(ts, INTERVAL '1' MINUTE) AS e, COUNT(*) FROM t \
             GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), k",
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT k, window_end AS e, COUNT(*) FROM \
             TABLE(TUMBLE((SELECT * FROM t), DESCRIPTOR(ts), INTERVAL '1' MINUTE)) AS t \
             GROUP BY window_start, window_end, window_time, k"
        );
        // A session's other keys partition it.
        let sql = rewritten(
            "SELECT SESSION_START(b.ts, INTERVAL '5' SECOND) FROM bids b \
             GROUP BY b.bidder, SESSION(b.ts, INTERVAL '5' SECOND)",
        )
        .unwrap();
        assert!(
            sql.contains("INTERVAL '5' SECOND, PARTITION_BY(bidder))) AS b"),
            "{sql}"
        );
    }

    #[test]
    fn group_windows_over_joins_are_refused() {
        let e = rewritten(
            "SELECT COUNT(*) FROM a JOIN b ON a.k = b.k GROUP BY TUMBLE(a.ts, INTERVAL '1' MINUTE)",
        )
        .unwrap_err();
        assert!(e.message.contains("over a join is not supported"), "{e:?}");
    }
}
