//! The `rill` command as a user runs it: `-c`, `-f`, `-D`, output options, and the messages
//! of bad input (SQL errors with line, column and caret; missing files; malformed rows).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "common/skew.rs"]
mod skew;

fn rill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("rill runs")
}

/// `rill` running with `args`, its standard streams piped, its history in `home`.
fn spawn(args: &[&str], home: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(args)
        .env("HOME", home)
        .env_remove("RUST_BACKTRACE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("rill starts")
}

/// The shell run with `home` as its home, typed into: `type_in(text, then_wait_ms)`, and at
/// the end its output.
struct Typing {
    child: std::process::Child,
    input: std::process::ChildStdin,
}

impl Typing {
    fn new(home: &Path) -> Typing {
        let mut child = spawn(&[], home);
        let input = child.stdin.take().unwrap();
        Typing { child, input }
    }

    fn type_in(&mut self, text: &str, then_wait_ms: u64) {
        use std::io::Write;
        self.input.write_all(text.as_bytes()).unwrap();
        self.input.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(then_wait_ms));
    }

    fn output(self) -> Output {
        drop(self.input);
        self.child.wait_with_output().unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails a command that should have failed cleanly: non-zero exit, no panic, no backtrace.
fn assert_clean_failure(o: &Output) -> String {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected failure, got success; stderr:\n{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "not a clean error:\n{err}"
    );
    err
}

/// A file of the conformance cases' data.
fn conformance_data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/conformance/data")
        .join(file)
}

/// What `sql` (statements ending in an `EXPLAIN`) prints, run with one instance per operator.
fn explained(sql: &str) -> String {
    let o = rill(&["-c", sql, "--parallelism", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

fn ticks() -> PathBuf {
    conformance_data("ticks_small.csv")
}

fn ticks_ddl(path: &Path, extra_options: &str) -> String {
    format!(
        "CREATE TABLE ticks (ts TIMESTAMP(3), symbol STRING, price DOUBLE, volume BIGINT,\n  \
         WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)\n  \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv'{extra_options});\n",
        path.display()
    )
}

#[test]
fn command_string_runs_statements_and_prints_csv() {
    let sql = format!(
        "{}SELECT symbol, volume FROM ticks WHERE volume = 999",
        ticks_ddl(&ticks(), "")
    );
    let o = rill(&["-c", &sql, "--header", "--sort"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The two rows of ticks_small.csv with volume 999.
    let expected = "symbol,volume\nSYM00,999\nSYM00,999\n";
    assert_eq!(stdout(&o), expected);
}

#[test]
fn defines_substitute_variables_in_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.sql");
    std::fs::write(
        &file,
        "CREATE TABLE t (a INT, b STRING) WITH ('connector' = 'filesystem', 'path' = '${DATA}', 'format' = 'csv');\nSELECT b FROM t WHERE a = ${WANT:-2};\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("d.csv"), "1,one\n2,two\n3,three\n").unwrap();
    let data = format!("DATA={}", dir.path().join("d.csv").display());
    let o = rill(&["-f", file.to_str().unwrap(), "-D", &data]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "two\n");
    let o = rill(&[
        "-f",
        file.to_str().unwrap(),
        "-D",
        &data,
        "-D",
        "WANT=3",
        "--format",
        "json",
    ]);
    assert_eq!(stdout(&o), "{\"b\":\"three\"}\n");
    let o = rill(&["-f", file.to_str().unwrap()]);
    let err = assert_clean_failure(&o);
    assert!(err.contains("${DATA} is not defined"), "{err}");
}

#[test]
fn unknown_column_points_at_it_and_suggests_the_name() {
    let sql = format!(
        "{}SELECT symbol,\n       prise\nFROM ticks",
        ticks_ddl(&ticks(), "")
    );
    let err = assert_clean_failure(&rill(&["-c", &sql]));
    assert!(err.contains("error: No field named prise"), "{err}");
    assert!(err.contains("--> line 5, column 8"), "{err}");
    assert!(err.contains("5 |        prise\n  |        ^^^^^"), "{err}");
    assert!(err.contains("hint: did you mean 'ticks.price'?"), "{err}");
}

#[test]
fn syntax_error_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.sql");
    std::fs::write(&file, "SELECT 1;\nSELECT a,, b\nFROM t;\n").unwrap();
    let err = assert_clean_failure(&rill(&["-f", file.to_str().unwrap()]));
    assert!(err.contains("bad.sql:2:10"), "{err}");
    assert!(err.contains("2 | SELECT a,, b\n  |          ^"), "{err}");
}

#[test]
fn missing_file_is_one_clear_line() {
    let ddl = ticks_ddl(Path::new("/nonexistent/ticks.csv"), "");
    let err = assert_clean_failure(&rill(&["-c", &format!("{ddl}SELECT * FROM ticks")]));
    assert!(
        err.contains("/nonexistent/ticks.csv: No such file or directory"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let err = assert_clean_failure(&rill(&["-f", "/nonexistent/query.sql"]));
    assert!(err.contains("cannot read /nonexistent/query.sql"), "{err}");
}

#[test]
fn unknown_connector_and_option_are_rejected() {
    let err = assert_clean_failure(&rill(&[
        "-c",
        "CREATE TABLE t (a INT) WITH ('connector' = 'jdbc')",
    ]));
    assert!(err.contains("unknown connector 'jdbc'"), "{err}");
    assert!(
        err.contains("hint: supported connectors: 'filesystem', 'stdin', 'kafka', 'upsert-kafka', 'nexmark', 'print', 'blackhole'"),
        "{err}"
    );
    let err = assert_clean_failure(&rill(&[
        "-c",
        "CREATE TABLE t (a INT) WITH ('connector' = 'filesystem', 'format' = 'csv')",
    ]));
    assert_eq!(
        err,
        "error: table 't': connector 'filesystem' needs option 'path'\n"
    );
    let err = assert_clean_failure(&rill(&[
        "-c",
        "CREATE TABLE t (a INT) WITH ('connector' = 'filesystem', 'path' = '/tmp/x', 'format' = 'csv', 'csv.quote' = 'x')",
    ]));
    assert!(
        err.contains("unsupported option 'csv.quote' for connector 'filesystem'"),
        "{err}"
    );
}

#[test]
fn type_mismatches_are_reported() {
    let err = assert_clean_failure(&rill(&[
        "-c",
        "CREATE TABLE t (a INT, s STRING, WATERMARK FOR s AS s) WITH ('connector' = 'blackhole')",
    ]));
    assert!(
        err.contains(
            "the event-time column 's' must be TIMESTAMP(p) or TIMESTAMP_LTZ(p), not STRING"
        ),
        "{err}"
    );
    let sql = format!(
        "{}SELECT symbol FROM ticks WHERE price + 'x' > 1",
        ticks_ddl(&ticks(), "")
    );
    let err = assert_clean_failure(&rill(&["-c", &sql]));
    assert_eq!(
        err,
        "error: Cannot coerce arithmetic expression Float64 + Utf8 to valid types\n"
    );
    // A cast that fails on a row fails the job, as in Flink.
    let sql = format!(
        "{}SELECT CAST(symbol AS INT) FROM ticks",
        ticks_ddl(&ticks(), "")
    );
    let err = assert_clean_failure(&rill(&["-c", &sql]));
    assert_eq!(
        err,
        "error: Cast error: Cannot cast string 'SYM02' to value of Int32 type\n"
    );
}

fn malformed_data(dir: &Path) -> PathBuf {
    let data = dir.join("ticks.csv");
    std::fs::write(
        &data,
        "2024-01-01 00:00:00.075,SYM02,106.59,932\n\
         2024-01-01 00:00:00.114,SYM00,93.32,lots\n\
         2024-01-01 00:00:00.361,SYM00,93.15,580\n\
         not a time,SYM01,1.0,1\n\
         2024-01-01 00:00:00.951,SYM01,85.95,148\n",
    )
    .unwrap();
    data
}

#[test]
fn malformed_row_fails_the_job_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = malformed_data(dir.path());
    for batch in ["1", "3", "8192"] {
        let sql = format!("{}SELECT * FROM ticks", ticks_ddl(&data, ""));
        let err = assert_clean_failure(&rill(&["-c", &sql, "--batch-size", batch]));
        let want = format!(
            "{}:2: malformed row: cannot read 'lots' as BIGINT for column volume",
            data.display()
        );
        assert!(err.contains(&want), "batch {batch}: {err}");
    }
}

#[test]
fn ignored_parse_errors_read_nulls_and_are_counted() {
    // As in Flink (the csv_ignore_parse_errors conformance case has its answers), a value
    // that is no value of its column's type is read as NULL, and the row is kept.
    let dir = tempfile::tempdir().unwrap();
    let data = malformed_data(dir.path());
    let ddl = format!(
        "CREATE TABLE ticks (ts TIMESTAMP(3), symbol STRING, price DOUBLE, volume BIGINT) \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv', \
         'csv.ignore-parse-errors' = 'true');\n",
        data.display()
    );
    for batch in ["1", "2", "8192"] {
        let o = rill(&[
            "-c",
            &format!("{ddl}SELECT volume, ts IS NULL FROM ticks"),
            "--batch-size",
            batch,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let want = "932,false\n,false\n580,false\n1,true\n148,false\n";
        assert_eq!(stdout(&o), want, "batch {batch}");
        let err = stderr(&o);
        assert!(
            err.contains("ignored parse errors in 2 malformed rows"),
            "{err}"
        );
        let lines = [
            "2: cannot read 'lots' as BIGINT for volume; read as NULL",
            "4: cannot read 'not a time' as TIMESTAMP(3) for ts; read as NULL",
        ];
        for line in lines {
            assert!(err.contains(&format!("{}:{line}", data.display())), "{err}");
        }
    }
    // A NULL event time stops the job, as in Flink.
    let ddl = ticks_ddl(&data, ", 'csv.ignore-parse-errors' = 'true'");
    let err = assert_clean_failure(&rill(&["-c", &format!("{ddl}SELECT volume FROM ticks")]));
    assert!(err.contains("a row's event time ts is NULL"), "{err}");
}

#[test]
fn raw_files_are_read_and_written_a_line_per_row() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("app.log"), dir.path().join("errors.log"));
    std::fs::write(
        &input,
        "INFO start, \"quoted\"\r\nERROR disk full\nINFO ok\nERROR a,b\n",
    )
    .unwrap();
    let sql = format!(
        "CREATE TABLE log (line STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'raw');\n\
         CREATE TABLE errors (line STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'raw');\n\
         INSERT INTO errors SELECT line FROM log WHERE line LIKE 'ERROR%';",
        input.display(),
        out.display()
    );
    let o = rill(&["-c", &sql]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Whole lines, commas and quotes as they are, without the line end (\r\n too).
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "ERROR disk full\nERROR a,b\n"
    );
    let o = rill(&[
        "-c",
        &format!(
            "{}\nSELECT line FROM log WHERE line LIKE 'INFO s%'",
            sql.lines().next().unwrap()
        ),
    ]);
    assert_eq!(stdout(&o), "\"INFO start, \"\"quoted\"\"\"\n");
    // The format takes one text column.
    let err = assert_clean_failure(&rill(&[
        "-c",
        "CREATE TABLE t (a STRING, b INT) WITH ('connector' = 'filesystem', 'path' = '/x', 'format' = 'raw')",
    ]));
    assert!(
        err.contains("the 'raw' format reads and writes a single STRING column"),
        "{err}"
    );
}

#[test]
fn insert_into_a_file_writes_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let sql = format!(
        "{}CREATE TABLE sink (symbol STRING, a BIGINT, b BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         INSERT INTO sink SELECT symbol, volume + 1, volume + 1 FROM ticks WHERE volume = 999;",
        ticks_ddl(&ticks(), ""),
        out.display()
    );
    let o = rill(&["-c", &sql]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut lines: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    // The same expression twice, as Flink allows it.
    assert_eq!(lines, ["SYM00,1000,1000", "SYM00,1000,1000"]);
    // A failing job leaves no file behind.
    let bad = dir.path().join("bad.csv");
    let data = malformed_data(dir.path());
    let sql = format!(
        "{}CREATE TABLE sink (v BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         INSERT INTO sink SELECT volume FROM ticks;",
        ticks_ddl(&data, ""),
        bad.display()
    );
    assert_clean_failure(&rill(&["-c", &sql]));
    assert!(
        !bad.exists(),
        "a failed job must not leave {}",
        bad.display()
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.starts_with(".rill-").then_some(name)
        })
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn show_describe_and_explain() {
    let sql = format!(
        "{}SHOW TABLES; DESCRIBE ticks; EXPLAIN SELECT symbol FROM ticks WHERE price > 1;\nSHOW CREATE TABLE ticks;",
        ticks_ddl(&ticks(), "")
    );
    let o = rill(&["-c", &sql]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("table name\nticks\n"), "{out}");
    assert!(
        out.contains("ts,TIMESTAMP(3) *ROWTIME*,TRUE,,,ts - INTERVAL '5' SECOND\n"),
        "{out}"
    );
    assert!(out.contains("symbol,STRING,TRUE,,,\n"), "{out}");
    assert!(out.contains("Filter: ticks.price > Float64(1)"), "{out}");
    assert!(out.contains("#0 source ticks"), "{out}");
    assert!(out.ends_with("'format' = 'csv');\n"), "{out}");
}

#[test]
fn print_and_blackhole_sinks() {
    let sql = format!(
        "{}CREATE TABLE p (symbol STRING, volume BIGINT, price DOUBLE) WITH ('connector' = 'print');\n\
         CREATE TABLE b (symbol STRING) WITH ('connector' = 'blackhole');\n\
         INSERT INTO p SELECT symbol, volume, price FROM ticks WHERE volume = 1000 AND symbol = 'SYM02';\n\
         INSERT INTO b SELECT symbol FROM ticks;",
        ticks_ddl(&ticks(), "")
    );
    let o = rill(&["-c", &sql]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "+I[SYM02, 1000, 107.96]\n");
}

#[test]
fn output_formats() {
    let sql = format!(
        "{}SELECT symbol, volume, ts FROM ticks WHERE volume = 999",
        ticks_ddl(&ticks(), "")
    );
    let run = |format: &str| {
        let o = rill(&["-c", &sql, "--format", format, "--header"]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    assert_eq!(
        run("json"),
        "{\"symbol\":\"SYM00\",\"volume\":999,\"ts\":\"2024-01-01 00:01:57.085\"}\n\
         {\"symbol\":\"SYM00\",\"volume\":999,\"ts\":\"2024-01-01 00:02:55.548\"}\n"
    );
    assert_eq!(
        run("changelog"),
        "op,symbol,volume,ts\n+I,SYM00,999,2024-01-01 00:01:57.085\n+I,SYM00,999,2024-01-01 00:02:55.548\n"
    );
    assert_eq!(
        run("table"),
        "+--------+--------+-------------------------+\n\
         | symbol | volume | ts                      |\n\
         +--------+--------+-------------------------+\n\
         | SYM00  |    999 | 2024-01-01 00:01:57.085 |\n\
         | SYM00  |    999 | 2024-01-01 00:02:55.548 |\n\
         +--------+--------+-------------------------+\n\
         2 rows in set\n\n"
    );
}

#[test]
fn malformed_json_lines_are_reported_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("events.json");
    std::fs::write(
        &data,
        "{\"id\": 1, \"name\": \"a\"}\n{\"id\": \"two\", \"name\": \"b\"}\n\n{\"id\": 3, \"name\": \"c\"}\n{\"id\": 4,\n",
    )
    .unwrap();
    let ddl = |extra: &str| {
        format!(
            "CREATE TABLE e (id INT, name STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json'{extra});\nSELECT id, name FROM e",
            data.display()
        )
    };
    let err = assert_clean_failure(&rill(&["-c", &ddl("")]));
    assert!(
        err.contains(&format!("{}:2: malformed row:", data.display())),
        "{err}"
    );
    for batch in ["1", "8192"] {
        let o = rill(&[
            "-c",
            &ddl(", 'json.ignore-parse-errors' = 'true'"),
            "--batch-size",
            batch,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        // As in Flink: a value that is no INT is NULL, a line that is no object is skipped.
        assert_eq!(stdout(&o), "1,a\n,b\n3,c\n", "batch {batch}");
        let err = stderr(&o);
        assert!(
            err.contains("ignored parse errors in 2 malformed rows"),
            "{err}"
        );
        let nulled = "2: cannot read \"two\" as INT for id; read as NULL";
        assert!(
            err.contains(&format!("{}:{nulled}", data.display())),
            "{err}"
        );
        assert!(err.contains(&format!("{}:5:", data.display())), "{err}");
        assert!(err.trim_end().ends_with("; skipped"), "{err}");
    }
}

fn conformance(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/conformance")
        .join(case)
}

#[test]
fn late_rows_dropped_by_a_window_are_counted_on_stderr() {
    let case = conformance("window_tumble_late");
    let o = rill(&["-f", case.join("query.sql").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Rows kept are the oracle's counts; the rest of the input was dropped as late.
    let expected = std::fs::read_to_string(case.join("expected.csv")).unwrap();
    let kept: u64 = expected
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    let data = std::fs::read_to_string(conformance("data").join("ticks_late.csv")).unwrap();
    let late = data.lines().count() as u64 - kept;
    assert!(late > 0);
    assert!(
        stderr(&o).contains(&format!("warning: dropped {late} late rows")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_updating_result_prints_as_a_changelog_that_materializes_to_the_sorted_result() {
    let sql = format!(
        "{}SELECT symbol, COUNT(*) AS cnt FROM ticks GROUP BY symbol",
        ticks_ddl(&ticks(), "")
    );
    let changelog = rill(&["-c", &sql, "--batch-size", "50"]);
    assert!(changelog.status.success(), "{}", stderr(&changelog));
    let sorted = rill(&["-c", &sql, "--sort"]);
    let text = stdout(&changelog);
    assert!(text.starts_with("+I,"), "{text}");
    assert!(text.contains("\n-U,") && text.contains("\n+U,"), "{text}");
    // Applying the changelog leaves exactly the rows --sort prints.
    let mut live: Vec<String> = Vec::new();
    for line in text.lines() {
        let (op, row) = line.split_once(',').unwrap();
        match op {
            "+I" | "+U" => live.push(row.to_string()),
            "-U" | "-D" => {
                let at = live
                    .iter()
                    .position(|r| r == row)
                    .expect("retracts a live row");
                live.remove(at);
            }
            other => panic!("unknown op {other}"),
        }
    }
    live.sort();
    let expected: Vec<String> = stdout(&sorted).lines().map(String::from).collect();
    assert_eq!(live, expected);
}

#[test]
fn updating_results_are_refused_where_they_cannot_go() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("counts.csv");
    let sql = format!(
        "{}CREATE TABLE counts (symbol STRING, cnt BIGINT) WITH ('connector' = 'filesystem', \
         'path' = '{}', 'format' = 'csv');\n\
         INSERT INTO counts SELECT symbol, COUNT(*) FROM ticks GROUP BY symbol;",
        ticks_ddl(&ticks(), ""),
        out.display()
    );
    let err = assert_clean_failure(&rill(&["-c", &sql]));
    assert!(
        err.contains("Table sink 'counts' doesn't support consuming update and delete changes"),
        "{err}"
    );
    assert!(!out.exists());

    let sql = format!(
        "{}CREATE VIEW counts AS SELECT symbol, MAX(ts) AS ts FROM ticks GROUP BY symbol;\n\
         SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE counts, DESCRIPTOR(ts), \
         INTERVAL '1' MINUTE)) GROUP BY window_start, window_end;",
        ticks_ddl(&ticks(), "")
    );
    let err = assert_clean_failure(&rill(&["-c", &sql]));
    assert!(
        err.contains("a window function needs an append-only input"),
        "{err}"
    );

    let sql = format!(
        "{}SELECT STRING_AGG(symbol, ',') FROM (SELECT symbol, COUNT(*) AS cnt FROM ticks GROUP BY symbol);",
        ticks_ddl(&ticks(), "")
    );
    let err = assert_clean_failure(&rill(&["-c", &sql]));
    assert!(err.contains("STRING_AGG over an updating input"), "{err}");
}

#[test]
fn window_function_errors_point_at_the_argument() {
    let sql = format!(
        "{}SELECT COUNT(*) FROM TABLE(HOP(TABLE ticks, DESCRIPTOR(tss), INTERVAL '1' MINUTE, INTERVAL '90' SECOND)) GROUP BY window_start, window_end;",
        ticks_ddl(&ticks(), "")
    );
    let err = assert_clean_failure(&rill(&["-c", &sql]));
    assert!(err.contains("column 'tss' not found"), "{err}");
    assert!(err.contains("line 4, column 45"), "{err}");
    let sql = format!(
        "{}SELECT COUNT(*) FROM TABLE(HOP(TABLE ticks, DESCRIPTOR(ts), INTERVAL '40' SECOND, INTERVAL '90' SECOND)) GROUP BY window_start, window_end;",
        ticks_ddl(&ticks(), "")
    );
    let err = assert_clean_failure(&rill(&["-c", &sql]));
    assert!(
        err.contains("must be an integral multiple of the slide"),
        "{err}"
    );
}

/// The late ticks table with extra `WITH` options.
fn late_ticks(extra_options: &str) -> String {
    ticks_ddl(&conformance("data").join("ticks_late.csv"), extra_options)
}

#[test]
fn a_window_aggregation_by_grouping_sets_sends_each_late_row_once_as_it_came() {
    let dir = tempfile::tempdir().unwrap();
    // The same window, by ROLLUP(symbol) (two grouping sets) and by symbol alone.
    let run = |group_by: &str, side: &str| {
        let side = dir.path().join(side);
        let sql = format!(
            "{}SET 'rill.late-rows' = 'side-output';\nSET 'rill.late-rows.path' = '{}';\n\
             SELECT window_start, symbol, COUNT(*) FROM TABLE(TUMBLE(TABLE ticks, \
             DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, {group_by};",
            late_ticks(""),
            side.display()
        );
        let o = rill(&["-c", &sql]);
        assert!(o.status.success(), "{}", stderr(&o));
        (stderr(&o), std::fs::read_to_string(side).unwrap())
    };
    let (rollup_log, rollup_late) = run("ROLLUP(symbol)", "rollup.csv");
    let (plain_log, plain_late) = run("symbol", "plain.csv");
    assert!(plain_late.lines().count() > 10, "{plain_late}");
    assert_eq!(rollup_late, plain_late);
    let dropped = |log: &str| {
        log.lines()
            .find(|l| l.contains("late rows"))
            .map(str::to_owned)
    };
    assert_eq!(dropped(&rollup_log), dropped(&plain_log));
}

#[test]
fn late_rows_can_go_to_a_side_file() {
    let dir = tempfile::tempdir().unwrap();
    let side = dir.path().join("late.csv");
    let case = conformance("window_tumble_late");
    let query = std::fs::read_to_string(case.join("query.sql")).unwrap();
    let query = &query[query.find("SELECT").unwrap()..];
    // Per query, with SET.
    let sql = format!(
        "{}SET 'rill.late-rows' = 'side-output';\nSET 'rill.late-rows.path' = '{}';\n{query}",
        late_ticks(""),
        side.display()
    );
    let o = rill(&["-c", &sql, "--sort", "--header"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = std::fs::read_to_string(case.join("expected.csv")).unwrap();
    assert_eq!(stdout(&o), expected, "the results are Flink's");
    let kept: usize = expected
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().parse::<usize>().unwrap())
        .sum();
    let total = std::fs::read_to_string(conformance("data").join("ticks_late.csv"))
        .unwrap()
        .lines()
        .count();
    let late = std::fs::read_to_string(&side).unwrap();
    assert_eq!(
        late.lines().count(),
        1 + total - kept,
        "header and every late row"
    );
    // The columns the window aggregation reads (the event time was projected away).
    assert!(
        late.starts_with("symbol,price,volume,window_start,window_end\n"),
        "{late}"
    );
}

#[test]
fn late_rows_of_match_recognize_can_go_to_a_side_file() {
    let dir = tempfile::tempdir().unwrap();
    let side = dir.path().join("late.csv");
    let case = conformance("match_vshape_late");
    let query = std::fs::read_to_string(case.join("query.sql")).unwrap();
    let query = &query[query.find("SELECT").unwrap()..];
    let options = format!(
        ", 'rill.late-rows' = 'side-output', 'rill.late-rows.path' = '{}'",
        side.display()
    );
    let o = rill(&[
        "-c",
        &format!("{}{query}", late_ticks(&options)),
        "--sort",
        "--header",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = std::fs::read_to_string(case.join("expected.csv")).unwrap();
    assert_eq!(stdout(&o), expected, "the results are Flink's");
    // Flink's rule, counted here: a row is late when its time is at or before the watermark
    // of the rows before it (their latest time less 5 s).
    let data = std::fs::read_to_string(conformance("data").join("ticks_late.csv")).unwrap();
    // `2024-01-01 HH:MM:SS.mmm,...`: milliseconds of the day.
    let millis = |line: &str| -> i64 {
        let n = |a: usize, b: usize| line[a..b].parse::<i64>().unwrap();
        ((n(11, 13) * 60 + n(14, 16)) * 60 + n(17, 19)) * 1000 + n(20, 23)
    };
    let mut latest = i64::MIN / 2;
    let mut late = 0;
    for line in data.lines() {
        let t = millis(line);
        if t <= latest - 5000 {
            late += 1;
        }
        latest = latest.max(t);
    }
    let written = std::fs::read_to_string(&side).unwrap();
    assert!(late > 10, "the data has late rows");
    assert_eq!(
        written.lines().count(),
        1 + late,
        "header and every late row"
    );
    // The columns MATCH_RECOGNIZE reads (ONE ROW PER MATCH: volume is not one of them), as a
    // window aggregation's late rows have the columns it reads.
    assert!(written.starts_with("ts,symbol,price\n"), "{written}");
}

#[test]
fn late_rows_to_a_side_file_take_part_in_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let case = conformance("window_tumble_late");
    let query = std::fs::read_to_string(case.join("query.sql")).unwrap();
    let query = &query[query.find("SELECT").unwrap()..];
    let job = |side: &Path, checkpoints: Option<&Path>| {
        let mut sql = format!(
            "SET 'rill.late-rows' = 'side-output';\nSET 'rill.late-rows.path' = '{}';\n",
            side.display()
        );
        if let Some(checkpoints) = checkpoints {
            sql.push_str(&format!(
                "SET 'execution.checkpointing.interval' = '10 ms';\n\
                 SET 'execution.checkpointing.dir' = '{}';\n",
                checkpoints.display()
            ));
        }
        format!("{sql}{}{query}", late_ticks(""))
    };
    let plain = dir.path().join("plain.csv");
    let o = rill(&["-c", &job(&plain, None)]);
    assert!(o.status.success(), "{}", stderr(&o));
    // EXPLAIN shows the side file's sink beside the result's.
    let explain = job(&plain, None).replace(query, &format!("EXPLAIN {query}"));
    let o = rill(&["-c", &explain]);
    assert!(stdout(&o).contains("sink late rows"), "{}", stdout(&o));

    let side = dir.path().join("late.csv");
    let checkpoints = dir.path().join("checkpoints");
    let o = rill(&["-c", &job(&side, Some(&checkpoints))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = std::fs::read_to_string(&plain).unwrap();
    assert!(expected.lines().count() > 20, "the data has late rows");
    assert_eq!(std::fs::read_to_string(&side).unwrap(), expected);
    // Run again, the job finished: its side file is committed already and stays as it is.
    let o = rill(&["-c", &job(&side, Some(&checkpoints))]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("finished"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&side).unwrap(), expected);
}

#[test]
fn late_rows_of_two_operators_are_refused_one_side_file() {
    let window = "TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '10' SECOND))";
    let sql = format!(
        "SET 'rill.late-rows' = 'side-output';\nSET 'rill.late-rows.path' = '/tmp/late.csv';\n\
         {}SELECT a.symbol, a.price, b.price FROM {window} a JOIN {window} b \
         ON a.window_start = b.window_start AND a.window_end = b.window_end \
         AND a.symbol = b.symbol",
        late_ticks("")
    );
    let err = assert_clean_failure(&rill(&["-c", &sql]));
    assert!(err.contains("(or of both inputs of one)"), "{err}");
    // A window over a window's results: both operators would write the file.
    let sql = format!(
        "SET 'rill.late-rows' = 'side-output';\nSET 'rill.late-rows.path' = '/tmp/late.csv';\n\
         {}CREATE VIEW w AS SELECT window_time AS t, COUNT(*) AS c FROM {window} \
         GROUP BY window_start, window_end, window_time;\n\
         SELECT window_start, SUM(c) FROM TABLE(TUMBLE(TABLE w, DESCRIPTOR(t), \
         INTERVAL '1' MINUTE)) GROUP BY window_start, window_end",
        late_ticks("")
    );
    let err = assert_clean_failure(&rill(&["-c", &sql]));
    assert!(err.contains("late rows of two operators"), "{err}");
}

#[test]
fn current_watermark_is_refused_off_a_time_attribute_and_outside_select_and_where() {
    for (query, error) in [
        (
            "SELECT CURRENT_WATERMARK(price) FROM ticks",
            "CURRENT_WATERMARK takes a time attribute",
        ),
        (
            "SELECT symbol, MAX(CURRENT_WATERMARK(ts)) FROM ticks GROUP BY symbol",
            "CURRENT_WATERMARK is supported in SELECT and WHERE",
        ),
    ] {
        let err = assert_clean_failure(&rill(&["-c", &format!("{}{query}", late_ticks(""))]));
        assert!(err.contains(error), "{query}: {err}");
    }
}

#[test]
fn late_rows_within_the_allowed_lateness_update_the_window() {
    let windows = "SELECT window_start, symbol, COUNT(*) AS cnt, SUM(volume) AS v \
                   FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) \
                   GROUP BY window_start, window_end, symbol;";
    let sql = format!(
        "{}{windows}",
        late_ticks(", 'rill.late-rows' = 'update', 'rill.allowed-lateness' = '5 min'")
    );
    // The late ticks are at most a minute late: every one updates its window, so the final
    // result is the plain per-minute aggregate of all rows.
    let reference = format!(
        "{}SELECT date_trunc('minute', ts), symbol, COUNT(*), SUM(volume) FROM ticks \
         GROUP BY date_trunc('minute', ts), symbol;",
        late_ticks("")
    );
    let updated = rill(&["-c", &sql, "--sort", "--batch-size", "1"]);
    assert!(updated.status.success(), "{}", stderr(&updated));
    let all = rill(&["-c", &reference, "--sort"]);
    assert_eq!(stdout(&updated), stdout(&all));
    let changelog = stdout(&rill(&["-c", &sql, "--batch-size", "1"]));
    assert!(
        changelog.contains("\n-U,") && changelog.contains("\n+U,"),
        "{changelog}"
    );

    let over = format!(
        "{}SELECT ts, COUNT(*) OVER (ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM ticks;",
        late_ticks(", 'rill.late-rows' = 'update', 'rill.allowed-lateness' = '1 min'")
    );
    let err = assert_clean_failure(&rill(&["-c", &over]));
    assert!(err.contains("applies to window aggregation only"), "{err}");
    let missing = late_ticks(", 'rill.late-rows' = 'update'");
    let err = assert_clean_failure(&rill(&["-c", &missing]));
    assert!(err.contains("needs 'rill.allowed-lateness'"), "{err}");
}

#[test]
fn grouping_sets_rill_cannot_answer_as_flink_are_refused() {
    for (select, refusal) in [
        (
            "SELECT symbol, COUNT(*) FROM ticks GROUP BY GROUPING SETS ((symbol), (), ())",
            "a grouping set that repeats another is not supported",
        ),
        (
            "SELECT window_start, symbol, COUNT(*) FROM TABLE(TUMBLE(TABLE ticks, \
             DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY ROLLUP(window_start, window_end, \
             symbol)",
            "needs window_start and window_end in every grouping set",
        ),
    ] {
        let sql = format!("{}{select};", ticks_ddl(&ticks(), ""));
        let err = assert_clean_failure(&rill(&["-c", &sql]));
        assert!(err.contains(refusal), "{select}: {err}");
    }
}

#[test]
fn over_frames_rill_cannot_compute_are_refused_by_name() {
    for (frame, select, refusal) in [
        (
            "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING",
            "SUM(volume)",
            "the OVER frame ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING is not \
             supported on streams",
        ),
        (
            "ROWS BETWEEN 2 PRECEDING AND 1 FOLLOWING",
            "FIRST_VALUE(price)",
            "the OVER frame ROWS BETWEEN 2 PRECEDING AND 1 FOLLOWING is not supported on \
             streams",
        ),
    ] {
        let sql = format!(
            "{}SELECT {select} OVER (PARTITION BY symbol ORDER BY ts {frame}) FROM ticks;",
            ticks_ddl(&ticks(), "")
        );
        let err = assert_clean_failure(&rill(&["-c", &sql]));
        assert!(err.contains(refusal), "{frame}: {err}");
    }
}

#[test]
fn distinct_aggregates_whose_order_flink_keeps_otherwise_are_refused() {
    for (query, refusal) in [
        (
            "SELECT LISTAGG(DISTINCT symbol) FROM ticks",
            "LISTAGG(DISTINCT ...) is not supported yet",
        ),
        (
            "SELECT symbol, ARRAY_AGG(DISTINCT volume) FROM TABLE(TUMBLE(TABLE ticks, \
             DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY symbol, window_start, window_end",
            "ARRAY_AGG(DISTINCT ...) in a window aggregation is not supported yet",
        ),
        (
            "SELECT ARRAY_AGG(DISTINCT volume) OVER (PARTITION BY symbol ORDER BY ts \
             ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM ticks",
            "ARRAY_AGG(DISTINCT ...) over a bounded frame is not supported yet",
        ),
    ] {
        let sql = format!("{}{query};", ticks_ddl(&ticks(), ""));
        let err = assert_clean_failure(&rill(&["-c", &sql]));
        assert!(err.contains(refusal), "{query}: {err}");
    }
}

#[test]
fn random_values_in_over_arguments_are_refused() {
    // Flink draws them in arrival order before the window; rill would in the window's order.
    for call in [
        "SUM(RAND_INTEGER(1, 10))",
        "LAG(UUID())",
        "COUNT(*) FILTER (WHERE RAND() < 0.5)",
    ] {
        let sql = format!(
            "{}SELECT {call} OVER (PARTITION BY symbol ORDER BY ts) FROM ticks;",
            ticks_ddl(&ticks(), "")
        );
        let err = assert_clean_failure(&rill(&["-c", &sql]));
        assert!(
            err.contains("differ from call to call (RAND, UUID, ...) in the arguments of"),
            "{call}: {err}"
        );
    }
}

#[test]
fn lag_and_numbering_are_refused_where_flink_refuses_them() {
    let over = "OVER (PARTITION BY symbol ORDER BY ts)";
    for (select, refusal) in [
        (
            "RANK() OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 1 PRECEDING AND \
             CURRENT ROW)"
                .to_string(),
            "ROW/RANGE not allowed with RANK, DENSE_RANK or ROW_NUMBER",
        ),
        (
            // ROW_NUMBER counts over ROWS, COUNT over RANGE: two windows.
            format!("ROW_NUMBER() {over}, COUNT(*) {over}"),
            "must have the same PARTITION BY, ORDER BY and frame",
        ),
        (
            format!("* FROM (SELECT symbol, DENSE_RANK() {over} AS r FROM ticks) WHERE r <= 2"),
            "DENSE_RANK() on streaming table is not supported currently",
        ),
        (
            format!("NTILE(2) {over}"),
            "NTILE is a Flink function rill does not have",
        ),
        (
            format!("LEAD(price) {over}"),
            "LEAD is a Flink function rill does not have",
        ),
        (
            format!(
                "LAG(price) {over}, SUM(volume) OVER (PARTITION BY symbol ORDER BY ts \
                 ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"
            ),
            "All aggregates must be computed on the same window",
        ),
        (
            format!("LAG(price, CAST(volume AS INT)) {over}"),
            "offset of LAG must be a constant",
        ),
        (
            "LAG(price) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 2 PRECEDING AND \
             CURRENT ROW)"
                .to_string(),
            "ROW/RANGE not allowed with LAG",
        ),
    ] {
        // Each SELECT reads ticks, in a subquery or after its list.
        let from = if select.contains("FROM") {
            ""
        } else {
            " FROM ticks"
        };
        let sql = format!("{}SELECT {select}{from};", ticks_ddl(&ticks(), ""));
        let err = assert_clean_failure(&rill(&["-c", &sql]));
        assert!(err.contains(refusal), "{select}: {err}");
    }
}

#[test]
fn a_reader_that_stops_reading_ends_the_query_quietly() {
    use std::io::BufRead;
    // More output (80 kB) than a pipe holds, so writing goes on after the reader is gone.
    let sql = format!("{}SELECT * FROM ticks", ticks_ddl(&ticks(), ""));
    let mut child = spawn(&["-c", &sql], &std::env::temp_dir());
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("2024-01-01"), "{first}");
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
}

#[test]
fn an_updating_result_as_a_table_shows_the_change_kinds() {
    let sql = format!(
        "{}SELECT symbol, COUNT(*) AS cnt FROM ticks GROUP BY symbol",
        ticks_ddl(&ticks(), "")
    );
    let o = rill(&["-c", &sql, "--format", "table", "--batch-size", "1000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "| op | symbol | cnt |", "{text}");
    // ticks_small.csv has 2000 rows: two batches, so each symbol is inserted, then updated.
    assert_eq!(text.matches("| +I |").count(), 3, "{text}");
    assert_eq!(text.matches("| -U |").count(), 3, "{text}");
    assert_eq!(text.matches("| +U |").count(), 3, "{text}");
}

#[test]
fn a_failing_statement_names_its_line_and_can_be_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.sql");
    std::fs::write(
        &file,
        "SELECT 1 AS a;\n\
         CREATE TABLE t (a INT) WITH ('connector' = 'filesystem', 'path' = '/no/such.csv', 'format' = 'csv');\n\
         SELECT * FROM t;\n\
         SELECT 2 AS b;\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let o = rill(&["-f", path]);
    let err = assert_clean_failure(&o);
    assert!(err.contains("/no/such.csv"), "{err}");
    assert!(
        err.contains(&format!(" --> {path}:3: in the statement starting here")),
        "{err}"
    );
    assert_eq!(stdout(&o), "1\n", "stops at the failing statement");
    let o = rill(&["-f", path, "--continue-on-error"]);
    assert_clean_failure(&o);
    assert_eq!(stdout(&o), "1\n2\n", "goes on after it");
}

/// Runs the interactive shell with `input` typed in (stdin is a pipe).
fn shell(input: &str) -> Output {
    use std::io::Write;
    let mut child = spawn(&[], &std::env::temp_dir());
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn meta_commands_describe_include_redirect_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let include = dir.path().join("inc.sql");
    std::fs::write(&include, "SELECT 41 + 1 AS answer;\n").unwrap();
    let out = dir.path().join("out.csv");
    let input = format!(
        "{}\\d\n\\d ticks\n\\format csv\n\\i {}\n\\o {}\nSELECT 7 AS x;\n\\o\n\\timing\nSELECT 8 AS y;\n\\nope\n\\q\n",
        ticks_ddl(&ticks(), ""),
        include.display(),
        out.display()
    );
    let o = shell(&input);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("table name\nticks\n"),
        "\\d lists tables: {text}"
    );
    assert!(
        text.contains("ts,TIMESTAMP(3)"),
        "\\d ticks describes it: {text}"
    );
    assert!(text.contains("\n42\n"), "\\i runs the file: {text}");
    assert!(!text.contains("\n7\n"), "\\o sends results away: {text}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "7\n");
    assert!(text.contains("\n8\nTime: "), "\\timing: {text}");
    assert!(
        stderr(&o).contains("unknown meta-command \\nope"),
        "{}",
        stderr(&o)
    );
}

/// Lines of a child's output as they come, with a deadline so a stuck job fails the test.
struct LiveOutput {
    lines: std::sync::mpsc::Receiver<String>,
}

impl LiveOutput {
    fn of(child: &mut std::process::Child) -> LiveOutput {
        use std::io::BufRead;
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        LiveOutput { lines }
    }

    fn next(&self) -> String {
        self.lines
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("a row within 20 s")
    }
}

#[test]
fn stdin_rows_are_handed_on_as_they_arrive() {
    use std::io::Write;
    let sql = "CREATE TABLE s (a INT, b STRING) WITH ('connector' = 'stdin', 'format' = 'csv');\n\
               SELECT a * 10, b FROM s";
    let mut child = spawn(&["-c", sql], &std::env::temp_dir());
    let mut input = child.stdin.take().unwrap();
    let output = LiveOutput::of(&mut child);
    input.write_all(b"1,x\n").unwrap();
    input.flush().unwrap();
    // The first row comes out while the input is still open.
    assert_eq!(output.next(), "10,x");
    input.write_all(b"2,y").unwrap();
    drop(input);
    assert_eq!(output.next(), "20,y");
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_satisfied_limit_ends_the_query_while_its_input_stays_open() {
    use std::io::{Read, Write};
    let sql = "CREATE TABLE s (a INT, b STRING) WITH ('connector' = 'stdin', 'format' = 'csv');\n\
               SELECT a, b FROM s WHERE a > 1 LIMIT 2";
    let mut child = spawn(&["-c", sql], &std::env::temp_dir());
    let mut input = child.stdin.take().unwrap();
    input.write_all(b"1,w\n2,x\n3,y\n4,z\n").unwrap();
    input.flush().unwrap();
    // The input is still open: only the LIMIT can end the query.
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the query did not end after its LIMIT"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(status.success());
    assert_eq!(out, "2,x\n3,y\n");
    drop(input);
}

#[test]
fn a_monitored_file_is_followed_as_it_grows() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grow.csv");
    std::fs::write(&path, "1,a\n").unwrap();
    let sql = format!(
        "CREATE TABLE g (a INT, b STRING) WITH ('connector' = 'filesystem', 'path' = '{}', \
         'format' = 'csv', 'source.monitor-interval' = '50 ms');\nSELECT a, b FROM g",
        path.display()
    );
    let mut child = spawn(&["-c", &sql], &std::env::temp_dir());
    let output = LiveOutput::of(&mut child);
    assert_eq!(output.next(), "1,a");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    // A line written in two parts is read once it is whole.
    file.write_all(b"2,").unwrap();
    file.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    file.write_all(b"b\n").unwrap();
    assert_eq!(output.next(), "2,b");
    // The job runs on until stopped.
    assert!(child.try_wait().unwrap().is_none());
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn the_result_mode_of_flinks_client_chooses_the_format() {
    let o = shell(&format!(
        "{}SET 'sql-client.execution.result-mode' = 'changelog';\nSELECT 1 AS x;\n\
         SET 'sql-client.execution.result-mode' = 'table';\n\
         SELECT symbol, COUNT(*) AS n FROM ticks GROUP BY symbol;\n\
         SET 'sql-client.execution.result-mode' = 'pretty';\n\\q\n",
        ticks_ddl(&ticks(), "")
    ));
    let text = stdout(&o);
    assert!(text.contains("\n+I,1\n"), "{text}");
    // Off a terminal, the table mode draws the final rows once.
    assert!(
        text.contains("| SYM00  | 681 |\n| SYM01  | 675 |\n| SYM02  | 644 |\n"),
        "{text}"
    );
    assert!(!text.contains("-U"), "{text}");
    assert!(
        stderr(&o).contains("unknown 'sql-client.execution.result-mode' = 'pretty'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn inserts_in_the_shell_run_as_background_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let growing = dir.path().join("grow.csv");
    std::fs::write(&growing, "1,a\n").unwrap();
    let out = dir.path().join("out.csv");
    let mut shell = Typing::new(dir.path());
    shell.type_in(
        &format!(
            "CREATE TABLE g (a INT, b STRING) WITH ('connector' = 'filesystem', 'path' = '{}', \
             'format' = 'csv', 'source.monitor-interval' = '50 ms');\n\
             CREATE TABLE o (a INT, b STRING) WITH ('connector' = 'blackhole');\n\
             CREATE TABLE f (a INT, b STRING) WITH ('connector' = 'filesystem', 'path' = '{}', \
             'format' = 'csv');\n\
             INSERT INTO o SELECT * FROM g;\n",
            growing.display(),
            out.display()
        ),
        1500,
    );
    shell.type_in("SHOW JOBS;\nSTOP JOB '1';\n", 1500);
    shell.type_in("INSERT INTO f SELECT * FROM g2;\n", 0);
    shell.type_in(
        &format!(
            "CREATE TABLE g2 (a INT, b STRING) WITH ('connector' = 'filesystem', 'path' = '{}', \
             'format' = 'csv');\nINSERT INTO f SELECT a + 1, b FROM g2;\n",
            growing.display()
        ),
        1500,
    );
    shell.type_in("SHOW JOBS;\n\\q\n", 0);
    let o = shell.output();
    let text = stdout(&o);
    assert!(text.contains("[INFO] Job 1 submitted"), "{text}");
    assert!(
        text.contains("1,INSERT INTO o SELECT * FROM g,RUNNING,1,"),
        "a following job runs on: {text}"
    );
    assert!(text.contains("[INFO] Job 1 is stopping."), "{text}");
    assert!(
        text.contains("1,INSERT INTO o SELECT * FROM g,STOPPED,"),
        "{text}"
    );
    assert!(
        text.contains("2,\"INSERT INTO f SELECT a + 1, b FROM g2\",FINISHED,1,1,"),
        "a bounded job ends: {text}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "2,a\n");
    // The failed INSERT (unknown table) was refused at planning and made no job.
    assert!(stderr(&o).contains("g2"), "{}", stderr(&o));
}

#[test]
fn a_match_is_emitted_as_soon_as_it_is_certain() {
    use std::io::Write;
    let sql = "CREATE TABLE s (id INT, ts TIMESTAMP(3), v INT, WATERMARK FOR ts AS ts) \
               WITH ('connector' = 'stdin', 'format' = 'csv');\n\
               SELECT * FROM s MATCH_RECOGNIZE (ORDER BY ts \
               MEASURES A.id AS a, LAST(B.id) AS b PATTERN (A B+) DEFINE B AS B.v > PREV(B.v))";
    let mut child = spawn(&["-c", sql], &std::env::temp_dir());
    let mut input = child.stdin.take().unwrap();
    let output = LiveOutput::of(&mut child);
    let mut send = |row: &str| {
        input.write_all(row.as_bytes()).unwrap();
        input.flush().unwrap();
    };
    send("1,2024-01-01 00:00:01,10\n2,2024-01-01 00:00:02,20\n3,2024-01-01 00:00:03,30\n");
    // The greedy B+ could still take row 4; once row 4 breaks the rise, the match is certain
    // and comes out while the input is still open.
    send("4,2024-01-01 00:00:04,5\n");
    assert_eq!(output.next(), "1,3");
    send("5,2024-01-01 00:00:05,6\n");
    drop(input);
    // At the end of the input the open match (rows 4, 5) is complete.
    assert_eq!(output.next(), "4,5");
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_long_window_gives_early_results_as_the_watermark_passes_each_interval() {
    use std::io::Write;
    let sql = "SET 'rill.emit.early-fire.event-time-interval' = '10 s';\n\
               CREATE TABLE s (k STRING, v INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) \
               WITH ('connector' = 'stdin', 'format' = 'csv');\n\
               SELECT k, window_start, SUM(v) AS total FROM TABLE(\
               TUMBLE(TABLE s, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) \
               GROUP BY k, window_start, window_end";
    // One instance, so that groups come out in the order they were first seen.
    let mut child = spawn(&["-p", "1", "-c", sql], &std::env::temp_dir());
    let mut input = child.stdin.take().unwrap();
    let output = LiveOutput::of(&mut child);
    let mut send = |rows: &str| {
        input.write_all(rows.as_bytes()).unwrap();
        input.flush().unwrap();
    };
    let minute = "2024-01-01 00:00:00.000";
    send("a,1,2024-01-01 00:00:01\na,2,2024-01-01 00:00:05\nb,4,2024-01-01 00:00:08\n");
    // The watermark passes 00:00:10 after this row: the minute's first result (of the rows
    // that came before), while the minute is still open.
    send("a,10,2024-01-01 00:00:12\n");
    assert_eq!(output.next(), format!("+I,a,{minute},13"));
    assert_eq!(output.next(), format!("+I,b,{minute},4"));
    send("b,5,2024-01-01 00:00:25\n");
    // At 00:00:20: only b changed.
    assert_eq!(output.next(), format!("-U,b,{minute},4"));
    assert_eq!(output.next(), format!("+U,b,{minute},9"));
    send("b,1,2024-01-01 00:00:26\n");
    drop(input);
    // At the end the window closes: b changed since its last early result, a did not.
    assert_eq!(output.next(), format!("-U,b,{minute},9"));
    assert_eq!(output.next(), format!("+U,b,{minute},10"));
    assert!(child.wait().unwrap().success());
}

#[test]
fn flinks_early_firing_gives_early_results_every_so_often_by_the_clock() {
    use std::io::Write;
    let sql = "SET 'table.exec.emit.early-fire.enabled' = 'true';\n\
               SET 'table.exec.emit.early-fire.delay' = '100 ms';\n\
               CREATE TABLE s (k STRING, v INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) \
               WITH ('connector' = 'stdin', 'format' = 'csv');\n\
               SELECT k, window_start, SUM(v) AS total FROM TABLE(\
               TUMBLE(TABLE s, DESCRIPTOR(ts), INTERVAL '1' HOUR)) \
               GROUP BY k, window_start, window_end";
    let mut child = spawn(&["-c", sql], &std::env::temp_dir());
    let mut input = child.stdin.take().unwrap();
    let output = LiveOutput::of(&mut child);
    let mut send = |rows: &str| {
        input.write_all(rows.as_bytes()).unwrap();
        input.flush().unwrap();
    };
    let hour = "2024-01-01 00:00:00.000";
    // The watermark stays inside the hour: only the clock makes results come early.
    send("a,1,2024-01-01 00:00:01\n");
    assert_eq!(output.next(), format!("+I,a,{hour},1"));
    send("a,2,2024-01-01 00:10:00\n");
    assert_eq!(output.next(), format!("-U,a,{hour},1"));
    assert_eq!(output.next(), format!("+U,a,{hour},3"));
    // The next ticks find nothing changed: nothing more comes, and the hour closes at the
    // end of the input unchanged since its last early result.
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(input);
    assert!(child.wait().unwrap().success());
    assert!(
        output.lines.try_recv().is_err(),
        "nothing after the early results"
    );
}

#[test]
fn flinks_early_firing_needs_its_delay() {
    let sql = format!(
        "SET 'table.exec.emit.early-fire.enabled' = 'true';\n{}\
         SELECT symbol, window_start, COUNT(*) FROM TABLE(\
         TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) \
         GROUP BY symbol, window_start, window_end",
        ticks_ddl(&ticks(), "")
    );
    let err = assert_clean_failure(&rill(&["-c", &sql]));
    assert!(err.contains("'table.exec.emit.early-fire.delay'"), "{err}");
}

#[test]
fn explain_shows_the_match_recognize_automaton_as_text_and_dot() {
    let query = "SELECT * FROM ticks MATCH_RECOGNIZE (PARTITION BY symbol ORDER BY ts \
                 MEASURES A.ts AS a PATTERN (A B+? (C | D)) \
                 DEFINE B AS B.price < A.price, C AS C.volume > 900)";
    let o = rill(&["-c", &format!("{}EXPLAIN {query}", ticks_ddl(&ticks(), ""))]);
    let text = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    // Reluctant B+?: after one B, ending the loop is preferred to another B.
    assert!(
        text.contains(
            "== MATCH_RECOGNIZE automaton ==\npattern: (A B{1,}? (C | D))\nstart -> s0:A\n\
             s0:A -> s1:B\ns1:B -> s8:C | s10:D | s4:B\ns4:B -> s8:C | s10:D | s4:B (loop)\n\
             s8:C -> accept\ns10:D -> accept\n"
        ),
        "{text}"
    );
    let o = rill(&[
        "-c",
        &format!("{}EXPLAIN (FORMAT DOT) {query}", ticks_ddl(&ticks(), "")),
    ]);
    let dot = stdout(&o);
    assert!(dot.starts_with("digraph nfa {"), "{dot}");
    assert!(dot.contains("  s4 -> s4 [label=\"3\"];\n"), "{dot}");
    let o = rill(&[
        "-c",
        &format!(
            "{}EXPLAIN FORMAT GRAPHVIZ SELECT * FROM ticks",
            ticks_ddl(&ticks(), "")
        ),
    ]);
    assert!(
        stderr(&o).contains("this statement has none"),
        "{}",
        stderr(&o)
    );
}

/// Two ticks tables, `a` and `b`, over the same file.
fn two_ticks_tables() -> String {
    ticks_ddl(&ticks(), "").replace("TABLE ticks", "TABLE a")
        + &ticks_ddl(&ticks(), "").replace("TABLE ticks", "TABLE b")
}

#[test]
fn a_window_over_a_regular_join_is_refused_as_flink_refuses_it() {
    let sql = two_ticks_tables()
        + "CREATE TEMPORARY VIEW j AS SELECT a.ts, b.price FROM a JOIN b ON a.symbol = b.symbol;\n\
           SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE j, DESCRIPTOR(ts), \
           INTERVAL '1' MINUTE)) GROUP BY window_start, window_end;";
    let err = assert_clean_failure(&rill(&["-c", &sql]));
    assert!(
        err.contains("needs a time attribute") && err.contains("regular join"),
        "{err}"
    );
}

#[test]
fn unnamed_result_columns_are_named_as_flink_names_them() {
    let o = rill(&["-c", "SELECT 1 + 1, 'a' AS a, UPPER('b')", "--header"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "EXPR$0,a,EXPR$2\n2,a,B\n");
}

#[test]
fn computed_columns_compute_and_a_missing_function_in_one_is_refused_at_it() {
    let table = |column: &str| {
        format!(
            "CREATE TABLE c (a INT, {column}, b STRING) WITH ('connector' = 'stdin', \
             'format' = 'csv');\nSELECT * FROM c;"
        )
    };
    let mut child = spawn(&["-c", &table("twice AS a * 2")], &std::env::temp_dir());
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(b"21,x\n2147483647,y\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // The computed column stands where it is declared and wraps as Flink's INT does.
    assert_eq!(stdout(&out), "21,42,x\n2147483647,-2,y\n");
    let err = assert_clean_failure(&rill(&["-c", &table("j AS PARSE_JSON(b)")]));
    assert!(
        err.contains("PARSE_JSON is a Flink function rill does not have yet") && err.contains("^"),
        "{err}"
    );
}

/// Milliseconds since the epoch by the clock.
fn clock_millis() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.unwrap().as_millis() as i64
}

#[test]
fn proctime_is_the_clock_when_rows_are_computed() {
    let sql = "CREATE TABLE c (a INT, p AS PROCTIME()) WITH ('connector' = 'stdin', \
               'format' = 'csv');\nSELECT a, p, \
               UNIX_TIMESTAMP(DATE_FORMAT(p, 'yyyy-MM-dd HH:mm:ss')) FROM c;";
    let before = clock_millis();
    let mut child = spawn(&["-c", sql], &std::env::temp_dir());
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"7\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let after = clock_millis();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let fields: Vec<&str> = text.trim().split(',').collect();
    let [a, p, seconds] = fields.as_slice() else {
        panic!("one row of three columns: {text}");
    };
    assert_eq!(*a, "7");
    // A TIMESTAMP_LTZ(3) (milliseconds shown) read from the clock while the job ran.
    let seconds: i64 = seconds.parse().unwrap();
    assert!(
        before / 1000 <= seconds && seconds <= after / 1000,
        "{text}"
    );
    assert!(p.len() == "2024-01-01 00:00:00.000".len(), "{text}");
}

/// The orders of the conformance data, customers read with `customers` (connector options),
/// then `query`.
fn orders_and_customers(customers: &str, query: &str) -> String {
    format!(
        "CREATE TABLE orders (ts TIMESTAMP(3), order_id BIGINT, customer_id BIGINT, amount INT,\n  \
         proc AS PROCTIME(), WATERMARK FOR ts AS ts - INTERVAL '3' SECOND)\n  \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');\n\
         CREATE TABLE customers (ts TIMESTAMP(3), id BIGINT, name STRING, region STRING)\n  \
         WITH ({customers});\n{query}",
        conformance_data("orders.json").display(),
    )
}

#[test]
fn what_processing_time_does_not_order_yet_is_refused() {
    let file = format!(
        "'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv'",
        conformance_data("customers.csv").display()
    );
    // Nexmark q12's shape: a view adds the attribute (window aggregation over it works).
    let view = "CREATE VIEW p AS SELECT order_id, customer_id, amount, PROCTIME() AS p_time \
                FROM orders;\n";
    for (query, what) in [
        (
            "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end \
             ORDER BY amount DESC) AS rn FROM TABLE(TUMBLE(TABLE p, DESCRIPTOR(p_time), \
             INTERVAL '10' SECOND))) WHERE rn <= 2",
            "window Top-N over windows of",
        ),
        (
            "SELECT customer_id, window_start, COUNT(*) FROM TABLE(SESSION(TABLE p PARTITION BY \
             customer_id, DESCRIPTOR(p_time), INTERVAL '10' SECOND)) \
             GROUP BY customer_id, window_start, window_end",
            "a window on",
        ),
        (
            "SELECT SUM(amount) OVER (ORDER BY p_time ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) \
             FROM p",
            "OVER on",
        ),
        (
            "SELECT * FROM p MATCH_RECOGNIZE (ORDER BY p_time MEASURES A.amount AS a \
             PATTERN (A) DEFINE A AS A.amount > 0)",
            "MATCH_RECOGNIZE on",
        ),
    ] {
        let sql = orders_and_customers(&file, &format!("{view}{query};"));
        let err = assert_clean_failure(&rill(&["-c", &sql]));
        assert!(
            err.contains(&format!("{what} processing time")),
            "{query}: {err}"
        );
    }
}

#[test]
fn a_lookup_join_is_explained_and_refused_where_it_cannot_read_its_table_first() {
    let file = format!(
        "'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv'",
        conformance_data("customers.csv").display()
    );
    let lookup = "SELECT o.order_id, c.name FROM orders o \
                  JOIN customers FOR SYSTEM_TIME AS OF o.proc AS c ON o.customer_id = c.id";
    let o = rill(&[
        "-c",
        &orders_and_customers(&file, &format!("EXPLAIN {lookup};")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("LookupJoin INNER (1 key column"),
        "{}",
        stdout(&o)
    );
    // Without an equality there is no key to look up by.
    let theta = lookup.replace("o.customer_id = c.id", "o.customer_id < c.id");
    let err = assert_clean_failure(&rill(&["-c", &orders_and_customers(&file, &theta)]));
    assert!(err.contains("requires an equality condition"), "{err}");
    // A table that never ends cannot be read first.
    let stdin = "'connector' = 'stdin', 'format' = 'csv'";
    let err = assert_clean_failure(&rill(&["-c", &orders_and_customers(stdin, lookup)]));
    assert!(err.contains("this table never ends"), "{err}");
    // On event time the table must be versioned, as in Flink, with the spot shown.
    let event_time = lookup.replace("o.proc", "o.ts");
    let err = assert_clean_failure(&rill(&["-c", &orders_and_customers(&file, &event_time)]));
    assert!(
        err.contains("Temporal Table Join requires primary key") && err.contains('^'),
        "{err}"
    );
}

#[test]
fn right_and_full_joins_using_a_column_are_refused_with_a_caret() {
    for kind in ["RIGHT", "FULL"] {
        let sql = two_ticks_tables()
            + &format!("SELECT symbol, a.price FROM a {kind} JOIN b USING (symbol);");
        let err = assert_clean_failure(&rill(&["-c", &sql]));
        assert!(
            err.contains(&format!("{kind} JOIN with USING")) && err.contains("^"),
            "{err}"
        );
    }
}

#[test]
fn an_updating_result_written_as_debezium_json_reads_back_as_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("totals.json");
    let ddl = |name: &str| {
        format!(
            "CREATE TABLE {name} (symbol STRING, n BIGINT, high DOUBLE) WITH (\
             'connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n",
            out.display()
        )
    };
    let aggregate = "SELECT symbol, COUNT(*), MAX(price) FROM ticks GROUP BY symbol";
    let write =
        ticks_ddl(&ticks(), "") + &ddl("totals") + &format!("INSERT INTO totals {aggregate};");
    let o = rill(&["-c", &write, "--batch-size", "100"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let events = std::fs::read_to_string(&out).unwrap();
    assert!(
        events.contains(r#""op":"d""#),
        "updates are written as deletes and creates"
    );
    let read = ddl("totals") + "SELECT * FROM totals;";
    let direct = ticks_ddl(&ticks(), "") + aggregate + ";";
    let sorted = |sql: &str| {
        let o = rill(&["-c", sql, "--sort"]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    assert_eq!(sorted(&read), sorted(&direct));
}

#[test]
fn malformed_change_events_are_reported_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.json");
    std::fs::write(
        &path,
        "{\"before\":null,\"after\":{\"id\":1},\"op\":\"c\"}\n\
         {\"before\":null,\"after\":{\"id\":2},\"op\":\"x\"}\n\
         {\"before\":null,\"after\":{\"id\":3},\"op\":\"u\"}\n\
         {\"before\":{\"id\":1},\"after\":null,\"op\":\"d\"}\n",
    )
    .unwrap();
    let ddl = |extra: &str| {
        format!(
            "CREATE TABLE t (id BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', \
             'format' = 'debezium-json'{extra});\nSELECT * FROM t;",
            path.display()
        )
    };
    let err = assert_clean_failure(&rill(&["-c", &ddl("")]));
    assert!(
        err.contains(":2") && err.contains("unknown \"op\" value \"x\""),
        "{err}"
    );
    let o = rill(&["-c", &ddl(", 'debezium-json.ignore-parse-errors' = 'true'")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "+I,1\n-D,1\n");
    assert!(stderr(&o).contains("2 malformed"), "{}", stderr(&o));
}

#[test]
fn writing_canal_json_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sql = ticks_ddl(&ticks(), "")
        + &format!(
            "CREATE TABLE out (symbol STRING, n BIGINT) WITH ('connector' = 'filesystem', \
             'path' = '{}', 'format' = 'canal-json');\n\
             INSERT INTO out SELECT symbol, COUNT(*) FROM ticks GROUP BY symbol;",
            dir.path().join("out").display()
        );
    let err = assert_clean_failure(&rill(&["-c", &sql]));
    assert!(
        err.contains("writing 'canal-json' or 'maxwell-json' is not supported yet"),
        "{err}"
    );
}

#[test]
fn binary_strings_are_refused_where_rill_cannot_read_them_yet() {
    for (columns, format, refusal) in [
        (
            "m MAP<STRING, BYTES>",
            "json",
            "binary strings inside maps are not read from json yet: column 'm' is MAP<STRING, BYTES>",
        ),
        (
            "a ARRAY<MAP<STRING, BYTES>>",
            "debezium-json",
            "binary strings inside maps are not read from json yet: column 'a' is ARRAY<MAP<STRING, BYTES>>",
        ),
    ] {
        let sql = format!(
            "CREATE TABLE t ({columns}) WITH ('connector' = 'filesystem', 'path' = '{}', \
             'format' = '{format}');\nSELECT * FROM t;",
            ticks().display()
        );
        let err = assert_clean_failure(&rill(&["-c", &sql]));
        assert!(err.contains(refusal), "{columns} in {format}: {err}");
    }
}

#[test]
fn a_timestamp_before_1970_is_refused_a_time_of_day_as_flink_cannot_give_one() {
    let sql = "SELECT CAST(ts AS TIME) FROM (VALUES (TIMESTAMP '1970-01-01 10:00:00'), \
               (TIMESTAMP '1969-12-31 23:00:00')) AS v (ts);";
    let err = assert_clean_failure(&rill(&["-c", sql]));
    assert!(
        err.contains("Flink cannot cast a timestamp before 1970 to TIME"),
        "{err}"
    );
    let out = rill(&["-c", &sql.replace("1969-12-31", "1970-01-02")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "10:00:00\n23:00:00\n");
}

#[test]
fn temporal_joins_need_a_primary_key_and_a_time_attribute_as_in_flink() {
    let versioned = |extra: &str, watermark: &str| {
        ticks_ddl(&ticks(), "")
            + &format!(
                "CREATE TABLE prices (ts TIMESTAMP(3), symbol STRING, price DOUBLE, volume BIGINT{extra}{watermark})\n  \
                 WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
                 SELECT t.symbol, p.price FROM ticks t\n  \
                 JOIN prices FOR SYSTEM_TIME AS OF t.ts AS p ON t.symbol = p.symbol;",
                ticks().display()
            )
    };
    let watermark = ", WATERMARK FOR ts AS ts";
    let err = assert_clean_failure(&rill(&["-c", &versioned("", watermark)]));
    assert!(
        err.contains("Temporal Table Join requires primary key in versioned table")
            && err.contains('^'),
        "{err}"
    );
    let pk = ", PRIMARY KEY (symbol) NOT ENFORCED";
    let err = assert_clean_failure(&rill(&["-c", &versioned(pk, "")]));
    assert!(err.contains("no row time attribute can be found"), "{err}");
    let o = rill(&["-c", &versioned(pk, watermark), "--sort"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).lines().count() > 100);
}

/// Runs `query` after the two ticks tables and `SET 'table.exec.state.ttl' = 'ttl'`, sorted,
/// at batch size `batch`.
fn with_ttl(query: &str, ttl: &str, batch: &str) -> String {
    let sql = two_ticks_tables() + &format!("SET 'table.exec.state.ttl' = '{ttl}';\n{query}");
    let o = rill(&["-c", &sql, "--sort", "--batch-size", batch]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

#[test]
fn a_state_time_to_live_bounds_what_a_regular_join_remembers() {
    let join = "SELECT a.ts, b.ts FROM a JOIN b ON a.symbol = b.symbol AND a.volume = b.volume;";
    let o = rill(&[
        "-c",
        &(two_ticks_tables() + "SET 'table.exec.state.ttl' = '10 s';\nEXPLAIN " + join),
    ]);
    assert!(
        stdout(&o).contains("right rows until the watermark is 10000 ms past their arrival"),
        "{}",
        stdout(&o)
    );
    let forever = with_ttl(join, "0 ms", "8192");
    assert_eq!(
        with_ttl(join, "1 d", "8192"),
        forever,
        "a TTL longer than the data changes nothing"
    );
    let short = with_ttl(join, "1 s", "8192");
    assert!(short.lines().count() < forever.lines().count());
    assert_eq!(with_ttl(join, "1 s", "7"), short, "whatever the batches");
    // Flink's hint sets one input's TTL: rows of `b` live a second, rows of `a` for ever.
    let hinted = join.replace("SELECT", "SELECT /*+ STATE_TTL('b' = '1 s') */");
    let o = rill(&["-c", &(two_ticks_tables() + "EXPLAIN " + &hinted)]);
    assert!(
        stdout(&o).contains("left rows for ever, right rows until the watermark is 1000 ms"),
        "{}",
        stdout(&o)
    );
    let one_side = with_ttl(&hinted, "0 ms", "8192");
    let count = |text: &str| text.lines().count();
    assert!(count(&short) < count(&one_side) && count(&one_side) < count(&forever));
    assert_eq!(
        with_ttl(&hinted, "0 ms", "7"),
        one_side,
        "whatever the batches"
    );
}

#[test]
fn explain_says_how_much_of_a_joins_rows_stay_in_memory() {
    let join = "EXPLAIN SELECT a.ts, b.ts FROM a JOIN b ON a.symbol = b.symbol;";
    let explain = |settings: &str| explained(&(two_ticks_tables() + settings + join));
    let default = explain("");
    assert!(
        default.contains("right rows for ever; an input's rows past 64 MiB in a temporary file)"),
        "{default}"
    );
    let set = explain("SET 'rill.state.join-memory' = '1 kb';\n");
    assert!(
        set.contains("an input's rows past 1024 bytes in a temporary file"),
        "{set}"
    );
    let o = rill(&["-c", "SET 'rill.state.join-memory' = 'plenty'"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("cannot read 'plenty' as a memory size"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_state_time_to_live_restarts_idle_groups() {
    let count = "SELECT symbol, COUNT(*) AS n FROM a GROUP BY symbol;";
    let forever = with_ttl(count, "0 ms", "8192");
    assert_eq!(forever.lines().count(), 3, "{forever}");
    assert_eq!(with_ttl(count, "1 d", "8192"), forever);
    // Groups idle for over a second start again: their earlier counts stand beside the new.
    let short = with_ttl(count, "1 s", "8192");
    assert!(short.lines().count() > forever.lines().count(), "{short}");
    let total = |text: &str| -> u64 {
        text.lines()
            .map(|l| l.rsplit(',').next().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(total(&short), total(&forever), "every row is counted once");
    assert_eq!(with_ttl(count, "1 s", "1"), short, "whatever the batches");
}

#[test]
fn a_state_time_to_live_restarts_idle_rankings() {
    let top = "SELECT symbol, price FROM (SELECT symbol, price, ROW_NUMBER() OVER \
               (PARTITION BY symbol ORDER BY price DESC) AS rn FROM a) WHERE rn = 1;";
    let forever = with_ttl(top, "0 ms", "8192");
    assert_eq!(forever.lines().count(), 3, "{forever}");
    assert_eq!(with_ttl(top, "1 d", "8192"), forever);
    // A symbol idle for over a second ranks afresh: its earlier leader stands beside the new.
    let short = with_ttl(top, "1 s", "8192");
    assert!(short.lines().count() > forever.lines().count(), "{short}");
    assert_eq!(with_ttl(top, "1 s", "7"), short, "whatever the batches");
}

#[test]
fn a_command_may_start_with_a_comment() {
    let o = rill(&["-c", "-- the answer\nSELECT 42 AS answer;"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "42\n");
}

#[test]
fn a_table_read_twice_is_read_by_one_source() {
    // Each side reads other columns of the one table: the source reads them all, once.
    let query = "SELECT a.symbol, a.price, b.volume FROM ticks a JOIN ticks b \
                 ON a.symbol = b.symbol AND a.ts = b.ts";
    let run = |statement: &str| {
        let sql = format!("{}{statement};", ticks_ddl(&ticks(), ""));
        let o = rill(&["-c", &sql, "--sort", "-p", "2"]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let plan = run(&format!("EXPLAIN {query}"));
    let sources: Vec<&str> = plan.lines().filter(|l| l.contains(" source ")).collect();
    assert_eq!(sources.len(), 1, "{plan}");
    assert!(plan.contains("projection=[ts, symbol, price]"), "{plan}");
    assert!(plan.contains("projection=[ts, symbol, volume]"), "{plan}");
    // Every row meets itself (and any other row of its symbol and time).
    let parse = |symbol: &str, price: &str, volume: &str| {
        let price: f64 = price.parse().unwrap();
        (
            symbol.to_string(),
            price.to_bits(),
            volume.parse::<i64>().unwrap(),
        )
    };
    let rows = run(query);
    let joined: std::collections::HashSet<_> = (rows.lines())
        .map(|l| l.split(',').collect::<Vec<_>>())
        .map(|f| parse(f[0], f[1], f[2]))
        .collect();
    let ticks = std::fs::read_to_string(ticks()).unwrap();
    assert!(rows.lines().count() >= ticks.lines().count(), "{rows}");
    for tick in ticks.lines() {
        let f: Vec<&str> = tick.split(',').collect();
        assert!(joined.contains(&parse(f[1], f[2], f[3])), "{tick} missing");
    }
}

#[test]
fn match_recognize_reads_only_the_input_columns_it_needs() {
    let scanned = |rows: &str, measure: &str| {
        let query = format!(
            "EXPLAIN SELECT * FROM ticks MATCH_RECOGNIZE (PARTITION BY symbol ORDER BY ts \
             MEASURES {measure} AS m {rows} PATTERN (A B) DEFINE B AS B.price > A.price);"
        );
        let o = rill(&["-c", &format!("{}{query}", ticks_ddl(&ticks(), ""))]);
        assert!(o.status.success(), "{}", stderr(&o));
        let plan = stdout(&o);
        let scan = plan
            .lines()
            .find(|l| l.contains("TableScan"))
            .unwrap_or_default();
        scan.trim().to_string()
    };
    // One row per match: the keys, the time and what conditions and measures read, under
    // any variable.
    let one = "ONE ROW PER MATCH";
    assert_eq!(
        scan_columns(&scanned(one, "LAST(B.price)")),
        "ts, symbol, price"
    );
    assert_eq!(
        scan_columns(&scanned(one, "FIRST(A.volume)")),
        "ts, symbol, price, volume"
    );
    // Every row of a match is output with all its columns.
    let all = scanned("ALL ROWS PER MATCH", "LAST(B.price)");
    assert!(
        !all.contains("projection") || all.contains("volume"),
        "{all}"
    );
}

/// The columns of a plan's `TableScan: t projection=[...]` line.
fn scan_columns(scan: &str) -> String {
    let columns = scan
        .split("projection=[")
        .nth(1)
        .unwrap_or_else(|| panic!("{scan}"));
    columns.trim_end_matches(']').to_string()
}

#[test]
fn explain_names_each_join_and_the_state_of_each_input() {
    let explain = |query: &str| {
        let o = rill(&["-c", &(two_ticks_tables() + "EXPLAIN " + query)]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let interval = explain(
        "SELECT a.ts FROM a JOIN b ON a.symbol = b.symbol \
         AND a.ts BETWEEN b.ts - INTERVAL '1' SECOND AND b.ts;",
    );
    assert!(
        interval.contains("IntervalJoin INNER")
            && interval.contains("left rows until the watermark passes their time + 1000 ms")
            && interval.contains("right rows until it passes their time + 0 ms"),
        "{interval}"
    );
    let window = explain(
        "SELECT l.symbol FROM (SELECT * FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(ts), \
         INTERVAL '1' MINUTE))) l LEFT JOIN (SELECT * FROM TABLE(TUMBLE(TABLE b, \
         DESCRIPTOR(ts), INTERVAL '1' MINUTE))) r ON l.symbol = r.symbol \
         AND l.window_start = r.window_start AND l.window_end = r.window_end;",
    );
    assert!(window.contains("WindowJoin LEFT"), "{window}");
    let regular = explain("SELECT a.ts FROM a FULL JOIN b ON a.price > b.price;");
    assert!(
        regular.contains("RegularJoin FULL (no key: all rows under one; state: left rows for ever"),
        "{regular}"
    );
}

#[test]
fn a_sink_that_needs_no_update_before_rows_is_sent_none() {
    let explain = |connector: &str, query: &str| {
        let sql = format!(
            "{}CREATE TABLE out (symbol STRING, price DOUBLE) WITH ('connector' = '{connector}');\n\
             EXPLAIN INSERT INTO out {query};",
            ticks_ddl(&ticks(), "")
        );
        explained(&sql)
    };
    let last = "SELECT symbol, price FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY symbol \
                ORDER BY ts DESC) AS rn FROM ticks) WHERE rn = 1";
    // A blackhole needs none, as in Flink: the deduplication keeps sort keys alone.
    let dropped = explain("blackhole", last);
    assert!(
        dropped.contains("Rank top 1 (state: the sort key per partition; no -U rows)"),
        "{dropped}"
    );
    // A print table shows them.
    let printed = explain("print", last);
    assert!(
        printed.contains("Rank top 1 (state: the first rows per partition)"),
        "{printed}"
    );
    // A filter on more than the row number retracts with -U rows what it let through (as
    // Flink's FLINK-9528), and so does a GROUP BY: the Top-1 under them still makes them.
    let filtered = explain("blackhole", &format!("{last} AND price > 100"));
    assert!(
        filtered.contains("Rank top 1 (state: the first rows per partition)"),
        "{filtered}"
    );
    let grouped = explain(
        "blackhole",
        &format!("SELECT symbol, SUM(price) FROM ({last}) GROUP BY symbol"),
    );
    assert!(
        grouped.contains("Rank top 1 (state: the first rows per partition)"),
        "{grouped}"
    );
    // That GROUP BY makes none itself, unless a filter on its results takes them.
    assert!(grouped.contains("GroupAggregate (no -U rows)"), "{grouped}");
    let sums = "SELECT symbol, SUM(price) AS price FROM ticks GROUP BY symbol";
    let printed = explain("print", sums);
    assert!(printed.contains("GroupAggregate <-"), "{printed}");
    let filtered = explain(
        "blackhole",
        &format!("SELECT * FROM ({sums}) WHERE price > 100"),
    );
    assert!(filtered.contains("GroupAggregate <-"), "{filtered}");
    // Change events normalised by key make none either.
    let normalised = |connector: &str| {
        let sql = format!(
            "SET 'table.exec.source.cdc-events-duplicate' = 'true';\n\
             CREATE TABLE products (id BIGINT, name STRING, price DOUBLE, updated TIMESTAMP(3), \
             PRIMARY KEY (id) NOT ENFORCED) WITH ('connector' = 'filesystem', 'path' = '{}', \
             'format' = 'debezium-json');\n\
             CREATE TABLE out (id BIGINT, price DOUBLE) WITH ('connector' = '{connector}');\n\
             EXPLAIN INSERT INTO out SELECT id, price FROM products;",
            conformance_data("products_debezium_duplicates.json").display()
        );
        explained(&sql)
    };
    let dropped = normalised("blackhole");
    assert!(
        dropped.contains("ChangelogNormalize (no -U rows)"),
        "{dropped}"
    );
    let printed = normalised("print");
    assert!(printed.contains("ChangelogNormalize <-"), "{printed}");
}

#[test]
fn explain_says_what_bounds_each_operators_state() {
    let explain = |query: &str| {
        let sql = format!("{}EXPLAIN {query}", ticks_ddl(&ticks(), ""));
        explained(&sql)
    };
    let grouped = explain("SELECT symbol, COUNT(*) FROM ticks GROUP BY symbol");
    assert!(
        grouped.contains("GroupAggregate <- #0\n     state UNBOUNDED: grows with distinct keys"),
        "{grouped}"
    );
    let windowed = explain(
        "SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), \
         INTERVAL '1' MINUTE)) GROUP BY window_start, window_end",
    );
    assert!(
        windowed.contains("state bounded: windows freed as the watermark passes"),
        "{windowed}"
    );
    assert!(!windowed.contains("UNBOUNDED"), "{windowed}");
    // HOP and CUMULATE aggregate rows by slice, unless something else sees the windows.
    let hop = "SELECT window_start, window_end, COUNT(*) FROM TABLE(HOP(TABLE ticks, \
               DESCRIPTOR(ts), INTERVAL '10' SECOND, INTERVAL '1' MINUTE))";
    let sliced = explain(&format!("{hop} GROUP BY window_start, window_end"));
    assert!(
        sliced.contains("WindowAssign slices of HOP(slide=10000ms, size=60000ms"),
        "{sliced}"
    );
    for other in [
        format!(
            "{hop} WHERE window_start > TIMESTAMP '2024-01-01 00:00:00' GROUP BY window_start, window_end"
        ),
        hop.replace("COUNT(*)", "MAX(window_end)") + " GROUP BY window_start, window_end",
    ] {
        let windows = explain(&other);
        assert!(windows.contains("WindowAssign HOP"), "{windows}");
    }
    let cumulate = explain(
        "SELECT window_start, window_end, symbol, SUM(volume) FROM TABLE(CUMULATE(TABLE \
         ticks, DESCRIPTOR(ts), INTERVAL '10' SECOND, INTERVAL '1' MINUTE)) \
         GROUP BY window_start, window_end, symbol",
    );
    assert!(
        cumulate.contains("WindowAssign slices of CUMULATE"),
        "{cumulate}"
    );
    let pattern = explain(
        "SELECT * FROM ticks MATCH_RECOGNIZE (PARTITION BY symbol ORDER BY ts MEASURES \
         A.price AS p PATTERN (A B) WITHIN INTERVAL '10' SECOND DEFINE A AS A.price > 100)",
    );
    assert!(
        pattern.contains("state bounded: partial matches by WITHIN 10000 ms"),
        "{pattern}"
    );
}

#[test]
fn a_job_reading_standard_input_is_refused_checkpoints() {
    let o = rill(&[
        "-c",
        "SET 'execution.checkpointing.interval' = '1 s';\n\
         SET 'execution.checkpointing.dir' = '/tmp/never';\n\
         CREATE TABLE t (v BIGINT) WITH ('connector' = 'stdin', 'format' = 'csv');\n\
         SELECT v FROM t",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot be checkpointed: t reads standard input"),
        "{err}"
    );
    let o = rill(&[
        "-c",
        "SET 'execution.checkpointing.interval' = '1 s';\nSELECT 1",
    ]);
    assert!(
        stderr(&o).contains("checkpoints need a directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_job_stopped_with_a_savepoint_resumes_from_it() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let growing = dir.path().join("grow.csv");
    std::fs::write(&growing, "1,a\n2,b\n").unwrap();
    let (out, checkpoints) = (dir.path().join("out"), dir.path().join("chk"));
    // A job that never ends (it follows a file) and checkpoints only when asked.
    let job = format!(
        "SET 'execution.checkpointing.interval' = '1 h';\n\
         SET 'execution.checkpointing.dir' = '{}';\n\
         CREATE TABLE g (a INT, b STRING) WITH ('connector' = 'filesystem', 'path' = '{}', \
         'format' = 'csv', 'source.monitor-interval' = '50 ms');\n\
         CREATE TABLE f (a INT, b STRING) WITH ('connector' = 'filesystem', 'path' = '{}/', \
         'format' = 'csv');\n\
         INSERT INTO f SELECT a * 10, b FROM g;\n",
        checkpoints.display(),
        growing.display(),
        out.display()
    );
    let run_and_stop = || {
        let mut shell = Typing::new(dir.path());
        shell.type_in(&job, 1500);
        shell.type_in("STOP JOB '1' WITH SAVEPOINT;\n", 3000);
        shell.type_in("SHOW JOBS;\n\\q\n", 0);
        let o = shell.output();
        (stdout(&o), stderr(&o))
    };
    let (text, err) = run_and_stop();
    assert!(
        text.contains("[INFO] Job 1 is stopping after a savepoint."),
        "{text}"
    );
    assert!(text.contains("STOPPED at savepoint 1"), "{text}\n{err}");
    assert!(
        text.contains("late rows,watermark,state size,last checkpoint,lag,uptime"),
        "{text}"
    );
    assert!(
        text.contains(",0.0 MiB,\"1 ("),
        "the state size and the checkpoint: {text}"
    );
    let parts = || {
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        parts(),
        ["part-00000"],
        "the savepoint committed the rows so far"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("part-00000")).unwrap(),
        "10,a\n20,b\n"
    );
    // The file grows while the job is stopped; run again, it goes on where it stopped.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&growing)
        .unwrap()
        .write_all(b"3,c\n")
        .unwrap();
    let (text, err) = run_and_stop();
    assert!(err.contains("rill: resuming from checkpoint 1"), "{err}");
    assert!(text.contains("STOPPED at savepoint 2"), "{text}\n{err}");
    assert_eq!(parts(), ["part-00000", "part-00001"], "{err}");
    assert_eq!(
        std::fs::read_to_string(out.join("part-00001")).unwrap(),
        "30,c\n",
        "no row twice, none lost"
    );
}

#[test]
fn checkpoints_that_take_longer_than_their_interval_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    // A checkpoint goes from the source to the sink and is written with fsync: longer than
    // a millisecond.
    let sql = format!(
        "SET 'execution.checkpointing.interval' = '1 ms';\n\
         SET 'execution.checkpointing.dir' = '{}';\n\
         CREATE TABLE n (event_type INT) WITH ('connector' = 'nexmark', \
         'events.num' = '100000', 'rill.base-time' = '0');\n\
         CREATE TABLE b (event_type INT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO b SELECT event_type FROM n;",
        dir.path().join("chk").display()
    );
    let o = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["-c", &sql, "--batch-size", "100"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("rill runs");
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("checkpoints take longer than their interval"),
        "{err}"
    );
}

#[test]
fn a_checkpoint_resumes_only_its_own_query() {
    let dir = tempfile::tempdir().unwrap();
    // `unused`: the type of a column of a table the job does not read.
    let job_with = |filter: &str, unused: &str| {
        format!(
            "SET 'execution.checkpointing.interval' = '1 s';\n\
             SET 'execution.checkpointing.dir' = '{}';\n{}\
             CREATE TABLE f (symbol STRING, volume BIGINT) WITH ('connector' = 'filesystem', \
             'path' = '{}/', 'format' = 'csv');\n\
             CREATE TABLE other (symbol {unused}) WITH ('connector' = 'filesystem', \
             'path' = '{}', 'format' = 'csv');\n\
             INSERT INTO f SELECT symbol, volume FROM ticks WHERE volume > {filter};\n",
            dir.path().join("chk").display(),
            ticks_ddl(&ticks(), ""),
            dir.path().join("out").display(),
            ticks().display()
        )
    };
    let job = |filter: &str| job_with(filter, "STRING");
    let o = rill(&["-c", &job("990")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let written = std::fs::read_to_string(dir.path().join("out/part-00000")).unwrap();
    assert!(written.lines().count() > 5, "{written}");
    // The same job again: its last checkpoint is of a finished run.
    let o = rill(&["-c", &job("990")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is of a finished run: its output is complete"),
        "{}",
        stderr(&o)
    );
    // A table the job does not read does not identify its state.
    let o = rill(&["-c", &job_with("990", "INT")]);
    assert!(
        stderr(&o).contains("is of a finished run: its output is complete"),
        "{}",
        stderr(&o)
    );
    // Another query is refused, with how to start fresh; the output stays as it was.
    let o = rill(&["-c", &job("500")]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("is of a different query or tables"), "{err}");
    assert!(err.contains("to start fresh"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/part-00000")).unwrap(),
        written
    );
}

#[test]
fn keyed_operators_run_as_parallel_instances_with_the_result_of_one() {
    let queries = [
        "SELECT symbol, volume % 50, COUNT(*), SUM(volume), MAX(price) FROM ticks \
         GROUP BY symbol, volume % 50",
        "SELECT symbol, window_start, COUNT(*), AVG(price) FROM TABLE(HOP(TABLE ticks, \
         DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND)) \
         GROUP BY symbol, window_start, window_end",
        "SELECT * FROM ticks MATCH_RECOGNIZE (PARTITION BY symbol ORDER BY ts \
         MEASURES FIRST(A.price) AS p0, LAST(B.price) AS p1 ONE ROW PER MATCH \
         AFTER MATCH SKIP PAST LAST ROW PATTERN (A B+) DEFINE B AS B.price > PREV(B.price))",
        "SELECT a.symbol, a.ts, b.ts FROM a JOIN b ON a.symbol = b.symbol \
         AND a.ts BETWEEN b.ts - INTERVAL '1' SECOND AND b.ts",
    ];
    let tables = ticks_ddl(&ticks(), "") + &two_ticks_tables();
    for query in queries {
        let run = |parallelism: &str| {
            let sql = format!("{tables}{query}");
            let o = rill(&["-c", &sql, "--sort", "--parallelism", parallelism]);
            assert!(o.status.success(), "{query}: {}", stderr(&o));
            stdout(&o)
        };
        let one = run("1");
        assert!(
            one.lines().count() > 10,
            "{query}: too few rows to tell:\n{one}"
        );
        assert_eq!(run("2"), one, "{query} at parallelism 2");
        assert_eq!(run("3"), one, "{query} at parallelism 3");
    }
    // The plan shows each instance, the exchanges that feed them by key, and the merge;
    // 'parallelism.default' in the SQL wins over the command line.
    let explain = |settings: &str, parallelism: &str| {
        let sql = format!(
            "{tables}{settings}EXPLAIN SELECT a.symbol, COUNT(*) FROM a JOIN b \
             ON a.symbol = b.symbol GROUP BY a.symbol"
        );
        let o = rill(&["-c", &sql, "--parallelism", parallelism]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let plan = explain("", "2");
    assert_eq!(
        plan.matches("operator RegularJoin INNER").count(),
        2,
        "{plan}"
    );
    assert_eq!(plan.matches("operator GroupAggregate").count(), 2, "{plan}");
    assert_eq!(plan.matches("operator Merge").count(), 2, "{plan}");
    // Two for the join's sides, one for the aggregation.
    assert_eq!(
        plan.matches("Exchange hash(symbol@0) to 2").count(),
        3,
        "{plan}"
    );
    let plan = explain("SET 'parallelism.default' = '1';\n", "2");
    assert!(
        !plan.contains("Exchange") && !plan.contains("Merge"),
        "{plan}"
    );
    let err = assert_clean_failure(&rill(&["-c", "SET 'parallelism.default' = '0'"]));
    assert!(
        err.contains("'parallelism.default' must be a positive number, found '0'"),
        "{err}"
    );
}

/// Writes the skewed readings and their true times as CSV files in `dir`.
fn skewed_stream(dir: &Path) -> (PathBuf, PathBuf) {
    let readings = skew::skewed_readings(1200);
    let lines = |f: fn(&skew::Reading) -> &String| -> String {
        readings.iter().map(|r| format!("{}\n", f(r))).collect()
    };
    let paths = (dir.join("readings.csv"), dir.join("truth.csv"));
    std::fs::write(&paths.0, lines(|r| &r.row)).unwrap();
    std::fs::write(&paths.1, lines(|r| &r.truth)).unwrap();
    paths
}

#[test]
fn windows_over_skew_corrected_times_match_the_true_times() {
    let dir = tempfile::tempdir().unwrap();
    let (readings, truth) = skewed_stream(dir.path());
    let run = |sql: String| {
        let o = rill(&["-c", &sql, "--sort"]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let file = |path: &Path| {
        format!(
            "'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv'",
            path.display()
        )
    };
    let expected = run(format!(
        "CREATE TABLE truth (device STRING, t TIMESTAMP(3), \
         WATERMARK FOR t AS t - INTERVAL '5' SECOND) WITH ({});\n{};",
        file(&truth),
        skew::per_minute("truth", "t")
    ));
    assert_eq!(expected.lines().count(), 20, "{expected}");
    let corrected = run(skew::readings_ddl("event_time", &file(&readings))
        + &skew::per_minute("readings", "event_time"));
    assert_eq!(corrected, expected);
    // The devices' own times put events in other minutes, and many behind the watermark.
    let raw = run(skew::readings_ddl("device_time", &file(&readings))
        + &skew::per_minute("readings", "device_time"));
    assert_ne!(raw, expected);
}

#[test]
fn skew_correction_is_a_computed_column_of_stored_times() {
    let dir = tempfile::tempdir().unwrap();
    let (readings, _) = skewed_stream(dir.path());
    let table = |computed: &str| {
        format!(
            "CREATE TABLE readings (device STRING, device_time TIMESTAMP(3), \
             sent_at TIMESTAMP(3), received_at STRING, event_time AS {computed}) \
             WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');",
            readings.display()
        )
    };
    for (computed, error) in [
        (
            "SKEW_CORRECTED(device_time, sent_at, received_at, device)",
            "'received_at' is not a TIMESTAMP",
        ),
        (
            "SKEW_CORRECTED(device_time, sent_at, device)",
            "takes the columns",
        ),
        (
            "SKEW_CORRECTED(device_time, sent_at, nope, device)",
            "'nope' is not one of this table's",
        ),
    ] {
        let err = assert_clean_failure(&rill(&["-c", &table(computed)]));
        assert!(err.contains(error), "{computed}: {err}");
    }
}

#[test]
fn collect_gives_a_multiset_and_what_rill_cannot_do_with_one_is_refused() {
    let values = "(VALUES ('b', 1), ('a', 2), ('b', 3), ('b', CAST(NULL AS INT))) AS v (k, n)";
    let out = rill(&[
        "-c",
        &format!("SELECT COLLECT(k) AS ks, COLLECT(n) AS ns FROM {values};"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().last(),
        Some(r#"+U,"{a=1, b=3}","{1=1, 2=1, 3=1}""#),
        "{stdout}"
    );
    // A MULTISET column of a json sink is an object of counts, as Flink's json format writes
    // it (checked with the Flink oracle: {"c":{"a":1,"b":3}}).
    let dir = tempfile::tempdir().unwrap();
    let (input, path) = (dir.path().join("in.json"), dir.path().join("out.json"));
    let rows: String = ["b", "a", "b", "b"]
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{{\"k\": \"{k}\", \"ts\": \"2024-01-01 00:00:0{i}\"}}\n"))
        .collect();
    std::fs::write(&input, rows).unwrap();
    let sql = format!(
        "CREATE TABLE i (k STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH \
         ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');\n\
         CREATE TABLE o (c MULTISET<STRING>) WITH ('connector' = 'filesystem', 'path' = '{}', \
         'format' = 'json');\nINSERT INTO o SELECT COLLECT(k) FROM TABLE(TUMBLE(TABLE i, \
         DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end;",
        input.display(),
        path.display()
    );
    let out = rill(&["-c", &sql]);
    assert!(out.status.success(), "{}", stderr(&out));
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        written.lines().last(),
        Some(r#"{"c":{"a":1,"b":3}}"#),
        "{written}"
    );
    for (query, refusal) in [
        (
            "SELECT CARDINALITY(COLLECT(n)) FROM {v}",
            "CARDINALITY of a MULTISET is not supported yet",
        ),
        (
            "SELECT MAP_KEYS(COLLECT(n)) FROM {v}",
            "map_keys takes a map",
        ),
        (
            "SELECT CAST(COLLECT(n) AS STRING) FROM {v}",
            "CAST of a MULTISET to STRING is not supported yet",
        ),
        (
            "SELECT x FROM (SELECT COLLECT(n) AS c FROM {v}) CROSS JOIN UNNEST(c) AS u (x)",
            "UNNEST of a MULTISET is not supported yet",
        ),
    ] {
        let err = assert_clean_failure(&rill(&["-c", &query.replace("{v}", values)]));
        assert!(err.contains(refusal), "{query}: {err}");
    }
}

#[test]
fn an_insert_reads_a_values_list_nested_in_its_query() {
    // DataFusion would type the nested list by the table's one column and fail.
    let out = rill(&[
        "-c",
        "CREATE TABLE o (k STRING, total INT) WITH ('connector' = 'print');\n\
         INSERT INTO o SELECT k, n * 2 FROM (VALUES ('a', 1, TRUE), ('b', 2, FALSE)) AS v (k, n, f);",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "+I[a, 2]\n+I[b, 4]\n");
    let err = assert_clean_failure(&rill(&[
        "-c",
        "CREATE TABLE o (k STRING, total INT) WITH ('connector' = 'print');\n\
         INSERT INTO o SELECT k FROM (VALUES ('a', 1)) AS v (k, n);",
    ]));
    assert!(
        err.contains("INSERT INTO o: the query gives 1 columns, the table has 2"),
        "{err}"
    );
}

#[test]
fn json_text_outside_a_json_constructor_is_refused_where_it_is() {
    let err = assert_clean_failure(&rill(&["-c", "SELECT 1,\n  JSON('{\"a\": 1}') AS j;"]));
    assert!(
        err.contains("The JSON() function is currently only supported inside JSON_ARRAY()")
            && err.contains("line 2, column 3"),
        "{err}"
    );
    let out = rill(&[
        "-c",
        "SELECT JSON_OBJECT('a' VALUE JSON('{\"b\": 1e2}')) AS j;",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "\"{\"\"a\"\":{\"\"b\"\":1E+2}}\"\n" // csv-quoted
    );
}

#[test]
fn to_changelog_refuses_what_it_cannot_list_as_flink_would() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, "a,1\nb,2\na,3\n").unwrap();
    let table = format!(
        "CREATE TABLE t (k STRING, v INT) WITH ('connector' = 'filesystem', 'path' = '{}', \
         'format' = 'csv');\nCREATE VIEW totals AS SELECT k, SUM(v) AS s FROM t GROUP BY k;\n",
        path.display()
    );
    for (query, refusal) in [
        (
            "SELECT * FROM TO_CHANGELOG(input => TABLE totals);",
            "TO_CHANGELOG over the updates of a GROUP BY or a regular join is not supported yet",
        ),
        (
            "SELECT * FROM TO_CHANGELOG(input => TABLE t PARTITION BY k);",
            "Only tables with set semantics may be partitioned",
        ),
        (
            "SELECT * FROM TO_CHANGELOG(input => TABLE t, op_mapping => MAP['UPSERT', 'u']);",
            "op_mapping names 'UPSERT', which is no change kind",
        ),
    ] {
        let err = assert_clean_failure(&rill(&["-c", &format!("{table}{query}")]));
        assert!(err.contains(refusal), "{query}: {err}");
    }
    let out = rill(&[
        "-c",
        &format!("{table}SELECT * FROM TABLE(TO_CHANGELOG(TABLE t, DESCRIPTOR(kind)));"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "INSERT,a,1\nINSERT,b,2\nINSERT,a,3\n"
    );
}

#[test]
fn from_changelog_refuses_what_flink_refuses_and_fails_on_an_unknown_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("changes.csv");
    std::fs::write(&path, "1,a,INSERT\n1,a,UPDATE_BEFORE\n1,b,UPSERT\n").unwrap();
    let table = format!(
        "CREATE TABLE c (id INT, name STRING, op STRING) WITH ('connector' = 'filesystem', \
         'path' = '{}', 'format' = 'csv');\n",
        path.display()
    );
    for (query, refusal) in [
        (
            "SELECT * FROM FROM_CHANGELOG(input => TABLE c, op_mapping => MAP['i', 'INSERT']);",
            "The 'op_mapping' must include UPDATE_BEFORE for retract mode",
        ),
        (
            "SELECT * FROM FROM_CHANGELOG(input => TABLE c, op => DESCRIPTOR(id));",
            "The op column 'id' must be of STRING type, but was 'INT'",
        ),
        (
            "CREATE VIEW n AS SELECT op, COUNT(*) AS n FROM c GROUP BY op;\n\
             SELECT * FROM FROM_CHANGELOG(input => TABLE n);",
            "FROM_CHANGELOG takes an append-only table",
        ),
        (
            "SELECT * FROM FROM_CHANGELOG(input => TABLE c);",
            "Received invalid op code 'UPSERT'",
        ),
    ] {
        let err = assert_clean_failure(&rill(&["-c", &format!("{table}{query}")]));
        assert!(err.contains(refusal), "{query}: {err}");
    }
}

#[test]
fn a_seeded_rand_draws_flinks_sequence_whatever_the_batch_size() {
    // Flink's values for the first six rows, from the function suite's oracle output.
    let expected = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/functions/expected/random.jsonl"),
    )
    .expect("the suite's expected values");
    let flink = |expr: &str| -> Vec<String> {
        let line = (expected.lines())
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
            .find(|v| v["expr"] == expr)
            .expect("the expression");
        (line["rows"].as_array().expect("rows").iter())
            .map(|v| v.as_str().expect("a value").to_string())
            .collect()
    };
    let (doubles, ints) = (flink("RAND(1)"), flink("RAND_INTEGER(3, 100)"));
    let want: String = (doubles.iter().zip(&ints))
        .map(|(d, i)| format!("{d},{i}\n"))
        .collect();
    let sql = format!(
        "{}SELECT RAND(1), RAND_INTEGER(3, 100) FROM ticks LIMIT 6",
        ticks_ddl(&ticks(), "")
    );
    for batch in ["1", "4", "8192"] {
        let o = rill(&["-c", &sql, "--batch-size", batch, "--parallelism", "2"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), want, "batch size {batch}");
    }
}

#[test]
fn a_seeded_rand_draws_in_file_order_over_a_file_decoded_in_parallel() {
    // Chunks of a megabyte go to decoding threads, which also run the calcs fused into the
    // source when their rows' order does not matter: a seeded RAND's does.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.csv");
    let rows: String = (0..400_000).map(|n| format!("{n},row-{n:012}\n")).collect();
    assert!(rows.len() > 8 << 20, "several chunks");
    std::fs::write(&path, rows).unwrap();
    let sql = format!(
        "CREATE TABLE n (id BIGINT, s STRING) WITH ('connector' = 'filesystem', \
         'path' = '{}', 'format' = 'csv'); SELECT id, RAND_INTEGER(3, 100) FROM n;",
        path.display()
    );
    let mut runs = Vec::new();
    for batch in ["8192", "1000"] {
        let o = rill(&["-c", &sql, "--batch-size", batch]);
        assert!(o.status.success(), "{}", stderr(&o));
        runs.push(stdout(&o));
    }
    let ids: Vec<u64> = (runs[0].lines())
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids, (0..400_000).collect::<Vec<u64>>());
    assert!(
        runs[0] == runs[1],
        "the draws follow the rows whatever the batch size"
    );
}

#[test]
fn a_scalar_subquery_that_may_give_several_rows_is_refused() {
    for subquery in [
        "SELECT price FROM ticks WHERE volume = 1000",
        "SELECT MAX(price) FROM ticks GROUP BY symbol",
    ] {
        let sql = format!(
            "{}SELECT symbol FROM ticks WHERE price > ({subquery});",
            ticks_ddl(&ticks(), "")
        );
        let err = assert_clean_failure(&rill(&["-c", &sql]));
        assert!(
            err.contains("a scalar subquery must give at most one row"),
            "{subquery}: {err}"
        );
    }
}

#[test]
fn a_join_of_inputs_without_columns_counts_their_rows() {
    // No column of either side is read: the optimizer leaves both without columns.
    let rows = std::fs::read_to_string(ticks()).unwrap().lines().count();
    let sql = format!(
        "{}SELECT COUNT(*) FROM ticks a CROSS JOIN (SELECT MAX(price) AS m FROM ticks) b;",
        ticks_ddl(&ticks(), "")
    );
    let o = rill(&["-c", &sql, "--sort"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("{rows}\n"));
}

#[test]
fn a_window_of_processing_time_fires_by_the_clock_while_the_input_is_open() {
    use std::io::{BufRead, Write};
    let sql = "CREATE TABLE s (k STRING) WITH ('connector' = 'stdin', 'format' = 'csv');\n\
               CREATE VIEW v AS SELECT k, PROCTIME() AS p FROM s;\n\
               SELECT k, COUNT(*) AS c FROM TABLE(TUMBLE(TABLE v, DESCRIPTOR(p), \
               INTERVAL '1' SECOND)) GROUP BY k, window_start, window_end;";
    let mut child = spawn(&["-c", sql], &std::env::temp_dir());
    let mut input = child.stdin.take().unwrap();
    input.write_all(b"a\na\nb\n").unwrap();
    input.flush().unwrap();
    // The rows' window ends within a second; the clock fires it a second after that, with
    // the input still open.
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if lines.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut fired: Vec<String> = (0..2)
        .map(|_| {
            received
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("the window fires while the input is open")
        })
        .collect();
    fired.sort();
    assert_eq!(fired, ["a,2", "b,1"]);
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}
