//! The pattern corpus (`corpus.txt`) run through the reference matcher and the streaming
//! matcher (with threads merged by position, and not), and random patterns on which the two
//! must agree.

use rill_cep::backtrack::Row;
use rill_cep::{
    AfterMatch, Conditions, EXCLUDED, Found, Matcher, Outcome, Partition, Pattern, Scratch,
    SkipError, find_matches, find_matches_within,
};

/// A match as `start-end:VARS`, variables as their names, lower case when excluded.
fn show(start: usize, labels: impl Iterator<Item = (usize, bool)>, names: &[String]) -> String {
    let mut end = start;
    let mut vars = String::new();
    for (var, excluded) in labels {
        end += 1;
        let name = &names[var];
        vars.push_str(&if excluded {
            name.to_lowercase()
        } else {
            name.clone()
        });
    }
    format!("{start}-{end}:{vars}")
}

fn listing(matches: Result<Vec<String>, SkipError>) -> String {
    match matches {
        Ok(m) if m.is_empty() => "none".to_string(),
        Ok(m) => m.join(" "),
        Err(_) => "error".to_string(),
    }
}

/// Rows as the set of variables true on each.
struct Symbols<'a>(&'a [Vec<usize>]);

impl Conditions for Symbols<'_> {
    fn holds(&mut self, var: u16, row: u64, _: u64, _: &[u16]) -> bool {
        self.0[row as usize].contains(&usize::from(var))
    }
}

fn reference(
    pattern: &Pattern,
    rows: &[Vec<usize>],
    after: AfterMatch,
    names: &[String],
) -> String {
    let holds = |v: usize, row: usize, _: &[Row]| rows[row].contains(&v);
    listing(find_matches(pattern, rows.len(), &holds, after).map(|ms| {
        ms.iter()
            .map(|m| show(m.start, m.rows.iter().map(|r| (r.var, r.excluded)), names))
            .collect()
    }))
}

/// Runs `matcher` over one partition of `rows` at `times`, given `chunk` rows at a time
/// (one: through `push`; more: the attempts take them in steps), the watermark advanced to
/// just before each next chunk when asked.
fn run_matcher(
    matcher: &Matcher,
    rows: &[Vec<usize>],
    times: &[i64],
    chunk: usize,
    watermarks: bool,
) -> Result<Vec<Outcome>, SkipError> {
    let (mut part, mut scratch, mut out) = (Partition::default(), Scratch::default(), Vec::new());
    let mut given = 0;
    while given < rows.len() {
        let end = (given + chunk).min(rows.len());
        if chunk == 1 {
            matcher.push(
                &mut part,
                times[given],
                &mut Symbols(rows),
                &mut scratch,
                &mut out,
            )?;
        } else {
            let chunk = (given..end).map(|row| {
                let first = matcher.first_answers(row as u64, &mut Symbols(rows));
                (times[row], first)
            });
            matcher.extend(&mut part, chunk.collect::<Vec<_>>(), &mut scratch);
            let mut answers = Vec::new();
            loop {
                answers.clear();
                let asked = matcher.ask(&mut part, |var, row, start, labels| {
                    answers.push(Symbols(rows).holds(var, row, start, labels.labels()))
                });
                if !asked {
                    break;
                }
                let more = matcher.take(&mut part, &answers, &mut scratch);
                let waiting = matcher.ask(&mut part, |_, _, _, _| {});
                assert!(more || !waiting, "take says whether rows are left to take");
                if !more {
                    break;
                }
            }
            matcher.settle(&mut part, &mut scratch, &mut out)?;
        }
        if watermarks && let Some(next) = times.get(end) {
            matcher.advance(&mut part, next - 1, &mut scratch, &mut out)?;
        }
        given = end;
    }
    matcher.finish(&mut part, &mut scratch, &mut out)?;
    Ok(out)
}

fn streaming(
    pattern: &Pattern,
    rows: &[Vec<usize>],
    after: AfterMatch,
    names: &[String],
    (history_free, chunk): (bool, usize),
) -> String {
    let matcher = Matcher::new(pattern, after, None, history_free, false);
    let times: Vec<i64> = (0..rows.len() as i64).collect();
    let out = run_matcher(&matcher, rows, &times, chunk, false);
    listing(out.map(|out| {
        out.iter()
            .filter_map(|o| match o {
                Outcome::Match { start, labels, .. } => Some(show(
                    *start as usize,
                    labels
                        .iter()
                        .map(|l| (usize::from(l & !EXCLUDED), l & EXCLUDED != 0)),
                    names,
                )),
                Outcome::Unmatched(_) | Outcome::TimedOut { .. } => None,
            })
            .collect()
    }))
}

#[test]
fn corpus() {
    let corpus = include_str!("corpus.txt");
    for (number, line) in corpus.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(';').map(str::trim).collect();
        let [pattern_text, rows, after, expected] = fields[..] else {
            panic!("corpus line {}: four fields expected", number + 1);
        };
        let (pattern, names) = Pattern::parse(pattern_text).unwrap();
        let rows: Vec<Vec<usize>> = rows
            .split_whitespace()
            .map(|label| {
                (0..names.len())
                    .filter(|v| label.contains(names[*v].as_str()))
                    .collect()
            })
            .collect();
        let var = |name: &str| names.iter().position(|n| n == name).unwrap();
        let after = match after.split_once(':') {
            None if after == "past" => AfterMatch::PastLastRow,
            None if after == "next" => AfterMatch::ToNextRow,
            Some(("first", v)) => AfterMatch::ToFirst(1 << var(v)),
            Some(("last", v)) => AfterMatch::ToLast(1 << var(v)),
            _ => panic!("corpus line {}: unknown after-match {after}", number + 1),
        };
        let context = format!("corpus line {}: {line}", number + 1);
        assert_eq!(
            reference(&pattern, &rows, after, &names),
            expected,
            "reference, {context}"
        );
        for history_free in [true, false] {
            for chunk in [1, 4] {
                assert_eq!(
                    streaming(&pattern, &rows, after, &names, (history_free, chunk)),
                    expected,
                    "streaming (merging by position: {history_free}, {chunk} rows at a time), \
                     {context}"
                );
            }
        }
    }
}

#[test]
fn conditions_see_the_rows_matched_before() {
    // A rising run: each B above the previous row of the match.
    let (pattern, _) = Pattern::parse("A B+").unwrap();
    let prices = [1, 2, 3, 2, 5];
    let rising = |v: usize, row: usize, before: &[Row]| {
        v == 0 || before.last().is_some_and(|r| prices[row] > prices[r.row])
    };
    let matches = find_matches(&pattern, prices.len(), &rising, AfterMatch::PastLastRow).unwrap();
    let spans: Vec<(usize, usize)> = matches.iter().map(|m| (m.start, m.end)).collect();
    assert_eq!(spans, [(0, 3), (3, 5)]);

    // The same through the streaming matcher, which hands over the labels so far.
    struct Rising<'a>(&'a [i32]);
    impl Conditions for Rising<'_> {
        fn holds(&mut self, var: u16, row: u64, _: u64, labels: &[u16]) -> bool {
            var == 0 || (!labels.is_empty() && self.0[row as usize] > self.0[row as usize - 1])
        }
    }
    let matcher = Matcher::new(&pattern, AfterMatch::PastLastRow, None, false, false);
    let (mut part, mut scratch, mut out) = (Partition::default(), Scratch::default(), Vec::new());
    for i in 0..prices.len() {
        matcher
            .push(
                &mut part,
                i as i64,
                &mut Rising(&prices),
                &mut scratch,
                &mut out,
            )
            .unwrap();
    }
    // The first match is certain as soon as row 3 breaks the run; the second needs the end.
    assert_eq!(out.len(), 1);
    matcher.finish(&mut part, &mut scratch, &mut out).unwrap();
    let starts: Vec<u64> = out
        .iter()
        .map(|o| match o {
            Outcome::Match { start, .. } => *start,
            Outcome::Unmatched(_) | Outcome::TimedOut { .. } => unreachable!(),
        })
        .collect();
    assert_eq!(starts, [0, 3]);
}

/// A small deterministic generator (xorshift), so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pattern(&mut self, depth: u32) -> String {
        let leaf = ["A", "B", "C"][self.next(3) as usize].to_string();
        if depth == 0 {
            return leaf;
        }
        let inner = |r: &mut Self| r.pattern(depth - 1);
        let base = match self.next(7) {
            0 | 1 => leaf,
            2 => format!("{} {}", inner(self), inner(self)),
            3 => format!("({} | {})", inner(self), inner(self)),
            4 => format!("({})", inner(self)),
            5 => format!("PERMUTE({}, {})", inner(self), inner(self)),
            _ => format!("{{- {} -}}", inner(self)),
        };
        let quantifier =
            ["", "", "*", "+", "?", "{2}", "{1,3}", "{,2}", "{2,}"][self.next(9) as usize];
        let reluctant = if !quantifier.is_empty() && self.next(3) == 0 {
            "?"
        } else {
            ""
        };
        if quantifier.is_empty() {
            base
        } else {
            format!("({base}){quantifier}{reluctant}")
        }
    }
}

/// Whether the pattern can match no rows.
fn nullable(p: &Pattern) -> bool {
    match p {
        Pattern::Var(_) => false,
        Pattern::Empty | Pattern::Start | Pattern::End => true,
        Pattern::Concat(ps) | Pattern::Permute(ps) => ps.iter().all(nullable),
        Pattern::Alt(ps) => ps.iter().any(nullable),
        Pattern::Repeat { inner, min, .. } => *min == 0 || nullable(inner),
        Pattern::Exclude(inner) => nullable(inner),
    }
}

/// Whether an unbounded quantifier repeats something that can match no rows. There the
/// matchers differ: the reference fails an empty iteration and backtracks into the ones
/// before it, the streaming matcher drops the second visit of a position in one step.
fn loops_on_empty(p: &Pattern) -> bool {
    match p {
        Pattern::Var(_) | Pattern::Empty | Pattern::Start | Pattern::End => false,
        Pattern::Concat(ps) | Pattern::Permute(ps) | Pattern::Alt(ps) => {
            ps.iter().any(loops_on_empty)
        }
        Pattern::Repeat { inner, max, .. } => {
            (max.is_none() && nullable(inner)) || loops_on_empty(inner)
        }
        Pattern::Exclude(inner) => loops_on_empty(inner),
    }
}

#[test]
fn streaming_agrees_with_the_reference_on_random_patterns() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut checked = 0;
    for case in 0..6000 {
        let mut text = rng.pattern(3);
        if rng.next(6) == 0 {
            text = format!("^ {text}");
        }
        if rng.next(6) == 0 {
            text = format!("{text} $");
        }
        let (pattern, names) = Pattern::parse(&text).unwrap();
        if loops_on_empty(&pattern) {
            continue;
        }
        let rows: Vec<Vec<usize>> = (0..rng.next(9))
            .map(|_| (0..names.len()).filter(|_| rng.next(2) == 0).collect())
            .collect();
        let after = match rng.next(4) {
            0 => AfterMatch::PastLastRow,
            1 => AfterMatch::ToNextRow,
            // One variable or (a subset) several.
            2 => AfterMatch::ToFirst(1 + rng.next((1 << names.len()) - 1)),
            _ => AfterMatch::ToLast(1 + rng.next((1 << names.len()) - 1)),
        };
        let expected = reference(&pattern, &rows, after, &names);
        for history_free in [true, false] {
            for chunk in [1, 3, 9] {
                assert_eq!(
                    streaming(&pattern, &rows, after, &names, (history_free, chunk)),
                    expected,
                    "case {case}: {text} on {rows:?}, {after:?}, merging by position: \
                     {history_free}, rows given {chunk} at a time"
                );
            }
        }
        checked += 1;
    }
    assert!(checked > 2000, "only {checked} patterns checked");
}

/// Matches and timed-out partial matches (`~start-end:VARS`) of the reference with `WITHIN`.
fn reference_within(
    pattern: &Pattern,
    rows: &[Vec<usize>],
    times: &[i64],
    within: i64,
    after: AfterMatch,
    names: &[String],
) -> String {
    let holds = |v: usize, row: usize, _: &[Row]| rows[row].contains(&v);
    let found = find_matches_within(pattern, times, within, &holds, after);
    listing(found.map(|found| {
        found
            .iter()
            .map(|f| {
                let (prefix, m) = match f {
                    Found::Match(m) => ("", m),
                    Found::TimedOut(m) => ("~", m),
                };
                let rows = m.rows.iter().map(|r| (r.var, r.excluded));
                format!("{prefix}{}", show(m.start, rows, names))
            })
            .collect()
    }))
}

/// The same from the streaming matcher, with timeouts reported; `watermarks` also advances
/// time to just before each next row.
fn streaming_within(
    pattern: &Pattern,
    rows: &[Vec<usize>],
    (times, within): (&[i64], i64),
    after: AfterMatch,
    names: &[String],
    (history_free, chunk, watermarks): (bool, usize, bool),
) -> String {
    let matcher = Matcher::new(pattern, after, Some(within), history_free, false).with_timeouts();
    let out = run_matcher(&matcher, rows, times, chunk, watermarks);
    let label = |l: &u16| (usize::from(l & !EXCLUDED), l & EXCLUDED != 0);
    listing(out.map(|out| {
        out.iter()
            .filter_map(|o| match o {
                Outcome::Match { start, labels, .. } => {
                    Some(show(*start as usize, labels.iter().map(label), names))
                }
                Outcome::TimedOut { start, labels } => Some(format!(
                    "~{}",
                    show(*start as usize, labels.iter().map(label), names)
                )),
                Outcome::Unmatched(_) => None,
            })
            .collect()
    }))
}

#[test]
fn timeouts_agree_with_the_reference_on_random_patterns() {
    let mut rng = Rng(0x51_7CC1_B727_220A);
    let mut timed_out = 0;
    for case in 0..4000 {
        let mut text = rng.pattern(3);
        if rng.next(6) == 0 {
            text = format!("{text} $");
        }
        let (pattern, names) = Pattern::parse(&text).unwrap();
        if loops_on_empty(&pattern) {
            continue;
        }
        let n = rng.next(9) as usize;
        let rows: Vec<Vec<usize>> = (0..n)
            .map(|_| (0..names.len()).filter(|_| rng.next(2) == 0).collect())
            .collect();
        let mut times = Vec::with_capacity(n);
        let mut t = 0;
        for _ in 0..n {
            t += rng.next(3) as i64;
            times.push(t);
        }
        let within = 1 + rng.next(6) as i64;
        let after = match rng.next(3) {
            0 => AfterMatch::PastLastRow,
            1 => AfterMatch::ToNextRow,
            _ => AfterMatch::ToLast(1 + rng.next((1 << names.len()) - 1)),
        };
        let expected = reference_within(&pattern, &rows, &times, within, after, &names);
        timed_out += expected.matches('~').count();
        for history_free in [true, false] {
            for (chunk, watermarks) in [(1, false), (1, true), (3, true), (9, false)] {
                assert_eq!(
                    streaming_within(
                        &pattern,
                        &rows,
                        (&times, within),
                        after,
                        &names,
                        (history_free, chunk, watermarks)
                    ),
                    expected,
                    "case {case}: {text} on {rows:?} at {times:?} within {within}, {after:?}, \
                     merging by position: {history_free}, rows given {chunk} at a time, \
                     watermarks: {watermarks}"
                );
            }
        }
    }
    assert!(timed_out > 500, "only {timed_out} timeouts checked");
}

#[test]
fn partition_state_round_trips() {
    let (pattern, _) = Pattern::parse("A B+ C").unwrap();
    let rows = vec![vec![0], vec![1], vec![1], vec![2]];
    let matcher = Matcher::new(&pattern, AfterMatch::PastLastRow, None, true, false);
    let (mut part, mut scratch, mut out) = (Partition::default(), Scratch::default(), Vec::new());
    for i in 0..3 {
        matcher
            .push(&mut part, i, &mut Symbols(&rows), &mut scratch, &mut out)
            .unwrap();
    }
    // Snapshot mid-match, restore, and finish the match from the copy.
    let saved = serde_json::to_string(&part).unwrap();
    let mut restored: Partition = serde_json::from_str(&saved).unwrap();
    assert_eq!(restored, part);
    matcher
        .push(
            &mut restored,
            3,
            &mut Symbols(&rows),
            &mut scratch,
            &mut out,
        )
        .unwrap();
    assert_eq!(
        out,
        [Outcome::Match {
            start: 0,
            labels: vec![0, 1, 1, 2],
            number: 1
        }]
    );
}

#[test]
fn a_cleared_partition_keeps_a_small_partitions_memory() {
    // Cleared states are reused for the next partitions (at the end of an input, hundreds of
    // thousands end one after another): one that held a long partition must not keep its
    // memory, or every state would come to hold the largest partition's.
    let (pattern, _) = Pattern::parse("A B").unwrap();
    let matcher = Matcher::new(&pattern, AfterMatch::PastLastRow, None, false, false);
    let (mut part, mut small, mut scratch) = (
        Partition::default(),
        Partition::default(),
        Scratch::default(),
    );
    for (part, rows) in [(&mut part, 20_000), (&mut small, 16)] {
        // Every row starts an attempt, whose A holds and whose B does not.
        matcher.extend(part, (0..rows).map(|time| (time, 1)), &mut scratch);
        loop {
            let mut answers = Vec::new();
            if !matcher.ask(part, |var, _, _, _| answers.push(var == 0)) {
                break;
            }
            matcher.take(part, &answers, &mut scratch);
        }
    }
    let (long, small) = (part.size(), small.size());
    assert!(
        long > 100 * small,
        "{long} bytes for 20,000 rows, {small} for 16"
    );
    part.clear();
    assert!(part.size() <= small, "{} bytes once cleared", part.size());
}

#[test]
fn within_drops_partial_matches_that_are_too_old() {
    let (pattern, _) = Pattern::parse("A B C").unwrap();
    let rows = vec![vec![0], vec![1], vec![2], vec![0], vec![1], vec![2]];
    let times = [0, 5, 10, 20, 25, 29];
    let matcher = Matcher::new(&pattern, AfterMatch::PastLastRow, Some(10), true, false);
    let (mut part, mut scratch, mut out) = (Partition::default(), Scratch::default(), Vec::new());
    for (i, t) in times.iter().enumerate() {
        matcher
            .push(&mut part, *t, &mut Symbols(&rows), &mut scratch, &mut out)
            .unwrap();
        if i == 4 {
            // A watermark at 29 leaves the attempt from 20 one more millisecond.
            matcher
                .advance(&mut part, 28, &mut scratch, &mut out)
                .unwrap();
            assert!(!Matcher::is_idle(&part));
        }
    }
    // 0..10 spans 10 (not less than WITHIN 10): no match; 20..29 fits.
    assert!(
        matches!(&out[..], [Outcome::Match { start: 3, .. }]),
        "{out:?}"
    );
    // A watermark past every start leaves nothing.
    matcher
        .advance(&mut part, 40, &mut scratch, &mut out)
        .unwrap();
    assert!(Matcher::is_idle(&part));
}

#[test]
fn long_partitions_agree_with_the_reference_across_label_compaction() {
    // Long-open matches: thousands of label nodes, so the label tree is compacted many times.
    // (Patterns where a row fits one way only: the reference is exponential otherwise.)
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for text in ["A B* D", "A B*? D", "A (B C)* D"] {
        let (pattern, names) = Pattern::parse(text).unwrap();
        let rows: Vec<Vec<usize>> = (0..2000)
            .map(|_| {
                let d_rare = rng.next(60) == 0;
                (0..names.len())
                    .filter(|v| names[*v] != "D" || d_rare)
                    .filter(|v| names[*v] == "D" || rng.next(3) != 0)
                    .collect()
            })
            .collect();
        for after in [AfterMatch::PastLastRow, AfterMatch::ToNextRow] {
            let expected = reference(&pattern, &rows, after, &names);
            assert!(expected.len() > 100, "{text}: few matches: {expected}");
            for history_free in [true, false] {
                for chunk in [1, 500] {
                    assert_eq!(
                        streaming(&pattern, &rows, after, &names, (history_free, chunk)),
                        expected,
                        "{text}, {after:?}, merging by position: {history_free}, {chunk} rows \
                         at a time"
                    );
                }
            }
        }
    }
}
