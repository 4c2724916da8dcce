//! The reference matcher: the pattern is compiled to a small program of instructions and run
//! by depth-first backtracking, alternatives in preference order, so the first match found
//! from a row is the preferred one (SQL:2016, as for Perl-style regular expressions: greedy
//! quantifiers prefer more, reluctant fewer, alternatives the leftmost). Conditions may look at
//! the rows matched so far. Exponential in the worst case: the yardstick for faster matchers.

use crate::pattern::Pattern;
use crate::program::{Op, Program};

/// One row of a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Index of the row in the partition.
    pub row: usize,
    /// The variable it matched.
    pub var: usize,
    /// Whether it is inside `{- -}`.
    pub excluded: bool,
}

/// A match: rows `start..end` of the partition (empty when `start == end`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub start: usize,
    pub end: usize,
    pub rows: Vec<Row>,
}

/// `AFTER MATCH SKIP ...`: where the search goes on after a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum AfterMatch {
    /// `SKIP PAST LAST ROW` (the default): after the match's last row.
    PastLastRow,
    /// `SKIP TO NEXT ROW`: at the row after the match's first.
    ToNextRow,
    /// `SKIP TO FIRST v`: at the first row matched to one of the variables (one bit each:
    /// a variable, or the variables of a `SUBSET`).
    ToFirst(u64),
    /// `SKIP TO LAST v` and `SKIP TO v`: at the last row matched to one of the variables.
    ToLast(u64),
}

/// A skip the standard makes an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipError {
    #[error("AFTER MATCH SKIP TO a variable with no row in the match starting at row {0}")]
    NoRow(usize),
    #[error("AFTER MATCH SKIP TO the first row of the match at row {0} would match it forever")]
    FirstRow(usize),
}

/// Whether variable `var` holds for row `row`, given the rows of the match before it.
pub type Conditions<'a> = dyn Fn(usize, usize, &[Row]) -> bool + 'a;

/// Every match in a partition of `rows` rows, searched from row 0 on, going on after each match
/// as `after` says.
pub fn find_matches(
    pattern: &Pattern,
    rows: usize,
    conditions: &Conditions,
    after: AfterMatch,
) -> Result<Vec<Match>, SkipError> {
    let found = search_all(pattern, rows, conditions, after, |_| rows, false)?;
    Ok(found
        .into_iter()
        .filter_map(|f| match f {
            Found::Match(m) => Some(m),
            Found::TimedOut(_) => None,
        })
        .collect())
}

/// What [`find_matches_within`] reports from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Match(Match),
    /// The most preferred partial match from the row when time ran out, without a match.
    TimedOut(Match),
}

/// [`find_matches`] where a match spans less than `within` of the rows' `times` (ascending):
/// from each row, only the rows before the first `within` or more after it count. A row
/// without a match whose partial match was still waiting for rows when time ran out (that
/// first row, or the end of the partition) reports the most preferred one.
pub fn find_matches_within(
    pattern: &Pattern,
    times: &[i64],
    within: i64,
    conditions: &Conditions,
    after: AfterMatch,
) -> Result<Vec<Found>, SkipError> {
    let rows = times.len();
    let limit = |start: usize| {
        (start..rows)
            .find(|r| times[*r] - times[start] >= within)
            .unwrap_or(rows)
    };
    search_all(pattern, rows, conditions, after, limit, true)
}

/// The matches from row 0 on, each from a row using the rows before `limit(row)`, and with
/// `timeouts` the partial matches of the rows without one.
fn search_all(
    pattern: &Pattern,
    rows: usize,
    conditions: &Conditions,
    after: AfterMatch,
    limit: impl Fn(usize) -> usize,
    timeouts: bool,
) -> Result<Vec<Found>, SkipError> {
    let program = Program::compile(pattern);
    let mut found = Vec::new();
    let mut start = 0;
    while start < rows {
        let search = |parked| Search {
            limit: limit(start),
            parked,
            ..Search::new(&program, rows, conditions)
        };
        if let Some(m) = search(false).find(start) {
            start = next_start(&m, after)?;
            found.push(Found::Match(m));
            continue;
        }
        if timeouts
            && let Some(partial) = search(true).find(start)
            && !partial.rows.is_empty()
        {
            found.push(Found::TimedOut(partial));
        }
        start += 1;
    }
    Ok(found)
}

/// Where the search goes on after match `m`.
fn next_start(m: &Match, after: AfterMatch) -> Result<usize, SkipError> {
    Ok(match after {
        AfterMatch::PastLastRow => m.end.max(m.start + 1),
        AfterMatch::ToNextRow => m.start + 1,
        AfterMatch::ToFirst(v) | AfterMatch::ToLast(v) => {
            let mut of_v = m.rows.iter().filter(|r| v >> r.var & 1 == 1).map(|r| r.row);
            let row = if matches!(after, AfterMatch::ToFirst(_)) {
                of_v.next()
            } else {
                of_v.next_back()
            };
            match row {
                None => return Err(SkipError::NoRow(m.start)),
                Some(r) if r == m.start => return Err(SkipError::FirstRow(m.start)),
                Some(r) => r,
            }
        }
    })
}

/// The preferred match of `pattern` starting at row `start`, if any.
pub fn match_at(
    pattern: &Pattern,
    rows: usize,
    start: usize,
    conditions: &Conditions,
) -> Option<Match> {
    Search::new(&Program::compile(pattern), rows, conditions).find(start)
}

struct Search<'a> {
    program: &'a Program,
    rows: usize,
    /// Rows from this one on are out of time: no variable takes them.
    limit: usize,
    /// Search for the first partial match waiting for a row at `limit` (a variable, or the
    /// partition's end while rows remain) instead of a match.
    parked: bool,
    conditions: &'a Conditions<'a>,
    path: Vec<Row>,
    slots: Vec<usize>,
}

impl<'a> Search<'a> {
    fn new(program: &'a Program, rows: usize, conditions: &'a Conditions<'a>) -> Self {
        Search {
            program,
            rows,
            limit: rows,
            parked: false,
            conditions,
            path: Vec::new(),
            slots: vec![0; program.slots],
        }
    }

    /// The first match (or, `parked`, partial match) from row `start`.
    fn find(mut self, start: usize) -> Option<Match> {
        let end = self.run(0, start)?;
        Some(Match {
            start,
            end,
            rows: self.path,
        })
    }

    /// Runs from instruction `pc` at row `pos`; the end of the first match found, leaving its
    /// rows in `path` (and `path` as it was when there is none).
    fn run(&mut self, pc: u32, pos: usize) -> Option<usize> {
        let op = self.program.ops[pc as usize];
        if self.parked && pos == self.limit {
            let waits = matches!(op, Op::Var { .. }) || (op == Op::AtEnd && pos < self.rows);
            if waits {
                return Some(pos);
            }
        }
        match op {
            Op::Done => (!self.parked).then_some(pos),
            Op::Var { var, excluded } => {
                let var = usize::from(var);
                if pos >= self.limit || !(self.conditions)(var, pos, &self.path) {
                    return None;
                }
                self.path.push(Row {
                    row: pos,
                    var,
                    excluded,
                });
                let end = self.run(pc + 1, pos + 1);
                if end.is_none() {
                    self.path.pop();
                }
                end
            }
            Op::Split(first, second) => self.run(first, pos).or_else(|| self.run(second, pos)),
            Op::Jump(to) => self.run(to, pos),
            Op::AtStart => (pos == 0)
                .then_some(())
                .and_then(|()| self.run(pc + 1, pos)),
            Op::AtEnd => (pos == self.rows)
                .then_some(())
                .and_then(|()| self.run(pc + 1, pos)),
            Op::Mark(slot) => {
                let slot = slot as usize;
                let before = self.slots[slot];
                self.slots[slot] = pos;
                let end = self.run(pc + 1, pos);
                if end.is_none() {
                    self.slots[slot] = before;
                }
                end
            }
            Op::Progress(slot) => {
                if self.slots[slot as usize] == pos {
                    None
                } else {
                    self.run(pc + 1, pos)
                }
            }
        }
    }
}
