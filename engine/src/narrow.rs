//! Expressions evaluated over only the values they read.
//!
//! DataFusion's `CASE` filters its whole input batch for each branch, and a filter copies every
//! column of the rows it keeps, struct columns with all their fields. Nexmark's event table
//! holds three structs of strings, and its computed `dateTime` is a `CASE` over one field of
//! each. So the values expressions read (their *leaves*: columns, and fields of struct
//! columns) are gathered first, without copying, into a narrow batch that the expressions,
//! rewritten to read it, then evaluate and filter.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{Field, Schema};
use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_physical_expr::expressions::{Column, Literal};
use datafusion_physical_expr::{PhysicalExpr, ScalarFunctionExpr};

use crate::Result;
use crate::source::is_volatile;

/// Expressions rewritten to read a batch of their leaves.
#[derive(Debug, Clone)]
pub struct Narrowed {
    /// What the expressions read, each once: columns, and fields of columns (`get_field`).
    leaves: Vec<Arc<dyn PhysicalExpr>>,
    /// The expressions, reading the batch of the leaves, in the order given.
    pub exprs: Vec<Arc<dyn PhysicalExpr>>,
}

impl Narrowed {
    /// `exprs` over the batch of their leaves.
    pub fn new(exprs: impl IntoIterator<Item = Arc<dyn PhysicalExpr>>) -> Result<Self> {
        let mut leaves: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
        let exprs = exprs
            .into_iter()
            .map(|expr| {
                let rewritten = expr.transform_down(|e| {
                    if !is_leaf(e.as_ref()) {
                        return Ok(Transformed::no(e));
                    }
                    let at = match leaves.iter().position(|l| l.as_ref() == e.as_ref()) {
                        Some(at) => at,
                        None => {
                            leaves.push(e);
                            leaves.len() - 1
                        }
                    };
                    let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(&leaf_name(at), at));
                    Ok(Transformed::new(column, true, TreeNodeRecursion::Jump))
                })?;
                Ok(rewritten.data)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Narrowed { leaves, exprs })
    }

    /// Whether an expression may give two values for one row (the clock, random numbers).
    pub fn volatile(&self) -> bool {
        self.exprs.iter().any(is_volatile)
    }

    /// The leaves' values over `batch`'s rows (no values are copied).
    pub fn batch(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let columns = (self.leaves.iter())
            .map(|leaf| Ok(leaf.evaluate(batch)?.into_array(rows)?))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let fields: Vec<Field> = (columns.iter().enumerate())
            .map(|(i, c)| Field::new(leaf_name(i), c.data_type().clone(), true))
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            columns,
            &options,
        )?)
    }
}

fn leaf_name(at: usize) -> String {
    format!("__rill_leaf_{at}")
}

/// A column, or a field of a leaf named by literals (`get_field(column, 'name')`).
fn is_leaf(expr: &dyn PhysicalExpr) -> bool {
    if expr.downcast_ref::<Column>().is_some() {
        return true;
    }
    let Some(function) = expr.downcast_ref::<ScalarFunctionExpr>() else {
        return false;
    };
    match function.args() {
        [of, names @ ..] if function.name() == "get_field" && !names.is_empty() => {
            is_leaf(of.as_ref()) && names.iter().all(|n| n.downcast_ref::<Literal>().is_some())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray, Int64Array, StringArray, StructArray};
    use arrow::datatypes::{DataType, Int64Type};
    use datafusion_common::ScalarValue;
    use datafusion_common::config::ConfigOptions;
    use datafusion_expr::Operator;
    use datafusion_physical_expr::expressions::{BinaryExpr, CaseExpr, lit};

    use super::*;

    #[test]
    fn a_case_over_struct_fields_reads_only_those_fields() {
        // kind, s {a BIGINT, b VARCHAR}, and CASE WHEN kind = 0 THEN s.a ELSE kind END.
        let a = Arc::new(Field::new("a", DataType::Int64, true));
        let b = Arc::new(Field::new("b", DataType::Utf8, true));
        let s = StructArray::from(vec![
            (a, Arc::new(Int64Array::from(vec![10, 20, 30])) as ArrayRef),
            (
                b,
                Arc::new(StringArray::from(vec!["x", "y", "z"])) as ArrayRef,
            ),
        ]);
        let schema = Schema::new(vec![
            Field::new("kind", DataType::Int64, true),
            Field::new("s", s.data_type().clone(), true),
        ]);
        let kind = Arc::new(Int64Array::from(vec![0, 1, 0]));
        let batch =
            RecordBatch::try_new(Arc::new(schema.clone()), vec![kind, Arc::new(s)]).unwrap();
        let kind: Arc<dyn PhysicalExpr> = Arc::new(Column::new("kind", 0));
        let s_a: Arc<dyn PhysicalExpr> = Arc::new(
            ScalarFunctionExpr::try_new(
                datafusion_functions::core::get_field(),
                vec![Arc::new(Column::new("s", 1)), lit(ScalarValue::from("a"))],
                &schema,
                Arc::new(ConfigOptions::default()),
            )
            .unwrap(),
        );
        let is_zero = Arc::new(BinaryExpr::new(kind.clone(), Operator::Eq, lit(0i64)));
        let case: Arc<dyn PhysicalExpr> =
            Arc::new(CaseExpr::try_new(None, vec![(is_zero, s_a)], Some(kind)).unwrap());

        let narrowed = Narrowed::new([case.clone()]).unwrap();
        let read = narrowed.batch(&batch).unwrap();
        // The leaves: kind and s.a, each once; not s.b.
        assert_eq!(read.num_columns(), 2);
        assert_eq!(
            read.column(0).as_primitive::<Int64Type>().values(),
            &[0, 1, 0]
        );
        assert_eq!(
            read.column(1).as_primitive::<Int64Type>().values(),
            &[10, 20, 30]
        );
        let narrow = narrowed.exprs[0]
            .evaluate(&read)
            .unwrap()
            .into_array(3)
            .unwrap();
        let direct = case.evaluate(&batch).unwrap().into_array(3).unwrap();
        assert_eq!(narrow.as_primitive::<Int64Type>().values(), &[10, 1, 30]);
        assert_eq!(narrow.to_data(), direct.to_data());
    }
}
