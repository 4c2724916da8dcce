//! Checkpoints: consistent snapshots of a running job, taken with aligned barriers.
//!
//! Every interval the coordinator asks the sources for checkpoint `n`. Each source, at its
//! next safe point (between chunks of a file), reports its position and sends a barrier
//! downstream; each operator, once the barrier arrived on all its inputs, reports its state
//! and passes the barrier on; each sink makes what it wrote durable (without making it
//! visible) and reports what it must commit. With every node's report in, the coordinator
//! writes the checkpoint (see [`store`]) and then tells the sinks, which make their output
//! visible. A node that ended reports its last state once (an operator, only that it ended:
//! [`State::ended`]); it stands for it in every later checkpoint. When every sink ended, a
//! last, finished checkpoint lets them commit the rest.

mod state;
pub mod store;

pub use state::{BytePairs, ByteStrings, State};
pub use store::{CheckpointStore, Restored, Written};

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::Result;
use crate::dataflow::NodeId;

/// How a job checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    /// Where checkpoints go (Flink's `'execution.checkpointing.dir'`).
    pub dir: PathBuf,
    /// Time between checkpoints (Flink's `'execution.checkpointing.interval'`).
    pub interval: Duration,
    /// The checkpoint to resume from, instead of the directory's latest (Flink's
    /// `'execution.state-recovery.path'`).
    pub recovery: Option<PathBuf>,
    /// This run's claim on the directory, when several processes may write it (a task of a
    /// shared job): the run writes it into the directory when it resumes, and completes no
    /// checkpoint once another run's claim replaced it.
    pub owner: Option<String>,
}

/// A completed checkpoint as the sinks learn of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Completion {
    pub id: u64,
    /// Every sink ended: all they pre-committed may be committed.
    pub finished: bool,
    /// A savepoint: the sinks commit it and stop, and so does the job.
    pub last: bool,
}

/// What a node tells the coordinator.
enum Report {
    Taken { node: NodeId, id: u64, state: State },
    Ended { node: NodeId, state: State },
}

/// The last completed checkpoint, for `SHOW JOBS` and the end-of-run summary.
#[derive(Debug, Clone)]
pub struct LastCheckpoint {
    pub id: u64,
    pub bytes: u64,
    /// From the barrier's request to the manifest's rename.
    pub duration: Duration,
    pub completed_at: Instant,
}

impl std::fmt::Display for LastCheckpoint {
    /// `7 (12.0 KiB, taken in 3 ms, 4.2 s ago)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({:.1} KiB, taken in {} ms, {:.1} s ago)",
            self.id,
            self.bytes as f64 / 1024.0,
            self.duration.as_millis(),
            self.completed_at.elapsed().as_secs_f64()
        )
    }
}

/// Where a job's last completed checkpoint can be read at any time.
#[derive(Debug, Clone, Default)]
pub struct CheckpointStatus(Arc<Mutex<Option<LastCheckpoint>>>);

impl CheckpointStatus {
    /// The last completed checkpoint, if any.
    pub fn last(&self) -> Option<LastCheckpoint> {
        self.0.lock().expect("checkpoint status").clone()
    }

    fn set(&self, last: LastCheckpoint) {
        *self.0.lock().expect("checkpoint status") = Some(last);
    }
}

/// What the nodes of a running job share with its coordinator.
pub(crate) struct Shared {
    requested: AtomicU64,
    /// A savepoint is wanted: a checkpoint now, not at the next interval, after which the
    /// job stops.
    savepoint: AtomicBool,
    reports: Sender<Report>,
    completed: watch::Sender<Completion>,
}

/// A node's handle on the job's checkpoints.
#[derive(Clone)]
pub struct NodeCheckpoints {
    node: NodeId,
    shared: Arc<Shared>,
}

impl NodeCheckpoints {
    /// For a source: the checkpoint to take now, if one was requested after `last`.
    pub fn due(&self, last: u64) -> Option<u64> {
        let requested = self.shared.requested.load(Ordering::Acquire);
        (requested > last).then_some(requested)
    }

    /// Hands the node's state for checkpoint `id` to the coordinator.
    pub fn report(&self, id: u64, state: State) {
        self.send(Report::Taken {
            node: self.node,
            id,
            state,
        });
    }

    /// The node ended; `state` stands for it in this and every later checkpoint.
    pub fn ended(&self, state: State) {
        self.send(Report::Ended {
            node: self.node,
            state,
        });
    }

    fn send(&self, report: Report) {
        // The coordinator is gone only when the job is stopping.
        let _ = self.shared.reports.send(report);
    }

    /// Completed checkpoints, for a sink to commit.
    pub fn completions(&self) -> watch::Receiver<Completion> {
        self.shared.completed.subscribe()
    }
}

/// Asks a running job for a savepoint.
#[derive(Clone)]
pub struct CheckpointTrigger {
    shared: Arc<Shared>,
}

impl CheckpointTrigger {
    /// Asks for a savepoint: a checkpoint at once, which the sinks commit before they stop.
    pub fn savepoint(&self) {
        self.shared.savepoint.store(true, Ordering::Release);
    }
}

/// Runs the checkpoints of one job.
pub(crate) struct Coordinator {
    /// Where checkpoints go (an error if the directory cannot be made).
    store: Result<CheckpointStore>,
    interval: Duration,
    nodes: Vec<(NodeId, String)>,
    sinks: Vec<NodeId>,
    next_id: u64,
    shared: Arc<Shared>,
    reports: Receiver<Report>,
    cancelled: Arc<AtomicBool>,
    last: CheckpointStatus,
}

impl Coordinator {
    /// A coordinator for `nodes` (id and name) of which `sinks` are sinks; checkpoint ids
    /// continue after `restored` (0 for a fresh start).
    pub(crate) fn new(
        store: Result<CheckpointStore>,
        interval: Duration,
        nodes: Vec<(NodeId, String)>,
        sinks: Vec<NodeId>,
        restored: u64,
        cancelled: Arc<AtomicBool>,
        last: CheckpointStatus,
    ) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = Arc::new(Shared {
            requested: AtomicU64::new(restored),
            savepoint: AtomicBool::new(false),
            reports: tx,
            completed: watch::Sender::new(Completion {
                id: restored,
                finished: false,
                last: false,
            }),
        });
        Coordinator {
            store,
            interval,
            nodes,
            sinks,
            next_id: restored + 1,
            shared,
            reports: rx,
            cancelled,
            last,
        }
    }

    /// A handle to ask for a checkpoint at once.
    pub(crate) fn trigger(&self) -> CheckpointTrigger {
        CheckpointTrigger {
            shared: self.shared.clone(),
        }
    }

    /// The handle of node `node`.
    pub(crate) fn handle(&self, node: NodeId) -> NodeCheckpoints {
        NodeCheckpoints {
            node,
            shared: self.shared.clone(),
        }
    }

    /// Requests checkpoints every interval and completes them, until every sink ended (then
    /// writes the finished checkpoint) or the job is cancelled.
    pub(crate) fn run(self) -> Result<()> {
        let Coordinator {
            store,
            interval,
            nodes,
            sinks,
            mut next_id,
            shared,
            reports,
            cancelled,
            last,
        } = self;
        let store = store?;
        let names: HashMap<NodeId, String> = nodes.iter().cloned().collect();
        let mut pending: BTreeMap<u64, (Instant, HashMap<NodeId, State>)> = BTreeMap::new();
        let mut ended: HashMap<NodeId, State> = HashMap::new();
        let mut next_request = Instant::now() + interval;
        let mut savepoint = None;
        // Whether the last checkpoint took longer than the interval: the next is asked for
        // as soon as one completes, so checkpoints then follow each other back to back.
        let overrunning = std::cell::Cell::new(false);
        let complete = |id: u64,
                        states: HashMap<NodeId, State>,
                        finished: bool,
                        stop: bool,
                        started: Instant|
         -> Result<()> {
            let mut states: Vec<(NodeId, String, State)> = states
                .into_iter()
                .map(|(node, state)| (node, names[&node].clone(), state))
                .collect();
            states.sort_by_key(|(node, ..)| *node);
            let written = store.write(id, finished, &states)?;
            let duration = started.elapsed();
            tracing::info!(
                checkpoint = id,
                bytes = written.bytes,
                millis = duration.as_millis() as u64,
                finished,
                path = %written.path.display(),
                "checkpoint complete"
            );
            let over = duration > interval;
            match (over, overrunning.replace(over)) {
                _ if finished => {}
                (true, false) => tracing::warn!(
                    checkpoint = id,
                    millis = duration.as_millis() as u64,
                    interval_millis = interval.as_millis() as u64,
                    "checkpoints take longer than their interval: each starts as soon as the \
                     last completes"
                ),
                (false, true) => {
                    tracing::info!(
                        checkpoint = id,
                        "checkpoints complete within their interval again"
                    )
                }
                _ => {}
            }
            last.set(LastCheckpoint {
                id,
                bytes: written.bytes,
                duration,
                completed_at: Instant::now(),
            });
            shared.completed.send_replace(Completion {
                id,
                finished,
                last: stop,
            });
            Ok(())
        };
        loop {
            if cancelled.load(Ordering::Relaxed) {
                return Ok(());
            }
            let wait = next_request
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100));
            match reports.recv_timeout(wait) {
                Ok(Report::Taken { node, id, state }) => {
                    let started = Instant::now();
                    pending
                        .entry(id)
                        .or_insert((started, HashMap::new()))
                        .1
                        .insert(node, state);
                }
                Ok(Report::Ended { node, state }) => {
                    tracing::debug!(node, name = %names[&node], "node ended");
                    ended.insert(node, state);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            // Checkpoints complete in order; an ended node stands in with its last state.
            while let Some(mut entry) = pending.first_entry() {
                let (_, states) = entry.get_mut();
                let done = nodes
                    .iter()
                    .all(|(n, _)| states.contains_key(n) || ended.contains_key(n));
                if !done {
                    break;
                }
                let id = *entry.key();
                let (started, mut states) = entry.remove();
                for (node, state) in &ended {
                    states.entry(*node).or_insert_with(|| state.clone());
                }
                complete(id, states, false, savepoint == Some(id), started)?;
            }
            if !sinks.is_empty() && sinks.iter().all(|s| ended.contains_key(s)) {
                let id = pending
                    .keys()
                    .next_back()
                    .map_or(next_id, |id| id + 1)
                    .max(next_id);
                let sink_states = sinks.iter().map(|s| (*s, ended[s].clone())).collect();
                return complete(id, sink_states, true, false, Instant::now());
            }
            let asked = savepoint.is_none() && shared.savepoint.load(Ordering::Acquire);
            if pending.is_empty() && (asked || Instant::now() >= next_request) {
                if asked {
                    savepoint = Some(next_id);
                }
                tracing::debug!(checkpoint = next_id, "checkpoint requested");
                shared.requested.store(next_id, Ordering::Release);
                pending.insert(next_id, (Instant::now(), HashMap::new()));
                next_id += 1;
                next_request = Instant::now() + interval;
            }
        }
    }
}
