//! The `nexmark` connector as the benchmark uses it. Its events are the committed
//! `tests/conformance/data/nexmark.json` (the Flink oracle's input for the `nexmark_q*`
//! conformance cases), whatever the batch size; every Nexmark case gives Flink's answer over
//! the connector too, not only over the file; bad options and columns are refused at planning.

#[path = "common/compare.rs"]
mod compare;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("rill runs")
}

fn conformance() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance")
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "rill failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_connector_makes_the_events_the_conformance_cases_read() {
    let script = conformance().join("data/nexmark_events.sql");
    let expected = std::fs::read_to_string(conformance().join("data/nexmark.json")).unwrap();
    assert_eq!(expected.lines().count(), 5000);
    let dir = tempfile::tempdir().unwrap();
    for batch_size in ["1", "7", "8192"] {
        let out = dir.path().join(format!("events-{batch_size}.json"));
        ok(&rill(&[
            "-f",
            script.to_str().unwrap(),
            "-D",
            &format!("OUT={}", out.display()),
            "--batch-size",
            batch_size,
        ]));
        let actual = std::fs::read_to_string(&out).unwrap();
        assert!(
            actual == expected,
            "batch size {batch_size}: the events differ from data/nexmark.json, first at line {}",
            actual
                .lines()
                .zip(expected.lines())
                .position(|(a, e)| a != e)
                .map_or(actual.lines().count().min(expected.lines().count()), |i| i
                    + 1)
        );
    }
}

/// The `WITH` options of the events' table in `data/nexmark_events.sql` (the connector's).
fn connector_options() -> String {
    let script = std::fs::read_to_string(conformance().join("data/nexmark_events.sql")).unwrap();
    let start = script.find("'connector' = 'nexmark'").unwrap();
    let end = start + script[start..].find("\n);").unwrap();
    script[start..end].to_string()
}

#[test]
fn every_nexmark_case_gives_flinks_answer_over_the_connector() {
    // The events file of a case (q23 reads the first of them only), and its table's options.
    let file_options = |events: &str| {
        format!(
            "'connector' = 'filesystem',\n    'path' = '${{SQL_DIR}}/../data/{events}',\n    \
             'format' = 'json'"
        )
    };
    let mut cases: Vec<PathBuf> = std::fs::read_dir(conformance())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("nexmark_")
                && p.join("query.sql").is_file()
        })
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 10,
        "the Nexmark cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let query = std::fs::read_to_string(case.join("query.sql")).unwrap();
        let events = ["nexmark.json", "nexmark_q23.json"]
            .into_iter()
            .find(|events| query.contains(&file_options(events)))
            .unwrap_or_else(|| panic!("{} reads an events file", case.display()));
        let count = std::fs::read_to_string(conformance().join("data").join(events))
            .unwrap()
            .lines()
            .count();
        // Other files (q13's side input) where the case's script finds them.
        let query = (query.replace(&file_options(events), &connector_options()))
            .replace("${SQL_DIR}", &case.display().to_string());
        let expected = std::fs::read_to_string(case.join("expected.csv")).unwrap();
        let count = format!("EVENTS_NUM={count}");
        let actual = ok(&rill(&["-c", &query, "-D", &count, "--sort", "--header"]));
        if let Some(d) = compare::difference(&actual, &expected) {
            failures.push(format!("{}: {d}", case.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn options_and_columns_the_connector_lacks_are_refused() {
    let table = |columns: &str, options: &str| {
        format!(
            "CREATE TABLE n ({columns}) WITH ('connector' = 'nexmark', 'events.num' = '10'{options}); \
             SELECT * FROM n;"
        )
    };
    let out = rill(&["-c", &table("event_type INT", ", 'events.number' = '5'")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("unsupported option 'events.number' for connector 'nexmark'"),
        "{err}"
    );
    let out = rill(&["-c", &table("event_type INT, price BIGINT", "")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no column 'price'"), "{err}");
    let out = rill(&["-c", &table("bid ROW<price BIGINT, color STRING>", "")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no field 'color'"), "{err}");
    // Also where the statement does not read them (the generator then makes only what it
    // reads).
    let unread = |columns: &str| {
        let sql = table(columns, "").replace("SELECT *", "SELECT event_type");
        String::from_utf8_lossy(&rill(&["-c", &sql]).stderr).into_owned()
    };
    let err = unread("event_type INT, bid ROW<price BIGINT, color STRING>");
    assert!(err.contains("no field 'color'"), "{err}");
    let err = unread("event_type INT, price BIGINT");
    assert!(err.contains("no column 'price'"), "{err}");
    // A subset of the fields, in another order and type, is fine.
    let out = rill(&[
        "-c",
        &table(
            "bid ROW<price DOUBLE, auction BIGINT>, event_type INT",
            ", 'rill.base-time' = '2024-01-01 00:00:00'",
        ),
    ]);
    let rows = ok(&out);
    assert_eq!(rows.lines().count(), 10, "{rows}");
    assert!(rows.lines().any(|l| l.ends_with(",2")), "{rows}");
}

/// The benchmark's event table and views, then `query`.
fn bench_script(query: &str) -> String {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/nexmark");
    let mut parts: Vec<String> = ["ddl.sql", "views.sql"]
        .iter()
        .map(|f| std::fs::read_to_string(bench.join(f)).unwrap())
        .collect();
    parts.push(query.to_string());
    parts.join("\n")
}

#[test]
fn q12_counts_every_bid_once_in_windows_of_processing_time() {
    // The windows depend on the clock; what they add up to does not.
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/nexmark");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("q12.csv");
    let q12 = std::fs::read_to_string(bench.join("q12.sql"))
        .unwrap()
        .replace(
            "'connector' = 'blackhole'",
            &format!(
                "'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv'",
                out.display()
            ),
        );
    for (batch_size, parallelism) in [("8192", "1"), ("7", "2")] {
        let args = [
            "-D",
            "EVENTS_NUM=5000",
            "--batch-size",
            batch_size,
            "-p",
            parallelism,
        ];
        ok(&rill(&[&["-c", &bench_script(&q12)], &args[..]].concat()));
        let per_bidder = |csv: &str| {
            let mut counts = std::collections::BTreeMap::<String, u64>::new();
            for line in csv.lines() {
                let fields: Vec<&str> = line.split(',').collect();
                *counts.entry(fields[0].to_string()).or_default() +=
                    fields[1].parse::<u64>().unwrap();
            }
            counts
        };
        let windows = per_bidder(&std::fs::read_to_string(&out).unwrap());
        let all = ok(&rill(
            &[
                &[
                    "-c",
                    &bench_script("SELECT bidder, COUNT(*) FROM bid GROUP BY bidder;"),
                    "--sort",
                ],
                &args[..],
            ]
            .concat(),
        ));
        assert_eq!(windows, per_bidder(&all), "batch size {batch_size}");
        assert!(windows.values().sum::<u64>() > 1000);
    }
}

#[test]
fn q6_is_refused_as_flink_refuses_it() {
    // Flink: "Column 'rownum' not found in any table" (the rank is filtered where it is made).
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/nexmark");
    let q6 = std::fs::read_to_string(bench.join("q6.sql")).unwrap();
    let out = rill(&["-c", &bench_script(&q6), "-D", "EVENTS_NUM=10"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("rownum"), "{err}");
}

/// Runs the Nexmark case `q` with no memory for a regular join's rows (every full block of
/// them goes to the join's temporary file), logging at `info`, and `tmpdir` as `TMPDIR`.
fn run_spilling(q: &str, batch_size: &str, tmpdir: &Path) -> Output {
    let case = conformance().join(format!("nexmark_{q}"));
    let query = std::fs::read_to_string(case.join("query.sql"))
        .unwrap()
        .replace("${SQL_DIR}", &case.display().to_string());
    let script = format!("SET 'rill.state.join-memory' = '0';\n{query}");
    Command::new(env!("CARGO_BIN_EXE_rill"))
        .args([
            "-c",
            &script,
            "--sort",
            "--header",
            "--batch-size",
            batch_size,
        ])
        .env("RUST_LOG", "info")
        .env("TMPDIR", tmpdir)
        .output()
        .expect("rill runs")
}

#[test]
fn joins_that_write_their_rows_to_a_file_give_flinks_answer() {
    // The Nexmark cases whose regular joins hold bids.
    let tmpdir = tempfile::tempdir().unwrap();
    for q in ["q4", "q7", "q9", "q20", "q23"] {
        let case = conformance().join(format!("nexmark_{q}"));
        let expected = std::fs::read_to_string(case.join("expected.csv")).unwrap();
        for batch_size in ["7", "8192"] {
            let out = run_spilling(q, batch_size, tmpdir.path());
            let log = String::from_utf8_lossy(&out.stderr);
            assert!(
                log.contains("older rows go to a temporary file"),
                "{q}, batch size {batch_size}: no rows were written to a file:\n{log}"
            );
            if let Some(d) = compare::difference(&ok(&out), &expected) {
                panic!("{q}, batch size {batch_size}: {d}");
            }
        }
    }
}

#[test]
fn a_join_that_writes_its_rows_to_memory_says_so() {
    let shm = Path::new("/dev/shm");
    let on_tmpfs = std::process::Command::new("stat")
        .args(["-f", "-c", "%T", "/dev/shm"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "tmpfs");
    if !on_tmpfs {
        eprintln!("skipped: /dev/shm is not a tmpfs on this machine");
        return;
    }
    let tmpdir = tempfile::tempdir_in(shm).unwrap();
    let out = run_spilling("q20", "8192", tmpdir.path());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "{} is in memory (tmpfs): a join's rows written there still take memory",
            tmpdir.path().display()
        )),
        "{log}"
    );
}

#[test]
fn a_join_that_cannot_write_its_rows_to_a_file_stops_the_job_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("gone");
    let out = run_spilling("q20", "8192", &missing);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        log.contains(&format!(
            "{}: writing a join's rows to a temporary file",
            missing.display()
        )),
        "{log}"
    );
    assert!(out.stdout.is_empty(), "no rows of a failed job: {log}");
}
