//! `MATCH_RECOGNIZE`: rows wait until the watermark passes them, then go to their partition's
//! matcher in event-time order; matches become output rows as soon as the matcher is certain
//! of them, and rows are forgotten as soon as no partial match can refer to them.
//!
//! Conditions that look only at the current row and rows before it (`PREV`) are evaluated on
//! whole released batches (one bit per variable and row). Conditions that look into the match
//! are evaluated over their terms, with one row per thread that asks: the matchers take the
//! released rows in steps, every open attempt of every partition one row per step (attempts
//! are independent until settled), and a step's questions are answered in one batch.

mod output;
mod released;
mod rows;
mod terms;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, UInt32Array};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion_physical_expr::PhysicalExpr;
use rill_cep::{KEPT_ROWS, Matcher, Outcome, Partition, Path, Scratch};

pub use rows::{ALL_VARIABLES, Navigation};
pub use terms::{Term, Terms};

use self::output::{Emit, emit_rows};
use self::released::{PartitionEnd, Placed, Released, ReleasedRows, Sorted};
use self::rows::{MatchRows, PartitionRows, RowRef, RowStore};
use self::terms::{Collected, Gather};
use super::aggregate::KeyTable;
use super::timed::{Timed, split_late};
use super::waiting::Waiting;
use super::{Operator, SortKey};
use crate::batch::{ChangeBatch, Message};
use crate::checkpoint::State;
use crate::late::LateRows;
use crate::time::{NO_WATERMARK, Watermark, for_each_millis};
use crate::{EngineError, Result};

/// How a variable's condition is decided.
#[derive(Debug, Clone)]
pub enum Define {
    /// No `DEFINE`: every row.
    Always,
    /// Looks only at the current row and rows before it: evaluated on whole batches.
    Batch(Arc<dyn PhysicalExpr>),
    /// Looks into the match: `condition` over its `terms`, gathered per thread.
    Match {
        terms: Terms,
        condition: Arc<dyn PhysicalExpr>,
    },
}

impl Define {
    /// Whether the condition looks into the match.
    pub fn looks_into_match(&self) -> bool {
        matches!(self, Define::Match { .. })
    }
}

/// `ONE ROW PER MATCH` or `ALL ROWS PER MATCH` with its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum RowsPerMatch {
    One,
    All {
        /// `SHOW EMPTY MATCHES` (the default) rather than `OMIT EMPTY MATCHES`.
        empty_matches: bool,
        /// `WITH UNMATCHED ROWS`.
        unmatched: bool,
    },
}

/// What an output column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputColumn {
    /// An input column of the output row's row.
    Input(usize),
    Measure(usize),
}

/// A planned `MATCH_RECOGNIZE`.
#[derive(Debug, Clone)]
pub struct MatchSpec {
    pub matcher: Matcher,
    /// The pattern variables, by number.
    pub names: Vec<String>,
    /// `PARTITION BY` input columns.
    pub partition: Vec<usize>,
    /// The `ORDER BY` event-time input column.
    pub time: usize,
    /// `ORDER BY` keys after the time, for rows with the same time.
    pub order: Vec<SortKey>,
    /// Per variable.
    pub defines: Vec<Define>,
    /// The terms of the measures.
    pub terms: Terms,
    /// The measures, over a batch of their terms.
    pub measures: Vec<Arc<dyn PhysicalExpr>>,
    pub rows: RowsPerMatch,
    pub output: Vec<OutputColumn>,
    pub schema: SchemaRef,
    /// How many rows before a match's first row conditions and measures may look at (`PREV`).
    pub lookback: u64,
    /// How many rows after a match's last row measures may look at (`NEXT`).
    pub lookahead: u64,
    /// How many rows after the current one conditions read (`NEXT` in `DEFINE`): the
    /// matcher runs that many rows behind each partition's input.
    pub define_lookahead: u64,
    /// The `(column, rows back)` that batch conditions read after the input columns (`PREV`).
    pub lags: Vec<(usize, u64)>,
}

impl MatchSpec {
    /// Whether a partition that holds nothing can be forgotten: its past has no bearing on
    /// its future (no `PREV` before a match, no `MATCH_NUMBER()`, no `^`).
    fn forgets_idle_partitions(&self) -> bool {
        !self.partition.is_empty()
            && self.lookback == 0
            && !self.matcher.reads_partition_start()
            && !(self.terms.terms.iter()).any(|t| matches!(t, Term::MatchNumber))
    }

    /// The terms of the conditions that look into the match, then the measures'.
    fn all_terms(&self) -> impl Iterator<Item = &Term> {
        let defines = self.defines.iter().filter_map(|d| match d {
            Define::Match { terms, .. } => Some(terms.terms.iter()),
            _ => None,
        });
        defines.flatten().chain(&self.terms.terms)
    }
}

/// Idle partitions are looked for once there are at least this many partitions (and twice as
/// many as were live at the last look).
const DROP_IDLE_AT: usize = 1024;

/// Partitions whose questions are answered together take their rows in groups holding about
/// this many rows: each step visits every partition of its group, whose states then stay in
/// cache (a group of 65,536 rows made Nexmark's cep_q0 twice as slow).
const STEP_ROWS: usize = 4096;

/// At the end of the input, partitions end in chunks of about this many rows (a chunk
/// holds whole partitions): few enough that a chunk's states are still in cache when its
/// partitions finish (at 10 M events, the end of cep_q0 took 3.7 s with chunks of 16,384
/// rows and 3.3 s with 4,096; cep_q1's 2.5 s and 2.1 s; chunks of 2,048 were no faster).
const END_CHUNK_ROWS: usize = 4096;

/// At the end of the input, released rows are copied into order this many chunks at a time:
/// each copy visits every batch released (cep_q1 at 10 M events: 1,100 of them), whatever
/// its length.
const CHUNKS_COPIED: usize = 4;

/// One partition: its matching state and the rows it still needs.
#[derive(Default)]
struct PartitionState {
    matching: Partition,
    rows: PartitionRows,
    /// The times of the last rows kept, which the matcher has not taken yet: they wait for
    /// the rows after them that conditions read (`NEXT` in `DEFINE`).
    held: VecDeque<i64>,
    /// The time of its entry in [`MatchRecognize::timers`], if it has one.
    timer: Option<i64>,
    /// Its size as last counted into [`Partitions::bytes`].
    bytes: usize,
}

impl PartitionState {
    /// Empties the partition as if new, keeping the memory a small one needs; its rows are
    /// released first.
    fn clear(&mut self) {
        self.matching.clear();
        self.rows.clear();
        self.held.clear();
        self.held.shrink_to(KEPT_ROWS);
        self.timer = None;
        self.bytes = 0;
    }
}

/// The partitions' states, by partition number. At the end of the input, only those of the
/// chunk of partitions being ended are held, so that ending many partitions reuses a chunk's
/// memory (still in cache) instead of making a state for every partition at once.
#[derive(Default)]
struct Partitions {
    /// The number of the first state held: the partitions before it have ended.
    first: usize,
    /// Boxed: hundreds of thousands of states come and go, and are renumbered, and a pointer
    /// moves faster than a state.
    states: VecDeque<Box<PartitionState>>,
    /// Emptied states, whose memory the next new ones take (there are never more states
    /// than partitions were live at once).
    #[expect(clippy::vec_box, reason = "boxed to move into `states` as a pointer")]
    spare: Vec<Box<PartitionState>>,
    /// The states' sizes, as last counted: each partition's is counted again when its
    /// matcher or rows change, so that measuring the state does not visit every partition.
    bytes: usize,
}

impl Partitions {
    /// One past the last partition with a state.
    fn len(&self) -> usize {
        self.first + self.states.len()
    }

    fn get(&self, p: usize) -> Option<&PartitionState> {
        self.states.get(p.checked_sub(self.first)?).map(|s| &**s)
    }

    /// Counts partition `p`'s size again, after its matcher or its rows changed.
    fn recount(&mut self, p: usize) {
        let state = &mut self.states[p - self.first];
        let size = state.matching.size() + state.rows.size();
        self.bytes = self.bytes - state.bytes + size;
        state.bytes = size;
    }

    /// Empties the state of a partition that has ended (its rows released) for a new one.
    fn retire(&mut self, mut state: Box<PartitionState>) {
        self.bytes -= state.bytes;
        state.clear();
        self.spare.push(state);
    }

    /// Makes states for the partitions up to `end`.
    fn add_up_to(&mut self, end: usize) {
        self.states.reserve(end.saturating_sub(self.len()));
        while self.len() < end {
            let state = self.spare.pop().unwrap_or_default();
            self.states.push_back(state);
        }
    }

    /// Ends the partitions before `end`, whose rows were released: their states are emptied
    /// for new ones.
    fn end_before(&mut self, end: usize) {
        while self.first < end {
            if let Some(state) = self.states.pop_front() {
                self.retire(state);
            }
            self.first += 1;
        }
    }

    /// Keeps the states of the partitions `live` marks (all are held, from partition 0),
    /// numbered again in order; the others are emptied for new ones.
    fn keep(&mut self, live: &[bool]) {
        debug_assert_eq!((self.first, self.states.len()), (0, live.len()));
        for (state, &live) in std::mem::take(&mut self.states).into_iter().zip(live) {
            if live {
                self.states.push_back(state);
            } else {
                self.retire(state);
            }
        }
    }
}

impl std::ops::Index<usize> for Partitions {
    type Output = PartitionState;

    fn index(&self, p: usize) -> &PartitionState {
        &self.states[p - self.first]
    }
}

impl std::ops::IndexMut<usize> for Partitions {
    fn index_mut(&mut self, p: usize) -> &mut PartitionState {
        &mut self.states[p - self.first]
    }
}

/// The end of the input, under way: partitions end a chunk at a time.
struct Ending {
    /// Every row that was held, in order.
    sorted: Option<Sorted>,
    /// How many partitions there are.
    partitions: usize,
    /// The next chunk's first row and partition.
    first_row: usize,
    first_partition: usize,
    /// Where in `sorted.ends` the last chunk ended.
    last: usize,
    /// Rows copied into order, and where they are among those released.
    copied: Option<(Range<usize>, Released)>,
    /// Reports waiting for rows after them, of the partitions still to end.
    waiting: Vec<Emit>,
    /// The watermark to pass on once every partition has ended.
    then: Option<Watermark>,
}

/// The `MATCH_RECOGNIZE` operator.
pub struct MatchRecognize {
    spec: MatchSpec,
    keys: KeyTable,
    partitions: Partitions,
    /// How many partitions were live when idle ones were last looked for.
    live_at_last_look: usize,
    store: RowStore,
    /// Rows waiting for the watermark, in arrival order, each with its partition's number
    /// in a last column: keys are numbered as rows come, not all at once when the watermark
    /// releases them.
    pending: Waiting,
    /// Reports waiting for the rows after them that their measures read.
    waiting: Vec<Emit>,
    watermark: Watermark,
    /// The partitions `WITHIN` will end an open attempt of, each once, by a watermark at or
    /// before the one at which it ends their oldest: a fire visits only those due.
    timers: BinaryHeap<Reverse<(i64, usize)>>,
    late: LateRows,
    scratch: Scratch,
    /// The buffers of the questions of [`Steps`], and of the measures of the rows reported:
    /// kept from one feeding to the next (at the end of the input, one per chunk).
    asking: Asking,
    measuring: Collected,
    /// At the end of the input, partitions end in chunks of about this many rows.
    end_chunk_rows: usize,
    /// The end of the input, while under way.
    ending: Option<Ending>,
}

impl MatchRecognize {
    pub fn new(spec: MatchSpec, input: SchemaRef, late: LateRows) -> Result<Self> {
        let key_fields: Vec<_> = spec
            .partition
            .iter()
            .map(|c| input.field(*c).clone())
            .collect();
        let keys = KeyTable::new(Arc::new(arrow::datatypes::Schema::new(key_fields)))?;
        let mut numbered = input.fields().to_vec();
        numbered.push(Arc::new(Field::new("__partition", DataType::UInt32, false)));
        let (asking, measuring) = (Asking::new(&spec), Collected::new(&spec.terms));
        Ok(MatchRecognize {
            pending: Waiting::new(
                Arc::new(Schema::new_with_metadata(
                    numbered,
                    input.metadata().clone(),
                )),
                spec.time,
            ),
            spec,
            keys,
            partitions: Partitions::default(),
            live_at_last_look: 0,
            store: RowStore::default(),
            waiting: Vec::new(),
            watermark: NO_WATERMARK,
            timers: BinaryHeap::new(),
            late,
            scratch: Scratch::default(),
            asking,
            measuring,
            end_chunk_rows: END_CHUNK_ROWS,
            ending: None,
        })
    }

    /// Rows held: waiting for the watermark, and released but still needed by a partition.
    pub fn held_rows(&self) -> usize {
        self.pending.rows() + self.store.rows()
    }

    /// `batch` (of the input's columns) with its rows' partition numbers in a last column,
    /// numbering new keys.
    fn numbered(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let keys: Vec<ArrayRef> = (self.spec.partition.iter())
            .map(|c| batch.column(*c).clone())
            .collect();
        let mut ids = Vec::new();
        self.keys.intern(&keys, batch.num_rows(), &mut ids)?;
        let ids = UInt32Array::from_iter_values(ids.into_iter().map(|p| p as u32));
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(ids));
        Ok(RecordBatch::try_new(
            self.pending.schema().clone(),
            columns,
        )?)
    }

    /// The input's schema: the pending rows' without their partition numbers.
    fn input_schema(&self) -> Result<SchemaRef> {
        let schema = self.pending.schema();
        let input: Vec<usize> = (0..schema.fields().len() - 1).collect();
        Ok(Arc::new(schema.project(&input)?))
    }

    /// The input's columns of a pending batch, without its partition numbers.
    fn unnumbered(batch: &RecordBatch) -> Result<RecordBatch> {
        Ok(batch.project(&(0..batch.num_columns() - 1).collect::<Vec<_>>())?)
    }

    /// The partition numbers of a pending batch's rows.
    fn partition_numbers(batch: &RecordBatch) -> &[u32] {
        let ids = batch.column(batch.num_columns() - 1);
        ids.as_primitive::<UInt32Type>().values()
    }

    /// Takes the pending rows at or before `watermark`, in order (their partitions numbered
    /// below `partitions`).
    fn release(&mut self, watermark: Watermark, partitions: usize) -> Result<Option<Sorted>> {
        let mut numbered = self.pending.take_due_batches(watermark)?;
        if numbered.is_empty() {
            return Ok(None);
        }
        if !self.spec.order.is_empty() && numbered.len() > 1 {
            numbered = vec![concat_batches(self.pending.schema(), &numbered)?];
        }
        let due = (numbered.iter())
            .map(Self::unnumbered)
            .collect::<Result<Vec<_>>>()?;
        let n = due.iter().map(RecordBatch::num_rows).sum();
        if u32::try_from(n).is_err() {
            return Err(EngineError::Other(format!(
                "MATCH_RECOGNIZE: {n} rows released at once; at most {} can be",
                u32::MAX
            )));
        }
        let time = self.spec.time;
        if self.spec.order.is_empty() && n >= partitions / 8 {
            let (rows, ends) = place_by_partition(&numbered, time, n, partitions)?;
            return Ok(Some(Sorted::new(&due, time, rows, ends)));
        }
        // Sorted by partition, time, the further ORDER BY keys and arrival (which makes
        // every key distinct).
        let mut keys = vec![Placed::default(); n];
        let mut i = 0;
        each_row(&numbered, time, |key| (keys[i], i) = (key, i + 1))?;
        if self.spec.order.is_empty() {
            keys.sort_unstable_by_key(|k| (k.partition, k.time, k.row));
        } else {
            // One batch (concatenated above).
            let released = &due[0];
            let columns = self
                .spec
                .order
                .iter()
                .map(|k| Ok(k.expr.evaluate(released)?.into_array(n)?))
                .collect::<Result<Vec<ArrayRef>>>()?;
            let fields = columns
                .iter()
                .zip(&self.spec.order)
                .map(|(c, k)| SortField::new_with_options(c.data_type().clone(), k.options))
                .collect();
            let rows = RowConverter::new(fields)?.convert_columns(&columns)?;
            keys.sort_unstable_by(|a, b| {
                (a.partition, a.time)
                    .cmp(&(b.partition, b.time))
                    .then_with(|| rows.row(a.row as usize).cmp(&rows.row(b.row as usize)))
                    .then(a.row.cmp(&b.row))
            });
        }
        let mut ends: Vec<PartitionEnd> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            match ends.last_mut() {
                Some(last) if last.partition == key.partition => last.end = i as u32 + 1,
                _ => ends.push(PartitionEnd {
                    partition: key.partition,
                    end: i as u32 + 1,
                }),
            }
        }
        let rows = keys.into_iter().map(|k| k.row).collect();
        Ok(Some(Sorted::new(&due, time, rows, ends)))
    }

    /// Per row of stored batch `id` (of partitions `ids`): the variables whose batch
    /// condition holds, one bit each.
    fn symbols(&self, id: u64, ids: &[usize]) -> Result<Vec<u64>> {
        let batch = &self.store.get(id).batch;
        let mut symbols = vec![0u64; batch.num_rows()];
        let with_lags;
        let batch = if self.spec.lags.is_empty() {
            batch
        } else {
            let mut fields = batch.schema().fields().to_vec();
            let mut columns = batch.columns().to_vec();
            for (j, lagged) in self.lagged(id, ids)?.into_iter().enumerate() {
                fields.push(Arc::new(arrow::datatypes::Field::new(
                    format!("__lag{j}"),
                    lagged.data_type().clone(),
                    true,
                )));
                columns.push(lagged);
            }
            let schema = Arc::new(arrow::datatypes::Schema::new(fields));
            with_lags = RecordBatch::try_new(schema, columns)?;
            &with_lags
        };
        for (var, define) in self.spec.defines.iter().enumerate() {
            if let Define::Batch(expr) = define {
                let holds = expr.evaluate(batch)?.into_array(batch.num_rows())?;
                let holds = holds.as_boolean_opt().ok_or_else(|| {
                    EngineError::Other(format!(
                        "the condition of {} is not a boolean",
                        self.spec.names[var]
                    ))
                })?;
                for (row, s) in symbols.iter_mut().enumerate() {
                    if holds.is_valid(row) && holds.value(row) {
                        *s |= 1 << var;
                    }
                }
            }
        }
        Ok(symbols)
    }

    /// For each `(column, k)` of the spec's lags, the column `k` rows earlier in each row's
    /// partition: in stored batch `id` (sorted by partition, not yet fed) or among the rows
    /// kept from before; NULL before the partition's first row.
    fn lagged(&self, id: u64, ids: &[usize]) -> Result<Vec<ArrayRef>> {
        let n = ids.len();
        // Each row's place in its partition's run of rows in this batch.
        let mut run = vec![0u64; n];
        for i in 1..n {
            if ids[i] == ids[i - 1] {
                run[i] = run[i - 1] + 1;
            }
        }
        let gather = Gather::new(&self.store);
        let mut lagged = Vec::with_capacity(self.spec.lags.len());
        for &(column, k) in &self.spec.lags {
            let rows = (0..n).map(|i| {
                if run[i] >= k {
                    return Some(RowRef {
                        batch: id,
                        row: (i as u64 - k) as u32,
                    });
                }
                let p = self.partitions.get(ids[i])?;
                p.rows.get((p.rows.total() + run[i]).checked_sub(k)?)
            });
            lagged.push(gather.column(rows, |s| s.batch.column(column))?);
        }
        Ok(lagged)
    }

    /// Arguments of the aggregates of conditions and measures on `batch`, each at its term's
    /// range.
    fn arguments(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        let mut arguments = Vec::new();
        for term in self.spec.all_terms() {
            if let Term::Aggregate {
                call,
                arguments: range,
                ..
            } = term
            {
                if arguments.len() < range.end {
                    arguments.resize(range.end, None);
                }
                for (slot, e) in arguments[range.clone()].iter_mut().zip(call.expressions()) {
                    *slot = Some(e.evaluate(batch)?.into_array(batch.num_rows())?);
                }
            }
        }
        Ok(arguments
            .into_iter()
            .map(|a| a.expect("every argument belongs to an aggregate"))
            .collect())
    }

    /// Keeps released rows in their partitions, then runs the rows the matchers can take
    /// (all, for the partitions whose input `ends`) through them, in steps: in each, every
    /// open attempt of every partition takes its next row (attempts are independent until
    /// they are settled), and the step's questions that look into the match are answered in
    /// one batch per variable. Returns the partitions whose matchers took rows.
    fn feed(
        &mut self,
        released: Option<ReleasedRows>,
        ends: Option<Range<usize>>,
        emits: &mut Vec<Emit>,
    ) -> Result<Vec<usize>> {
        // The partitions with rows to take, in order, each with its released rows: those of
        // the released rows, then those whose input ends that still hold rows.
        let mut order: Vec<(usize, Range<usize>)> =
            Vec::with_capacity(ends.as_ref().map_or(0, Range::len));
        let (mut batch, mut times) = (0, &[][..]);
        if let Some(released) = released {
            let arguments = self.arguments(&released.rows)?;
            batch = self.store.push(released.rows, arguments);
            self.store.get_mut(batch).symbols = self.symbols(batch, released.partitions)?;
            // Released rows are sorted by partition.
            let last = released.partitions.last().expect("released rows");
            self.partitions.add_up_to(last + 1);
            for (row, &p) in released.partitions.iter().enumerate() {
                match order.last_mut() {
                    Some((last, rows)) if *last == p => rows.end += 1,
                    _ => order.push((p, row..row + 1)),
                }
            }
            times = released.times;
        }
        let end = ends.is_some();
        if let Some(ends) = ends {
            let first = ends.start;
            let mut listed = vec![false; ends.len()];
            order.iter().for_each(|(p, _)| listed[*p - first] = true);
            let holding = ends
                .filter(|p| !self.partitions[*p].held.is_empty() && !listed[*p - first])
                .map(|p| (p, 0..0));
            order.extend(holding.collect::<Vec<_>>());
        }
        let behind = if end { 0 } else { self.spec.define_lookahead };
        let Self {
            spec,
            partitions,
            store,
            scratch,
            timers,
            asking,
            ..
        } = self;
        // Each partition keeps its rows, and its matcher gets those it can take (the last
        // `behind` wait for the rows after them); its attempts then take them in steps.
        // Questions that look into the match are answered in one batch per variable and step,
        // over a group of partitions at once (of about `STEP_ROWS` rows, whose states stay in
        // cache); without them, each partition goes through its steps alone, its state staying
        // in cache (partitions are many, and each is rarely fed).
        let together = spec.defines.iter().any(Define::looks_into_match);
        // At the end of the input, a partition holding nothing that gets fewer rows than a
        // report takes reports nothing: its rows are let go unread (most partitions of a
        // bounded input are few rows).
        let too_few = if end {
            spec.matcher.rows_before_a_report()
        } else {
            0
        };
        let mut unread = Vec::new();
        let mut steps = Steps::new(spec, store, asking, scratch);
        // The partitions fed.
        let mut runs: Vec<usize> = Vec::with_capacity(order.len());
        // Runs stepped together: from this one on, with this many rows; the times of the rows
        // given to their matchers, and each run's range of them.
        let (mut first_run, mut run_rows) = (0, 0);
        let (mut given, mut given_to) = (Vec::new(), Vec::new());
        for (p, released) in order {
            let state = &mut partitions[p];
            if (released.len() as u64) < too_few
                && state.rows.is_empty()
                && state.held.is_empty()
                && Matcher::is_idle(&state.matching)
            {
                unread.push(released);
                continue;
            }
            let new = &times[released.clone()];
            state.rows.extend(released.map(|row| RowRef {
                batch,
                row: row as u32,
            }));
            let from = given.len();
            if state.held.is_empty() && behind == 0 {
                given.extend_from_slice(new);
            } else {
                state.held.extend(new);
                let n = (state.held.len() as u64).saturating_sub(behind) as usize;
                if n == 0 {
                    // Not fed, so not counted again with those fed (in `forget_unneeded`).
                    partitions.recount(p);
                    continue;
                }
                given.extend(state.held.drain(..n));
            }
            given_to.push(from..given.len());
            runs.push(p);
            run_rows += new.len();
            if !together || run_rows >= STEP_ROWS {
                let group = &runs[first_run..];
                steps.run(group, first_run, &given, &given_to, partitions)?;
                for p in group {
                    schedule(&spec.matcher, timers, *p, &mut partitions[*p]);
                }
                (first_run, run_rows) = (runs.len(), 0);
                given.clear();
                given_to.clear();
            }
        }
        let group = &runs[first_run..];
        steps.run(group, first_run, &given, &given_to, partitions)?;
        for p in group {
            schedule(&spec.matcher, timers, *p, &mut partitions[*p]);
        }
        // Reported partition by partition, in the order fed (a stable sort).
        let mut reports = steps.reports;
        reports.sort_by_key(|(run, _)| *run);
        for row in unread.into_iter().flatten() {
            let row = row as u32;
            store.release(RowRef { batch, row });
        }
        emits.extend((reports.into_iter()).map(|(run, outcome)| Emit {
            partition: runs[run],
            outcome,
        }));
        Ok(runs)
    }

    /// Emits the rows for `emits` and for the reports waiting for rows after them that are
    /// now here (all at the `end` of the input); returns the partitions of the reports emitted.
    fn report(
        &mut self,
        emits: Vec<Emit>,
        end: bool,
        out: &mut Vec<Message>,
    ) -> Result<Vec<usize>> {
        // Reports whose measures look past their last row wait until those rows are here.
        let mut ready = std::mem::take(&mut self.waiting);
        ready.extend(emits);
        if self.spec.lookahead > 0 && !end {
            let (now, later): (Vec<Emit>, Vec<Emit>) = ready.into_iter().partition(|e| {
                self.partitions[e.partition].rows.total() >= e.last_row() + 1 + self.spec.lookahead
            });
            ready = now;
            self.waiting = later;
        }
        let partitions = &self.partitions;
        let rows_of = |p| &partitions[p].rows;
        let measuring = &mut self.measuring;
        if let Some(rows) = emit_rows(&self.spec, &ready, rows_of, &self.store, measuring)? {
            let mut batch = ChangeBatch::inserts(rows);
            batch.watermarks = Some(Int64Array::from(vec![self.watermark; batch.num_rows()]));
            out.push(Message::Batch(batch));
        }
        Ok(ready.iter().map(|e| e.partition).collect())
    }

    /// Forgets the rows no partition needs any more, looking at the partitions `touched`.
    fn forget_unneeded(&mut self, mut touched: Vec<usize>) {
        touched.sort_unstable();
        touched.dedup();
        // The first row each partition's waiting reports need.
        let mut waiting: Vec<(usize, u64)> = (self.waiting.iter())
            .map(|e| (e.partition, e.first_row()))
            .collect();
        waiting.sort_unstable();
        for i in touched {
            let p = &mut self.partitions[i];
            let first_waiting = waiting.partition_point(|w| w.0 < i);
            let needed = (waiting.get(first_waiting))
                .filter(|w| w.0 == i)
                .map_or(u64::MAX, |w| w.1)
                .min(Matcher::oldest_needed(&p.matching))
                .saturating_sub(self.spec.lookback);
            p.rows.forget_before(needed, &mut self.store);
            self.partitions.recount(i);
        }
    }

    /// At the end of the input: every partition takes its last rows and finishes. A chunk of
    /// partitions at a time, each chunk's matchers and rows freed once its matches are out,
    /// so that memory holds one chunk's matching state rather than every partition's (a
    /// bounded input whose event time spans less than the watermark's delay releases all its
    /// rows here). This ends the first chunk; [`Operator::resume`] ends the others, one each,
    /// so that their matches go on as they come rather than all at once. `then`: the
    /// watermark to pass on once every partition has ended.
    fn end(&mut self, then: Option<Watermark>, out: &mut Vec<Message>) -> Result<()> {
        self.timers.clear();
        // Every row held is numbered: the key table goes before the rows are released, so
        // that the two are not held at once (cep_q1 at 10 M events: 2.9 M keys, 140 MB).
        let partitions = self.keys.len();
        self.keys.clear()?;
        self.ending = Some(Ending {
            sorted: self.release(Watermark::MAX, partitions)?,
            partitions,
            first_row: 0,
            first_partition: 0,
            last: 0,
            copied: None,
            waiting: std::mem::take(&mut self.waiting),
            then,
        });
        self.end_chunk(out)
    }

    /// Ends the next chunk of partitions (see [`MatchRecognize::end`]), and the end of the
    /// input once there are none left.
    fn end_chunk(&mut self, out: &mut Vec<Message>) -> Result<()> {
        let Some(mut ending) = self.ending.take() else {
            return Ok(());
        };
        if ending.first_partition < ending.partitions {
            self.end_partitions(&mut ending, out)?;
        }
        if ending.first_partition < ending.partitions {
            self.ending = Some(ending);
        } else {
            // Every partition has ended: none is held.
            self.partitions = Partitions::default();
            if let Some(watermark) = ending.then {
                self.watermark = watermark;
                out.push(Message::Watermark(watermark));
            }
        }
        Ok(())
    }

    /// Ends the next chunk of partitions of `ending`.
    fn end_partitions(&mut self, ending: &mut Ending, out: &mut Vec<Message>) -> Result<()> {
        let Ending {
            sorted,
            partitions,
            first_row,
            first_partition,
            last,
            copied,
            waiting,
            ..
        } = ending;
        let partitions = *partitions;
        let (rows, ends) = sorted
            .as_ref()
            .map_or((0, &[][..]), |s| (s.len(), &s.ends[..]));
        // The chunk ends with a partition's last row, or with the last partition.
        let (end_row, end_partition) = if *first_row + self.end_chunk_rows >= rows {
            (rows, partitions)
        } else {
            while (ends[*last].end as usize) < *first_row + self.end_chunk_rows {
                *last += 1;
            }
            let next = (ends.get(*last + 1)).map_or(partitions, |e| e.partition as usize);
            (ends[*last].end as usize, next)
        };
        self.partitions.add_up_to(end_partition);
        let chunk = match sorted {
            Some(sorted) if end_row > *first_row => {
                if copied.as_ref().is_none_or(|(rows, _)| rows.end < end_row) {
                    let end =
                        (*first_row + CHUNKS_COPIED * self.end_chunk_rows).clamp(end_row, rows);
                    *copied = Some((*first_row..end, sorted.run(*first_row..end)?));
                }
                let (rows, released) = copied.as_ref().expect("copied above");
                Some(released.slice(*first_row - rows.start..end_row - rows.start))
            }
            _ => None,
        };
        let ends = *first_partition..end_partition;
        let mut emits = Vec::new();
        self.feed(chunk, Some(ends.clone()), &mut emits)?;
        let mut outcomes = Vec::new();
        for p in ends.clone() {
            let state = &mut self.partitions[p];
            state.timer = None;
            if !Matcher::is_idle(&state.matching) {
                (self
                    .spec
                    .matcher
                    .finish(&mut state.matching, &mut self.scratch, &mut outcomes))
                .map_err(Self::matcher_error)?;
            }
            emits.extend(outcomes.drain(..).map(|outcome| Emit {
                partition: p,
                outcome,
            }));
        }
        // Reports waiting for rows after them go out with their partition's chunk, once
        // those rows are in.
        (self.waiting, *waiting) = std::mem::take(waiting)
            .into_iter()
            .partition(|e| ends.contains(&e.partition));
        // Every row of the chunk's partitions is forgotten once their reports are out.
        self.report(emits, true, out)?;
        for p in ends {
            let state = &mut self.partitions[p];
            state.rows.forget_before(u64::MAX, &mut self.store);
        }
        self.partitions.end_before(end_partition);
        (*first_row, *first_partition) = (end_row, end_partition);
        Ok(())
    }

    /// Forgets the partitions that hold nothing, once they are many, so that state does not
    /// grow with the number of distinct keys: the keys left are numbered again. Only when a
    /// partition's past has no bearing on its future: no `PREV` before a match, no
    /// `MATCH_NUMBER()`, no `^`.
    fn drop_idle(&mut self) -> Result<()> {
        // Looked at once there are twice as many partitions as were live at the last look, so
        // that looking costs a constant per partition.
        let look_at = (2 * self.live_at_last_look).max(DROP_IDLE_AT);
        if !self.spec.forgets_idle_partitions() || self.partitions.len() < look_at {
            return Ok(());
        }
        let mut live: Vec<bool> = (self.partitions.states.iter())
            .map(|p| !(Matcher::is_idle(&p.matching) && p.held.is_empty() && p.rows.is_empty()))
            .collect();
        // Partitions with pending rows are live (those without a state yet have only those).
        live.resize(self.keys.len(), false);
        for batch in self.pending.batches() {
            (Self::partition_numbers(batch).iter()).for_each(|p| live[*p as usize] = true);
        }
        let idle = live.iter().filter(|l| !**l).count();
        self.live_at_last_look = live.len() - idle;
        if idle == 0 {
            return Ok(());
        }
        let keep = arrow::array::BooleanArray::from(live.clone());
        let keys = (self.keys.take()?.iter())
            .map(|k| Ok(arrow::compute::filter(k, &keep)?))
            .collect::<Result<Vec<ArrayRef>>>()?;
        self.keys
            .intern(&keys, live.len() - idle, &mut Vec::new())?;
        let mut number = Vec::with_capacity(live.len());
        let mut next = 0;
        for l in &live {
            number.push(next);
            next += usize::from(*l);
        }
        self.partitions.keep(&live[..self.partitions.len()]);
        for e in &mut self.waiting {
            e.partition = number[e.partition];
        }
        let pending = (self.pending.batches().iter())
            .map(|batch| {
                let numbers = Self::partition_numbers(batch).iter();
                let renumbered = numbers.map(|p| number[*p as usize] as u32);
                let mut columns = batch.columns().to_vec();
                *columns.last_mut().expect("partition numbers") =
                    Arc::new(UInt32Array::from_iter_values(renumbered));
                Ok(RecordBatch::try_new(batch.schema(), columns)?)
            })
            .collect::<Result<Vec<_>>>()?;
        self.pending.restore(pending)?;
        let timers = std::mem::take(&mut self.timers).into_vec();
        self.timers = (timers.into_iter())
            .filter(|Reverse((_, p))| live[*p])
            .map(|Reverse((t, p))| Reverse((t, number[p])))
            .collect();
        Ok(())
    }

    fn matcher_error(e: rill_cep::SkipError) -> EngineError {
        EngineError::Other(format!("MATCH_RECOGNIZE: {e}"))
    }
}

/// The order of the `n` rows of `batches` (pending batches, with their partition numbers,
/// below `partitions`; event times in column `time`) by partition, time and arrival, and
/// where each partition's rows end. Rows mostly come in time order: they are placed by
/// partition (a counting sort, which keeps arrival order), and only the partitions whose
/// times are out of order are sorted. It visits every partition: only for releases of many
/// rows for their number.
fn place_by_partition(
    batches: &[RecordBatch],
    time: usize,
    n: usize,
    partitions: usize,
) -> Result<(Vec<u32>, Vec<PartitionEnd>)> {
    // Each partition's first place, then (once its rows are placed) one past its last.
    let mut at = vec![0u32; partitions];
    for batch in batches {
        (MatchRecognize::partition_numbers(batch).iter()).for_each(|p| at[*p as usize] += 1);
    }
    let mut first = 0;
    for at in &mut at {
        (*at, first) = (first, first + *at);
    }
    let mut rows = vec![0u32; n];
    // Each partition's latest time so far, and whether a row came before it in time.
    let mut latest = vec![i64::MIN; partitions];
    let mut unsorted = vec![false; partitions];
    each_row(batches, time, |key| {
        let p = key.partition as usize;
        rows[at[p] as usize] = key.row;
        at[p] += 1;
        unsorted[p] |= key.time < latest[p];
        latest[p] = key.time;
    })?;
    drop(latest);
    // Where partition `p`'s rows start.
    let start = |p: usize| p.checked_sub(1).map_or(0, |before| at[before]);
    if unsorted.contains(&true) {
        // Those partitions' rows again, sorted, over their places.
        let mut keys = Vec::new();
        each_row(batches, time, |key| {
            if unsorted[key.partition as usize] {
                keys.push(key)
            }
        })?;
        keys.sort_unstable_by_key(|k| (k.partition, k.time, k.row));
        let mut place = 0;
        for (i, key) in keys.iter().enumerate() {
            let p = key.partition as usize;
            if i == 0 || keys[i - 1].partition != key.partition {
                place = start(p) as usize;
            }
            rows[place] = key.row;
            place += 1;
        }
    }
    let ends = (at.iter().enumerate())
        .filter(|&(p, end)| *end > start(p))
        .map(|(p, end)| PartitionEnd {
            partition: p as u32,
            end: *end,
        })
        .collect();
    Ok((rows, ends))
}

/// Calls `f` with the key of each row of `batches` (pending batches, with their partition
/// numbers; event times in column `time`), in arrival order.
fn each_row(batches: &[RecordBatch], time: usize, mut f: impl FnMut(Placed)) -> Result<()> {
    let mut row = 0;
    for batch in batches {
        let mut partitions = MatchRecognize::partition_numbers(batch).iter();
        for_each_millis(batch.column(time), |t| {
            f(Placed {
                partition: *partitions.next().expect("a partition number per row"),
                row,
                time: t.expect("rows without event time are late"),
            });
            row += 1;
        })?;
    }
    Ok(())
}

/// Puts partition `p` in `timers` (see [`MatchRecognize::timers`]) if `WITHIN` will end one of
/// its attempts and it is not there yet.
fn schedule(
    matcher: &Matcher,
    timers: &mut BinaryHeap<Reverse<(i64, usize)>>,
    p: usize,
    state: &mut PartitionState,
) {
    if state.timer.is_none()
        && let Some(deadline) = matcher.deadline(&state.matching)
    {
        state.timer = Some(deadline);
        timers.push(Reverse((deadline, p)));
    }
}

/// The matchers of some partitions taking their rows in steps: in each, every open attempt of
/// every partition takes its next row, and the step's questions that look into the match are
/// answered in one batch per variable.
struct Steps<'a> {
    spec: &'a MatchSpec,
    store: &'a RowStore,
    gather: Gather<'a>,
    asking: &'a mut Asking,
    scratch: &'a mut Scratch,
    /// What the matchers reported, each with its run's number.
    reports: Vec<(usize, Outcome)>,
}

/// The questions of [`Steps`] and their answers, in buffers kept from one use to the next.
struct Asking {
    /// Per variable that looks into the match: the terms of its questions, and the answers
    /// they go to.
    asked: Vec<Option<(Collected, Vec<usize>)>>,
    answers: Vec<bool>,
    /// The runs whose attempts may still take rows, and those that ask in a step, with
    /// their questions' answers.
    stepping: Vec<usize>,
    asked_by: Vec<(usize, Range<usize>)>,
    /// What a matcher reported as it settled, before it goes to the run's reports.
    settled: Vec<Outcome>,
}

impl Asking {
    fn new(spec: &MatchSpec) -> Self {
        let asked = (spec.defines.iter())
            .map(|d| match d {
                Define::Match { terms, .. } => Some((Collected::new(terms), Vec::new())),
                _ => None,
            })
            .collect();
        Asking {
            asked,
            answers: Vec::new(),
            stepping: Vec::new(),
            asked_by: Vec::new(),
            settled: Vec::new(),
        }
    }
}

impl<'a> Steps<'a> {
    fn new(
        spec: &'a MatchSpec,
        store: &'a RowStore,
        asking: &'a mut Asking,
        scratch: &'a mut Scratch,
    ) -> Self {
        Steps {
            spec,
            store,
            gather: Gather::new(store),
            asking,
            scratch,
            reports: Vec::new(),
        }
    }

    /// For each row given to the `runs`' matchers (`given_to[i]` for run `i`, after the rows
    /// its matcher holds), the variables that hold for it as a match's first row (see
    /// [`Matcher::extend`]); the questions of all the rows answered in one batch per variable.
    fn first_answers(
        &mut self,
        runs: &[usize],
        given_to: &[Range<usize>],
        partitions: &Partitions,
    ) -> Result<Vec<u64>> {
        let (spec, store) = (self.spec, self.store);
        let Asking { asked, answers, .. } = &mut *self.asking;
        answers.clear();
        let given = given_to.last().map_or(0, |to| to.end);
        // Each question's row, by its place among those given.
        let mut rows_asked = Vec::with_capacity(given);
        for (p, to) in runs.iter().zip(given_to) {
            let PartitionState { matching, rows, .. } = &partitions[*p];
            for (i, row) in to.clone().zip(matching.rows()..) {
                for var in spec.matcher.first_vars(row == 0) {
                    let question = Question {
                        var,
                        row,
                        start: row,
                        path: &Path::EMPTY,
                    };
                    question.ask(spec, store, rows, asked, answers);
                    rows_asked.push((i, var));
                }
            }
        }
        answer(spec, asked, &self.gather, answers)?;
        let mut firsts = vec![0u64; given];
        for ((i, var), holds) in rows_asked.into_iter().zip(answers.iter()) {
            firsts[i] |= u64::from(*holds) << var;
        }
        Ok(firsts)
    }

    /// Gives the matchers of the `runs` (a partition each, numbered from `first_run`) their
    /// next rows, at the times `given[given_to[i]]` for run `i`; steps them until no attempt
    /// of theirs has a row left to take, then settles them. What they report goes to
    /// `reports`, with their runs' numbers.
    fn run(
        &mut self,
        runs: &[usize],
        first_run: usize,
        given: &[i64],
        given_to: &[Range<usize>],
        partitions: &mut Partitions,
    ) -> Result<()> {
        let firsts = self.first_answers(runs, given_to, partitions)?;
        for (p, to) in runs.iter().zip(given_to) {
            let times = given[to.clone()].iter().copied();
            let rows = times.zip(firsts[to.clone()].iter().copied());
            (self.spec.matcher).extend(&mut partitions[*p].matching, rows, self.scratch);
        }
        let Steps {
            spec,
            store,
            gather,
            asking,
            scratch,
            reports,
        } = self;
        let Asking {
            asked,
            answers,
            stepping,
            asked_by,
            settled,
        } = &mut **asking;
        // Settles run `i`'s matcher.
        let mut settle =
            |i: usize, matching: &mut Partition, scratch: &mut Scratch| -> Result<()> {
                (spec.matcher.settle(matching, scratch, settled))
                    .map_err(MatchRecognize::matcher_error)?;
                reports.extend(settled.drain(..).map(|outcome| (first_run + i, outcome)));
                Ok(())
            };
        stepping.extend(0..runs.len());
        while !stepping.is_empty() {
            answers.clear();
            asked_by.clear();
            for &i in stepping.iter() {
                let PartitionState { matching, rows, .. } = &mut partitions[runs[i]];
                let first = answers.len();
                let asking = spec.matcher.ask(matching, |var, row, start, path| {
                    let question = Question {
                        var,
                        row,
                        start,
                        path,
                    };
                    question.ask(spec, store, rows, asked, answers);
                });
                if asking {
                    asked_by.push((i, first..answers.len()));
                }
            }
            answer(spec, asked, gather, answers)?;
            stepping.clear();
            for (i, range) in asked_by.drain(..) {
                let matching = &mut partitions[runs[i]].matching;
                let more = spec.matcher.take(matching, &answers[range], scratch);
                // Settling as soon as an attempt is decided drops the attempts its match skips
                // before they take more rows.
                settle(i, matching, scratch)?;
                if more {
                    stepping.push(i);
                }
            }
        }
        for (i, p) in runs.iter().enumerate() {
            settle(i, &mut partitions[*p].matching, scratch)?;
        }
        Ok(())
    }
}

/// Whether a variable holds for a row of a partition, in a match.
struct Question<'p> {
    var: u16,
    row: u64,
    /// The match's first row, and the labels of its rows before `row`.
    start: u64,
    path: &'p Path,
}

impl Question<'_> {
    /// Asks the question of the partition's `rows`: answered at once into `answers` unless
    /// the variable's condition looks into the match; then its terms are `asked`, to be
    /// answered in a batch (see [`answer`]) into the slot pushed onto `answers`.
    fn ask(
        &self,
        spec: &MatchSpec,
        store: &RowStore,
        rows: &PartitionRows,
        asked: &mut [Option<(Collected, Vec<usize>)>],
        answers: &mut Vec<bool>,
    ) {
        let var = self.var;
        let answer = match &spec.defines[usize::from(var)] {
            Define::Always => true,
            Define::Batch(_) => {
                let r = rows.get(self.row).expect("rows being taken are kept");
                store.get(r.batch).symbols[r.row as usize] >> var & 1 == 1
            }
            Define::Match { terms, .. } => {
                let (collected, slots) = asked[usize::from(var)]
                    .as_mut()
                    .expect("collected for each variable that looks");
                let m = MatchRows::trying(self.start, self.path, var);
                collected.push(terms, &m, None, false, rows);
                slots.push(answers.len());
                false
            }
        };
        answers.push(answer);
    }
}

/// Answers the questions `asked` of each variable that looks into the match: its condition
/// over their terms, one batch per variable, into their slots of `answers`.
fn answer(
    spec: &MatchSpec,
    asked: &mut [Option<(Collected, Vec<usize>)>],
    gather: &Gather,
    answers: &mut [bool],
) -> Result<()> {
    for (var, asked) in asked.iter_mut().enumerate() {
        let Some((collected, slots)) = asked else {
            continue;
        };
        if slots.is_empty() {
            continue;
        }
        let Define::Match { terms, condition } = &spec.defines[var] else {
            unreachable!("asked of variables that look into the match")
        };
        let terms = collected.take_batch(terms, &spec.names, gather)?;
        let holds = condition.evaluate(&terms)?.into_array(terms.num_rows())?;
        let holds = holds.as_boolean_opt().ok_or_else(|| {
            EngineError::Other(format!(
                "the condition of {} is not a boolean",
                spec.names[var]
            ))
        })?;
        for (i, slot) in slots.drain(..).enumerate() {
            answers[slot] = holds.is_valid(i) && holds.value(i);
        }
    }
    Ok(())
}

impl Timed for MatchRecognize {
    fn fire(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        if watermark == Watermark::MAX {
            return self.end(None, out);
        }
        let mut emits = Vec::new();
        let released = match self.release(watermark, self.keys.len())? {
            Some(sorted) => Some(sorted.run(0..sorted.len())?),
            None => None,
        };
        let mut touched = self.feed(released.as_ref().map(Released::all), None, &mut emits)?;
        let mut outcomes = Vec::new();
        let mut due = Vec::new();
        while let Some(&Reverse((time, p))) = self.timers.peek()
            && time <= watermark
        {
            self.timers.pop();
            self.partitions[p].timer = None;
            due.push(p);
        }
        for p in due {
            let state = &mut self.partitions[p];
            // Held rows are older than the watermark and still to come for the matcher.
            let before_held = state.held.front().map_or(watermark, |t| t - 1);
            let time = watermark.min(before_held);
            if (self.spec.matcher.deadline(&state.matching)).is_some_and(|d| time >= d) {
                (self.spec.matcher)
                    .advance(&mut state.matching, time, &mut self.scratch, &mut outcomes)
                    .map_err(Self::matcher_error)?;
                emits.extend(outcomes.drain(..).map(|outcome| Emit {
                    partition: p,
                    outcome,
                }));
                touched.push(p);
            }
            schedule(&self.spec.matcher, &mut self.timers, p, state);
        }
        touched.extend(self.report(emits, false, out)?);
        self.forget_unneeded(touched);
        self.drop_idle()
    }

    fn watermark_mut(&mut self) -> &mut Watermark {
        &mut self.watermark
    }
}

impl Operator for MatchRecognize {
    fn state_bound(&self) -> super::StateBound {
        match self.spec.matcher.within() {
            Some(within)
                if self.spec.partition.is_empty() || self.spec.forgets_idle_partitions() =>
            {
                super::StateBound::Within(within)
            }
            Some(_) => super::StateBound::Unbounded(
                "distinct partition keys (PREV, MATCH_NUMBER() or ^ keep each key's past)",
            ),
            None => super::StateBound::Unbounded(
                "partial matches that never complete (no WITHIN) and distinct partition keys",
            ),
        }
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        let keys = self.keys.len();
        state.put_columns("keys", self.keys.snapshot()?, keys)?;
        let partitions: Vec<(&Partition, &PartitionRows, &VecDeque<i64>)> =
            (self.partitions.states.iter())
                .map(|p| (&p.matching, &p.rows, &p.held))
                .collect();
        state.put("partitions", &partitions)?;
        self.store.snapshot(&mut state, "store")?;
        let pending = (self.pending.batches().iter())
            .map(Self::unnumbered)
            .collect::<Result<Vec<_>>>()?;
        state.put_batches("pending", self.input_schema()?, pending);
        let waiting: Vec<(usize, &Outcome)> = self
            .waiting
            .iter()
            .map(|e| (e.partition, &e.outcome))
            .collect();
        state.put("waiting", &(waiting, self.watermark))?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        let (keys, rows) = state.columns("keys")?;
        self.keys.intern(&keys, rows, &mut Vec::new())?;
        let partitions: Vec<(Partition, PartitionRows, VecDeque<i64>)> = state.get("partitions")?;
        let states = (partitions.into_iter())
            .map(|(matching, rows, held)| {
                Box::new(PartitionState {
                    matching,
                    rows,
                    held,
                    ..PartitionState::default()
                })
            })
            .collect();
        self.partitions = Partitions {
            states,
            ..Partitions::default()
        };
        self.timers.clear();
        for p in 0..self.partitions.len() {
            schedule(
                &self.spec.matcher,
                &mut self.timers,
                p,
                &mut self.partitions[p],
            );
            self.partitions.recount(p);
        }
        self.store = RowStore::restore(state, "store", |batch| self.arguments(batch))?;
        let pending = (state.batches("pending")?.into_iter())
            .map(|batch| self.numbered(batch))
            .collect::<Result<Vec<_>>>()?;
        self.pending.restore(pending)?;
        let (waiting, watermark): (Vec<(usize, Outcome)>, Watermark) = state.get("waiting")?;
        self.waiting = (waiting.into_iter())
            .map(|(partition, outcome)| Emit { partition, outcome })
            .collect();
        self.watermark = watermark;
        Ok(())
    }

    fn name(&self) -> &str {
        "MatchRecognize"
    }

    fn state_bytes(&self) -> usize {
        self.store.size() + self.pending.bytes() + self.partitions.bytes
    }

    fn on_batch(
        &mut self,
        _input: usize,
        batch: ChangeBatch,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        if batch.ops.is_some() {
            return Err(EngineError::Other(
                "MATCH_RECOGNIZE needs an insert-only input".into(),
            ));
        }
        let (on_time, late) = split_late(&batch, self.spec.time, self.watermark)?;
        self.late.record(&batch.data, late, out)?;
        let on_time = self.numbered(on_time)?;
        self.pending.push(on_time)?;
        Ok(())
    }

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        match watermark {
            // Passed on once the end is done.
            Watermark::MAX => self.end(Some(watermark), out),
            _ => self.advance(watermark, out),
        }
    }

    fn on_end(&mut self, out: &mut Vec<Message>) -> Result<()> {
        self.finish(out)
    }

    fn busy(&self) -> bool {
        self.ending.is_some()
    }

    fn resume(&mut self, out: &mut Vec<Message>) -> Result<()> {
        self.end_chunk(out)
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use datafusion_common::ScalarValue;
    use datafusion_expr::Operator as Op;
    use datafusion_physical_expr::expressions::{BinaryExpr, Column, Literal};
    use rill_cep::{AfterMatch, Pattern};

    use super::*;
    use crate::operator::testing::{keyed_batch, keyed_schema};

    /// `v <op> n`.
    fn v_is(op: Op, n: i64) -> Define {
        Define::Batch(Arc::new(BinaryExpr::new(
            Arc::new(Column::new("v", 1)),
            op,
            Arc::new(Literal::new(ScalarValue::Int64(Some(n)))),
        )))
    }

    /// `PARTITION BY key ... PATTERN (A B* C)` where B always holds and C never: every
    /// attempt stays open, unless `WITHIN` ends it. Outputs the key per match.
    fn never_ending(within: Option<i64>) -> MatchRecognize {
        a_b_star_c([Define::Always, Define::Always, v_is(Op::Lt, 0)], within, 0)
    }

    /// `PARTITION BY key ... PATTERN (A B* C)` with `defines`, outputting the key per match;
    /// with a `lookahead`, the matcher runs that many rows behind the input, and the measure
    /// `NEXT(v)` (the `v` after the match) follows the key.
    fn a_b_star_c(defines: [Define; 3], within: Option<i64>, lookahead: u64) -> MatchRecognize {
        let input = keyed_schema("ts");
        let (pattern, names) = Pattern::parse("A B* C").unwrap();
        let mut terms = Terms {
            terms: vec![],
            schema: Arc::new(Schema::empty()),
        };
        let mut measures: Vec<Arc<dyn PhysicalExpr>> = vec![];
        let mut output = vec![OutputColumn::Input(0)];
        let mut fields = vec![Field::new("key", DataType::Utf8, true)];
        if lookahead > 0 {
            let next = Navigation {
                physical: 1,
                ..Navigation::CURRENT
            };
            terms = Terms {
                terms: vec![Term::Column {
                    column: 1,
                    at: next,
                    running: false,
                }],
                schema: Arc::new(Schema::new(vec![Field::new("t0", DataType::Int64, true)])),
            };
            measures.push(Arc::new(Column::new("t0", 0)));
            output.push(OutputColumn::Measure(0));
            fields.push(Field::new("next_v", DataType::Int64, true));
        }
        let spec = MatchSpec {
            matcher: Matcher::new(&pattern, AfterMatch::PastLastRow, within, true, false),
            names,
            partition: vec![0],
            time: 2,
            order: vec![],
            defines: defines.into(),
            terms,
            measures,
            rows: RowsPerMatch::One,
            output,
            schema: Arc::new(Schema::new(fields)),
            lookback: 0,
            lookahead,
            define_lookahead: lookahead,
            lags: vec![],
        };
        let metrics = Arc::new(crate::metrics::JobMetrics::default());
        let late = LateRows::new(metrics);
        MatchRecognize::new(spec, input, late).unwrap()
    }

    /// Feeds `chunks` batches of 200 rows, 10 ms apart, for two keys, with the watermark
    /// 50 ms behind; returns the most rows held at any watermark.
    fn most_rows_held(op: &mut MatchRecognize, chunks: i64) -> usize {
        let mut out = Vec::new();
        let mut most = 0;
        for chunk in 0..chunks {
            let rows: Vec<(&str, i64, i64, i64)> = (0..200)
                .map(|i| {
                    let t = (chunk * 200 + i) * 10;
                    (if i % 2 == 0 { "a" } else { "b" }, i, t, NO_WATERMARK)
                })
                .collect();
            op.on_batch(0, keyed_batch("ts", &rows), &mut out).unwrap();
            op.on_watermark((chunk + 1) * 2000 - 50, &mut out).unwrap();
            most = most.max(op.held_rows());
        }
        assert!(
            out.iter().all(|m| !matches!(m, Message::Batch(_))),
            "no match"
        );
        most
    }

    /// Feeds chunk `chunk` of 200 keys of one row each (`v` = 1), 10 ms apart, then a
    /// watermark 50 ms before the next chunk.
    fn one_row_keys(op: &mut MatchRecognize, chunk: i64, out: &mut Vec<Message>) {
        let keys: Vec<String> = (0..200).map(|i| format!("k{}", chunk * 200 + i)).collect();
        let rows: Vec<(&str, i64, i64, i64)> = (keys.iter().enumerate())
            .map(|(i, k)| (k.as_str(), 1, (chunk * 200 + i as i64) * 10, NO_WATERMARK))
            .collect();
        op.on_batch(0, keyed_batch("ts", &rows), out).unwrap();
        op.on_watermark((chunk + 1) * 2000 - 50, out).unwrap();
    }

    /// Ends `op`'s input, all its parts.
    fn end(op: &mut MatchRecognize, out: &mut Vec<Message>) {
        op.on_end(out).unwrap();
        while op.busy() {
            op.resume(out).unwrap();
        }
    }

    /// The key (first column) of each row `out` holds, sorted.
    fn matched_keys(out: &[Message]) -> Vec<String> {
        let mut matched = Vec::new();
        for m in out {
            let Message::Batch(b) = m else { continue };
            let keys = b.data.column(0).as_string::<i32>();
            matched.extend((0..b.num_rows()).map(|row| keys.value(row).to_string()));
        }
        matched.sort();
        matched
    }

    #[test]
    fn partitions_that_hold_nothing_are_forgotten() {
        // A key per row (an order id): each attempt ends with WITHIN, and the partitions
        // left with nothing are forgotten, so their number stays flat.
        let mut op = never_ending(Some(100));
        let mut out = Vec::new();
        let mut most = 0;
        for chunk in 0..50i64 {
            one_row_keys(&mut op, chunk, &mut out);
            most = most.max(op.keys.len());
        }
        assert!(
            most < 2 * DROP_IDLE_AT + 400,
            "{most} of 10 000 partitions kept"
        );
        // A key seen again starts afresh and still matches nothing.
        let again = keyed_batch("ts", &[("k0", 1, 100_000, NO_WATERMARK)]);
        op.on_batch(0, again, &mut out).unwrap();
        end(&mut op, &mut out);
        assert!(out.iter().all(|m| !matches!(m, Message::Batch(_))));
    }

    #[test]
    fn forgetting_partitions_loses_no_match_of_rows_waiting_for_the_watermark() {
        // Keys of one row each come and time out (WITHIN), so partitions are forgotten and
        // the rest numbered again, while the two rows of each key p.. wait for a watermark far
        // ahead: A (v = 1), then C (v < 0). Each p.. must match once, with its own rows, though
        // its partition is made and its attempt opened among forgotten ones; the state is
        // checkpointed and restored on the way.
        let (v1, v2) = (v_is(Op::Gt, 0), v_is(Op::Lt, 0));
        let mut op = a_b_star_c([v1.clone(), Define::Always, v2.clone()], Some(100), 0);
        let waiting: Vec<String> = (0..100).map(|k| format!("p{k:02}")).collect();
        let mut out = Vec::new();
        let mut early = Vec::new();
        for (k, key) in waiting.iter().enumerate() {
            early.push((key.as_str(), 1, 40_000 + k as i64, NO_WATERMARK));
            early.push((key.as_str(), -1, 40_050 + k as i64, NO_WATERMARK));
        }
        op.on_batch(0, keyed_batch("ts", &early), &mut out).unwrap();
        let mut most = 0;
        for chunk in 0..30i64 {
            if chunk == 15 {
                let state = op.snapshot().unwrap();
                op = a_b_star_c([v1.clone(), Define::Always, v2.clone()], Some(100), 0);
                op.restore(&state).unwrap();
            }
            one_row_keys(&mut op, chunk, &mut out);
            most = most.max(op.keys.len());
        }
        assert!(most < 2 * DROP_IDLE_AT + 400, "{most} of 6100 keys kept");
        end(&mut op, &mut out);
        assert_eq!(matched_keys(&out), waiting);
    }

    #[test]
    fn within_keeps_memory_flat_while_open_matches_hold_their_rows() {
        // WITHIN 1 s: an attempt ends 100 rows after it starts; rows behind every open
        // attempt are forgotten (whole batches of 200 are freed when no row is referred to).
        let held = most_rows_held(&mut never_ending(Some(1000)), 100);
        assert!(held <= 700, "{held} of 20 000 rows held with WITHIN");
        // Without WITHIN the attempt from the first row holds every row. (Every row starts an
        // attempt that never ends, and each copies its labels as it forks: kept small.)
        let held = most_rows_held(&mut never_ending(None), 5);
        assert!(held >= 950, "{held} of 1000 rows held without WITHIN");
    }

    #[test]
    fn released_rows_are_in_order_however_few_they_are_for_their_partitions() {
        // Many rows for their partitions are placed by a counting sort; few rows for many
        // partitions (which a counting sort would all visit) by a comparison sort. Either
        // way: every row once, by partition (numbered as first seen), time and arrival.
        let mut op = never_ending(None);
        let mut out = Vec::new();
        let mut numbers: Vec<String> = Vec::new();
        let mut base = 0;
        // 2000 rows of 400 keys, then 24 rows of keys 380 to 404.
        for (rows, keys) in [(2000i64, 400i64), (25, 25)] {
            let mut check = Vec::new();
            for half in 0..2 {
                // Numbered in arrival order, across both batches.
                let first = half * (rows / 2);
                let batch: Vec<(String, i64)> = (0..rows / 2)
                    .map(|i| {
                        // Times out of order within a key.
                        let key = format!("k{}", (i * 7 + half) % keys + (rows < 100) as i64 * 380);
                        (key, base + (i * 37 + half * 11) % rows)
                    })
                    .collect();
                // Each row's value is its place in arrival order.
                let rows: Vec<(&str, i64, i64, i64)> = (batch.iter().enumerate())
                    .map(|(i, (k, t))| (k.as_str(), first + i as i64, *t, NO_WATERMARK))
                    .collect();
                op.on_batch(0, keyed_batch("ts", &rows), &mut out).unwrap();
                for (row, (key, time)) in batch.into_iter().enumerate() {
                    if !numbers.contains(&key) {
                        numbers.push(key.clone());
                    }
                    let number = numbers.iter().position(|k| *k == key).unwrap();
                    check.push((number as u32, time, (first + row as i64) as u32));
                }
            }
            base += 10_000;
            let sorted = op
                .release(base, op.keys.len())
                .unwrap()
                .expect("rows released");
            check.sort_unstable();
            let n = sorted.len();
            // Copied whole and in runs that start and end within partitions.
            for range in [0..n, 3..n / 2, n / 2..n] {
                let run = sorted.run(range.clone()).unwrap();
                let arrival = run.rows.column(1).as_primitive::<Int64Type>().values();
                let released: Vec<_> = (run.partitions.iter().zip(&run.times).zip(arrival))
                    .map(|((p, t), a)| (*p as u32, *t, *a as u32))
                    .collect();
                assert_eq!(released, check[range], "{rows} rows of {keys} keys");
            }
        }
        assert!(numbers.len() > 400, "new keys among the few rows");
        assert_eq!(op.keys.len(), numbers.len(), "partitions");
    }

    #[test]
    fn the_state_measured_is_the_state_held() {
        // Partitions' sizes are counted again as they change, not summed at each measure: the
        // running count must be a count from scratch, through fires, forgetting idle
        // partitions, rows held for a lookahead, and the end of the input.
        fn afresh(op: &MatchRecognize) -> usize {
            let states = op.partitions.states.iter();
            let store = (op.store.batches()).map(|(_, s)| {
                let arguments = s.arguments.iter().map(|a| a.get_array_memory_size());
                s.batch.get_array_memory_size()
                    + s.batch.num_rows() * size_of::<u64>()
                    + arguments.sum::<usize>()
            });
            store.sum::<usize>()
                + crate::operator::batches_bytes(op.pending.batches())
                + states
                    .map(|p| p.matching.size() + p.rows.size())
                    .sum::<usize>()
        }
        let mut out = Vec::new();
        let mut forgetting = never_ending(Some(100));
        for chunk in 0..20 {
            one_row_keys(&mut forgetting, chunk, &mut out);
            assert_eq!(
                forgetting.state_bytes(),
                afresh(&forgetting),
                "chunk {chunk}"
            );
        }
        let ops: [fn() -> MatchRecognize; 2] = [
            || never_ending(None),
            || a_b_star_c([Define::Always, Define::Always, v_is(Op::Lt, 0)], None, 3),
        ];
        for new in ops {
            let mut op = new();
            let mut most = 0;
            for chunk in 0..5 {
                let rows: Vec<(&str, i64, i64, i64)> = (0..200)
                    .map(|i| {
                        let t = (chunk * 200 + i as i64) * 10;
                        // "d" gets a row per chunk: fewer than the lookahead.
                        let key = if i == 199 {
                            "d"
                        } else {
                            ["a", "b", "c"][i % 3]
                        };
                        (key, 1, t, NO_WATERMARK)
                    })
                    .collect();
                op.on_batch(0, keyed_batch("ts", &rows), &mut out).unwrap();
                op.on_watermark((chunk + 1) * 2000 - 50, &mut out).unwrap();
                assert_eq!(op.state_bytes(), afresh(&op), "chunk {chunk}");
                most = most.max(op.partitions.bytes);
            }
            assert!(most > 10_000, "{most} bytes of partition state at most");
            let mut restored = new();
            restored.restore(&op.snapshot().unwrap()).unwrap();
            assert_eq!(restored.state_bytes(), afresh(&restored), "restored");
            end(&mut op, &mut out);
            assert_eq!(op.state_bytes(), afresh(&op), "at the end");
        }
    }

    #[test]
    fn at_the_end_partitions_too_short_to_match_let_their_rows_go_unread() {
        // A B* C takes two rows at least: key kN gets N % 4 of the rows 0 1 2, which match
        // when all three are there. Keys of one row are let go unread.
        let keys: Vec<String> = (0..40).map(|k| format!("k{k:02}")).collect();
        let mut rows = Vec::new();
        for (k, key) in keys.iter().enumerate() {
            for (i, v) in [0, 1, 2].iter().take(k % 4).enumerate() {
                rows.push((key.as_str(), *v, (i * 100 + k) as i64, NO_WATERMARK));
            }
        }
        let defines = [v_is(Op::Eq, 0), v_is(Op::Eq, 1), v_is(Op::Eq, 2)];
        let mut op = a_b_star_c(defines, None, 0);
        assert_eq!(op.spec.matcher.rows_before_a_report(), 2);
        op.end_chunk_rows = 7;
        let mut out = Vec::new();
        op.on_batch(0, keyed_batch("ts", &rows), &mut out).unwrap();
        end(&mut op, &mut out);
        assert_eq!(op.held_rows(), 0, "every row is let go at the end");
        let expected: Vec<&String> = keys.iter().skip(3).step_by(4).collect();
        assert_eq!(matched_keys(&out).iter().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn the_end_of_the_input_ends_partitions_chunk_by_chunk_with_the_same_matches() {
        // A = 0, B = 1, C = 2. The rows 0 1 1 2 of every key come before a watermark that
        // releases them, then the rows 0 1 2 0 of even keys only. An even key has two matches
        // and an open attempt at the end; an odd key one match, found only if the matcher,
        // running a row behind, takes its held last row at the end. A match reports the value
        // after it, so a report that waits for that row must go out once that row is in.
        let keys: Vec<String> = (0..40).map(|k| format!("k{k:02}")).collect();
        let values = [0, 1, 1, 2, 0, 1, 2, 0];
        let rows = |at: std::ops::Range<usize>, step: usize| -> Vec<(&str, i64, i64, i64)> {
            let mut rows = Vec::new();
            for i in at {
                for (k, key) in keys.iter().enumerate().step_by(step) {
                    rows.push((key.as_str(), values[i], (i * 100 + k) as i64, NO_WATERMARK));
                }
            }
            rows
        };
        let run = |chunk_rows: usize, lookahead: u64, define_lookahead: u64| {
            let defines = [v_is(Op::Eq, 0), v_is(Op::Eq, 1), v_is(Op::Eq, 2)];
            let mut op = a_b_star_c(defines, None, lookahead);
            op.spec.define_lookahead = define_lookahead;
            op.end_chunk_rows = chunk_rows;
            let mut out = Vec::new();
            let first = keyed_batch("ts", &rows(0..4, 1));
            op.on_batch(0, first, &mut out).unwrap();
            op.on_watermark(350, &mut out).unwrap();
            let second = keyed_batch("ts", &rows(4..8, 2));
            op.on_batch(0, second, &mut out).unwrap();
            // The end of a bounded input, as its source marks it: a chunk of partitions at a
            // time, each a part of its own, the watermark passed on after them all.
            op.on_watermark(Watermark::MAX, &mut out).unwrap();
            let mut parts = 1;
            while op.busy() {
                assert!(!matches!(out.last(), Some(Message::Watermark(_))));
                op.resume(&mut out).unwrap();
                parts += 1;
            }
            assert!(matches!(
                out.last(),
                Some(Message::Watermark(Watermark::MAX))
            ));
            op.on_end(&mut out).unwrap();
            assert!(!op.busy(), "ended already");
            assert_eq!(op.held_rows(), 0, "every row is let go at the end");
            let mut matched = Vec::new();
            for m in &out {
                let Message::Batch(b) = m else { continue };
                let keys = b.data.column(0).as_string::<i32>();
                for row in 0..b.num_rows() {
                    let next = (b.data.columns().get(1))
                        .map(|n| n.as_primitive::<arrow::datatypes::Int64Type>())
                        .map(|n| format!(" next {:?}", n.is_valid(row).then(|| n.value(row))));
                    matched.push(format!("{}{}", keys.value(row), next.unwrap_or_default()));
                }
            }
            matched.sort();
            (matched, parts)
        };
        for (lookahead, define_lookahead) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let mut expected = Vec::new();
            for (k, key) in keys.iter().enumerate() {
                let (even, odd) = match lookahead {
                    0 => ("", ""),
                    _ => (" next Some(0)", " next None"),
                };
                match k % 2 {
                    0 => expected.extend([format!("{key}{even}"), format!("{key}{even}")]),
                    _ => expected.push(format!("{key}{odd}")),
                }
            }
            let case = format!("lookahead {lookahead}, in DEFINE {define_lookahead}");
            let (whole, parts) = run(END_CHUNK_ROWS, lookahead, define_lookahead);
            assert_eq!(whole, expected, "{case}");
            assert_eq!(parts, 1, "{case}");
            for chunk_rows in [1, 3, 50] {
                let (chunked, parts) = run(chunk_rows, lookahead, define_lookahead);
                assert_eq!(chunked, expected, "{case}, in chunks of {chunk_rows}");
                assert!(parts > 1, "{parts} part at the end, {case}");
            }
        }
    }
}
