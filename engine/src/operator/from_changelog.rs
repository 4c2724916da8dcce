//! `FROM_CHANGELOG`: an append-only table whose rows name their change kind in a `STRING`
//! column, as the updating table those changes make, the column dropped; as Flink's built-in
//! process table function does it. A row whose code the mapping does not know, or NULL,
//! fails the job, as in Flink.

use arrow::array::{Array, AsArray, Int8Array};
use arrow::datatypes::SchemaRef;

use super::{Operator, StateBound};
use crate::batch::{ChangeBatch, Message, RowKind};
use crate::checkpoint::State;
use crate::{EngineError, Result};

/// The rows of an append-only input as changes (see the module documentation).
#[derive(Debug)]
pub struct FromChangelog {
    /// The input column holding each row's code.
    op: usize,
    /// Each code and the kind it stands for.
    codes: Vec<(String, RowKind)>,
    /// The input's columns but the op column.
    kept: Vec<usize>,
    /// Their fields.
    schema: SchemaRef,
}

impl FromChangelog {
    /// Reads each row's kind from column `op` by `codes`; the rows keep the other columns,
    /// as `schema` has them.
    pub fn new(op: usize, codes: Vec<(String, RowKind)>, schema: SchemaRef) -> Self {
        let kept = (0..=schema.fields().len()).filter(|&c| c != op).collect();
        FromChangelog {
            op,
            codes,
            kept,
            schema,
        }
    }

    fn kind_of(&self, code: Option<&str>) -> Result<RowKind> {
        let Some(code) = code else {
            return Err(EngineError::Other(
                "Received NULL op code. Every changelog row must carry an operation code.".into(),
            ));
        };
        match self.codes.iter().find(|(c, _)| c == code) {
            Some((_, kind)) => Ok(*kind),
            None => {
                let known: Vec<&str> = self.codes.iter().map(|(c, _)| c.as_str()).collect();
                Err(EngineError::Other(format!(
                    "Received invalid op code '{code}'. Defined op codes are: [{}].",
                    known.join(", ")
                )))
            }
        }
    }
}

impl Operator for FromChangelog {
    fn name(&self) -> &str {
        "FromChangelog"
    }

    fn on_batch(&mut self, _: usize, batch: ChangeBatch, out: &mut Vec<Message>) -> Result<()> {
        let codes = batch.data.column(self.op).as_string::<i32>();
        let kinds = (0..codes.len())
            .map(|i| Ok(self.kind_of(codes.is_valid(i).then(|| codes.value(i)))? as i8))
            .collect::<Result<Vec<i8>>>()?;
        let data = (batch.data.project(&self.kept)?).with_schema(self.schema.clone())?;
        out.push(Message::Batch(ChangeBatch {
            data,
            ops: Some(Int8Array::from(kinds)),
            watermarks: batch.watermarks,
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;

    use super::*;

    fn operator() -> FromChangelog {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let codes = vec![
            ("c".to_string(), RowKind::Insert),
            ("r".to_string(), RowKind::Insert),
            ("ub".to_string(), RowKind::UpdateBefore),
            ("u".to_string(), RowKind::UpdateAfter),
            ("d".to_string(), RowKind::Delete),
        ];
        FromChangelog::new(0, codes, schema)
    }

    fn rows(codes: Vec<Option<&str>>) -> ChangeBatch {
        let values = Int64Array::from_iter_values(0..codes.len() as i64);
        ChangeBatch::inserts(
            RecordBatch::try_from_iter([
                ("op", Arc::new(StringArray::from(codes)) as ArrayRef),
                ("v", Arc::new(values) as ArrayRef),
            ])
            .unwrap(),
        )
    }

    #[test]
    fn each_row_becomes_the_change_its_code_names() {
        let mut out = Vec::new();
        let input = rows(vec![Some("c"), Some("ub"), Some("u"), Some("d"), Some("r")]);
        operator().on_batch(0, input, &mut out).unwrap();
        let [Message::Batch(changes)] = out.as_slice() else {
            panic!("one batch: {out:?}");
        };
        let kinds: Vec<&str> = (0..changes.num_rows())
            .map(|i| changes.row_kind(i).short_name())
            .collect();
        assert_eq!(kinds, ["+I", "-U", "+U", "-D", "+I"]);
        assert_eq!(changes.data.num_columns(), 1, "the op column is gone");
    }

    #[test]
    fn an_unknown_or_null_code_fails_the_job() {
        let err = operator()
            .on_batch(0, rows(vec![Some("c"), Some("x")]), &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("invalid op code 'x'"), "{err}");
        let err = operator()
            .on_batch(0, rows(vec![None]), &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("NULL op code"), "{err}");
    }
}
