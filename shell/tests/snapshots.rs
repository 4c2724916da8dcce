//! Snapshots of what people read: `rill --help`, the shell's `\?`, and error messages.
//! A change to any of them shows up as a diff here; after checking it, refresh the files
//! with `RILL_UPDATE_SNAPSHOTS=1 cargo test --workspace --test snapshots`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn rill(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(args)
        .env("HOME", std::env::temp_dir())
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rill runs");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("input");
    drop(input);
    child.wait_with_output().expect("rill ends")
}

fn snapshot(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name)
}

/// Compares `actual` with the snapshot `name` (or writes it when asked to).
fn check(name: &str, actual: &str) {
    let path = snapshot(name);
    if std::env::var_os("RILL_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).expect("snapshot written");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual, expected,
        "{name} changed; if that is intended, run with RILL_UPDATE_SNAPSHOTS=1"
    );
}

#[test]
fn command_line_help() {
    let o = rill(&["--help"], None);
    assert!(o.status.success());
    check("help.txt", &String::from_utf8_lossy(&o.stdout));
}

#[test]
fn shell_help() {
    let o = rill(&[], Some("\\?\n\\q\n"));
    assert!(o.status.success());
    check("shell-help.txt", &String::from_utf8_lossy(&o.stdout));
}

#[test]
fn error_messages() {
    let ticks =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/data/ticks_small.csv");
    let ddl = format!(
        "CREATE TABLE ticks (ts TIMESTAMP(3), symbol STRING, price DOUBLE, volume BIGINT,\n  \
         WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)\n  \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n",
        ticks.display()
    );
    let cases = [
        "SELECT symbol,\n  price\nFROM ticks\nWHERE volume >",
        "SELECT prize FROM ticks",
        "SELECT COUNT(*) FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(tz), INTERVAL '1' MINUTE))\n  GROUP BY window_start, window_end",
        "CREATE TABLE t (a INT) WITH ('connector' = 'jdbc')",
        "SELECT cnt, STRING_AGG(symbol, ',') FROM (SELECT symbol, COUNT(*) AS cnt FROM ticks GROUP BY symbol) GROUP BY cnt",
        "SELECT symbol, a.price FROM ticks a\n  FULL JOIN ticks b USING (symbol)",
        "SELECT * FROM ticks MATCH_RECOGNIZE (PARTITION BY symbol ORDER BY ts\n  MEASURES Z.price AS p\n  PATTERN (A B)\n  DEFINE B AS B.price > A.price)",
        "SELECT * FROM ticks MATCH_RECOGNIZE (ORDER BY ts\n  MEASURES LAST(A.price + B.price) AS p\n  PATTERN (A B)\n  DEFINE B AS B.price > A.price)",
        "SELECT * FROM ticks MATCH_RECOGNIZE (ORDER BY ts\n  MEASURES A.price AS p\n  PATTERN (A B{3,2})\n  DEFINE B AS B.price > A.price)",
        "SELECT * FROM ticks MATCH_RECOGNIZE (ORDER BY ts\n  MEASURES A.price AS p\n  PATTERN (A $ B)\n  DEFINE B AS B.price > A.price)",
        "SELECT * FROM ticks MATCH_RECOGNIZE (ORDER BY ts\n  MEASURES A.price AS p\n  PATTERN (A B{1000000})\n  DEFINE B AS B.price > A.price)",
        "SELECT * FROM ticks MATCH_RECOGNIZE (ORDER BY ts\n  MEASURES A.price AS p\n  PATTERN (A B)\n  DEFINE C AS C.price > A.price)",
        "SELECT * FROM ticks MATCH_RECOGNIZE (ORDER BY ts\n  MEASURES A.price AS p\n  PATTERN (A B)\n  DEFINE B AS B.price > MATCH_NUMBER())",
        "SELECT * FROM ticks MATCH_RECOGNIZE (ORDER BY price\n  MEASURES A.price AS p\n  PATTERN (A B)\n  DEFINE B AS B.price > A.price)",
    ];
    let mut all = String::new();
    for case in cases {
        let o = rill(&["-c", &format!("{ddl}{case}")], None);
        assert!(!o.status.success(), "{case} should fail");
        all.push_str(&format!(
            "$ rill -c \"<ticks DDL>{}\"\n",
            case.replace('\n', "\\n")
        ));
        // The DDL's path differs between machines.
        let text =
            String::from_utf8_lossy(&o.stderr).replace(&ticks.display().to_string(), "<ticks>");
        all.push_str(&text);
        all.push('\n');
    }
    check("errors.txt", &all);
}
