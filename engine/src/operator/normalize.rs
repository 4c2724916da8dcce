//! Changelog normalisation (Flink's `ChangelogNormalize`): the last row per primary key, so
//! that a changelog with duplicate or partial events becomes an exact one. An insert or update
//! of a key emits `+I` (first row) or `-U` of the stored row and `+U` of the new one, nothing
//! when it repeats the stored row; a delete emits `-D` of the stored row (the full row,
//! whatever the event carried), nothing when the key has none. Update-befores are dropped.
//! For a sink that needs no `-U` rows, an update is its `+U` row alone.

use std::sync::Arc;

use arrow::array::{Int8Array, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use datafusion_common::HashMap;

use super::Operator;
use crate::Result;
use crate::batch::{ChangeBatch, Message, RowKind};
use crate::checkpoint::State;

/// Keeps the last row per key (see the module documentation).
pub struct Normalize {
    /// The key columns.
    key: Vec<usize>,
    keys: RowConverter,
    rows: RowConverter,
    schema: SchemaRef,
    last: HashMap<Box<[u8]>, Box<[u8]>>,
    /// The size of `last`, kept as it changes (measuring it is then no walk over every key).
    bytes: usize,
    /// Whether an update makes a `-U` row of the stored row before its `+U`.
    update_before: bool,
}

/// The memory of a key's entry: its key, its row, and about what the map keeps beside them.
fn entry_bytes(key: &[u8], row: &[u8]) -> usize {
    key.len() + row.len() + 48
}

impl Normalize {
    /// Normalises rows of `schema` by the columns `key`.
    pub fn new(schema: SchemaRef, key: Vec<usize>) -> Result<Normalize> {
        let field = |i: &usize| SortField::new(schema.field(*i).data_type().clone());
        let all: Vec<usize> = (0..schema.fields().len()).collect();
        Ok(Normalize {
            keys: RowConverter::new(key.iter().map(field).collect())?,
            rows: RowConverter::new(all.iter().map(field).collect())?,
            key,
            schema,
            last: HashMap::new(),
            bytes: 0,
            update_before: true,
        })
    }

    /// Makes no `-U` rows, for a sink that needs none (Flink's `ONLY_UPDATE_AFTER`).
    pub fn without_update_before(mut self) -> Self {
        self.update_before = false;
        self
    }

    /// The size of `last`, counted key by key.
    fn held_bytes(&self) -> usize {
        (self.last.iter()).map(|(k, v)| entry_bytes(k, v)).sum()
    }
}

impl Operator for Normalize {
    fn state_bound(&self) -> super::StateBound {
        super::StateBound::Unbounded("distinct primary keys (their last row)")
    }

    fn name(&self) -> &str {
        match self.update_before {
            true => "ChangelogNormalize",
            false => "ChangelogNormalize (no -U rows)",
        }
    }

    fn on_batch(
        &mut self,
        _input: usize,
        batch: ChangeBatch,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        let keys: Vec<_> = self
            .key
            .iter()
            .map(|&i| batch.data.column(i).clone())
            .collect();
        let keys = self.keys.convert_columns(&keys)?;
        let rows = self.rows.convert_columns(batch.data.columns())?;
        let mut kinds = Vec::new();
        let mut emitted: Vec<Box<[u8]>> = Vec::new();
        for i in 0..batch.num_rows() {
            let key = keys.row(i);
            let row = rows.row(i);
            match batch.row_kind(i) {
                // The row after the update says it all (Flink drops -U before normalising): a
                // repeated -U would otherwise delete the row its update put in place.
                RowKind::UpdateBefore => continue,
                RowKind::Delete => {
                    if let Some(previous) = self.last.remove(key.as_ref()) {
                        self.bytes -= entry_bytes(key.as_ref(), &previous);
                        kinds.push(RowKind::Delete as i8);
                        emitted.push(previous);
                    }
                    continue;
                }
                RowKind::Insert | RowKind::UpdateAfter => {}
            }
            match self.last.get_mut(key.as_ref()) {
                None => {
                    self.bytes += entry_bytes(key.as_ref(), row.as_ref());
                    self.last.insert(key.as_ref().into(), row.as_ref().into());
                    kinds.push(RowKind::Insert as i8);
                    emitted.push(row.as_ref().into());
                }
                Some(previous) if previous.as_ref() == row.as_ref() => {}
                Some(previous) => {
                    let previous = std::mem::replace(previous, row.as_ref().into());
                    self.bytes = self.bytes + row.as_ref().len() - previous.len();
                    if self.update_before {
                        kinds.push(RowKind::UpdateBefore as i8);
                        emitted.push(previous);
                    }
                    kinds.push(RowKind::UpdateAfter as i8);
                    emitted.push(row.as_ref().into());
                }
            }
        }
        if kinds.is_empty() {
            return Ok(());
        }
        let parser = self.rows.parser();
        let columns = self
            .rows
            .convert_rows(emitted.iter().map(|r| parser.parse(r)))?;
        out.push(Message::Batch(ChangeBatch {
            data: RecordBatch::try_new(Arc::clone(&self.schema), columns)?,
            ops: Some(Int8Array::from(kinds)),
            watermarks: None,
        }));
        Ok(())
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        let pairs = self.last.iter().map(|(k, v)| (k.as_ref(), v.as_ref()));
        state.put_byte_pairs("last", pairs)?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        let last = state.byte_pairs("last")?;
        self.last = (last.iter())
            .map(|(key, row)| (key.into(), row.into()))
            .collect();
        self.bytes = self.held_bytes();
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::operator::testing::random;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Utf8, false),
        ]))
    }

    /// Random changes `(kind, key, value)` of three keys of values of three sizes: inserts,
    /// update-afters and deletes (of keys held or not), 1 to 4 in a batch.
    fn random_batches(seed: u64, count: usize) -> Vec<Vec<(RowKind, &'static str, &'static str)>> {
        let mut next = random(seed);
        let (keys, values) = (["a", "bb", "ccc"], ["", "x", "yyyyyyy"]);
        let kinds = [RowKind::Insert, RowKind::UpdateAfter, RowKind::Delete];
        (0..count)
            .map(|_| {
                (0..1 + next(4))
                    .map(|_| {
                        let kind = kinds[next(3) as usize];
                        (kind, keys[next(3) as usize], values[next(3) as usize])
                    })
                    .collect()
            })
            .collect()
    }

    fn change_batch(rows: &[(RowKind, &str, &str)]) -> ChangeBatch {
        let data = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap();
        ChangeBatch::of_kinds(data, rows.iter().map(|r| r.0 as i8).collect())
    }

    /// The state measured is the sum of its entries, through inserts, updates (to rows of
    /// other sizes), repeats, deletes of keys held or not, and a restore.
    #[test]
    fn the_state_measured_is_the_state_held() {
        let make = || Normalize::new(schema(), vec![0]).unwrap();
        let (mut op, mut out) = (make(), Vec::new());
        for (step, rows) in random_batches(11, 300).iter().enumerate() {
            op.on_batch(0, change_batch(rows), &mut out).unwrap();
            assert_eq!(op.state_bytes(), op.held_bytes(), "step {step}");
            if step == 150 {
                let state = op.snapshot().unwrap();
                op = make();
                op.restore(&state).unwrap();
                assert_eq!(op.state_bytes(), op.held_bytes(), "restored");
            }
        }
        assert!(op.held_bytes() > 0);
    }

    /// Read as a changelog, the output holds each key's last row after every batch. Without
    /// `-U` rows, it is read as an upsert table is: a `+U` replaces its key's row.
    #[test]
    fn the_output_holds_each_keys_last_row_with_or_without_update_befores() {
        for update_before in [true, false] {
            let mut op = Normalize::new(schema(), vec![0]).unwrap();
            if !update_before {
                op = op.without_update_before();
            }
            let mut last: HashMap<String, String> = HashMap::new();
            let mut table: HashMap<String, String> = HashMap::new();
            for rows in random_batches(5, 200) {
                for &(kind, k, v) in &rows {
                    match kind {
                        RowKind::Delete => last.remove(k),
                        _ => last.insert(k.to_string(), v.to_string()),
                    };
                }
                let mut out = Vec::new();
                op.on_batch(0, change_batch(&rows), &mut out).unwrap();
                for message in out {
                    let Message::Batch(batch) = message else {
                        panic!("only batches")
                    };
                    let (k, v) = (
                        batch.data.column(0).as_string::<i32>(),
                        batch.data.column(1),
                    );
                    let v = v.as_string::<i32>();
                    for i in 0..batch.num_rows() {
                        let (key, row) = (k.value(i).to_string(), v.value(i).to_string());
                        let kind = batch.row_kind(i);
                        let held = match kind {
                            RowKind::Insert | RowKind::UpdateAfter => {
                                table.insert(key, row.clone())
                            }
                            _ => {
                                assert!(update_before || kind == RowKind::Delete);
                                // A retraction names the row as it stands.
                                assert_eq!(table.remove(&key).as_ref(), Some(&row));
                                None
                            }
                        };
                        // A +U replaces a row only when no -U took it back first.
                        let replaces = kind == RowKind::UpdateAfter && !update_before;
                        assert_eq!(held.is_some(), replaces, "{kind:?} {row}");
                    }
                }
                assert_eq!(table, last, "-U rows: {update_before}");
            }
        }
    }
}
