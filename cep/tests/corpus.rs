//! The pattern corpus (`corpus.txt`) run through the reference matcher, and a condition that
//! looks at the rows matched before it.

use rill_cep::{AfterMatch, Match, Pattern, find_matches};

/// Variables of `names` as letters, upper case, lower case when excluded.
fn show(m: &Match, names: &[String]) -> String {
    let vars: String = m
        .rows
        .iter()
        .map(|r| {
            let name = &names[r.var];
            if r.excluded {
                name.to_lowercase()
            } else {
                name.clone()
            }
        })
        .collect();
    format!("{}-{}:{vars}", m.start, m.end)
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
        let labels: Vec<&str> = rows.split_whitespace().collect();
        let var = |name: &str| names.iter().position(|n| n == name).unwrap();
        let after = match after.split_once(':') {
            None if after == "past" => AfterMatch::PastLastRow,
            None if after == "next" => AfterMatch::ToNextRow,
            Some(("first", v)) => AfterMatch::ToFirst(var(v)),
            Some(("last", v)) => AfterMatch::ToLast(var(v)),
            _ => panic!("corpus line {}: unknown after-match {after}", number + 1),
        };
        let holds = |v: usize, row: usize, _: &[rill_cep::backtrack::Row]| {
            labels[row].contains(names[v].as_str())
        };
        let got = match find_matches(&pattern, labels.len(), &holds, after) {
            Ok(matches) if matches.is_empty() => "none".to_string(),
            Ok(matches) => matches
                .iter()
                .map(|m| show(m, &names))
                .collect::<Vec<_>>()
                .join(" "),
            Err(_) => "error".to_string(),
        };
        assert_eq!(got, expected, "corpus line {}: {line}", number + 1);
    }
}

#[test]
fn conditions_see_the_rows_matched_before() {
    // A rising run: each B above the previous row of the match.
    let (pattern, _) = Pattern::parse("A B+").unwrap();
    let prices = [1, 2, 3, 2, 5];
    let rising = |v: usize, row: usize, before: &[rill_cep::backtrack::Row]| {
        v == 0 || before.last().is_some_and(|r| prices[row] > prices[r.row])
    };
    let matches = find_matches(&pattern, prices.len(), &rising, AfterMatch::PastLastRow).unwrap();
    let spans: Vec<(usize, usize)> = matches.iter().map(|m| (m.start, m.end)).collect();
    assert_eq!(spans, [(0, 3), (3, 5)]);
}
