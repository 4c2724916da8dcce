//! Sorting result rows the way the Flink oracle's `--sort` does.

use arrow::compute::{SortColumn, SortOptions, lexsort_to_indices, take_record_batch};
use arrow::record_batch::RecordBatch;

use crate::Result;

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
