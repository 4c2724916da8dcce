//! Processing-time lookup joins (`JOIN table FOR SYSTEM_TIME AS OF probe.proctime`) against a
//! bounded table: rill's answer to Flink's lookup join, which Flink runs only against
//! connectors that can be queried by key (JDBC, HBase, its legacy CSV source) and refuses for
//! today's filesystem connector. The table
//! (right input) is read to its end once and indexed by join key; each probe row (left) is
//! joined with the rows of its key then. Probe rows that arrive while the table is still
//! being read wait, and so does the watermark, so that no row is joined against half a table.
//!
//! The table may be a changelog (a CDC file): its rows are applied as they come and the probe
//! rows meet what is left at its end. Probe rows keep their change kind and their watermark
//! stamps (their time attributes stay time attributes, as in Flink); INNER drops probe rows
//! without a match, LEFT pads them with NULLs.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int8Array, Int64Array, RecordBatch};
use arrow::array::{RecordBatchOptions, UInt32Array};
use arrow::datatypes::{DataType, Field, Int8Type, Int64Type, Schema, SchemaRef};

use super::state::{Emitted, KeyEncoder, Probe, Side, key_of};
use super::{JoinSpec, JoinType, describe_keys};
use crate::batch::{ChangeBatch, Message, RowKind};
use crate::checkpoint::State;
use crate::operator::{Operator, StateBound, batches_bytes};
use crate::time::Watermark;
use crate::{EngineError, Result};

/// A lookup join against a bounded table (see the module documentation).
pub struct LookupJoin {
    name: String,
    spec: JoinSpec,
    keys: KeyEncoder,
    /// The table's rows by join key.
    table: Side<()>,
    /// Whether the table has been read to its end.
    loaded: bool,
    /// Probe rows that came before that, in arrival order.
    waiting: Vec<ChangeBatch>,
    /// The probe rows' schema, with their change kind and watermark stamp after them, as a
    /// checkpoint keeps waiting rows.
    stored_schema: SchemaRef,
    /// The watermark held back while the table loads.
    held: Option<Watermark>,
}

impl LookupJoin {
    /// A lookup join of `spec` (INNER or LEFT, on at least one equality).
    pub fn new(spec: JoinSpec) -> Result<LookupJoin> {
        if !matches!(spec.join_type, JoinType::Inner | JoinType::Left) {
            return Err(EngineError::Other("a lookup join is INNER or LEFT".into()));
        }
        if spec.key_types.is_empty() {
            return Err(EngineError::Other(
                "a lookup join needs an equality between the tables".into(),
            ));
        }
        let name = format!(
            "LookupJoin {} ({}; state: the right (bounded) table, read to its end before \
             any left row is joined)",
            spec.join_type.name(),
            describe_keys(spec.key_types.len())
        );
        let mut fields: Vec<Field> = (spec.inputs[0].fields().iter())
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("rill.change-kind", DataType::Int8, false));
        fields.push(Field::new("rill.watermark", DataType::Int64, true));
        Ok(LookupJoin {
            name,
            keys: KeyEncoder::new(&spec.key_types, spec.nulls_equal)?,
            table: Side::new(&spec.inputs[1])?,
            spec,
            loaded: false,
            waiting: Vec::new(),
            stored_schema: Arc::new(Schema::new(fields)),
            held: None,
        })
    }

    /// Applies rows of the table: inserts and new versions add a row, retractions remove one.
    fn load(&mut self, batch: &ChangeBatch) -> Result<()> {
        let (keys, matchable) = self.keys.encode(&self.spec.keys[1], &batch.data)?;
        let rows = self.table.encode(&batch.data)?;
        for i in 0..batch.num_rows() {
            if !matchable.value(i) {
                continue;
            }
            let (key, row) = (key_of(keys.as_ref(), i), rows.row(i));
            match batch.row_kind(i).is_retraction() {
                false => {
                    self.table.add(key, row, ());
                }
                true => self.table.retract(key, row),
            }
        }
        Ok(())
    }

    /// Joins probe rows with the table.
    fn probe(&self, batch: &ChangeBatch, out: &mut Vec<Message>) -> Result<()> {
        let (keys, matchable) = self.keys.encode(&self.spec.keys[0], &batch.data)?;
        let probe = Probe {
            side: 0,
            batch: &batch.data,
            keys: keys.as_ref(),
            matchable: &matchable,
            inputs: &self.spec.inputs,
            filter: self.spec.filter.as_ref(),
        };
        let all = |_: usize, entries: &[_]| 0..entries.len();
        let (matches, offsets) = probe.matches(&self.table, all, |_, _| true)?;
        let mut emitted = Emitted::default();
        let pads = self.spec.join_type == JoinType::Left;
        for i in 0..batch.num_rows() {
            let (kind, found) = (batch.row_kind(i), &matches[offsets[i]..offsets[i + 1]]);
            if found.is_empty() && pads {
                emitted.push(kind, Some(i as u32), None);
            }
            for m in found {
                emitted.push(kind, Some(i as u32), Some(*m));
            }
        }
        let n = emitted.kinds.len();
        if n == 0 {
            return Ok(());
        }
        let columns = emitted.columns(0, &batch.data, &self.table)?;
        let options = RecordBatchOptions::new().with_row_count(Some(n));
        let data = RecordBatch::try_new_with_options(self.spec.output.clone(), columns, &options)?;
        let stamps = match &batch.watermarks {
            Some(stamps) => {
                let rows = UInt32Array::from_iter_values(emitted.input.iter().flatten().copied());
                let taken = arrow::compute::take(stamps, &rows, None)?;
                Some(taken.as_primitive::<Int64Type>().clone())
            }
            None => None,
        };
        out.push(Message::Batch(ChangeBatch {
            watermarks: stamps,
            ..ChangeBatch::of_kinds(data, emitted.kinds)
        }));
        Ok(())
    }

    /// The table is loaded: joins the waiting probe rows and lets the watermark through.
    fn release(&mut self, out: &mut Vec<Message>) -> Result<()> {
        self.loaded = true;
        for batch in std::mem::take(&mut self.waiting) {
            self.probe(&batch, out)?;
        }
        if let Some(watermark) = self.held.take() {
            out.push(Message::Watermark(watermark));
        }
        Ok(())
    }

    /// A waiting batch as a checkpoint keeps it: its change kinds and watermark stamps in two
    /// last columns.
    fn stored(&self, batch: &ChangeBatch) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let mut columns = batch.data.columns().to_vec();
        let kinds = (0..n).map(|i| batch.row_kind(i) as i8);
        columns.push(Arc::new(Int8Array::from_iter_values(kinds)));
        let stamps: ArrayRef = match &batch.watermarks {
            Some(stamps) => Arc::new(stamps.clone()),
            None => Arc::new(Int64Array::new_null(n)),
        };
        columns.push(stamps);
        let options = RecordBatchOptions::new().with_row_count(Some(n));
        let schema = self.stored_schema.clone();
        Ok(RecordBatch::try_new_with_options(
            schema, columns, &options,
        )?)
    }
}

/// The waiting batch [`LookupJoin::stored`] made of `stored`.
fn unstored(stored: &RecordBatch) -> Result<ChangeBatch> {
    let columns = stored.num_columns() - 2;
    let kinds = stored.column(columns).as_primitive::<Int8Type>();
    let stamps = stored.column(columns + 1).as_primitive::<Int64Type>();
    Ok(ChangeBatch {
        data: stored.project(&(0..columns).collect::<Vec<_>>())?,
        ops: (kinds.values().iter())
            .any(|k| *k != RowKind::Insert as i8)
            .then(|| kinds.clone()),
        watermarks: (stamps.null_count() == 0).then(|| stamps.clone()),
    })
}

impl Operator for LookupJoin {
    fn name(&self) -> &str {
        &self.name
    }

    fn on_batch(&mut self, input: usize, batch: ChangeBatch, out: &mut Vec<Message>) -> Result<()> {
        match (input, self.loaded) {
            (1, _) => self.load(&batch),
            (_, true) => self.probe(&batch, out),
            (_, false) => {
                self.waiting.push(batch);
                Ok(())
            }
        }
    }

    fn on_input_end(&mut self, input: usize, out: &mut Vec<Message>) -> Result<()> {
        match (input, self.loaded) {
            (1, false) => self.release(out),
            _ => Ok(()),
        }
    }

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        match self.loaded {
            true => out.push(Message::Watermark(watermark)),
            false => self.held = Some(watermark),
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        self.table.snapshot(&mut state, "table")?;
        state.put("loaded", &(self.loaded, self.held))?;
        let waiting = (self.waiting.iter())
            .map(|b| self.stored(b))
            .collect::<Result<_>>()?;
        state.put_batches("waiting", self.stored_schema.clone(), waiting);
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        self.table.restore(state, "table")?;
        (self.loaded, self.held) = state.get("loaded")?;
        self.waiting = (state.batches("waiting")?.iter())
            .map(unstored)
            .collect::<Result<_>>()?;
        Ok(())
    }

    fn state_bound(&self) -> StateBound {
        StateBound::Unbounded("the rows of the right (bounded) table")
    }

    fn state_bytes(&self) -> usize {
        self.table.bytes() + batches_bytes(self.waiting.iter().map(|b| &b.data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::testing::{keyed_batch, keyed_join_spec};

    /// A lookup join on `key` of rows `(key, v, ts)` on both sides.
    fn lookup(join_type: JoinType) -> LookupJoin {
        LookupJoin::new(keyed_join_spec(join_type, "ts")).unwrap()
    }

    /// A row emitted: its kind, the probe row's `v` and the table row's.
    type Row = (RowKind, i64, Option<i64>);

    /// The rows emitted and the watermarks, in order.
    fn emitted(out: &[Message]) -> (Vec<Row>, Vec<Watermark>) {
        let (mut rows, mut watermarks) = (Vec::new(), Vec::new());
        for message in out {
            match message {
                Message::Batch(b) => {
                    let (l, r) = (
                        b.data.column(1).as_primitive::<Int64Type>(),
                        b.data.column(4).as_primitive::<Int64Type>(),
                    );
                    rows.extend(
                        (0..b.num_rows()).map(|i| {
                            (b.row_kind(i), l.value(i), r.is_valid(i).then(|| r.value(i)))
                        }),
                    );
                }
                Message::Watermark(w) => watermarks.push(*w),
                _ => {}
            }
        }
        (rows, watermarks)
    }

    #[test]
    fn probe_rows_and_the_watermark_wait_for_the_whole_table() {
        let mut join = lookup(JoinType::Left);
        let mut out = Vec::new();
        join.on_batch(1, keyed_batch("ts", &[("a", 10, 0, 0)]), &mut out)
            .unwrap();
        let probes = [("a", 1, 100, 0), ("b", 2, 100, 0)];
        join.on_batch(0, keyed_batch("ts", &probes), &mut out)
            .unwrap();
        join.on_watermark(100, &mut out).unwrap();
        assert!(out.is_empty(), "nothing before the table is read");
        // More rows of the table (one for a key a probe row already waits for), then its end.
        join.on_batch(
            1,
            keyed_batch("ts", &[("a", 11, 0, 0), ("b", 20, 0, 0)]),
            &mut out,
        )
        .unwrap();
        join.on_input_end(1, &mut out).unwrap();
        let (rows, watermarks) = emitted(&out);
        let insert = RowKind::Insert;
        assert_eq!(
            rows,
            [
                (insert, 1, Some(10)),
                (insert, 1, Some(11)),
                (insert, 2, Some(20))
            ]
        );
        assert_eq!(watermarks, [100], "the held watermark after the rows");
        // Once loaded, rows are joined as they come; LEFT pads those without a match.
        out.clear();
        join.on_batch(0, keyed_batch("ts", &[("c", 3, 200, 100)]), &mut out)
            .unwrap();
        join.on_watermark(200, &mut out).unwrap();
        assert_eq!(emitted(&out), (vec![(insert, 3, None)], vec![200]));
    }

    #[test]
    fn a_changelog_table_is_joined_as_it_ends() {
        let mut join = lookup(JoinType::Inner);
        let mut out = Vec::new();
        let mut table = keyed_batch("ts", &[("a", 10, 0, 0), ("a", 11, 0, 0), ("a", 10, 0, 0)]);
        table.ops = Some(Int8Array::from(vec![0, 0, RowKind::Delete as i8]));
        join.on_batch(1, table, &mut out).unwrap();
        join.on_input_end(1, &mut out).unwrap();
        let mut probes = keyed_batch("ts", &[("a", 1, 5, 0), ("a", 1, 5, 0)]);
        probes.ops = Some(Int8Array::from(vec![0, RowKind::Delete as i8]));
        join.on_batch(0, probes, &mut out).unwrap();
        let (rows, _) = emitted(&out);
        assert_eq!(
            rows,
            [
                (RowKind::Insert, 1, Some(11)),
                (RowKind::Delete, 1, Some(11))
            ],
            "the deleted row is gone; probe rows keep their kinds"
        );
    }

    #[test]
    fn a_restored_join_goes_on_as_the_first_would() {
        let inputs = vec![
            (1, Message::Batch(keyed_batch("ts", &[("a", 10, 0, 0)]))),
            (0, Message::Batch(keyed_batch("ts", &[("a", 1, 100, 0)]))),
            (0, Message::Watermark(100)),
            (1, Message::Batch(keyed_batch("ts", &[("b", 20, 0, 0)]))),
            (1, Message::End),
            (0, Message::Batch(keyed_batch("ts", &[("b", 2, 150, 100)]))),
            (0, Message::Watermark(300)),
            (0, Message::End),
        ];
        crate::operator::testing::assert_restores(|| Box::new(lookup(JoinType::Inner)), &inputs);
    }
}
