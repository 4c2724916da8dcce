//! Deep SQL, made plannable or refused with a clear error. Parsers and planners walk
//! statements by recursion, and DataFusion types a chain of operators in time quadratic in
//! its length, so:
//!
//! * parentheses and `CASE` nested deeper than [`MAX_NESTING`] are refused before parsing,
//!   pointing at the level too many (sqlparser's own limit reports some of them as other
//!   errors);
//! * so are `CASE`, `CAST`, `SUBSTRING`, subqueries and the other forms led by a keyword
//!   nested deeper than [`MAX_FORMS`]: when such a form fails to parse, sqlparser parses it
//!   again another way (a function call, a nested join), so a failure inside many of them
//!   takes time exponential in their depth (37 levels of `CAST (` took hours);
//! * a chain of `AND` or `OR` (a long generated filter) is rebalanced into a tree of
//!   logarithmic depth, which changes no result (both are associative in SQL's
//!   three-valued logic);
//! * any other expression deeper than [`MAX_DEPTH`] (`a + a + ... + a`) is refused.

use std::ops::ControlFlow;

use datafusion_sql::sqlparser::ast::{
    BinaryOperator, Expr, Spanned, Statement, VisitMut, VisitorMut,
};
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::{Position, SqlError, SqlResult};

/// The most levels of parentheses and `CASE` a statement may nest.
pub const MAX_NESTING: usize = 256;

/// The most levels of forms led by a keyword (`CASE`, `CAST (`, ...) a statement may nest.
pub const MAX_FORMS: usize = 16;

/// The deepest expression planned (operators applied to operators' results).
pub const MAX_DEPTH: usize = 1000;

/// Keywords whose form sqlparser parses again as a function call when it fails.
const FORMS: &[Keyword] = &[
    Keyword::ARRAY,
    Keyword::CAST,
    Keyword::CEIL,
    Keyword::CONVERT,
    Keyword::EXISTS,
    Keyword::EXTRACT,
    Keyword::FLOOR,
    Keyword::MAP,
    Keyword::OVERLAY,
    Keyword::POSITION,
    Keyword::SAFE_CAST,
    Keyword::STRUCT,
    Keyword::SUBSTR,
    Keyword::SUBSTRING,
    Keyword::TRIM,
    Keyword::TRY_CAST,
    Keyword::TRY_CONVERT,
];

/// Refuses `tokens` that nest parentheses or `CASE` deeper than [`MAX_NESTING`], or forms
/// sqlparser may parse twice (led by a keyword, subqueries, tables in parentheses) deeper
/// than [`MAX_FORMS`].
pub fn check_nesting(tokens: &[TokenWithSpan]) -> SqlResult<()> {
    // Per open level, whether it is such a form; `forms` counts them.
    let mut open: Vec<bool> = Vec::new();
    let mut forms = 0usize;
    // `INTERVAL INTERVAL ...`: each takes the next as its value, and backtracks the same way.
    let mut intervals = 0usize;
    let mut previous: Option<&Token> = None;
    let is_form =
        |t: Option<&Token>| matches!(t, Some(Token::Word(w)) if FORMS.contains(&w.keyword));
    for token in tokens {
        let opens_form = match &token.token {
            Token::Whitespace(_) => continue,
            Token::LParen | Token::LBracket => {
                // A table in parentheses (`FROM (`, `JOIN (`) is tried as a derived table,
                // then as a nested join; parentheses right inside a form are part of it.
                let form = is_form(previous)
                    || matches!(previous, Some(Token::Word(w))
                        if matches!(w.keyword, Keyword::FROM | Keyword::JOIN))
                    || (previous == Some(&Token::LParen) && open.last() == Some(&true));
                open.push(form);
                form
            }
            Token::Word(w) if w.keyword == Keyword::CASE => {
                open.push(true);
                true
            }
            Token::RParen | Token::RBracket => {
                forms -= usize::from(open.pop() == Some(true));
                false
            }
            Token::Word(w) if w.keyword == Keyword::END => {
                forms -= usize::from(open.pop() == Some(true));
                false
            }
            // A subquery: sqlparser tries a derived table, then a nested join.
            Token::Word(w)
                if matches!(w.keyword, Keyword::SELECT | Keyword::WITH | Keyword::VALUES)
                    && previous == Some(&Token::LParen)
                    && open.last() == Some(&false) =>
            {
                *open.last_mut().expect("an open level") = true;
                true
            }
            _ => false,
        };
        forms += usize::from(opens_form);
        intervals = match &token.token {
            Token::Word(w) if w.keyword == Keyword::INTERVAL => intervals + 1,
            _ => 0,
        };
        previous = Some(&token.token);
        let too_deep = if open.len() > MAX_NESTING {
            format!(
                "the statement is nested too deeply: more than {MAX_NESTING} levels of \
                 parentheses, subqueries or CASE"
            )
        } else if forms.max(intervals) > MAX_FORMS {
            format!(
                "the statement is nested too deeply: more than {MAX_FORMS} levels of CASE, \
                 CAST, subqueries and the like"
            )
        } else {
            continue;
        };
        return Err(SqlError::at(
            too_deep,
            Position::spanning(token.span.start, token.span.end),
        ));
    }
    Ok(())
}

/// Rebalances `AND`/`OR` chains and refuses expressions deeper than [`MAX_DEPTH`].
pub fn flatten_deep_expressions(statement: &mut Statement) -> SqlResult<()> {
    let mut visitor = Depth {
        depth: 0,
        too_deep: None,
    };
    let _ = statement.visit(&mut visitor);
    match visitor.too_deep {
        None => Ok(()),
        Some(position) => Err(SqlError::at(
            format!(
                "the expression is too deep: more than {MAX_DEPTH} operators applied to each \
                 other's results"
            ),
            position,
        )
        .with_hint("a long list of alternatives reads better as `x IN (a, b, ...)`")),
    }
}

struct Depth {
    depth: usize,
    too_deep: Option<Option<Position>>,
}

impl VisitorMut for Depth {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        rebalance(expr);
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let span = expr.span();
            self.too_deep = Some(Position::spanning(span.start, span.start));
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _expr: &mut Expr) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

/// Turns a chain of one associative operator (`AND`, `OR`) into a balanced tree of the same
/// operands in the same order.
fn rebalance(expr: &mut Expr) {
    let Expr::BinaryOp { op, .. } = expr else {
        return;
    };
    if !matches!(op, BinaryOperator::And | BinaryOperator::Or) {
        return;
    }
    let op = op.clone();
    let mut operands = Vec::new();
    // Without recursion: the chain may be far deeper than the stack allows.
    let mut pending = vec![std::mem::replace(
        expr,
        Expr::value(datafusion_sql::sqlparser::ast::Value::Null),
    )];
    while let Some(next) = pending.pop() {
        match next {
            Expr::BinaryOp { left, op: o, right } if o == op => {
                pending.push(*right);
                pending.push(*left);
            }
            other => operands.push(other),
        }
    }
    *expr = balanced(operands, &op);
}

/// A tree of depth log2(n) over `operands`, in order.
fn balanced(mut operands: Vec<Expr>, op: &BinaryOperator) -> Expr {
    if operands.len() == 1 {
        return operands.pop().expect("one operand");
    }
    let right = operands.split_off(operands.len() / 2);
    Expr::BinaryOp {
        left: Box::new(balanced(operands, op)),
        op: op.clone(),
        right: Box::new(balanced(right, op)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse_script;

    fn depth(expr: &Expr) -> usize {
        match expr {
            Expr::BinaryOp { left, right, .. } => 1 + depth(left).max(depth(right)),
            _ => 0,
        }
    }

    /// The `WHERE` condition of a parsed `SELECT`.
    fn condition(sql: &str) -> Expr {
        use datafusion_sql::sqlparser::ast::SetExpr;
        let statement = parse_script(sql).unwrap().remove(0);
        let crate::parser::StatementKind::Sql(statement) = statement.kind else {
            panic!("a query")
        };
        let Statement::Query(query) = *statement else {
            panic!("a query")
        };
        let SetExpr::Select(select) = *query.body else {
            panic!("a SELECT")
        };
        select.selection.expect("a WHERE clause")
    }

    #[test]
    fn and_or_chains_are_balanced_in_order() {
        let terms: Vec<String> = (0..1000).map(|i| format!("x = {i}")).collect();
        let sql = format!("SELECT * FROM t WHERE {}", terms.join(" AND "));
        let expr = condition(&sql);
        assert_eq!(depth(&expr), 11);
        // The same operands in the same order (sqlparser prints no parentheses of its own).
        assert_eq!(expr.to_string(), terms.join(" AND "));
        // A mixed chain keeps its grouping: AND binds tighter than OR.
        let expr = condition("SELECT * FROM t WHERE a OR b AND c OR d OR e OR f");
        let Expr::BinaryOp { left, op, right } = &expr else {
            panic!("{expr:?}")
        };
        assert_eq!(*op, BinaryOperator::Or);
        assert_eq!(
            (left.to_string(), right.to_string()),
            ("a OR b AND c".into(), "d OR e OR f".into())
        );
    }

    #[test]
    fn too_deep_is_refused_at_the_spot() {
        let sql = format!("SELECT {}", vec!["x"; MAX_DEPTH + 2].join(" + "));
        let e = parse_script(&sql).unwrap_err();
        assert!(
            e.message.starts_with("the expression is too deep"),
            "{}",
            e.message
        );
        let sql = format!(
            "SELECT {}1{}",
            "(".repeat(MAX_NESTING + 1),
            ")".repeat(MAX_NESTING + 1)
        );
        let e = parse_script(&sql).unwrap_err();
        assert!(
            e.message.starts_with("the statement is nested too deeply"),
            "{}",
            e.message
        );
        assert_eq!(e.position.map(|p| p.column), Some(8 + MAX_NESTING as u64));
        // Within the limits, both parse.
        let sql = format!("SELECT {}", vec!["x"; MAX_DEPTH / 2].join(" + "));
        assert!(parse_script(&sql).is_ok());
        let sql = format!(
            "SELECT {}1{}",
            "(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        assert!(parse_script(&sql).is_ok());
    }

    #[test]
    fn forms_led_by_a_keyword_nest_at_most_max_forms_deep() {
        let casts = |n| format!("SELECT {}x{}", "CAST ( ".repeat(n), " AS INT)".repeat(n));
        assert!(parse_script(&casts(MAX_FORMS)).is_ok());
        let e = parse_script(&casts(MAX_FORMS + 1)).unwrap_err();
        assert!(
            e.message.contains("more than 16 levels of CASE, CAST"),
            "{}",
            e.message
        );
        let subqueries = |n| {
            let open = "(SELECT * FROM ".repeat(n);
            format!("SELECT * FROM {open}t{}", ")".repeat(n))
        };
        assert!(parse_script(&subqueries(MAX_FORMS)).is_ok());
        assert!(parse_script(&subqueries(MAX_FORMS + 1)).is_err());
        // Parentheses that are not a form's do not count.
        let calls = format!("SELECT {}x{}", "ABS(".repeat(100), ")".repeat(100));
        assert!(parse_script(&calls).is_ok());
        // A failure inside many forms ends at once (it took time exponential in their depth).
        let started = std::time::Instant::now();
        for unclosed in [
            format!("SELECT {}x", "SUBSTRING(CASE WHEN ".repeat(200)),
            format!("SELECT {}x FROM t", "CAST ( ".repeat(40)),
            format!("SELECT c FROM {} u", "( ( SELECT FROM ".repeat(30)),
            format!("SELECT ts - {}'5' SECOND ( AND ts", "INTERVAL ".repeat(40)),
            format!("SELECT c FROM {} ts", "( ( FROM ".repeat(40)),
        ] {
            assert!(parse_script(&unclosed).is_err());
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
