//! Runs one case through the built `rill` binary with a time and memory bound, and judges
//! the outcome: a result or a clean error is fine; a panic, abort, signal, hang or too much
//! memory is a failure whose case is saved as a reproducer.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A case: a SQL file and the files beside it (`${SQL_DIR}` in the SQL names their folder).
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub sql: String,
    pub files: Vec<(String, Vec<u8>)>,
    pub args: Vec<String>,
}

/// Bounds of one run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub time: Duration,
    /// Peak resident memory, in KiB.
    pub rss_kib: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: Duration::from_secs(20),
            rss_kib: 2 << 20,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Rows, or a clean error (its first line, with numbers and paths blurred).
    Fine(Option<String>),
    /// Panic, abort, a signal or an unexpected exit code, with the evidence.
    Crash(String),
    Hang,
    /// Peak RSS in KiB.
    Memory(u64),
}

impl Verdict {
    pub fn is_failure(&self) -> bool {
        !matches!(self, Verdict::Fine(_))
    }
}

/// Writes `case` into `dir` and runs it there.
pub fn run(case: &Case, dir: &Path, limits: Limits) -> Verdict {
    std::fs::create_dir_all(dir).expect("case folder");
    std::fs::write(dir.join("query.sql"), &case.sql).expect("query written");
    for (name, bytes) in &case.files {
        std::fs::write(dir.join(name), bytes).expect("data written");
    }
    let stderr_path = dir.join("stderr.txt");
    // `RILL_FUZZ_BIN` runs another build (a soak can go on while the tree is rebuilt).
    let binary = std::env::var_os("RILL_FUZZ_BIN").unwrap_or(env!("CARGO_BIN_EXE_rill").into());
    let mut child = Command::new(binary)
        .arg("-f")
        .arg(dir.join("query.sql"))
        .arg("-o")
        .arg(dir.join("out.csv"))
        .args(&case.args)
        .env_remove("RUST_BACKTRACE")
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("rill starts");
    let started = Instant::now();
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        peak = peak.max(peak_rss_kib(child.id()).unwrap_or(0));
        let over = if peak > limits.rss_kib {
            Some(Verdict::Memory(peak))
        } else if started.elapsed() > limits.time {
            Some(Verdict::Hang)
        } else {
            None
        };
        if let Some(verdict) = over {
            let _ = child.kill();
            let _ = child.wait();
            return verdict;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    judge(status, &stderr, dir)
}

fn judge(status: std::process::ExitStatus, stderr: &str, dir: &Path) -> Verdict {
    const CRASH_SIGNS: &[&str] = &[
        "panicked at",
        "internal error",
        "overflowed its stack",
        "RUST_BACKTRACE",
        "memory allocation of",
    ];
    if let Some(sign) = CRASH_SIGNS.iter().find(|s| stderr.contains(**s)) {
        return Verdict::Crash(format!("stderr says '{sign}':\n{stderr}"));
    }
    if let Some(signal) = status.signal() {
        return Verdict::Crash(format!("killed by signal {signal}:\n{stderr}"));
    }
    match status.code() {
        Some(0) => Verdict::Fine(None),
        Some(1) => {
            let first = stderr
                .lines()
                .find(|l| l.starts_with("error"))
                .unwrap_or("error without a message");
            Verdict::Fine(Some(blur(first, dir)))
        }
        code => Verdict::Crash(format!("exit code {code:?}:\n{stderr}")),
    }
}

/// An error line with the case's folder and numbers blurred, to count distinct messages.
fn blur(line: &str, dir: &Path) -> String {
    let line = line.replace(&dir.display().to_string(), "DIR");
    let mut out = String::with_capacity(line.len());
    let mut in_number = false;
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// The peak resident memory of a running process, from /proc.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Copies a failed case's folder to `failures` with its verdict; returns where.
pub fn save_reproducer(case: &Case, dir: &Path, verdict: &Verdict, failures: &Path) -> PathBuf {
    let target = failures.join(&case.name);
    let _ = std::fs::remove_dir_all(&target);
    std::fs::create_dir_all(&target).expect("reproducer folder");
    for entry in std::fs::read_dir(dir).expect("case folder").flatten() {
        if entry.file_name() != "out.csv" {
            let _ = std::fs::copy(entry.path(), target.join(entry.file_name()));
        }
    }
    let args = case.args.join(" ");
    std::fs::write(
        target.join("verdict.txt"),
        format!("{verdict:?}\n\nrun: rill -f query.sql {args}\n"),
    )
    .expect("verdict written");
    target
}
