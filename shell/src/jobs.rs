//! Background jobs of the shell: `INSERT INTO` runs on while the prompt comes back;
//! `SHOW JOBS` lists them, `STOP JOB 'id' [WITH SAVEPOINT]` stops one.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use arrow::array::{RecordBatch, StringArray, UInt64Array};
use regex::Regex;
use rill_engine::checkpoint::CheckpointStatus;
use rill_engine::format::millis_text;
use rill_engine::{Dataflow, JobMetrics};
use rill_sql::session::{Session, SharedJob};
use tokio::sync::Notify;

/// `SHOW JOBS` or `STOP JOB 'id' [WITH SAVEPOINT]` (Flink's syntax), which the shell runs
/// itself.
pub enum JobCommand {
    Show,
    Stop { id: u64, savepoint: bool },
}

/// The job command `text` is, if it is one.
pub fn job_command(text: &str) -> Option<JobCommand> {
    static SHOW: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)^\s*show\s+jobs\s*;?\s*$").expect("valid regex"));
    static STOP: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*stop\s+job\s+'?(\d+)'?(\s+with\s+savepoint)?\s*;?\s*$")
            .expect("valid regex")
    });
    if SHOW.is_match(text) {
        return Some(JobCommand::Show);
    }
    let stop = STOP.captures(text)?;
    let id = stop.get(1)?.as_str().parse().ok()?;
    Some(JobCommand::Stop {
        id,
        savepoint: stop.get(2).is_some(),
    })
}

/// `bytes` as MiB with one decimal.
pub fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// The states a job goes through.
const RUNNING: u8 = 0;
const FINISHED: u8 = 1;
const FAILED: u8 = 2;
const STOPPED: u8 = 3;

struct Entry {
    id: u64,
    statement: String,
    started: Instant,
    metrics: Arc<JobMetrics>,
    checkpoints: CheckpointStatus,
    state: Arc<AtomicU8>,
    /// Why it failed, or the savepoint it stopped at.
    detail: Arc<Mutex<Option<String>>>,
    stop: Arc<Notify>,
    /// Whether a stop takes a savepoint first.
    savepoint: Arc<AtomicBool>,
    /// What this process runs of a job the processes of a consumer group share.
    share: Arc<Mutex<Option<String>>>,
}

/// The shell's background jobs.
#[derive(Default)]
pub struct Jobs {
    entries: Vec<Entry>,
}

/// What a job's task reports through.
struct Handles {
    state: Arc<AtomicU8>,
    detail: Arc<Mutex<Option<String>>>,
    stop: Arc<Notify>,
    savepoint: Arc<AtomicBool>,
    share: Arc<Mutex<Option<String>>>,
}

/// How a job ended.
enum Ended {
    Finished,
    /// Stopped, at what if anything (a savepoint).
    Stopped(Option<String>),
    Failed(String),
}

impl Handles {
    fn ended(&self, ended: Ended) {
        let (state, detail) = match ended {
            Ended::Finished => (FINISHED, None),
            Ended::Stopped(at) => (STOPPED, at),
            Ended::Failed(e) => (FAILED, Some(e)),
        };
        *self.detail.lock().expect("job detail") = detail;
        self.state.store(state, Ordering::Relaxed);
    }
}

impl Jobs {
    /// A new entry for the job of `statement`; its id and handles.
    fn add(
        &mut self,
        statement: &str,
        metrics: Arc<JobMetrics>,
        checkpoints: CheckpointStatus,
    ) -> (u64, Handles) {
        let id = self.entries.len() as u64 + 1;
        let entry = Entry {
            id,
            statement: statement.split_whitespace().collect::<Vec<_>>().join(" "),
            started: Instant::now(),
            metrics,
            checkpoints,
            state: Arc::new(AtomicU8::new(RUNNING)),
            detail: Arc::new(Mutex::new(None)),
            stop: Arc::new(Notify::new()),
            savepoint: Arc::new(AtomicBool::new(false)),
            share: Arc::new(Mutex::new(None)),
        };
        let handles = Handles {
            state: entry.state.clone(),
            detail: entry.detail.clone(),
            stop: entry.stop.clone(),
            savepoint: entry.savepoint.clone(),
            share: entry.share.clone(),
        };
        self.entries.push(entry);
        (id, handles)
    }

    /// Starts `dataflow` (the job of `statement`) in the background on the current runtime;
    /// returns its id.
    pub fn submit(&mut self, statement: &str, dataflow: Dataflow) -> u64 {
        let mut job = dataflow.start();
        let (id, handles) = self.add(statement, job.metrics(), job.checkpoints());
        tokio::spawn(async move {
            let ended = tokio::select! {
                result = job.wait() => result.map(|()| Ended::Finished),
                _ = handles.stop.notified() => match handles.savepoint.load(Ordering::Relaxed) {
                    true => (job.stop_with_savepoint().await)
                        .map(|id| Ended::Stopped(Some(format!("at savepoint {id}")))),
                    false => {
                        job.cancel();
                        let _ = job.wait().await;
                        Ok(Ended::Stopped(None))
                    }
                },
            };
            handles.ended(ended.unwrap_or_else(|e| Ended::Failed(e.to_string())));
        });
        id
    }

    /// Runs this process's share of `job`, a job the processes of a consumer group share
    /// (planned in `session`), in the background; returns its id. A stop stops its tasks at
    /// savepoints, for the group's other processes to resume.
    pub fn submit_shared(&mut self, statement: &str, session: Session, job: SharedJob) -> u64 {
        let metrics = Arc::new(JobMetrics::default());
        let (id, handles) = self.add(statement, metrics.clone(), CheckpointStatus::default());
        tokio::spawn(async move {
            let report = |text: String| *handles.share.lock().expect("job share") = Some(text);
            let stop = handles.stop.clone();
            let stopped = Arc::new(AtomicBool::new(false));
            let stopping = {
                let stopped = stopped.clone();
                Box::pin(async move {
                    stop.notified().await;
                    stopped.store(true, Ordering::Relaxed);
                })
            };
            let result = rill_sql::shared::run(&session, &job, &report, stopping, metrics).await;
            handles.ended(match result {
                Ok(()) if stopped.load(Ordering::Relaxed) => {
                    Ended::Stopped(Some("at savepoints".into()))
                }
                Ok(()) => Ended::Finished,
                Err(e) => Ended::Failed(e),
            });
        });
        id
    }

    /// Stops job `id`, after a savepoint if asked; false if there is no such running job.
    pub fn stop(&self, id: u64, savepoint: bool) -> bool {
        match self.entries.iter().find(|e| e.id == id) {
            Some(e) if e.state.load(Ordering::Relaxed) == RUNNING => {
                e.savepoint.store(savepoint, Ordering::Relaxed);
                e.stop.notify_one();
                true
            }
            _ => false,
        }
    }

    /// Stops every running job (the shell is closing); says so when there are any.
    pub fn stop_all(&self) {
        let running = self
            .entries
            .iter()
            .filter(|e| self.stop(e.id, false))
            .count();
        if running > 0 {
            println!(
                "[INFO] Stopped {running} running job{}.",
                if running == 1 { "" } else { "s" }
            );
        }
    }

    /// The jobs as `SHOW JOBS` prints them.
    pub fn table(&self) -> RecordBatch {
        let state = |e: &Entry| match e.state.load(Ordering::Relaxed) {
            RUNNING => match e.share.lock().expect("job share").clone() {
                Some(share) => format!("RUNNING: {share}"),
                None => "RUNNING".to_string(),
            },
            FINISHED => "FINISHED".to_string(),
            STOPPED => match e.detail.lock().expect("job detail").clone() {
                Some(savepoint) => format!("STOPPED {savepoint}"),
                None => "STOPPED".to_string(),
            },
            _ => format!(
                "FAILED: {}",
                e.detail
                    .lock()
                    .expect("job detail")
                    .clone()
                    .unwrap_or_default()
            ),
        };
        let watermark = |e: &Entry| {
            e.metrics
                .latest_watermark()
                .map_or(String::new(), millis_text)
        };
        let count = |f: fn(&JobMetrics) -> u64| {
            Arc::new(UInt64Array::from_iter_values(
                self.entries.iter().map(|e| f(&e.metrics)),
            ))
        };
        let texts = |f: &dyn Fn(&Entry) -> String| {
            Arc::new(StringArray::from_iter_values(self.entries.iter().map(f)))
        };
        RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(UInt64Array::from_iter_values(
                    self.entries.iter().map(|e| e.id),
                )) as _,
            ),
            ("statement", texts(&|e| e.statement.clone()) as _),
            ("state", texts(&state) as _),
            ("rows in", count(|m| JobMetrics::get(&m.rows_in)) as _),
            ("rows out", count(|m| JobMetrics::get(&m.rows_out)) as _),
            ("late rows", count(|m| JobMetrics::get(&m.late_rows)) as _),
            ("watermark", texts(&watermark) as _),
            (
                "state size",
                texts(&|e| mebibytes(e.metrics.state_bytes())) as _,
            ),
            (
                "last checkpoint",
                texts(&|e| {
                    e.checkpoints
                        .last()
                        .map_or(String::new(), |c| c.to_string())
                }) as _,
            ),
            (
                "lag",
                texts(&|e| {
                    let lag = e.metrics.lag();
                    lag.iter()
                        .flat_map(|(_, parts)| parts)
                        .map(|(partition, lag)| format!("{partition}: {lag}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }) as _,
            ),
            (
                "uptime",
                texts(&|e| format!("{:.1} s", e.started.elapsed().as_secs_f64())) as _,
            ),
        ])
        .expect("job columns")
    }
}
