//! What rill must survive: output paths that are not plain files, a full disk, signals,
//! records too long to hold, SQL too deep for a default stack, and state that outgrows its
//! limit. Each ends in a result or a clear error, never a crash or damage.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn rill() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rill"));
    cmd.env_remove("RUST_BACKTRACE");
    cmd
}

fn run(args: &[&str]) -> Output {
    rill().args(args).output().expect("rill runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A clean failure: exit code 1, no panic; its stderr.
fn clean_failure(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "expected a clean failure:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn ticks() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/data/ticks_small.csv")
}

/// The bundled ticks, and a query over them printing 12 rows.
fn ticks_query() -> String {
    format!(
        "CREATE TABLE ticks (ts TIMESTAMP(3), symbol STRING, price DOUBLE, volume BIGINT) \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         SELECT ts, symbol FROM ticks WHERE volume > 995",
        ticks().display()
    )
}

/// The rows of [`ticks_query`], as written to standard output.
fn ticks_rows() -> String {
    let o = run(&["-c", &ticks_query()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = String::from_utf8(o.stdout).unwrap();
    assert_eq!(rows.lines().count(), 12);
    rows
}

/// Files in `dir` other than `keep`: temporary files left behind.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !keep.contains(&name.as_str()))
        .collect()
}

#[test]
fn output_to_dev_null_leaves_the_device_alone() {
    let o = run(&["-c", &ticks_query(), "-o", "/dev/null"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let kind = std::fs::metadata("/dev/null").unwrap().file_type();
    assert!(kind.is_char_device(), "/dev/null is no longer a device");
}

#[test]
fn output_to_a_fifo_reaches_its_reader() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("events.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let o = run(&["-c", &ticks_query(), "-o", fifo.to_str().unwrap()]);
    // Should rill not have opened the FIFO, open and close it here, so the reader ends.
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(reader.join().unwrap(), ticks_rows());
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the FIFO was replaced");
    assert_eq!(
        leftovers(dir.path(), &["events.fifo"]),
        Vec::<String>::new()
    );
}

#[test]
fn output_through_a_symlink_writes_its_target() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::fs::write(dir.path().join("real/out.csv"), "old\n").unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink("real/out.csv", &link).unwrap();
    let o = run(&["-c", &ticks_query(), "-o", link.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let written = std::fs::read_to_string(dir.path().join("real/out.csv")).unwrap();
    assert_eq!(written, ticks_rows());
    assert_eq!(
        leftovers(dir.path(), &["real", "link.csv"]),
        Vec::<String>::new()
    );
}

#[test]
fn a_full_device_fails_the_job_with_its_path() {
    let o = run(&["-c", &ticks_query(), "-o", "/dev/full"]);
    let err = clean_failure(&o);
    assert!(
        err.contains("/dev/full") && err.contains("No space left on device"),
        "{err}"
    );
}

/// A file that cannot grow (`ulimit -f`, as a full disk) fails the job naming the file, and
/// leaves the file as it was and no temporary file behind.
#[test]
fn a_write_past_the_file_size_limit_leaves_the_old_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    std::fs::write(&out, "old\n").unwrap();
    let sql = format!(
        "CREATE TABLE ticks (ts TIMESTAMP(3), symbol STRING, price DOUBLE, volume BIGINT) \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         SELECT * FROM ticks",
        ticks().display()
    );
    // 8 KiB at most; the result is about 70 KiB.
    let o = Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 8; exec \"$0\" -c \"$1\" -o \"$2\"")
        .arg(env!("CARGO_BIN_EXE_rill"))
        .arg(&sql)
        .arg(&out)
        .output()
        .unwrap();
    let err = clean_failure(&o);
    assert!(
        err.contains(out.to_str().unwrap()) && err.contains("File too large"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n");
    assert_eq!(leftovers(dir.path(), &["out.csv"]), Vec::<String>::new());
}

/// A disk that fills up (a 64 KiB tmpfs in a mount namespace of its own, so nothing outlives
/// the test): the job fails naming the file, the old file stays whole, nothing is left over.
#[test]
fn a_full_disk_fails_the_job_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let sql = format!(
        "CREATE TABLE ticks (ts TIMESTAMP(3), symbol STRING, price DOUBLE, volume BIGINT) \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         SELECT * FROM ticks",
        ticks().display()
    );
    let script = "mount -t tmpfs -o size=64k tmpfs \"$1\" || exit 77; \
                  echo old > \"$1/out.csv\"; \
                  \"$0\" -c \"$2\" -o \"$1/out.csv\"; echo \"exit $?\"; \
                  cat \"$1/out.csv\"; ls -A \"$1\"";
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c", script])
        .arg(env!("CARGO_BIN_EXE_rill"))
        .arg(dir.path())
        .arg(&sql)
        .output();
    let o = match o {
        Ok(o) if o.status.code() != Some(77) && o.status.success() => o,
        other => {
            println!("skipped: no mount namespace with a tmpfs here (needs root): {other:?}");
            return;
        }
    };
    let (out, err) = (String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert_eq!(out, "exit 1\nold\nout.csv\n", "{err}");
    assert!(
        err.contains(&format!("{}/out.csv", dir.path().display()))
            && err.contains("No space left on device"),
        "{err}"
    );
}

/// A batch run reading standard input, with rows out to a pipe; a signal stops it.
fn stop_with(signal: i32) -> (Output, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.csv");
    let sql = format!(
        "CREATE TABLE s (a INT) WITH ('connector' = 'stdin', 'format' = 'csv');\n\
         CREATE TABLE f (a INT) WITH ('connector' = 'filesystem', 'path' = '{}', \
         'format' = 'csv');\n\
         INSERT INTO f SELECT a FROM s;",
        file.display()
    );
    let mut child = rill()
        .args(["-c", &sql])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(b"1\n2\n").unwrap();
    input.flush().unwrap();
    // The temporary file of the sink appears once the job runs.
    let started = std::time::Instant::now();
    while leftovers(dir.path(), &[]).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the job did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: sending a signal to our own child has no memory effects.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let o = child.wait_with_output().unwrap();
    drop(input);
    (o, file, dir)
}

#[test]
fn sigterm_and_sigint_stop_a_batch_run_with_their_own_exit_codes() {
    for (signal, name, code) in [
        (libc::SIGTERM, "SIGTERM", 143),
        (libc::SIGINT, "SIGINT", 130),
    ] {
        let (o, file, dir) = stop_with(signal);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{err}");
        // The two rows written are read by then, unless the machine is very slow.
        let stopped = format!("rill: stopped by {name} after ");
        assert!(
            err.lines().any(|l| l.starts_with(&stopped)
                && ["2 rows in", "1 rows in", "0 rows in"]
                    .iter()
                    .any(|n| l[stopped.len()..].starts_with(n))),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(!file.exists(), "an uncommitted file was committed");
        assert_eq!(leftovers(dir.path(), &[]), Vec::<String>::new());
    }
}

/// Runs `cmd` to its end; its output and peak resident memory in KiB (from `wait4`).
fn run_measured(cmd: Command) -> (Output, u64) {
    run_read_by(cmd, |mut out| {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).unwrap();
        v
    })
}

/// Runs `cmd` to its end, its standard output read by `read`; its output and peak resident
/// memory in KiB (from `wait4`).
#[allow(clippy::zombie_processes)] // reaped by `wait4`, which also measures it
fn run_read_by(
    mut cmd: Command,
    read: impl FnOnce(std::process::ChildStdout) -> Vec<u8> + Send + 'static,
) -> (Output, u64) {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (out, mut err) = (child.stdout.unwrap(), child.stderr.unwrap());
    let stdout = std::thread::spawn(move || read(out));
    let mut stderr = Vec::new();
    std::io::Read::read_to_end(&mut err, &mut stderr).unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    let status = std::os::unix::process::ExitStatusExt::from_raw(status);
    let output = Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr,
    };
    (output, usage.ru_maxrss as u64)
}

/// A reader slower than rill writes slows the source down (every edge is a bounded channel)
/// instead of filling memory: peak memory does not grow with the input.
#[test]
fn a_slow_reader_slows_the_source_instead_of_growing_memory() {
    let dir = tempfile::tempdir().unwrap();
    let peak = |rows: usize| {
        let path = dir.path().join(format!("rows_{rows}.csv"));
        let text: String = (0..rows)
            .map(|i| format!("{i},row number {i} of many\n"))
            .collect();
        std::fs::write(&path, text).unwrap();
        let mut cmd = rill();
        cmd.args([
            "-c",
            &format!(
                "CREATE TABLE t (n BIGINT, s STRING) WITH ('connector' = 'filesystem', \
                 'path' = '{}', 'format' = 'csv');\nSELECT n, s, s AS again FROM t",
                path.display()
            ),
        ]);
        let (o, peak_kib) = run_read_by(cmd, |mut out| {
            // 64 KiB at a time with a pause: far slower than rill writes.
            let mut buf = vec![0; 1 << 16];
            let mut lines = 0;
            loop {
                match std::io::Read::read(&mut out, &mut buf).unwrap() {
                    0 => break,
                    n => lines += buf[..n].iter().filter(|b| **b == b'\n').count(),
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            lines.to_string().into_bytes()
        });
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout), rows.to_string());
        peak_kib
    };
    // Both inputs are many chunks long, so both fill the read-ahead; the larger one's
    // output is some 70 MB more, which memory would show if it were held.
    let (small, large) = (peak(400_000), peak(1_600_000));
    assert!(
        large < small + (24 << 10),
        "peak RSS {small} KiB for 400k rows, {large} KiB for 1.6M"
    );
}

/// A 200 MB record in the middle of a CSV file: reported with its line and length, or skipped,
/// while memory stays far below its size.
#[test]
fn a_record_too_long_to_hold_is_reported_without_reading_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    file.write_all(b"1,first\n2,").unwrap();
    let block = vec![b'x'; 1 << 20];
    for _ in 0..200 {
        file.write_all(&block).unwrap();
    }
    file.write_all(b"\n3,last\n").unwrap();
    drop(file);
    let table = |options: &str| {
        format!(
            "CREATE TABLE t (n INT, s STRING) WITH ('connector' = 'filesystem', \
             'path' = '{}', 'format' = 'csv'{options});\nSELECT n FROM t",
            path.display()
        )
    };
    let mut cmd = rill();
    cmd.args(["-c", &table("")]);
    let (o, peak_kib) = run_measured(cmd);
    let err = clean_failure(&o);
    let expected = format!(
        "{}:2: malformed row: record of {} bytes is longer than the maximum of 16777216 bytes",
        path.display(),
        (200 << 20) + 2
    );
    assert!(err.contains(&expected), "{err}");
    assert!(peak_kib < 150 << 10, "peak RSS {peak_kib} KiB");

    let mut cmd = rill();
    cmd.args(["-c", &table(", 'csv.ignore-parse-errors' = 'true'")]);
    let (o, peak_kib) = run_measured(cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "1\n3\n");
    let err = stderr(&o);
    assert!(
        err.contains("ignored parse errors in 1 malformed row"),
        "{err}"
    );
    assert!(
        err.contains("16777216 bytes (the table's 'source.max-record-size'); skipped"),
        "{err}"
    );
    assert!(peak_kib < 150 << 10, "peak RSS {peak_kib} KiB");

    // The limit is the table's to choose.
    let o = run(&["-c", &table(", 'source.max-record-size' = '1 kb'")]);
    assert!(clean_failure(&o).contains("longer than the maximum of 1024 bytes"));
    let o = run(&["-c", &table(", 'source.max-record-size' = 'big'")]);
    assert!(clean_failure(&o).contains("cannot read 'big' as a memory size"));
}

/// SQL deeper than any stack planned for it: a result or a clear error, never a crash.
#[test]
fn deep_sql_ends_in_a_result_or_a_clear_error() {
    let table = "CREATE TABLE ticks (ts TIMESTAMP(3), symbol STRING, price DOUBLE, volume BIGINT) \
                 WITH ('connector' = 'filesystem', 'path' = '${SQL_DIR}/ticks.csv', \
                 'format' = 'csv');\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(ticks(), dir.path().join("ticks.csv")).unwrap();
    let chain = |term: &str, op: &str, n: usize| vec![term; n].join(op);
    let nested = |open: &str, inner: &str, close: &str, n: usize| {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    };
    let views: String = (0..1_000)
        .map(|i| match i {
            0 => "CREATE VIEW v0 AS SELECT * FROM ticks;\n".to_string(),
            i => format!("CREATE VIEW v{i} AS SELECT * FROM v{};\n", i - 1),
        })
        .collect();
    let when = "CASE WHEN volume > 1 THEN ";
    // (query, rows it gives, or the start of its error)
    let cases: Vec<(String, Result<usize, &str>)> = vec![
        (
            format!("SELECT {}", chain("1", " + ", 20_000)),
            Err("the expression is too deep"),
        ),
        (
            format!("SELECT {} FROM ticks", chain("volume", " + ", 1_000)),
            Ok(2000),
        ),
        (
            format!(
                "SELECT * FROM ticks WHERE {}",
                chain("volume > 0", " AND ", 20_000)
            ),
            Ok(2000),
        ),
        (
            format!(
                "SELECT * FROM ticks WHERE {}",
                chain("volume = 1", " OR ", 20_000)
            ),
            Ok(2),
        ),
        (
            format!(
                "SELECT * FROM ticks WHERE volume IN ({})",
                (0..20_000)
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Ok(2000),
        ),
        (
            format!("SELECT {} FROM ticks", nested(when, "1", " ELSE 0 END", 16)),
            Ok(2000),
        ),
        (
            format!(
                "SELECT {} FROM ticks",
                nested(when, "1", " ELSE 0 END", 2_000)
            ),
            Err("the statement is nested too deeply"),
        ),
        (
            format!("SELECT {} FROM ticks", nested("(", "volume", ")", 250)),
            Ok(2000),
        ),
        (
            format!("SELECT {} FROM ticks", nested("(", "volume", ")", 5_000)),
            Err("the statement is nested too deeply"),
        ),
        (
            format!(
                "SELECT * FROM {}",
                nested("(SELECT * FROM ", "ticks", ")", 16)
            ),
            Ok(2000),
        ),
        (
            format!(
                "SELECT * FROM {}",
                nested("(SELECT * FROM ", "ticks", ")", 1_000)
            ),
            Err("the statement is nested too deeply"),
        ),
        (format!("{views}SELECT * FROM v999"), Ok(2000)),
    ];
    for (query, expected) in cases {
        let path = dir.path().join("query.sql");
        std::fs::write(&path, format!("{table}{query};\n")).unwrap();
        let o = rill().arg("-f").arg(&path).output().unwrap();
        let what = &query[..query.len().min(70)];
        match expected {
            Ok(rows) => {
                assert!(o.status.success(), "{what}...: {}", stderr(&o));
                assert_eq!(
                    o.stdout.iter().filter(|b| **b == b'\n').count(),
                    rows,
                    "{what}"
                );
            }
            Err(message) => {
                let err = clean_failure(&o);
                assert!(
                    err.starts_with(&format!("error: {message}")),
                    "{what}...: {err}"
                );
                assert!(err.contains(" --> "), "the error points at the spot: {err}");
            }
        }
    }
}

#[test]
fn state_over_the_limit_fails_the_job_naming_the_operator() {
    let sql = format!(
        "SET 'rill.state.max-size' = '16 kb';\n{}",
        ticks_query().replace(
            "SELECT ts, symbol FROM ticks WHERE volume > 995",
            "SELECT ts, COUNT(*) FROM ticks GROUP BY ts"
        )
    );
    let o = run(&["-c", &sql]);
    let err = clean_failure(&o);
    assert!(
        err.contains("GroupAggregate holds") && err.contains("'rill.state.max-size'"),
        "{err}"
    );
    // Within a generous limit the same query runs.
    let o = run(&["-c", &sql.replace("'16 kb'", "'1 gb'"), "-o", "/dev/null"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["-c", "SET 'rill.state.max-size' = 'much'"]);
    assert!(clean_failure(&o).contains("cannot read 'much' as a memory size"));
}

#[test]
fn state_that_can_only_grow_is_warned_about_at_planning() {
    let sql = "CREATE TABLE s (k STRING) WITH ('connector' = 'stdin', 'format' = 'csv');\n\
               SELECT k, COUNT(*) FROM s GROUP BY k";
    let mut child = rill()
        .args(["-c", sql])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"a\nb\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let warning = stderr(&o)
        .lines()
        .find(|l| l.starts_with("warning: GROUP BY without a window keeps state"))
        .map(str::to_string);
    assert!(warning.is_some(), "{}", stderr(&o));
    // A bounded file is no cause for warning.
    let o = run(&[
        "-c",
        &ticks_query().replace("WHERE volume > 995", "GROUP BY ts, symbol"),
    ]);
    assert!(
        o.status.success() && !stderr(&o).contains("warning"),
        "{}",
        stderr(&o)
    );
}
