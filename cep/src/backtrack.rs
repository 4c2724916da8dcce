//! The reference matcher: the pattern is compiled to a small program of instructions and run
//! by depth-first backtracking, alternatives in preference order, so the first match found
//! from a row is the preferred one (SQL:2016, as for Perl-style regular expressions: greedy
//! quantifiers prefer more, reluctant fewer, alternatives the leftmost). Conditions may look at
//! the rows matched so far. Exponential in the worst case: the yardstick for faster matchers.

use crate::pattern::Pattern;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterMatch {
    /// `SKIP PAST LAST ROW` (the default): after the match's last row.
    PastLastRow,
    /// `SKIP TO NEXT ROW`: at the row after the match's first.
    ToNextRow,
    /// `SKIP TO FIRST v`: at the first row matched to `v`.
    ToFirst(usize),
    /// `SKIP TO LAST v` and `SKIP TO v`: at the last row matched to `v`.
    ToLast(usize),
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
    let program = Program::compile(pattern);
    let mut matches = Vec::new();
    let mut start = 0;
    while start < rows {
        let Some(m) = program.match_at(rows, start, conditions) else {
            start += 1;
            continue;
        };
        let next = match after {
            AfterMatch::PastLastRow => m.end.max(start + 1),
            AfterMatch::ToNextRow => start + 1,
            AfterMatch::ToFirst(v) | AfterMatch::ToLast(v) => {
                let mut of_v = m.rows.iter().filter(|r| r.var == v).map(|r| r.row);
                let row = if matches!(after, AfterMatch::ToFirst(_)) {
                    of_v.next()
                } else {
                    of_v.next_back()
                };
                match row {
                    None => return Err(SkipError::NoRow(start)),
                    Some(r) if r == start => return Err(SkipError::FirstRow(start)),
                    Some(r) => r,
                }
            }
        };
        matches.push(m);
        start = next;
    }
    Ok(matches)
}

/// The preferred match of `pattern` starting at row `start`, if any.
pub fn match_at(
    pattern: &Pattern,
    rows: usize,
    start: usize,
    conditions: &Conditions,
) -> Option<Match> {
    Program::compile(pattern).match_at(rows, start, conditions)
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// Consume a row the variable holds for.
    Var(usize),
    /// Try the first target, then the second.
    Split(usize, usize),
    Jump(usize),
    AtStart,
    AtEnd,
    /// Enter or leave `{- -}`.
    Exclude(bool),
    /// Remember where a loop iteration starts, in slot n.
    Mark(usize),
    /// Fail an iteration that consumed no row (it would loop forever).
    Progress(usize),
    Done,
}

struct Program {
    ops: Vec<Op>,
    slots: usize,
}

impl Program {
    fn compile(pattern: &Pattern) -> Program {
        let mut program = Program {
            ops: Vec::new(),
            slots: 0,
        };
        program.emit(pattern);
        program.ops.push(Op::Done);
        program
    }

    fn emit(&mut self, pattern: &Pattern) {
        match pattern {
            Pattern::Var(v) => self.ops.push(Op::Var(*v)),
            Pattern::Empty => {}
            Pattern::Start => self.ops.push(Op::AtStart),
            Pattern::End => self.ops.push(Op::AtEnd),
            Pattern::Concat(parts) => parts.iter().for_each(|p| self.emit(p)),
            Pattern::Exclude(inner) => {
                self.ops.push(Op::Exclude(true));
                self.emit(inner);
                self.ops.push(Op::Exclude(false));
            }
            Pattern::Alt(options) => self.alternatives(options),
            Pattern::Permute(items) => {
                let orders = permutations(items.len())
                    .into_iter()
                    .map(|order| Pattern::Concat(order.iter().map(|i| items[*i].clone()).collect()))
                    .collect::<Vec<_>>();
                self.alternatives(&orders);
            }
            Pattern::Repeat {
                inner,
                min,
                max,
                greedy,
            } => {
                for _ in 0..*min {
                    self.emit(inner);
                }
                match max {
                    Some(max) => {
                        // Each optional copy: a split into it (right after the split) or past
                        // all of them, whose target is known once they are emitted.
                        let mut splits = Vec::new();
                        for _ in *min..*max {
                            splits.push(self.ops.len());
                            self.ops.push(Op::Split(0, 0));
                            self.emit(inner);
                        }
                        let end = self.ops.len();
                        for at in splits {
                            let body = at + 1;
                            self.ops[at] = if *greedy {
                                Op::Split(body, end)
                            } else {
                                Op::Split(end, body)
                            };
                        }
                    }
                    None => {
                        let slot = self.slots;
                        self.slots += 1;
                        let split = self.ops.len();
                        self.ops.push(Op::Split(0, 0));
                        let body = self.ops.len();
                        self.ops.push(Op::Mark(slot));
                        self.emit(inner);
                        self.ops.push(Op::Progress(slot));
                        self.ops.push(Op::Jump(split));
                        let end = self.ops.len();
                        self.ops[split] = if *greedy {
                            Op::Split(body, end)
                        } else {
                            Op::Split(end, body)
                        };
                    }
                }
            }
        }
    }

    /// `a | b | c` as a chain of splits, the leftmost preferred.
    fn alternatives(&mut self, options: &[Pattern]) {
        let mut jumps = Vec::new();
        for (i, option) in options.iter().enumerate() {
            let split = self.ops.len();
            let last = i + 1 == options.len();
            if !last {
                self.ops.push(Op::Split(split + 1, 0));
            }
            self.emit(option);
            if !last {
                jumps.push(self.ops.len());
                self.ops.push(Op::Jump(0));
                let next = self.ops.len();
                self.ops[split] = Op::Split(split + 1, next);
            }
        }
        let end = self.ops.len();
        for at in jumps {
            self.ops[at] = Op::Jump(end);
        }
    }

    fn match_at(&self, rows: usize, start: usize, conditions: &Conditions) -> Option<Match> {
        let mut search = Search {
            program: self,
            rows,
            conditions,
            path: Vec::new(),
            slots: vec![0; self.slots],
            excluded: 0,
        };
        let end = search.run(0, start)?;
        Some(Match {
            start,
            end,
            rows: search.path,
        })
    }
}

/// The permutations of `0..n` in lexicographic order.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut all = Vec::new();
    for first in 0..n {
        for rest in permutations(n - 1) {
            let mut order = vec![first];
            order.extend(rest.into_iter().map(|i| if i >= first { i + 1 } else { i }));
            all.push(order);
        }
    }
    all
}

struct Search<'a> {
    program: &'a Program,
    rows: usize,
    conditions: &'a Conditions<'a>,
    path: Vec<Row>,
    slots: Vec<usize>,
    excluded: usize,
}

impl Search<'_> {
    /// Runs from instruction `pc` at row `pos`; the end of the first match found, leaving its
    /// rows in `path` (and `path` as it was when there is none).
    fn run(&mut self, pc: usize, pos: usize) -> Option<usize> {
        match self.program.ops[pc] {
            Op::Done => Some(pos),
            Op::Var(v) => {
                if pos >= self.rows || !(self.conditions)(v, pos, &self.path) {
                    return None;
                }
                self.path.push(Row {
                    row: pos,
                    var: v,
                    excluded: self.excluded > 0,
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
            Op::Exclude(enter) => {
                let before = self.excluded;
                self.excluded = if enter { before + 1 } else { before - 1 };
                let end = self.run(pc + 1, pos);
                if end.is_none() {
                    self.excluded = before;
                }
                end
            }
            Op::Mark(slot) => {
                let before = self.slots[slot];
                self.slots[slot] = pos;
                let end = self.run(pc + 1, pos);
                if end.is_none() {
                    self.slots[slot] = before;
                }
                end
            }
            Op::Progress(slot) => {
                if self.slots[slot] == pos {
                    None
                } else {
                    self.run(pc + 1, pos)
                }
            }
        }
    }
}
