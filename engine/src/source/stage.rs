//! The last steps of a source's rows: shaped (change kinds split off, computed columns added,
//! only the query's columns kept), stamped with the watermark, put through the calcs fused into
//! the source (Flink's operator chaining), and sent, followed by the watermark when it
//! advanced.
//!
//! Everything but the watermark is a function of one batch, so when nothing in it reads the
//! clock, draws random numbers or keeps state from batch to batch, decoding threads run it on
//! their own batches, in parallel ([`Stage::in_any_order`]). Each batch then carries the highest
//! watermark candidate of the rows before each row, within the batch; the source, sending the
//! batches in order, raises those stamps to the watermark before the batch.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow::array::RecordBatch;

use super::SourceContext;
use super::shape::{ComputedColumn, RowShape};
use super::watermark::{Candidates, WatermarkAssigner};
use crate::Result;
use crate::batch::{ChangeBatch, Message};
use crate::checkpoint::State;
use crate::metrics::JobMetrics;
use crate::operator::Calc;
use crate::time::{NO_WATERMARK, Watermark};

/// What becomes of a decoded batch before its watermark is known.
#[derive(Debug)]
pub(crate) struct Stage {
    shape: RowShape,
    candidates: Option<Candidates>,
    /// The calcs fused into the source, in order.
    calcs: Vec<Calc>,
    /// Whether batches go through it on the decoding threads ([`Stage::in_any_order`]).
    parallel: bool,
}

/// A batch through a [`Stage`].
#[derive(Debug)]
pub(crate) struct Staged {
    /// Its rows, stamped with the highest candidate of the rows before each in the decoded
    /// batch ([`NO_WATERMARK`] for the first).
    batch: ChangeBatch,
    /// The highest candidate of the decoded batch.
    high: Watermark,
    /// How many rows were decoded.
    decoded: usize,
}

/// A decoded batch, before or after its [`Stage`].
#[derive(Debug)]
pub(crate) enum Rows {
    Decoded(RecordBatch),
    Staged(Box<Staged>),
}

impl Stage {
    /// Whether batches may go through the stage on any thread and in any order: nothing in
    /// it keeps state from batch to batch (a skew correction), reads the clock (`PROCTIME()`,
    /// whose readings must follow the rows' order) or draws random numbers (a seeded `RAND`
    /// draws in row order).
    fn in_any_order(&self) -> bool {
        let mut computed = self.shape.computed.iter().flat_map(|c| &c.columns);
        let columns_free = computed.all(|(_, column)| match column {
            ComputedColumn::Expr(expr) => !expr.volatile(),
            ComputedColumn::SkewCorrected(_) => false,
        });
        columns_free
            && !self.candidates.as_ref().is_some_and(Candidates::volatile)
            && self.calcs.iter().all(|calc| !calc.volatile())
    }

    /// `data` decoded, through the stage if it may run here (on a decoding thread).
    pub(crate) fn early(&self, data: RecordBatch) -> Result<Rows> {
        match self.parallel {
            true => Ok(Rows::Staged(Box::new(self.run(data)?))),
            false => Ok(Rows::Decoded(data)),
        }
    }

    /// Shapes `data`, stamps it and puts it through the fused calcs.
    fn run(&self, data: RecordBatch) -> Result<Staged> {
        let decoded = data.num_rows();
        let mut batch = self.shape.rows(data)?;
        let mut high = NO_WATERMARK;
        if let Some(candidates) = &self.candidates {
            let (stamps, highest) = candidates.stamps(&batch.data)?;
            batch.watermarks = Some(stamps);
            high = highest;
        }
        let mut batch = self.shape.project(batch)?;
        for calc in &self.calcs {
            batch = calc.apply(batch)?;
        }
        Ok(Staged {
            batch,
            high,
            decoded,
        })
    }
}

/// A source's [`Stage`], and the watermark of the rows it sent.
#[derive(Debug)]
pub(crate) struct Emitter {
    /// The source's name, for its watermark in the metrics.
    name: String,
    stage: Arc<Stage>,
    watermarks: Option<WatermarkAssigner>,
    /// The last watermark sent.
    pub(crate) sent_watermark: Watermark,
}

impl Emitter {
    pub(crate) fn new(
        name: impl Into<String>,
        shape: RowShape,
        watermarks: Option<WatermarkAssigner>,
    ) -> Self {
        let mut stage = Stage {
            shape,
            candidates: watermarks.as_ref().map(|w| w.candidates().clone()),
            calcs: Vec::new(),
            parallel: false,
        };
        stage.parallel = stage.in_any_order();
        Emitter {
            name: name.into(),
            stage: Arc::new(stage),
            watermarks,
            sent_watermark: NO_WATERMARK,
        }
    }

    /// The stage, to run on decoding threads ([`Stage::early`]).
    pub(crate) fn stage(&self) -> Arc<Stage> {
        self.stage.clone()
    }

    /// Runs `calc` on the rows after the calcs fused before it. Before the source runs.
    pub(crate) fn fuse(&mut self, calc: Calc) {
        let stage = Arc::get_mut(&mut self.stage).expect("calcs are fused before the source runs");
        stage.calcs.push(calc);
        stage.parallel = stage.in_any_order();
    }

    /// The watermark assigner's watermark (none before any row or without an assigner).
    pub(crate) fn watermark(&self) -> Watermark {
        self.watermarks
            .as_ref()
            .map_or(NO_WATERMARK, |w| w.current())
    }

    /// Puts what the rows' shape keeps from row to row (see [`RowShape::snapshot`]) into a
    /// checkpoint's `state`; the source puts its watermarks with its position.
    pub(crate) fn snapshot(&self, state: &mut State) -> Result<()> {
        self.stage.shape.snapshot(state, "")
    }

    /// Goes on from a checkpoint: its watermarks, and the shape's part of its `state`.
    pub(crate) fn restore(
        &mut self,
        watermark: Watermark,
        sent_watermark: Watermark,
        state: &State,
    ) -> Result<()> {
        if let Some(assigner) = &mut self.watermarks {
            assigner.restore(watermark);
        }
        self.sent_watermark = sent_watermark;
        Arc::get_mut(&mut self.stage)
            .expect("a source is restored before it runs")
            .shape
            .restore(state, "")
    }

    /// Sends decoded rows on, in the order they were read; false when the job stopped.
    pub(crate) fn emit(&mut self, rows: Rows, ctx: &SourceContext) -> Result<bool> {
        let Staged {
            mut batch,
            high,
            decoded,
        } = match rows {
            Rows::Decoded(data) => self.stage.run(data)?,
            Rows::Staged(staged) => *staged,
        };
        JobMetrics::add(&ctx.metrics.rows_in, decoded as u64);
        if let Some(assigner) = &mut self.watermarks {
            assigner.carry(&mut batch, high);
        }
        let mut sent = batch.num_rows() == 0 || ctx.output.blocking_send(Message::Batch(batch));
        let watermark = self.watermark();
        if watermark > self.sent_watermark {
            self.sent_watermark = watermark;
            ctx.metrics.record_source_watermark(&self.name, watermark);
            sent = sent && ctx.output.blocking_send(Message::Watermark(watermark));
        }
        Ok(sent && !ctx.cancelled.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion_expr::Operator as BinaryOp;
    use datafusion_physical_expr::expressions::{BinaryExpr, Column, lit};

    use super::*;

    /// Rows `(v, ts)` with `ts` = `v`'s time in milliseconds.
    fn rows(times: &[i64]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("v", DataType::Int64, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from_iter_values(0..times.len() as i64)),
                Arc::new(TimestampMillisecondArray::from(times.to_vec())),
            ],
        )
        .unwrap()
    }

    /// `WHERE v % 2 = 1`, keeping both columns.
    fn odd_rows(schema: arrow::datatypes::SchemaRef) -> Calc {
        let v = Arc::new(Column::new("v", 0));
        let odd = BinaryExpr::new(
            Arc::new(BinaryExpr::new(v, BinaryOp::Modulo, lit(2i64))),
            BinaryOp::Eq,
            lit(1i64),
        );
        Calc::new(Some(Arc::new(odd)), None, schema).unwrap()
    }

    #[test]
    fn batches_staged_in_any_order_and_carried_in_order_get_the_stamps_of_a_sequential_read() {
        let batches = [
            rows(&[10, 30, 20, 25]),
            rows(&[5, 50]),
            rows(&[40, 60, 45, 70, 1]),
        ];
        let assigner = WatermarkAssigner::delayed(1, 5);
        let calc = odd_rows(batches[0].schema());
        let mut emitter = Emitter::new("t", RowShape::default(), Some(assigner.clone()));
        emitter.fuse(calc.clone());
        let stage = emitter.stage();
        assert!(stage.parallel);
        // Decoding threads finish the batches in any order.
        let mut staged: Vec<Staged> = batches
            .iter()
            .rev()
            .map(|b| stage.run(b.clone()).unwrap())
            .collect();
        staged.reverse();
        let mut carried = assigner.clone();
        let mut sequential = assigner;
        for (batch, staged) in batches.iter().zip(staged) {
            let Staged {
                batch: mut got,
                high,
                decoded,
            } = staged;
            carried.carry(&mut got, high);
            let mut expected = ChangeBatch::inserts(batch.clone());
            sequential.assign(&mut expected).unwrap();
            let expected = calc.apply(expected).unwrap();
            assert_eq!(decoded, batch.num_rows());
            assert_eq!(got.data, expected.data);
            assert_eq!(got.watermarks, expected.watermarks);
            assert_eq!(carried.current(), sequential.current());
        }
        // The last row of the first batch (25) saw the watermark 30 - 5 of the row before
        // it; the second batch's rows start from the first's 25.
        assert_eq!(carried.current(), 65);
    }
}
