//! Test fixtures for operators: rows `(key STRING, v BIGINT, <time> TIMESTAMP(3))`.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use datafusion::physical_expr::expressions::Column;

use super::{JoinSpec, JoinType};
use crate::batch::ChangeBatch;

/// The schema `(key, v, <time>)`.
pub(crate) fn keyed_schema(time: &str) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
        Field::new(time, DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]))
}

/// Rows `(key, v, time, watermark before the row)` of [`keyed_schema`].
pub(crate) fn keyed_batch(time: &str, rows: &[(&str, i64, i64, i64)]) -> ChangeBatch {
    let data = RecordBatch::try_new(
        keyed_schema(time),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(TimestampMillisecondArray::from_iter_values(
                rows.iter().map(|r| r.2),
            )),
        ],
    )
    .expect("rows match the schema");
    let mut batch = ChangeBatch::inserts(data);
    batch.watermarks = Some(Int64Array::from_iter_values(rows.iter().map(|r| r.3)));
    batch
}

/// A join of two inputs of [`keyed_schema`] on `key`, without other conditions; output rows
/// are the left columns then the right.
pub(crate) fn keyed_join_spec(join_type: JoinType, time: &str) -> JoinSpec {
    let inputs = [keyed_schema(time), keyed_schema(time)];
    let fields: Vec<Field> = inputs
        .iter()
        .flat_map(|s| s.fields().iter().map(|f| f.as_ref().clone()))
        .collect();
    let key = Arc::new(Column::new("key", 0));
    JoinSpec {
        join_type,
        keys: [vec![key.clone()], vec![key]],
        key_types: vec![DataType::Utf8],
        nulls_equal: false,
        filter: None,
        inputs,
        output: Arc::new(Schema::new(fields)),
    }
}
