//! What the joins keep and how they find partners: each input's rows by join key, encoded as
//! [`super::encoding`] says, and the search for the other side's rows a batch matches, with the
//! residual condition evaluated on all candidate pairs of the batch at once.

use std::hash::BuildHasher;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use std::collections::HashSet;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, UInt32Array, new_null_array,
};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Int64Type, Schema, SchemaRef, UInt32Type};
use arrow::row::{RowConverter, Rows, SortField};
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::utils::collect_columns;
use hashbrown::hash_table::Entry as KeyEntry;
use hashbrown::{DefaultHashBuilder, HashTable};

use serde::de::DeserializeOwned;
use smallvec::SmallVec;

use super::arena::{Arena, Entry};
use super::encoding::{EncodedRows, RowEncoding};
use crate::batch::RowKind;
use crate::checkpoint::{ByteStrings, State};
use crate::operator::key::Key;
use crate::{EngineError, Result};

/// The rows of one side under one join key: in arrival order (or the order their join keeps
/// them in), but for retracted rows, whose place the last row takes.
pub(super) struct Bucket<M> {
    key: Key,
    /// Inline while there is one: most keys of some joins have a single row (Nexmark q7's
    /// bid prices), which then cost one allocation fewer.
    pub entries: SmallVec<[Entry<M>; 1]>,
    /// The entries by their row's hash, so that a retraction finds its row without comparing
    /// it with every row of the bucket: made once a retraction meets [`INDEXED`] rows, kept
    /// while rows are only appended and retracted (as a regular join's are), dropped when rows
    /// are put in between or removed otherwise.
    /// Boxed, as most buckets never have one: a bucket is then 24 bytes smaller (72 bytes
    /// with an 8-byte note).
    by_row: Option<Box<HashTable<u32>>>,
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
            entries: SmallVec::new(),
            by_row: None,
        }
    }

    fn row<'a>(&self, arena: &'a Arena, entry: usize) -> &'a [u8] {
        arena.row(&self.entries[entry])
    }

    /// Adds a row at entry `at`, writing it to `arena`.
    fn insert(&mut self, arena: &mut Arena, at: usize, row: &[u8], meta: M) {
        let entry = arena.entry(row, meta);
        self.insert_entry(arena, at, entry);
    }

    /// Adds the row of `entry` (in `arena`) at entry `at`.
    fn insert_entry(&mut self, arena: &Arena, at: usize, entry: Entry<M>) {
        match &mut self.by_row {
            Some(index) if at == self.entries.len() => {
                index.insert_unique(row_hash(arena.row(&entry)), at as u32, |&e| {
                    row_hash(arena.row(&self.entries[e as usize]))
                });
            }
            _ => self.by_row = None,
        }
        if self.entries.len() == self.entries.capacity() {
            let len = self.entries.len();
            self.entries.reserve_exact((len / 4).max(1));
        }
        self.entries.insert(at, entry);
    }

    /// The entry holding a row equal to `row`, if any.
    fn find(&mut self, arena: &Arena, row: &[u8]) -> Option<usize> {
        if self.entries.len() < INDEXED {
            return (0..self.entries.len()).find(|&i| self.row(arena, i) == row);
        }
        if self.by_row.is_none() {
            let mut index = HashTable::with_capacity(self.entries.len());
            for i in 0..self.entries.len() {
                index.insert_unique(row_hash(self.row(arena, i)), i as u32, |_| {
                    unreachable!("the table was made big enough")
                });
            }
            self.by_row = Some(Box::new(index));
        }
        let index = self.by_row.as_ref()?;
        (index.find(row_hash(row), |&e| self.row(arena, e as usize) == row)).map(|&e| e as usize)
    }

    /// Removes a row equal to `row`; false when there is none. The last row takes its place:
    /// a regular join's matches have no order.
    fn retract(&mut self, arena: &mut Arena, row: &[u8]) -> bool {
        let Some(i) = self.find(arena, row) else {
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
                let moved = row_hash(arena.row(&self.entries[last]));
                forget(index, moved, last);
                index.insert_unique(moved, i as u32, |_| unreachable!("a row was removed"));
            }
        }
        arena.forget(&self.entries.swap_remove(i));
        true
    }

    /// Keeps the rows whose note `keep` accepts; `removed` sees the others first.
    fn retain(
        &mut self,
        arena: &mut Arena,
        keep: impl Fn(&M) -> bool,
        mut removed: impl FnMut(&[u8], &M),
    ) {
        self.by_row = None;
        self.entries.retain(|e| {
            let kept = keep(&e.meta);
            if !kept {
                removed(arena.row(e), &e.meta);
                arena.forget(e);
            }
            kept
        });
    }

    /// The memory it takes besides its rows' bytes.
    fn bytes(&self) -> usize {
        let index = self.by_row.as_ref().map_or(0, |i| i.capacity() * 5);
        self.key.bytes().len()
            + usize::from(self.entries.spilled()) * self.entries.capacity() * size_of::<Entry<M>>()
            + index
    }
}

/// The hash the index keeps of bucket `slot`: that of its key's bytes, as a lookup hashes them.
fn slot_hash<M>(hasher: &DefaultHashBuilder, buckets: &[Bucket<M>], slot: u32) -> u64 {
    hasher.hash_one(buckets[slot as usize].key.bytes())
}

/// A bucket's slot as the index keeps it.
fn slot_number(slot: usize) -> u32 {
    u32::try_from(slot).expect("fewer than 4 G keys in a join's state")
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

/// A row in a side's state: its bucket and entry, or [`UNINDEXED`] and its place among the
/// rows not yet in their buckets.
#[derive(Debug, Clone, Copy)]
pub(super) struct Match {
    pub bucket: usize,
    pub entry: usize,
}

/// The bucket of a [`Match`] of a row not yet in its bucket.
const UNINDEXED: usize = usize::MAX;

/// Rows added to a side but not yet put in their buckets, in arrival order, each with its key.
/// A side that keeps many rows and is probed by few (Nexmark q7 keeps 9 M bids, which one row
/// per window probes) then pays one append per row, not a lookup of its key with three cache
/// misses: a probe of few rows reads these in one pass instead.
struct Unindexed<M> {
    /// Row `i`'s key is `keys[ends[i - 1]..ends[i]]`.
    keys: Vec<u8>,
    ends: Vec<u32>,
    entries: Vec<Entry<M>>,
    /// How many probes read them: after [`UNINDEXED_READS`], they are put in their buckets,
    /// so that reading them costs at most a few times what indexing them would.
    reads: u32,
}

/// How many probes read a side's rows not yet in their buckets before they are put there.
const UNINDEXED_READS: u32 = 4;

impl<M> Default for Unindexed<M> {
    fn default() -> Self {
        Unindexed {
            keys: Vec::new(),
            ends: Vec::new(),
            entries: Vec::new(),
            reads: 0,
        }
    }
}

impl<M> Unindexed<M> {
    fn key(&self, i: usize) -> &[u8] {
        let start = i.checked_sub(1).map_or(0, |j| self.ends[j] as usize);
        &self.keys[start..self.ends[i] as usize]
    }

    fn bytes(&self) -> usize {
        self.keys.capacity()
            + self.ends.capacity() * size_of::<u32>()
            + self.entries.capacity() * size_of::<Entry<M>>()
    }
}

/// The rows of one input by join key, and their encoding.
pub(super) struct Side<M> {
    /// Encodes this input's rows (all columns) to the bytes kept in state, and back.
    encoding: RowEncoding,
    /// A row of nulls, for padding.
    null_row: Vec<u8>,
    /// The slots of the buckets of keys, by the hash of a key's bytes (a key is kept only in
    /// its bucket: the index is four bytes a key, and finding a key reads its bucket, which
    /// adding a row then reads anyway).
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    pub buckets: Vec<Bucket<M>>,
    /// Slots of buckets whose key went away.
    free: Vec<usize>,
    /// The rows' bytes.
    arena: Arena,
    /// The buckets' bytes ([`Bucket::bytes`]), kept as they change: summing them over every
    /// key at each measure of the state would cost as much as the join's work (Nexmark q7).
    held: usize,
    /// Whether rows [pushed](Side::push) wait in `unindexed` until a probe or a change needs
    /// them in their buckets.
    defers: bool,
    unindexed: Unindexed<M>,
}

impl<M> Side<M> {
    pub fn new(schema: &SchemaRef) -> Result<Side<M>> {
        let encoding = RowEncoding::new(schema)?;
        Ok(Side {
            null_row: encoding.null_row(),
            encoding,
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            buckets: Vec::new(),
            free: Vec::new(),
            arena: Arena::default(),
            held: 0,
            defers: false,
            unindexed: Unindexed::default(),
        })
    }

    /// Keeps about `budget` bytes of rows in memory at most, and writes older ones to a
    /// temporary file in `dir` ([`super::arena`]).
    pub fn spilling_beyond(mut self, budget: usize, dir: PathBuf) -> Self {
        self.arena = Arena::spilling(budget, dir);
        self
    }

    /// Fails with the error writing rows to the temporary file met, if it met one (the rows
    /// stayed in memory).
    pub fn spill_failure(&mut self) -> Result<()> {
        self.arena.failure().map_or(Ok(()), Err)
    }

    /// Rows [pushed](Side::push) are put in their buckets only when a probe or a change needs
    /// them there: a probe of few rows reads them in one pass instead (see [`Unindexed`]).
    pub fn deferring_index(mut self) -> Self {
        self.defers = true;
        self
    }

    /// Adds a row under `key`, after the key's other rows: in its bucket, or, if the side
    /// defers its index, after the rows not yet in theirs.
    pub fn push(&mut self, key: &[u8], row: &[u8], meta: M) {
        if !self.defers || self.unindexed.keys.len() + key.len() > u32::MAX as usize {
            self.add(key, row, meta);
            return;
        }
        self.wait(key, row, meta);
    }

    /// Adds a row under `key` after the rows not yet in their buckets.
    fn wait(&mut self, key: &[u8], row: &[u8], meta: M) {
        let unindexed = &mut self.unindexed;
        unindexed.keys.extend_from_slice(key);
        unindexed.ends.push(unindexed.keys.len() as u32);
        unindexed.entries.push(self.arena.entry(row, meta));
    }

    /// Puts the rows not yet in their buckets there, in the order they came.
    pub fn index_all(&mut self) {
        if self.unindexed.entries.is_empty() {
            return;
        }
        let mut unindexed = std::mem::take(&mut self.unindexed);
        let entries = std::mem::take(&mut unindexed.entries);
        for (i, entry) in entries.into_iter().enumerate() {
            let (slot, size) = self.bucket_for(unindexed.key(i));
            let bucket = &mut self.buckets[slot];
            bucket.insert_entry(&self.arena, bucket.entries.len(), entry);
            self.held += bucket.bytes() - size;
        }
    }

    /// Readies the side for a probe of `rows` rows: the rows not yet in their buckets are put
    /// there when the probe is large for them (a pass over them would cost more than indexing
    /// them), or when probes have read them [`UNINDEXED_READS`] times.
    pub fn ready_for(&mut self, rows: usize) {
        let waiting = self.unindexed.entries.len();
        if waiting > 0 {
            if rows.saturating_mul(16) >= waiting || self.unindexed.reads >= UNINDEXED_READS {
                self.index_all();
            } else {
                self.unindexed.reads += 1;
            }
        }
    }

    /// The note of a row held (mutable: a join counts a row's matches there).
    pub fn meta_mut(&mut self, m: Match) -> &mut M {
        match m.bucket {
            UNINDEXED => &mut self.unindexed.entries[m.entry].meta,
            slot => &mut self.buckets[slot].entries[m.entry].meta,
        }
    }

    /// The rows of `batch` (of this input) in the state's encoding.
    pub fn encode(&self, batch: &RecordBatch) -> Result<EncodedRows> {
        self.encoding.encode(batch.columns(), batch.num_rows())
    }

    pub fn bucket_of(&self, key: &[u8]) -> Option<usize> {
        let hash = self.hasher.hash_one(key);
        (self
            .index
            .find(hash, |&slot| self.buckets[slot as usize].key.bytes() == key))
        .map(|&slot| slot as usize)
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
        self.index_all();
        let (slot, size) = self.bucket_for(key);
        let bucket = &mut self.buckets[slot];
        let at = bucket.entries.partition_point(|e| before(&e.meta));
        bucket.insert(&mut self.arena, at, row, meta);
        self.held += bucket.bytes() - size;
        slot
    }

    /// The slot of the bucket of `key`, made if new, and its size ([`Bucket::bytes`]).
    fn bucket_for(&mut self, key: &[u8]) -> (usize, usize) {
        // One probe of the index whether the key is new or not.
        let Side {
            index,
            hasher,
            buckets,
            free,
            ..
        } = self;
        let hash = hasher.hash_one(key);
        let same = |&slot: &u32| buckets[slot as usize].key.bytes() == key;
        let rehash = |&slot: &u32| slot_hash(hasher, buckets, slot);
        let (slot, size) = match index.entry(hash, same, rehash) {
            KeyEntry::Occupied(found) => {
                let slot = *found.get() as usize;
                (slot, buckets[slot].bytes())
            }
            KeyEntry::Vacant(new) => {
                let bucket = Bucket::new(Key::new(key));
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
                new.insert(slot_number(slot));
                (slot, 0)
            }
        };
        (slot, size)
    }

    /// The row of entry `entry` of bucket `slot` (or of the rows not yet in their buckets).
    pub fn row(&self, slot: usize, entry: usize) -> &[u8] {
        match slot {
            UNINDEXED => self.arena.row(&self.unindexed.entries[entry]),
            slot => self.buckets[slot].row(&self.arena, entry),
        }
    }

    /// Removes a row under `key` equal to `row`.
    pub fn retract(&mut self, key: &[u8], row: &[u8]) {
        self.index_all();
        if let Some(slot) = self.bucket_of(key)
            && self.resize(slot, |bucket, arena| bucket.retract(arena, row))
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
        self.index_all();
        self.resize(slot, |bucket, arena| bucket.retain(arena, keep, removed));
        self.free_if_empty(slot);
    }

    /// Removes rows from bucket `slot` with `change`, keeping the count of bytes held right;
    /// drops the arena once no row is left in it, and copies the rows left to a new one once
    /// most of it is of removed rows.
    fn resize<R>(
        &mut self,
        slot: usize,
        change: impl FnOnce(&mut Bucket<M>, &mut Arena) -> R,
    ) -> R {
        let bucket = &mut self.buckets[slot];
        let before = bucket.bytes();
        let result = change(bucket, &mut self.arena);
        self.held = self.held - before + bucket.bytes();
        if self.arena.garbage == self.arena.written {
            self.arena = self.arena.emptied();
        } else if self.arena.sparse() {
            let mut arena = self.arena.emptied();
            let unindexed = self.unindexed.entries.iter_mut();
            for entry in (self.buckets.iter_mut().flat_map(|b| &mut b.entries)).chain(unindexed) {
                arena.copy(&self.arena, entry);
            }
            self.arena = arena;
        }
        result
    }

    fn free_if_empty(&mut self, slot: usize) {
        if !self.buckets[slot].entries.is_empty() {
            return;
        }
        let hash = slot_hash(&self.hasher, &self.buckets, slot_number(slot));
        if let Ok(found) = self.index.find_entry(hash, |&s| s as usize == slot) {
            let bucket = &mut self.buckets[slot];
            found.remove();
            self.held -= bucket.bytes();
            *bucket = Bucket::new(Key::new(&[]));
            self.free.push(slot);
            // The index gives back memory once most of its keys have gone.
            if self.index.len() * 8 < self.index.capacity() {
                let (hasher, buckets) = (&self.hasher, &self.buckets);
                (self.index).shrink_to(self.index.len() * 2, |&s| slot_hash(hasher, buckets, s));
            }
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
        self.columns(matches.map(|m| m.map(|m| self.row(m.bucket, m.entry))))
    }

    /// Columns of the rows `matches` of this side's state, only those `wanted` picks (the
    /// others all NULL).
    pub fn some_match_columns(
        &self,
        matches: &[Match],
        wanted: impl Fn(usize) -> bool,
    ) -> Result<Vec<ArrayRef>> {
        let rows: Vec<&[u8]> = (matches.iter())
            .map(|m| self.row(m.bucket, m.entry))
            .collect();
        self.encoding.decode_some(&rows, wanted)
    }

    /// How many rows wait to be put in their buckets, and how many probes read them.
    #[cfg(test)]
    pub fn waiting(&self) -> (usize, u32) {
        (self.unindexed.entries.len(), self.unindexed.reads)
    }

    /// Bytes of rows written to the side's temporary file.
    #[cfg(test)]
    pub fn spilled(&self) -> u64 {
        self.arena.spilled()
    }

    /// How many rows are kept.
    #[cfg(test)]
    pub fn rows(&self) -> usize {
        self.buckets.iter().map(|b| b.entries.len()).sum::<usize>() + self.unindexed.entries.len()
    }

    pub fn bytes(&self) -> usize {
        debug_assert_eq!(
            self.held,
            self.buckets.iter().map(Bucket::bytes).sum::<usize>(),
            "the count of bytes held is kept right"
        );
        self.index.capacity() * (size_of::<u32>() + 1)
            + self.held
            + self.arena.capacity
            + self.unindexed.bytes()
    }
}

/// What a join notes about each row it holds, as a checkpoint keeps it: numbers, in one
/// column each (16 bytes a row for a regular join, where JSON took 39 and a quarter of
/// Nexmark q7's checkpoints).
pub(super) trait Note: Copy {
    /// How many numbers a note is.
    const WIDTH: usize;

    /// Its number `i`.
    fn number(&self, i: usize) -> i64;

    /// The note of `numbers` (each asked for by its place).
    fn from_numbers(numbers: impl Fn(usize) -> i64) -> Self;
}

impl Note for () {
    const WIDTH: usize = 0;

    fn number(&self, _: usize) -> i64 {
        unreachable!("no numbers")
    }

    fn from_numbers(_: impl Fn(usize) -> i64) -> Self {}
}

/// Puts `notes` (`rows` of them) under `name`, as columns of their numbers.
fn put_notes<M: Note>(
    state: &mut State,
    name: &str,
    notes: impl Iterator<Item = M> + Clone,
    rows: usize,
) -> Result<()> {
    let columns = (0..M::WIDTH)
        .map(|i| {
            Arc::new(Int64Array::from_iter_values(
                notes.clone().map(|n| n.number(i)),
            )) as _
        })
        .collect();
    state.put_columns(name, columns, rows)
}

/// The notes under `name`, put with [`put_notes`].
fn read_notes<M: Note>(state: &State, name: &str) -> Result<Vec<M>> {
    let (columns, rows) = state.columns(name)?;
    let numbers = (columns.iter())
        .map(|c| c.as_primitive_opt::<Int64Type>().ok_or_else(short))
        .collect::<Result<Vec<_>>>()?;
    if numbers.len() != M::WIDTH {
        return Err(short());
    }
    Ok((0..rows)
        .map(|row| M::from_numbers(|i| numbers[i].value(row)))
        .collect())
}

impl<M: Note + DeserializeOwned> Side<M> {
    /// Puts the rows under `name`, bucket by bucket in slot order (expiry lists name slots,
    /// and rows keep their order, which output follows), then the rows not yet in their
    /// buckets, in the order they came (filing them here would make a checkpoint wait for it).
    /// The rows are views into the arena's blocks, all in one array (see [`Arena::views`]).
    pub fn snapshot(&self, state: &mut State, name: &str) -> Result<()> {
        let keys = self.buckets.iter().map(|b| b.key.bytes());
        state.put_byte_strings(&format!("{name}.keys"), keys)?;
        let counts = (self.buckets.iter()).map(|b| b.entries.len() as u32);
        let counts = UInt32Array::from_iter_values(counts);
        state.put_columns(
            &format!("{name}.counts"),
            vec![Arc::new(counts)],
            self.buckets.len(),
        )?;
        state.put(&format!("{name}.free"), &self.free)?;
        let waiting = &self.unindexed;
        let keys = (0..waiting.entries.len()).map(|i| waiting.key(i));
        state.put_byte_strings(&format!("{name}.waiting.keys"), keys)?;
        let entries = (self.buckets.iter())
            .flat_map(|b| b.entries.iter())
            .chain(&waiting.entries);
        let rows = self.arena.views(entries.clone())?;
        let n = rows.len();
        state.put_byte_views(&format!("{name}.rows"), rows)?;
        put_notes(state, &format!("{name}.noted"), entries.map(|e| e.meta), n)
    }

    /// Takes back the rows put under `name` by [`Side::snapshot`].
    pub fn restore(&mut self, state: &State, name: &str) -> Result<()> {
        let rows = state.byte_strings(&format!("{name}.rows"))?;
        let waiting_keys = state.byte_strings(&format!("{name}.waiting.keys"))?;
        // Per bucket its number of rows, then every row's note, bucket by bucket then
        // waiting; the free slots; and the rows waiting if apart from the others.
        let (counts, notes, free, waiting_rows): (Vec<usize>, Vec<M>, Vec<usize>, _) =
            match state.has(&format!("{name}.counts")) {
                true => {
                    let ([counts], _) = state.columns_of(&format!("{name}.counts"))?;
                    let counts = counts.as_primitive_opt::<UInt32Type>().ok_or_else(short)?;
                    (
                        counts.values().iter().map(|&n| n as usize).collect(),
                        read_notes(state, &format!("{name}.noted"))?,
                        state.get(&format!("{name}.free"))?,
                        None,
                    )
                }
                // Written before the rows were views and the notes columns.
                false => {
                    let (notes, free): (Vec<Vec<M>>, Vec<usize>) =
                        state.get(&format!("{name}.notes"))?;
                    let waiting: Vec<M> = state.get(&format!("{name}.waiting.notes"))?;
                    (
                        notes.iter().map(Vec::len).collect(),
                        [notes.concat(), waiting].concat(),
                        free,
                        Some(state.byte_strings(&format!("{name}.waiting.rows"))?),
                    )
                }
            };
        let indexed: usize = counts.iter().sum();
        let held = rows.len() + waiting_rows.as_ref().map_or(0, ByteStrings::len);
        if notes.len() != indexed + waiting_keys.len() || held != notes.len() {
            return Err(short());
        }
        let keys = state.byte_strings(&format!("{name}.keys"))?;
        if keys.len() != counts.len() {
            return Err(short());
        }
        self.buckets.clear();
        self.index.clear();
        self.arena = self.arena.emptied();
        self.unindexed = Unindexed::default();
        let mut rows = (rows.iter())
            .chain(waiting_rows.iter().flat_map(ByteStrings::iter))
            .zip(notes);
        for (key, count) in keys.iter().zip(counts) {
            let mut bucket = Bucket::new(Key::new(key));
            bucket.entries.reserve(count);
            for (row, meta) in rows.by_ref().take(count) {
                let at = bucket.entries.len();
                bucket.insert(&mut self.arena, at, row, meta);
            }
            self.buckets.push(bucket);
        }
        let mut freed = vec![false; self.buckets.len()];
        for &slot in &free {
            *freed.get_mut(slot).ok_or_else(short)? = true;
        }
        for slot in (0..self.buckets.len()).filter(|&slot| !freed[slot]) {
            let slot = slot_number(slot);
            let hash = slot_hash(&self.hasher, &self.buckets, slot);
            (self.index).insert_unique(hash, slot, |&s| slot_hash(&self.hasher, &self.buckets, s));
        }
        self.free = free;
        self.held = self.buckets.iter().map(Bucket::bytes).sum();
        for (key, (row, meta)) in waiting_keys.iter().zip(rows) {
            self.wait(key, row, meta);
        }
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
    /// the candidates under its key in the entries `within` picks (and all its rows not yet in
    /// their bucket: only a regular join, which picks all, defers its index), those `accept`
    /// lets through, then those the residual condition holds for. Row `i`'s matches are
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
        // The rows not yet in their buckets come after those in them, as they would there.
        let unindexed = self.unindexed_matches(other, &accept);
        let mut unindexed = unindexed.iter().peekable();
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
            while let Some(&(_, entry)) = unindexed.next_if(|(row, _)| *row as usize == i) {
                let entry = entry as usize;
                matches.push(Match {
                    bucket: UNINDEXED,
                    entry,
                });
                probe.push(i as u32);
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

    /// The rows of `other` not yet in their buckets that the batch's rows match under their
    /// keys and `accept` lets through: `(row, place among them)`, by row, then place. One pass
    /// over them, looking each key up among the batch's.
    fn unindexed_matches<M>(
        &self,
        other: &Side<M>,
        accept: impl Fn(usize, &M) -> bool,
    ) -> Vec<(u32, u32)> {
        let waiting = &other.unindexed;
        if waiting.entries.is_empty() {
            return Vec::new();
        }
        // The batch's keys: each with its first row, and each row with the next of its key.
        let hash = |key: &[u8]| other.hasher.hash_one(key);
        let mut keys: HashTable<u32> = HashTable::new();
        let mut next = vec![u32::MAX; self.batch.num_rows()];
        for i in (0..self.batch.num_rows()).rev() {
            if !self.matchable.value(i) {
                continue;
            }
            let key = key_of(self.keys, i);
            let same = |&j: &u32| key_of(self.keys, j as usize) == key;
            let rehash = |&j: &u32| hash(key_of(self.keys, j as usize));
            match keys.entry(hash(key), same, rehash) {
                KeyEntry::Occupied(mut first) => {
                    next[i] = std::mem::replace(first.get_mut(), i as u32)
                }
                KeyEntry::Vacant(new) => {
                    new.insert(i as u32);
                }
            }
        }
        let mut found = Vec::new();
        for (place, entry) in waiting.entries.iter().enumerate() {
            let key = waiting.key(place);
            let Some(&first) = keys.find(hash(key), |&j| key_of(self.keys, j as usize) == key)
            else {
                continue;
            };
            let mut row = first;
            while row != u32::MAX {
                if accept(row as usize, &entry.meta) {
                    found.push((row, place as u32));
                }
                row = next[row as usize];
            }
        }
        // Stable: each row's matches stay in the order the rows came.
        found.sort_by_key(|&(row, _)| row);
        found
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
    use std::path::Path;

    use arrow::buffer::Buffer;
    use arrow::datatypes::{Field, Schema};

    use super::super::arena::BLOCK;
    use super::*;
    use crate::operator::testing::random;

    impl Note for u32 {
        const WIDTH: usize = 1;

        fn number(&self, _: usize) -> i64 {
            i64::from(*self)
        }

        fn from_numbers(numbers: impl Fn(usize) -> i64) -> Self {
            numbers(0) as u32
        }
    }

    /// The rows of a bucket, sorted.
    fn contents(rows: impl Iterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
        let mut rows: Vec<Vec<u8>> = rows.collect();
        rows.sort();
        rows
    }

    #[test]
    fn large_buckets_add_and_retract_rows_as_a_multiset_would() {
        let mut arena = Arena::default();
        let mut bucket = Bucket::new(Key::new(b"k"));
        let mut model: Vec<Vec<u8>> = Vec::new();
        // Over 50 distinct rows, so that rows repeat and some retractions find nothing.
        let mut next = random(7);
        for step in 0..4000u32 {
            let pick = next(1 << 31);
            let row = format!("row{}", pick % 50).into_bytes();
            if pick >> 30 == 0 || step % 7 == 0 {
                let at = bucket.entries.len();
                bucket.insert(&mut arena, at, &row, step);
                model.push(row);
            } else {
                let expected = model.iter().position(|r| *r == row);
                let found = bucket.retract(&mut arena, &row);
                assert_eq!(found, expected.is_some(), "step {step}");
                if let Some(i) = expected {
                    model.swap_remove(i);
                }
            }
            if step % 97 == 0 {
                let rows = (0..bucket.entries.len()).map(|e| bucket.row(&arena, e).to_vec());
                assert_eq!(
                    contents(rows),
                    contents(model.iter().cloned()),
                    "step {step}"
                );
            }
        }
        assert!(
            bucket.by_row.is_some(),
            "the bucket grew past {INDEXED} rows"
        );
        // A row put in between drops the index; retractions still find their rows.
        bucket.insert(&mut arena, 0, b"first", 0);
        assert!(bucket.by_row.is_none());
        model.push(b"first".to_vec());
        for row in model.clone() {
            assert!(bucket.retract(&mut arena, &row));
        }
        assert!(bucket.entries.is_empty());
    }

    fn binary_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("v", DataType::Binary, true)]))
    }

    /// The rows `side` holds under each key of `model` are those of the model.
    fn assert_holds(side: &Side<u32>, model: &datafusion_common::HashMap<u64, Vec<Vec<u8>>>) {
        for (key, rows) in model {
            let slot = side.bucket_of(&key.to_le_bytes());
            let held = slot.map_or(vec![], |slot| {
                let bucket = &side.buckets[slot];
                (0..bucket.entries.len())
                    .map(|e| side.row(slot, e).to_vec())
                    .collect()
            });
            assert_eq!(contents(held.into_iter()), contents(rows.iter().cloned()));
        }
    }

    /// Rows of 1 to 4 KiB under 300 keys, most retracted, so that the arena is copied several
    /// times: the side holds the rows it should, kept in memory within `budget` (with one
    /// block it writes to) when it spills, and restores them from a checkpoint.
    fn keeps_rows_as_they_come_and_go(new: impl Fn() -> Side<u32>, budget: Option<usize>) {
        let mut side = new();
        let mut model: datafusion_common::HashMap<u64, Vec<Vec<u8>>> = Default::default();
        let mut next = random(11);
        for step in 0..12_000u32 {
            let key = next(300);
            let rows = model.entry(key).or_default();
            if step % 3 == 0 || rows.is_empty() {
                let len = 1024 + next(3072) as usize;
                let row: Vec<u8> = (0..len).map(|i| (step as usize + i) as u8).collect();
                side.add(&key.to_le_bytes(), &row, step);
                rows.push(row);
            } else {
                let row = rows.swap_remove(next(rows.len() as u64) as usize);
                side.retract(&key.to_le_bytes(), &row);
            }
            if let Some(budget) = budget {
                let memory = side.arena.capacity;
                assert!(
                    memory <= budget + BLOCK,
                    "step {step}: {memory} bytes in memory"
                );
            }
            if step % 1000 == 999 {
                assert_holds(&side, &model);
            }
        }
        side.spill_failure().unwrap();
        let kept: usize = model.values().flatten().map(Vec::len).sum();
        assert!(
            side.arena.written < kept + 2 * BLOCK + 1,
            "the arena was compacted: {} bytes written for {kept} kept",
            side.arena.written
        );
        assert_eq!(budget.is_some(), side.arena.spilled() > 0);
        assert_holds(&side, &model);
        // Checks, in a debug build, that the count of bytes held was kept right.
        assert!(side.bytes() >= kept.min(budget.unwrap_or(kept)));
        let mut state = State::new();
        side.snapshot(&mut state, "side").unwrap();
        // The rows in the file are shared with the state, not copied.
        let ByteStrings::Views(rows) = state.byte_strings("side.rows").unwrap() else {
            panic!("a side's rows are views into its blocks")
        };
        for part in side.arena.spilled_parts() {
            let part = part.as_ptr_range();
            assert!(
                (rows.data_buffers().iter()).any(|b| part.contains(&b.as_ptr())),
                "no row of a part of the file is read where it is mapped"
            );
        }
        // Rows in memory are copied alone, without those retracted.
        let bytes: usize = rows.data_buffers().iter().map(Buffer::len).sum();
        match budget {
            None => {
                assert!(
                    side.arena.garbage > 0,
                    "rows retracted since the arena was copied"
                );
                assert_eq!(bytes, kept);
            }
            Some(_) => assert!(bytes <= side.arena.written, "{bytes} bytes of rows"),
        }
        let state = State::decode(state.encode().unwrap()).unwrap();
        let mut restored = new();
        restored.restore(&state, "side").unwrap();
        assert_holds(&restored, &model);
        assert_eq!(budget.is_some(), restored.arena.spilled() > 0);
    }

    #[test]
    fn rows_keep_their_bytes_when_the_arena_drops_removed_ones() {
        keeps_rows_as_they_come_and_go(|| Side::new(&binary_schema()).unwrap(), None);
    }

    #[test]
    fn rows_keep_their_bytes_when_older_ones_are_written_to_a_file() {
        let budget = 64 << 10;
        let dir = tempfile::tempdir().unwrap();
        let side = || {
            let side = Side::new(&binary_schema()).unwrap();
            side.spilling_beyond(budget, dir.path().to_path_buf())
        };
        keeps_rows_as_they_come_and_go(side, Some(budget));
    }

    #[test]
    fn a_side_that_cannot_write_its_file_keeps_its_rows_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let side = Side::new(&binary_schema()).unwrap();
        let mut side = side.spilling_beyond(0, missing.clone());
        let row = |k: u32| vec![k as u8; 3000];
        for k in 0..100u32 {
            side.add(&k.to_le_bytes(), &row(k), k);
        }
        let error = side.spill_failure().unwrap_err().to_string();
        assert!(
            error.contains(&missing.display().to_string()) && error.contains("temporary file"),
            "{error}"
        );
        assert_eq!(side.arena.spilled(), 0);
        for k in 0..100u32 {
            let slot = side.bucket_of(&k.to_le_bytes()).unwrap();
            assert_eq!(side.row(slot, 0), row(k));
        }
    }

    /// Every row and note of `side`, bucket by bucket, then those waiting for their buckets.
    fn held(side: &Side<u32>) -> Vec<(Vec<u8>, Vec<u8>, u32)> {
        let buckets = (side.buckets.iter()).flat_map(|b| {
            (b.entries.iter()).map(|e| (b.key.bytes().to_vec(), side.arena.row(e).to_vec(), e.meta))
        });
        let waiting = &side.unindexed;
        let waiting = (waiting.entries.iter().enumerate())
            .map(|(i, e)| (waiting.key(i).to_vec(), side.arena.row(e).to_vec(), e.meta));
        buckets.chain(waiting).collect()
    }

    /// Rows in buckets, some waiting for theirs, some spilled, each noted with a number.
    fn side_with_rows(dir: &Path) -> Side<u32> {
        let side = Side::new(&binary_schema()).unwrap();
        let mut side = side.spilling_beyond(16 << 10, dir.to_path_buf());
        for k in 0..300u32 {
            side.add(&(k % 40).to_le_bytes(), &vec![k as u8; 100 + k as usize], k);
        }
        // Key 39 goes, and its slot is free.
        for k in (39..300u32).step_by(40) {
            side.retract(&39u32.to_le_bytes(), &vec![k as u8; 100 + k as usize]);
        }
        assert_eq!(side.free.len(), 1);
        let mut side = side.deferring_index();
        for k in 300..400u32 {
            side.push(
                &(k % 40).to_le_bytes(),
                &vec![k as u8; 3 + k as usize % 20],
                k,
            );
        }
        assert!(side.spilled() > 0 && side.waiting().0 > 0);
        side
    }

    /// A side restored from `state`, written and read back, holds what `side` holds.
    fn assert_restores_as(state: &State, side: &Side<u32>) {
        let state = State::decode(state.encode().unwrap()).unwrap();
        let mut restored: Side<u32> = Side::new(&binary_schema()).unwrap();
        restored.restore(&state, "side").unwrap();
        assert_eq!(held(&restored), held(side));
        assert_eq!(restored.free, side.free);
        assert_eq!(restored.bucket_of(&39u32.to_le_bytes()), None);
        assert!(restored.bucket_of(&38u32.to_le_bytes()).is_some());
    }

    #[test]
    fn a_side_restores_its_rows_and_notes_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let side = side_with_rows(dir.path());
        let mut state = State::new();
        side.snapshot(&mut state, "side").unwrap();
        assert_restores_as(&state, &side);
    }

    /// Before rows were views and notes columns, a side's checkpoint was written as here.
    #[test]
    fn a_side_restores_from_a_checkpoint_written_before_notes_were_columns() {
        let dir = tempfile::tempdir().unwrap();
        let side = side_with_rows(dir.path());
        let mut state = State::new();
        let keys = side.buckets.iter().map(|b| b.key.bytes());
        state.put_byte_strings("side.keys", keys).unwrap();
        let entries = || side.buckets.iter().flat_map(|b| b.entries.iter());
        let rows = entries().map(|e| side.arena.row(e));
        state.put_byte_strings("side.rows", rows).unwrap();
        let notes: Vec<Vec<u32>> = (side.buckets.iter())
            .map(|b| b.entries.iter().map(|e| e.meta).collect())
            .collect();
        state.put("side.notes", &(notes, &side.free)).unwrap();
        let waiting = &side.unindexed;
        let keys = (0..waiting.entries.len()).map(|i| waiting.key(i));
        state.put_byte_strings("side.waiting.keys", keys).unwrap();
        let rows = waiting.entries.iter().map(|e| side.arena.row(e));
        state.put_byte_strings("side.waiting.rows", rows).unwrap();
        let notes: Vec<u32> = waiting.entries.iter().map(|e| e.meta).collect();
        state.put("side.waiting.notes", &notes).unwrap();
        assert_restores_as(&state, &side);
    }

    /// Keys come and most go: each is found while it has rows and not after; the index gives
    /// back its memory, and a restored side finds the same keys.
    #[test]
    fn keys_are_found_while_they_have_rows() {
        let schema = binary_schema();
        let mut side: Side<u32> = Side::new(&schema).unwrap();
        let key = |k: u32| k.to_le_bytes();
        let row = |k: u32| format!("row of {k}").into_bytes();
        for k in 0..2000 {
            side.add(&key(k), &row(k), k);
        }
        let grown = side.index.capacity();
        for k in 100..2000 {
            side.retract(&key(k), &row(k));
        }
        assert!(side.index.capacity() * 4 < grown, "{grown} slots kept");
        for k in 5000..5500 {
            side.add(&key(k), &row(k), k);
        }
        assert_eq!(side.buckets.len(), 2000, "freed slots were taken again");
        let mut restored: Side<u32> = Side::new(&schema).unwrap();
        let mut state = State::new();
        side.snapshot(&mut state, "side").unwrap();
        restored.restore(&state, "side").unwrap();
        for side in [&side, &restored] {
            for k in (0..6000).step_by(7) {
                let found = side
                    .bucket_of(&key(k))
                    .map(|slot| side.row(slot, 0).to_vec());
                let live = k < 100 || (5000..5500).contains(&k);
                assert_eq!(found, live.then(|| row(k)), "key {k}");
            }
        }
    }
}
