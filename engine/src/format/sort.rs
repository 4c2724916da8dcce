//! Sorting result rows the way the Flink oracle's `--sort` does, after applying a changelog.

use std::collections::HashMap;

use arrow::array::{Int8Array, UInt32Array};
use arrow::compute::{SortColumn, SortOptions, lexsort_to_indices, take_record_batch};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};

use crate::batch::RowKind;
use crate::{EngineError, Result};

/// The rows a changelog leaves: each `-U`/`-D` removes an earlier equal `+I`/`+U` row. Kept
/// rows stay in arrival order.
pub fn materialize(batch: &RecordBatch, ops: &Int8Array) -> Result<RecordBatch> {
    let fields = batch
        .schema()
        .fields()
        .iter()
        .map(|f| SortField::new(f.data_type().clone()))
        .collect();
    let rows = RowConverter::new(fields)?.convert_columns(batch.columns())?;
    let mut live: HashMap<&[u8], Vec<u32>> = HashMap::new();
    let mut kept = vec![false; batch.num_rows()];
    for (i, row) in rows.iter().enumerate() {
        match RowKind::from_code(ops.value(i)) {
            RowKind::Insert | RowKind::UpdateAfter => {
                live.entry(row.data()).or_default().push(i as u32);
                kept[i] = true;
            }
            RowKind::UpdateBefore | RowKind::Delete => {
                let earlier = live.get_mut(row.data()).and_then(Vec::pop).ok_or_else(|| {
                    EngineError::Other(format!(
                        "internal error: the changelog retracts row {i}, which was never emitted"
                    ))
                })?;
                kept[earlier as usize] = false;
            }
        }
    }
    let indices: UInt32Array = (0..batch.num_rows() as u32)
        .filter(|i| kept[*i as usize])
        .collect();
    Ok(take_record_batch(batch, &indices)?)
}

/// Sorts rows by all columns, left to right, ascending, NULL first: numbers by value, text by
/// code point, timestamps chronologically, `false` before `true` (the oracle's order, which
/// compares canonical texts and numbers by value).
pub fn sort_rows(batch: &RecordBatch) -> Result<RecordBatch> {
    if batch.num_rows() < 2 || batch.num_columns() == 0 {
        return Ok(batch.clone());
    }
    let options = SortOptions {
        descending: false,
        nulls_first: true,
    };
    let columns: Vec<SortColumn> = batch
        .columns()
        .iter()
        .map(|c| SortColumn {
            values: c.clone(),
            options: Some(options),
        })
        .collect();
    let indices = lexsort_to_indices(&columns, None)?;
    Ok(take_record_batch(batch, &indices)?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};

    use super::*;

    #[test]
    fn a_changelog_materializes_to_its_final_rows() {
        let keys: ArrayRef = Arc::new(StringArray::from(vec!["a", "a", "a", "b", "a", "b"]));
        let counts: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 2, 1, 2, 1]));
        let batch = RecordBatch::try_from_iter([("k", keys), ("n", counts)]).unwrap();
        let ops = Int8Array::from(vec![0, 1, 2, 0, 3, 3]);
        let rows = materialize(&batch, &ops).unwrap();
        assert_eq!(rows.num_rows(), 0);
        let ops = Int8Array::from(vec![0, 1, 2, 0, 0, 0]);
        let rows = materialize(&batch, &ops).unwrap();
        let n = rows
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(n.values(), &[2, 1, 2, 1]);
        let bad = Int8Array::from(vec![3, 0, 0, 0, 0, 0]);
        assert!(materialize(&batch, &bad).is_err());
    }

    #[test]
    fn sorts_by_all_columns_nulls_first() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("b"),
            None,
            Some("a"),
            Some("b"),
        ]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![Some(10), Some(1), Some(2), Some(-3)]));
        let c: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0]));
        let batch = RecordBatch::try_from_iter([("a", a), ("b", b), ("c", c)]).unwrap();
        let sorted = sort_rows(&batch).unwrap();
        let b = sorted
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(b.values().to_vec(), vec![1, 2, -3, 10]);
    }
}
