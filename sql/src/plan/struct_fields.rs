//! Which columns, and fields of struct columns, a statement reads, so that a JSON source
//! decodes only those, and the nexmark generator builds only those: Nexmark's events hold
//! three structs of strings, and a query reads a few of their fields (`bid.auction`,
//! `bid.price`). Decoding a value is most of the cost of reading it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use datafusion_common::ScalarValue;
use datafusion_common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion_expr::{Expr, LogicalPlan};

use rill_engine::source::ColumnRead;

use crate::catalog::{ComputedDef, TableDef};

/// By column name, the fields a statement reads of a column it reads only through
/// `get_field` with a literal name; `None` for a column read whole; no entry for a column
/// not read. Columns are told apart by
/// name alone, across every table and alias of the statement, so what is read of a column is
/// the union over every column of that name: never less than what is read.
#[derive(Debug, Default)]
pub(crate) struct StructFieldsRead(HashMap<String, Option<BTreeSet<String>>>);

impl StructFieldsRead {
    /// What `plan` (optimised), and the computed columns and watermarks of the tables it
    /// scans, read.
    pub fn of(plan: &LogicalPlan, tables: &BTreeMap<String, TableDef>) -> Self {
        let mut read = StructFieldsRead::default();
        // The statement's result is read whole.
        read.whole(plan.schema().fields().iter().map(|f| f.name()));
        plan.apply_with_subqueries(|node| {
            match node {
                // Nodes whose expressions name every column they read, and that pass
                // columns on by name.
                LogicalPlan::Projection(_)
                | LogicalPlan::Filter(_)
                | LogicalPlan::Aggregate(_)
                | LogicalPlan::Sort(_)
                | LogicalPlan::Join(_)
                | LogicalPlan::Window(_)
                | LogicalPlan::SubqueryAlias(_)
                | LogicalPlan::Limit(_)
                | LogicalPlan::Distinct(_)
                | LogicalPlan::Subquery(_)
                | LogicalPlan::EmptyRelation(_) => {}
                LogicalPlan::TableScan(scan) => {
                    if let Some(table) = tables.get(scan.table_name.table()) {
                        read.table(table);
                    }
                }
                // Others (unions pass columns on by position, extensions may read columns
                // they do not name): their inputs are read whole.
                other => {
                    for input in other.inputs() {
                        read.whole(input.schema().fields().iter().map(|f| f.name()));
                    }
                }
            }
            node.apply_expressions(|e| {
                read.expr(e);
                Ok(TreeNodeRecursion::Continue)
            })
        })
        .expect("the visit does not fail");
        read
    }

    /// What is read of column `name`.
    pub fn column(&self, name: &str) -> ColumnRead {
        match self.0.get(name) {
            None => ColumnRead::Nothing,
            Some(Some(read)) => ColumnRead::Fields(read.iter().cloned().collect()),
            Some(None) => ColumnRead::Whole,
        }
    }

    fn whole<'a>(&mut self, names: impl IntoIterator<Item = &'a String>) {
        for name in names {
            self.0.insert(name.clone(), None);
        }
    }

    fn field(&mut self, column: &str, field: &str) {
        let fields = (self.0.entry(column.to_string())).or_insert_with(|| Some(BTreeSet::new()));
        if let Some(fields) = fields {
            fields.insert(field.to_string());
        }
    }

    fn table(&mut self, table: &TableDef) {
        for (_, computed) in &table.computed {
            match computed {
                ComputedDef::Expr(expr) => self.expr(expr),
                ComputedDef::SkewCorrected(_) => {
                    self.whole(table.physical.fields().iter().map(|f| f.name()))
                }
            }
        }
        if let Some(watermark) = &table.watermark {
            self.expr(&watermark.expr);
        }
    }

    fn expr(&mut self, expr: &Expr) {
        expr.apply(|e| {
            Ok(match e {
                Expr::ScalarFunction(f) if f.func.name() == "get_field" => {
                    match f.args.as_slice() {
                        [Expr::Column(column), Expr::Literal(name, _), ..] => {
                            match literal_text(name) {
                                Some(name) => self.field(&column.name, name),
                                None => self.whole([&column.name]),
                            }
                            TreeNodeRecursion::Jump
                        }
                        _ => TreeNodeRecursion::Continue,
                    }
                }
                Expr::Column(column) | Expr::OuterReferenceColumn(_, column) => {
                    self.whole([&column.name]);
                    TreeNodeRecursion::Continue
                }
                _ => TreeNodeRecursion::Continue,
            })
        })
        .expect("the visit does not fail");
    }
}

fn literal_text(value: &ScalarValue) -> Option<&str> {
    match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => Some(s),
        ScalarValue::LargeUtf8(Some(s)) => Some(s),
        _ => None,
    }
}
