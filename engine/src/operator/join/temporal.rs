//! Event-time temporal joins (`JOIN versioned FOR SYSTEM_TIME AS OF probe.ts`), as Flink's
//! `TemporalRowTimeJoinOperator` runs them: each probe row (left) is joined with the version
//! of its key that was current at its time: the latest version of the versioned table (right)
//! at or before it, unless that version is a delete. The versioned input is read as upserts
//! (`-U` rows are dropped, as Flink's planner drops them before this join), each version at
//! the time in its own row.
//!
//! Probe rows wait until the watermark of both inputs reaches their time, since versions up
//! to then may still arrive; then they are joined and emitted with their own change kind (the
//! probe side may be a changelog; INNER drops, LEFT pads those without a version). Versions are kept per key; once the watermark passes them only the
//! newest one at or before it can still be chosen, so older ones are dropped.

use std::collections::BTreeMap;

use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, Int8Array, Int64Array, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Field, Int8Type, Int64Type, Schema};
use datafusion_common::HashMap;

use super::state::{KeyEncoder, Side, joined, key_of};
use super::{JoinSpec, JoinType, describe_keys};
use crate::batch::{ChangeBatch, Message, RowKind};
use crate::checkpoint::State;
use crate::operator::Operator;
use crate::operator::waiting::Waiting;
use crate::time::{NO_WATERMARK, Watermark};
use crate::{EngineError, Result};

/// A key's versions by time: the row, or `None` for a retraction.
type Versions = BTreeMap<i64, Option<Box<[u8]>>>;

/// The memory of a version: its row, and about what the map keeps beside it.
fn version_bytes(row: &Option<Box<[u8]>>) -> usize {
    24 + row.as_ref().map_or(0, |r| r.len())
}

/// An event-time temporal join (see the module documentation).
pub struct TemporalJoin {
    name: String,
    spec: JoinSpec,
    /// The probe time column of the left input and the time column of the right input.
    times: [usize; 2],
    keys: KeyEncoder,
    /// Encodes versions (rows of the right input) and decodes them for output.
    rows: Side<()>,
    versions: HashMap<Box<[u8]>, Versions>,
    /// The size of `versions` (keys and versions), kept as it changes (measuring it is then
    /// no walk over every key).
    versions_bytes: usize,
    /// Probe rows waiting for the watermark, in arrival order, each with its change kind in a
    /// last column.
    waiting: Waiting,
    watermark: Watermark,
}

impl TemporalJoin {
    /// A temporal join of `spec` (INNER or LEFT); `times` are the left input's probe time
    /// column and the right input's time column.
    pub fn new(spec: JoinSpec, times: [usize; 2]) -> Result<TemporalJoin> {
        if !matches!(spec.join_type, JoinType::Inner | JoinType::Left) {
            return Err(EngineError::Other(
                "a temporal join is INNER or LEFT".into(),
            ));
        }
        let name = format!(
            "TemporalJoin {} ({}; state: left (probe) rows until the watermark reaches their \
             time, right (versioned) rows per key: the newest before the watermark and those \
             after it)",
            spec.join_type.name(),
            describe_keys(spec.key_types.len())
        );
        let mut fields: Vec<Field> = spec.inputs[0]
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("rill.change-kind", DataType::Int8, false));
        Ok(TemporalJoin {
            waiting: Waiting::new(Arc::new(Schema::new(fields)), times[0]),
            name,
            keys: KeyEncoder::new(&spec.key_types, spec.nulls_equal)?,
            rows: Side::new(&spec.inputs[1])?,
            spec,
            times,
            versions: HashMap::new(),
            versions_bytes: 0,
            watermark: NO_WATERMARK,
        })
    }

    /// The size of `versions`, counted key by key.
    fn held_bytes(&self) -> usize {
        (self.versions.iter())
            .map(|(k, v)| k.len() + v.values().map(version_bytes).sum::<usize>())
            .sum()
    }

    fn times(batch: &RecordBatch, column: usize) -> Result<Int64Array> {
        Ok(cast(batch.column(column), &DataType::Int64)?
            .as_primitive::<Int64Type>()
            .clone())
    }

    /// Adds the versions of a batch of the versioned input.
    fn add_versions(&mut self, batch: &ChangeBatch) -> Result<()> {
        let (keys, matchable) = self.keys.encode(&self.spec.keys[1], &batch.data)?;
        let times = Self::times(&batch.data, self.times[1])?;
        let rows = self.rows.encode(&batch.data)?;
        for i in 0..batch.num_rows() {
            if !matchable.value(i) || times.is_null(i) {
                continue;
            }
            // Versions are read as upserts, as Flink reads them (it drops -U before the join):
            // +I and +U are the key's version from their time on, -D deletes it.
            let version = match batch.row_kind(i) {
                RowKind::UpdateBefore => continue,
                RowKind::Delete => None,
                RowKind::Insert | RowKind::UpdateAfter => Some(rows.row(i).into()),
            };
            let key = key_of(keys.as_ref(), i);
            let versions = self.versions.entry(key.into()).or_default();
            // A key holds a version from its first on.
            if versions.is_empty() {
                self.versions_bytes += key.len();
            }
            self.versions_bytes += version_bytes(&version);
            if let Some(replaced) = versions.insert(times.value(i), version) {
                self.versions_bytes -= version_bytes(&replaced);
            }
            self.versions_bytes -= prune(versions, self.watermark);
        }
        Ok(())
    }

    /// Joins and emits the waiting probe rows the watermark reached.
    fn emit(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        let Some(probe) = self.waiting.take_due(watermark)? else {
            return Ok(());
        };
        let columns = probe.num_columns() - 1;
        let mut kinds = probe.column(columns).as_primitive::<Int8Type>().clone();
        let probe = probe.project(&(0..columns).collect::<Vec<_>>())?;
        let times = Self::times(&probe, self.times[0])?;
        let (keys, matchable) = self.keys.encode(&self.spec.keys[0], &probe)?;
        let chosen: Vec<Option<&[u8]>> = (0..probe.num_rows())
            .map(|i| {
                let versions = self.versions.get(key_of(keys.as_ref(), i))?;
                let (_, version) = versions.range(..=times.value(i)).next_back()?;
                version.as_deref().filter(|_| matchable.value(i))
            })
            .collect();
        let right = self.rows.columns(chosen.iter().copied())?;
        let mut batch = joined(0, probe.columns().to_vec(), right, &self.spec.inputs)?;
        let mut matched = BooleanArray::from_iter(chosen.iter().map(|c| Some(c.is_some())));
        if let Some(filter) = &self.spec.filter {
            let holds = filter.evaluate(&batch)?.into_array(batch.num_rows())?;
            let holds = holds
                .as_boolean_opt()
                .ok_or_else(|| EngineError::Other("join condition is not a boolean".into()))?;
            let holds = BooleanArray::from_iter(holds.iter().map(|h| Some(h == Some(true))));
            matched = arrow::compute::and(&matched, &holds)?;
        }
        if self.spec.join_type == JoinType::Left {
            if matched.true_count() < batch.num_rows() {
                // Rows without a version that holds: the right columns as nulls.
                let kept = chosen
                    .iter()
                    .enumerate()
                    .map(|(i, c)| c.filter(|_| matched.value(i)));
                let right = self.rows.columns(kept)?;
                batch = joined(0, probe.columns().to_vec(), right, &self.spec.inputs)?;
            }
        } else {
            batch = filter_record_batch(&batch, &matched)?;
            kinds = arrow::compute::filter(&kinds, &matched)?
                .as_primitive::<Int8Type>()
                .clone();
        }
        for i in 0..probe.num_rows() {
            if let Some(versions) = self.versions.get_mut(key_of(keys.as_ref(), i)) {
                self.versions_bytes -= prune(versions, watermark);
            }
        }
        if batch.num_rows() > 0 {
            let data = RecordBatch::try_new(self.spec.output.clone(), batch.columns().to_vec())?;
            // A probe row's result has the probe row's change kind.
            let inserts = kinds.values().iter().all(|k| *k == RowKind::Insert as i8);
            out.push(Message::Batch(ChangeBatch {
                watermarks: Some(Int64Array::from(vec![self.watermark; data.num_rows()])),
                data,
                ops: (!inserts).then_some(kinds),
            }));
        }
        Ok(())
    }
}

/// Drops the versions before the newest one at or before `watermark`: no probe row still to
/// come can choose them. Returns the memory freed.
fn prune(versions: &mut Versions, watermark: Watermark) -> usize {
    match versions.range(..=watermark).next_back() {
        Some((&keep, _)) => {
            let kept = versions.split_off(&keep);
            let dropped = std::mem::replace(versions, kept);
            dropped.values().map(version_bytes).sum()
        }
        None => 0,
    }
}

impl Operator for TemporalJoin {
    fn state_bound(&self) -> crate::operator::StateBound {
        crate::operator::StateBound::Unbounded(
            "distinct keys of the versioned table (its newest versions)",
        )
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        state.put_byte_strings("keys", self.versions.keys().map(|k| &k[..]))?;
        // Each key's versions by time; a retraction as an empty row.
        let rows = (self.versions.values())
            .flat_map(|v| v.values().map(|r| r.as_deref().unwrap_or_default()));
        state.put_byte_strings("versions", rows)?;
        let times: Vec<Vec<(i64, bool)>> = (self.versions.values())
            .map(|v| v.iter().map(|(time, row)| (*time, row.is_some())).collect())
            .collect();
        state.put("times", &(times, self.watermark))?;
        let waiting = self.waiting.batches().to_vec();
        state.put_batches("waiting", self.waiting.schema().clone(), waiting);
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        let (times, watermark): (Vec<Vec<(i64, bool)>>, Watermark) = state.get("times")?;
        let keys = state.byte_strings("keys")?;
        let rows = state.byte_strings("versions")?;
        let mut rows = rows.iter();
        let short = || {
            EngineError::Other("a checkpointed state does not read: versions end too soon".into())
        };
        if keys.len() != times.len() {
            return Err(short());
        }
        for (key, these) in keys.iter().zip(times) {
            let mut versions = Versions::new();
            for (time, present) in these {
                let row = rows.next().ok_or_else(short)?;
                versions.insert(time, present.then(|| row.into()));
            }
            self.versions.insert(key.into(), versions);
        }
        self.versions_bytes = self.held_bytes();
        self.watermark = watermark;
        self.waiting.restore(state.batches("waiting")?)?;
        Ok(())
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn on_batch(
        &mut self,
        input: usize,
        batch: ChangeBatch,
        _out: &mut Vec<Message>,
    ) -> Result<()> {
        if input == 1 {
            return self.add_versions(&batch);
        }
        // A probe row the watermark already passed (a retraction carries its row's old time)
        // is joined at the next watermark with the versions still kept, as Flink 2.3 does.
        let kinds = (0..batch.num_rows()).map(|i| batch.row_kind(i) as i8);
        let mut columns = batch.data.columns().to_vec();
        columns.push(Arc::new(Int8Array::from_iter_values(kinds)));
        let schema = self.waiting.schema().clone();
        self.waiting.push(RecordBatch::try_new(schema, columns)?)
    }

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        self.emit(watermark, out)?;
        self.watermark = watermark;
        out.push(Message::Watermark(watermark));
        Ok(())
    }

    fn on_end(&mut self, out: &mut Vec<Message>) -> Result<()> {
        self.emit(Watermark::MAX, out)
    }

    fn state_bytes(&self) -> usize {
        self.versions_bytes + self.waiting.bytes()
    }
}

#[cfg(test)]
mod tests {

    use arrow::array::Int8Array;

    use super::*;
    use crate::batch::RowKind;
    use crate::operator::testing::{keyed_batch, keyed_join_spec};

    /// A LEFT temporal join on `key` of rows `(key, v, ts)` on both sides.
    fn temporal_join() -> TemporalJoin {
        let spec = keyed_join_spec(JoinType::Left, "ts");
        TemporalJoin::new(spec, [2, 2]).unwrap()
    }

    /// `(probe v, version v)` of the rows emitted.
    fn pairs(out: &[Message]) -> Vec<(i64, Option<i64>)> {
        let mut pairs = Vec::new();
        for message in out {
            let Message::Batch(b) = message else { continue };
            let (l, r) = (
                b.data.column(1).as_primitive::<Int64Type>(),
                b.data.column(4).as_primitive::<Int64Type>(),
            );
            pairs
                .extend((0..b.num_rows()).map(|i| (l.value(i), r.is_valid(i).then(|| r.value(i)))));
        }
        pairs
    }

    /// The versions' size measured is the size held, as versions come (some at the time of
    /// another), are deleted, are pruned by the watermark, and after a restore.
    #[test]
    fn the_state_measured_is_the_state_held() {
        let keys: Vec<String> = (0..30)
            .map(|i| format!("{}{i}", "k".repeat(i % 5)))
            .collect();
        let mut next = crate::operator::testing::random(3);
        let (mut join, mut watermark, mut out) = (temporal_join(), 0, Vec::new());
        for step in 0..400 {
            let rows: Vec<(&str, i64, i64, i64)> = (0..1 + next(4))
                .map(|_| {
                    let key = keys[next(30) as usize].as_str();
                    (key, 0, watermark + next(50) as i64, watermark)
                })
                .collect();
            let mut batch = keyed_batch("ts", &rows);
            let side = next(2) as usize;
            if side == 1 && next(4) == 0 {
                batch.ops = Some(Int8Array::from(vec![RowKind::Delete as i8; rows.len()]));
            }
            join.on_batch(side, batch, &mut out).unwrap();
            if next(4) == 0 {
                watermark += next(30) as i64;
                join.on_watermark(watermark, &mut out).unwrap();
            }
            assert_eq!(join.versions_bytes, join.held_bytes(), "step {step}");
            if step == 200 {
                let state = join.snapshot().unwrap();
                join = temporal_join();
                join.restore(&state).unwrap();
                assert_eq!(join.versions_bytes, join.held_bytes(), "restored");
            }
        }
        assert!(!pairs(&out).is_empty() && join.held_bytes() > 0);
    }

    #[test]
    fn a_restored_join_goes_on_as_the_first_would() {
        let mut delete = keyed_batch("ts", &[("a", 20, 220, 160)]);
        delete.ops = Some(Int8Array::from(vec![RowKind::Delete as i8]));
        let probes = [("a", 1, 150, 0), ("a", 2, 250, 0), ("b", 4, 150, 0)];
        let inputs = vec![
            (
                1,
                Message::Batch(keyed_batch("ts", &[("a", 10, 100, 0), ("a", 20, 200, 0)])),
            ),
            (0, Message::Batch(keyed_batch("ts", &probes))),
            (1, Message::Batch(keyed_batch("ts", &[("b", 30, 120, 0)]))),
            (0, Message::Watermark(160)),
            (1, Message::Batch(delete)),
            (0, Message::Watermark(300)),
            (0, Message::End),
        ];
        crate::operator::testing::assert_restores(|| Box::new(temporal_join()), &inputs);
    }

    #[test]
    fn a_probe_row_waits_for_the_watermark_and_meets_the_version_of_its_time() {
        let mut join = temporal_join();
        let mut out = Vec::new();
        join.on_batch(
            1,
            keyed_batch("ts", &[("a", 10, 100, 0), ("a", 20, 200, 0)]),
            &mut out,
        )
        .unwrap();
        let probes = [
            ("a", 1, 150, 0),
            ("a", 2, 250, 0),
            ("a", 3, 50, 0),
            ("b", 4, 150, 0),
        ];
        join.on_batch(0, keyed_batch("ts", &probes), &mut out)
            .unwrap();
        assert!(out.is_empty(), "nothing before the watermark");
        join.on_watermark(160, &mut out).unwrap();
        assert_eq!(pairs(&out), [(1, Some(10)), (3, None), (4, None)]);
        // A delete at 220 ends version 20 for the probe at 250.
        let mut delete = keyed_batch("ts", &[("a", 20, 220, 160)]);
        delete.ops = Some(Int8Array::from(vec![RowKind::Delete as i8]));
        join.on_batch(1, delete, &mut out).unwrap();
        out.clear();
        join.on_watermark(300, &mut out).unwrap();
        assert_eq!(pairs(&out), [(2, None)]);
        // Past the watermark only the newest version before it is kept.
        let versions: Vec<usize> = join.versions.values().map(BTreeMap::len).collect();
        assert_eq!(versions, [1]);
    }
}
