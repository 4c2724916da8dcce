//! A job's graph of sources, operators and sinks, and the runtime that runs it: one task per
//! node, joined by bounded channels.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;
use tokio::sync::mpsc::{Receiver, Sender, channel};
use tokio::task::JoinSet;

use crate::batch::Message;
use crate::metrics::JobMetrics;
use crate::operator::Operator;
use crate::sink::Sink;
use crate::source::{Source, SourceContext};
use crate::time::{NO_WATERMARK, Watermark};
use crate::{EngineError, Result};

/// Messages buffered per edge before the sender waits.
const CHANNEL_CAPACITY: usize = 8;

/// An operator's state is measured against the job's limit after each of its first messages,
/// then every this many (measuring may take time linear in the state).
const STATE_CHECK_EVERY: u64 = 16;

/// Index of a node in a [`Dataflow`].
pub type NodeId = usize;

/// A message tagged with the index of the input it arrives on.
type Envelope = (usize, Message);

enum NodeKind {
    Source(Box<dyn Source>),
    Operator(Box<dyn Operator>),
    Sink(Box<dyn Sink>),
}

struct Node {
    kind: NodeKind,
    inputs: Vec<NodeId>,
}

impl NodeKind {
    fn name(&self) -> &str {
        match self {
            NodeKind::Source(s) => s.name(),
            NodeKind::Operator(o) => o.name(),
            NodeKind::Sink(s) => s.name(),
        }
    }
}

/// A dataflow graph under construction. Nodes are added after their inputs.
#[derive(Default)]
pub struct Dataflow {
    nodes: Vec<Node>,
    metrics: Arc<JobMetrics>,
    /// The most state, in bytes, any one operator may hold.
    state_limit: Option<usize>,
    /// What the user should know before the job runs (e.g. state that can only grow).
    warnings: Vec<String>,
}

impl Dataflow {
    /// An empty dataflow.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counters the job will update; operators that count take a handle when built.
    pub fn metrics(&self) -> Arc<JobMetrics> {
        self.metrics.clone()
    }

    /// Fails the job when an operator's state grows past `bytes`, naming the operator.
    pub fn set_state_limit(&mut self, bytes: usize) {
        self.state_limit = Some(bytes);
    }

    /// Notes something the user should know before the job runs.
    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// The warnings noted while planning.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Adds a source.
    pub fn add_source(&mut self, source: Box<dyn Source>) -> NodeId {
        self.push(NodeKind::Source(source), vec![])
    }

    /// Adds an operator reading `inputs` (input `i` of the operator is `inputs[i]`).
    pub fn add_operator(&mut self, operator: Box<dyn Operator>, inputs: Vec<NodeId>) -> NodeId {
        self.push(NodeKind::Operator(operator), inputs)
    }

    /// Adds a sink reading `input`.
    pub fn add_sink(&mut self, sink: Box<dyn Sink>, input: NodeId) -> NodeId {
        self.push(NodeKind::Sink(sink), vec![input])
    }

    fn push(&mut self, kind: NodeKind, inputs: Vec<NodeId>) -> NodeId {
        assert!(
            inputs.iter().all(|i| *i < self.nodes.len()),
            "inputs come first"
        );
        self.nodes.push(Node { kind, inputs });
        self.nodes.len() - 1
    }

    /// The graph as text, one node a line, sinks first (for `EXPLAIN`).
    pub fn describe(&self) -> String {
        let mut text = String::new();
        for (id, node) in self.nodes.iter().enumerate().rev() {
            let kind = match node.kind {
                NodeKind::Source(_) => "source",
                NodeKind::Operator(_) => "operator",
                NodeKind::Sink(_) => "sink",
            };
            let _ = write!(text, "#{id} {kind} {}", node.kind.name());
            if !node.inputs.is_empty() {
                let inputs: Vec<String> = node.inputs.iter().map(|i| format!("#{i}")).collect();
                let _ = write!(text, " <- {}", inputs.join(", "));
            }
            text.push('\n');
        }
        text
    }

    /// Starts every node as a task on the current tokio runtime.
    pub fn start(self) -> Job {
        let metrics = self.metrics;
        let state_limit = self.state_limit;
        let stop = Stop {
            cancelled: Arc::new(AtomicBool::new(false)),
            stopping: Arc::new(Notify::new()),
        };
        let n = self.nodes.len();
        let mut senders: Vec<Option<Sender<Envelope>>> = Vec::with_capacity(n);
        let mut receivers: Vec<Option<Receiver<Envelope>>> = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = channel(CHANNEL_CAPACITY);
            senders.push(Some(tx));
            receivers.push(Some(rx));
        }
        let mut outputs: Vec<Output> = (0..n).map(|_| Output::default()).collect();
        for (id, node) in self.nodes.iter().enumerate() {
            for (port, input) in node.inputs.iter().enumerate() {
                let tx = senders[id].clone().expect("sender");
                outputs[*input].targets.push((tx, port));
            }
        }
        drop(senders);
        let mut tasks = JoinSet::new();
        let mut sinks = 0;
        let sinks_done = Arc::new(AtomicUsize::new(0));
        for ((node, output), inbox) in self.nodes.into_iter().zip(outputs).zip(receivers) {
            let inbox = inbox.expect("receiver");
            let inputs = node.inputs.len();
            match node.kind {
                NodeKind::Source(source) => {
                    let ctx = SourceContext {
                        output,
                        metrics: metrics.clone(),
                        cancelled: stop.cancelled.clone(),
                    };
                    tasks.spawn_blocking(move || source.run(ctx));
                }
                NodeKind::Operator(operator) => {
                    tasks.spawn(run_operator(operator, inputs, inbox, output, state_limit));
                }
                NodeKind::Sink(sink) => {
                    let (metrics, stop) = (metrics.clone(), stop.clone());
                    let done = sinks_done.clone();
                    tasks.spawn_blocking(move || run_sink(sink, inbox, &metrics, &stop, &done));
                    sinks += 1;
                }
            }
        }
        Job {
            metrics,
            stop,
            tasks,
            sinks,
            sinks_done,
        }
    }
}

/// Where a node sends what it emits: every downstream node, each at its input port.
#[derive(Default)]
pub struct Output {
    targets: Vec<(Sender<Envelope>, usize)>,
}

impl Output {
    /// Sends from async code; false when every receiver is gone (the job is stopping).
    pub async fn send(&self, message: Message) -> bool {
        let mut any = false;
        for (tx, port) in &self.targets {
            any |= tx.send((*port, message.clone())).await.is_ok();
        }
        any
    }

    /// Sends from a blocking thread; false when every receiver is gone.
    pub fn blocking_send(&self, message: Message) -> bool {
        let mut any = false;
        for (tx, port) in &self.targets {
            any |= tx.blocking_send((*port, message.clone())).is_ok();
        }
        any
    }
}

/// Drives an operator: batches in arrival order, the minimum watermark over its inputs, and
/// end-of-stream once every input ended.
async fn run_operator(
    mut operator: Box<dyn Operator>,
    inputs: usize,
    mut inbox: Receiver<Envelope>,
    output: Output,
    state_limit: Option<usize>,
) -> Result<()> {
    let mut watermarks = vec![NO_WATERMARK; inputs];
    let mut combined: Watermark = NO_WATERMARK;
    let mut ended = 0;
    let mut out = Vec::new();
    let mut received = 0u64;
    while let Some((port, message)) = inbox.recv().await {
        received += 1;
        if let Some(limit) = state_limit
            && (received <= STATE_CHECK_EVERY || received.is_multiple_of(STATE_CHECK_EVERY))
        {
            let bytes = operator.state_bytes();
            if bytes > limit {
                return Err(EngineError::StateLimit {
                    operator: operator.name().to_string(),
                    bytes,
                    limit,
                });
            }
        }
        match message {
            Message::Batch(batch) => operator.on_batch(port, batch, &mut out)?,
            Message::Watermark(w) => {
                watermarks[port] = watermarks[port].max(w);
                let min = watermarks.iter().copied().min().unwrap_or(w);
                if min > combined {
                    combined = min;
                    operator.on_watermark(combined, &mut out)?;
                }
            }
            Message::End => {
                ended += 1;
                if ended == inputs {
                    operator.on_end(&mut out)?;
                    out.push(Message::End);
                }
            }
        }
        let finished = ended < inputs && operator.finished();
        if finished {
            out.push(Message::End);
        }
        for message in out.drain(..) {
            if !output.send(message).await {
                return Ok(());
            }
        }
        if ended == inputs || finished {
            return Ok(());
        }
    }
    Ok(())
}

/// Drives a sink on a blocking thread; it commits only when its input ends normally, and
/// stops at once when the job is cancelled, dropping (so removing) what it has not committed.
fn run_sink(
    mut sink: Box<dyn Sink>,
    mut inbox: Receiver<Envelope>,
    metrics: &JobMetrics,
    stop: &Stop,
    done: &AtomicUsize,
) -> Result<()> {
    let runtime = tokio::runtime::Handle::current();
    let next = |inbox: &mut Receiver<Envelope>| {
        runtime.block_on(async {
            let stopping = stop.stopping.notified();
            if stop.cancelled.load(Ordering::Relaxed) {
                return None;
            }
            tokio::select! {
                message = inbox.recv() => message,
                _ = stopping => None,
            }
        })
    };
    while let Some((_, message)) = next(&mut inbox) {
        match message {
            Message::Batch(batch) => {
                sink.on_batch(&batch)?;
                JobMetrics::add(&metrics.rows_out, batch.num_rows() as u64);
            }
            Message::Watermark(w) => sink.on_watermark(w)?,
            Message::End => {
                sink.finish()?;
                done.fetch_add(1, Ordering::Release);
                return Ok(());
            }
        }
    }
    Ok(())
}

/// How a job is told to stop: a flag for sources to poll, a wake-up for sinks waiting.
#[derive(Clone)]
struct Stop {
    cancelled: Arc<AtomicBool>,
    stopping: Arc<Notify>,
}

impl Stop {
    fn stop(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
        self.stopping.notify_waiters();
    }
}

/// A running dataflow.
pub struct Job {
    metrics: Arc<JobMetrics>,
    stop: Stop,
    tasks: JoinSet<Result<()>>,
    /// How many sinks the job has, and how many have committed all their input: once all
    /// have, the job's output is complete.
    sinks: usize,
    sinks_done: Arc<AtomicUsize>,
}

impl Job {
    /// The job's live counters.
    pub fn metrics(&self) -> Arc<JobMetrics> {
        self.metrics.clone()
    }

    /// Stops the job: sources stop reading and sinks do not commit.
    pub fn cancel(&mut self) {
        self.stop.stop();
        self.tasks.abort_all();
    }

    /// Waits until every node finished; the first error of any node fails the job.
    pub async fn wait(&mut self) -> Result<()> {
        let mut first_error = None;
        while let Some(joined) = self.tasks.join_next().await {
            let result = match joined {
                Ok(result) => result,
                Err(e) if e.is_cancelled() => continue,
                Err(e) => Err(EngineError::Other(format!("internal error: {e}"))),
            };
            if let Err(e) = result
                && first_error.is_none()
            {
                first_error = Some(e);
                self.stop.stop();
                self.tasks.abort_all();
            }
            let complete = self.sinks > 0 && self.sinks_done.load(Ordering::Acquire) == self.sinks;
            if complete && first_error.is_none() {
                // Every result is written (a satisfied LIMIT ends the output early): the
                // sources still reading, maybe blocked on standard input, stop.
                self.stop.stop();
                self.tasks.abort_all();
                self.tasks.detach_all();
                return Ok(());
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
