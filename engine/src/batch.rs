//! The data model on every dataflow edge: change batches, watermarks, end-of-stream.

use arrow::array::{Array, ArrayRef, BooleanArray, Int8Array, Int64Array, UInt32Array};
use arrow::compute::{filter, take};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::Result;
use crate::time::Watermark;

/// The kind of change a row carries, as in Flink's changelog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum RowKind {
    /// `+I`: a new row.
    Insert = 0,
    /// `-U`: the old version of an updated row.
    UpdateBefore = 1,
    /// `+U`: the new version of an updated row.
    UpdateAfter = 2,
    /// `-D`: a deleted row.
    Delete = 3,
}

impl RowKind {
    /// Every kind, in code order.
    pub const ALL: [RowKind; 4] = [
        RowKind::Insert,
        RowKind::UpdateBefore,
        RowKind::UpdateAfter,
        RowKind::Delete,
    ];

    /// Flink's name of the kind (`INSERT`, `UPDATE_BEFORE`, `UPDATE_AFTER`, `DELETE`), as the
    /// changelog functions write and read it.
    pub fn name(self) -> &'static str {
        match self {
            RowKind::Insert => "INSERT",
            RowKind::UpdateBefore => "UPDATE_BEFORE",
            RowKind::UpdateAfter => "UPDATE_AFTER",
            RowKind::Delete => "DELETE",
        }
    }

    /// Flink's short name: `+I`, `-U`, `+U`, `-D`.
    pub fn short_name(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }

    /// Whether the row is taken back (`-U`, `-D`).
    pub fn is_retraction(self) -> bool {
        matches!(self, RowKind::UpdateBefore | RowKind::Delete)
    }

    /// The kind stored as `code` in an op column.
    pub fn from_code(code: i8) -> RowKind {
        match code {
            1 => RowKind::UpdateBefore,
            2 => RowKind::UpdateAfter,
            3 => RowKind::Delete,
            _ => RowKind::Insert,
        }
    }
}

/// A batch of rows flowing through the dataflow.
///
/// Append-only streams carry no op column (every row is `+I`). Rows read from a source with a
/// `WATERMARK` declaration carry, in `watermarks`, the watermark that was current when the row
/// arrived (the watermark of the rows before it): a row is late for an operator when its event
/// time is at or below that value, so the same rows are late whatever the batch size.
#[derive(Debug, Clone)]
pub struct ChangeBatch {
    /// The rows.
    pub data: RecordBatch,
    /// One [`RowKind`] code per row, or `None` when all rows are inserts.
    pub ops: Option<Int8Array>,
    /// The watermark current when each row arrived, for event-time streams.
    pub watermarks: Option<Int64Array>,
}

impl ChangeBatch {
    /// An append-only batch without event-time information.
    pub fn inserts(data: RecordBatch) -> Self {
        ChangeBatch {
            data,
            ops: None,
            watermarks: None,
        }
    }

    /// Rows of the kinds `kinds` (codes of [`RowKind`]), without event-time information.
    pub fn of_kinds(data: RecordBatch, kinds: Vec<i8>) -> Self {
        let all_inserts = kinds.iter().all(|k| *k == RowKind::Insert as i8);
        ChangeBatch {
            data,
            ops: (!all_inserts).then(|| Int8Array::from(kinds)),
            watermarks: None,
        }
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.data.num_rows()
    }

    /// The kind of row `i`.
    pub fn row_kind(&self, i: usize) -> RowKind {
        self.ops
            .as_ref()
            .map_or(RowKind::Insert, |ops| RowKind::from_code(ops.value(i)))
    }

    /// Keeps the rows where `mask` is true, with their op codes and watermarks.
    pub fn filter(&self, mask: &BooleanArray) -> Result<ChangeBatch> {
        Ok(ChangeBatch {
            data: arrow::compute::filter_record_batch(&self.data, mask)?,
            ops: self.ops.as_ref().map(|a| filter_as(a, mask)).transpose()?,
            watermarks: self
                .watermarks
                .as_ref()
                .map(|a| filter_as(a, mask))
                .transpose()?,
        })
    }

    /// `len` rows from row `offset`, with their ops and watermark stamps.
    pub fn slice(&self, offset: usize, len: usize) -> ChangeBatch {
        ChangeBatch {
            data: self.data.slice(offset, len),
            ops: self.ops.as_ref().map(|a| a.slice(offset, len)),
            watermarks: self.watermarks.as_ref().map(|a| a.slice(offset, len)),
        }
    }

    /// The rows at `indices`, with their ops and watermark stamps.
    pub fn take(&self, indices: &UInt32Array) -> Result<ChangeBatch> {
        let columns = self
            .data
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), indices, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(indices.len()));
        Ok(ChangeBatch {
            data: RecordBatch::try_new_with_options(self.data.schema(), columns, &options)?,
            ops: self.ops.as_ref().map(|a| take_as(a, indices)).transpose()?,
            watermarks: self
                .watermarks
                .as_ref()
                .map(|a| take_as(a, indices))
                .transpose()?,
        })
    }

    /// The same rows with other columns (e.g. a projection of this batch's columns).
    pub fn with_data(&self, data: RecordBatch) -> ChangeBatch {
        ChangeBatch {
            data,
            ops: self.ops.clone(),
            watermarks: self.watermarks.clone(),
        }
    }
}

/// `array` back as its concrete type `A` (the kernels that made it keep the type).
fn typed<A: Array + Clone + 'static>(array: ArrayRef) -> A {
    array
        .as_any()
        .downcast_ref::<A>()
        .expect("the kernel keeps the array type")
        .clone()
}

fn take_as<A: Array + Clone + 'static>(array: &A, indices: &UInt32Array) -> Result<A> {
    Ok(typed(take(array, indices, None)?))
}

fn filter_as<A: Array + Clone + 'static>(array: &A, mask: &BooleanArray) -> Result<A> {
    Ok(typed(filter(array, mask)?))
}

/// What travels on a dataflow edge.
// Batches are by far the most common message: boxing them would add an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Message {
    /// Rows.
    Batch(ChangeBatch),
    /// No row with an event time at or below this will follow (rows that do are late).
    Watermark(Watermark),
    /// Checkpoint `n`'s barrier: what came before it is in checkpoint `n`, what follows is not.
    Barrier(u64),
    /// The input is exhausted; nothing follows.
    End,
    /// Rows an operator sends to its side output `n` (its late rows): the runtime passes them
    /// to that side sink alone, so no operator receives this.
    Side(usize, ChangeBatch),
}
