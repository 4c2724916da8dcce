//! `UNION ALL`: the rows of every input, as they come; the watermark is the inputs' minimum
//! (the runtime combines them).

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::Operator;
use crate::Result;
use crate::batch::{ChangeBatch, Message};

/// Forwards the rows of all its inputs, under the union's column names.
#[derive(Debug)]
pub struct Union {
    schema: SchemaRef,
    name: &'static str,
}

impl Union {
    /// A union whose inputs have the types of `schema`.
    pub fn new(schema: SchemaRef) -> Self {
        Union {
            schema,
            name: "Union",
        }
    }

    /// The union of the instances of a keyed operator, whose rows have `schema`.
    pub fn merge(schema: SchemaRef) -> Self {
        Union {
            schema,
            name: "Merge",
        }
    }
}

impl Operator for Union {
    super::stateless!();

    fn name(&self) -> &str {
        self.name
    }

    fn on_batch(&mut self, _: usize, batch: ChangeBatch, out: &mut Vec<Message>) -> Result<()> {
        let data = RecordBatch::try_new(self.schema.clone(), batch.data.columns().to_vec())?;
        out.push(Message::Batch(batch.with_data(data)));
        Ok(())
    }
}
