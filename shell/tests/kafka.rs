//! Kafka tables as a user writes them, against a real Kafka-protocol broker (started by the
//! tests, see `common/broker.rs`): every startup and bounded mode, the formats and metadata
//! columns, per-partition watermarks and idle partitions, the sink's keys and delivery
//! guarantees, upsert-kafka both ways, and a broker that cannot be reached.

#[path = "common/broker.rs"]
mod broker;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use broker::{Record, bootstrap, consume, produce, topic};

#[path = "common/skew.rs"]
mod skew;

fn rill(sql: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["-c", sql, "--header"])
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("rill runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `sql`, which must succeed; its output lines, sorted.
fn rows(sql: &str) -> Vec<String> {
    let out = rill(sql);
    assert!(out.status.success(), "rill failed:\n{}", stderr(&out));
    let mut lines: Vec<String> = stdout(&out).lines().map(String::from).collect();
    lines.sort();
    lines
}

/// `value` messages, one per `(partition, timestamp ms, value)`.
fn values(rows: &[(i32, i64, &'static str)]) -> Vec<Record<'static>> {
    rows.iter()
        .map(|&(partition, timestamp, value)| Record {
            partition,
            key: None,
            value: Some(value),
            timestamp,
        })
        .collect()
}

/// A bounded Kafka table over `topic` with `columns` and extra `options`.
fn table(name: &str, columns: &str, topic: &str, options: &str) -> String {
    format!(
        "CREATE TABLE {name} ({columns}) WITH ('connector' = 'kafka', 'topic' = '{topic}', \
         'properties.bootstrap.servers' = '{}', 'scan.bounded.mode' = 'latest-offset'{options});",
        bootstrap()
    )
}

/// An upsert-kafka table over `topic` with `columns` (keyed by their first, `s`), csv keys and
/// json values, and extra `options`.
fn upsert_table(name: &str, columns: &str, topic: &str, options: &str) -> String {
    format!(
        "CREATE TABLE {name} ({columns}, PRIMARY KEY (s) NOT ENFORCED) WITH \
         ('connector' = 'upsert-kafka', 'topic' = '{topic}', \
         'properties.bootstrap.servers' = '{}', 'key.format' = 'csv', \
         'value.format' = 'json'{options});",
        bootstrap()
    )
}

#[test]
fn a_topic_is_read_with_metadata_columns() {
    let t = topic("meta", 2);
    produce(
        &t,
        &values(&[
            (0, 1_000, r#"{"id":1,"name":"a"}"#),
            (1, 2_000, r#"{"id":2,"name":"b"}"#),
            (0, 3_000, r#"{"id":3,"name":"c"}"#),
        ]),
    );
    let ddl = table(
        "t",
        "id BIGINT, name STRING, p INT METADATA FROM 'partition' VIRTUAL, \
         o BIGINT METADATA FROM 'offset' VIRTUAL, ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp', \
         tp STRING METADATA FROM 'topic' VIRTUAL",
        &t,
        ", 'format' = 'json', 'scan.startup.mode' = 'earliest-offset'",
    );
    let got = rows(&format!(
        "{ddl} SELECT id, name, p, o, ts, tp = '{t}' AS same_topic FROM t;"
    ));
    assert_eq!(
        got,
        vec![
            "1,a,0,0,1970-01-01 00:00:01.000,true",
            "2,b,1,0,1970-01-01 00:00:02.000,true",
            "3,c,0,1,1970-01-01 00:00:03.000,true",
            "id,name,p,o,ts,same_topic",
        ]
    );
}

#[test]
fn startup_and_bounded_modes_pick_the_messages() {
    let t = topic("modes", 2);
    let records: Vec<(i32, i64, &str)> = vec![
        (0, 1_000, "a,1"),
        (0, 2_000, "b,2"),
        (0, 3_000, "c,3"),
        (1, 1_500, "d,4"),
        (1, 2_500, "e,5"),
    ];
    produce(&t, &values(&records));
    let query = |options: &str| {
        let ddl = format!(
            "CREATE TABLE t (s STRING, n INT) WITH ('connector' = 'kafka', 'topic' = '{t}', \
             'properties.bootstrap.servers' = '{}', 'format' = 'csv'{options});",
            bootstrap()
        );
        rows(&format!("{ddl} SELECT s FROM t;"))
            .into_iter()
            .filter(|l| l != "s")
            .collect::<Vec<_>>()
            .join(" ")
    };
    let bounded = ", 'scan.bounded.mode' = 'latest-offset'";
    assert_eq!(
        query(&format!(
            ", 'scan.startup.mode' = 'earliest-offset'{bounded}"
        )),
        "a b c d e"
    );
    assert_eq!(
        query(&format!(", 'scan.startup.mode' = 'latest-offset'{bounded}")),
        ""
    );
    assert_eq!(
        query(&format!(
            ", 'scan.startup.mode' = 'timestamp', 'scan.startup.timestamp-millis' = '2000'{bounded}"
        )),
        "b c e"
    );
    assert_eq!(
        query(&format!(
            ", 'scan.startup.mode' = 'specific-offsets', \
             'scan.startup.specific-offsets' = 'partition:0,offset:2'{bounded}"
        )),
        "c d e",
        "a partition not listed starts at its earliest offset"
    );
    assert_eq!(
        query(
            ", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'specific-offsets', \
             'scan.bounded.specific-offsets' = 'partition:0,offset:1;partition:1,offset:1'"
        ),
        "a d"
    );
    assert_eq!(
        query(
            ", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'timestamp', \
             'scan.bounded.timestamp-millis' = '2000'"
        ),
        "a d"
    );
    // Group offsets: where a group left off, or an error naming the fix.
    let group = format!("g-{t}");
    commit_offsets(&group, &t, &[(0, 1), (1, 2)]);
    assert_eq!(
        query(&format!(
            ", 'properties.group.id' = '{group}', 'scan.startup.mode' = 'group-offsets'{bounded}"
        )),
        "b c"
    );
    let out = rill(&format!(
        "CREATE TABLE t (s STRING, n INT) WITH ('connector' = 'kafka', 'topic' = '{t}', \
         'properties.bootstrap.servers' = '{}', 'format' = 'csv', \
         'properties.group.id' = 'nobody-{t}'{bounded}); SELECT s FROM t;",
        bootstrap()
    ));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("has no committed offset")
            && stderr(&out).contains("'properties.auto.offset.reset'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn reading_group_offsets_needs_a_group() {
    let out = rill(&format!(
        "CREATE TABLE t (s STRING) WITH ('connector' = 'kafka', 'topic' = 'x', \
         'properties.bootstrap.servers' = '{}', 'format' = 'raw'); SELECT s FROM t;",
        bootstrap()
    ));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "table 't': 'scan.startup.mode' = 'group-offsets' (the default) needs option \
             'properties.group.id'"
        ),
        "{}",
        stderr(&out)
    );
}

fn commit_offsets(group: &str, topic: &str, offsets: &[(i32, i64)]) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for &(p, o) in offsets {
        tpl.add_partition_offset(topic, p, Offset::Offset(o))
            .unwrap();
    }
    consumer.commit(&tpl, CommitMode::Sync).unwrap();
}

#[test]
fn watermarks_are_per_partition_and_their_minimum_counts() {
    // Partition 0 runs far ahead of partition 1. With one watermark for the topic, the rows
    // of partition 1 would come late and be dropped; with the minimum of the partitions'
    // watermarks (Flink's rule) every row counts, whichever partition is read first.
    let t = topic("wm", 2);
    let mut records = Vec::new();
    for s in 0..30 {
        records.push((
            0,
            0,
            leak(format!(r#"{{"k":"a","ts":"1970-01-01 00:00:{s:02}"}}"#)),
        ));
    }
    for s in 0..10 {
        records.push((
            1,
            0,
            leak(format!(r#"{{"k":"b","ts":"1970-01-01 00:00:{s:02}"}}"#)),
        ));
    }
    produce(&t, &values(&records));
    let ddl = table(
        "t",
        "k STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts",
        &t,
        ", 'format' = 'json', 'scan.startup.mode' = 'earliest-offset'",
    );
    let got = rows(&format!(
        "{ddl} SELECT k, window_start, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE t, \
         DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY k, window_start, window_end;"
    ));
    assert_eq!(
        got,
        vec![
            "a,1970-01-01 00:00:00.000,10",
            "a,1970-01-01 00:00:10.000,10",
            "a,1970-01-01 00:00:20.000,10",
            "b,1970-01-01 00:00:00.000,10",
            "k,window_start,n",
        ]
    );
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[test]
fn an_idle_partition_does_not_hold_the_watermark_back() {
    idle_partition_released("", ", 'scan.watermark.idle-timeout' = '300 ms'");
    idle_partition_released("SET 'table.exec.source.idle-timeout' = '300 ms';", "");
}

/// Partition 1 never gets a message: without an idle timeout (set by `set` or the table's
/// `option`) the job's watermark would wait for it forever and no window would fire while
/// the job runs.
fn idle_partition_released(set: &str, option: &str) {
    let t = topic("idle", 2);
    produce(
        &t,
        &values(&[
            (0, 0, r#"{"ts":"1970-01-01 00:00:01"}"#),
            (0, 0, r#"{"ts":"1970-01-01 00:00:12"}"#),
        ]),
    );
    let sql = format!(
        "{set} CREATE TABLE t (ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH ('connector' = \
         'kafka', 'topic' = '{t}', 'properties.bootstrap.servers' = '{}', 'format' = 'json', \
         'scan.startup.mode' = 'earliest-offset'{option}); \
         SELECT window_start, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), \
         INTERVAL '10' SECOND)) GROUP BY window_start, window_end;",
        bootstrap()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["-c", &sql])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(&mut out).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push(line);
            if seen
                .iter()
                .any(|l| l.starts_with("1970-01-01 00:00:00.000,1"))
            {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        seen.iter().any(|l| l == "1970-01-01 00:00:00.000,1"),
        "the first window fired while the job ran: {seen:?}"
    );
}

#[test]
fn keys_raw_values_and_malformed_messages() {
    let t = topic("keys", 1);
    let records = [
        Record {
            partition: 0,
            key: Some(r#"{"id":1}"#),
            value: Some("first line"),
            timestamp: 0,
        },
        Record {
            partition: 0,
            key: Some(r#"{"id":2}"#),
            value: Some("second"),
            timestamp: 0,
        },
    ];
    produce(&t, &records);
    let ddl = table(
        "t",
        "id INT, line STRING",
        &t,
        ", 'key.format' = 'json', 'key.fields' = 'id', 'value.format' = 'raw', \
         'value.fields-include' = 'EXCEPT_KEY', 'scan.startup.mode' = 'earliest-offset'",
    );
    assert_eq!(
        rows(&format!("{ddl} SELECT id, line FROM t;")),
        vec!["1,first line", "2,second", "id,line"]
    );
    // A malformed value fails the job, naming where it is. With ignore-parse-errors, as in
    // Flink, a value that is no JSON object is skipped, and a field that is no value of its
    // type is NULL (the json_ignore_parse_errors conformance case has Flink's answers); both
    // are counted and named.
    let t = topic("bad", 1);
    let messages = [
        r#"{"n":1,"s":"a"}"#,
        "{oops",
        r#"{"n":"x","s":"b"}"#,
        r#"{"n":3,"s":"c"}"#,
    ];
    produce(&t, &values(&messages.map(|m| (0, 0, m))));
    let strict = table(
        "t",
        "n INT, s STRING",
        &t,
        ", 'format' = 'json', 'scan.startup.mode' = 'earliest-offset'",
    );
    let out = rill(&format!("{strict} SELECT n, s FROM t;"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("{t}-0 offset 1: value")),
        "{}",
        stderr(&out)
    );
    let lenient = table(
        "t",
        "n INT, s STRING",
        &t,
        ", 'format' = 'json', 'json.ignore-parse-errors' = 'true', \
         'scan.startup.mode' = 'earliest-offset'",
    );
    let out = rill(&format!("{lenient} SELECT n, s FROM t;"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n,s\n1,a\n,b\n3,c\n");
    let err = stderr(&out);
    assert!(
        err.contains("ignored parse errors in 2 malformed rows"),
        "{err}"
    );
    assert!(err.contains(&format!("{t}-0 offset 1: value: ")), "{err}");
    assert!(err.contains("; skipped"), "{err}");
    let nulled = format!("{t}-0 offset 2: value: cannot read \"x\" as INT for n; read as NULL");
    assert!(err.contains(&nulled), "{err}");
}

#[test]
fn a_sink_writes_keyed_messages() {
    let input = topic("sink-in", 1);
    produce(
        &input,
        &values(&[(0, 5_000, "a,1"), (0, 6_000, "b,2"), (0, 7_000, "a,3")]),
    );
    let output = topic("sink-out", 3);
    let sql = format!(
        "{} CREATE TABLE o (s STRING, n INT, ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp') \
         WITH ('connector' = 'kafka', 'topic' = '{output}', 'properties.bootstrap.servers' = \
         '{}', 'key.format' = 'csv', 'key.fields' = 's', 'value.format' = 'json', \
         'properties.batch.num.messages' = '1'); \
         INSERT INTO o SELECT s, n * 10, ts FROM i;",
        table(
            "i",
            "s STRING, n INT, ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp'",
            &input,
            ", 'format' = 'csv', 'scan.startup.mode' = 'earliest-offset'"
        ),
        bootstrap()
    );
    let out = rill(&sql);
    assert!(out.status.success(), "{}", stderr(&out));
    let messages = consume(&output, 3);
    assert_eq!(messages.len(), 3, "{messages:?}");
    // Messages of one key land in one partition, in order.
    let a: Vec<_> = messages
        .iter()
        .filter(|m| m.1.as_deref() == Some("a"))
        .collect();
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].0, a[1].0);
    assert_eq!(a[0].2.as_deref(), Some(r#"{"s":"a","n":10}"#));
    assert_eq!(a[1].2.as_deref(), Some(r#"{"s":"a","n":30}"#));
    // And read back, the timestamps came along.
    let back = table(
        "r",
        "s STRING, n INT, ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp'",
        &output,
        ", 'format' = 'json', 'scan.startup.mode' = 'earliest-offset'",
    );
    assert_eq!(
        rows(&format!("{back} SELECT s, n, ts FROM r;")),
        vec![
            "a,10,1970-01-01 00:00:05.000",
            "a,30,1970-01-01 00:00:07.000",
            "b,20,1970-01-01 00:00:06.000",
            "s,n,ts"
        ]
    );
}

#[test]
fn upsert_kafka_round_trip() {
    let input = topic("up-in", 1);
    produce(
        &input,
        &values(&[(0, 0, "a,1"), (0, 0, "b,2"), (0, 0, "a,3"), (0, 0, "c,4")]),
    );
    let output = topic("up-out", 2);
    let upsert = |options: &str| upsert_table("o", "s STRING, total BIGINT", &output, options);
    let sql = format!(
        "{} {} INSERT INTO o SELECT s, SUM(n) FROM i GROUP BY s;",
        table(
            "i",
            "s STRING, n INT",
            &input,
            ", 'format' = 'csv', 'scan.startup.mode' = 'earliest-offset'"
        ),
        upsert(", 'properties.batch.num.messages' = '1'")
    );
    // One row at a time, so that every change of a key's row comes out (Flink's changelog).
    let out = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["-c", &sql, "--batch-size", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // One message per change of a key's row, the latest last; -U is not written.
    let messages = consume(&output, 4);
    let of_a: Vec<_> = messages
        .iter()
        .filter(|m| m.1.as_deref() == Some("a"))
        .map(|m| m.2.clone().unwrap())
        .collect();
    assert_eq!(
        of_a,
        vec![r#"{"s":"a","total":1}"#, r#"{"s":"a","total":4}"#]
    );
    // A tombstone deletes its key's row.
    produce(
        &output,
        &[Record {
            partition: partition_of(&messages, "b"),
            key: Some("b"),
            value: None,
            timestamp: 0,
        }],
    );
    // The topic is read as a changelog: the latest row per key, deletes applied.
    let bounded =
        upsert(", 'properties.batch.num.messages' = '1', 'scan.bounded.mode' = 'latest-offset'");
    let out = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["-c", &format!("{bounded} SELECT s, total FROM o;")])
        .args(["--format", "changelog", "--header"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut live: Vec<String> = Vec::new();
    for line in text.lines().skip(1) {
        let (op, row) = line.split_once(',').unwrap();
        match op {
            "+I" | "+U" => live.push(row.to_string()),
            "-U" | "-D" => live.retain(|r| r != row),
            other => panic!("unexpected change {other}"),
        }
    }
    live.sort();
    assert_eq!(live, vec!["a,4", "c,4"], "changelog:\n{text}");
}

/// An upsert table writes a -U row as a tombstone, as Flink's does: the planner sends it one
/// only where a filter on other columns than the key may drop the row after it. Here `a`'s new
/// sum no longer passes the filter, so its row is deleted.
#[test]
fn a_row_an_update_takes_out_of_a_filter_is_deleted_from_an_upsert_topic() {
    let input = topic("up-filter-in", 1);
    produce(
        &input,
        &values(&[(0, 0, "a,1"), (0, 0, "b,2"), (0, 0, "a,3"), (0, 0, "c,4")]),
    );
    let output = topic("up-filter-out", 1);
    let sql = format!(
        "{} {} INSERT INTO o SELECT s, total FROM (SELECT s, SUM(n) AS total FROM i GROUP BY s) \
         WHERE total < 3;",
        table(
            "i",
            "s STRING, n INT",
            &input,
            ", 'format' = 'csv', 'scan.startup.mode' = 'earliest-offset'"
        ),
        upsert_table("o", "s STRING, total BIGINT", &output, "")
    );
    let out = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["-c", &sql, "--batch-size", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let messages: Vec<(Option<String>, Option<String>)> = consume(&output, 3)
        .into_iter()
        .map(|m| (m.1, m.2))
        .collect();
    let message = |key: &str, value: Option<&str>| (Some(key.to_string()), value.map(String::from));
    assert_eq!(
        messages,
        [
            message("a", Some(r#"{"s":"a","total":1}"#)),
            message("b", Some(r#"{"s":"b","total":2}"#)),
            message("a", None)
        ]
    );
}

/// An upsert table needs no -U rows: the deduplication writing to it makes none and keeps only
/// each key's latest time, and the topic still gets each key's latest row.
#[test]
fn a_deduplication_into_upsert_kafka_writes_each_keys_latest_row() {
    let input = topic("dedup-in", 1);
    let rows = [
        "a,1,1970-01-01 00:00:01",
        "b,5,1970-01-01 00:00:05",
        "a,3,1970-01-01 00:00:03",
        "a,2,1970-01-01 00:00:02",
        "b,6,1970-01-01 00:00:06",
        "c,7,1970-01-01 00:00:07",
    ];
    produce(&input, &values(&rows.map(|r| (0, 0, r))));
    let output = topic("dedup-out", 1);
    let sql = format!(
        "{} {} INSERT INTO o SELECT s, n FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY s \
         ORDER BY ts DESC) AS rn FROM i) WHERE rn = 1;",
        table(
            "i",
            "s STRING, n INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '10' SECOND",
            &input,
            ", 'format' = 'csv', 'scan.startup.mode' = 'earliest-offset'"
        ),
        upsert_table("o", "s STRING, n INT", &output, "")
    );
    // One row at a time, so that every change of a key's row comes out.
    let out = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["-c", &sql, "--batch-size", "1", "-p", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let explained = rill(&sql.replace("INSERT", "EXPLAIN INSERT"));
    assert!(
        stdout(&explained).contains("no -U rows"),
        "{}",
        stdout(&explained)
    );
    // a's row at 00:00:02 came after a later one: it changes nothing.
    let messages: Vec<String> = consume(&output, 5)
        .into_iter()
        .map(|m| m.2.unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            r#"{"s":"a","n":1}"#,
            r#"{"s":"b","n":5}"#,
            r#"{"s":"a","n":3}"#,
            r#"{"s":"b","n":6}"#,
            r#"{"s":"c","n":7}"#
        ]
    );
}

fn partition_of(messages: &[(i32, Option<String>, Option<String>)], key: &str) -> i32 {
    messages
        .iter()
        .find(|m| m.1.as_deref() == Some(key))
        .map(|m| m.0)
        .unwrap()
}

#[test]
fn an_unreachable_broker_is_a_clear_error_within_seconds() {
    let start = Instant::now();
    let out = rill(
        "CREATE TABLE t (s STRING) WITH ('connector' = 'kafka', 'topic' = 'x', \
         'properties.bootstrap.servers' = '127.0.0.1:1', 'format' = 'raw', \
         'scan.startup.mode' = 'earliest-offset'); SELECT s FROM t;",
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("Kafka (127.0.0.1:1): cannot reach the brokers within 10 s"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(20));
}

/// Named fault points of a checkpointed job (see `rill_engine::fault`) on the checkpoint's
/// path: kills anywhere from the barrier to the manifest.
const CHECKPOINT_FAULTS: [&str; 5] = [
    "after-barrier:2",
    "between-state-files:2",
    "before-manifest-rename:3",
    "after-manifest-rename:2",
    "after-manifest-rename:4",
];

/// Fault points in the exactly-once sink's thread, where no Kafka transaction is open: before
/// its commit the checkpoint is complete and the restored sink must produce its messages,
/// after it the restored sink must not produce them again. Tansu, unlike Kafka, shows aborted
/// records to every reader, so kills that may land inside a transaction (those of
/// [`CHECKPOINT_FAULTS`], from other threads) are added only against a real Kafka.
const SINK_FAULTS: [&str; 5] = [
    "kafka-before-commit:1",
    "kafka-after-commit:1",
    "kafka-before-commit:2",
    "kafka-after-commit:2",
    // The last commit of a run is its end's: a first pass always lands.
    "kafka-before-commit:1",
];

/// Runs a checkpointed job copying 6000 rows (filtered) from one topic to another with
/// `delivery` options, killed at each of `faults` and restarted until it finishes; the
/// rows expected and the messages of the output topic, both sorted.
fn copy_with_kills(name: &str, delivery: &str, faults: &[&str]) -> (Vec<String>, Vec<String>) {
    let input = topic(&format!("{name}-in"), 3);
    let records: Vec<(i32, i64, &str)> = (0..6000)
        .map(|i| (i % 3, i as i64, leak(format!("{i},{}", i % 7))))
        .collect();
    produce(&input, &values(&records));
    let output = topic(&format!("{name}-out"), 2);
    let dir = tempfile::tempdir().unwrap();
    let sql = format!(
        "SET 'execution.checkpointing.interval' = '50 ms'; \
         SET 'execution.checkpointing.dir' = '{}'; {} \
         CREATE TABLE o (id INT, m INT) WITH ('connector' = 'kafka', 'topic' = '{output}', \
         'properties.bootstrap.servers' = '{}', 'format' = 'csv'{delivery}); \
         INSERT INTO o SELECT id, m FROM i WHERE m <> 0;",
        dir.path().display(),
        table(
            "i",
            "id INT, m INT",
            &input,
            ", 'format' = 'csv', 'scan.startup.mode' = 'earliest-offset'"
        ),
        bootstrap()
    );
    let mut faults = faults.iter();
    let mut kills = 0;
    for run in 1.. {
        assert!(run < 30, "the job does not finish");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rill"));
        cmd.args(["-c", &sql, "--batch-size", "16"]);
        if let Some(fault) = faults.next() {
            cmd.env("RILL_FAULT", fault);
        }
        let out = cmd.output().unwrap();
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        if out.status.success() {
            break;
        }
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(9), "{}", stderr(&out));
        kills += 1;
    }
    eprintln!("{name}: {kills} kills");
    assert!(kills >= 3, "only {kills} kills landed");
    let expected: Vec<String> = (0..6000)
        .filter(|i| i % 7 != 0)
        .map(|i| format!("{i},{}", i % 7))
        .collect();
    // Until every expected row came (at least once, they may come twice).
    let distinct = |got: &[broker::Consumed]| {
        let values: std::collections::BTreeSet<&str> =
            got.iter().filter_map(|m| m.2.as_deref()).collect();
        values.len() >= expected.len()
    };
    let mut got: Vec<String> = broker::consume_until(&output, distinct)
        .into_iter()
        .map(|m| m.2.unwrap())
        .collect();
    got.sort_by_key(|l| l.split(',').next().unwrap().parse::<i32>().unwrap());
    (expected, got)
}

#[test]
fn exactly_once_output_survives_kills() {
    let mut faults = SINK_FAULTS.to_vec();
    if broker::is_real_kafka() {
        faults.extend(CHECKPOINT_FAULTS);
    }
    let (expected, got) = copy_with_kills(
        "eo",
        ", 'sink.delivery-guarantee' = 'exactly-once', 'sink.transactional-id-prefix' = 'eo'",
        &faults,
    );
    assert_eq!(got.len(), expected.len(), "no message lost or doubled");
    assert!(got == expected, "the rows themselves");
}

#[test]
fn at_least_once_output_loses_nothing_across_kills() {
    let (expected, got) = copy_with_kills("alo", "", &CHECKPOINT_FAULTS);
    let got: std::collections::BTreeSet<String> = got.into_iter().collect();
    let expected: std::collections::BTreeSet<String> = expected.into_iter().collect();
    let missing: Vec<&String> = expected.difference(&got).take(5).collect();
    assert!(missing.is_empty(), "rows lost: {missing:?}...");
    assert_eq!(got.len(), expected.len(), "no row that should not be there");
}

#[test]
fn a_second_process_with_the_same_transactional_id_fences_the_first() {
    let input = topic("fence-in", 1);
    produce(&input, &values(&[(0, 0, "1"), (0, 0, "2")]));
    let output = topic("fence-out", 1);
    let job = |dir: &std::path::Path| {
        format!(
            "SET 'execution.checkpointing.interval' = '100 ms'; \
             SET 'execution.checkpointing.dir' = '{}'; \
             CREATE TABLE i (n INT) WITH ('connector' = 'kafka', 'topic' = '{input}', \
             'properties.bootstrap.servers' = '{b}', 'format' = 'csv', \
             'scan.startup.mode' = 'earliest-offset'); \
             CREATE TABLE o (n INT) WITH ('connector' = 'kafka', 'topic' = '{output}', \
             'properties.bootstrap.servers' = '{b}', 'format' = 'csv', \
             'sink.delivery-guarantee' = 'exactly-once', \
             'sink.transactional-id-prefix' = 'fence-{output}'); \
             INSERT INTO o SELECT n FROM i;",
            dir.display(),
            b = bootstrap()
        )
    };
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let spawn = |sql: String| {
        Command::new(env!("CARGO_BIN_EXE_rill"))
            .args(["-c", &sql])
            // Lifecycle and transaction logs, shown if the test fails.
            .env("RUST_LOG", "info,rill_kafka=debug")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = spawn(job(a_dir.path()));
    // The first job committed its messages; then a second takes the same id.
    assert_eq!(consume(&output, 2).len(), 2);
    let mut second = spawn(job(b_dir.path()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = first.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > Duration::from_secs(30) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = second.kill();
    let _ = first.kill();
    let _ = (second.wait(), first.wait());
    use std::io::Read;
    let (mut err, mut second_err) = (String::new(), String::new());
    first
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    second
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut second_err)
        .unwrap();
    assert!(
        status.is_some_and(|s| !s.success()),
        "the first job was fenced: {err}\nthe second job said: {second_err}"
    );
    assert!(err.contains("took over"), "{err}");
}

#[test]
fn show_jobs_shows_each_partitions_lag() {
    let t = topic("lag", 2);
    produce(&t, &values(&[(0, 0, "a"), (0, 0, "b"), (1, 0, "c")]));
    let mut shell = Command::new(env!("CARGO_BIN_EXE_rill"))
        .env("HOME", tempfile::tempdir().unwrap().path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = shell.stdin.take().unwrap();
    use std::io::Write;
    writeln!(
        input,
        "CREATE TABLE t (s STRING) WITH ('connector' = 'kafka', 'topic' = '{t}', \
         'properties.bootstrap.servers' = '{}', 'format' = 'raw', \
         'scan.startup.mode' = 'earliest-offset'); \
         CREATE TABLE b (s STRING) WITH ('connector' = 'blackhole'); \
         INSERT INTO b SELECT s FROM t;",
        bootstrap()
    )
    .unwrap();
    // librdkafka reports lag once a second.
    std::thread::sleep(Duration::from_millis(3000));
    writeln!(input, "SHOW JOBS;").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(input);
    let out = shell.wait_with_output().unwrap();
    let text = stdout(&out);
    assert!(
        text.contains(&format!("{t}-0: 0, {t}-1: 0")),
        "{text}\n{}",
        stderr(&out)
    );
}

/// The rows of every file under `out` (a shared job's tasks each write a directory),
/// sorted; no hidden (uncommitted) file may be left.
fn files_output(out: &std::path::Path) -> Vec<String> {
    let mut rows = Vec::new();
    for entry in walk(out) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "a hidden file is left: {entry:?}");
        rows.extend(
            std::fs::read_to_string(&entry)
                .unwrap()
                .lines()
                .map(String::from),
        );
    }
    rows.sort();
    rows
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Waits for `child` at most two minutes (a shared job whose tasks nobody takes over
/// would wait for ever); its output.
/// A child process whose output is read from now on, so that it never blocks on a full pipe.
struct Watched {
    pid: libc::pid_t,
    output: std::sync::mpsc::Receiver<std::io::Result<Output>>,
}

fn watch(child: std::process::Child) -> Watched {
    let pid = child.id() as libc::pid_t;
    let (tx, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    Watched { pid, output }
}

/// The output of `child` once it ended; killed (and the test failed) after two minutes.
fn wait_within(child: Watched, what: &str) -> Output {
    match child.output.recv_timeout(Duration::from_secs(120)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(child.pid, libc::SIGKILL) };
            panic!("{what} did not end within two minutes");
        }
    }
}

/// A count and sum of prices per symbol in 10-second windows of `ticks`.
const WINDOW_SUMS: &str = "SELECT symbol, window_start, window_end, COUNT(*) AS n, \
    SUM(price) AS total FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '10' SECOND)) \
    GROUP BY symbol, window_start, window_end";

/// Runs `query` (of `rows` rows: symbol, window_start, n, total) over a 6-partition topic
/// `ticks` alone, then shared by three processes of which the first is killed at `fault`
/// (a `RILL_FAULT`). Each run (`"alone"`, `"shared"`) writes to the table `out` that
/// `sink(run, dir)` declares (`dir`: a fresh directory), and `read(run, dir)` reads its
/// output back: both runs give the same rows.
fn shared_with_a_kill(
    query: &str,
    rows: usize,
    fault: &str,
    sink: impl Fn(&str, &str) -> String,
    read: impl Fn(&str, &str) -> Vec<String>,
) {
    use std::os::unix::process::ExitStatusExt;
    let topic = topic("shared", 6);
    // 20 symbols over 6 partitions, 10 s of event time per partition and per symbol.
    let messages: Vec<(i32, i64, String)> = (0..6000i64)
        .map(|i| {
            let value = format!(
                r#"{{"symbol": "S{:02}", "price": {}, "ts": "2026-01-01 00:{:02}:{:02}.{:03}"}}"#,
                (i * 7) % 20,
                (i * 13) % 1000,
                i / 600,
                (i / 10) % 60,
                (i % 10) * 100
            );
            ((i % 6) as i32, i, value)
        })
        .collect();
    let records: Vec<Record> = messages
        .iter()
        .map(|(partition, timestamp, value)| Record {
            partition: *partition,
            key: None,
            value: Some(value.as_str()),
            timestamp: *timestamp,
        })
        .collect();
    produce(&topic, &records);
    let work = tempfile::tempdir().unwrap();
    let job = |name: &str, shared: bool| {
        let dir = work.path().join(format!("{name}-checkpoints"));
        let out = format!("{}-{name}", work.path().join("out").display());
        let sql = format!(
            "SET 'execution.checkpointing.interval' = '100 ms'; \
             SET 'execution.checkpointing.dir' = '{}'; \
             SET 'rill.scale-out' = '{shared}'; \
             {} {} INSERT INTO out {query};",
            dir.display(),
            table(
                "ticks",
                "symbol STRING, price BIGINT, ts TIMESTAMP(3), \
                 WATERMARK FOR ts AS ts - INTERVAL '1' SECOND",
                &topic,
                &format!(
                    ", 'format' = 'json', 'scan.startup.mode' = 'earliest-offset', \
                     'properties.group.id' = '{topic}-{name}', \
                     'properties.session.timeout.ms' = '6000', \
                     'properties.heartbeat.interval.ms' = '500'"
                ),
            ),
            sink(name, &out)
        );
        (sql, out)
    };
    let (alone, alone_out) = job("alone", false);
    let out = rill(&alone);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = read("alone", &alone_out);
    assert_eq!(expected.len(), rows);

    let (shared, shared_out) = job("shared", true);
    let spawn = |fault: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rill"));
        command.args(["-c", &shared]).env_remove("RUST_BACKTRACE");
        if let Some(fault) = fault {
            command.env("RILL_FAULT", fault);
        }
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("rill runs")
    };
    let doomed = watch(spawn(Some(fault)));
    let survivors = [spawn(None), spawn(None)].map(watch);
    let doomed = wait_within(doomed, "the first process");
    assert_eq!(
        doomed.status.signal(),
        Some(libc::SIGKILL),
        "the first process is killed: {}",
        String::from_utf8_lossy(&doomed.stderr)
    );
    let mut said = String::from_utf8_lossy(&doomed.stderr).into_owned();
    for survivor in survivors {
        let out = wait_within(survivor, "a surviving process");
        said.push_str(&String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{said}");
    }
    let shared = read("shared", &shared_out);
    assert_eq!(
        shared.len(),
        expected.len(),
        "what the processes said:\n{said}"
    );
    assert_eq!(shared, expected);
}

#[test]
fn three_processes_share_a_job_and_one_killed_mid_run_changes_no_file() {
    // Every symbol in every window.
    let query = format!("SELECT symbol, window_start, n, total FROM ({WINDOW_SUMS})");
    shared_with_a_kill(
        &query,
        20 * 60,
        FIRST_CHECKPOINT,
        csv_files_out,
        |_, dir| files_output(std::path::Path::new(dir)),
    );
}

/// The first process dies in its first checkpoint, in the middle of its tasks, before any of
/// its tasks completed one (so no Kafka transaction of its is open).
const FIRST_CHECKPOINT: &str = "after-barrier:2";

/// An exactly-once file table `out` in `dir` for [`shared_with_a_kill`].
fn csv_files_out(_: &str, dir: &str) -> String {
    format!(
        "CREATE TABLE out (symbol STRING, window_start TIMESTAMP(3), n BIGINT, total BIGINT) \
         WITH ('connector' = 'filesystem', 'path' = '{dir}/', 'format' = 'csv');"
    )
}

#[test]
fn a_job_repartitioned_twice_survives_a_kill_in_three_processes() {
    // The three symbols of each window with the highest sums: ranked per window, which the
    // first repartition (by symbol) does not serve, so the sums are repartitioned again by
    // window. The first process dies having sent on half of a completed checkpoint's rows:
    // its tasks send them again when they resume elsewhere, and the ranking must take
    // each once.
    let query = format!(
        "SELECT symbol, window_start, n, total FROM (SELECT *, ROW_NUMBER() OVER (PARTITION \
         BY window_start, window_end ORDER BY total DESC, symbol) AS rn FROM ({WINDOW_SUMS})) \
         WHERE rn <= 3"
    );
    shared_with_a_kill(
        &query,
        3 * 60,
        "stage-sent-half:2",
        csv_files_out,
        |_, dir| files_output(std::path::Path::new(dir)),
    );
}

#[test]
fn three_processes_share_a_job_into_an_exactly_once_topic() {
    let topics: std::collections::BTreeMap<&str, String> = [
        ("alone", topic("shared-out", 1)),
        ("shared", topic("shared-out", 3)),
    ]
    .into();
    let query = format!("SELECT symbol, window_start, n, total FROM ({WINDOW_SUMS})");
    shared_with_a_kill(
        &query,
        20 * 60,
        FIRST_CHECKPOINT,
        |run, _| {
            format!(
                "CREATE TABLE out (symbol STRING, window_start TIMESTAMP(3), n BIGINT, \
                 total BIGINT) WITH ('connector' = 'kafka', 'topic' = '{0}', \
                 'properties.bootstrap.servers' = '{1}', 'format' = 'csv', \
                 'sink.delivery-guarantee' = 'exactly-once', \
                 'sink.transactional-id-prefix' = '{0}');",
                topics[run],
                bootstrap()
            )
        },
        |run, _| {
            // Tansu loses sight, for read_committed readers, of committed transactions of a
            // producer that took over its transactional id again (a task resumed from a
            // savepoint): seen as 900 rows read committed of 1200 read uncommitted, the
            // missing ones exactly one resumed task's, every transaction of which librdkafka
            // had committed. Tansu hides no aborted transaction either, so what reached the
            // topic is what to check there; a real Kafka is read committed.
            let messages = match broker::is_real_kafka() {
                true => consume(&topics[run], 20 * 60),
                false => broker::consume_uncommitted(&topics[run], 20 * 60),
            };
            let mut rows: Vec<String> = messages.into_iter().filter_map(|m| m.2).collect();
            rows.sort();
            rows
        },
    );
}

/// A shared job's statements around `query`, over a Kafka table `k`.
fn shared_job(query: &str) -> String {
    format!(
        "SET 'execution.checkpointing.interval' = '1 s'; \
         SET 'execution.checkpointing.dir' = '/nonexistent/never-written'; \
         SET 'rill.scale-out' = 'true'; {} \
         CREATE TABLE out (symbol STRING, n BIGINT) WITH ('connector' = 'print'); {query}",
        table(
            "k",
            "symbol STRING, price BIGINT, ts TIMESTAMP(3), \
             WATERMARK FOR ts AS ts - INTERVAL '1' SECOND",
            "never-read",
            ", 'format' = 'json', 'properties.group.id' = 'g'"
        )
    )
}

#[test]
fn explain_shows_how_a_shared_job_is_repartitioned() {
    let out = rill(&shared_job(
        "EXPLAIN INSERT INTO out SELECT symbol, COUNT(*) FROM TABLE(TUMBLE(TABLE k, \
         DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY symbol, window_start, window_end;",
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "repartitions the rows through the job's repartition topic 0 by hash(symbol)"
        ),
        "{text}"
    );
}

#[test]
fn a_shared_job_repartitions_unnested_rows_by_a_column_of_the_table() {
    let job = format!(
        "SET 'execution.checkpointing.interval' = '1 s'; \
         SET 'execution.checkpointing.dir' = '/nonexistent/never-written'; \
         SET 'rill.scale-out' = 'true'; {} \
         CREATE TABLE out (symbol STRING, n BIGINT) WITH ('connector' = 'print'); \
         EXPLAIN INSERT INTO out SELECT symbol, COUNT(tag) FROM k \
         CROSS JOIN UNNEST(tags) AS u (tag) GROUP BY symbol;",
        table(
            "k",
            "symbol STRING, tags ARRAY<STRING>",
            "never-read",
            ", 'format' = 'json', 'properties.group.id' = 'g'"
        )
    );
    let out = rill(&job);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("by hash(symbol)"), "{text}");
    assert!(text.contains("operator Unnest"), "{text}");
}

#[test]
fn a_shared_job_writing_late_rows_to_a_side_file_is_refused_at_planning() {
    let out = rill(&shared_job(
        "SET 'rill.late-rows' = 'side-output'; SET 'rill.late-rows.path' = '/tmp/late.csv'; \
         INSERT INTO out SELECT symbol, COUNT(*) FROM TABLE(TUMBLE(TABLE k, \
         DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY symbol, window_start, window_end;",
    ));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("each would write the same file"),
        "{}",
        stderr(&out)
    );
}

/// An unbounded shared job (a GROUP BY over `topic`, checkpoints in `checkpoints`)
/// started in one process, once it says which tasks it runs: the process, the rest of its
/// stderr, and what it said so far.
fn start_shared_job(
    topic: &str,
    checkpoints: &std::path::Path,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStderr>,
    String,
) {
    use std::io::BufRead;
    let out = checkpoints.with_file_name("out");
    let sql = format!(
        "SET 'execution.checkpointing.interval' = '200 ms'; \
         SET 'execution.checkpointing.dir' = '{}'; SET 'rill.scale-out' = 'true'; \
         CREATE TABLE k (symbol STRING, n BIGINT) WITH ('connector' = 'kafka', \
         'topic' = '{topic}', 'properties.bootstrap.servers' = '{}', 'format' = 'json', \
         'properties.group.id' = '{topic}', 'scan.startup.mode' = 'earliest-offset'); \
         CREATE TABLE out (symbol STRING, n BIGINT) WITH ('connector' = 'filesystem', \
         'path' = '{}/', 'format' = 'debezium-json'); \
         INSERT INTO out SELECT symbol, SUM(n) FROM k GROUP BY symbol;",
        checkpoints.display(),
        bootstrap(),
        out.display()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["-c", &sql])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("runs tasks") {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "rill ended: {said}"
        );
        said.push_str(&line);
    }
    (child, stderr, said)
}

#[test]
fn sigterm_stops_a_shared_jobs_tasks_at_savepoints() {
    let topic = topic("shared-stop", 2);
    produce(
        &topic,
        &values(&[
            (0, 1, r#"{"symbol": "A", "n": 1}"#),
            (1, 2, r#"{"symbol": "B", "n": 2}"#),
        ]),
    );
    let work = tempfile::tempdir().unwrap();
    // Unbounded: it runs until stopped.
    let (child, mut stderr, said) = start_shared_job(&topic, &work.path().join("checkpoints"));
    assert!(said.contains("runs tasks 0, 1 of 2"), "{said}");
    // SAFETY: kill(2) on a child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = wait_within(watch(child), "the stopped process").status;
    assert_eq!(status.code(), Some(143), "{said}{rest}");
    assert!(
        rest.contains("stopping: tasks 0, 1 stopped at savepoints"),
        "{said}{rest}"
    );
}

#[test]
fn an_unbounded_job_repartitioned_again_writes_each_closed_window() {
    // The top symbol of each 10-second window, counted by symbol and ranked by window, on a
    // topic that does not end: the counts reach the ranking through the cut stream as its
    // part's checkpoints complete, and each window's top comes out once the watermark
    // (47 s) closed it, while the job runs.
    use std::io::Read;
    let topic = spelled_symbols_topic("shared-live-cut");
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let sql = format!(
        "SET 'execution.checkpointing.interval' = '200 ms'; \
         SET 'execution.checkpointing.dir' = '{}'; SET 'rill.scale-out' = 'true'; \
         CREATE TABLE k (symbol STRING, n BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) \
         WITH ('connector' = 'kafka', 'topic' = '{topic}', 'properties.bootstrap.servers' = \
         '{}', 'format' = 'json', 'properties.group.id' = '{topic}', \
         'scan.startup.mode' = 'earliest-offset'); \
         CREATE TABLE out (symbol STRING, w TIMESTAMP(3), c BIGINT) WITH ('connector' = \
         'filesystem', 'path' = '{}/', 'format' = 'csv'); \
         INSERT INTO out SELECT symbol, window_start, c FROM (SELECT *, ROW_NUMBER() OVER \
         (PARTITION BY window_start, window_end ORDER BY c DESC, symbol) AS rn FROM \
         (SELECT symbol, window_start, window_end, COUNT(*) AS c FROM TABLE(TUMBLE(TABLE k, \
         DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY symbol, window_start, window_end)) \
         WHERE rn <= 1;",
        work.path().join("checkpoints").display(),
        bootstrap(),
        out.display()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["-c", &sql])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // The files committed so far (others are in progress, and may be renamed meanwhile).
    let committed = || -> Vec<String> {
        let files = match out.exists() {
            true => walk(&out),
            false => Vec::new(),
        };
        let mut rows: Vec<String> = (files.iter())
            .filter(|f| !f.file_name().unwrap().to_string_lossy().starts_with('.'))
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .flat_map(|text| text.lines().map(String::from).collect::<Vec<_>>())
            .collect();
        rows.sort();
        rows
    };
    while committed().len() < 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let written = committed();
    // SAFETY: kill(2) on a child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut said = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    let status = wait_within(watch(child), "the stopped process").status;
    assert_eq!(status.code(), Some(143), "{said}");
    // The windows from 0 s to 40 s (the last, to 50 s, stays open), each with its symbol
    // (in two spellings: 46) counted most, the first in order among equals (counted in
    // Python).
    let mut expected: Vec<String> = [("s11", "00"), ("s1", "10"), ("s0", "20"), ("s16", "30")]
        .iter()
        .map(|(symbol, s)| format!("{symbol},\"2026-01-01 00:00:{s}\",8"))
        .collect();
    expected.sort();
    assert_eq!(written, expected, "{said}");
    // Stopped at savepoints, with nothing more.
    assert_eq!(files_output(&out), expected, "{said}");
}

#[test]
fn two_processes_share_a_join_of_two_topics() {
    let left = topic("shared-left", 6);
    let right = topic("shared-right", 3);
    let lefts: Vec<String> = (0..600)
        .map(|i| {
            format!(
                r#"{{"id": {}, "a": "a{i}", "ts": "2026-01-01 00:00:{:02}"}}"#,
                i % 97,
                i / 10
            )
        })
        .collect();
    let rights: Vec<String> = (0..300)
        .map(|i| {
            format!(
                r#"{{"id": {}, "b": "b{i}", "ts": "2026-01-01 00:00:{:02}"}}"#,
                i % 89,
                i / 5
            )
        })
        .collect();
    produce_round_robin(&left, &lefts, 6);
    produce_round_robin(&right, &rights, 3);
    let work = tempfile::tempdir().unwrap();
    let job = |name: &str, shared: bool| {
        let out = work.path().join(format!("out-{name}"));
        // The keys' types differ (BIGINT and INT): both sides are routed as BIGINT.
        let sql = format!(
            "SET 'execution.checkpointing.interval' = '200 ms'; \
             SET 'execution.checkpointing.dir' = '{}'; SET 'rill.scale-out' = '{shared}'; \
             {} {} \
             CREATE TABLE out (id BIGINT, a STRING, b STRING) WITH ('connector' = \
             'filesystem', 'path' = '{}/', 'format' = 'csv'); \
             INSERT INTO out SELECT l.id, l.a, r.b FROM l JOIN r ON l.id = r.id \
             AND r.ts BETWEEN l.ts - INTERVAL '5' SECOND AND l.ts + INTERVAL '5' SECOND;",
            work.path().join(format!("checkpoints-{name}")).display(),
            table(
                "l",
                "id BIGINT, a STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts",
                &left,
                &format!(
                    ", 'format' = 'json', 'scan.startup.mode' = 'earliest-offset', \
                     'properties.group.id' = '{left}-{name}'"
                )
            ),
            table(
                "r",
                "id INT, b STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts",
                &right,
                ", 'format' = 'json', 'scan.startup.mode' = 'earliest-offset'"
            ),
            out.display()
        );
        (sql, out)
    };
    let (alone, alone_out) = job("alone", false);
    let out = rill(&alone);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = files_output(&alone_out);
    assert!(expected.len() > 100, "the join matches: {}", expected.len());
    let (shared, shared_out) = job("shared", true);
    run_in_two_processes(&shared);
    assert_eq!(files_output(&shared_out), expected);
}

/// Runs the shared job `sql` in two processes at once, which must both succeed.
fn run_in_two_processes(sql: &str) {
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_rill"))
            .args(["-c", sql])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let processes = [spawn(), spawn()].map(watch);
    for process in processes {
        let out = wait_within(process, "a process");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A new 4-partition topic (named after `name`) of 1200 json messages `{"symbol", "n", "ts"}`:
/// 23 symbols, each spelled in lower and upper case (`s1`, `S1`), `n` = i % 5, 25 a second.
fn spelled_symbols_topic(name: &str) -> String {
    let topic = topic(name, 4);
    let messages: Vec<String> = (0..1200)
        .map(|i| {
            let symbol = format!("s{}", i % 23);
            let symbol = match i % 3 {
                0 => symbol.to_uppercase(),
                _ => symbol,
            };
            let ts = format!("2026-01-01 00:00:{:02}", i / 25);
            format!(r#"{{"symbol": "{symbol}", "n": {}, "ts": "{ts}"}}"#, i % 5)
        })
        .collect();
    produce_round_robin(&topic, &messages, 4);
    topic
}

/// Produces `messages` to `topic`, the i-th to partition i % `partitions` at time i ms.
fn produce_round_robin(topic: &str, messages: &[String], partitions: usize) {
    let records: Vec<Record> = (messages.iter().enumerate())
        .map(|(i, value)| Record {
            partition: (i % partitions) as i32,
            key: None,
            value: Some(value.as_str()),
            timestamp: i as i64,
        })
        .collect();
    produce(topic, &records);
}

/// Runs `statements` over the table `k` of `topic` (made by [`spelled_symbols_topic`]) into
/// the table `out` (`out_columns`, in `format`), alone and then shared by two processes: the
/// rows each wrote, and what `EXPLAIN` says of the shared job.
fn alone_and_shared(topic: &str, out: (&str, &str), statements: &str) -> [String; 3] {
    let (out_columns, format) = out;
    let work = tempfile::tempdir().unwrap();
    let job = |name: &str, shared: bool| {
        let out = work.path().join(format!("out-{name}"));
        let sql = format!(
            "SET 'execution.checkpointing.interval' = '200 ms'; \
             SET 'execution.checkpointing.dir' = '{}'; SET 'rill.scale-out' = '{shared}'; {} \
             CREATE TABLE out ({out_columns}) WITH ('connector' = 'filesystem', \
             'path' = '{}/', 'format' = '{format}'); {statements}",
            work.path().join(format!("checkpoints-{name}")).display(),
            table(
                "k",
                "symbol STRING, n BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts",
                topic,
                &format!(
                    ", 'format' = 'json', 'scan.startup.mode' = 'earliest-offset', \
                     'properties.group.id' = '{topic}-{name}'"
                )
            ),
            out.display()
        );
        (sql, out)
    };
    let (alone, alone_out) = job("alone", false);
    let out = rill(&alone);
    assert!(out.status.success(), "{}", stderr(&out));
    let (shared, shared_out) = job("shared", true);
    let explained = rill(&shared.replace("INSERT", "EXPLAIN INSERT"));
    assert!(explained.status.success(), "{}", stderr(&explained));
    run_in_two_processes(&shared);
    [
        files_output(&alone_out).join("\n"),
        files_output(&shared_out).join("\n"),
        stdout(&explained) + &stderr(&explained),
    ]
}

#[test]
fn two_processes_share_a_job_keyed_twice_by_computed_values() {
    // Symbols in two spellings, which LOWER makes one key, suffixed with 1000 / (n % 3),
    // which fails where n % 3 is 0: rows stage 1 routes before the WHERE drops them. The
    // window Top-N, keyed by part of the aggregation's key, runs in the same tasks.
    let topic = spelled_symbols_topic("shared-computed");
    let [alone, shared, explained] = alone_and_shared(
        &topic,
        ("s STRING, n BIGINT, w TIMESTAMP(3), c BIGINT", "csv"),
        "CREATE VIEW v AS SELECT LOWER(symbol) || '/' || CAST(1000 / (n % 3) AS STRING) \
         AS s, n, ts FROM k WHERE n % 3 <> 0; \
         CREATE VIEW counts AS SELECT s, n, window_start, window_end, COUNT(*) AS c \
         FROM TABLE(TUMBLE(TABLE v, DESCRIPTOR(ts), INTERVAL '10' SECOND)) \
         GROUP BY s, n, window_start, window_end; \
         INSERT INTO out SELECT s, n, window_start, c FROM (SELECT *, ROW_NUMBER() \
         OVER (PARTITION BY window_start, window_end, s ORDER BY c DESC, n) AS rn \
         FROM counts) WHERE rn <= 1;",
    );
    // The (symbol, quotient, window) combinations of the messages the WHERE keeps.
    assert_eq!(alone.lines().count(), 230, "{alone}");
    assert_eq!(shared, alone);
    let routing = (explained.lines())
        .find_map(|l| Some(l.split_once("by hash(")?.1.to_string()))
        .unwrap_or_else(|| panic!("{explained}"));
    assert!(
        routing.contains("(lower(symbol) || '/')")
            && routing.contains("CAST((1000 / (n % 3)) AS STRING)"),
        "{routing}"
    );
}

#[test]
fn a_job_keyed_otherwise_after_the_first_repartition_is_repartitioned_again() {
    // The top symbol of each window: counted by symbol, then ranked by window alone.
    let topic = spelled_symbols_topic("shared-cut");
    let [alone, shared, explained] = alone_and_shared(
        &topic,
        ("symbol STRING, w TIMESTAMP(3), c BIGINT", "csv"),
        "INSERT INTO out SELECT symbol, window_start, c FROM (SELECT *, ROW_NUMBER() OVER \
         (PARTITION BY window_start, window_end ORDER BY c DESC, symbol) AS rn FROM \
         (SELECT symbol, window_start, window_end, COUNT(*) AS c FROM TABLE(TUMBLE(TABLE k, \
         DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY symbol, window_start, window_end)) \
         WHERE rn <= 1;",
    );
    // One row per window.
    assert_eq!(alone.lines().count(), 5, "{alone}");
    assert_eq!(shared, alone);
    assert!(
        explained.contains("by hash(symbol)")
            && explained.contains(
                "WindowRank's key window_end reads window_end, which is not computed by \
                 deterministic functions of one table's columns, so the task sends an input \
                 of WindowRank on through the job's repartition topic 1 by \
                 hash(window_start, window_end)"
            )
            && !explained.contains("one task"),
        "{explained}"
    );
}

/// The rows a Debezium JSON changelog (one change a line) adds up to, sorted.
fn debezium_rows(changes: &str) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    for line in changes.lines() {
        let change: serde_json::Value = serde_json::from_str(line).unwrap();
        let before = &change["before"];
        if !before.is_null() {
            let before = before.to_string();
            let at = rows.iter().position(|r| *r == before);
            rows.swap_remove(at.unwrap_or_else(|| panic!("{line} retracts a missing row")));
        }
        if !change["after"].is_null() {
            rows.push(change["after"].to_string());
        }
    }
    rows.sort();
    rows
}

/// Runs `statement` (writing a changelog to `out`, of `columns`) alone and shared as
/// [`alone_and_shared`] does: the rows the changelog adds up to, the same in both runs, and
/// what `EXPLAIN` said.
fn changelog_alone_and_shared(
    topic: &str,
    columns: &str,
    statement: &str,
) -> (Vec<String>, String) {
    let [alone, shared, explained] = alone_and_shared(topic, (columns, "debezium-json"), statement);
    let (alone, shared) = (debezium_rows(&alone), debezium_rows(&shared));
    assert_eq!(shared, alone);
    (alone, explained)
}

#[test]
fn an_updating_result_is_repartitioned_again_with_its_changes() {
    // How many (symbol, n) groups have each count: the counts are updates (-U/+U) of a
    // GROUP BY routed by symbol and n, repartitioned again by the count, where each retract
    // must find the row it retracts.
    let topic = spelled_symbols_topic("shared-changes");
    let (alone, explained) = changelog_alone_and_shared(
        &topic,
        "c BIGINT, groups BIGINT",
        "INSERT INTO out SELECT c, COUNT(*) FROM (SELECT LOWER(symbol) AS s, n, COUNT(*) AS c \
         FROM k GROUP BY LOWER(symbol), n) GROUP BY c;",
    );
    // 1200 rows in 115 groups of 10 or 11 (counted in Python).
    assert_eq!(
        alone,
        [r#"{"c":10,"groups":65}"#, r#"{"c":11,"groups":50}"#],
        "{alone:?}"
    );
    assert!(
        explained.contains("repartition topic 1 by hash(c)"),
        "{explained}"
    );
}

#[test]
fn a_keyless_aggregation_over_keyed_results_takes_them_in_one_task() {
    // How many symbols there are, over counts per symbol: the global count has no key, so
    // its input (a changelog) goes to one task, and must add up to the 23 symbols.
    let topic = spelled_symbols_topic("shared-keyless");
    let (alone, explained) = changelog_alone_and_shared(
        &topic,
        "symbols BIGINT",
        "INSERT INTO out SELECT COUNT(*) FROM (SELECT LOWER(symbol) AS s, COUNT(*) AS c \
         FROM k GROUP BY LOWER(symbol));",
    );
    assert_eq!(alone, [r#"{"symbols":23}"#]);
    assert!(
        explained.contains("repartition topic 1 by hash()"),
        "{explained}"
    );
}

#[test]
fn a_shared_count_of_a_table_reads_rows_without_columns() {
    // COUNT(*) reads no column of the table: its rows cross the repartition with none.
    let topic = spelled_symbols_topic("shared-count");
    let (alone, _) = changelog_alone_and_shared(
        &topic,
        "n BIGINT",
        "INSERT INTO out SELECT COUNT(*) FROM k;",
    );
    assert_eq!(alone, [r#"{"n":1200}"#]);
}

#[test]
fn a_join_of_two_results_keyed_otherwise_repartitions_both_again() {
    // Symbols counted per window (routed by symbol), then paired within each window: both
    // of the join's inputs are repartitioned again, by window, alike.
    let topic = spelled_symbols_topic("shared-two-cuts");
    let [alone, shared, explained] = alone_and_shared(
        &topic,
        ("a STRING, b STRING, w TIMESTAMP(3)", "csv"),
        "CREATE VIEW counts AS SELECT symbol, window_start, window_end, COUNT(*) AS c FROM \
         TABLE(TUMBLE(TABLE k, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY symbol, \
         window_start, window_end; \
         INSERT INTO out SELECT x.symbol, y.symbol, x.window_start FROM counts x JOIN counts y \
         ON x.window_start = y.window_start AND x.window_end = y.window_end WHERE x.c > y.c;",
    );
    assert!(alone.lines().count() > 20, "{alone}");
    assert_eq!(shared, alone);
    // The view is read twice: topics 0 and 1 are the table's, 2 and 3 the join's inputs'.
    for topic in [2, 3] {
        assert!(
            explained.contains(&format!(
                "repartition topic {topic} by hash(window_start, window_end)"
            )),
            "{explained}"
        );
    }
    assert!(!explained.contains("one task"), "{explained}");
    // The operator is named without the details of its plan name.
    assert!(
        explained.contains("an input of WindowJoin INNER on through"),
        "{explained}"
    );
}

#[test]
fn a_job_keyed_three_ways_is_repartitioned_twice_more() {
    // Counted by symbol, the top three ranked per window, then how many windows have each
    // rank: three keys, each repartitioned again after the first.
    let topic = spelled_symbols_topic("shared-three-keys");
    let (alone, explained) = changelog_alone_and_shared(
        &topic,
        "rn BIGINT, windows BIGINT",
        "INSERT INTO out SELECT rn, COUNT(*) FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY \
         window_start, window_end ORDER BY c DESC, symbol) AS rn FROM (SELECT symbol, \
         window_start, window_end, COUNT(*) AS c FROM TABLE(TUMBLE(TABLE k, DESCRIPTOR(ts), \
         INTERVAL '10' SECOND)) GROUP BY symbol, window_start, window_end)) WHERE rn <= 3 \
         GROUP BY rn;",
    );
    // 48 seconds of ticks: 5 windows, each with ranks 1 to 3.
    let expected: Vec<String> = (1..=3)
        .map(|rn| format!(r#"{{"rn":{rn},"windows":5}}"#))
        .collect();
    assert_eq!(alone, expected);
    assert!(
        explained.contains("repartition topic 1 by hash(window_start, window_end)")
            && explained.contains("repartition topic 2 by hash(rn)"),
        "{explained}"
    );
}

#[test]
fn a_union_of_two_topics_is_routed_alike_by_the_key_over_it() {
    // Each symbol's count per window over two topics, each spelled two ways: both topics are
    // routed by LOWER(symbol) through the union and the window function over it, where
    // routing by anything else would count some symbols in two tasks. The window Top-N over
    // the counts, keyed by the window too, is routed by the part both ways trace.
    let topic = spelled_symbols_topic("shared-union");
    let other = spelled_symbols_topic("shared-union-other");
    let [alone, shared, explained] = alone_and_shared(
        &topic,
        ("s STRING, w TIMESTAMP(3), c BIGINT", "csv"),
        &format!(
            "{} CREATE VIEW both_topics AS SELECT symbol, ts FROM k UNION ALL \
             SELECT symbol, ts FROM k2; \
             CREATE VIEW counts AS SELECT LOWER(symbol) AS s, window_start, window_end, \
             COUNT(*) AS c FROM TABLE(TUMBLE(TABLE both_topics, DESCRIPTOR(ts), \
             INTERVAL '10' SECOND)) GROUP BY LOWER(symbol), window_start, window_end; \
             INSERT INTO out SELECT s, window_start, c FROM (SELECT *, ROW_NUMBER() OVER \
             (PARTITION BY window_start, window_end, s ORDER BY c DESC) AS rn FROM counts) \
             WHERE rn <= 1;",
            table(
                "k2",
                "symbol STRING, n BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts",
                &other,
                ", 'format' = 'json', 'scan.startup.mode' = 'earliest-offset'"
            )
        ),
    );
    // 23 symbols in each of 5 windows.
    assert_eq!(alone.lines().count(), 115, "{alone}");
    assert_eq!(shared, alone);
    assert_eq!(
        explained.matches("by hash(lower(symbol))").count(),
        2,
        "{explained}"
    );
    assert!(!explained.contains("again"), "{explained}");
}

#[test]
fn a_shared_limit_counts_the_rows_of_the_whole_job() {
    let topic = spelled_symbols_topic("shared-limit");
    let [alone, shared, explained] = alone_and_shared(
        &topic,
        ("symbol STRING, c BIGINT", "csv"),
        "INSERT INTO out SELECT symbol, COUNT(*) FROM TABLE(TUMBLE(TABLE k, DESCRIPTOR(ts), \
         INTERVAL '10' SECOND)) GROUP BY symbol, window_start, window_end LIMIT 5;",
    );
    // Which windows come first depends on how the tasks interleave; how many does not. Each
    // task of a job routed by symbol would take 5.
    assert_eq!(alone.lines().count(), 5, "{alone}");
    assert_eq!(shared.lines().count(), 5, "{shared}");
    assert!(
        explained.contains("LIMIT counts the rows of every task"),
        "{explained}"
    );
}

#[test]
fn a_shared_job_whose_input_fails_stops_every_process_with_the_error() {
    // Stage 1 reads the malformed message; the tasks would wait for its rows for ever.
    let t = topic("shared-malformed", 2);
    let messages = [
        (0, 0, r#"{"symbol": "a", "n": 1}"#),
        (1, 1, r#"{"symbol": "b", "n": 2}"#),
        (1, 2, "{oops"),
    ];
    produce(&t, &values(&messages));
    let work = tempfile::tempdir().unwrap();
    let sql = format!(
        "SET 'execution.checkpointing.interval' = '200 ms'; \
         SET 'execution.checkpointing.dir' = '{}'; SET 'rill.scale-out' = 'true'; {} \
         CREATE TABLE out (symbol STRING, n BIGINT) WITH ('connector' = 'filesystem', \
         'path' = '{}/', 'format' = 'debezium-json'); \
         INSERT INTO out SELECT symbol, SUM(n) FROM k GROUP BY symbol;",
        work.path().join("checkpoints").display(),
        table(
            "k",
            "symbol STRING, n BIGINT",
            &t,
            &format!(
                ", 'format' = 'json', 'scan.startup.mode' = 'earliest-offset', \
                 'properties.group.id' = '{t}'"
            )
        ),
        work.path().join("out").display()
    );
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_rill"))
            .args(["-c", &sql])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    for process in [spawn(), spawn()].map(watch) {
        let out = wait_within(process, "a process of the failing job");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{t}-1 offset 1: value")), "{err}");
    }
}

/// A shared job over a new 2-partition topic (named after `name`) of 100 json messages
/// `{"symbol": "S<i % 7>", "n": i}`: it writes each symbol's sum, as change events, under
/// `<work>/out`, checkpointed under `<work>/checkpoints`.
fn symbol_sums_job(name: &str, work: &std::path::Path) -> String {
    let topic = topic(name, 2);
    let messages: Vec<String> = (0..100)
        .map(|i| format!(r#"{{"symbol": "S{}", "n": {i}}}"#, i % 7))
        .collect();
    produce_round_robin(&topic, &messages, 2);
    format!(
        "SET 'execution.checkpointing.interval' = '1 s'; \
         SET 'execution.checkpointing.dir' = '{}'; SET 'rill.scale-out' = 'true'; {} \
         CREATE TABLE out (symbol STRING, n BIGINT) WITH ('connector' = 'filesystem', \
         'path' = '{}/', 'format' = 'debezium-json'); \
         INSERT INTO out SELECT symbol, SUM(n) FROM k GROUP BY symbol;",
        work.join("checkpoints").display(),
        table(
            "k",
            "symbol STRING, n BIGINT",
            &topic,
            &format!(
                ", 'format' = 'json', 'scan.startup.mode' = 'earliest-offset', 'properties.group.id' = '{topic}'"
            )
        ),
        work.join("out").display()
    )
}

#[test]
fn a_shared_job_on_a_terminal_sums_up_this_processs_share() {
    let work = tempfile::tempdir().unwrap();
    let sql = symbol_sums_job("shared-summary", work.path());
    let mut command = Command::new(env!("CARGO_BIN_EXE_rill"));
    command.args(["-c", &sql]).env("TERM", "xterm");
    let mut p = match rexpect::session::spawn_command(command, Some(60_000)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("skipped: cannot open a pseudo-terminal here: {e}");
            return;
        }
    };
    p.exp_string("runs tasks 0, 1 of 2").unwrap();
    p.exp_string("every task of the job finished").unwrap();
    // The process read every message of both partitions, and its tasks wrote the changes.
    p.exp_string("100 rows in").unwrap();
    // Read to its bound, nothing is left to read, whatever librdkafka said last.
    p.exp_string("k lag 0 over 2 partitions").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn the_shell_runs_a_shared_job_in_the_background() {
    let work = tempfile::tempdir().unwrap();
    let sql = symbol_sums_job("shared-shell", work.path());
    let mut shell = Command::new(env!("CARGO_BIN_EXE_rill"))
        .env("HOME", work.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // What the shell printed so far.
    let printed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let printed = printed.clone();
        let mut out = shell.stdout.take().unwrap();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = out.read(&mut chunk) {
                let text = String::from_utf8_lossy(&chunk[..n]).into_owned();
                printed.lock().unwrap().push_str(&text);
            }
        })
    };
    let mut input = shell.stdin.take().unwrap();
    use std::io::Write;
    writeln!(input, "{sql}").unwrap();
    // The prompt is back at once: the job is listed while it joins the group and runs.
    writeln!(input, "SHOW JOBS;").unwrap();
    let start = Instant::now();
    let said = |text: &str| printed.lock().unwrap().contains(text);
    while !said("RUNNING") && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(said("Job 1 submitted"), "{}", printed.lock().unwrap());
    assert!(said("RUNNING"), "{}", printed.lock().unwrap());
    // Then it shows what this process runs of it, and then that it finished.
    while !said("FINISHED") && start.elapsed() < Duration::from_secs(60) {
        writeln!(input, "SHOW JOBS;").unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(input);
    let status = shell.wait().unwrap();
    reader.join().unwrap();
    let printed = printed.lock().unwrap().clone();
    assert!(status.success(), "{printed}");
    assert!(printed.contains("RUNNING: this process reads"), "{printed}");
    assert!(printed.contains("FINISHED"), "{printed}");
    // Its tasks wrote the sums: S0's is 0 + 7 + ... + 98.
    let rows = files_output(&work.path().join("out"));
    assert!(
        rows.iter().any(|r| r.contains(r#""symbol":"S0","n":735"#)),
        "{rows:?}"
    );
}

#[test]
fn a_process_whose_task_was_taken_over_stops_without_checkpointing_it() {
    let topic = topic("shared-zombie", 1);
    produce(&topic, &values(&[(0, 1, r#"{"symbol": "A", "n": 1}"#)]));
    let work = tempfile::tempdir().unwrap();
    let checkpoints = work.path().join("checkpoints");
    let (child, mut stderr, said) = start_shared_job(&topic, &checkpoints);
    // Another process claims the task, as one given it by the group would.
    let owner = checkpoints.join("task-0/owner");
    assert!(owner.exists(), "the task claimed its directory");
    std::fs::write(&owner, "task-0 in another process").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = wait_within(watch(child), "the process that lost its task").status;
    assert!(!status.success(), "{said}{rest}");
    assert!(
        rest.contains("was taken over by another run (task-0 in another process)"),
        "{said}{rest}"
    );
}

#[test]
fn skew_corrected_times_of_a_kafka_table_are_per_partition_and_survive_kills() {
    let t = topic("skew", 2);
    let readings = skew::skewed_readings(300);
    let records: Vec<(i32, i64, &str)> = (readings.iter().enumerate())
        .map(|(i, r)| ((r.device % 2) as i32, i as i64, leak(r.row.clone())))
        .collect();
    produce(&t, &values(&records));
    let dir = tempfile::tempdir().unwrap();
    let job = |out: &std::path::Path, checkpoints: Option<&std::path::Path>| {
        let checkpoints = checkpoints.map_or(String::new(), |c| {
            format!(
                "SET 'execution.checkpointing.interval' = '10 ms'; \
                 SET 'execution.checkpointing.dir' = '{}'; ",
                c.display()
            )
        });
        let options = format!(
            "'connector' = 'kafka', 'topic' = '{t}', 'properties.bootstrap.servers' = '{}', \
             'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', \
             'format' = 'csv'",
            bootstrap()
        );
        format!(
            "{checkpoints}{} CREATE TABLE out (device STRING, t TIMESTAMP(3)) WITH (\
             'connector' = 'filesystem', 'path' = '{}/', 'format' = 'csv'); \
             INSERT INTO out SELECT device, event_time FROM readings;",
            skew::readings_ddl("event_time", &options),
            out.display()
        )
    };
    let run = |sql: &str, fault: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rill"));
        cmd.args(["-c", sql, "--batch-size", "8"]);
        if let Some(fault) = fault {
            cmd.env("RILL_FAULT", fault);
        }
        let out = cmd.output().unwrap();
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        out
    };
    let golden_dir = dir.path().join("golden");
    let out = run(&job(&golden_dir, None), None);
    assert!(out.status.success(), "{}", stderr(&out));
    let golden = files_output(&golden_dir);
    assert_eq!(golden.len(), readings.len());
    // Every corrected time is in its event's true second (`.500` plus a recent fast delay);
    // the csv file quotes it and drops its fraction's trailing zeros, as Flink does.
    let second = |row: &str| row.replace('"', "").split('.').next().unwrap().to_string();
    let mut truths: Vec<String> = readings.iter().map(|r| second(&r.truth)).collect();
    truths.sort();
    let mut corrected: Vec<String> = golden.iter().map(|r| second(r)).collect();
    corrected.sort();
    assert_eq!(corrected, truths);
    // Killed after checkpoints and restarted: each partition's estimates come back with it.
    // The first run dies once it has read everything (a fast run may end before its third
    // barrier, so a kill at one could miss), the next ones in their first checkpoint.
    let out_dir = dir.path().join("out");
    let sql = job(&out_dir, Some(&dir.path().join("checkpoints")));
    let mut kills = 0;
    for fault in ["end-of-input:1", "after-barrier:3", "after-barrier:3"]
        .map(Some)
        .into_iter()
        .chain(std::iter::repeat(None))
        .take(10)
    {
        let out = run(&sql, fault);
        if out.status.success() {
            break;
        }
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(9), "{}", stderr(&out));
        kills += 1;
    }
    assert!(kills >= 1, "no kill landed");
    assert_eq!(files_output(&out_dir), golden);
}
