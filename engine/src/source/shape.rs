//! What every source does to the rows it decoded before sending them on: change kinds split
//! off, computed columns added, and, after watermarks are assigned, only the columns the
//! query uses kept.

use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{Int8Type, SchemaRef};
use datafusion_physical_expr::PhysicalExpr;

use crate::Result;
use crate::batch::ChangeBatch;

/// How a source's decoded rows become the rows it sends.
#[derive(Debug, Default)]
pub struct RowShape {
    /// Decoded rows carry their change kind in a last column.
    pub changelog: bool,
    /// The table's computed columns, added before watermarks are assigned.
    pub computed: Option<Computed>,
    /// Which columns the query uses (all when `None`), of the table with its computed columns.
    pub projection: Option<Vec<usize>>,
}

impl RowShape {
    /// Decoded rows (the stored columns, then the change kind for change events) as a change
    /// batch of all the table's columns.
    pub fn rows(&self, data: RecordBatch) -> Result<ChangeBatch> {
        let batch = match self.changelog {
            true => {
                let kinds = data.num_columns() - 1;
                ChangeBatch {
                    ops: Some(data.column(kinds).as_primitive::<Int8Type>().clone()),
                    data: data.project(&(0..kinds).collect::<Vec<_>>())?,
                    watermarks: None,
                }
            }
            false => ChangeBatch::inserts(data),
        };
        match &self.computed {
            Some(computed) => {
                let data = computed.add(&batch.data)?;
                Ok(batch.with_data(data))
            }
            None => Ok(batch),
        }
    }

    /// `batch` with only the columns the query uses.
    pub fn project(&self, batch: ChangeBatch) -> Result<ChangeBatch> {
        match &self.projection {
            Some(projection) => {
                let data = batch.data.project(projection)?;
                Ok(batch.with_data(data))
            }
            None => Ok(batch),
        }
    }
}

/// A table's computed columns (`name AS expr` in its DDL).
#[derive(Debug)]
pub struct Computed {
    /// All the table's columns.
    pub schema: SchemaRef,
    /// Each computed column's place in `schema` and its expression over the stored columns.
    pub columns: Vec<(usize, Arc<dyn PhysicalExpr>)>,
}

impl Computed {
    /// The rows of `stored` (the stored columns) with the computed columns in their places.
    fn add(&self, stored: &RecordBatch) -> Result<RecordBatch> {
        let mut stored_columns = stored.columns().iter();
        let mut computed = self.columns.iter().peekable();
        let mut columns = Vec::with_capacity(self.schema.fields().len());
        for i in 0..self.schema.fields().len() {
            match computed.next_if(|(at, _)| *at == i) {
                Some((_, expr)) => {
                    let value = expr.evaluate(stored)?.into_array(stored.num_rows())?;
                    columns.push(arrow::compute::cast(
                        &value,
                        self.schema.field(i).data_type(),
                    )?);
                }
                None => columns.push(stored_columns.next().expect("a stored column").clone()),
            }
        }
        let options = RecordBatchOptions::new().with_row_count(Some(stored.num_rows()));
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &options,
        )?)
    }
}
