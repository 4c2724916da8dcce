//! What the joins keep and how they find partners: each input's rows by join key, encoded as
//! [`super::encoding`] says, and the search for the other side's rows a batch matches, with the
//! residual condition evaluated on all candidate pairs of the batch at once.

use std::hash::BuildHasher;
use std::ops::Range;
use std::sync::{Arc, LazyLock};

use std::collections::HashSet;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array, new_null_array,
};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::row::{RowConverter, Rows, SortField};
use datafusion_common::HashMap;
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::utils::collect_columns;
use hashbrown::hash_map::Entry as KeyEntry;
use hashbrown::{DefaultHashBuilder, HashTable};

use serde::Serialize;
use serde::de::DeserializeOwned;
use smallvec::SmallVec;

use super::encoding::{EncodedRows, RowEncoding};
use crate::batch::RowKind;
use crate::checkpoint::State;
use crate::operator::key::Key;
use crate::{EngineError, Result};

/// A row held in state: where its bytes are in its bucket, and what the join notes about it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry<M> {
    start: usize,
    /// A `u32`, which packs with most notes: state is mostly entries and rows.
    len: u32,
    pub meta: M,
}

impl<M> Entry<M> {
    /// Where its row's bytes are in its bucket's data.
    fn range(&self) -> Range<usize> {
        self.start..self.start + self.len as usize
    }
}

/// The rows of one side under one join key: in arrival order (or the order their join keeps
/// them in), but for retracted rows, whose place the last row takes.
pub(super) struct Bucket<M> {
    key: Key,
    data: Vec<u8>,
    /// Inline while there is one: most keys of some joins have a single row (Nexmark q7's
    /// bid prices), which then cost one allocation fewer.
    pub entries: SmallVec<[Entry<M>; 1]>,
    /// Bytes of `data` no entry refers to any more.
    garbage: usize,
    /// The entries by their row's hash, so that a retraction finds its row without comparing
    /// it with every row of the bucket: made once a retraction meets [`INDEXED`] rows, kept
    /// while rows are only appended and retracted (as a regular join's are), dropped when rows
    /// are put in between or removed otherwise.
    by_row: Option<HashTable<u32>>,
}

/// Makes room for `additional` more items, growing by a quarter rather than doubling: the rows
/// held are most of a join's memory, and a doubled buffer is a third empty on average.
fn reserve(v: &mut Vec<u8>, additional: usize) {
    if v.capacity() - v.len() < additional {
        v.reserve_exact(additional.max(v.len() / 4));
    }
}

/// How many rows a bucket holds before a retraction indexes them.
const INDEXED: usize = 32;

/// The hash a bucket's index keeps of a row (seeded once per process: indexes are not
/// checkpointed).
fn row_hash(row: &[u8]) -> u64 {
    static HASHER: LazyLock<DefaultHashBuilder> = LazyLock::new(DefaultHashBuilder::default);
    HASHER.hash_one(row)
}

impl<M> Bucket<M> {
    fn new(key: Key) -> Self {
        Bucket {
            key,
            data: Vec::new(),
            entries: SmallVec::new(),
            garbage: 0,
            by_row: None,
        }
    }

    pub fn row(&self, entry: usize) -> &[u8] {
        let e = &self.entries[entry];
        &self.data[e.range()]
    }

    /// Adds a row at entry `at`.
    fn insert(&mut self, at: usize, row: &[u8], meta: M) {
        let entry = Entry {
            start: self.data.len(),
            len: u32::try_from(row.len()).expect("a row's encoding is shorter than 4 GiB"),
            meta,
        };
        match &mut self.by_row {
            Some(index) if at == self.entries.len() => {
                index.insert_unique(row_hash(row), at as u32, |&e| {
                    let e = &self.entries[e as usize];
                    row_hash(&self.data[e.range()])
                });
            }
            _ => self.by_row = None,
        }
        if self.entries.len() == self.entries.capacity() {
            let len = self.entries.len();
            self.entries.reserve_exact((len / 4).max(1));
        }
        self.entries.insert(at, entry);
        reserve(&mut self.data, row.len());
        self.data.extend_from_slice(row);
    }

    /// The entry holding a row equal to `row`, if any.
    fn find(&mut self, row: &[u8]) -> Option<usize> {
        if self.entries.len() < INDEXED {
            return (0..self.entries.len()).find(|&i| self.row(i) == row);
        }
        if self.by_row.is_none() {
            let mut index = HashTable::with_capacity(self.entries.len());
            for i in 0..self.entries.len() {
                index.insert_unique(row_hash(self.row(i)), i as u32, |_| {
                    unreachable!("the table was made big enough")
                });
            }
            self.by_row = Some(index);
        }
        let index = self.by_row.as_ref()?;
        (index.find(row_hash(row), |&e| self.row(e as usize) == row)).map(|&e| e as usize)
    }

    /// Removes a row equal to `row`; false when there is none. The last row takes its place:
    /// a regular join's matches have no order.
    fn retract(&mut self, row: &[u8]) -> bool {
        let Some(i) = self.find(row) else {
            return false;
        };
        let last = self.entries.len() - 1;
        if let Some(index) = &mut self.by_row {
            let forget = |index: &mut HashTable<u32>, hash: u64, entry: usize| {
                if let Ok(found) = index.find_entry(hash, |&e| e as usize == entry) {
                    found.remove();
                }
            };
            forget(index, row_hash(row), i);
            if i != last {
                let e = &self.entries[last];
                let moved = row_hash(&self.data[e.range()]);
                forget(index, moved, last);
                index.insert_unique(moved, i as u32, |_| unreachable!("a row was removed"));
            }
        }
        self.garbage += self.entries.swap_remove(i).len as usize;
        self.compact_if_sparse();
        true
    }

    /// Keeps the rows whose note `keep` accepts; `removed` sees the others first.
    fn retain(&mut self, keep: impl Fn(&M) -> bool, mut removed: impl FnMut(&[u8], &M)) {
        self.by_row = None;
        let data = &self.data;
        let mut garbage = 0;
        self.entries.retain(|e| {
            let kept = keep(&e.meta);
            if !kept {
                removed(&data[e.range()], &e.meta);
                garbage += e.len as usize;
            }
            kept
        });
        self.garbage += garbage;
        self.compact_if_sparse();
    }

    /// Drops the bytes of removed rows once they are most of the data.
    fn compact_if_sparse(&mut self) {
        if self.garbage <= 4096 || self.garbage * 2 <= self.data.len() {
            return;
        }
        let mut data = Vec::with_capacity(self.data.len() - self.garbage);
        for e in &mut self.entries {
            let start = data.len();
            data.extend_from_slice(&self.data[e.range()]);
            e.start = start;
        }
        self.data = data;
        self.garbage = 0;
    }

    fn bytes(&self) -> usize {
        let index = self.by_row.as_ref().map_or(0, |i| i.capacity() * 5);
        self.key.bytes().len()
            + self.data.capacity()
            + usize::from(self.entries.spilled()) * self.entries.capacity() * size_of::<Entry<M>>()
            + index
    }
}

/// The rows being emitted for one input batch, built as columns at the end.
#[derive(Default)]
pub(super) struct Emitted {
    pub kinds: Vec<i8>,
    /// The input side's part of each row.
    pub input: Vec<Option<u32>>,
    /// The other side's part of each row.
    pub other: Vec<Option<Match>>,
}

impl Emitted {
    /// A row of kind `kind` from the input row `input` and the other side's row `other`
    /// (`None`: nulls, for padding).
    pub fn push(&mut self, kind: RowKind, input: Option<u32>, other: Option<Match>) {
        self.kinds.push(kind as i8);
        self.input.push(input);
        self.other.push(other);
    }

    /// The rows' columns, left then right, for an input batch `batch` from `side` and the
    /// other side's state `other`.
    pub fn columns<M>(
        &self,
        side: usize,
        batch: &RecordBatch,
        other: &Side<M>,
    ) -> Result<Vec<ArrayRef>> {
        let input = take_rows(batch, &self.input)?;
        let other = other.match_columns(self.other.iter().copied())?;
        Ok(in_order(side, input, other))
    }
}

/// A row in a side's state: its bucket and entry.
#[derive(Debug, Clone, Copy)]
pub(super) struct Match {
    pub bucket: usize,
    pub entry: usize,
}

/// The rows of one input by join key, and their encoding.
pub(super) struct Side<M> {
    /// Encodes this input's rows (all columns) to the bytes kept in state, and back.
    encoding: RowEncoding,
    /// A row of nulls, for padding.
    null_row: Vec<u8>,
    /// Join key bytes to the slot of the key's bucket.
    index: HashMap<Key, usize>,
    pub buckets: Vec<Bucket<M>>,
    /// Slots of buckets whose key went away.
    free: Vec<usize>,
    /// The buckets' bytes ([`Bucket::bytes`]), kept as they change: summing them over every
    /// key at each measure of the state would cost as much as the join's work (Nexmark q7).
    held: usize,
}

impl<M> Side<M> {
    pub fn new(schema: &SchemaRef) -> Result<Side<M>> {
        let encoding = RowEncoding::new(schema)?;
        Ok(Side {
            null_row: encoding.null_row(),
            encoding,
            index: HashMap::new(),
            buckets: Vec::new(),
            free: Vec::new(),
            held: 0,
        })
    }

    /// The rows of `batch` (of this input) in the state's encoding.
    pub fn encode(&self, batch: &RecordBatch) -> Result<EncodedRows> {
        self.encoding.encode(batch.columns(), batch.num_rows())
    }

    pub fn bucket_of(&self, key: &[u8]) -> Option<usize> {
        self.index.get(&Key::new(key)).copied()
    }

    /// Adds a row under `key`, after the key's other rows; the slot of its bucket.
    pub fn add(&mut self, key: &[u8], row: &[u8], meta: M) -> usize {
        self.add_sorted(key, row, meta, |_| true)
    }

    /// Adds a row under `key` after the key's rows that `before` accepts (a prefix of them:
    /// the rows are kept in that order); the slot of its bucket.
    pub fn add_sorted(
        &mut self,
        key: &[u8],
        row: &[u8],
        meta: M,
        before: impl Fn(&M) -> bool,
    ) -> usize {
        // One probe of the index whether the key is new or not.
        let Side {
            index,
            buckets,
            free,
            ..
        } = self;
        let (slot, size) = match index.entry(Key::new(key)) {
            KeyEntry::Occupied(found) => (*found.get(), buckets[*found.get()].bytes()),
            KeyEntry::Vacant(new) => {
                let bucket = Bucket::new(new.key().clone());
                let slot = match free.pop() {
                    Some(slot) => {
                        buckets[slot] = bucket;
                        slot
                    }
                    None => {
                        buckets.push(bucket);
                        buckets.len() - 1
                    }
                };
                new.insert(slot);
                (slot, 0)
            }
        };
        let bucket = &mut self.buckets[slot];
        let at = bucket.entries.partition_point(|e| before(&e.meta));
        bucket.insert(at, row, meta);
        self.held += bucket.bytes() - size;
        slot
    }

    /// Removes a row under `key` equal to `row`.
    pub fn retract(&mut self, key: &[u8], row: &[u8]) {
        if let Some(slot) = self.bucket_of(key)
            && self.resize(slot, |bucket| bucket.retract(row))
        {
            self.free_if_empty(slot);
        }
    }

    /// Keeps the rows of bucket `slot` whose note `keep` accepts; `removed` sees the others.
    pub fn retain(
        &mut self,
        slot: usize,
        keep: impl Fn(&M) -> bool,
        removed: impl FnMut(&[u8], &M),
    ) {
        self.resize(slot, |bucket| bucket.retain(keep, removed));
        self.free_if_empty(slot);
    }

    /// Changes bucket `slot` with `change`, keeping the count of bytes held right.
    fn resize<R>(&mut self, slot: usize, change: impl FnOnce(&mut Bucket<M>) -> R) -> R {
        let bucket = &mut self.buckets[slot];
        let before = bucket.bytes();
        let result = change(bucket);
        self.held = self.held - before + bucket.bytes();
        result
    }

    fn free_if_empty(&mut self, slot: usize) {
        let bucket = &mut self.buckets[slot];
        if bucket.entries.is_empty() && self.index.get(&bucket.key) == Some(&slot) {
            self.held -= bucket.bytes();
            self.index.remove(&bucket.key);
            *bucket = Bucket::new(Key::new(&[]));
            self.free.push(slot);
        }
    }

    /// Columns of rows of this input: `Some` rows in state, `None` a row of nulls.
    pub fn columns<'a>(
        &'a self,
        rows: impl Iterator<Item = Option<&'a [u8]>>,
    ) -> Result<Vec<ArrayRef>> {
        let rows: Vec<&[u8]> = rows.map(|row| row.unwrap_or(&self.null_row)).collect();
        self.encoding.decode(&rows)
    }

    /// Columns of the rows `matches` of this side's state (nulls for `None`).
    pub fn match_columns(
        &self,
        matches: impl Iterator<Item = Option<Match>>,
    ) -> Result<Vec<ArrayRef>> {
        self.columns(matches.map(|m| m.map(|m| self.buckets[m.bucket].row(m.entry))))
    }

    /// Columns of the rows `matches` of this side's state, only those `wanted` picks (the
    /// others all NULL).
    pub fn some_match_columns(
        &self,
        matches: &[Match],
        wanted: impl Fn(usize) -> bool,
    ) -> Result<Vec<ArrayRef>> {
        let rows: Vec<&[u8]> = (matches.iter())
            .map(|m| self.buckets[m.bucket].row(m.entry))
            .collect();
        self.encoding.decode_some(&rows, wanted)
    }

    /// How many rows are kept.
    #[cfg(test)]
    pub fn rows(&self) -> usize {
        self.buckets.iter().map(|b| b.entries.len()).sum()
    }

    pub fn bytes(&self) -> usize {
        debug_assert_eq!(
            self.held,
            self.buckets.iter().map(Bucket::bytes).sum::<usize>(),
            "the count of bytes held is kept right"
        );
        self.index.len() * 32 + self.held
    }
}

impl<M: Serialize + DeserializeOwned + Copy> Side<M> {
    /// Puts the rows under `name`, bucket by bucket in slot order (expiry lists name slots,
    /// and rows keep their order, which output follows).
    pub fn snapshot(&self, state: &mut State, name: &str) -> Result<()> {
        let keys = self.buckets.iter().map(|b| b.key.bytes());
        state.put_byte_strings(&format!("{name}.keys"), keys)?;
        let rows = (self.buckets.iter()).flat_map(|b| (0..b.entries.len()).map(|e| b.row(e)));
        state.put_byte_strings(&format!("{name}.rows"), rows)?;
        let notes: Vec<Vec<M>> = (self.buckets.iter())
            .map(|b| b.entries.iter().map(|e| e.meta).collect())
            .collect();
        state.put(&format!("{name}.notes"), &(notes, &self.free))
    }

    /// Takes back the rows put under `name` by [`Side::snapshot`].
    pub fn restore(&mut self, state: &State, name: &str) -> Result<()> {
        let (notes, free): (Vec<Vec<M>>, Vec<usize>) = state.get(&format!("{name}.notes"))?;
        let keys = state.byte_strings(&format!("{name}.keys"))?;
        let mut rows = state.byte_strings(&format!("{name}.rows"))?.into_iter();
        if keys.len() != notes.len() {
            return Err(short());
        }
        self.buckets.clear();
        self.index.clear();
        for (slot, (key, metas)) in keys.into_iter().zip(notes).enumerate() {
            let mut bucket = Bucket::new(Key::new(&key));
            bucket.entries.reserve(metas.len());
            for meta in metas {
                let row = rows.next().ok_or_else(short)?;
                let at = bucket.entries.len();
                bucket.insert(at, &row, meta);
            }
            if !free.contains(&slot) {
                self.index.insert(bucket.key.clone(), slot);
            }
            self.buckets.push(bucket);
        }
        self.free = free;
        self.held = self.buckets.iter().map(Bucket::bytes).sum();
        Ok(())
    }
}

fn short() -> EngineError {
    EngineError::Other("a checkpointed state does not read: a join's rows end too soon".into())
}

/// Evaluates the join key of a batch's rows into bytes that compare equal when the keys do.
pub(super) struct KeyEncoder {
    types: Vec<DataType>,
    converter: Option<RowConverter>,
    nulls_equal: bool,
}

impl KeyEncoder {
    /// Keys of `types` (both inputs' keys are cast to them); NULLs equal with `nulls_equal`.
    pub fn new(types: &[DataType], nulls_equal: bool) -> Result<KeyEncoder> {
        let converter = match types.is_empty() {
            true => None,
            false => Some(RowConverter::new(
                types.iter().map(|t| SortField::new(t.clone())).collect(),
            )?),
        };
        Ok(KeyEncoder {
            types: types.to_vec(),
            converter,
            nulls_equal,
        })
    }

    /// The key of each row of `batch` (`None` without key columns: every row has the empty
    /// key), and which rows can match at all (a NULL key matches nothing unless NULLs are
    /// equal).
    pub fn encode(
        &self,
        exprs: &[Arc<dyn PhysicalExpr>],
        batch: &RecordBatch,
    ) -> Result<(Option<Rows>, BooleanArray)> {
        let n = batch.num_rows();
        let mut matchable = BooleanArray::from(vec![true; n]);
        let Some(converter) = &self.converter else {
            return Ok((None, matchable));
        };
        let mut columns = Vec::with_capacity(self.types.len());
        for (expr, ty) in exprs.iter().zip(&self.types) {
            let mut key = expr.evaluate(batch)?.into_array(n)?;
            if key.data_type() != ty {
                key = cast(&key, ty)?;
            }
            if !self.nulls_equal && key.null_count() > 0 {
                let valid = arrow::compute::is_not_null(&key)?;
                matchable = arrow::compute::and(&matchable, &valid)?;
            }
            columns.push(key);
        }
        Ok((Some(converter.convert_columns(&columns)?), matchable))
    }
}

/// The key of row `i`: its bytes, or the empty key without key columns.
pub(super) fn key_of(keys: Option<&Rows>, i: usize) -> &[u8] {
    keys.map_or(&[][..], |k| k.row(i).data())
}

/// What a join probes with: a batch from input `side`, its keys, and the join's residual
/// condition over left columns followed by right columns.
pub(super) struct Probe<'a> {
    pub side: usize,
    pub batch: &'a RecordBatch,
    pub keys: Option<&'a Rows>,
    pub matchable: &'a BooleanArray,
    pub inputs: &'a [SchemaRef; 2],
    pub filter: Option<&'a Arc<dyn PhysicalExpr>>,
}

impl Probe<'_> {
    /// For each row of the batch, the rows of `other` (the other input's state) it matches:
    /// the candidates under its key in the entries `within` picks, those `accept` lets
    /// through, then those the residual condition holds for. Row `i`'s matches are
    /// `matches[offsets[i]..offsets[i + 1]]`.
    pub fn matches<M>(
        &self,
        other: &Side<M>,
        within: impl Fn(usize, &[Entry<M>]) -> Range<usize>,
        accept: impl Fn(usize, &M) -> bool,
    ) -> Result<(Vec<Match>, Vec<usize>)> {
        let mut matches = Vec::new();
        let mut offsets = Vec::with_capacity(self.batch.num_rows() + 1);
        let mut probe = Vec::new();
        offsets.push(0);
        for i in 0..self.batch.num_rows() {
            if self.matchable.value(i)
                && let Some(bucket) = other.bucket_of(key_of(self.keys, i))
            {
                let entries = &other.buckets[bucket].entries;
                for entry in within(i, entries) {
                    if accept(i, &entries[entry].meta) {
                        matches.push(Match { bucket, entry });
                        probe.push(i as u32);
                    }
                }
            }
            offsets.push(matches.len());
        }
        let Some(filter) = self.filter else {
            return Ok((matches, offsets));
        };
        if matches.is_empty() {
            return Ok((matches, offsets));
        }
        // Only the columns the condition reads are made; the others are NULL.
        let read: HashSet<usize> = collect_columns(filter).iter().map(|c| c.index()).collect();
        let left_width = self.inputs[0].fields().len();
        let start = |side: usize| if side == 0 { 0 } else { left_width };
        let (own, others) = (start(self.side), start(1 - self.side));
        let indices = UInt32Array::from(probe);
        let input = (self.batch.columns().iter().enumerate())
            .map(|(c, column)| match read.contains(&(own + c)) {
                true => Ok(take(column.as_ref(), &indices, None)?),
                false => Ok(new_null_array(column.data_type(), indices.len())),
            })
            .collect::<Result<Vec<_>>>()?;
        let other = other.some_match_columns(&matches, |c| read.contains(&(others + c)))?;
        let pairs = joined(self.side, input, other, self.inputs)?;
        let mask = filter.evaluate(&pairs)?.into_array(pairs.num_rows())?;
        let mask = mask
            .as_boolean_opt()
            .ok_or_else(|| EngineError::Other("join condition is not a boolean".into()))?;
        let mut kept = Vec::with_capacity(matches.len());
        let mut start = 0;
        for offset in offsets.iter_mut().skip(1) {
            let end = *offset;
            kept.extend(
                (start..end)
                    .filter(|&k| mask.is_valid(k) && mask.value(k))
                    .map(|k| matches[k]),
            );
            start = end;
            *offset = kept.len();
        }
        Ok((kept, offsets))
    }
}

/// The columns of `batch`'s rows at `indices` (`None`: a row of nulls).
pub(super) fn take_rows<I: Copy>(batch: &RecordBatch, indices: &[I]) -> Result<Vec<ArrayRef>>
where
    UInt32Array: From<Vec<I>>,
{
    let indices = UInt32Array::from(indices.to_vec());
    Ok(batch
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), &indices, None))
        .collect::<std::result::Result<_, _>>()?)
}

/// Input `side`'s columns `input` and the other input's `other`, left columns first.
pub(super) fn in_order(side: usize, input: Vec<ArrayRef>, other: Vec<ArrayRef>) -> Vec<ArrayRef> {
    match side {
        0 => input.into_iter().chain(other).collect(),
        _ => other.into_iter().chain(input).collect(),
    }
}

/// Rows of input `side`'s columns `input` beside the other input's `other`, as one batch of
/// left columns then right columns (as the residual condition reads them).
pub(super) fn joined(
    side: usize,
    input: Vec<ArrayRef>,
    other: Vec<ArrayRef>,
    inputs: &[SchemaRef; 2],
) -> Result<RecordBatch> {
    // Every column may hold NULLs: those a condition does not read stand in as NULL columns.
    let fields: Vec<_> = (inputs.iter())
        .flat_map(|s| {
            s.fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
        })
        .collect();
    let n = input.first().or(other.first()).map_or(0, |c| c.len());
    let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(n));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        in_order(side, input, other),
        &options,
    )?)
}

/// Columns of `n` rows of nulls of `schema`, for padding.
/// `columns` of `n` rows, or a NULL column standing in for none.
pub(super) fn null_columns(schema: &SchemaRef, n: usize) -> Vec<ArrayRef> {
    schema
        .fields()
        .iter()
        .map(|f| arrow::array::new_null_array(f.data_type(), n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bucket's rows, sorted.
    fn contents(bucket: &Bucket<u32>) -> Vec<Vec<u8>> {
        let mut rows: Vec<Vec<u8>> = (0..bucket.entries.len())
            .map(|e| bucket.row(e).to_vec())
            .collect();
        rows.sort();
        rows
    }

    #[test]
    fn large_buckets_add_and_retract_rows_as_a_multiset_would() {
        let mut bucket = Bucket::new(Key::new(b"k"));
        let mut model: Vec<Vec<u8>> = Vec::new();
        // A fixed pseudo-random sequence over 50 distinct rows, so that rows repeat and some
        // retractions find nothing.
        let mut seed = 7u64;
        for step in 0..4000u32 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let row = format!("row{}", (seed >> 33) % 50).into_bytes();
            if seed >> 63 == 0 || step % 7 == 0 {
                let at = bucket.entries.len();
                bucket.insert(at, &row, step);
                model.push(row);
            } else {
                let expected = model.iter().position(|r| *r == row);
                assert_eq!(bucket.retract(&row), expected.is_some(), "step {step}");
                if let Some(i) = expected {
                    model.swap_remove(i);
                }
            }
            if step % 97 == 0 {
                let mut sorted = model.clone();
                sorted.sort();
                assert_eq!(contents(&bucket), sorted, "step {step}");
            }
        }
        assert!(
            bucket.by_row.is_some(),
            "the bucket grew past {INDEXED} rows"
        );
        // A row put in between drops the index; retractions still find their rows.
        bucket.insert(0, b"first", 0);
        assert!(bucket.by_row.is_none());
        model.push(b"first".to_vec());
        for row in model.clone() {
            assert!(bucket.retract(&row));
        }
        assert!(bucket.entries.is_empty());
    }
}
