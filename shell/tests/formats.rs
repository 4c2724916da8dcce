//! Output formats: every case directory under `tests/formats` holds `query.sql`, an INSERT
//! into a filesystem table at `${OUT}`, and `flink.out`, the bytes Flink wrote for it
//! (`tests/formats/regenerate.sh`, with the Flink oracle). rill must write the same bytes: a
//! file another tool reads must not depend on which engine wrote it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/formats");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("tests/formats exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("query.sql").is_file())
        .collect();
    cases.sort();
    cases
}

/// The first line where `actual` and `expected` differ, both shown.
fn first_difference(actual: &str, expected: &str) -> Option<String> {
    let (mut a, mut e) = (actual.split_inclusive('\n'), expected.split_inclusive('\n'));
    for line in 1.. {
        match (a.next(), e.next()) {
            (None, None) => return None,
            (x, y) if x == y => continue,
            (x, y) => {
                return Some(format!("line {line}:\n  rill:  {x:?}\n  flink: {y:?}"));
            }
        }
    }
    unreachable!()
}

#[test]
fn rill_writes_the_bytes_flink_writes() {
    let cases = cases();
    assert!(
        cases.len() >= 2,
        "expected the format cases, found {cases:?}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let expected = std::fs::read_to_string(case.join("flink.out"))
            .unwrap_or_else(|_| panic!("{} has no flink.out", case.display()));
        for batch_size in ["8192", "1"] {
            let out = dir.path().join(format!("{name}-{batch_size}"));
            let run = Command::new(env!("CARGO_BIN_EXE_rill"))
                .arg("-f")
                .arg(case.join("query.sql"))
                .arg("-D")
                .arg(format!("OUT={}", out.display()))
                .args(["--batch-size", batch_size])
                .output()
                .expect("rill runs");
            if !run.status.success() {
                failures.push(format!(
                    "{name} (batch size {batch_size}): rill failed:\n{}",
                    String::from_utf8_lossy(&run.stderr)
                ));
                continue;
            }
            let actual = std::fs::read_to_string(&out).expect("rill wrote the file");
            if let Some(d) = first_difference(&actual, &expected) {
                failures.push(format!("{name} (batch size {batch_size}): {d}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
