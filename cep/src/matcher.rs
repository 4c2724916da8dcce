//! The streaming matcher: a Pike VM over the compiled [`Program`], fed one row at a time.
//!
//! Each row of a partition starts an *attempt* (a search for the preferred match starting
//! there), unless no match can start there: the row comes with its answers as a match's first
//! row, so that an attempt takes its first row as it is made, and one that would die there is
//! not made. An attempt keeps its live *threads* in preference order. A thread that reaches
//! the end of the pattern makes its match the attempt's best and cuts every less preferred
//! thread; the attempt is decided when no thread is left. Decided attempts are settled in
//! order of their first row, so a match is reported as soon as it is certain: no more
//! preferred way can still complete, and every earlier row is settled. `AFTER MATCH SKIP`
//! then drops the attempts it skips over.
//!
//! A thread's labels (the variable of each row it took) are a path in a tree the partition
//! keeps, so a thread forks by copying two numbers, never its labels; the tree is compacted
//! as threads die. The state of a partition ([`Partition`]) is a plain value, separate from
//! the immutable [`Matcher`], and can be serialized.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::backtrack::{AfterMatch, SkipError};
use crate::pattern::Pattern;
use crate::program::{Op, Program};

/// The label of a row in a match: its variable, with this bit set when it is excluded.
pub const EXCLUDED: u16 = 0x8000;

/// Whether a variable's condition holds for a row, given the match so far.
pub trait Conditions {
    /// Whether `var` holds for row `row` of the partition, in a match that started at row
    /// `start` and labelled rows `start..row` with `labels` (left empty when the matcher was
    /// built history-free).
    fn holds(&mut self, var: u16, row: u64, start: u64, labels: &[u16]) -> bool;
}

/// What the matcher reports, in row order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// A match of rows `start .. start + labels.len()`, numbered from 1 per partition.
    Match {
        start: u64,
        labels: Vec<u16>,
        number: u64,
    },
    /// A row no match includes (reported only when asked for).
    Unmatched(u64),
    /// A partial match of rows `start .. start + labels.len()` that `WITHIN` ended (reported
    /// only when asked for): the most preferred way it had gone when time ran out.
    TimedOut { start: u64, labels: Vec<u16> },
}

/// A pattern ready to match, with how matching goes on after a match.
#[derive(Debug, Clone)]
pub struct Matcher {
    program: Program,
    after: AfterMatch,
    /// `WITHIN`: a match spans less than this much time.
    within: Option<i64>,
    /// Conditions look only at the current row (and its neighbours), never at the match:
    /// threads at the same position then have the same future and merge.
    history_free: bool,
    unmatched: bool,
    /// Report the partial matches `WITHIN` ends.
    timeouts: bool,
    /// How an attempt begins at a partition's other rows, then at its first (`^`).
    starts: [Start; 2],
}

/// Where an attempt's threads wait before its first row.
#[derive(Debug, Clone, Copy)]
struct Start {
    /// The variables they wait for, one bit each.
    vars: u64,
    /// The empty match is among them: the attempt has a match before any row.
    empty: bool,
}

/// The parent of an attempt's first label.
const ROOT: u32 = u32::MAX;

/// The label tree is compacted when it reaches at least this many nodes.
const COMPACT_AT: usize = 4096;

/// A cleared partition keeps memory for this many rows (attempts, times, labels); the
/// states of a partition's rows kept beside its matching state do the same.
pub const KEPT_ROWS: usize = 16;

/// A node of the label tree: a row's label and the node of the row before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Node {
    label: u16,
    parent: u32,
}

/// The matching state of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// Attempts not yet settled, by first row; numbered from 0 in the order they were made
    /// (the front one is number `made - attempts.len()`).
    attempts: VecDeque<Attempt>,
    made: u64,
    /// The labels of every thread and best match.
    nodes: Vec<Node>,
    /// Compact `nodes` when it is this long (at least [`COMPACT_AT`]).
    compact_at: usize,
    /// Rows given.
    rows: u64,
    /// The times of the last rows given, from the first an open attempt has still to take.
    times: VecDeque<i64>,
    /// The numbers of the attempts with live threads, in order (the others only wait to be
    /// settled): a step visits these alone.
    open: Vec<u64>,
    /// Matches reported.
    matches: u64,
    /// Rows before this one are in a reported match.
    covered: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Attempt {
    start: u64,
    start_time: i64,
    /// The next row it takes.
    next: u64,
    /// Live threads, most preferred first.
    threads: Vec<Thread>,
    /// The most preferred match found so far: its last label's node and its length.
    best: Option<(u32, u32)>,
    /// When `WITHIN` ended it without a match: the last label's node of its most preferred
    /// thread then (timeouts reported only).
    timed_out: Option<u32>,
    /// The path last handed to its conditions.
    #[serde(skip)]
    labels: Labels,
}

// Every row makes an attempt in its place: at most 128 bytes, it is written there inline, not
// by a call to `memcpy` (cep_q1: 5 % of matching was that call at 136 bytes).
const _: () = assert!(size_of::<Attempt>() <= 128);

impl Attempt {
    /// An attempt starting at row `start`, at `time`, that has taken no row yet, with memory
    /// for its threads and labels.
    fn new(start: u64, time: i64, threads: Vec<Thread>, path: Path) -> Self {
        Attempt {
            start,
            start_time: time,
            next: start,
            threads,
            best: None,
            timed_out: None,
            labels: Labels { tip: None, path },
        }
    }
}

/// The path to one node, kept so that the next step's question extends it by a row instead of
/// walking the whole path again. A cache: not part of the state, so attempts compare equal
/// and restore without it.
#[derive(Debug, Clone, Default)]
struct Labels {
    /// The node whose path `path` holds (`ROOT`: the empty path; `None`: nothing kept).
    tip: Option<u32>,
    path: Path,
}

impl PartialEq for Labels {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Labels {}

impl Labels {
    /// The path to `tip`.
    fn of(&mut self, nodes: &[Node], tip: u32) -> &Path {
        if self.tip != Some(tip) {
            match self.tip {
                Some(kept) if tip != ROOT && nodes[tip as usize].parent == kept => {
                    self.path.push(nodes[tip as usize].label)
                }
                _ => self.path.load(nodes, tip),
            }
            self.tip = Some(tip);
        }
        &self.path
    }
}

/// The labels of a thread's rows so far, first row first, and, once they are many, where each
/// variable's rows are among them, for conditions that look into the match.
#[derive(Debug, Clone, Default)]
pub struct Path {
    labels: Vec<u16>,
    /// Per variable (a label without [`EXCLUDED`]), the indices of its rows, in order; kept
    /// from [`INDEXED_FROM`] rows on.
    rows_of: Vec<Vec<u32>>,
}

/// Paths of this many rows or more say where each variable's rows are; shorter ones are
/// searched as fast, without the memory.
const INDEXED_FROM: usize = 16;

impl Path {
    /// No rows.
    pub const EMPTY: Path = Path {
        labels: Vec::new(),
        rows_of: Vec::new(),
    };

    /// The rows' labels.
    pub fn labels(&self) -> &[u16] {
        &self.labels
    }

    /// The indices of the rows labelled `var` (excluded or not), in order; `None` for a short
    /// path, whose labels are to be searched.
    pub fn rows_of(&self, var: u16) -> Option<&[u32]> {
        let rows = self.rows_of.get(usize::from(var));
        self.indexed().then(|| rows.map_or(&[][..], Vec::as_slice))
    }

    /// Whether it says where each variable's rows are.
    fn indexed(&self) -> bool {
        self.labels.len() >= INDEXED_FROM
    }

    /// Adds a row labelled `label`.
    pub fn push(&mut self, label: u16) {
        if self.indexed() {
            Self::index(&mut self.rows_of, label, self.labels.len());
        }
        self.labels.push(label);
        if self.labels.len() == INDEXED_FROM {
            self.build_index();
        }
    }

    /// Notes where every row's variable is.
    fn build_index(&mut self) {
        self.rows_of.iter_mut().for_each(Vec::clear);
        for (row, label) in self.labels.iter().enumerate() {
            Self::index(&mut self.rows_of, *label, row);
        }
    }

    /// Notes that row `row` is labelled `label`.
    fn index(rows_of: &mut Vec<Vec<u32>>, label: u16, row: usize) {
        let var = usize::from(label & !EXCLUDED);
        if rows_of.len() <= var {
            rows_of.resize_with(var + 1, Vec::new);
        }
        rows_of[var].push(row as u32);
    }

    /// Empties the path, keeping its memory.
    fn clear(&mut self) {
        self.labels.clear();
        self.rows_of.iter_mut().for_each(Vec::clear);
    }

    /// Becomes the path to `tip`.
    fn load(&mut self, nodes: &[Node], tip: u32) {
        labels_into(nodes, tip, &mut self.labels);
        if self.indexed() {
            self.build_index();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Thread {
    pc: u32,
    /// The node of its last label (`ROOT` before its first row).
    tip: u32,
}

/// Buffers reused from row to row, so that matching does not allocate in a steady state.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Thread lists and paths of settled attempts.
    lists: Vec<Vec<Thread>>,
    paths: Vec<Path>,
    next: Vec<Thread>,
    /// Answers of conditions to one row's questions.
    answers: Vec<bool>,
    /// The step in which each program position was last visited.
    seen: Vec<u64>,
    step: u64,
}

impl Scratch {
    /// Keeps the lists of an attempt that has ended for the next.
    fn recycle(&mut self, attempt: Attempt) {
        let (mut threads, mut path) = (attempt.threads, attempt.labels.path);
        threads.clear();
        path.clear();
        self.lists.push(threads);
        self.paths.push(path);
    }
}

/// Where a closure runs.
#[derive(Clone, Copy)]
struct At {
    /// The position is the partition's first row.
    first_row: bool,
    /// The partition has ended.
    ended: bool,
    /// How many rows the attempt's threads have taken.
    taken: u32,
}

/// The place of attempt number `n` among `attempts`, of which `made` were made (they leave
/// from the front only).
fn place(attempts: &VecDeque<Attempt>, made: u64, n: u64) -> usize {
    (n + attempts.len() as u64 - made) as usize
}

/// Attempt number `n`.
fn attempt_at(attempts: &mut VecDeque<Attempt>, made: u64, n: u64) -> &mut Attempt {
    let i = place(attempts, made, n);
    &mut attempts[i]
}

/// The labels on the path to `tip`, first row first, into `out`.
fn labels_into(nodes: &[Node], tip: u32, out: &mut Vec<u16>) {
    out.clear();
    let mut node = tip;
    while node != ROOT {
        let n = nodes[node as usize];
        out.push(n.label);
        node = n.parent;
    }
    out.reverse();
}

/// Whether two paths of the same length carry the same labels.
fn same_labels(nodes: &[Node], mut a: u32, mut b: u32) -> bool {
    while a != b {
        if a == ROOT || b == ROOT {
            return false;
        }
        let (x, y) = (nodes[a as usize], nodes[b as usize]);
        if x.label != y.label {
            return false;
        }
        (a, b) = (x.parent, y.parent);
    }
    true
}

impl Partition {
    /// The rows given.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Forgets the times of the rows every open attempt has taken; returns whether an open
    /// attempt has rows left to take.
    fn forget_taken_times(&mut self) -> bool {
        let taken = (self.open.iter())
            .map(|n| self.attempts[place(&self.attempts, self.made, *n)].next)
            .min()
            .unwrap_or(self.rows);
        while self.rows - (self.times.len() as u64) < taken {
            self.times.pop_front();
        }
        taken < self.rows
    }

    /// About how much memory the partition takes: its attempts, labels and times.
    pub fn size(&self) -> usize {
        self.nodes.capacity() * size_of::<Node>()
            + self.attempts.capacity() * size_of::<Attempt>()
            + (self.times.capacity() + self.open.capacity()) * size_of::<u64>()
            + (self.attempts.iter())
                .map(|a| a.threads.capacity() * size_of::<Thread>())
                .sum::<usize>()
    }

    /// Empties the partition as if new, keeping the memory a small partition needs for the
    /// next (a large one's would stay with every partition that reused it: partitions that
    /// end one after another would each keep the largest one's memory).
    pub fn clear(&mut self) {
        self.attempts.clear();
        self.attempts.shrink_to(KEPT_ROWS);
        self.nodes.clear();
        self.nodes.shrink_to(KEPT_ROWS);
        self.times.clear();
        self.times.shrink_to(KEPT_ROWS);
        self.open.clear();
        self.open.shrink_to(KEPT_ROWS);
        self.compact_at = 0;
        self.made = 0;
        self.rows = 0;
        self.matches = 0;
        self.covered = 0;
    }

    /// Drops the label nodes no thread or best match leads through, once there are many.
    fn compact(&mut self) {
        if self.attempts.is_empty() {
            self.nodes.clear();
            return;
        }
        if self.nodes.len() < self.compact_at.max(COMPACT_AT) {
            return;
        }
        let mut keep = vec![false; self.nodes.len()];
        let tips = self.attempts.iter().flat_map(|a| {
            a.threads
                .iter()
                .map(|t| t.tip)
                .chain(a.best.map(|(tip, _)| tip))
                .chain(a.timed_out)
        });
        for tip in tips {
            let mut node = tip;
            while node != ROOT && !keep[node as usize] {
                keep[node as usize] = true;
                node = self.nodes[node as usize].parent;
            }
        }
        // Parents come before children, so one pass renumbers both.
        let mut renumbered = vec![ROOT; self.nodes.len()];
        let mut kept = Vec::with_capacity(keep.iter().filter(|k| **k).count());
        for (i, node) in self.nodes.iter().enumerate() {
            if keep[i] {
                renumbered[i] = kept.len() as u32;
                let parent = match node.parent {
                    ROOT => ROOT,
                    p => renumbered[p as usize],
                };
                kept.push(Node {
                    label: node.label,
                    parent,
                });
            }
        }
        let move_tip = |tip: &mut u32| {
            if *tip != ROOT {
                *tip = renumbered[*tip as usize];
            }
        };
        for attempt in &mut self.attempts {
            attempt
                .threads
                .iter_mut()
                .for_each(|t| move_tip(&mut t.tip));
            if let Some((tip, _)) = &mut attempt.best {
                move_tip(tip);
            }
            if let Some(tip) = &mut attempt.timed_out {
                move_tip(tip);
            }
            let labels = &mut attempt.labels;
            labels.tip = labels.tip.filter(|t| *t == ROOT || keep[*t as usize]);
            if let Some(tip) = &mut labels.tip {
                move_tip(tip);
            }
        }
        self.nodes = kept;
        self.compact_at = 2 * self.nodes.len();
    }
}

impl Matcher {
    /// A matcher for `pattern`. `history_free` says that no condition looks into the match
    /// (then threads merge, and conditions get no labels); `unmatched` asks for
    /// [`Outcome::Unmatched`] rows.
    pub fn new(
        pattern: &Pattern,
        after: AfterMatch,
        within: Option<i64>,
        history_free: bool,
        unmatched: bool,
    ) -> Self {
        let mut matcher = Matcher {
            program: Program::compile(pattern),
            after,
            within,
            history_free,
            unmatched,
            timeouts: false,
            starts: [Start {
                vars: 0,
                empty: false,
            }; 2],
        };
        matcher.starts = [false, true].map(|first_row| matcher.start(first_row));
        matcher
    }

    /// Where an attempt's threads wait before its first row, found as an attempt finds it.
    fn start(&self, first_row: bool) -> Start {
        let mut attempt = Attempt::new(0, 0, Vec::new(), Path::EMPTY);
        let mut scratch = Scratch::default();
        let at = At {
            first_row,
            ended: false,
            taken: 0,
        };
        self.begin(&mut scratch);
        self.add(&mut attempt, &[], 0, ROOT, at, &mut scratch);
        let vars = attempt
            .threads
            .iter()
            .map(|t| match self.program.ops[t.pc as usize] {
                Op::Var { var, .. } => 1 << var,
                _ => 0,
            });
        Start {
            vars: vars.fold(0, |all, var| all | var),
            empty: attempt.best.is_some(),
        }
    }

    /// The variables whose conditions an attempt asks of its first row, at a partition's
    /// first row or at another: those to answer for each row given to [`Matcher::extend`].
    pub fn first_vars(&self, first_row: bool) -> impl Iterator<Item = u16> {
        let mut vars = self.starts[usize::from(first_row)].vars;
        std::iter::from_fn(move || {
            let var = (vars != 0).then(|| vars.trailing_zeros() as u16)?;
            vars &= vars - 1;
            Some(var)
        })
    }

    /// How many rows a partition holding no partial match must be given before it can
    /// report anything: the fewest a match takes, or none when unmatched rows or timeouts
    /// are reported.
    pub fn rows_before_a_report(&self) -> u64 {
        match self.unmatched || self.timeouts {
            true => 0,
            false => self.program.min_rows(),
        }
    }

    /// The matcher reporting, as [`Outcome::TimedOut`], each partial match `WITHIN` ends
    /// (also at the end of the input, where time runs out for every partial match).
    pub fn with_timeouts(self) -> Self {
        Matcher {
            timeouts: true,
            ..self
        }
    }

    /// Ends an attempt that `WITHIN` no longer fits, keeping its partial match if reported.
    fn time_out(&self, attempt: &mut Attempt) {
        if self.timeouts && attempt.best.is_none() {
            attempt.timed_out = attempt.threads.iter().map(|t| t.tip).find(|t| *t != ROOT);
        }
        attempt.threads.clear();
    }

    /// The variables of [`Matcher::first_vars`] that hold for row `row` as a match's first
    /// row, one bit each, asked of `conditions`: as [`Matcher::extend`] takes them.
    pub fn first_answers(&self, row: u64, conditions: &mut impl Conditions) -> u64 {
        (self.first_vars(row == 0))
            .filter(|var| conditions.holds(*var, row, row, &[]))
            .fold(0, |first, var| first | 1 << var)
    }

    /// Feeds the partition's next row, at event time `time`, asking `conditions` as
    /// [`Matcher::ask`] asks; reports what became certain.
    pub fn push(
        &self,
        part: &mut Partition,
        time: i64,
        conditions: &mut impl Conditions,
        scratch: &mut Scratch,
        out: &mut Vec<Outcome>,
    ) -> Result<(), SkipError> {
        let first = self.first_answers(part.rows, conditions);
        self.extend(part, [(time, first)], scratch);
        let mut answers = std::mem::take(&mut scratch.answers);
        loop {
            answers.clear();
            let asked = self.ask(part, |var, row, start, path| {
                answers.push(conditions.holds(var, row, start, path.labels()))
            });
            if !asked || !self.take(part, &answers, scratch) {
                break;
            }
        }
        scratch.answers = answers;
        self.settle(part, scratch, out)
    }

    /// Gives the partition its next rows, each with its event time and the variables that
    /// hold for it as a match's first row (one bit each, for those of
    /// [`Matcher::first_vars`]: whether `var` holds in a match that starts at the row, see
    /// [`Conditions::holds`]). An attempt starts at each row, and takes it, unless it would
    /// take nothing (and so report nothing). The attempts then take the next rows in steps
    /// ([`Matcher::ask`], [`Matcher::take`]), each attempt one row per step, independently of
    /// the others; then [`Matcher::settle`] reports what became certain.
    pub fn extend(
        &self,
        part: &mut Partition,
        rows: impl IntoIterator<Item = (i64, u64)>,
        scratch: &mut Scratch,
    ) {
        let rows = rows.into_iter();
        part.times.reserve(rows.size_hint().0);
        for (time, first) in rows {
            let row = part.rows;
            part.times.push_back(time);
            part.rows += 1;
            let start = self.starts[usize::from(row == 0)];
            if first & start.vars == 0 && !start.empty && !self.unmatched {
                continue;
            }
            // Made in its place: an attempt is too large to move cheaply once per row.
            part.attempts.push_back(Attempt::new(
                row,
                time,
                scratch.lists.pop().unwrap_or_default(),
                scratch.paths.pop().unwrap_or_default(),
            ));
            let attempt = part.attempts.back_mut().expect("just added");
            let at = At {
                first_row: row == 0,
                ended: false,
                taken: 0,
            };
            self.begin(scratch);
            self.add(attempt, &part.nodes, 0, ROOT, at, scratch);
            // Its first row's time is its own: `WITHIN` cannot have ended it.
            self.take_row(attempt, &mut part.nodes, scratch, |var| {
                first >> var & 1 == 1
            });
            if !attempt.threads.is_empty() {
                part.open.push(part.made);
            }
            part.made += 1;
        }
        part.forget_taken_times();
    }

    /// Begins a step: every attempt with a row to take (its next row, if `WITHIN` still
    /// fits it) asks, in order, one question of each thread waiting for a row: whether
    /// variable `var` holds for row `row` in the match that started at `start` and whose rows
    /// before are `path` (see [`Conditions::holds`]). Returns whether any attempt takes a row;
    /// [`Matcher::take`] takes the answers, so that a caller may answer the questions of many
    /// attempts and partitions at once.
    pub fn ask(&self, part: &mut Partition, mut ask: impl FnMut(u16, u64, u64, &Path)) -> bool {
        let first = part.rows - part.times.len() as u64;
        let mut any = false;
        for &n in &part.open {
            let attempt = attempt_at(&mut part.attempts, part.made, n);
            if attempt.threads.is_empty() || attempt.next == part.rows {
                continue;
            }
            let time = part.times[(attempt.next - first) as usize];
            if self.within.is_some_and(|w| time - attempt.start_time >= w) {
                self.time_out(attempt);
                continue;
            }
            any = true;
            for thread in &attempt.threads {
                let Op::Var { var, .. } = self.program.ops[thread.pc as usize] else {
                    continue;
                };
                if self.history_free {
                    ask(var, attempt.next, attempt.start, &Path::EMPTY);
                } else {
                    let path = attempt.labels.of(&part.nodes, thread.tip);
                    ask(var, attempt.next, attempt.start, path);
                }
            }
        }
        any
    }

    /// Ends the step [`Matcher::ask`] began: each attempt that asked takes its row, with the
    /// answers to the questions in the order they were asked. Returns whether an attempt has
    /// rows left to take.
    pub fn take(&self, part: &mut Partition, answers: &[bool], scratch: &mut Scratch) -> bool {
        let mut answers = answers.iter();
        for &n in &part.open {
            let attempt = attempt_at(&mut part.attempts, part.made, n);
            if attempt.threads.is_empty() || attempt.next == part.rows {
                continue;
            }
            self.take_row(attempt, &mut part.nodes, scratch, |_| {
                *answers.next().expect("an answer to each question")
            });
        }
        debug_assert!(answers.next().is_none(), "as many answers as questions");
        let Partition {
            attempts,
            made,
            open,
            ..
        } = part;
        open.retain(|n| !attempt_at(attempts, *made, *n).threads.is_empty());
        part.forget_taken_times()
    }

    /// The attempt takes its next row: each thread waiting for a variable, in preference
    /// order, goes on if `holds(var)`, until one completes the match. `holds` is asked for
    /// each thread waiting for a variable, including those the match cuts.
    fn take_row(
        &self,
        attempt: &mut Attempt,
        nodes: &mut Vec<Node>,
        scratch: &mut Scratch,
        mut holds: impl FnMut(u16) -> bool,
    ) {
        self.begin(scratch);
        let at = At {
            first_row: false,
            ended: false,
            taken: (attempt.next + 1 - attempt.start) as u32,
        };
        attempt.next += 1;
        let mut threads =
            std::mem::replace(&mut attempt.threads, std::mem::take(&mut scratch.next));
        let mut drained = threads.drain(..);
        for Thread { pc, tip } in drained.by_ref() {
            let Op::Var { var, excluded } = self.program.ops[pc as usize] else {
                continue;
            };
            if !holds(var) {
                continue;
            }
            nodes.push(Node {
                label: if excluded { var | EXCLUDED } else { var },
                parent: tip,
            });
            if !self.history_free {
                self.begin(scratch);
            }
            let tip = (nodes.len() - 1) as u32;
            if self.add(attempt, nodes, pc + 1, tip, at, scratch) {
                break;
            }
        }
        // The threads the match cut were asked too.
        for thread in drained {
            if let Op::Var { var, .. } = self.program.ops[thread.pc as usize] {
                holds(var);
            }
        }
        threads.clear();
        scratch.next = threads;
    }

    /// Kills partial matches that can no longer fit in `WITHIN` once the watermark is at
    /// `watermark` (every later row is newer); reports what became certain.
    pub fn advance(
        &self,
        part: &mut Partition,
        watermark: i64,
        scratch: &mut Scratch,
        out: &mut Vec<Outcome>,
    ) -> Result<(), SkipError> {
        let Some(within) = self.within else {
            return Ok(());
        };
        let mut any = false;
        for &n in &part.open {
            let attempt = attempt_at(&mut part.attempts, part.made, n);
            if !attempt.threads.is_empty() && watermark + 1 - attempt.start_time >= within {
                self.time_out(attempt);
                any = true;
            }
        }
        if any {
            self.settle(part, scratch, out)
        } else {
            Ok(())
        }
    }

    /// Ends the partition, once every row given is taken: threads waiting for `$` go on, the
    /// rest die; reports everything.
    pub fn finish(
        &self,
        part: &mut Partition,
        scratch: &mut Scratch,
        out: &mut Vec<Outcome>,
    ) -> Result<(), SkipError> {
        let rows = part.rows;
        let Partition {
            attempts, nodes, ..
        } = part;
        for attempt in attempts.iter_mut() {
            let at = At {
                first_row: rows == 0,
                ended: true,
                taken: (rows - attempt.start) as u32,
            };
            self.begin(scratch);
            let threads = std::mem::take(&mut attempt.threads);
            for &Thread { pc, tip } in &threads {
                if self.program.ops[pc as usize] == Op::AtEnd
                    && self.add(attempt, nodes, pc + 1, tip, at, scratch)
                {
                    break;
                }
            }
            // Whatever is left waits for rows that will not come; with WITHIN, its time runs
            // out.
            attempt.threads = threads;
            if self.within.is_some() {
                self.time_out(attempt);
            }
            attempt.threads.clear();
        }
        part.times.clear();
        self.settle(part, scratch, out)
    }

    /// Whether the pattern has `^`: a partition's first row then differs from the others.
    pub fn reads_partition_start(&self) -> bool {
        self.program.ops.contains(&Op::AtStart)
    }

    /// The pattern's `WITHIN`, in milliseconds.
    pub fn within(&self) -> Option<i64> {
        self.within
    }

    /// The watermark at which `WITHIN` ends the oldest open attempt (to be passed to
    /// [`Matcher::advance`]), if any.
    pub fn deadline(&self, part: &Partition) -> Option<i64> {
        let within = self.within?;
        let oldest = &part.attempts[place(&part.attempts, part.made, *part.open.first()?)];
        Some(oldest.start_time + within - 1)
    }

    /// The first row a live attempt still needs (rows before it can be forgotten).
    pub fn oldest_needed(part: &Partition) -> u64 {
        part.attempts.front().map_or(part.rows, |a| a.start)
    }

    /// Whether the partition holds no partial match.
    pub fn is_idle(part: &Partition) -> bool {
        part.attempts.is_empty()
    }

    fn begin(&self, scratch: &mut Scratch) {
        scratch.step += 1;
        if scratch.seen.len() < self.program.ops.len() {
            scratch.seen.resize(self.program.ops.len(), 0);
        }
    }

    /// Follows the program from `pc` without consuming a row, adding the threads that wait
    /// for a row to the attempt in preference order. Returns whether the pattern's end was
    /// reached (every less preferred thread is then cut).
    fn add(
        &self,
        attempt: &mut Attempt,
        nodes: &[Node],
        pc: u32,
        tip: u32,
        at: At,
        scratch: &mut Scratch,
    ) -> bool {
        let seen = &mut scratch.seen[pc as usize];
        if *seen == scratch.step {
            return false;
        }
        *seen = scratch.step;
        match self.program.ops[pc as usize] {
            Op::Var { .. } => self.park(attempt, nodes, pc, tip),
            // Waits for the end of the partition; a row kills it.
            Op::AtEnd if !at.ended => self.park(attempt, nodes, pc, tip),
            Op::Done => {
                attempt.best = Some((tip, at.taken));
                true
            }
            Op::Split(first, second) => {
                self.add(attempt, nodes, first, tip, at, scratch)
                    || self.add(attempt, nodes, second, tip, at, scratch)
            }
            Op::Jump(to) => self.add(attempt, nodes, to, tip, at, scratch),
            Op::AtStart if !at.first_row => false,
            Op::AtStart | Op::AtEnd | Op::Mark(_) | Op::Progress(_) => {
                self.add(attempt, nodes, pc + 1, tip, at, scratch)
            }
        }
    }

    /// Adds a thread waiting at `pc`, unless one with the same future is there already.
    /// Returns `false`: the pattern's end was not reached.
    fn park(&self, attempt: &mut Attempt, nodes: &[Node], pc: u32, tip: u32) -> bool {
        // Without merging by position, merge threads with the same labels there.
        let twin = !self.history_free
            && attempt
                .threads
                .iter()
                .any(|t| t.pc == pc && same_labels(nodes, t.tip, tip));
        if !twin {
            attempt.threads.push(Thread { pc, tip });
        }
        false
    }

    /// Reports decided attempts from the oldest on, until one is still undecided.
    pub fn settle(
        &self,
        part: &mut Partition,
        scratch: &mut Scratch,
        out: &mut Vec<Outcome>,
    ) -> Result<(), SkipError> {
        while part.attempts.front().is_some_and(|a| a.threads.is_empty()) {
            let attempt = part.attempts.pop_front().expect("front");
            let (start, best, timed_out) = (attempt.start, attempt.best, attempt.timed_out);
            scratch.recycle(attempt);
            let Some((tip, len)) = best else {
                if let Some(tip) = timed_out {
                    let mut labels = Vec::new();
                    labels_into(&part.nodes, tip, &mut labels);
                    out.push(Outcome::TimedOut { start, labels });
                } else if self.unmatched && start >= part.covered {
                    out.push(Outcome::Unmatched(start));
                }
                continue;
            };
            let mut labels = Vec::with_capacity(len as usize);
            labels_into(&part.nodes, tip, &mut labels);
            let end = start + labels.len() as u64;
            let next = match self.after {
                AfterMatch::PastLastRow => end.max(start + 1),
                AfterMatch::ToNextRow => start + 1,
                AfterMatch::ToFirst(v) | AfterMatch::ToLast(v) => {
                    let of_v = |l: &u16| v >> (*l & !EXCLUDED) & 1 == 1;
                    let at = if matches!(self.after, AfterMatch::ToFirst(_)) {
                        labels.iter().position(of_v)
                    } else {
                        labels.iter().rposition(of_v)
                    };
                    match at {
                        None => return Err(SkipError::NoRow(start as usize)),
                        Some(0) => return Err(SkipError::FirstRow(start as usize)),
                        Some(i) => start + i as u64,
                    }
                }
            };
            part.matches += 1;
            part.covered = part.covered.max(end);
            out.push(Outcome::Match {
                start,
                labels,
                number: part.matches,
            });
            while part.attempts.front().is_some_and(|a| a.start < next) {
                scratch.recycle(part.attempts.pop_front().expect("front"));
            }
        }
        let Partition {
            attempts,
            made,
            open,
            ..
        } = part;
        let first = *made - attempts.len() as u64;
        open.retain(|n| *n >= first && !attempt_at(attempts, *made, *n).threads.is_empty());
        part.compact();
        Ok(())
    }
}
