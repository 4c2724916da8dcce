//! The streaming matcher: a Pike VM over the compiled [`Program`], fed one row at a time.
//!
//! Each row of a partition starts an *attempt* (a search for the preferred match starting
//! there); an attempt keeps its live *threads* in preference order. A thread that reaches the
//! end of the pattern makes its match the attempt's best and cuts every less preferred thread;
//! the attempt is decided when no thread is left. Decided attempts are settled in order of
//! their first row, so a match is reported as soon as it is certain: no more preferred way
//! can still complete, and every earlier row is settled. `AFTER MATCH SKIP` then drops the
//! attempts it skips over.
//!
//! The state of a partition ([`Partition`]) is a plain value, separate from the immutable
//! [`Matcher`], and can be serialized.

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
    /// `start` and labelled rows `start..row` with `labels`.
    fn holds(&mut self, var: u16, row: u64, start: u64, labels: &[u16]) -> bool;
}

/// What the matcher reports, in row order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A match of rows `start .. start + labels.len()`, numbered from 1 per partition.
    Match {
        start: u64,
        labels: Vec<u16>,
        number: u64,
    },
    /// A row no match includes (reported only when asked for).
    Unmatched(u64),
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
}

/// The matching state of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    attempts: VecDeque<Attempt>,
    /// Rows seen.
    rows: u64,
    /// Matches reported.
    matches: u64,
    /// Rows before this one are in a reported match.
    covered: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Attempt {
    start: u64,
    start_time: i64,
    /// Live threads, most preferred first.
    threads: Vec<Thread>,
    /// The labels of the most preferred match found so far.
    best: Option<Vec<u16>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Thread {
    pc: u32,
    labels: Vec<u16>,
}

/// Buffers reused from row to row, so that matching does not allocate in a steady state.
#[derive(Debug, Default)]
pub struct Scratch {
    pool: Vec<Vec<u16>>,
    /// Thread lists of settled attempts.
    lists: Vec<Vec<Thread>>,
    next: Vec<Thread>,
    /// The step in which each program position was last visited.
    seen: Vec<u64>,
    step: u64,
}

impl Scratch {
    fn labels(&mut self, from: &[u16]) -> Vec<u16> {
        let mut labels = self.pool.pop().unwrap_or_default();
        labels.clear();
        labels.extend_from_slice(from);
        labels
    }

    fn release(&mut self, labels: Vec<u16>) {
        self.pool.push(labels);
    }
}

/// Where a closure runs.
#[derive(Clone, Copy)]
struct At {
    /// The position is the partition's first row.
    first_row: bool,
    /// The partition has ended.
    ended: bool,
}

impl Matcher {
    /// A matcher for `pattern`. `history_free` says that no condition looks into the match
    /// (then threads merge); `unmatched` asks for [`Outcome::Unmatched`] rows.
    pub fn new(
        pattern: &Pattern,
        after: AfterMatch,
        within: Option<i64>,
        history_free: bool,
        unmatched: bool,
    ) -> Self {
        Matcher {
            program: Program::compile(pattern),
            after,
            within,
            history_free,
            unmatched,
        }
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Feeds the partition's next row, at event time `time`; reports what became certain.
    pub fn push(
        &self,
        part: &mut Partition,
        time: i64,
        conditions: &mut impl Conditions,
        scratch: &mut Scratch,
        out: &mut Vec<Outcome>,
    ) -> Result<(), SkipError> {
        let row = part.rows;
        let mut attempt = Attempt {
            start: row,
            start_time: time,
            threads: scratch.lists.pop().unwrap_or_default(),
            best: None,
        };
        let at = At {
            first_row: row == 0,
            ended: false,
        };
        self.begin(scratch);
        let labels = scratch.labels(&[]);
        self.add(&mut attempt, 0, labels, at, scratch);
        part.attempts.push_back(attempt);
        for attempt in part.attempts.iter_mut() {
            if attempt.threads.is_empty() {
                continue;
            }
            if self.within.is_some_and(|w| time - attempt.start_time >= w) {
                for thread in attempt.threads.drain(..) {
                    scratch.release(thread.labels);
                }
                continue;
            }
            self.begin(scratch);
            let at = At {
                first_row: false,
                ended: false,
            };
            let mut threads =
                std::mem::replace(&mut attempt.threads, std::mem::take(&mut scratch.next));
            let mut cut = false;
            for Thread { pc, mut labels } in threads.drain(..) {
                if cut {
                    scratch.release(labels);
                    continue;
                }
                match self.program.ops[pc as usize] {
                    Op::Var { var, excluded }
                        if conditions.holds(var, row, attempt.start, &labels) =>
                    {
                        labels.push(if excluded { var | EXCLUDED } else { var });
                        if !self.history_free {
                            self.begin(scratch);
                        }
                        cut = self.add(attempt, pc + 1, labels, at, scratch);
                    }
                    _ => scratch.release(labels),
                }
            }
            scratch.next = threads;
        }
        part.rows += 1;
        self.settle(part, scratch, out)
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
        for attempt in part.attempts.iter_mut() {
            if !attempt.threads.is_empty() && watermark + 1 - attempt.start_time >= within {
                for thread in attempt.threads.drain(..) {
                    scratch.release(thread.labels);
                }
                any = true;
            }
        }
        if any {
            self.settle(part, scratch, out)
        } else {
            Ok(())
        }
    }

    /// Ends the partition: threads waiting for `$` go on, the rest die; reports everything.
    pub fn finish(
        &self,
        part: &mut Partition,
        scratch: &mut Scratch,
        out: &mut Vec<Outcome>,
    ) -> Result<(), SkipError> {
        let at = At {
            first_row: part.rows == 0,
            ended: true,
        };
        for attempt in part.attempts.iter_mut() {
            self.begin(scratch);
            let threads = std::mem::take(&mut attempt.threads);
            let mut cut = false;
            for Thread { pc, labels } in threads {
                if !cut && self.program.ops[pc as usize] == Op::AtEnd {
                    cut = self.add(attempt, pc + 1, labels, at, scratch);
                } else {
                    scratch.release(labels);
                }
            }
            // Whatever is left waits for rows that will not come.
            for thread in attempt.threads.drain(..) {
                scratch.release(thread.labels);
            }
        }
        self.settle(part, scratch, out)
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
        pc: u32,
        labels: Vec<u16>,
        at: At,
        scratch: &mut Scratch,
    ) -> bool {
        let seen = &mut scratch.seen[pc as usize];
        if *seen == scratch.step {
            scratch.release(labels);
            return false;
        }
        *seen = scratch.step;
        match self.program.ops[pc as usize] {
            Op::Var { .. } => {
                // Without merging by position, merge threads with the same labels there.
                let twin = !self.history_free
                    && attempt
                        .threads
                        .iter()
                        .any(|t| t.pc == pc && t.labels == labels);
                if twin {
                    scratch.release(labels);
                } else {
                    attempt.threads.push(Thread { pc, labels });
                }
                false
            }
            Op::Done => {
                if let Some(old) = attempt.best.replace(labels) {
                    scratch.release(old);
                }
                true
            }
            Op::Split(first, second) => {
                let copy = scratch.labels(&labels);
                if self.add(attempt, first, labels, at, scratch) {
                    scratch.release(copy);
                    return true;
                }
                self.add(attempt, second, copy, at, scratch)
            }
            Op::Jump(to) => self.add(attempt, to, labels, at, scratch),
            Op::AtStart if at.first_row => self.add(attempt, pc + 1, labels, at, scratch),
            Op::AtEnd if at.ended => self.add(attempt, pc + 1, labels, at, scratch),
            // Waits for the end of the partition; a row kills it.
            Op::AtEnd => {
                attempt.threads.push(Thread { pc, labels });
                false
            }
            Op::AtStart => {
                scratch.release(labels);
                false
            }
            Op::Mark(_) | Op::Progress(_) => self.add(attempt, pc + 1, labels, at, scratch),
        }
    }

    /// Reports decided attempts from the oldest on, until one is still undecided.
    fn settle(
        &self,
        part: &mut Partition,
        scratch: &mut Scratch,
        out: &mut Vec<Outcome>,
    ) -> Result<(), SkipError> {
        while part.attempts.front().is_some_and(|a| a.threads.is_empty()) {
            let attempt = part.attempts.pop_front().expect("front");
            let start = attempt.start;
            scratch.lists.push(attempt.threads);
            let Some(labels) = attempt.best else {
                if self.unmatched && start >= part.covered {
                    out.push(Outcome::Unmatched(start));
                }
                continue;
            };
            let end = start + labels.len() as u64;
            let next = match self.after {
                AfterMatch::PastLastRow => end.max(start + 1),
                AfterMatch::ToNextRow => start + 1,
                AfterMatch::ToFirst(v) | AfterMatch::ToLast(v) => {
                    let of_v = |l: &&u16| **l & !EXCLUDED == v as u16;
                    let at = if matches!(self.after, AfterMatch::ToFirst(_)) {
                        labels.iter().position(|l| of_v(&l))
                    } else {
                        labels.iter().rposition(|l| of_v(&l))
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
                let mut skipped = part.attempts.pop_front().expect("front");
                for thread in skipped.threads.drain(..) {
                    scratch.release(thread.labels);
                }
                scratch.lists.push(skipped.threads);
                if let Some(best) = skipped.best {
                    scratch.release(best);
                }
            }
        }
        Ok(())
    }
}
