//! Watermark assignment at the source: `WATERMARK FOR ts AS expr`.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use datafusion_common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion_physical_expr::PhysicalExpr;

use crate::batch::ChangeBatch;
use crate::time::{NO_WATERMARK, Watermark, for_each_millis};
use crate::{EngineError, Result};

/// Computes a source's watermark row by row: the maximum of the watermark expression over the
/// rows read so far (Flink with `pipeline.auto-watermark-interval = 0`).
#[derive(Debug, Clone)]
pub struct WatermarkAssigner {
    candidates: Candidates,
    current: Watermark,
}

/// How a row's watermark candidate is computed.
#[derive(Debug, Clone)]
pub(crate) enum Candidates {
    /// Any TIMESTAMP expression over the row, whose event time is column `rowtime`.
    Expr {
        expr: Arc<dyn PhysicalExpr>,
        rowtime: usize,
    },
    /// `column - INTERVAL ...`, the common bounded delay, in integer arithmetic.
    Delay { column: usize, millis: i64 },
}

impl Candidates {
    /// Each row of `data` stamped with the highest candidate of the rows before it in `data`
    /// ([`NO_WATERMARK`] for the first), and the highest of all: what the batch adds to the
    /// watermark, whatever came before it. A row without event time is an error, as in Flink.
    pub(crate) fn stamps(&self, data: &RecordBatch) -> Result<(Int64Array, Watermark)> {
        let rowtime = match self {
            Candidates::Expr { rowtime, .. } => *rowtime,
            Candidates::Delay { column, .. } => *column,
        };
        if data.column(rowtime).null_count() > 0 {
            return Err(EngineError::Other(format!(
                "a row's event time {} is NULL (Flink stops the job too: \"RowTime field should \
                 not be null\"); to keep such rows, put the watermark on a computed column, \
                 e.g. `t AS COALESCE({0}, TIMESTAMP '1970-01-01 00:00:00')`",
                data.schema().field(rowtime).name()
            )));
        }
        let (candidates, delay) = match self {
            Candidates::Expr { expr, .. } => (expr.evaluate(data)?.into_array(data.num_rows())?, 0),
            Candidates::Delay { column, millis } => (data.column(*column).clone(), *millis),
        };
        let mut stamps = Vec::with_capacity(data.num_rows());
        let mut high = NO_WATERMARK;
        for_each_millis(&candidates, |candidate| {
            stamps.push(high);
            if let Some(c) = candidate {
                high = high.max(c - delay);
            }
        })?;
        Ok((Int64Array::from(stamps), high))
    }

    /// Whether the candidate may differ between two computations of one row (it reads the
    /// clock).
    pub(crate) fn volatile(&self) -> bool {
        match self {
            Candidates::Expr { expr, .. } => is_volatile(expr),
            Candidates::Delay { .. } => false,
        }
    }
}

impl WatermarkAssigner {
    /// An assigner evaluating `expr` (a TIMESTAMP expression over the source's rows, whose
    /// event time is column `rowtime`).
    pub fn new(rowtime: usize, expr: Arc<dyn PhysicalExpr>) -> Self {
        WatermarkAssigner {
            candidates: Candidates::Expr { expr, rowtime },
            current: NO_WATERMARK,
        }
    }

    /// An assigner for `column - delay` (a TIMESTAMP column, the delay in milliseconds).
    pub fn delayed(column: usize, millis: i64) -> Self {
        WatermarkAssigner {
            candidates: Candidates::Delay { column, millis },
            current: NO_WATERMARK,
        }
    }

    /// How the assigner computes each row's candidate.
    pub(crate) fn candidates(&self) -> &Candidates {
        &self.candidates
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
        let (stamps, high) = self.candidates.stamps(&batch.data)?;
        batch.watermarks = Some(stamps);
        self.carry(batch, high);
        Ok(())
    }

    /// Goes on over `batch`, whose stamps are [`Candidates::stamps`] of the rows it was made
    /// from (a calc may have dropped some since), and whose highest candidate was `high`:
    /// each stamp becomes the watermark current before its row.
    pub(crate) fn carry(&mut self, batch: &mut ChangeBatch, high: Watermark) {
        let current = self.current;
        if let Some(stamps) = batch.watermarks.take() {
            batch.watermarks = Some(if current == NO_WATERMARK {
                stamps
            } else {
                arrow::compute::kernels::arity::unary(&stamps, |s: i64| s.max(current))
            });
        }
        self.current = current.max(high);
    }
}

/// Whether `expr` may give two values for one row: it calls a volatile function (the clock,
/// random numbers).
pub(crate) fn is_volatile(expr: &Arc<dyn PhysicalExpr>) -> bool {
    let mut volatile = false;
    expr.apply(|e| {
        volatile = e.is_volatile_node();
        Ok(match volatile {
            true => TreeNodeRecursion::Stop,
            false => TreeNodeRecursion::Continue,
        })
    })
    .expect("the visit does not fail");
    volatile
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
        let rows = [Some(5), Some(3), Some(1), Some(9), Some(7)];
        let mut whole = WatermarkAssigner::new(0, Arc::new(Column::new("ts", 0)));
        let expected = vec![NO_WATERMARK, 5, 5, 5, 9];
        assert_eq!(stamps(&mut whole, &rows), expected);
        assert_eq!(whole.current(), 9);
        let mut delayed = WatermarkAssigner::delayed(0, 2);
        assert_eq!(stamps(&mut delayed, &rows), vec![NO_WATERMARK, 3, 3, 3, 7]);
        // The same rows in other batch sizes get the same stamps.
        for size in [1, 2, 3] {
            let mut split = WatermarkAssigner::new(0, Arc::new(Column::new("ts", 0)));
            let got: Vec<i64> = rows
                .chunks(size)
                .flat_map(|c| stamps(&mut split, c))
                .collect();
            assert_eq!(got, expected, "batch size {size}");
        }
    }

    #[test]
    fn a_row_without_event_time_is_an_error() {
        let rows = [Some(5), None];
        for mut assigner in [
            WatermarkAssigner::new(0, Arc::new(Column::new("ts", 0))),
            WatermarkAssigner::delayed(0, 2),
        ] {
            let err = assigner.assign(&mut batch(&rows)).unwrap_err().to_string();
            assert!(err.contains("a row's event time ts is NULL"), "{err}");
            assert_eq!(assigner.current(), NO_WATERMARK);
        }
    }
}
