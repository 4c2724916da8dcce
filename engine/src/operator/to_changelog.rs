//! `TO_CHANGELOG`: each change of an updating input as an inserted row, its kind named in a
//! column before the input's (`INSERT`, `UPDATE_BEFORE`, `UPDATE_AFTER`, `DELETE`, or the codes
//! of an `op_mapping`, which drops the kinds it does not name), as Flink's built-in process
//! table function does it.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, UInt32Array};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::{Operator, StateBound};
use crate::Result;
use crate::batch::{ChangeBatch, Message, RowKind};
use crate::checkpoint::State;

/// The changes of the input as rows (see the module documentation).
#[derive(Debug)]
pub struct ToChangelog {
    /// The code of each kind, by `RowKind as usize`; `None` drops the kind's rows.
    codes: [Option<String>; 4],
    /// The op column, then the input's.
    schema: SchemaRef,
}

impl ToChangelog {
    /// Writes the code `codes` gives each kind into the first column of `schema`.
    pub fn new(codes: [Option<String>; 4], schema: SchemaRef) -> Self {
        ToChangelog { codes, schema }
    }
}

impl Operator for ToChangelog {
    fn name(&self) -> &str {
        "ToChangelog"
    }

    fn on_batch(&mut self, _: usize, batch: ChangeBatch, out: &mut Vec<Message>) -> Result<()> {
        let rows = batch.num_rows();
        let code = |i: usize| self.codes[batch.row_kind(i) as usize].as_deref();
        let kept: UInt32Array = (0..rows as u32)
            .filter(|&i| code(i as usize).is_some())
            .collect();
        if kept.is_empty() {
            return Ok(());
        }
        let codes: StringArray = kept.values().iter().map(|&i| code(i as usize)).collect();
        let kept_rows = match kept.len() == rows {
            true => batch,
            false => batch.take(&kept)?,
        };
        let mut columns: Vec<ArrayRef> = vec![Arc::new(codes)];
        columns.extend(kept_rows.data.columns().iter().cloned());
        let data = RecordBatch::try_new(self.schema.clone(), columns)?;
        out.push(Message::Batch(ChangeBatch {
            data,
            ops: None,
            watermarks: kept_rows.watermarks,
        }));
        Ok(())
    }

    fn snapshot(&mut self) -> Result<State> {
        Ok(State::new())
    }

    fn restore(&mut self, _: &State) -> Result<()> {
        Ok(())
    }

    fn state_bound(&self) -> StateBound {
        StateBound::None
    }
}

/// The codes Flink writes without an `op_mapping`: each kind's name.
pub fn default_codes() -> [Option<String>; 4] {
    RowKind::ALL.map(|kind| Some(kind.name().to_string()))
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int8Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use super::*;

    #[test]
    fn each_change_becomes_a_row_named_by_its_kind_and_unmapped_kinds_are_dropped() {
        let input = RecordBatch::try_from_iter([(
            "v",
            Arc::new(Int64Array::from(vec![1, 1, 2, 2])) as ArrayRef,
        )])
        .unwrap();
        let batch = ChangeBatch {
            data: input,
            ops: Some(Int8Array::from(vec![0, 1, 2, 3])),
            watermarks: None,
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("op", DataType::Utf8, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let mut codes = default_codes();
        codes[RowKind::UpdateBefore as usize] = None;
        codes[RowKind::Delete as usize] = Some("D".into());
        let mut operator = ToChangelog::new(codes, schema);
        let mut out = Vec::new();
        operator.on_batch(0, batch, &mut out).unwrap();
        let [Message::Batch(changes)] = out.as_slice() else {
            panic!("one batch: {out:?}");
        };
        assert!(changes.ops.is_none(), "only inserts");
        let ops: Vec<&str> = changes
            .data
            .column(0)
            .as_string::<i32>()
            .iter()
            .flatten()
            .collect();
        assert_eq!(ops, ["INSERT", "UPDATE_AFTER", "D"]);
        let values = changes.data.column(1).as_primitive::<Int64Type>().values();
        assert_eq!(values.as_ref(), [1, 2, 2]);
    }
}
