//! Fuzzing through the built binary, on stable Rust: generated valid queries, mutated
//! statements and mutated input data over a fixed schema. Any panic, abort, signal, hang or
//! runaway memory fails the test and saves a reproducer (query.sql, data, verdict) under
//! `<cargo target tmp>/fuzz-failures/`; each one found becomes a case of `tests/fuzz/`.
//!
//! * `fuzz_round` (in CI): a fixed seed and a fixed number of cases, about a minute.
//! * `cargo test -p rill-shell --test fuzz -- --ignored fuzz_soak --nocapture`: until
//!   `RILL_FUZZ_SECONDS` (default 3600) pass, from `RILL_FUZZ_SEED` (default: the time),
//!   with the binary at `RILL_FUZZ_BIN` if set.
//! * `fuzz_regressions`: every saved crash in `tests/fuzz/` runs cleanly.
//! * `fuzz_differential`: generated queries of the Flink-compatible subset give the Flink
//!   oracle's rows (skipped, saying so, when the oracle is not installed).

mod generate;
mod mutate;
mod oracle;
mod runner;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fastrand::Rng;
use runner::{Case, Limits, Verdict};

/// Rows of generated data per case.
const ROWS: usize = 150;

/// The case number `index` of the round seeded `seed`: a valid query, a mutated statement,
/// or a valid query over mutated data, in turn.
fn make_case(seed: u64, index: u64) -> Case {
    let mut rng = Rng::with_seed(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index);
    let (csv, json) = generate::data(&mut rng, ROWS, false);
    let (mut csv, mut json) = (csv.into_bytes(), json.into_bytes());
    let mut ddl = generate::ddl("${SQL_DIR}");
    let mut query = generate::query(&mut rng);
    let kind = match index % 3 {
        0 => "valid",
        1 => {
            query = mutate::statement(&mut rng, &query);
            "statement"
        }
        _ => {
            csv = mutate::data(&mut rng, &csv);
            json = mutate::data(&mut rng, &json);
            if rng.bool() {
                ddl = ddl.replace(
                    "'format' = 'csv'",
                    "'format' = 'csv', 'csv.ignore-parse-errors' = 'true'",
                );
                ddl = ddl.replace(
                    "'format' = 'json'",
                    "'format' = 'json', 'json.ignore-parse-errors' = 'true'",
                );
            }
            "data"
        }
    };
    let batch_size = ["8192", "1", "7"][rng.usize(..3)];
    let mut args = vec!["--batch-size".to_string(), batch_size.to_string()];
    if rng.bool() {
        args.push("--sort".into());
    }
    Case {
        name: format!("{kind}-{seed:x}-{index}"),
        sql: format!("{ddl}{query};\n"),
        files: vec![("t.csv".into(), csv), ("u.json".into(), json)],
        args,
    }
}

/// What a round saw.
#[derive(Default)]
struct Report {
    cases: u64,
    succeeded: u64,
    errors: BTreeMap<String, u64>,
    failures: Vec<(PathBuf, Verdict)>,
}

impl Report {
    fn summary(&self, elapsed: Duration) -> String {
        format!(
            "{} cases in {:.0} s: {} with rows, {} clean errors ({} distinct messages), {} failures",
            self.cases,
            elapsed.as_secs_f64(),
            self.succeeded,
            self.errors.values().sum::<u64>(),
            self.errors.len(),
            self.failures.len()
        )
    }

    fn assert_clean(&self) {
        let list: Vec<String> = self
            .failures
            .iter()
            .map(|(path, verdict)| {
                let what = format!("{verdict:?}");
                format!(
                    "  {} — {}",
                    path.display(),
                    what.lines().next().unwrap_or("")
                )
            })
            .collect();
        assert!(
            self.failures.is_empty(),
            "fuzzing found {} failures, reproducers saved:\n{}",
            self.failures.len(),
            list.join("\n")
        );
    }
}

fn failures_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures")
}

/// Runs cases `0..count` (or until `budget` passes) of the round `seed` on two threads.
fn fuzz(seed: u64, count: Option<u64>, budget: Duration) -> Report {
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let report = Mutex::new(Report::default());
    let work = tempfile::tempdir().expect("work folder");
    let limits = Limits::default();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if count.is_some_and(|n| index >= n) || started.elapsed() > budget {
                        break;
                    }
                    let case = make_case(seed, index);
                    let dir = work.path().join(&case.name);
                    let verdict = runner::run(&case, &dir, limits);
                    let mut report = report.lock().expect("report");
                    report.cases += 1;
                    match &verdict {
                        Verdict::Fine(None) => report.succeeded += 1,
                        Verdict::Fine(Some(error)) => {
                            *report.errors.entry(error.clone()).or_default() += 1
                        }
                        _ => {
                            let saved =
                                runner::save_reproducer(&case, &dir, &verdict, &failures_dir());
                            report.failures.push((saved, verdict));
                        }
                    }
                    drop(report);
                    let _ = std::fs::remove_dir_all(&dir);
                }
            });
        }
    });
    report.into_inner().expect("report")
}

#[test]
fn fuzz_round() {
    let started = Instant::now();
    let report = fuzz(0x5EED, Some(2000), Duration::MAX);
    println!("fuzz_round: {}", report.summary(started.elapsed()));
    report.assert_clean();
    // The round must exercise both sides: queries that run and statements that are refused.
    assert!(
        report.succeeded > 50,
        "{}",
        report.summary(started.elapsed())
    );
    assert!(
        report.errors.len() > 10,
        "{}",
        report.summary(started.elapsed())
    );
}

#[test]
#[ignore = "a long soak: RILL_FUZZ_SECONDS (default 3600)"]
fn fuzz_soak() {
    let seconds = std::env::var("RILL_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3600);
    let seed = std::env::var("RILL_FUZZ_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs())
        });
    let started = Instant::now();
    let report = fuzz(seed, None, Duration::from_secs(seconds));
    println!(
        "fuzz_soak (seed {seed:x}): {}",
        report.summary(started.elapsed())
    );
    let mut errors: Vec<(&String, &u64)> = report.errors.iter().collect();
    errors.sort_by(|a, b| b.1.cmp(a.1));
    for (message, n) in errors.iter().take(40) {
        println!("  {n:6}  {message}");
    }
    report.assert_clean();
}

/// The saved crashes in `tests/fuzz/`: each a folder with `query.sql` (and its data), and,
/// where the Flink oracle answered, its `expected.csv`.
#[test]
fn fuzz_regressions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/fuzz exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("query.sql").is_file())
        .collect();
    cases.sort();
    assert!(
        !cases.is_empty(),
        "no regression cases in {}",
        root.display()
    );
    let work = tempfile::tempdir().expect("work folder");
    for dir in cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if !["query.sql", "args", "expected.csv"].contains(&file.as_str()) {
                files.push((file, std::fs::read(entry.path()).unwrap()));
            }
        }
        let args = std::fs::read_to_string(dir.join("args")).unwrap_or_default();
        let case = Case {
            name: name.clone(),
            sql: std::fs::read_to_string(dir.join("query.sql")).unwrap(),
            files,
            args: args.split_whitespace().map(String::from).collect(),
        };
        let out = work.path().join(&name);
        let verdict = runner::run(&case, &out, Limits::default());
        assert!(!verdict.is_failure(), "{name}: {verdict:?}");
        if let Ok(expected) = std::fs::read_to_string(dir.join("expected.csv")) {
            let actual = std::fs::read_to_string(out.join("out.csv")).unwrap_or_default();
            assert_eq!(verdict, Verdict::Fine(None), "{name}");
            assert_eq!(actual, expected, "{name}: rill's rows are not the oracle's");
        }
    }
}

#[test]
fn fuzz_differential() {
    let Some(python) = oracle::python() else {
        println!(
            "fuzz_differential skipped: the Flink oracle is not installed \
             (../shared/flink-oracle/setup.sh, or RILL_FLINK_PYTHON)"
        );
        return;
    };
    let count = std::env::var("RILL_FUZZ_DIFFERENTIAL")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let report = oracle::compare(&python, 0xD1FF, count);
    println!("fuzz_differential: {}", report.summary());
    assert!(report.disagreements.is_empty(), "{}", report.details());
}
