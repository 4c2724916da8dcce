//! Conformance: every case directory under `tests/conformance` holds `query.sql`, its data and
//! `expected.csv` produced by the Flink oracle (`tests/conformance/regenerate.sh`). Each case
//! runs through the built `rill` binary with `--sort --header`, at the default batch size and
//! at 1 and 7, and must match the oracle byte for byte (floats within a relative 1e-9, as sums
//! may differ in the last bits).

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Runs one case; the output text or a description of the failure.
fn run_case(case: &Path, batch_size: Option<usize>) -> Result<String, String> {
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rill"));
    cmd.arg("-f")
        .arg(case.join("query.sql"))
        .args(["--sort", "--header", "-o"])
        .arg(out.path());
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

/// Whether two CSV fields are equal: as text, or as floats within a relative 1e-9.
fn same_field(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) if a.contains(['.', 'e']) || b.contains(['.', 'e']) => {
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
        }
        _ => false,
    }
}

/// The first difference between actual and expected output, if any.
fn difference(actual: &str, expected: &str) -> Option<String> {
    let (a, e): (Vec<&str>, Vec<&str>) = (actual.lines().collect(), expected.lines().collect());
    for (i, (x, y)) in a.iter().zip(&e).enumerate() {
        let same = x == y || {
            let (xs, ys): (Vec<&str>, Vec<&str>) = (x.split(',').collect(), y.split(',').collect());
            xs.len() == ys.len() && xs.iter().zip(&ys).all(|(p, q)| same_field(p, q))
        };
        if !same {
            return Some(format!("line {}:\n  rill:   {x}\n  oracle: {y}", i + 1));
        }
    }
    (a.len() != e.len()).then(|| format!("rill wrote {} lines, the oracle {}", a.len(), e.len()))
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
        for batch_size in [None, Some(1), Some(7)] {
            let name = format!(
                "{} (batch size {})",
                case.file_name().unwrap().to_string_lossy(),
                batch_size.map_or("default".into(), |n| n.to_string())
            );
            match run_case(case, batch_size) {
                Ok(actual) => {
                    if let Some(d) = difference(&actual, &expected) {
                        failures.push(format!("{name}: {d}"));
                    }
                }
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
    assert!(same_field("0.30000000000000004", "0.3"));
    assert!(!same_field("0.31", "0.3"));
    assert!(!same_field("10", "11"));
    assert!(!same_field("abc", "abd"));
    assert!(difference("a\nb\n", "a\n").is_some());
}
