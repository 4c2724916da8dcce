//! The function suite: every expression of `tests/functions/cases/*.txt`, evaluated over the
//! table of `tests/functions/table.sql`, gives the result type and values Flink gives
//! (`tests/functions/expected/*.jsonl`, written by the Flink oracle with
//! `tests/functions/generate.py`, never by hand), or is refused at planning, with a caret,
//! because it calls a Flink function the catalogue lists as missing or uses a form rill says
//! it does not support yet. Where Flink raises an error, rill must too.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::AsArray;
use arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use rill_engine::ChangeBatch;
use rill_engine::format::{ValueFormatter, sql_type_name};
use rill_engine::sink::Sink;
use rill_sql::functions::{catalog, clock};
use rill_sql::plan::QueryPlan;
use rill_sql::script::Variables;
use rill_sql::{Outcome, Session, SessionOptions, SqlError, parse_script};
use serde_json::Value;

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/functions")
}

/// Keeps the batches a query emits.
struct Collect(Arc<Mutex<Vec<RecordBatch>>>);

impl Sink for Collect {
    fn name(&self) -> &str {
        "collect"
    }
    fn on_batch(&mut self, batch: &ChangeBatch) -> rill_engine::Result<()> {
        self.0.lock().unwrap().push(batch.data.clone());
        Ok(())
    }
    fn finish(&mut self) -> rill_engine::Result<()> {
        Ok(())
    }
}

/// What rill gives for one expression.
enum Answer {
    /// The result type and the value of each input row, in id order.
    Values(String, Vec<Option<String>>),
    Refused(SqlError),
    Failed(String),
}

async fn evaluate(session: &mut Session, expr: &str) -> Answer {
    let text = format!("SELECT id, {expr} AS v FROM t");
    let statement = match parse_script(&text) {
        Ok(mut s) => s.remove(0),
        Err(e) => return Answer::Refused(e),
    };
    let plan = match session.execute(&statement).await {
        Ok(Outcome::Query(plan)) => plan,
        Ok(_) => return Answer::Failed("not a query".into()),
        Err(e) => return Answer::Refused(e),
    };
    let data_type = sql_type_name(plan.schema.field(1).data_type());
    let batches = match run(plan).await {
        Ok(batches) => batches,
        Err(e) => return Answer::Failed(e),
    };
    let mut rows = Vec::new();
    for batch in &batches {
        let ids = ValueFormatter::new(batch.column(0));
        let values = ValueFormatter::new(batch.column(1));
        for i in 0..batch.num_rows() {
            let mut id = String::new();
            ids.write(&mut id, i);
            let value = (!values.is_null(i)).then(|| {
                let mut text = String::new();
                values.write(&mut text, i);
                text
            });
            rows.push((id.parse::<u32>().expect("numeric id"), value));
        }
    }
    rows.sort_by_key(|(id, _)| *id);
    Answer::Values(data_type, rows.into_iter().map(|(_, v)| v).collect())
}

/// The batches a planned query emits, or why it failed.
async fn run(plan: QueryPlan) -> Result<Vec<RecordBatch>, String> {
    let mut dataflow = plan.dataflow;
    let batches = Arc::new(Mutex::new(Vec::new()));
    dataflow.add_sink(Box::new(Collect(batches.clone())), plan.output);
    dataflow.start().wait().await.map_err(|e| e.to_string())?;
    Ok(std::mem::take(&mut *batches.lock().unwrap()))
}

/// Why rill's answer is not Flink's, if it is not.
fn difference(expected: &Value, answer: &Answer) -> Option<String> {
    match (expected["error"].as_str(), answer) {
        (Some(_), Answer::Refused(_) | Answer::Failed(_)) => None,
        (Some(e), Answer::Values(t, rows)) => {
            Some(format!("Flink fails ({e}) but rill gives {t} {rows:?}"))
        }
        // A deliberate refusal names what is missing and points at it.
        (None, Answer::Refused(e)) => {
            let deliberate = catalog::missing_named_in(&e.message).is_some()
                || e.message.contains("is not supported yet");
            match (deliberate, e.position) {
                (true, Some(_)) => None,
                (true, None) => Some(format!("refused without pointing: {}", e.message)),
                (false, _) => Some(format!("refused: {}", e.message)),
            }
        }
        (None, Answer::Failed(e)) => Some(format!("fails: {e}")),
        (None, Answer::Values(t, rows)) => {
            let flink_type = expected["type"].as_str().unwrap_or_default();
            let flink_rows: Vec<Option<String>> = expected["rows"]
                .as_array()
                .expect("rows")
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect();
            let floating = matches!(flink_type, "DOUBLE" | "FLOAT");
            let same = |(a, b): (&Option<String>, &Option<String>)| match (a, b) {
                (Some(a), Some(b)) if floating => close(a, b),
                _ => a == b,
            };
            if t != flink_type {
                Some(format!("type {t}, Flink {flink_type}; values {rows:?}"))
            } else if rows.len() != flink_rows.len() || !rows.iter().zip(&flink_rows).all(same) {
                Some(format!("values {rows:?}\n     Flink {flink_rows:?}"))
            } else {
                None
            }
        }
    }
}

/// Whether two doubles' texts are the same number up to the last bits (Java's and Rust's
/// libm may differ there).
fn close(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) if x.is_finite() && y.is_finite() => {
            (x - y).abs() <= 1e-14 * x.abs().max(y.abs())
        }
        _ => a == b,
    }
}

/// A session with the suite's table `t`.
fn suite_session(runtime: &tokio::runtime::Runtime) -> Session {
    let dir = suite_dir();
    let ddl = std::fs::read_to_string(dir.join("table.sql")).expect("table.sql");
    let variables = Variables {
        sql_dir: Some(dir.to_string_lossy().into_owned()),
        ..Default::default()
    };
    let ddl = variables.substitute(&ddl).expect("variables");
    let mut session = Session::new(SessionOptions::default());
    for statement in parse_script(&ddl).expect("table.sql parses") {
        runtime
            .block_on(session.execute(&statement))
            .expect("table.sql runs");
    }
    session
}

#[test]
fn functions_give_flinks_answers_or_are_refused() {
    let dir = suite_dir();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut session = suite_session(&runtime);
    let mut groups: Vec<PathBuf> = std::fs::read_dir(dir.join("expected"))
        .expect("expected results")
        .map(|e| e.expect("entry").path())
        .collect();
    groups.sort();
    let (mut checked, mut refused, mut failures) = (0, 0, Vec::new());
    for group in &groups {
        let name = group.file_stem().unwrap().to_string_lossy();
        let text = std::fs::read_to_string(group).expect("expected file");
        for line in text.lines() {
            let expected: Value = serde_json::from_str(line).expect("json line");
            let expr = expected["expr"].as_str().expect("expr");
            let answer = runtime.block_on(evaluate(&mut session, expr));
            checked += 1;
            if matches!(answer, Answer::Refused(_)) && expected["error"].is_null() {
                refused += 1;
            }
            if let Some(d) = difference(&expected, &answer) {
                failures.push(format!("{name}: {expr}\n     {d}"));
            }
        }
    }
    eprintln!(
        "function suite: {checked} expressions, {refused} refused as missing, {} wrong",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} expressions differ from Flink:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 200, "expected the whole suite, found {checked}");
}

/// The names of `catalog`'s functions that `text` (SQL) calls or uses.
fn used_in(text: &str) -> Vec<&'static str> {
    let upper = text.to_uppercase();
    catalog::FUNCTIONS
        .iter()
        .filter(|f| {
            let pattern = match f.name.split_once(' ') {
                // A keyword form: `FLOOR(x TO unit)`, `x IS JSON`, ...
                Some((first, "TO")) => format!(r"\b{first}\s*\([^)]*\bTO\b"),
                Some((first, rest)) => format!(r"\b{first}\s+(NOT\s+)?{rest}\b"),
                // SQL's clock keywords, called without parentheses.
                None if clock::KEYWORDS.contains(&f.name) => format!(r"\b{}\b", f.name),
                None => format!(r"\b{}\s*[(\[]", f.name),
            };
            regex::Regex::new(&pattern).unwrap().is_match(&upper)
        })
        .map(|f| f.name)
        .collect()
}

#[test]
fn every_function_rill_has_is_checked_against_flink() {
    let root = suite_dir().join("..");
    let mut texts = String::new();
    for dir in ["functions/cases", "conformance"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("test directory") {
            let path = entry.expect("entry").path();
            let file = if path.is_dir() {
                path.join("query.sql")
            } else {
                path
            };
            if let Ok(text) = std::fs::read_to_string(&file) {
                texts.push_str(&text);
                texts.push('\n');
            }
        }
    }
    let used = used_in(&texts);
    let unchecked: Vec<&str> = catalog::FUNCTIONS
        .iter()
        .filter(|f| f.has && !used.contains(&f.name))
        .map(|f| f.name)
        .collect();
    assert!(
        unchecked.is_empty(),
        "functions rill says it has that no oracle case uses: {unchecked:?}"
    );
}

#[test]
fn functions_page_is_current() {
    let session = Session::new(SessionOptions::default());
    // rill's own helpers: the targets of Flink's keyword forms and MATCH_RECOGNIZE's functions.
    let mut internal = vec![
        "floor_to".to_string(),
        "ceil_to".into(),
        "extract".into(),
        "is_json".into(),
    ];
    internal.extend(
        rill_sql::match_recognize::placeholders()
            .iter()
            .map(|f| f.name().to_string()),
    );
    let extras: Vec<String> = session
        .function_names()
        .into_iter()
        .filter(|n| catalog::lookup(n).is_none())
        .filter(|n| !n.starts_with("rill_") && !internal.contains(n))
        .collect();
    let page = catalog::page(&extras);
    let path = suite_dir().join("../../docs/functions.md");
    if std::env::var_os("RILL_BLESS").is_some() {
        std::fs::write(&path, &page).expect("docs/functions.md writable");
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == page,
        "docs/functions.md is not the catalogue's page: rerun with RILL_BLESS=1"
    );
}

#[test]
fn datafusions_random_and_today_are_not_offered() {
    // Flink's RAND and CURRENT_DATE stand in their place.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut session = Session::new(SessionOptions::default());
    for call in ["random()", "today()"] {
        let statement = parse_script(&format!("SELECT {call}"))
            .expect("parses")
            .remove(0);
        let result = runtime.block_on(session.execute(&statement));
        assert!(result.is_err(), "{call} is planned");
    }
}

#[test]
fn the_clock_is_read_when_rows_are_computed_not_when_planned() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut session = suite_session(&runtime);
    let statement = parse_script(
        "SELECT CAST(NOW() AS TIMESTAMP(3)), CURRENT_TIMESTAMP, LOCALTIMESTAMP, \
         CURRENT_ROW_TIMESTAMP(), PROCTIME() FROM t",
    )
    .expect("parses")
    .remove(0);
    let Ok(Outcome::Query(plan)) = runtime.block_on(session.execute(&statement)) else {
        panic!("not planned")
    };
    let planned = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis() as i64;
    std::thread::sleep(std::time::Duration::from_millis(20));
    let batches = runtime.block_on(run(plan)).expect("runs");
    let mut values = 0;
    for batch in &batches {
        for column in batch.columns() {
            let column =
                arrow::compute::cast(column, &DataType::Timestamp(TimeUnit::Millisecond, None))
                    .expect("a timestamp");
            let column = column.as_primitive::<TimestampMillisecondType>();
            for value in column.iter() {
                assert!(value.expect("not NULL") > planned, "read when planned");
                values += 1;
            }
        }
    }
    assert_eq!(values, 6 * 5);
}
