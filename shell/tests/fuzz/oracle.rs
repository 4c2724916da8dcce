//! Differential checks against the Flink oracle (`../shared/flink-oracle`): generated queries
//! of the Flink-compatible subset run through rill and through Flink on the same data; where
//! both answer, the rows must agree. Where Flink errs, the query says nothing; where rill
//! refuses, that is a clear refusal, counted.

use std::path::{Path, PathBuf};
use std::process::Command;

use fastrand::Rng;

#[path = "../common/compare.rs"]
mod compare;

use crate::generate;

/// The oracle's Python, if installed: `RILL_FLINK_PYTHON`, or where `setup.sh` puts it.
pub fn python() -> Option<PathBuf> {
    let python = std::env::var_os("RILL_FLINK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/flink-venv/bin/python"));
    (python.is_file() && script().is_file()).then_some(python)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/flink-oracle/flink_sql.py")
}

/// What the comparison saw.
#[derive(Default)]
pub struct Comparison {
    pub agreed: usize,
    pub flink_erred: usize,
    pub rill_refused: Vec<String>,
    pub disagreements: Vec<String>,
}

impl Comparison {
    pub fn summary(&self) -> String {
        format!(
            "{} agreed, {} refused by rill, {} that Flink could not run, {} disagreements",
            self.agreed,
            self.rill_refused.len(),
            self.flink_erred,
            self.disagreements.len()
        )
    }

    pub fn details(&self) -> String {
        self.disagreements.join("\n\n")
    }
}

/// Runs `count` comparable queries of the round `seed` through both engines.
pub fn compare(python: &Path, seed: u64, count: u64) -> Comparison {
    let mut result = Comparison::default();
    let work = tempfile::tempdir().expect("work folder");
    for index in 0..count {
        let mut rng = Rng::with_seed(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let dir = work.path().join(index.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let (csv, json) = generate::data(&mut rng, 150, true);
        std::fs::write(dir.join("t.csv"), csv).unwrap();
        std::fs::write(dir.join("u.json"), json).unwrap();
        let query = generate::comparable_query(&mut rng);
        let sql = format!("{}{query};\n", generate::ddl("${SQL_DIR}"));
        std::fs::write(dir.join("query.sql"), &sql).unwrap();
        let flink = Command::new(python)
            .arg(script())
            .arg(dir.join("query.sql"))
            .args(["--sort", "--header", "-o"])
            .arg(dir.join("flink.csv"))
            .output()
            .expect("the oracle runs");
        let rill = Command::new(env!("CARGO_BIN_EXE_rill"))
            .arg("-f")
            .arg(dir.join("query.sql"))
            .args(["--sort", "--header", "-o"])
            .arg(dir.join("rill.csv"))
            .output()
            .expect("rill runs");
        if !flink.status.success() {
            result.flink_erred += 1;
            continue;
        }
        if !rill.status.success() {
            let error = String::from_utf8_lossy(&rill.stderr);
            result
                .rill_refused
                .push(format!("{query}\n  {}", error.lines().next().unwrap_or("")));
            continue;
        }
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        match compare::difference(&read("rill.csv"), &read("flink.csv")) {
            None => result.agreed += 1,
            Some(difference) => result.disagreements.push(format!(
                "query {index} of seed {seed:x}:\n{query}\n{difference}"
            )),
        }
    }
    result
}
