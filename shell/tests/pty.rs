//! The shell driven through a pseudo-terminal, as a person types: multi-line statements,
//! Tab completion, Ctrl-C on a standing query, and the live table mode.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use rexpect::session::{PtySession, spawn_command};

/// The shell in a terminal, with its history in `home`; `None` (the test is skipped, and
/// says why) where the machine has no pseudo-terminals.
fn shell(home: &Path) -> Option<PtySession> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rill"));
    command.env("HOME", home).env("TERM", "xterm");
    let mut p = match spawn_command(command, Some(20_000)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("skipped: cannot open a pseudo-terminal here: {e}");
            return None;
        }
    };
    p.exp_string("rill> ").expect("a prompt");
    Some(p)
}

fn ticks() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/data/ticks_small.csv")
}

/// A file the shell follows as it grows (Flink's monitor interval), with one row.
fn growing(dir: &Path) -> (PathBuf, String) {
    let path = dir.join("events.csv");
    std::fs::write(&path, "a,1\n").unwrap();
    let ddl = format!(
        "CREATE TABLE e (k STRING, v INT) WITH ('connector' = 'filesystem', 'path' = '{}', \
         'format' = 'csv', 'source.monitor-interval' = '50 ms');",
        path.display()
    );
    (path, ddl)
}

/// A shell with the table `e` over a growing file (kept in the returned directory).
fn shell_with_growing_table() -> Option<(tempfile::TempDir, PathBuf, PtySession)> {
    let home = tempfile::tempdir().unwrap();
    let (path, ddl) = growing(home.path());
    let mut p = shell(home.path())?;
    p.send_line(&ddl).unwrap();
    p.exp_string("created").unwrap();
    Some((home, path, p))
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

#[test]
fn a_statement_spans_lines_and_runs_at_its_semicolon() {
    let home = tempfile::tempdir().unwrap();
    let Some(mut p) = shell(home.path()) else {
        return;
    };
    p.send_line("SELECT 41 +").unwrap();
    p.send_line("  1 AS answer;").unwrap();
    p.exp_string("| answer |").unwrap();
    p.exp_string("|     42 |").unwrap();
    p.exp_string("1 row in set").unwrap();
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn tab_completes_a_table_name() {
    let home = tempfile::tempdir().unwrap();
    let Some(mut p) = shell(home.path()) else {
        return;
    };
    p.send_line(&format!(
        "CREATE TABLE ticks (ts TIMESTAMP(3), symbol STRING, price DOUBLE, volume BIGINT) \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');",
        ticks().display()
    ))
    .unwrap();
    p.exp_string("Table 'ticks' created.").unwrap();
    p.send("DESCRIBE tic").unwrap();
    p.send("\t").unwrap();
    p.flush().unwrap();
    p.send_line(";").unwrap();
    // DESCRIBE ran on the completed name: its columns are listed.
    p.exp_string("| volume").unwrap();
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn ctrl_c_cancels_a_standing_query_and_the_shell_goes_on() {
    let Some((_home, _path, mut p)) = shell_with_growing_table() else {
        return;
    };
    p.send_line("SELECT k, v * 10 AS ten FROM e;").unwrap();
    p.exp_string("| a ").unwrap();
    p.send_control('c').unwrap();
    p.exp_string("query cancelled").unwrap();
    p.exp_string("rill> ").unwrap();
    p.send_line("SELECT 2 AS b;").unwrap();
    p.exp_string("1 row in set").unwrap();
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn the_table_mode_updates_rows_in_place() {
    let Some((_home, path, mut p)) = shell_with_growing_table() else {
        return;
    };
    p.send_line("SET 'sql-client.execution.result-mode' = 'table';")
        .unwrap();
    p.exp_string("has been set").unwrap();
    p.send_line("SELECT k, SUM(v) AS total FROM e GROUP BY k;")
        .unwrap();
    p.exp_string("|     1 |").unwrap();
    append(&path, "a,41\n");
    // The table is drawn again over itself: the cursor moves up, then the new total.
    p.exp_string("\x1b[").unwrap();
    p.exp_string("|    42 |").unwrap();
    p.send_control('c').unwrap();
    p.exp_string("query cancelled").unwrap();
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn a_background_job_is_listed_and_stopped() {
    let Some((_home, _path, mut p)) = shell_with_growing_table() else {
        return;
    };
    p.send_line("CREATE TABLE sink (k STRING, v INT) WITH ('connector' = 'blackhole');")
        .unwrap();
    p.exp_string("created").unwrap();
    p.send_line("INSERT INTO sink SELECT * FROM e;").unwrap();
    p.exp_string("Job 1 submitted").unwrap();
    p.exp_string("rill> ").unwrap();
    p.send_line("SHOW JOBS;").unwrap();
    p.exp_string("RUNNING").unwrap();
    p.send_line("STOP JOB '1';").unwrap();
    p.exp_string("Job 1 is stopping.").unwrap();
    // The job stops within moments.
    let mut stopped = false;
    for _ in 0..50 {
        p.send_line("SHOW JOBS;").unwrap();
        let (_, state) = p.exp_regex("RUNNING|STOPPED").unwrap();
        if state == "STOPPED" {
            stopped = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(stopped, "job 1 never stopped");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}
