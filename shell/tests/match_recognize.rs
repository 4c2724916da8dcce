//! MATCH_RECOGNIZE as SQL:2016 defines it, beyond what the Flink oracle can check: the cases
//! of `tests/match_recognize/sql2016.txt` (Trino's test inputs and results) run through the
//! `rill` binary at two batch sizes; and rill's answers where Flink deviates from the standard.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// One case of the file: its settings and the expected rows or error.
struct Case {
    name: String,
    keys: BTreeMap<String, String>,
    expected: Vec<String>,
    error: Option<String>,
}

fn cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/match_recognize/sql2016.txt");
    let text = std::fs::read_to_string(path).expect("the case file");
    let mut defaults = BTreeMap::new();
    let mut cases: Vec<Case> = Vec::new();
    let mut open = false;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            open = false;
            continue;
        }
        if let Some(setting) = line.strip_prefix("set ") {
            let (key, value) = setting.split_once('=').expect("set key = value");
            defaults.insert(key.trim().to_string(), value.trim().to_string());
            continue;
        }
        if let Some(name) = line.strip_prefix("== ") {
            cases.push(Case {
                name: name.to_string(),
                keys: defaults.clone(),
                expected: vec![],
                error: None,
            });
            open = true;
            continue;
        }
        assert!(open, "a line outside a case: {line}");
        let case = cases.last_mut().expect("a case");
        if let Some(error) = line.strip_prefix("error: ") {
            case.error = Some(error.to_string());
        } else if let Some((key, value)) = line.split_once(':')
            && key.chars().all(|c| c.is_ascii_lowercase())
        {
            case.keys.insert(key.to_string(), value.trim().to_string());
        } else {
            case.expected.push(line.to_string());
        }
    }
    cases
}

/// A table `t (id, ts, value)` over `values` (row i at 00:00:0i) and the case's query.
fn script(dir: &Path, case: &Case) -> String {
    let key = |k: &str| case.keys.get(k).map_or("", String::as_str);
    let mut data = String::new();
    for (i, v) in key("data").split_whitespace().enumerate() {
        let id = i + 1;
        data.push_str(&format!("{id},2024-01-01 00:00:{id:02}.000,{v}\n"));
    }
    let csv = dir.join("t.csv");
    std::fs::write(&csv, data).expect("write data");
    format!(
        "CREATE TABLE t (id BIGINT, ts TIMESTAMP(3), `value` INT, WATERMARK FOR ts AS ts) \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         SELECT {} FROM t MATCH_RECOGNIZE (ORDER BY ts MEASURES {} {} {} PATTERN ({}) {} {} DEFINE {}) AS m;\n",
        csv.display(),
        key("select"),
        key("measures"),
        key("rows"),
        key("skip"),
        key("pattern"),
        key("within"),
        key("subset"),
        key("define"),
    )
}

fn run(script_path: &Path, batch_size: usize) -> Result<Vec<String>, String> {
    let output = Command::new(env!("CARGO_BIN_EXE_rill"))
        .arg("-f")
        .arg(script_path)
        .args(["--batch-size", &batch_size.to_string()])
        .output()
        .expect("rill runs");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let mut rows: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    rows.sort();
    Ok(rows)
}

#[test]
fn sql2016_cases_from_trino() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = cases();
    assert!(
        cases.len() > 40,
        "the case file was read: {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let sql = dir.path().join("q.sql");
        std::fs::write(&sql, script(dir.path(), case)).expect("write script");
        for batch_size in [8192, 1] {
            let got = run(&sql, batch_size);
            let ok = match (&got, &case.error) {
                (Err(e), Some(expected)) => e.contains(expected.as_str()),
                (Ok(rows), None) => {
                    let mut expected = case.expected.clone();
                    expected.sort();
                    *rows == expected
                }
                _ => false,
            };
            if !ok {
                failures.push(format!(
                    "{} (batch size {batch_size}):\n  expected {:?}\n  got      {:?}",
                    case.name,
                    case.error
                        .as_ref()
                        .map_or_else(|| case.expected.join(" | "), |e| format!("error: {e}")),
                    got.map(|r| r.join(" | ")),
                ));
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
fn unpaid_orders_time_out_per_order_as_the_watermark_passes() {
    // examples/orders.sql: PATTERN (CREATED PAID) WITHIN 15 minutes WITH TIMEOUTS, per order.
    // o2 is paid after 18 minutes, o3 and o5 never, o1, o4 and o6 in time.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/orders.sql");
    let expected = [
        "o1,2024-01-01 10:00:00.000,2024-01-01 10:05:30.000,25.00,false",
        "o2,2024-01-01 10:02:00.000,,99.90,true",
        "o3,2024-01-01 10:07:00.000,,12.50,true",
        "o4,2024-01-01 10:09:00.000,2024-01-01 10:21:00.000,310.00,false",
        "o5,2024-01-01 10:30:00.000,,45.00,true",
        "o6,2024-01-01 10:50:00.000,2024-01-01 10:52:00.000,5.00,false",
    ];
    for batch_size in ["1", "8192"] {
        let output = Command::new(env!("CARGO_BIN_EXE_rill"))
            .arg("-f")
            .arg(&example)
            .args(["--batch-size", batch_size])
            // One instance: the order of results of orders matched by different instances
            // depends on thread timing, as it does in Flink at parallelism 2.
            .args(["--parallelism", "1"])
            .output()
            .expect("rill runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}");
        let lines: Vec<&str> = stdout.lines().collect();
        let mut sorted = lines.clone();
        sorted.sort();
        assert_eq!(sorted, expected, "batch size {batch_size}");
        // o5 times out when the watermark passes 10:45 (the row at 10:50), before the input
        // ends, which is what o6's payment at 10:52 waits for.
        let at = |order: &str| lines.iter().position(|l| l.starts_with(order));
        assert!(at("o5") < at("o6"), "batch size {batch_size}: {lines:?}");
    }
}
