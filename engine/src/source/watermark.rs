//! Watermark assignment at the source: `WATERMARK FOR ts AS expr`.

use std::sync::Arc;

use arrow::array::Int64Array;
use datafusion_physical_expr::PhysicalExpr;

use crate::Result;
use crate::batch::ChangeBatch;
use crate::time::{NO_WATERMARK, Watermark, for_each_millis};

/// Computes a source's watermark row by row: the maximum of the watermark expression over the
/// rows read so far (Flink with `pipeline.auto-watermark-interval = 0`).
#[derive(Debug, Clone)]
pub struct WatermarkAssigner {
    strategy: Strategy,
    current: Watermark,
}

/// How a row's watermark candidate is computed.
#[derive(Debug, Clone)]
enum Strategy {
    /// Any TIMESTAMP expression over the row.
    Expr(Arc<dyn PhysicalExpr>),
    /// `column - INTERVAL ...`, the common bounded delay, in integer arithmetic.
    Delay { column: usize, millis: i64 },
}

impl WatermarkAssigner {
    /// An assigner evaluating `expr` (a TIMESTAMP expression over the source's rows).
    pub fn new(expr: Arc<dyn PhysicalExpr>) -> Self {
        WatermarkAssigner {
            strategy: Strategy::Expr(expr),
            current: NO_WATERMARK,
        }
    }

    /// An assigner for `column - delay` (a TIMESTAMP column, the delay in milliseconds).
    pub fn delayed(column: usize, millis: i64) -> Self {
        WatermarkAssigner {
            strategy: Strategy::Delay { column, millis },
            current: NO_WATERMARK,
        }
    }

    /// The watermark after the rows seen so far.
    pub fn current(&self) -> Watermark {
        self.current
    }

    /// Goes on from `watermark` (a restored source's).
    pub fn restore(&mut self, watermark: Watermark) {
        self.current = watermark;
    }

    /// Stamps each row of `batch` with the watermark current before it and advances.
    pub fn assign(&mut self, batch: &mut ChangeBatch) -> Result<()> {
        let (candidates, delay) = match &self.strategy {
            Strategy::Expr(expr) => (expr.evaluate(&batch.data)?.into_array(batch.num_rows())?, 0),
            Strategy::Delay { column, millis } => (batch.data.column(*column).clone(), *millis),
        };
        let mut stamps = Vec::with_capacity(batch.num_rows());
        let mut current = self.current;
        for_each_millis(&candidates, |candidate| {
            stamps.push(current);
            if let Some(c) = candidate {
                current = current.max(c - delay);
            }
        })?;
        self.current = current;
        batch.watermarks = Some(Int64Array::from(stamps));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
    use datafusion_physical_expr::expressions::Column;

    use super::*;

    fn batch(times: &[Option<i64>]) -> ChangeBatch {
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(times.to_vec()));
        ChangeBatch::inserts(RecordBatch::try_from_iter([("ts", ts)]).unwrap())
    }

    fn stamps(assigner: &mut WatermarkAssigner, times: &[Option<i64>]) -> Vec<i64> {
        let mut b = batch(times);
        assigner.assign(&mut b).unwrap();
        b.watermarks.unwrap().values().to_vec()
    }

    #[test]
    fn each_row_sees_the_watermark_of_the_rows_before_it() {
        let rows = [Some(5), Some(3), None, Some(9), Some(7)];
        let mut whole = WatermarkAssigner::new(Arc::new(Column::new("ts", 0)));
        let expected = vec![NO_WATERMARK, 5, 5, 5, 9];
        assert_eq!(stamps(&mut whole, &rows), expected);
        assert_eq!(whole.current(), 9);
        let mut delayed = WatermarkAssigner::delayed(0, 2);
        assert_eq!(stamps(&mut delayed, &rows), vec![NO_WATERMARK, 3, 3, 3, 7]);
        // The same rows in other batch sizes get the same stamps.
        for size in [1, 2, 3] {
            let mut split = WatermarkAssigner::new(Arc::new(Column::new("ts", 0)));
            let got: Vec<i64> = rows
                .chunks(size)
                .flat_map(|c| stamps(&mut split, c))
                .collect();
            assert_eq!(got, expected, "batch size {size}");
        }
    }
}
