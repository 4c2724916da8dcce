//! Recovery by fault injection: the built binary runs a checkpointed job over seeded data and
//! is killed (SIGKILL) at random moments and at named fault points, then restarted until it
//! finishes. After every kill the committed output must be a prefix of an uninterrupted run's,
//! no visible file may have changed, and the checkpoints must read; at the end the output must
//! be byte-identical to the uninterrupted run's, with no hidden file left and at most two
//! checkpoints kept.
//!
//! A short round runs with the test suite; `cargo test -p rill-shell --test recovery --
//! --ignored recovery_soak` kills each query 100 times.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The named fault points, each with the pass to fail at (see `rill_engine::fault`).
const FAULTS: [&str; 7] = [
    "after-barrier:3",
    "between-state-files:2",
    "before-manifest-rename:2",
    "after-manifest-rename:3",
    "between-sink-renames:2",
    "between-sink-renames:5",
    "end-of-input:1",
];

/// The input table, with the watermark the queries share.
const TICKS: &str = "CREATE TABLE ticks (ts TIMESTAMP(3), symbol STRING, price DOUBLE, \
     volume BIGINT, WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) \
     WITH ('connector' = 'filesystem', 'path' = '${INPUT}', 'format' = 'csv');";

/// A query of one operator family: its output table's columns and format, and its SELECT.
struct Case {
    name: &'static str,
    columns: &'static str,
    format: &'static str,
    select: &'static str,
    /// Whether the output's order is fixed: a join's follows how its two inputs' rows
    /// interleave, and the results of several instances of an operator come in the order
    /// they finish them, which is up to thread timing (as in Flink), so only their rows are
    /// compared. Their input then has no late rows: which rows of a join are late is up to
    /// that timing too.
    ordered: bool,
    /// Instances of each keyed operator (`'parallelism.default'`).
    parallelism: usize,
    /// Whether late rows go to side part files (a sink of its own, checked as the output is).
    late_side_files: bool,
    /// Statements of its own before the query: `SET`s, or the table it reads when not
    /// `ticks`.
    statements: &'static str,
}

/// The bids of 200,000 Nexmark events, 20 seconds of them.
const NEXMARK_BIDS: &str = "CREATE TABLE events (event_type INT, \
     person ROW<`dateTime` TIMESTAMP(3)>, auction ROW<`dateTime` TIMESTAMP(3)>, \
     bid ROW<auction BIGINT, price BIGINT, `dateTime` TIMESTAMP(3)>, \
     ts AS CASE WHEN event_type = 0 THEN person.`dateTime` \
     WHEN event_type = 1 THEN auction.`dateTime` ELSE bid.`dateTime` END, \
     WATERMARK FOR ts AS ts - INTERVAL '4' SECOND) WITH ('connector' = 'nexmark', \
     'events.num' = '200000', 'rill.base-time' = '2024-01-01 00:00:00');\n\
     CREATE VIEW bid AS SELECT bid.auction AS auction, bid.price AS price, ts FROM events \
     WHERE event_type = 2;\n";

/// Per window and symbol: the tumbling-window case, at parallelism 1 and 2.
const TUMBLE_COLUMNS: &str = "window_start TIMESTAMP(3), window_end TIMESTAMP(3), \
     symbol STRING, cnt BIGINT, total BIGINT, top DOUBLE";
const TUMBLE_SELECT: &str = "SELECT window_start, window_end, symbol, COUNT(*), SUM(volume), \
     MAX(price) FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '10' SECOND)) \
     GROUP BY window_start, window_end, symbol";

const CASES: [Case; 14] = [
    Case {
        name: "tumble_parallel",
        columns: TUMBLE_COLUMNS,
        format: "csv",
        select: TUMBLE_SELECT,
        ordered: false,
        parallelism: 2,
        late_side_files: false,
        statements: "",
    },
    Case {
        name: "tumble",
        columns: TUMBLE_COLUMNS,
        format: "csv",
        select: TUMBLE_SELECT,
        ordered: true,
        parallelism: 1,
        late_side_files: false,
        statements: "",
    },
    Case {
        name: "session",
        columns: "window_start TIMESTAMP(3), window_end TIMESTAMP(3), symbol STRING, \
                  cnt BIGINT, total BIGINT",
        format: "csv",
        select: "SELECT window_start, window_end, symbol, COUNT(*), SUM(volume) \
                 FROM TABLE(SESSION(TABLE ticks PARTITION BY symbol, DESCRIPTOR(ts), \
                 INTERVAL '3' SECOND)) GROUP BY window_start, window_end, symbol",
        ordered: true,
        parallelism: 1,
        late_side_files: true,
        statements: "",
    },
    Case {
        name: "over",
        columns: "ts TIMESTAMP(3), symbol STRING, price DOUBLE, moving BIGINT",
        format: "csv",
        select: "SELECT ts, symbol, price, SUM(volume) OVER (PARTITION BY symbol ORDER BY ts \
                 ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) FROM ticks",
        ordered: true,
        parallelism: 1,
        late_side_files: false,
        statements: "",
    },
    Case {
        name: "over_running",
        columns: "ts TIMESTAMP(3), symbol STRING, total BIGINT, hi DOUBLE, before1 DOUBLE",
        format: "csv",
        select: "SELECT ts, symbol, SUM(volume) OVER w, MAX(price) OVER w, LAG(price) OVER w \
                 FROM ticks WINDOW w AS (PARTITION BY symbol ORDER BY ts)",
        ordered: true,
        parallelism: 1,
        late_side_files: false,
        statements: "",
    },
    Case {
        name: "collected",
        columns: "window_start TIMESTAMP(3), symbol STRING, volumes STRING, prices STRING",
        format: "csv",
        select: "SELECT window_start, symbol, CAST(ARRAY_AGG(volume) AS STRING), \
                 JSON_ARRAYAGG(price) FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), \
                 INTERVAL '10' SECOND)) GROUP BY window_start, window_end, symbol",
        ordered: true,
        parallelism: 1,
        late_side_files: false,
        statements: "",
    },
    Case {
        name: "match_within",
        columns: "symbol STRING, n BIGINT, fall_start TIMESTAMP(3), bottom DOUBLE, \
                  falls BIGINT, turn TIMESTAMP(3)",
        format: "csv",
        select: "SELECT * FROM ticks MATCH_RECOGNIZE (PARTITION BY symbol ORDER BY ts \
                 MEASURES MATCH_NUMBER() AS n, FIRST(DOWN.ts) AS fall_start, \
                 LAST(DOWN.price) AS bottom, COUNT(DOWN.price) AS falls, UP.ts AS turn \
                 ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW \
                 PATTERN (DOWN{2,} UP) WITHIN INTERVAL '5' SECOND \
                 DEFINE DOWN AS DOWN.price < PREV(DOWN.price), \
                 UP AS UP.price > LAST(DOWN.price) + 1) AS m",
        ordered: true,
        parallelism: 1,
        late_side_files: false,
        statements: "",
    },
    Case {
        name: "interval_join",
        columns: "ts TIMESTAMP(3), symbol STRING, price DOUBLE, later TIMESTAMP(3), \
                  later_price DOUBLE",
        format: "csv",
        select: "SELECT a.ts, a.symbol, a.price, b.ts, b.price FROM ticks a JOIN ticks b \
                 ON a.symbol = b.symbol AND b.ts BETWEEN a.ts + INTERVAL '1' MILLISECOND \
                 AND a.ts + INTERVAL '200' MILLISECOND WHERE a.volume > 500",
        ordered: false,
        parallelism: 2,
        late_side_files: false,
        statements: "",
    },
    Case {
        // Both inputs held for ever, every full block of their rows written to the join's
        // temporary file: each restore writes them there again.
        name: "regular_join_spilled",
        columns: "ts TIMESTAMP(3), symbol STRING, volume BIGINT, other TIMESTAMP(3)",
        format: "csv",
        select: "SELECT a.ts, a.symbol, a.volume, b.ts FROM ticks a JOIN ticks b \
                 ON a.symbol = b.symbol AND a.volume = b.volume AND a.price = b.price \
                 WHERE a.volume > 900",
        ordered: false,
        parallelism: 2,
        late_side_files: false,
        statements: "SET 'rill.state.join-memory' = '0';\n",
    },
    Case {
        name: "top_n_changelog",
        columns: "symbol STRING, price DOUBLE, volume BIGINT, r BIGINT",
        format: "debezium-json",
        select: "SELECT symbol, price, volume, r FROM (SELECT symbol, price, volume, \
                 ROW_NUMBER() OVER (PARTITION BY symbol ORDER BY volume DESC, price DESC) \
                 AS r FROM ticks) WHERE r <= 3",
        ordered: true,
        parallelism: 1,
        late_side_files: false,
        statements: "",
    },
    Case {
        name: "group_over_changelog",
        columns: "lowest DOUBLE, symbols BIGINT, volume BIGINT, named BIGINT, spread DOUBLE",
        format: "debezium-json",
        select: "SELECT low, COUNT(*), SUM(v), COUNT(DISTINCT symbol), \
                 VAR_POP(CAST(v AS DOUBLE)) FROM (SELECT symbol, MIN(price) AS low, \
                 SUM(volume) AS v FROM ticks GROUP BY symbol) GROUP BY low",
        ordered: true,
        parallelism: 1,
        late_side_files: false,
        statements: "",
    },
    Case {
        // The aggregates over VALUES end at once while the rest reads on: every later
        // checkpoint holds them as ended, and a job restored from one ends them again.
        name: "union_with_an_ended_branch",
        columns: "symbol STRING, n BIGINT",
        format: "debezium-json",
        select: "SELECT s, COUNT(*) FROM (VALUES ('a'), ('b'), ('a')) AS t(s) GROUP BY s \
                 UNION ALL SELECT symbol, volume FROM ticks",
        ordered: false,
        parallelism: 2,
        late_side_files: false,
        statements: "",
    },
    Case {
        // The nexmark connector, whose batches are made ahead of those sent: a checkpoint
        // counts the events sent, not those made.
        name: "nexmark_bids",
        columns: "window_start TIMESTAMP(3), auction BIGINT, bids BIGINT, top BIGINT",
        format: "csv",
        select: "SELECT window_start, auction, COUNT(*), MAX(price) FROM TABLE(TUMBLE(TABLE \
                 bid, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, \
                 window_end, auction",
        ordered: true,
        parallelism: 1,
        late_side_files: false,
        statements: NEXMARK_BIDS,
    },
    Case {
        name: "group_changelog",
        columns: "symbol STRING, cnt BIGINT, total BIGINT, top DOUBLE",
        format: "debezium-json",
        select: "SELECT symbol, COUNT(*), SUM(volume), MAX(price) FROM ticks GROUP BY symbol",
        ordered: true,
        parallelism: 1,
        late_side_files: false,
        statements: "",
    },
];

/// Seeded ticks: time mostly advancing (with disorder inside the watermark's delay, a few
/// late rows if `late`, and now and then a gap that closes sessions), 20 symbols.
fn write_ticks(path: &Path, rows: usize, seed: u64, late: bool) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut text = String::with_capacity(rows * 40);
    let mut time: i64 = 1_704_067_200_000 + 3_600_000;
    for _ in 0..rows {
        time += rng.i64(0..60);
        if rng.u32(0..5000) == 0 {
            time += 5_000;
        }
        let jitter = match rng.u32(0..1000) {
            0 if late => 10_000,
            _ => rng.i64(0..1500),
        };
        let ts = chrono_text(time - jitter);
        let symbol = rng.u32(0..20);
        let price = rng.u32(9000..11000) as f64 / 100.0;
        let volume = rng.u32(1..1000);
        text.push_str(&format!("{ts},SYM{symbol:02},{price},{volume}\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// `millis` since the epoch as `YYYY-MM-DD HH:MM:SS.mmm` (days of January 2024 only).
fn chrono_text(millis: i64) -> String {
    let day = (millis - 1_704_067_200_000).div_euclid(86_400_000);
    let rest = (millis - 1_704_067_200_000).rem_euclid(86_400_000);
    let (h, m, s, ms) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    format!("2024-01-{:02} {h:02}:{m:02}:{s:02}.{ms:03}", day + 1)
}

/// The directories `case` writes part files into, when its result goes to `out`.
fn output_dirs(case: &Case, out: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![out.to_path_buf()];
    if case.late_side_files {
        dirs.push(out.with_extension("late"));
    }
    dirs
}

/// The job of `case` writing into directory `out` (and its late rows, if it keeps them,
/// beside it), checkpointed into `checkpoints` if given.
fn job(case: &Case, input: &Path, out: &Path, checkpoints: Option<&Path>) -> String {
    let mut sql = format!("SET 'parallelism.default' = '{}';\n", case.parallelism);
    sql.push_str(case.statements);
    if let [_, late] = output_dirs(case, out).as_slice() {
        sql.push_str(&format!(
            "SET 'rill.late-rows' = 'side-output';\n\
             SET 'rill.late-rows.path' = '{}/';\n",
            late.display()
        ));
    }
    if let Some(dir) = checkpoints {
        sql.push_str(&format!(
            "SET 'execution.checkpointing.interval' = '40 ms';\n\
             SET 'execution.checkpointing.dir' = '{}';\n",
            dir.display()
        ));
    }
    sql.push_str(&TICKS.replace("${INPUT}", &input.display().to_string()));
    sql.push_str(&format!(
        "\nCREATE TABLE out ({}) WITH ('connector' = 'filesystem', 'path' = '{}/', \
         'format' = '{}');\nINSERT INTO out {};\n",
        case.columns,
        out.display(),
        case.format,
        case.select
    ));
    sql
}

fn rill(sql: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rill"));
    cmd.args(["-c", sql])
        .env_remove("RUST_LOG")
        .env_remove("RILL_FAULT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// The visible files of `dir` by name, with their contents.
fn visible(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .map(|name| {
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            (name, bytes)
        })
        .collect()
}

/// Everything in `dir` that is hidden (in progress, temporary).
fn hidden(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// The complete checkpoints in `dir` (with a manifest whose files are all there, at their
/// sizes), and every checkpoint directory.
fn checkpoints(dir: &Path) -> (Vec<u64>, usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (vec![], 0);
    };
    let mut complete = Vec::new();
    let mut all = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name
            .strip_prefix("chk-")
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        all += 1;
        let Ok(text) = std::fs::read(entry.path().join("_metadata")) else {
            continue;
        };
        let manifest: serde_json::Value =
            serde_json::from_slice(&text).expect("a complete checkpoint's manifest reads");
        for node in manifest["nodes"].as_array().unwrap() {
            let file = entry.path().join(node["file"].as_str().unwrap());
            let size = std::fs::metadata(&file)
                .map(|m| m.len())
                .unwrap_or(u64::MAX);
            assert_eq!(size, node["bytes"].as_u64().unwrap(), "{}", file.display());
        }
        complete.push(id);
    }
    complete.sort();
    (complete, all)
}

/// Runs `case` under `kills` kills (named fault points first, then random moments): each
/// cycle restarts the job until it finishes, checking the invariants after every run, and
/// starts afresh while kills are left. Returns the number of cycles.
fn kill_and_restart(case: &Case, input: &Path, kills: usize, seed: u64) -> usize {
    let work = tempfile::tempdir().unwrap();
    let golden_dir = work.path().join("golden");
    let started = Instant::now();
    let run = rill(&job(case, input, &golden_dir, None)).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Kills land anywhere in a run as long as an uninterrupted one.
    let run_time = started.elapsed().as_millis() as u64;
    let golden: Vec<Vec<u8>> = output_dirs(case, &golden_dir)
        .iter()
        .map(|dir| visible(dir).into_values().flatten().collect())
        .collect();
    assert!(
        golden.iter().all(|output| !output.is_empty()),
        "{}: the uninterrupted run left an output empty",
        case.name
    );
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut killed, mut cycles, mut faults) = (0, 0, FAULTS.iter());
    while killed < kills {
        cycles += 1;
        let out = work.path().join(format!("out{cycles}"));
        let sql = job(
            case,
            input,
            &out,
            Some(&work.path().join(format!("chk{cycles}"))),
        );
        let cycle = Cycle {
            case,
            golden: &golden,
            outputs: output_dirs(case, &out),
            checkpoints: work.path().join(format!("chk{cycles}")),
        };
        let mut seen = BTreeMap::new();
        let mut latest = 0;
        for run in 1.. {
            assert!(run < 100, "{}: does not finish", case.name);
            let mut cmd = rill(&sql);
            // Each named point once (a run may end before it gets there), then at random.
            let fault = faults.next().filter(|_| killed < kills);
            if let Some(fault) = fault {
                cmd.env("RILL_FAULT", fault);
            }
            let mut child = cmd.spawn().unwrap();
            if fault.is_none() && killed < kills {
                std::thread::sleep(Duration::from_millis(rng.u64(0..=run_time)));
                let _ = child.kill();
            }
            let output = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            if std::env::var_os("RILL_RECOVERY_TRACE").is_some() {
                eprintln!(
                    "{} {cycles}.{run} ({fault:?}): {:?} {stderr}",
                    case.name, output.status
                );
            }
            assert!(!stderr.contains("panicked"), "{}: {stderr}", case.name);
            assert!(!stderr.contains("damaged"), "{}: {stderr}", case.name);
            let finished = output.status.success();
            if !finished {
                use std::os::unix::process::ExitStatusExt;
                assert_eq!(output.status.signal(), Some(9), "{}: {stderr}", case.name);
                killed += 1;
            }
            latest = cycle.check(&mut seen, latest, run);
            if finished {
                cycle.check_finished();
                break;
            }
        }
    }
    eprintln!(
        "{}: {killed} kills over {cycles} runs to the end, {:?} bytes of output, {:.1} s",
        case.name,
        golden.iter().map(Vec::len).collect::<Vec<_>>(),
        started.elapsed().as_secs_f64()
    );
    cycles
}

/// One checkpointed job, restarted until it finishes.
struct Cycle<'a> {
    case: &'a Case,
    /// The uninterrupted run's output, by output directory.
    golden: &'a [Vec<u8>],
    outputs: Vec<PathBuf>,
    checkpoints: PathBuf,
}

impl Cycle<'_> {
    /// After a run: what is visible is whole, never changed, and a prefix of the
    /// uninterrupted output; the checkpoints read and the latest never goes back. Returns it.
    fn check(&self, seen: &mut BTreeMap<PathBuf, Vec<u8>>, latest: u64, run: usize) -> u64 {
        let name = self.case.name;
        for (dir, golden) in self.outputs.iter().zip(self.golden) {
            let files = visible(dir);
            for (file, bytes) in &files {
                let path = dir.join(file);
                if let Some(before) = seen.get(&path) {
                    assert!(before == bytes, "{name}: {file} changed after run {run}");
                }
                seen.insert(path, bytes.clone());
            }
            let committed: Vec<u8> = files.into_values().flatten().collect();
            assert!(
                self.covered(&committed, golden),
                "{name}: after run {run} the committed output in {} ({} bytes) is not a \
                 prefix of the uninterrupted run's ({} bytes)",
                dir.display(),
                committed.len(),
                golden.len()
            );
        }
        // Two kept; one more while a checkpoint is written, or between its manifest's
        // rename and the removal of the oldest.
        let (complete, all) = checkpoints(&self.checkpoints);
        assert!(
            complete.len() <= 3 && all <= 4,
            "{name}: {complete:?} of {all}"
        );
        let newest = complete.last().copied().unwrap_or(0);
        assert!(newest >= latest, "{name}: the latest checkpoint went back");
        newest
    }

    /// Whether `committed` is a prefix of the uninterrupted output `golden` (for a query
    /// without a fixed order: whether its lines are among that output's, as many times at
    /// most).
    fn covered(&self, committed: &[u8], golden: &[u8]) -> bool {
        if self.case.ordered {
            return golden.starts_with(committed);
        }
        let mut lines: BTreeMap<&[u8], i64> = BTreeMap::new();
        for line in golden.split(|b| *b == b'\n') {
            *lines.entry(line).or_default() += 1;
        }
        committed.split(|b| *b == b'\n').all(|line| {
            let count = lines.entry(line).or_default();
            *count -= 1;
            *count >= 0
        })
    }

    /// At the end: the uninterrupted output exactly, nothing hidden left, two checkpoints.
    fn check_finished(&self) {
        let name = self.case.name;
        for (dir, golden) in self.outputs.iter().zip(self.golden) {
            let output: Vec<u8> = visible(dir).into_values().flatten().collect();
            assert!(
                output.len() == golden.len() && self.covered(&output, golden),
                "{name}: the output in {} ({} bytes) differs from the uninterrupted run's \
                 ({} bytes)",
                dir.display(),
                output.len(),
                golden.len()
            );
            assert_eq!(hidden(dir), Vec::<String>::new(), "{name}");
        }
        let (complete, all) = checkpoints(&self.checkpoints);
        assert!(
            complete.len() <= 2 && all <= 2,
            "{name}: {complete:?} of {all}"
        );
    }
}

/// Seeded inputs in `dir`: with late rows, and without.
fn inputs(dir: &Path, rows: usize) -> [PathBuf; 2] {
    [true, false].map(|late| {
        let path = dir.join(format!("ticks_{late}.csv"));
        write_ticks(&path, rows, 42, late);
        path
    })
}

#[test]
fn recovery_after_kills_gives_the_uninterrupted_output() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = inputs(dir.path(), 200_000);
    for (i, case) in CASES.iter().enumerate() {
        kill_and_restart(case, &inputs[usize::from(!case.ordered)], 10, i as u64);
    }
}

#[test]
#[ignore = "a soak: 100 kills per query (cargo test -- --ignored recovery_soak)"]
fn recovery_soak() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = inputs(dir.path(), 500_000);
    for (i, case) in CASES.iter().enumerate() {
        kill_and_restart(
            case,
            &inputs[usize::from(!case.ordered)],
            100,
            1000 + i as u64,
        );
    }
}
