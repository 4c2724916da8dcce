//! Conformance: every case directory under `tests/conformance` holds `query.sql`, its data and
//! `expected.csv` produced by the Flink oracle (`tests/conformance/regenerate.sh`). Each case
//! runs through the built `rill` binary with `--sort --header`, at the default batch size with
//! one and two instances of each keyed operator, and at batch sizes 1 and 7 with two; it must
//! match the oracle byte for byte (floats within a relative 1e-9, as sums may differ in the
//! last bits). A case whose changelog Flink emits in a deterministic order (one source, no
//! operator that batches updates) also holds `changelog.csv`, the oracle's exact changelog
//! (at Flink's parallelism 1), which rill's unsorted output at parallelism 1 must equal at
//! every batch size. A case whose result order is part of its answer (`ORDER BY` a time
//! attribute) holds `ordered.csv`, the oracle's rows in the order Flink emits them, which
//! rill's unsorted output must equal. A case of what Flink refuses but rill runs (a lookup join against a
//! file) holds in `flink.sed` the sed script that makes of `query.sql` the Flink query that
//! must give the same answer, which the oracle runs instead.

#[path = "common/compare.rs"]
mod compare;

use std::path::{Path, PathBuf};
use std::process::Command;

use compare::difference;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance")
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/conformance exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("query.sql").is_file())
        .collect();
    cases.sort();
    cases
}

/// How a case's output is compared.
#[derive(Clone, Copy, PartialEq)]
enum Output {
    /// Materialised and sorted, with a header.
    Sorted,
    /// The changelog as emitted.
    Changelog,
    /// The rows as emitted, with a header.
    Ordered,
}

/// Runs one case, its output as `output` asks; the output text or a description of the
/// failure.
fn run_case(
    case: &Path,
    batch_size: Option<usize>,
    parallelism: usize,
    output: Output,
) -> Result<String, String> {
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rill"));
    cmd.arg("-f").arg(case.join("query.sql"));
    cmd.arg("--parallelism").arg(parallelism.to_string());
    match output {
        Output::Sorted => cmd.args(["--sort", "--header"]),
        Output::Ordered => cmd.arg("--header"),
        Output::Changelog => &mut cmd,
    };
    cmd.arg("-o").arg(out.path());
    if let Some(n) = batch_size {
        cmd.arg("--batch-size").arg(n.to_string());
    }
    let output = cmd.output().expect("rill runs");
    if !output.status.success() {
        return Err(format!(
            "rill failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(std::fs::read_to_string(out.path()).expect("output readable"))
}

#[test]
fn conformance_cases_match_the_flink_oracle() {
    let cases = cases();
    assert!(
        cases.len() >= 8,
        "expected the conformance cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let expected = std::fs::read_to_string(case.join("expected.csv"))
            .unwrap_or_else(|_| panic!("{} has no expected.csv", case.display()));
        let name = |batch_size: Option<usize>, parallelism: usize| {
            format!(
                "{} (batch size {}, parallelism {parallelism})",
                case.file_name().unwrap().to_string_lossy(),
                batch_size.map_or("default".into(), |n| n.to_string())
            )
        };
        for (batch_size, parallelism) in [(None, 1), (None, 2), (Some(1), 2), (Some(7), 2)] {
            let name = name(batch_size, parallelism);
            match run_case(case, batch_size, parallelism, Output::Sorted) {
                Ok(actual) => {
                    if let Some(d) = difference(&actual, &expected) {
                        failures.push(format!("{name}: {d}"));
                    }
                }
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
        if let Ok(ordered) = std::fs::read_to_string(case.join("ordered.csv")) {
            for (batch_size, parallelism) in [(None, 1), (Some(1), 2), (Some(7), 2)] {
                let name = name(batch_size, parallelism);
                match run_case(case, batch_size, parallelism, Output::Ordered) {
                    Ok(actual) if actual == ordered => {}
                    Ok(actual) => failures.push(format!(
                        "{name}: order differs:\n{actual}\nexpected:\n{ordered}"
                    )),
                    Err(e) => failures.push(format!("{name}: {e}")),
                }
            }
        }
        let Ok(changelog) = std::fs::read_to_string(case.join("changelog.csv")) else {
            continue;
        };
        for batch_size in [None, Some(1), Some(7)] {
            let name = name(batch_size, 1);
            match run_case(case, batch_size, 1, Output::Changelog) {
                Ok(actual) if actual == changelog => {}
                Ok(actual) => failures.push(format!(
                    "{name}: changelog differs:\n{actual}\nexpected:\n{changelog}"
                )),
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn field_comparison_tolerates_only_float_rounding() {
    assert!(difference("x,0.30000000000000004\n", "x,0.3\n").is_none());
    assert!(difference("x,0.31\n", "x,0.3\n").is_some());
    assert!(difference("10\n", "11\n").is_some());
    assert!(difference("abc\n", "abd\n").is_some());
    assert!(difference("a\nb\n", "a\n").is_some());
}
