//! Filter and projection evaluated as vectorised expressions over whole batches.

use std::sync::Arc;

use arrow::array::{AsArray, BooleanArray};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion_physical_expr::PhysicalExpr;

use super::Operator;
use crate::batch::{ChangeBatch, Message};
use crate::{EngineError, Result};

/// `WHERE` then `SELECT` expressions of a stateless query step (Flink calls this a Calc).
#[derive(Debug)]
pub struct Calc {
    predicate: Option<Arc<dyn PhysicalExpr>>,
    projection: Option<Vec<Arc<dyn PhysicalExpr>>>,
    schema: SchemaRef,
}

impl Calc {
    /// A calc that keeps rows where `predicate` is true (NULL counts as false) and then
    /// computes `projection` (keeping all columns when `None`), producing `schema`.
    pub fn new(
        predicate: Option<Arc<dyn PhysicalExpr>>,
        projection: Option<Vec<Arc<dyn PhysicalExpr>>>,
        schema: SchemaRef,
    ) -> Self {
        Calc {
            predicate,
            projection,
            schema,
        }
    }

    fn apply(&self, batch: ChangeBatch) -> Result<ChangeBatch> {
        let batch = match &self.predicate {
            Some(predicate) => {
                let mask = predicate
                    .evaluate(&batch.data)?
                    .into_array(batch.num_rows())?;
                let mask: &BooleanArray = mask.as_boolean_opt().ok_or_else(|| {
                    EngineError::Other("filter predicate is not a boolean".into())
                })?;
                if mask.true_count() == batch.num_rows() {
                    batch
                } else {
                    batch.filter(mask)?
                }
            }
            None => batch,
        };
        let Some(projection) = &self.projection else {
            return Ok(batch);
        };
        let columns = projection
            .iter()
            .map(|e| e.evaluate(&batch.data)?.into_array(batch.num_rows()))
            .collect::<datafusion_common::error::Result<Vec<_>>>()?;
        let options =
            arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        let data = RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)?;
        Ok(batch.with_data(data))
    }
}

impl Operator for Calc {
    super::stateless!();

    fn name(&self) -> &str {
        "Calc"
    }

    fn on_batch(
        &mut self,
        _input: usize,
        batch: ChangeBatch,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        let batch = self.apply(batch)?;
        if batch.num_rows() > 0 {
            out.push(Message::Batch(batch));
        }
        Ok(())
    }
}
