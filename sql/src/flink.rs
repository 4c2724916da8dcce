//! Flink SQL functions that DataFusion spells differently, rewritten in the statement before
//! planning so that Flink queries run unchanged.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Statement,
    visit_expressions_mut,
};

/// Rewrites Flink-only function calls into DataFusion expressions: `MOD(a, b)` -> `a % b`.
pub fn rewrite_functions(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Some([a, b]) = call_args::<2>(expr, "MOD") {
            *expr = Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(a))),
                op: BinaryOperator::Modulo,
                right: Box::new(Expr::Nested(Box::new(b))),
            }));
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The `N` plain arguments of a call of function `name`, if `expr` is one.
fn call_args<const N: usize>(expr: &Expr, name: &str) -> Option<[Expr; N]> {
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
    args.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{StatementKind, parse_script};

    #[test]
    fn mod_becomes_modulo() {
        let mut parsed = parse_script("SELECT MOD(a + 1, 7) FROM t").unwrap();
        let StatementKind::Sql(statement) = &mut parsed[0].kind else {
            panic!()
        };
        rewrite_functions(statement);
        assert_eq!(statement.to_string(), "SELECT ((a + 1) % (7)) FROM t");
    }
}
