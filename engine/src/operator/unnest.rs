//! `CROSS JOIN UNNEST(collection)` and `LEFT JOIN UNNEST(collection) ON TRUE`: each row once
//! per element of an array (or entry of a map) it holds, with the element's columns after its
//! own.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch, UInt32Array, make_array};
use arrow::buffer::NullBuffer;
use arrow::compute::take;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion_physical_expr::PhysicalExpr;

use super::{Operator, StateBound};
use crate::batch::{ChangeBatch, Message};
use crate::checkpoint::State;
use crate::{EngineError, Result};

/// Joins each row with the elements of the array or map `collection` gives for it.
#[derive(Debug)]
pub struct Unnest {
    collection: Arc<dyn PhysicalExpr>,
    /// `LEFT JOIN`: a row without elements (an empty or NULL collection) is kept once, with
    /// NULL element columns.
    outer: bool,
    /// `WITH ORDINALITY`: each element's place (from 1) is a last column.
    ordinality: bool,
    schema: SchemaRef,
}

impl Unnest {
    /// Rows of `schema`: the input's columns, then an element's: a map entry's key and value,
    /// a row's fields, or else the element itself; then, with `ordinality`, its place.
    pub fn new(
        collection: Arc<dyn PhysicalExpr>,
        outer: bool,
        ordinality: bool,
        schema: SchemaRef,
    ) -> Self {
        Unnest {
            collection,
            outer,
            ordinality,
            schema,
        }
    }

    fn apply(&self, batch: ChangeBatch) -> Result<ChangeBatch> {
        let rows = batch.num_rows();
        let collection = self.collection.evaluate(&batch.data)?.into_array(rows)?;
        let (offsets, elements): (&[i32], ArrayRef) = match collection.data_type() {
            DataType::List(_) => {
                let list = collection.as_list::<i32>();
                (list.value_offsets(), list.values().clone())
            }
            DataType::Map(..) => {
                let map = collection.as_map();
                (map.value_offsets(), Arc::new(map.entries().clone()))
            }
            other => {
                return Err(EngineError::Other(format!("UNNEST of a {other} value")));
            }
        };
        let mut from_rows = Vec::with_capacity(elements.len());
        let mut picks = Vec::with_capacity(elements.len());
        let mut places = Vec::with_capacity(if self.ordinality { elements.len() } else { 0 });
        for row in 0..rows {
            let (start, end) = match collection.is_valid(row) {
                true => (offsets[row] as u32, offsets[row + 1] as u32),
                false => (0, 0),
            };
            if start == end && self.outer {
                from_rows.push(row as u32);
                picks.push(None);
                places.push(None);
            }
            for element in start..end {
                from_rows.push(row as u32);
                picks.push(Some(element));
                places.push(Some((element - start + 1) as i32));
            }
        }
        let out = batch.take(&UInt32Array::from(from_rows))?;
        let elements = take(&elements, &UInt32Array::from(picks), None)?;
        let mut columns = out.data.columns().to_vec();
        match elements.as_struct_opt() {
            // A map's entry, or a row: its fields are columns of their own.
            Some(fields) => {
                let nulls = fields.logical_nulls();
                for field in fields.columns() {
                    // The struct's NULL rows (LEFT JOIN padding) are NULL in each field.
                    let nulls = NullBuffer::union(nulls.as_ref(), field.nulls());
                    let data = field.to_data().into_builder().nulls(nulls).build()?;
                    columns.push(make_array(data));
                }
            }
            None => columns.push(elements),
        }
        if self.ordinality {
            columns.push(Arc::new(Int32Array::from(places)));
        }
        Ok(out.with_data(RecordBatch::try_new(self.schema.clone(), columns)?))
    }
}

impl Operator for Unnest {
    fn name(&self) -> &str {
        "Unnest"
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

    fn snapshot(&mut self) -> Result<State> {
        Ok(State::new())
    }

    fn restore(&mut self, _state: &State) -> Result<()> {
        Ok(())
    }

    fn state_bound(&self) -> StateBound {
        StateBound::None
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int8Array, ListBuilder, StringBuilder};
    use arrow::datatypes::{Field, Schema};
    use datafusion_physical_expr::expressions::Column;

    use super::*;
    use crate::batch::RowKind;
    use crate::operator::testing::describe;

    /// Rows `(id, tags)` with their change kinds: `a` twice, an empty array, a NULL one.
    fn rows() -> ChangeBatch {
        let mut tags = ListBuilder::new(StringBuilder::new());
        tags.append_value([Some("x"), None, Some("y")]);
        tags.append_value([Some("z")]);
        tags.append_value(Vec::<Option<&str>>::new());
        tags.append_null();
        let data = RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(Int32Array::from(vec![1, 1, 2, 3])) as ArrayRef,
            ),
            ("tags", Arc::new(tags.finish()) as ArrayRef),
        ])
        .unwrap();
        let kinds = [
            RowKind::Insert,
            RowKind::Delete,
            RowKind::Insert,
            RowKind::Insert,
        ];
        ChangeBatch {
            data,
            ops: Some(Int8Array::from_iter_values(kinds.map(|k| k as i8))),
            watermarks: None,
        }
    }

    fn unnest(outer: bool, ordinality: bool) -> Vec<String> {
        let input = rows();
        let mut fields = input.data.schema().fields().to_vec();
        fields.push(Arc::new(Field::new("tag", DataType::Utf8, true)));
        if ordinality {
            fields.push(Arc::new(Field::new("pos", DataType::Int32, true)));
        }
        let tags = Arc::new(Column::new("tags", 1));
        let mut op = Unnest::new(tags, outer, ordinality, Arc::new(Schema::new(fields)));
        let mut out = Vec::new();
        op.on_batch(0, input, &mut out).unwrap();
        // Without the array itself, for short lines.
        let without_tags: Vec<Message> = (out.into_iter())
            .map(|m| match m {
                Message::Batch(b) => {
                    let keep: Vec<usize> = (0..b.data.num_columns()).filter(|i| *i != 1).collect();
                    Message::Batch(b.with_data(b.data.project(&keep).unwrap()))
                }
                other => other,
            })
            .collect();
        describe(&without_tags)
    }

    #[test]
    fn each_row_meets_each_element_with_its_change_kind() {
        assert_eq!(
            unnest(false, false),
            ["Insert 1,x", "Insert 1,NULL", "Insert 1,y", "Delete 1,z"]
        );
    }

    #[test]
    fn a_left_join_keeps_rows_without_elements_and_ordinality_counts_from_one() {
        assert_eq!(
            unnest(true, true),
            [
                "Insert 1,x,1",
                "Insert 1,NULL,2",
                "Insert 1,y,3",
                "Delete 1,z,1",
                "Insert 2,NULL,NULL",
                "Insert 3,NULL,NULL",
            ]
        );
    }
}
