//! What a newcomer's first `cargo run -p rill-shell` compiles: DataFusion's parts but not its
//! `datafusion` crate (execution engine, catalogs, file formats rill never runs), and no Kafka
//! client unless the `kafka` feature asks for it. Each would add minutes to the first build
//! (`bench/first_build.sh` times it).

use std::collections::BTreeSet;
use std::process::Command;

/// The crates `cargo run -p rill-shell` with `args` builds (normal dependencies only).
fn built_crates(args: &[&str]) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "rill-shell",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--offline", "--locked"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cargo tree failed: {stderr}");
    let stdout = String::from_utf8(output.stdout).expect("cargo tree prints UTF-8");
    (stdout.lines())
        .filter_map(|line| line.split(' ').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_default_build_has_datafusions_planner_but_not_its_engine_nor_a_kafka_client() {
    let crates = built_crates(&[]);
    for part in [
        "datafusion-sql",
        "datafusion-optimizer",
        "datafusion-physical-plan",
    ] {
        assert!(crates.contains(part), "{part} missing from {crates:?}");
    }
    for heavy in [
        "datafusion",
        "datafusion-catalog",
        "datafusion-datasource",
        "rdkafka",
        "rdkafka-sys",
    ] {
        assert!(
            !crates.contains(heavy),
            "the default build compiles {heavy}"
        );
    }
}

#[test]
fn the_kafka_feature_brings_the_client() {
    let crates = built_crates(&["--features", "kafka"]);
    assert!(crates.contains("rdkafka"), "no rdkafka in {crates:?}");
}
