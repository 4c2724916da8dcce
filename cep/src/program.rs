//! A pattern compiled to an immutable program of instructions: the NFA both matchers run.
//! Bounded quantifiers are unrolled, so a thread's position in the program says how many
//! repetitions it has taken; unbounded ones loop back through a split.

use std::fmt::Write;

use crate::pattern::Pattern;

/// One instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Consume a row the variable holds for; `excluded` inside `{- -}`.
    Var {
        var: u16,
        excluded: bool,
    },
    /// Go on at both targets, the first preferred.
    Split(u32, u32),
    Jump(u32),
    /// Go on only at the partition's first row (`^`).
    AtStart,
    /// Go on only after the partition's last row (`$`).
    AtEnd,
    /// Remember where a loop iteration starts, in slot n.
    Mark(u32),
    /// Fail an iteration that consumed no row (it would loop forever).
    Progress(u32),
    /// A match.
    Done,
}

/// A compiled pattern. The first instruction is the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub ops: Vec<Op>,
    /// Loop slots used by `Mark` / `Progress`.
    pub slots: usize,
}

/// Where the closure of a program position leads without consuming a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The position: a `Var` (the next row) or `Done`.
    pub pc: u32,
    /// The way there passes `^` / `$`.
    pub at_start: bool,
    pub at_end: bool,
}

impl Program {
    /// Compiles `pattern`.
    pub fn compile(pattern: &Pattern) -> Program {
        let mut compiler = Compiler {
            program: Program {
                ops: Vec::new(),
                slots: 0,
            },
            excluded: false,
        };
        compiler.emit(pattern);
        compiler.program.ops.push(Op::Done);
        compiler.program
    }

    /// The fewest rows a match takes: the fewest `Var`s on a way from the start to `Done`
    /// (a lower bound where `Progress` rules a way out).
    pub fn min_rows(&self) -> u64 {
        // Breadth-first with a deque: a `Var` costs a row, every other step none, so the
        // positions come out in the order of the rows taken to reach them.
        let mut best = vec![u64::MAX; self.ops.len()];
        let mut queue = std::collections::VecDeque::from([(0u32, 0u64)]);
        while let Some((pc, rows)) = queue.pop_front() {
            if rows >= best[pc as usize] {
                continue;
            }
            best[pc as usize] = rows;
            match self.ops[pc as usize] {
                Op::Done => return rows,
                Op::Var { .. } => queue.push_back((pc + 1, rows + 1)),
                Op::Split(first, second) => {
                    queue.push_front((second, rows));
                    queue.push_front((first, rows));
                }
                Op::Jump(to) => queue.push_front((to, rows)),
                Op::AtStart | Op::AtEnd | Op::Mark(_) | Op::Progress(_) => {
                    queue.push_front((pc + 1, rows))
                }
            }
        }
        unreachable!("a compiled pattern ends in Done")
    }

    /// The `Var` and `Done` positions reachable from `pc` without consuming a row, in
    /// preference order (each once).
    pub fn closure(&self, pc: u32) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut seen = vec![false; self.ops.len()];
        self.walk(pc, false, false, &mut seen, &mut steps);
        steps
    }

    fn walk(&self, pc: u32, at_start: bool, at_end: bool, seen: &mut [bool], out: &mut Vec<Step>) {
        if std::mem::replace(&mut seen[pc as usize], true) {
            return;
        }
        match self.ops[pc as usize] {
            Op::Var { .. } | Op::Done => out.push(Step {
                pc,
                at_start,
                at_end,
            }),
            Op::Split(a, b) => {
                self.walk(a, at_start, at_end, seen, out);
                self.walk(b, at_start, at_end, seen, out);
            }
            Op::Jump(to) => self.walk(to, at_start, at_end, seen, out),
            Op::AtStart => self.walk(pc + 1, true, at_end, seen, out),
            Op::AtEnd => self.walk(pc + 1, at_start, true, seen, out),
            Op::Mark(_) | Op::Progress(_) => self.walk(pc + 1, at_start, at_end, seen, out),
        }
    }

    /// Whether some sequence of rows can match, if every condition held: `^` only before the
    /// first row, `$` only after the last.
    pub fn can_match(&self) -> bool {
        // States: (position, a row was consumed, the end was passed).
        let mut seen = vec![[[false; 2]; 2]; self.ops.len()];
        let mut stack = vec![(0u32, false, false)];
        while let Some((pc, consumed, ended)) = stack.pop() {
            let slot = &mut seen[pc as usize][usize::from(consumed)][usize::from(ended)];
            if std::mem::replace(slot, true) {
                continue;
            }
            match self.ops[pc as usize] {
                Op::Done => return true,
                Op::Var { .. } if !ended => stack.push((pc + 1, true, ended)),
                Op::Var { .. } => {}
                Op::Split(a, b) => stack.extend([(a, consumed, ended), (b, consumed, ended)]),
                Op::Jump(to) => stack.push((to, consumed, ended)),
                Op::AtStart if !consumed => stack.push((pc + 1, consumed, ended)),
                Op::AtStart => {}
                Op::AtEnd => stack.push((pc + 1, consumed, true)),
                Op::Mark(_) | Op::Progress(_) => stack.push((pc + 1, consumed, ended)),
            }
        }
        false
    }

    /// The automaton as text: one state per variable position, with where it goes next.
    pub fn explain(&self, names: &[String]) -> String {
        let mut out = String::new();
        let state = |pc: u32| self.state_name(pc, names);
        let edges = |from: u32| {
            let targets: Vec<String> = self
                .closure(from)
                .iter()
                .map(|s| {
                    let mut text = state(s.pc);
                    if s.at_start {
                        text.insert_str(0, "^ ");
                    }
                    if s.at_end {
                        text.push_str(" $");
                    }
                    if s.pc < from {
                        text.push_str(" (loop)");
                    }
                    text
                })
                .collect();
            if targets.is_empty() {
                "(no way on)".to_string()
            } else {
                targets.join(" | ")
            }
        };
        let _ = writeln!(out, "start -> {}", edges(0));
        for (pc, op) in self.ops.iter().enumerate() {
            if let Op::Var { .. } = op {
                let _ = writeln!(out, "{} -> {}", state(pc as u32), edges(pc as u32 + 1));
            }
        }
        out
    }

    /// The automaton as a Graphviz digraph; edges are numbered in preference order.
    pub fn dot(&self, names: &[String]) -> String {
        let mut out = String::from("digraph nfa {\n  rankdir=LR;\n  start [shape=point];\n");
        let _ = writeln!(out, "  accept [shape=doublecircle, label=\"accept\"];");
        let node = |pc: u32| match self.ops[pc as usize] {
            Op::Done => "accept".to_string(),
            _ => format!("s{pc}"),
        };
        for (pc, op) in self.ops.iter().enumerate() {
            if let Op::Var { .. } = op {
                let _ = writeln!(
                    out,
                    "  s{pc} [shape=circle, label=\"{}\"];",
                    self.state_name(pc as u32, names)
                );
            }
        }
        let mut edges = |from: &str, after: u32| {
            for (rank, s) in self.closure(after).iter().enumerate() {
                let mut label = format!("{}", rank + 1);
                if s.at_start {
                    label.push_str(" ^");
                }
                if s.at_end {
                    label.push_str(" $");
                }
                let _ = writeln!(out, "  {from} -> {} [label=\"{label}\"];", node(s.pc));
            }
        };
        edges("start", 0);
        for (pc, op) in self.ops.iter().enumerate() {
            if let Op::Var { .. } = op {
                edges(&format!("s{pc}"), pc as u32 + 1);
            }
        }
        out.push_str("}\n");
        out
    }

    fn state_name(&self, pc: u32, names: &[String]) -> String {
        match self.ops[pc as usize] {
            Op::Var { var, excluded } => {
                let name = names.get(var as usize).map_or("?", String::as_str);
                if excluded {
                    format!("s{pc}:{{-{name}-}}")
                } else {
                    format!("s{pc}:{name}")
                }
            }
            _ => "accept".to_string(),
        }
    }
}

struct Compiler {
    program: Program,
    excluded: bool,
}

impl Compiler {
    fn here(&self) -> u32 {
        self.program.ops.len() as u32
    }

    fn push(&mut self, op: Op) -> u32 {
        self.program.ops.push(op);
        self.here() - 1
    }

    fn set(&mut self, at: u32, op: Op) {
        self.program.ops[at as usize] = op;
    }

    fn emit(&mut self, pattern: &Pattern) {
        match pattern {
            Pattern::Var(v) => {
                self.push(Op::Var {
                    var: *v as u16,
                    excluded: self.excluded,
                });
            }
            Pattern::Empty => {}
            Pattern::Start => {
                self.push(Op::AtStart);
            }
            Pattern::End => {
                self.push(Op::AtEnd);
            }
            Pattern::Concat(parts) => parts.iter().for_each(|p| self.emit(p)),
            Pattern::Exclude(inner) => {
                let outer = std::mem::replace(&mut self.excluded, true);
                self.emit(inner);
                self.excluded = outer;
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
                let choose = |body: u32, end: u32| {
                    if *greedy {
                        Op::Split(body, end)
                    } else {
                        Op::Split(end, body)
                    }
                };
                match max {
                    Some(max) => {
                        // Each optional copy: a split into it (right after the split) or past
                        // all of them, whose target is known once they are emitted.
                        let mut splits = Vec::new();
                        for _ in *min..*max {
                            splits.push(self.push(Op::Split(0, 0)));
                            self.emit(inner);
                        }
                        let end = self.here();
                        for at in splits {
                            self.set(at, choose(at + 1, end));
                        }
                    }
                    None => {
                        let slot = self.program.slots as u32;
                        self.program.slots += 1;
                        let split = self.push(Op::Split(0, 0));
                        self.push(Op::Mark(slot));
                        self.emit(inner);
                        self.push(Op::Progress(slot));
                        self.push(Op::Jump(split));
                        let end = self.here();
                        self.set(split, choose(split + 1, end));
                    }
                }
            }
        }
    }

    /// `a | b | c` as a chain of splits, the leftmost preferred.
    fn alternatives(&mut self, options: &[Pattern]) {
        let mut jumps = Vec::new();
        for (i, option) in options.iter().enumerate() {
            let last = i + 1 == options.len();
            let split = (!last).then(|| self.push(Op::Split(0, 0)));
            self.emit(option);
            if let Some(split) = split {
                jumps.push(self.push(Op::Jump(0)));
                let next = self.here();
                self.set(split, Op::Split(split + 1, next));
            }
        }
        let end = self.here();
        for at in jumps {
            self.set(at, Op::Jump(end));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn explain(text: &str) -> String {
        let (pattern, names) = Pattern::parse(text).unwrap();
        Program::compile(&pattern).explain(&names)
    }

    #[test]
    fn explains_states_and_loops() {
        assert_eq!(
            explain("A B+ C"),
            "start -> s0:A\ns0:A -> s1:B\ns1:B -> s4:B | s7:C\ns4:B -> s4:B (loop) | s7:C\ns7:C -> accept\n"
        );
        assert_eq!(
            explain("A B*? | C"),
            "start -> s1:A | s8:C\ns1:A -> accept | s4:B\ns4:B -> accept | s4:B (loop)\ns8:C -> accept\n"
        );
        let (pattern, names) = Pattern::parse("A {- B -} $").unwrap();
        let program = Program::compile(&pattern);
        assert_eq!(
            program.explain(&names),
            "start -> s0:A\ns0:A -> s1:{-B-}\ns1:{-B-} -> accept $\n"
        );
        assert!(
            program
                .dot(&names)
                .contains("s1 -> accept [label=\"1 $\"];")
        );
    }

    #[test]
    fn the_fewest_rows_a_match_takes() {
        let min_rows = |text: &str| Program::compile(&Pattern::parse(text).unwrap().0).min_rows();
        assert_eq!(min_rows("A B+ C"), 3);
        assert_eq!(min_rows("A+ B"), 2);
        assert_eq!(min_rows("A B*? | C"), 1);
        assert_eq!(min_rows("C | A B*?"), 1);
        assert_eq!(min_rows("A*"), 0);
        assert_eq!(min_rows("^ A {- B -} $"), 2);
        assert_eq!(min_rows("(A B | C){2,3} D?"), 2);
        assert_eq!(min_rows("A{3} B"), 4);
        assert_eq!(min_rows("PERMUTE(A, B, C)"), 3);
    }
}
