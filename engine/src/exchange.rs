//! Hash exchanges: how a keyed operator runs as several instances. An exchange sends each row
//! to the instance its key hashes to, so every key lives in exactly one instance and its rows
//! keep their order; watermarks, barriers and end-of-stream go to every instance.

use std::sync::Arc;

use arrow::array::{ArrayRef, UInt32Array};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion_common::hash_utils::{RandomState, create_hashes};
use datafusion_physical_expr::PhysicalExpr;
use tokio::sync::mpsc::Receiver;

use crate::Result;
use crate::batch::{ChangeBatch, Message};
use crate::checkpoint::{NodeCheckpoints, State};
use crate::dataflow::Output;

/// The hash that picks a row's instance. Fixed, so a restored job routes every key where it
/// went before; its own seed, so it does not correlate with the operators' hash tables.
const ROUTING: RandomState = RandomState::with_seed(0x7269_6c6c);

/// Splits rows by the hash of their key.
#[derive(Clone)]
pub struct KeyPartitioner {
    /// Key expressions over the input rows, each with the type it is hashed as: equal keys
    /// of two inputs (a join's) hash alike only as one type.
    keys: Vec<(Arc<dyn PhysicalExpr>, DataType)>,
    /// How many instances the rows are split between.
    parts: usize,
    /// Whether a row whose key fails goes to the first instance rather than failing.
    tolerant: bool,
}

impl KeyPartitioner {
    /// Splits rows between `parts` instances by `keys`, each cast to its type for hashing.
    pub fn new(keys: Vec<(Arc<dyn PhysicalExpr>, DataType)>, parts: usize) -> Self {
        assert!(parts > 0, "at least one part");
        KeyPartitioner {
            keys,
            parts,
            tolerant: false,
        }
    }

    /// Sends a row whose key fails (an error computing it) to the first instance instead of
    /// failing: for keys computed ahead of the filters that may drop such rows (a shared
    /// job's stage 1). Where the row is kept, its operator meets the error as it would.
    pub fn tolerating_errors(mut self) -> Self {
        self.tolerant = true;
        self
    }

    /// How many instances the rows are split between.
    pub fn parts(&self) -> usize {
        self.parts
    }

    /// The key expressions, for plans.
    pub fn describe(&self) -> String {
        let keys: Vec<String> = self.keys.iter().map(|(k, _)| k.to_string()).collect();
        format!("hash({}) to {}", keys.join(", "), self.parts)
    }

    /// The rows of `batch` for each instance (`None` where it gets none), in their order.
    pub fn split(&self, batch: &ChangeBatch) -> Result<Vec<Option<ChangeBatch>>> {
        let rows = batch.num_rows();
        let mut hashes = vec![0u64; rows];
        match self.hash(&batch.data, &mut hashes) {
            Ok(()) => {}
            Err(_) if self.tolerant => {
                let (first, second) = hashes.split_at_mut(rows / 2);
                self.hash_halving(&batch.data, 0, first);
                self.hash_halving(&batch.data, rows / 2, second);
            }
            Err(e) => return Err(e),
        }
        let mut indices: Vec<Vec<u32>> = vec![Vec::new(); self.parts];
        for (row, hash) in hashes.iter().enumerate() {
            indices[self.part_of(*hash)].push(row as u32);
        }
        indices
            .into_iter()
            .map(|rows_of_part| match rows_of_part.len() {
                0 => Ok(None),
                n if n == rows => Ok(Some(batch.clone())),
                _ => Ok(Some(batch.take(&UInt32Array::from(rows_of_part))?)),
            })
            .collect()
    }

    /// Fills `hashes` with the hash of the key of each row of `data` from `offset` on, halving
    /// the rows while their keys fail: a row whose key fails alone gets hash 0, the first
    /// part. A few such rows in a batch cost a few evaluations each, not one per row.
    fn hash_halving(&self, data: &RecordBatch, offset: usize, hashes: &mut [u64]) {
        let rows = hashes.len();
        if rows == 0 || self.hash(&data.slice(offset, rows), hashes).is_ok() {
            return;
        }
        if rows == 1 {
            hashes[0] = 0;
            return;
        }
        let (first, second) = hashes.split_at_mut(rows / 2);
        self.hash_halving(data, offset, first);
        self.hash_halving(data, offset + rows / 2, second);
    }

    /// Fills `hashes` with the hash of each row's key in `data`.
    fn hash(&self, data: &RecordBatch, hashes: &mut [u64]) -> Result<()> {
        let rows = data.num_rows();
        let arrays = self
            .keys
            .iter()
            .map(|(key, data_type)| {
                let array = key.evaluate(data)?.into_array(rows)?;
                Ok(match array.data_type() == data_type {
                    true => array,
                    false => cast(&array, data_type)?,
                })
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        create_hashes(&arrays, &ROUTING, hashes)?;
        Ok(())
    }

    /// The instance of a key hash: its top 32 bits scaled to the parts (no division).
    fn part_of(&self, hash: u64) -> usize {
        (((hash >> 32) * self.parts as u64) >> 32) as usize
    }
}

/// Drives an exchange on its own task: one input, one output target per instance.
pub(crate) struct ExchangeRunner {
    pub partitioner: KeyPartitioner,
    pub output: Output,
    pub checkpoints: Option<NodeCheckpoints>,
}

impl ExchangeRunner {
    pub async fn run(self, mut inbox: Receiver<Message>) -> Result<()> {
        while let Some(message) = inbox.recv().await {
            let end = matches!(message, Message::End);
            let delivered = match message {
                Message::Batch(batch) => {
                    let mut any = false;
                    for (part, rows) in self.partitioner.split(&batch)?.into_iter().enumerate() {
                        if let Some(rows) = rows {
                            any |= self.output.send_to(part, Message::Batch(rows)).await;
                        }
                    }
                    any || batch.num_rows() == 0
                }
                Message::Barrier(id) => {
                    // Nothing of its own to keep: the barrier passes at once.
                    if let Some(checkpoints) = &self.checkpoints {
                        checkpoints.report(id, State::new());
                    }
                    self.output.send(Message::Barrier(id)).await
                }
                Message::End => {
                    if let Some(checkpoints) = &self.checkpoints {
                        checkpoints.ended(State::new());
                    }
                    self.output.send(Message::End).await
                }
                watermark @ Message::Watermark(_) => self.output.send(watermark).await,
                Message::Side(..) => unreachable!("side rows go to a side sink as rows"),
            };
            if end || !delivered {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use arrow::record_batch::RecordBatch;
    use datafusion_physical_expr::expressions::Column;

    use super::*;

    fn keyed(values: Vec<i32>) -> ChangeBatch {
        let names: Vec<String> = values.iter().map(|v| format!("row{v}")).collect();
        let schema = Schema::new(vec![
            Field::new("k", DataType::Int32, true),
            Field::new("name", DataType::Utf8, false),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(values)),
            Arc::new(StringArray::from(names)),
        ];
        ChangeBatch::inserts(RecordBatch::try_new(Arc::new(schema), columns).unwrap())
    }

    fn by_k(parts: usize, data_type: DataType) -> KeyPartitioner {
        KeyPartitioner::new(vec![(Arc::new(Column::new("k", 0)), data_type)], parts)
    }

    fn keys_of(batch: &ChangeBatch) -> Vec<i32> {
        let keys = batch.data.column(0).as_any().downcast_ref::<Int32Array>();
        keys.unwrap().values().to_vec()
    }

    #[test]
    fn every_row_goes_to_one_part_and_equal_keys_to_the_same() {
        let values: Vec<i32> = (0..1000).map(|i| i % 37).collect();
        let parts = by_k(3, DataType::Int32)
            .split(&keyed(values.clone()))
            .unwrap();
        assert_eq!(parts.len(), 3);
        let mut seen = Vec::new();
        let mut owner = std::collections::HashMap::new();
        for (part, rows) in parts.iter().enumerate() {
            let rows = rows.as_ref().expect("37 keys reach every one of 3 parts");
            for key in keys_of(rows) {
                assert_eq!(*owner.entry(key).or_insert(part), part, "key {key}");
                seen.push(key);
            }
        }
        // Each part keeps the input's order; together they hold every row once.
        let mut all = values;
        all.sort_unstable();
        seen.sort_unstable();
        assert_eq!(seen, all);
    }

    #[test]
    fn a_part_keeps_the_order_of_its_rows() {
        let values = vec![5, 9, 5, 1, 9, 5];
        for rows in by_k(2, DataType::Int32)
            .split(&keyed(values.clone()))
            .unwrap()
        {
            let keys = keys_of(&rows.unwrap_or_else(|| keyed(vec![])));
            let expected: Vec<i32> = values
                .iter()
                .copied()
                .filter(|v| keys.contains(v))
                .collect();
            assert_eq!(keys, expected);
        }
    }

    #[test]
    fn keys_hash_alike_as_the_common_type() {
        let ints = by_k(4, DataType::Int64).split(&keyed(vec![7])).unwrap();
        let longs = {
            let schema = Schema::new(vec![Field::new("k", DataType::Int64, true)]);
            let column: ArrayRef = Arc::new(Int64Array::from(vec![7]));
            let batch = RecordBatch::try_new(Arc::new(schema), vec![column]).unwrap();
            by_k(4, DataType::Int64)
                .split(&ChangeBatch::inserts(batch))
                .unwrap()
        };
        let part = |parts: &[Option<ChangeBatch>]| parts.iter().position(Option::is_some);
        assert_eq!(part(&ints), part(&longs));
        assert!(part(&ints).is_some());
    }

    #[test]
    fn one_part_takes_the_batch_whole() {
        let batch = keyed(vec![1, 2, 3]);
        let parts = by_k(1, DataType::Int32).split(&batch).unwrap();
        let only = parts[0].as_ref().unwrap();
        assert_eq!(
            only.data.column(1).to_data(),
            batch.data.column(1).to_data()
        );
    }

    #[test]
    fn a_tolerant_partitioner_sends_rows_whose_key_fails_to_the_first_part() {
        use datafusion_expr::Operator;
        use datafusion_physical_expr::expressions::{BinaryExpr, lit};
        // 1000 / k fails where k is 0.
        let quotient = BinaryExpr::new(
            lit(1000i32),
            Operator::Divide,
            Arc::new(Column::new("k", 0)),
        );
        let by_quotient = KeyPartitioner::new(vec![(Arc::new(quotient), DataType::Int32)], 4);
        // Every other row fails, or one row of 1000.
        let dense: Vec<i32> = (0..200).map(|i| [0, i % 50 + 1][i as usize % 2]).collect();
        let sparse: Vec<i32> = (0..1000)
            .map(|i| if i == 137 { 0 } else { i % 50 + 1 })
            .collect();
        for values in [dense, sparse] {
            assert!(by_quotient.split(&keyed(values.clone())).is_err());
            let parts = (by_quotient.clone().tolerating_errors())
                .split(&keyed(values.clone()))
                .unwrap();
            // The rows whose key is computed go where a batch of them alone goes.
            let good: Vec<i32> = values.iter().copied().filter(|&v| v != 0).collect();
            let failing = values.len() - good.len();
            let alone = by_quotient.split(&keyed(good)).unwrap();
            for (part, (rows, alone)) in parts.iter().zip(&alone).enumerate() {
                let keys = rows.as_ref().map(keys_of).unwrap_or_default();
                let nonzero: Vec<i32> = keys.iter().copied().filter(|&k| k != 0).collect();
                assert_eq!(nonzero, alone.as_ref().map(keys_of).unwrap_or_default());
                let zeros = keys.len() - nonzero.len();
                assert_eq!(zeros, if part == 0 { failing } else { 0 }, "part {part}");
            }
        }
    }
}
