//! Watermark assignment at the source: `WATERMARK FOR ts AS expr`.

use std::sync::Arc;

use arrow::array::Int64Array;
use datafusion::physical_expr::PhysicalExpr;

use crate::Result;
use crate::batch::ChangeBatch;
use crate::time::{NO_WATERMARK, Watermark, for_each_millis};

/// Computes a source's watermark row by row: the maximum of the watermark expression over the
/// rows read so far (Flink with `pipeline.auto-watermark-interval = 0`).
#[derive(Debug)]
pub struct WatermarkAssigner {
    expr: Arc<dyn PhysicalExpr>,
    current: Watermark,
}

impl WatermarkAssigner {
    /// An assigner evaluating `expr` (a TIMESTAMP expression over the source's rows).
    pub fn new(expr: Arc<dyn PhysicalExpr>) -> Self {
        WatermarkAssigner {
            expr,
            current: NO_WATERMARK,
        }
    }

    /// The watermark after the rows seen so far.
    pub fn current(&self) -> Watermark {
        self.current
    }

    /// Stamps each row of `batch` with the watermark current before it and advances.
    pub fn assign(&mut self, batch: &mut ChangeBatch) -> Result<()> {
        let candidates = self
            .expr
            .evaluate(&batch.data)?
            .into_array(batch.num_rows())?;
        let mut stamps = Vec::with_capacity(batch.num_rows());
        let mut current = self.current;
        for_each_millis(&candidates, |candidate| {
            stamps.push(current);
            if let Some(c) = candidate {
                current = current.max(c);
            }
        })?;
        self.current = current;
        batch.watermarks = Some(Int64Array::from(stamps));
        Ok(())
    }
}
