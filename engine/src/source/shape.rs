//! What every source does to the rows it decoded before sending them on: change kinds split
//! off, computed columns added, and, after watermarks are assigned, only the columns the
//! query uses kept.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions, StructArray, new_null_array,
};
use arrow::datatypes::{DataType, Field, Fields, Int8Type, Schema, SchemaRef};
use datafusion_physical_expr::PhysicalExpr;

use super::skew::SkewCorrection;
use crate::Result;
use crate::batch::ChangeBatch;
use crate::checkpoint::State;
use crate::narrow::Narrowed;

/// How a source's decoded rows become the rows it sends.
#[derive(Debug, Default)]
pub struct RowShape {
    /// Decoded rows carry their change kind in a last column.
    pub changelog: bool,
    /// The table's computed columns, added before watermarks are assigned.
    pub computed: Option<Computed>,
    /// Which columns the query uses (all when `None`), of the table with its computed columns.
    pub projection: Option<Vec<usize>>,
    /// The stored columns, when rows are decoded with only the columns, and fields of struct
    /// columns, the query reads: the others are added back as NULLs, which nothing reads.
    pub stored: Option<SchemaRef>,
}

impl RowShape {
    /// Decoded rows (the stored columns, then the change kind for change events) as a change
    /// batch of all the table's columns.
    pub fn rows(&self, data: RecordBatch) -> Result<ChangeBatch> {
        let data = match &self.stored {
            Some(stored) => widen(data, stored)?,
            None => data,
        };
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

    /// The same shape for another part of a source's rows (a Kafka partition), with state of
    /// its own.
    pub fn for_part(&self) -> Result<RowShape> {
        Ok(RowShape {
            changelog: self.changelog,
            computed: self.computed.as_ref().map(Computed::fresh).transpose()?,
            projection: self.projection.clone(),
            stored: self.stored.clone(),
        })
    }

    /// What the computed columns keep from row to row (a skew correction's estimates), for
    /// a checkpoint, under names starting with `prefix`.
    pub fn snapshot(&self, state: &mut State, prefix: &str) -> Result<()> {
        match &self.computed {
            Some(computed) => computed.snapshot(state, prefix),
            None => Ok(()),
        }
    }

    /// Takes back the state of [`RowShape::snapshot`].
    pub fn restore(&mut self, state: &State, prefix: &str) -> Result<()> {
        match &mut self.computed {
            Some(computed) => computed.restore(state, prefix),
            None => Ok(()),
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

/// What a statement reads of a stored column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnRead {
    Nothing,
    Whole,
    /// These fields of a struct column.
    Fields(Vec<String>),
}

/// The columns of `schema` a decoder needs when nothing else is read of the rows, as `read`
/// tells: without the columns nothing reads, and with only the fields of struct columns
/// that are read (a column read whole, or whose fields `read` does not name, whole). All
/// columns if nothing is read at all, so that rows are still counted.
pub fn columns_read(schema: &SchemaRef, read: impl Fn(&str) -> ColumnRead) -> SchemaRef {
    let reads: Vec<ColumnRead> = schema.fields().iter().map(|f| read(f.name())).collect();
    let none = reads.iter().all(|r| *r == ColumnRead::Nothing);
    let fields: Vec<Field> = (schema.fields().iter().zip(reads))
        .filter(|(_, read)| none || *read != ColumnRead::Nothing)
        .map(|(field, read)| match (field.data_type(), read) {
            (DataType::Struct(children), ColumnRead::Fields(names)) => {
                let kept: Fields = (children.iter())
                    .filter(|c| names.iter().any(|n| n == c.name()))
                    .cloned()
                    .collect();
                match kept.is_empty() {
                    true => field.as_ref().clone(),
                    false => field
                        .as_ref()
                        .clone()
                        .with_data_type(DataType::Struct(kept)),
                }
            }
            _ => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Rows of `stored`'s columns from `data`, which may lack columns and fields of struct
/// columns ([`columns_read`]): those are added back as NULLs.
fn widen(data: RecordBatch, stored: &SchemaRef) -> Result<RecordBatch> {
    let rows = data.num_rows();
    let columns = (stored.fields().iter())
        .map(|field| {
            let Some(column) = data.column_by_name(field.name()) else {
                return Ok(new_null_array(field.data_type(), rows));
            };
            match field.data_type() {
                DataType::Struct(all) if column.data_type() != field.data_type() => {
                    let read = column.as_struct();
                    let children = (all.iter())
                        .map(|child| match read.column_by_name(child.name()) {
                            Some(values) => values.clone(),
                            None => new_null_array(child.data_type(), rows),
                        })
                        .collect();
                    let nulls = read.nulls().cloned();
                    Ok(Arc::new(StructArray::try_new(all.clone(), children, nulls)?) as ArrayRef)
                }
                _ => Ok(column.clone()),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        stored.clone(),
        columns,
        &options,
    )?)
}

/// A table's computed columns (`name AS expr` in its DDL).
#[derive(Debug)]
pub struct Computed {
    /// All the table's columns.
    pub schema: SchemaRef,
    /// Each computed column's place in `schema` and how it is computed from the stored
    /// columns.
    pub columns: Vec<(usize, ComputedColumn)>,
}

/// How a computed column is computed.
#[derive(Debug)]
pub enum ComputedColumn {
    /// An expression over each row's stored columns (the values it reads).
    Expr(Narrowed),
    /// An event time corrected for its device's clock skew, from the rows before it too
    /// (locked while it corrects a batch: rows go through it one batch at a time, in order).
    SkewCorrected(Mutex<SkewCorrection>),
}

impl ComputedColumn {
    /// The column `expr` computes from each row's stored columns.
    pub fn expr(expr: Arc<dyn PhysicalExpr>) -> Result<Self> {
        Ok(ComputedColumn::Expr(Narrowed::new([expr])?))
    }

    /// The event time `skew` corrects.
    pub fn skew_corrected(skew: SkewCorrection) -> Self {
        ComputedColumn::SkewCorrected(Mutex::new(skew))
    }
}

impl Computed {
    /// The rows of `stored` (the stored columns) with the computed columns in their places.
    fn add(&self, stored: &RecordBatch) -> Result<RecordBatch> {
        let mut stored_columns = stored.columns().iter();
        let mut computed = self.columns.iter().peekable();
        let mut columns = Vec::with_capacity(self.schema.fields().len());
        for i in 0..self.schema.fields().len() {
            match computed.next_if(|(at, _)| *at == i) {
                Some((_, column)) => {
                    let value = match column {
                        ComputedColumn::Expr(expr) => {
                            let read = expr.batch(stored)?;
                            expr.exprs[0].evaluate(&read)?.into_array(read.num_rows())?
                        }
                        ComputedColumn::SkewCorrected(skew) => lock(skew).correct(stored)?,
                    };
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

    /// The same columns, with no state yet.
    fn fresh(&self) -> Result<Computed> {
        let columns = (self.columns.iter())
            .map(|(at, column)| {
                Ok((
                    *at,
                    match column {
                        ComputedColumn::Expr(expr) => ComputedColumn::Expr(expr.clone()),
                        ComputedColumn::SkewCorrected(skew) => {
                            ComputedColumn::skew_corrected(lock(skew).fresh()?)
                        }
                    },
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Computed {
            schema: self.schema.clone(),
            columns,
        })
    }

    /// The computed columns' state (the skew corrections'), for a checkpoint.
    fn snapshot(&self, state: &mut State, prefix: &str) -> Result<()> {
        for (at, column) in &self.columns {
            if let ComputedColumn::SkewCorrected(skew) = column {
                lock(skew).snapshot(state, &format!("{prefix}skew-{at}"))?;
            }
        }
        Ok(())
    }

    /// Takes back the state of [`Computed::snapshot`].
    fn restore(&mut self, state: &State, prefix: &str) -> Result<()> {
        for (at, column) in &mut self.columns {
            if let ComputedColumn::SkewCorrected(skew) = column {
                let skew = skew.get_mut().unwrap_or_else(PoisonError::into_inner);
                skew.restore(state, &format!("{prefix}skew-{at}"))?;
            }
        }
        Ok(())
    }
}

/// `skew`, locked (a panic while it was locked failed the job already).
fn lock(skew: &Mutex<SkewCorrection>) -> MutexGuard<'_, SkewCorrection> {
    skew.lock().unwrap_or_else(PoisonError::into_inner)
}
