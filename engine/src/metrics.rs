//! Counters a running job updates once per batch and the shell reads at any time.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many malformed-row locations are kept for the end-of-run report.
const MAX_REPORTED_MALFORMED: usize = 10;

/// Live counters of one job. Updated per batch (never per row) with relaxed atomics.
#[derive(Debug)]
pub struct JobMetrics {
    /// Rows read by the sources.
    pub rows_in: AtomicU64,
    /// Rows written by the sinks.
    pub rows_out: AtomicU64,
    /// Malformed rows read with `'<format>.ignore-parse-errors' = 'true'`: skipped, or with
    /// NULL for the values that could not be read.
    pub malformed_rows: AtomicU64,
    /// Bytes of input files read so far, and their total size.
    pub bytes_read: AtomicU64,
    pub bytes_total: AtomicU64,
    /// Rows dropped because the watermark had passed them (their window fired, or MATCH_RECOGNIZE had ordered past them).
    pub late_rows: AtomicU64,
    malformed_examples: Mutex<Vec<String>>,
    /// Each source's latest watermark from its rows (not the end-of-input one).
    source_watermarks: Mutex<Vec<(String, i64)>>,
    /// Each stateful operator's last measured state, in bytes, by dataflow (the parts of a
    /// shared job count into one) and node.
    operator_state: Mutex<BTreeMap<(usize, usize), u64>>,
    /// What each log source (Kafka) has yet to read, by partition: its consumer lag.
    source_lag: Mutex<BTreeMap<String, Vec<(String, u64)>>>,
}

impl Default for JobMetrics {
    fn default() -> Self {
        JobMetrics {
            rows_in: AtomicU64::new(0),
            rows_out: AtomicU64::new(0),
            malformed_rows: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            bytes_total: AtomicU64::new(0),
            late_rows: AtomicU64::new(0),
            malformed_examples: Mutex::new(Vec::new()),
            source_watermarks: Mutex::new(Vec::new()),
            operator_state: Mutex::new(BTreeMap::new()),
            source_lag: Mutex::new(BTreeMap::new()),
        }
    }
}

impl JobMetrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts a malformed row read with ignore-parse-errors and keeps its location and what
    /// became of it (`file:line: reason; skipped`) for the report, up to a few examples.
    pub fn record_malformed(&self, location: String) {
        self.malformed_rows.fetch_add(1, Ordering::Relaxed);
        let mut examples = self.malformed_examples.lock().expect("metrics lock");
        if examples.len() < MAX_REPORTED_MALFORMED {
            examples.push(location);
        }
    }

    /// Records that source `name` advanced its watermark to `watermark` (once per batch).
    pub fn record_source_watermark(&self, name: &str, watermark: i64) {
        let mut sources = self.source_watermarks.lock().expect("metrics lock");
        match sources.iter_mut().find(|(n, _)| n == name) {
            Some((_, w)) => *w = watermark,
            None => sources.push((name.to_string(), watermark)),
        }
    }

    /// Records the state operator `node` of dataflow `part` holds (measured now and then,
    /// not per batch).
    pub fn record_state(&self, part: usize, node: usize, bytes: u64) {
        let mut state = self.operator_state.lock().expect("metrics lock");
        state.insert((part, node), bytes);
    }

    /// Records how many messages source `name` has yet to read in each of the partitions it
    /// reads (once per poll of its log, not per row).
    pub fn record_lag(&self, name: &str, partitions: Vec<(String, u64)>) {
        let mut lag = self.source_lag.lock().expect("metrics lock");
        lag.insert(name.to_string(), partitions);
    }

    /// Each log source's lag by partition, by source name.
    pub fn lag(&self) -> Vec<(String, Vec<(String, u64)>)> {
        let lag = self.source_lag.lock().expect("metrics lock");
        lag.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// The lag of the log sources, each as `name lag N over P partitions`, if any.
    pub fn lag_text(&self) -> Option<String> {
        let lag = self.lag();
        (!lag.is_empty()).then(|| {
            lag.iter()
                .map(|(source, parts)| {
                    let total: u64 = parts.iter().map(|(_, l)| l).sum();
                    let plural = if parts.len() == 1 { "" } else { "s" };
                    format!(
                        "{source} lag {total} over {} partition{plural}",
                        parts.len()
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    /// About how many bytes of state the job's operators hold.
    pub fn state_bytes(&self) -> u64 {
        self.operator_state
            .lock()
            .expect("metrics lock")
            .values()
            .sum()
    }

    /// The latest watermark of any source, if one has any.
    pub fn latest_watermark(&self) -> Option<i64> {
        let sources = self.source_watermarks.lock().expect("metrics lock");
        sources.iter().map(|(_, w)| *w).max()
    }

    /// Each source's latest watermark from its rows, by source name.
    pub fn source_watermarks(&self) -> Vec<(String, i64)> {
        self.source_watermarks.lock().expect("metrics lock").clone()
    }

    /// The first few malformed rows, as `file:line: reason; what became of the row`.
    pub fn malformed_examples(&self) -> Vec<String> {
        self.malformed_examples
            .lock()
            .expect("metrics lock")
            .clone()
    }
}
