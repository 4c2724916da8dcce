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
    status: Arc<Status>,
}

/// The shell's background jobs.
#[derive(Default)]
pub struct Jobs {
    entries: Vec<Entry>,
}

/// A job's status, shared by the shell and the job's task.
struct Status {
    state: AtomicU8,
    /// Why it failed, or what it stopped at.
    detail: Mutex<Option<String>>,
    stop: Notify,
    /// Whether a stop takes a savepoint first.
    savepoint: AtomicBool,
    /// What this process runs of a job the processes of a consumer group share.
    share: Mutex<Option<String>>,
}

/// How a job ended.
enum Ended {
    Finished,
    /// Stopped, at what if anything (a savepoint).
    Stopped(Option<String>),
    Failed(String),
}

impl Status {
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
    /// A new entry for the job of `statement`; its id and status.
    fn add(
        &mut self,
        statement: &str,
        metrics: Arc<JobMetrics>,
        checkpoints: CheckpointStatus,
    ) -> (u64, Arc<Status>) {
        let id = self.entries.len() as u64 + 1;
        let status = Arc::new(Status {
            state: AtomicU8::new(RUNNING),
            detail: Mutex::new(None),
            stop: Notify::new(),
            savepoint: AtomicBool::new(false),
            share: Mutex::new(None),
        });
        self.entries.push(Entry {
            id,
            statement: statement.split_whitespace().collect::<Vec<_>>().join(" "),
            started: Instant::now(),
            metrics,
            checkpoints,
            status: status.clone(),
        });
        (id, status)
    }

    /// Starts `dataflow` (the job of `statement`) in the background on the current runtime;
    /// returns its id.
    pub fn submit(&mut self, statement: &str, dataflow: Dataflow) -> u64 {
        let mut job = dataflow.start();
        let (id, status) = self.add(statement, job.metrics(), job.checkpoints());
        tokio::spawn(async move {
            let ended = tokio::select! {
                result = job.wait() => result.map(|()| Ended::Finished),
                _ = status.stop.notified() => match status.savepoint.load(Ordering::Relaxed) {
                    true => (job.stop_with_savepoint().await)
                        .map(|id| Ended::Stopped(Some(format!("at savepoint {id}")))),
                    false => {
                        job.cancel();
                        let _ = job.wait().await;
                        Ok(Ended::Stopped(None))
                    }
                },
            };
            status.ended(ended.unwrap_or_else(|e| Ended::Failed(e.to_string())));
        });
        id
    }

    /// Runs this process's share of `job`, a job the processes of a consumer group share
    /// (planned in `session`), in the background; returns its id. A stop stops its tasks at
    /// savepoints, for the group's other processes to resume.
    pub fn submit_shared(&mut self, statement: &str, session: Session, job: SharedJob) -> u64 {
        let metrics = Arc::new(JobMetrics::default());
        let (id, status) = self.add(statement, metrics.clone(), CheckpointStatus::default());
        tokio::spawn(async move {
            let report = |text: String| *status.share.lock().expect("job share") = Some(text);
            let stopped = AtomicBool::new(false);
            let stopping = Box::pin(async {
                status.stop.notified().await;
                stopped.store(true, Ordering::Relaxed);
            });
            let result = rill_sql::shared::run(&session, &job, &report, stopping, metrics).await;
            status.ended(match result {
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
            Some(e) if e.status.state.load(Ordering::Relaxed) == RUNNING => {
                e.status.savepoint.store(savepoint, Ordering::Relaxed);
                e.status.stop.notify_one();
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
        let state = |e: &Entry| match e.status.state.load(Ordering::Relaxed) {
            RUNNING => match e.status.share.lock().expect("job share").clone() {
                Some(share) => format!("RUNNING: {share}"),
                None => "RUNNING".to_string(),
            },
            FINISHED => "FINISHED".to_string(),
            STOPPED => match e.status.detail.lock().expect("job detail").clone() {
                Some(savepoint) => format!("STOPPED {savepoint}"),
                None => "STOPPED".to_string(),
            },
            _ => format!(
                "FAILED: {}",
                e.status
                    .detail
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
