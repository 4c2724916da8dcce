//! Top-N without windows: `ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...)` kept where it is
//! at most N, over any changelog, as an updating result (Flink's `Rank` operator; with N = 1,
//! deduplication).
//!
//! Each partition keeps its rows sorted by the ORDER BY key, ties in arrival order (a new row
//! goes after the rows it ties with, as in Flink), or, for Flink's deduplication that keeps the
//! last row by event time, newest first (a new row goes before them: of rows of one time the
//! last one is kept). Over an append-only input only the first N
//! rows can ever matter, so no more are kept; over a changelog every live row is kept, since a
//! retracted row's place is taken by the next one. After each input row the partition's first
//! N rows are compared with what was emitted, rank by rank: a rank that now holds another row
//! is updated (`-U` of the old row, `+U` of the new), a new rank is inserted (`+I`), a rank
//! that is gone is deleted (`-D`). When the sink needs no `-U` rows (a blackhole or an upsert
//! table), none are made, as Flink plans for such sinks; a Top-1 over an append-only input
//! then never reads an older row again, so it keeps each partition's sort key alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int8Array, RecordBatch, UInt32Array, UInt64Array};
use arrow::compute::{cast, interleave, take};
use arrow::datatypes::{SchemaRef, UInt32Type, UInt64Type};
use arrow::row::{RowConverter, Rows, SortField};
use datafusion_common::HashMap;
use datafusion_physical_expr::PhysicalExpr;
use smallvec::SmallVec;

use super::key::Key;
use super::{Operator, SortKey};
use crate::Result;
use crate::batch::{ChangeBatch, Message, RowKind};
use crate::checkpoint::State;
use crate::time::{NO_WATERMARK, Watermark};

/// A row of a partition: its arrival number, and its sort key followed by its encoded columns
/// (one allocation, or none for a short sort key kept alone).
struct Ranked {
    arrival: u64,
    order_len: u32,
    bytes: Key,
}

impl Ranked {
    fn new(arrival: u64, order: &[u8], row: &[u8]) -> Ranked {
        Ranked {
            arrival,
            order_len: order.len() as u32,
            bytes: match row.is_empty() {
                true => Key::new(order),
                false => Key::new(&[order, row].concat()),
            },
        }
    }

    fn order(&self) -> &[u8] {
        &self.bytes.bytes()[..self.order_len as usize]
    }

    fn row(&self) -> &[u8] {
        &self.bytes.bytes()[self.order_len as usize..]
    }

    /// Puts in the encoded columns of a row made without them.
    fn fill(&mut self, row: &[u8]) {
        debug_assert!(self.row().is_empty(), "a row is filled once");
        self.bytes = Key::new(&[self.bytes.bytes(), row].concat());
    }

    /// The memory it takes.
    fn bytes(&self) -> usize {
        self.bytes.heap_bytes() + size_of::<Ranked>()
    }
}

/// A partition's rows in rank order, inline while there is one (a Top-1, such as Nexmark q18's
/// last bid per bidder and auction, then costs no allocation and no memory access beyond
/// the table's).
type Partition = SmallVec<[Ranked; 1]>;

/// The memory a partition takes: its key and its rows.
fn partition_bytes(key: &Key, rows: &[Ranked]) -> usize {
    key.bytes().len() + rows.iter().map(Ranked::bytes).sum::<usize>()
}

/// Non-windowed Top-N (see the module documentation).
pub struct Rank {
    partition: Vec<Arc<dyn PhysicalExpr>>,
    order: Vec<SortKey>,
    limit: usize,
    /// Whether the input retracts rows, so that rows past the first N must be kept.
    retracting: bool,
    /// The input columns, then the row number.
    schema: SchemaRef,
    partition_rows: Option<RowConverter>,
    order_rows: RowConverter,
    input_rows: RowConverter,
    partitions: HashMap<Key, Partition>,
    /// The memory `partitions` takes, kept as they change (summing it is linear in them).
    bytes: usize,
    arrivals: u64,
    /// Most rows of the last batch entered a first N, so this batch's rows are all encoded
    /// up front rather than those kept at its end (which costs two more lookups of each
    /// one's partition): in a deduplication keeping each key's last row, every row is kept.
    encode_all: bool,
    /// What `EXPLAIN` shows.
    name: String,
    /// How long, in event time, a partition is kept after its last row
    /// (`'table.exec.state.ttl'`): then it starts afresh, as Flink's state TTL does.
    ttl: Option<i64>,
    /// Whether a new row goes before the rows it ties with.
    newest_first: bool,
    /// Whether `-U` rows are made (the sink keeps them).
    update_before: bool,
    /// Per partition, the watermark stamp of its last row.
    updated: HashMap<Key, Watermark>,
    /// Partitions to look at when the watermark passes a time.
    expiry: BTreeMap<Watermark, Vec<Key>>,
}

/// Rows to emit, built as columns at the end of a batch: a row that came in this batch is
/// taken from the batch's columns, an older one decoded from its bytes in state.
#[derive(Default)]
struct Emitted {
    kinds: Vec<i8>,
    ranks: Vec<u64>,
    /// Per row, where it is: `(0, its row in the batch)` or `(1, its place among the older)`.
    picks: Vec<(usize, usize)>,
    /// The bytes of the older rows, one after another, and where each ends.
    older: Vec<u8>,
    older_ends: Vec<usize>,
    /// The first arrival number given in this batch, and the batch row of each since.
    first_arrival: u64,
    arrived: Vec<usize>,
    /// Room for a partition's first N arrival numbers before a change.
    before: Vec<u64>,
}

impl Emitted {
    fn push(&mut self, kind: RowKind, row: &Ranked, rank: usize) {
        self.kinds.push(kind as i8);
        self.ranks.push(rank as u64);
        match row.arrival.checked_sub(self.first_arrival) {
            Some(since) => self.picks.push((0, self.arrived[since as usize])),
            None => {
                self.picks.push((1, self.older_ends.len()));
                self.older.extend_from_slice(row.row());
                self.older_ends.push(self.older.len());
            }
        }
    }

    /// The rows as a batch of `schema`: `batch`'s columns (`converter` encodes them), then the
    /// row number.
    fn rows(
        self,
        batch: &RecordBatch,
        converter: &RowConverter,
        schema: &SchemaRef,
    ) -> Result<RecordBatch> {
        // Every row of the batch in order, and no other (a deduplication keeping the last row
        // of keys that come in time order): the batch's own columns.
        let whole = self.picks.len() == batch.num_rows()
            && self
                .picks
                .iter()
                .enumerate()
                .all(|(i, &pick)| pick == (0, i));
        let mut columns = match whole {
            true => batch.columns().to_vec(),
            false => {
                let parser = converter.parser();
                let mut start = 0;
                let older = self.older_ends.iter().map(|&end| {
                    let row = parser.parse(&self.older[start..end]);
                    start = end;
                    row
                });
                let older = converter.convert_rows(older)?;
                // Decoding gives a column's type back, but for dictionaries (their values).
                (batch.columns().iter().zip(&older))
                    .map(|(new, old)| {
                        let old = cast(old, new.data_type())?;
                        Ok(interleave(&[new.as_ref(), old.as_ref()], &self.picks)?)
                    })
                    .collect::<Result<Vec<ArrayRef>>>()?
            }
        };
        columns.push(Arc::new(UInt64Array::from(self.ranks)));
        let columns = (columns.into_iter().zip(schema.fields()))
            .map(|(c, f)| super::aggregate::cast_to(c, f.data_type()))
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }
}

impl Rank {
    /// Keeps the first `limit` rows of each `partition` by `order`; output rows have `schema`
    /// (the input's columns, then the row number). With `retracting`, the input is a
    /// changelog.
    pub fn new(
        partition: Vec<Arc<dyn PhysicalExpr>>,
        order: Vec<SortKey>,
        limit: usize,
        retracting: bool,
        schema: SchemaRef,
        input: &SchemaRef,
    ) -> Result<Rank> {
        let fields = |types: Vec<SortField>| RowConverter::new(types);
        let partition_types = partition
            .iter()
            .map(|e| Ok(SortField::new(e.data_type(input)?)))
            .collect::<Result<Vec<_>>>()?;
        let order_types = order
            .iter()
            .map(|k| {
                Ok(SortField::new_with_options(
                    k.expr.data_type(input)?,
                    k.options,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let input_types = input
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        Ok(Rank {
            partition_rows: match partition_types.is_empty() {
                true => None,
                false => Some(fields(partition_types)?),
            },
            order_rows: fields(order_types)?,
            input_rows: fields(input_types)?,
            partition,
            order,
            limit,
            retracting,
            schema,
            partitions: HashMap::new(),
            bytes: 0,
            arrivals: 0,
            encode_all: false,
            name: format!(
                "Rank top {limit} (state: {})",
                match retracting {
                    true => "every live row per partition, for ranks after retractions",
                    false => "the first rows per partition",
                }
            ),
            ttl: None,
            newest_first: false,
            update_before: true,
            updated: HashMap::new(),
            expiry: BTreeMap::new(),
        })
    }

    /// A new row goes before the rows it ties with, as in Flink's deduplication that keeps
    /// each key's last row by event time (`ROW_NUMBER() OVER (... ORDER BY rowtime DESC) = 1`).
    pub fn newest_first_on_ties(mut self) -> Self {
        self.newest_first = true;
        self
    }

    /// Makes no `-U` rows, for a sink that needs none (Flink's `ONLY_UPDATE_AFTER`).
    pub fn without_update_before(mut self) -> Self {
        self.update_before = false;
        if !self.keeps_rows() {
            self.name = "Rank top 1 (state: the sort key per partition; no -U rows)".to_string();
        }
        self
    }

    /// Whether rows are kept with their columns: to make `-U` rows, to find retracted rows,
    /// or to emit a row again at a new rank. Not so for a Top-1 over an append-only input
    /// without `-U` rows: its row out is always the row that just came.
    fn keeps_rows(&self) -> bool {
        self.update_before || self.retracting || self.limit > 1
    }

    /// Partitions without a row for `ttl` ms of event time start afresh.
    pub fn with_ttl(mut self, ttl: Option<i64>) -> Self {
        self.ttl = ttl;
        self
    }

    /// With a TTL: forgets the partition `key` (silently: its ranks stand) when row `stamp`
    /// comes the TTL after its last row, and notes the row.
    fn touch(&mut self, key: &Key, stamp: Watermark) {
        let Some(ttl) = self.ttl else { return };
        if stamp == NO_WATERMARK {
            return;
        }
        match self.updated.get_mut(key) {
            Some(updated) if stamp - *updated >= ttl => {
                if let Some(rows) = self.partitions.remove(key) {
                    self.bytes -= partition_bytes(key, &rows);
                }
                *updated = stamp;
            }
            Some(updated) => *updated = stamp,
            None => {
                self.updated.insert(key.clone(), stamp);
                self.expiry
                    .entry(stamp.saturating_add(ttl))
                    .or_default()
                    .push(key.clone());
            }
        }
    }

    /// Forgets the partitions whose last row is the TTL behind `watermark`.
    fn expire(&mut self, watermark: Watermark) {
        let Some(ttl) = self.ttl else { return };
        while let Some(entry) = self.expiry.first_entry() {
            if *entry.key() > watermark {
                break;
            }
            for key in entry.remove() {
                let Some(&updated) = self.updated.get(&key) else {
                    continue;
                };
                match updated.saturating_add(ttl) {
                    due if due <= watermark => {
                        if let Some(rows) = self.partitions.remove(&key) {
                            self.bytes -= partition_bytes(&key, &rows);
                        }
                        self.updated.remove(&key);
                    }
                    due => self.expiry.entry(due).or_default().push(key),
                }
            }
        }
    }

    fn evaluate(
        exprs: impl Iterator<Item = Arc<dyn PhysicalExpr>>,
        batch: &RecordBatch,
    ) -> Result<Vec<ArrayRef>> {
        exprs
            .map(|e| Ok(e.evaluate(batch)?.into_array(batch.num_rows())?))
            .collect()
    }

    /// Applies row `i` of `batch` to its partition and notes the ranks that changed. Without
    /// `rows`, a row kept is kept without its columns, which [`Rank::fill`] puts in.
    fn apply(
        &mut self,
        batch: &ChangeBatch,
        i: usize,
        (partitions, orders, rows): (Option<&Rows>, &Rows, Option<&Rows>),
        out: &mut Emitted,
    ) {
        let key = Key::new(partitions.map_or(&[][..], |p| p.row(i).data()));
        let stamp = batch
            .watermarks
            .as_ref()
            .map_or(NO_WATERMARK, |s| s.value(i));
        self.touch(&key, stamp);
        let ranked = self.partitions.entry_ref(&key).or_insert_with(|| {
            self.bytes += key.bytes().len();
            Partition::new()
        });
        let order = orders.row(i);
        let row = rows.map_or(&[][..], |rows| rows.row(i).data());
        let limit = self.limit;
        // The first N before the change, by arrival number.
        out.before.clear();
        out.before
            .extend(ranked.iter().take(limit).map(|r| r.arrival));
        // The row that left the partition's first N, if one did.
        let mut dropped = None;
        if matches!(batch.row_kind(i), RowKind::Insert | RowKind::UpdateAfter) {
            // After every row it follows, and after (or before) those it ties with.
            let newest_first = self.newest_first;
            let at = ranked.partition_point(|r| match newest_first {
                true => r.order() < order.as_ref(),
                false => r.order() <= order.as_ref(),
            });
            if at >= limit && !self.retracting {
                return;
            }
            self.arrivals += 1;
            out.arrived.push(i);
            let new = Ranked::new(self.arrivals, order.as_ref(), row);
            self.bytes += new.bytes();
            // The row it pushes out of the first N leaves first, so that a Top-1 stays inline.
            if !self.retracting && ranked.len() == limit {
                dropped = ranked.pop();
            }
            ranked.insert(at, new);
        } else {
            let start = ranked.partition_point(|r| r.order() < order.as_ref());
            let found = ranked[start..]
                .iter()
                .take_while(|r| r.order() == order.as_ref())
                .position(|r| r.row() == row);
            match found {
                Some(at) => dropped = Some(ranked.remove(start + at)),
                None => return,
            }
        }
        self.bytes -= dropped.as_ref().map_or(0, Ranked::bytes);
        // Compare the first N rank by rank. A row that moved changes both its old and its
        // new rank, as Flink's rank numbers do.
        let after = &ranked[..ranked.len().min(limit)];
        let row_of = |arrival: u64| {
            ranked
                .iter()
                .chain(dropped.iter())
                .find(|r| r.arrival == arrival)
                .expect("a row of the first N is in state or just left it")
        };
        let before = std::mem::take(&mut out.before);
        for rank in 0..before.len().max(after.len()) {
            let old = before.get(rank).copied();
            let new = after.get(rank);
            if let (Some(old), Some(new)) = (old, new)
                && old == new.arrival
            {
                continue;
            }
            if let Some(old) = old {
                match new {
                    Some(_) if !self.update_before => {}
                    Some(_) => out.push(RowKind::UpdateBefore, row_of(old), rank + 1),
                    None => out.push(RowKind::Delete, row_of(old), rank + 1),
                }
            }
            if let Some(new) = new {
                let kind = match old {
                    Some(_) => RowKind::UpdateAfter,
                    None => RowKind::Insert,
                };
                out.push(kind, new, rank + 1);
            }
        }
        out.before = before;
        if ranked.is_empty() {
            self.partitions.remove(&key);
            self.bytes -= key.bytes().len();
        }
    }

    /// Encodes the columns of the rows of `batch` that arrived in it (as `emitted` noted)
    /// and are still kept.
    fn fill(
        &mut self,
        batch: &RecordBatch,
        partitions: Option<&Rows>,
        emitted: &Emitted,
    ) -> Result<()> {
        // Each row kept: its partition, arrival number and batch row.
        let mut kept = Vec::new();
        for (since, &i) in emitted.arrived.iter().enumerate() {
            let key = Key::new(partitions.map_or(&[][..], |p| p.row(i).data()));
            let arrival = emitted.first_arrival + since as u64;
            if let Some(ranked) = self.partitions.get(&key)
                && ranked.iter().any(|r| r.arrival == arrival)
            {
                kept.push((key, arrival, i as u32));
            }
        }
        if kept.is_empty() {
            return Ok(());
        }
        let indices = UInt32Array::from_iter_values(kept.iter().map(|k| k.2));
        let columns = (batch.columns().iter())
            .map(|c| Ok(take(c.as_ref(), &indices, None)?))
            .collect::<Result<Vec<_>>>()?;
        let rows = self.input_rows.convert_columns(&columns)?;
        for (j, (key, arrival, _)) in kept.iter().enumerate() {
            let ranked = self
                .partitions
                .get_mut(key)
                .expect("a kept row's partition");
            let row = ranked.iter_mut().find(|r| r.arrival == *arrival);
            let row = row.expect("a kept row");
            // A sort key kept inline moves to the heap with its row.
            let before = row.bytes();
            row.fill(rows.row(j).data());
            self.bytes += row.bytes() - before;
        }
        Ok(())
    }
}

/// Rows (encoded by `converter`) with their row numbers, as a batch of `schema`: the rows'
/// columns, then the row number.
pub(super) fn ranked_rows<'a>(
    converter: &RowConverter,
    rows: impl Iterator<Item = &'a [u8]>,
    ranks: Vec<u64>,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let parser = converter.parser();
    let mut columns = converter.convert_rows(rows.map(|r| parser.parse(r)))?;
    columns.push(Arc::new(UInt64Array::from(ranks)));
    let columns = columns
        .into_iter()
        .zip(schema.fields())
        .map(|(c, f)| super::aggregate::cast_to(c, f.data_type()))
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// What a Top-N checkpoints besides its rows and their arrivals: the next arrival, each
/// partition's last update, and the expiry queue's times with how many keys each has.
type CountsState = (u64, Vec<Watermark>, Vec<(Watermark, usize)>);

/// The same, in a checkpoint written before the arrivals were columns: each partition's
/// arrivals first.
type OldCountsState = (Vec<Vec<u64>>, u64, Vec<Watermark>, Vec<(Watermark, usize)>);

fn short() -> crate::EngineError {
    crate::EngineError::Other(
        "a checkpointed state does not read: a Top-N's rows end too soon".into(),
    )
}

impl Operator for Rank {
    fn state_bound(&self) -> super::StateBound {
        match self.ttl {
            Some(ttl) => super::StateBound::Ttl(ttl),
            None => super::StateBound::Unbounded("distinct partition keys (the top rows of each)"),
        }
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        // The partitions' keys and their numbers of rows, then every partition's rows (sort
        // key and row) in rank order, and their arrival numbers.
        let partitions = self.partitions.len();
        state.put_byte_strings("partitions", self.partitions.keys().map(Key::bytes))?;
        let lengths = (self.partitions.values()).map(|r| r.len() as u32);
        let lengths = UInt32Array::from_iter_values(lengths);
        let rows = lengths.values().iter().map(|&n| n as usize).sum();
        state.put_columns("lengths", vec![Arc::new(lengths)], partitions)?;
        let ranked = || self.partitions.values().flatten();
        state.put_byte_pairs("rows", ranked().map(|r| (r.order(), r.row())))?;
        let arrivals = Arc::new(UInt64Array::from_iter_values(ranked().map(|r| r.arrival)));
        state.put_columns("arrivals", vec![arrivals], rows)?;
        state.put_byte_strings("updated", self.updated.keys().map(Key::bytes))?;
        let updated: Vec<Watermark> = self.updated.values().copied().collect();
        state.put_byte_strings("expiry", self.expiry.values().flatten().map(Key::bytes))?;
        let due: Vec<(Watermark, usize)> = (self.expiry.iter())
            .map(|(w, keys)| (*w, keys.len()))
            .collect();
        state.put("ranks", &(self.arrivals, updated, due))?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        let (lengths, arrivals, (next, updated, due)): (Vec<usize>, Vec<u64>, CountsState) =
            match state.has("arrivals") {
                true => {
                    let ([lengths], _) = state.columns_of("lengths")?;
                    let ([arrivals], _) = state.columns_of("arrivals")?;
                    let lengths = lengths.as_primitive_opt::<UInt32Type>().ok_or_else(short)?;
                    let arrivals = arrivals
                        .as_primitive_opt::<UInt64Type>()
                        .ok_or_else(short)?;
                    (
                        lengths.values().iter().map(|&n| n as usize).collect(),
                        arrivals.values().to_vec(),
                        state.get("ranks")?,
                    )
                }
                false => {
                    let (arrivals, next, updated, due): OldCountsState = state.get("counts")?;
                    let lengths = arrivals.iter().map(Vec::len).collect();
                    (lengths, arrivals.concat(), (next, updated, due))
                }
            };
        let keys = state.byte_strings("partitions")?;
        let rows = state.byte_pairs("rows")?;
        if keys.len() != lengths.len() || rows.iter().len() != arrivals.len() {
            return Err(short());
        }
        let mut rows = rows.iter().zip(arrivals);
        for (key, length) in keys.iter().zip(lengths) {
            let key = Key::new(key);
            let mut ranked = Partition::with_capacity(length);
            for ((order, row), arrival) in rows.by_ref().take(length) {
                ranked.push(Ranked::new(arrival, order, row));
            }
            if ranked.len() != length {
                return Err(short());
            }
            self.bytes += partition_bytes(&key, &ranked);
            self.partitions.insert(key, ranked);
        }
        self.arrivals = next;
        let keys = state.byte_strings("updated")?;
        if keys.len() != updated.len() {
            return Err(short());
        }
        self.updated = keys.iter().map(Key::new).zip(updated).collect();
        let keys = state.byte_strings("expiry")?;
        let mut keys = keys.iter();
        for (watermark, count) in due {
            self.expiry
                .insert(watermark, keys.by_ref().take(count).map(Key::new).collect());
        }
        Ok(())
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        self.expire(watermark);
        out.push(Message::Watermark(watermark));
        Ok(())
    }

    fn on_batch(
        &mut self,
        _input: usize,
        batch: ChangeBatch,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let partitions = match &self.partition_rows {
            Some(converter) => {
                let columns = Self::evaluate(self.partition.iter().cloned(), &batch.data)?;
                Some(converter.convert_columns(&columns)?)
            }
            None => None,
        };
        let orders = Self::evaluate(self.order.iter().map(|k| k.expr.clone()), &batch.data)?;
        let orders = self.order_rows.convert_columns(&orders)?;
        // Over an append-only input, most rows of a batch may never enter a first N, or
        // leave it before the batch ends: then only those kept at its end are encoded. A
        // retraction finds its row by its encoding.
        let retracts = (batch.ops.as_ref()).is_some_and(|ops| {
            ops.values()
                .iter()
                .any(|&k| RowKind::from_code(k).is_retraction())
        });
        let keeps_rows = self.keeps_rows();
        let rows = match keeps_rows && (self.retracting || retracts || self.encode_all) {
            true => Some(self.input_rows.convert_columns(batch.data.columns())?),
            false => None,
        };
        let mut emitted = Emitted {
            first_arrival: self.arrivals + 1,
            ..Emitted::default()
        };
        for i in 0..n {
            self.apply(
                &batch,
                i,
                (partitions.as_ref(), &orders, rows.as_ref()),
                &mut emitted,
            );
        }
        if rows.is_none() && keeps_rows {
            self.fill(&batch.data, partitions.as_ref(), &emitted)?;
        }
        self.encode_all = emitted.arrived.len() * 2 > n;
        if emitted.kinds.is_empty() {
            return Ok(());
        }
        let kinds = Int8Array::from(std::mem::take(&mut emitted.kinds));
        let data = emitted.rows(&batch.data, &self.input_rows, &self.schema)?;
        out.push(Message::Batch(ChangeBatch {
            data,
            ops: Some(kinds),
            watermarks: None,
        }));
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        debug_assert_eq!(
            self.bytes,
            (self.partitions.iter())
                .map(|(key, rows)| partition_bytes(key, rows))
                .sum::<usize>(),
            "the state's size is kept right"
        );
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::Int64Array;
    use arrow::compute::SortOptions;
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::util::display::array_value_to_string;
    use datafusion_physical_expr::expressions::Column;

    use super::*;

    /// Top 2 by `v` descending over rows `(v BIGINT)`, with the row number.
    fn top2(retracting: bool) -> Rank {
        top(2, retracting)
    }

    /// Top `limit` by `v` descending over rows `(v BIGINT)`, with the row number.
    fn top(limit: usize, retracting: bool) -> Rank {
        let input = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let output = Arc::new(Schema::new(vec![
            Field::new("v", DataType::Int64, true),
            Field::new("rn", DataType::UInt64, true),
        ]));
        let order = vec![SortKey {
            expr: Arc::new(Column::new("v", 0)),
            options: SortOptions {
                descending: true,
                nulls_first: false,
            },
        }];
        Rank::new(vec![], order, limit, retracting, output, &input).unwrap()
    }

    /// Rows `(v)` with their change kinds.
    fn batch(rows: &[(RowKind, i64)]) -> ChangeBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let data = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.1),
            ))],
        )
        .unwrap();
        ChangeBatch {
            data,
            ops: Some(Int8Array::from_iter_values(rows.iter().map(|r| r.0 as i8))),
            watermarks: None,
        }
    }

    #[test]
    fn a_restored_top_n_goes_on_as_the_first_would() {
        let (i, d) = (RowKind::Insert, RowKind::Delete);
        let inputs: Vec<(usize, Message)> = [
            vec![(i, 5), (i, 3), (i, 1)],
            vec![(i, 9), (i, 5)],
            vec![(d, 9), (d, 5)],
            vec![(i, 4)],
        ]
        .iter()
        .map(|rows| (0, Message::Batch(batch(rows))))
        .chain([(0, Message::End)])
        .collect();
        crate::operator::testing::assert_restores(|| Box::new(top2(true)), &inputs);
    }

    /// Before arrivals were columns, a Top-N's checkpoint was written as here.
    #[test]
    fn a_top_n_restores_from_a_checkpoint_written_before_arrivals_were_columns() {
        let (i, d) = (RowKind::Insert, RowKind::Delete);
        let mut rank = top2(true);
        feed(&mut rank, &[(i, 5), (i, 3), (i, 1), (i, 9)]);
        let mut old = State::new();
        old.put_byte_strings("partitions", rank.partitions.keys().map(Key::bytes))
            .unwrap();
        let rows = (rank.partitions.values()).flat_map(|r| r.iter().map(|r| (r.order(), r.row())));
        old.put_byte_pairs("rows", rows).unwrap();
        let arrivals: Vec<Vec<u64>> = (rank.partitions.values())
            .map(|ranked| ranked.iter().map(|r| r.arrival).collect())
            .collect();
        old.put_byte_strings("updated", std::iter::empty()).unwrap();
        old.put_byte_strings("expiry", std::iter::empty()).unwrap();
        let none: (Vec<Watermark>, Vec<(Watermark, usize)>) = (vec![], vec![]);
        old.put("counts", &(arrivals, rank.arrivals, none.0, none.1))
            .unwrap();
        let new = rank.snapshot().unwrap();
        let next = [(d, 9), (i, 4), (d, 5)];
        let expected = feed(&mut rank, &next);
        assert!(
            expected.len() > 4,
            "the rows change the ranks: {expected:?}"
        );
        for state in [old, new] {
            let state = State::decode(state.encode().unwrap()).unwrap();
            let mut restored = top2(true);
            restored.restore(&state).unwrap();
            assert_eq!(feed(&mut restored, &next), expected);
        }
    }

    fn feed(rank: &mut Rank, rows: &[(RowKind, i64)]) -> Vec<String> {
        let mut out = Vec::new();
        rank.on_batch(0, batch(rows), &mut out).unwrap();
        let mut lines = Vec::new();
        for message in out {
            let Message::Batch(b) = message else { continue };
            for i in 0..b.num_rows() {
                let v = array_value_to_string(b.data.column(0), i).unwrap();
                let rn = array_value_to_string(b.data.column(1), i).unwrap();
                lines.push(format!("{}[{v}, {rn}]", b.row_kind(i).short_name()));
            }
        }
        lines
    }

    #[test]
    fn a_new_leader_moves_every_rank_below_it() {
        let mut rank = top2(false);
        assert_eq!(
            feed(&mut rank, &[(RowKind::Insert, 5), (RowKind::Insert, 3)]),
            ["+I[5, 1]", "+I[3, 2]"]
        );
        assert!(
            feed(&mut rank, &[(RowKind::Insert, 1)]).is_empty(),
            "not in the top 2"
        );
        assert_eq!(
            feed(&mut rank, &[(RowKind::Insert, 9)]),
            ["-U[5, 1]", "+U[9, 1]", "-U[3, 2]", "+U[5, 2]"]
        );
        // A tie goes after the rows it ties with.
        assert!(feed(&mut rank, &[(RowKind::Insert, 5)]).is_empty());
        assert_eq!(
            rank.partitions[&Key::new(&[])].len(),
            2,
            "append-only: only the top 2 kept"
        );
    }

    #[test]
    fn a_top_1_replaces_its_row_in_place() {
        let mut rank = top(1, false);
        let i = RowKind::Insert;
        assert_eq!(feed(&mut rank, &[(i, 5)]), ["+I[5, 1]"]);
        assert_eq!(feed(&mut rank, &[(i, 9), (i, 7)]), ["-U[5, 1]", "+U[9, 1]"]);
        assert_eq!(feed(&mut rank, &[(i, 12)]), ["-U[9, 1]", "+U[12, 1]"]);
        let rows = &rank.partitions[&Key::new(&[])];
        assert_eq!(rows.len(), 1);
        assert!(
            !rows.spilled(),
            "the row is kept in the table, not on the heap"
        );
    }

    #[test]
    fn a_top_1_without_update_before_keeps_its_sort_keys_alone() {
        let mut rank = top(1, false).without_update_before();
        let i = RowKind::Insert;
        assert_eq!(feed(&mut rank, &[(i, 5)]), ["+I[5, 1]"]);
        // Both from one batch, then one encoded up front if rows were kept.
        assert_eq!(feed(&mut rank, &[(i, 9), (i, 7)]), ["+U[9, 1]"]);
        assert!(feed(&mut rank, &[(i, 8)]).is_empty());
        assert_eq!(
            feed(&mut rank, &[(i, 12), (i, 14)]),
            ["+U[12, 1]", "+U[14, 1]"]
        );
        let rows = &rank.partitions[&Key::new(&[])];
        assert!(rows[0].row().is_empty(), "no columns kept");
        assert_eq!(rank.state_bytes(), size_of::<Ranked>(), "no heap bytes");
        // Over a changelog, or in a Top-N, rows are kept to be emitted again.
        assert!(top(1, true).without_update_before().keeps_rows());
        assert!(top(2, false).without_update_before().keeps_rows());
    }

    #[test]
    fn a_top_n_without_update_before_makes_every_other_change() {
        let mut rank = top2(true).without_update_before();
        let (i, d) = (RowKind::Insert, RowKind::Delete);
        assert_eq!(feed(&mut rank, &[(i, 5), (i, 3)]), ["+I[5, 1]", "+I[3, 2]"]);
        assert_eq!(feed(&mut rank, &[(i, 9)]), ["+U[9, 1]", "+U[5, 2]"]);
        assert_eq!(feed(&mut rank, &[(d, 5), (d, 3)]), ["+U[3, 2]", "-D[3, 2]"]);
        let inputs: Vec<(usize, Message)> = [vec![(i, 5), (i, 3)], vec![(i, 9)], vec![(d, 9)]]
            .iter()
            .map(|rows| (0, Message::Batch(batch(rows))))
            .chain([(0, Message::End)])
            .collect();
        crate::operator::testing::assert_restores(
            || Box::new(top(1, false).without_update_before()),
            &inputs[..2],
        );
        crate::operator::testing::assert_restores(
            || Box::new(top2(true).without_update_before()),
            &inputs,
        );
    }

    /// Top `limit` of rows `(k, v, ts)` by `v` descending, partitioned by `k`.
    fn keyed_top(limit: usize) -> Rank {
        let input = crate::operator::testing::keyed_schema("ts");
        let mut fields = input.fields().to_vec();
        fields.push(Arc::new(Field::new("rn", DataType::UInt64, true)));
        let order = vec![SortKey {
            expr: Arc::new(Column::new("v", 1)),
            options: SortOptions {
                descending: true,
                nulls_first: false,
            },
        }];
        let partition: Vec<Arc<dyn PhysicalExpr>> = vec![Arc::new(Column::new("k", 0))];
        let output = Arc::new(Schema::new(fields));
        Rank::new(partition, order, limit, false, output, &input).unwrap()
    }

    #[test]
    fn the_state_measured_is_the_state_held() {
        let keys: Vec<String> = (0..200)
            .map(|i| format!("{}{i}", "k".repeat(i % 7)))
            .collect();
        let cases = [
            (1, true, None),
            (2, true, Some(50)),
            (1, false, Some(50)),
            (3, false, None),
        ];
        for (limit, update_before, ttl) in cases {
            let make = || {
                let rank = keyed_top(limit).with_ttl(ttl);
                match update_before {
                    true => rank,
                    false => rank.without_update_before(),
                }
            };
            let held = |rank: &Rank| {
                let recount = (rank.partitions.iter())
                    .map(|(key, rows)| partition_bytes(key, rows))
                    .sum::<usize>();
                (rank.bytes, recount)
            };
            let mut rank = make();
            let mut next = crate::operator::testing::random(limit as u64);
            let (mut watermark, mut out) = (0, Vec::new());
            for step in 0..300 {
                let rows: Vec<(&str, i64, i64, i64)> = (0..1 + next(8))
                    .map(|_| {
                        let key = keys[next(200) as usize].as_str();
                        (
                            key,
                            next(100) as i64,
                            watermark + next(30) as i64,
                            watermark,
                        )
                    })
                    .collect();
                let batch = crate::operator::testing::keyed_batch("ts", &rows);
                rank.on_batch(0, batch, &mut out).unwrap();
                if next(3) == 0 {
                    watermark += next(20) as i64;
                    rank.on_watermark(watermark, &mut out).unwrap();
                }
                let (kept, recount) = held(&rank);
                assert_eq!(kept, recount, "top {limit}, {update_before}, step {step}");
                if step == 150 {
                    let state = rank.snapshot().unwrap();
                    rank = make();
                    rank.restore(&state).unwrap();
                    let (kept, recount) = held(&rank);
                    assert_eq!(kept, recount, "top {limit}, {update_before}, restored");
                }
            }
            assert!(!out.is_empty());
        }
    }

    #[test]
    fn rows_encoded_up_front_read_back_as_rows_filled_in_later() {
        let mut rank = top2(false);
        let i = RowKind::Insert;
        // Both rows enter the top 2: the next batch is encoded up front.
        assert_eq!(feed(&mut rank, &[(i, 5), (i, 3)]), ["+I[5, 1]", "+I[3, 2]"]);
        assert!(rank.encode_all);
        assert_eq!(
            feed(&mut rank, &[(i, 9), (i, 7)]),
            [
                "-U[5, 1]", "+U[9, 1]", "-U[3, 2]", "+U[5, 2]", "-U[5, 2]", "+U[7, 2]"
            ]
        );
        // 7 was kept from a batch encoded up front (5 and 3 above, from one whose rows kept
        // were encoded at its end).
        assert_eq!(feed(&mut rank, &[(i, 8)]), ["-U[7, 2]", "+U[8, 2]"]);
        assert_eq!(feed(&mut rank, &[(i, 1), (i, 2), (i, 10)]).len(), 4);
        assert!(!rank.encode_all, "one row of three entered the top 2");
        assert_eq!(
            feed(&mut rank, &[(i, 11), (i, 0)]),
            ["-U[10, 1]", "+U[11, 1]", "-U[9, 2]", "+U[10, 2]"]
        );
    }

    #[test]
    fn a_retracted_row_gives_its_rank_to_the_next() {
        let mut rank = top2(true);
        let rows = [
            (RowKind::Insert, 5),
            (RowKind::Insert, 3),
            (RowKind::Insert, 1),
        ];
        assert_eq!(feed(&mut rank, &rows), ["+I[5, 1]", "+I[3, 2]"]);
        assert_eq!(
            feed(&mut rank, &[(RowKind::Delete, 5)]),
            ["-U[5, 1]", "+U[3, 1]", "-U[3, 2]", "+U[1, 2]"]
        );
        assert_eq!(
            feed(&mut rank, &[(RowKind::Delete, 1), (RowKind::Delete, 3)]),
            ["-D[1, 2]", "-D[3, 1]"]
        );
        assert_eq!(rank.state_bytes(), 0);
    }
}
