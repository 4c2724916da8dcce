//! Filter and projection evaluated as vectorised expressions over whole batches.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion_physical_expr::PhysicalExpr;

use super::Operator;
use crate::batch::{ChangeBatch, Message};
use crate::narrow::Narrowed;
use crate::time::{NO_WATERMARK, Watermark};
use crate::{EngineError, Result};

/// `WHERE` then `SELECT` expressions of a stateless query step (Flink calls this a Calc).
#[derive(Debug, Clone)]
pub struct Calc {
    /// The predicate, if any, then the projection's expressions, over the values they read.
    exprs: Narrowed,
    predicate: bool,
    /// Whether the step computes its columns (else it keeps the input's).
    projects: bool,
    schema: SchemaRef,
    /// `CURRENT_WATERMARK(...)`: the expressions read each row's watermark (the one current
    /// before it, NULL before the first) as a last column of this type after the input's.
    watermark_column: Option<DataType>,
    /// The watermark last passed on, for rows without their own.
    watermark: Watermark,
}

impl Calc {
    /// A calc that keeps rows where `predicate` is true (NULL counts as false) and then
    /// computes `projection` (keeping all columns when `None`), producing `schema`.
    pub fn new(
        predicate: Option<Arc<dyn PhysicalExpr>>,
        projection: Option<Vec<Arc<dyn PhysicalExpr>>>,
        schema: SchemaRef,
    ) -> Result<Self> {
        let exprs = predicate.iter().chain(projection.iter().flatten()).cloned();
        Ok(Calc {
            exprs: Narrowed::new(exprs)?,
            predicate: predicate.is_some(),
            projects: projection.is_some(),
            schema,
            watermark_column: None,
            watermark: NO_WATERMARK,
        })
    }

    /// The expressions read each row's watermark as a last column of `data_type` (a
    /// timestamp) after the input's columns.
    pub fn with_watermark_column(mut self, data_type: DataType) -> Self {
        self.watermark_column = Some(data_type);
        self
    }

    /// `batch` with each row's watermark as a last column, if the expressions read it.
    fn with_watermarks(&self, batch: ChangeBatch) -> Result<ChangeBatch> {
        let Some(data_type) = &self.watermark_column else {
            return Ok(batch);
        };
        let rows = batch.num_rows();
        let watermarks: TimestampMillisecondArray = match &batch.watermarks {
            Some(stamps) => stamps
                .iter()
                .map(|w| w.filter(|w| *w != NO_WATERMARK))
                .collect(),
            None => std::iter::repeat_n(
                (self.watermark != NO_WATERMARK).then_some(self.watermark),
                rows,
            )
            .collect(),
        };
        // Watermarks are in the time attribute's own milliseconds: its zone only labels them.
        let zone = match data_type {
            DataType::Timestamp(_, zone) => zone.clone(),
            _ => None,
        };
        let column: ArrayRef = Arc::new(watermarks.with_timezone_opt(zone));
        let schema = batch.data.schema();
        let mut fields = schema.fields().to_vec();
        fields.push(Arc::new(Field::new(
            WATERMARK_COLUMN,
            data_type.clone(),
            true,
        )));
        let mut columns = batch.data.columns().to_vec();
        columns.push(column);
        let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows));
        let data =
            RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &options)?;
        Ok(batch.with_data(data))
    }

    /// Whether a row may give other values when computed twice: an expression reads the
    /// clock or draws random numbers.
    pub(crate) fn volatile(&self) -> bool {
        self.exprs.volatile()
    }

    /// `batch`'s rows that pass the filter, computed.
    pub fn apply(&self, batch: ChangeBatch) -> Result<ChangeBatch> {
        let batch = self.with_watermarks(batch)?;
        // The values the expressions read; a projection filters only those.
        let read = self.exprs.batch(&batch.data)?;
        let (predicate, projection) = self.exprs.exprs.split_at(usize::from(self.predicate));
        let mask = match predicate.first() {
            Some(predicate) => Some(predicate.evaluate(&read)?.into_array(read.num_rows())?),
            None => None,
        };
        let batch = match self.projects {
            true => batch.with_data(read),
            false => batch,
        };
        let batch = match mask {
            Some(mask) => {
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
        if !self.projects {
            if self.watermark_column.is_some() {
                // The rows as they came, without their watermarks.
                let kept: Vec<usize> = (0..batch.data.num_columns() - 1).collect();
                let data = batch.data.project(&kept)?;
                return Ok(batch.with_data(data));
            }
            return Ok(batch);
        }
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
    fn state_bound(&self) -> super::StateBound {
        super::StateBound::None
    }

    fn snapshot(&mut self) -> Result<crate::checkpoint::State> {
        let mut state = crate::checkpoint::State::new();
        if self.watermark_column.is_some() {
            state.put("watermark", &self.watermark)?;
        }
        Ok(state)
    }

    fn restore(&mut self, state: &crate::checkpoint::State) -> Result<()> {
        if self.watermark_column.is_some() {
            self.watermark = state.get("watermark")?;
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "Calc"
    }

    fn fusable(&self) -> Option<Calc> {
        // The rows' watermarks are only known once the source sends them.
        self.watermark_column.is_none().then(|| self.clone())
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

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        self.watermark = watermark;
        out.push(Message::Watermark(watermark));
        Ok(())
    }
}

/// The name of the column of rows' watermarks the expressions of a calc read.
pub const WATERMARK_COLUMN: &str = "__rill_current_watermark";
