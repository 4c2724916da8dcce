//! `LIMIT n OFFSET m` of an append-only stream: the first rows pass, then the query ends.

use super::Operator;
use crate::Result;
use crate::batch::{ChangeBatch, Message};
use crate::checkpoint::State;

/// Skips `offset` rows, passes the next `fetch` (all when `None`), and is then finished.
#[derive(Debug)]
pub struct Limit {
    skip: usize,
    remaining: Option<usize>,
}

impl Limit {
    /// A limit that skips `offset` rows and passes `fetch` rows.
    pub fn new(offset: usize, fetch: Option<usize>) -> Self {
        Limit {
            skip: offset,
            remaining: fetch,
        }
    }
}

impl Operator for Limit {
    fn state_bound(&self) -> super::StateBound {
        super::StateBound::None
    }

    fn name(&self) -> &str {
        "Limit"
    }

    fn on_batch(&mut self, _: usize, batch: ChangeBatch, out: &mut Vec<Message>) -> Result<()> {
        let rows = batch.num_rows();
        let skipped = self.skip.min(rows);
        self.skip -= skipped;
        let passed = self
            .remaining
            .map_or(rows - skipped, |r| r.min(rows - skipped));
        if let Some(remaining) = &mut self.remaining {
            *remaining -= passed;
        }
        if passed > 0 {
            out.push(Message::Batch(batch.slice(skipped, passed)));
        }
        Ok(())
    }

    fn finished(&self) -> bool {
        self.remaining == Some(0)
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        state.put("limit", &(self.skip, self.remaining))?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        (self.skip, self.remaining) = state.get("limit")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, AsArray, Int64Array};
    use arrow::datatypes::Int64Type;
    use arrow::record_batch::RecordBatch;

    use super::*;

    fn batch(values: &[i64]) -> ChangeBatch {
        let column = Arc::new(Int64Array::from(values.to_vec())) as Arc<dyn Array>;
        ChangeBatch::inserts(RecordBatch::try_from_iter([("v", column)]).unwrap())
    }

    fn values(out: &[Message]) -> Vec<i64> {
        out.iter()
            .flat_map(|m| match m {
                Message::Batch(b) => b
                    .data
                    .column(0)
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec(),
                _ => vec![],
            })
            .collect()
    }

    #[test]
    fn passes_the_rows_after_the_offset_up_to_the_limit_across_batches() {
        let mut limit = Limit::new(2, Some(3));
        let mut out = Vec::new();
        limit.on_batch(0, batch(&[1]), &mut out).unwrap();
        assert!(!limit.finished());
        limit.on_batch(0, batch(&[2, 3, 4]), &mut out).unwrap();
        assert!(!limit.finished());
        limit.on_batch(0, batch(&[5, 6, 7]), &mut out).unwrap();
        assert!(limit.finished());
        assert_eq!(values(&out), vec![3, 4, 5]);
    }
}
