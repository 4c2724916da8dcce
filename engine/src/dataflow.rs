//! A job's graph of sources, operators and sinks, and the runtime that runs it: one task per
//! node, joined by bounded channels.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;

use tokio::sync::Notify;
use tokio::sync::mpsc::{Receiver, Sender, channel};
use tokio::task::JoinSet;

use crate::batch::Message;
use crate::checkpoint::{
    CheckpointConfig, CheckpointStatus, CheckpointStore, CheckpointTrigger, Completion,
    Coordinator, NodeCheckpoints, State,
};
use crate::exchange::{ExchangeRunner, KeyPartitioner};
use crate::metrics::JobMetrics;
use crate::operator::{Ended, Operator, StateBound, Union};
use crate::sink::Sink;
use crate::source::{Source, SourceContext};
use crate::time::{NO_WATERMARK, Watermark};
use crate::{EngineError, Result};

/// Messages buffered per edge before the sender waits.
const CHANNEL_CAPACITY: usize = 4;

/// An operator's state is measured (for the job's metrics and against its limit) after each of
/// its first messages, then every this many (measuring may take time linear in the state).
const STATE_CHECK_EVERY: u64 = 16;

/// Index of a node in a [`Dataflow`].
pub type NodeId = usize;

enum NodeKind {
    Source(Box<dyn Source>),
    Operator(Box<dyn Operator>),
    /// Routes each row to one of the nodes reading it, by key (see [`Dataflow::add_keyed`]).
    Exchange(KeyPartitioner),
    Sink(Box<dyn Sink>),
    /// A calc the source `source` runs ([`Dataflow::fuse`]); `name` is the calc's.
    Fused {
        name: String,
        source: NodeId,
    },
}

struct Node {
    kind: NodeKind,
    inputs: Vec<NodeId>,
    /// A sink of its input's side output (late rows), not of its main output.
    side: bool,
}

impl NodeKind {
    fn name(&self) -> String {
        match self {
            NodeKind::Source(s) => s.name().to_string(),
            NodeKind::Operator(o) => o.name().to_string(),
            NodeKind::Exchange(p) => format!("Exchange {}", p.describe()),
            NodeKind::Sink(s) => s.name().to_string(),
            NodeKind::Fused { name, .. } => name.clone(),
        }
    }
}

/// A dataflow graph under construction. Nodes are added after their inputs.
#[derive(Default)]
pub struct Dataflow {
    nodes: Vec<Node>,
    metrics: Arc<JobMetrics>,
    /// Which of the dataflows counting into `metrics` this is (0 unless shared).
    metrics_part: usize,
    /// The most state, in bytes, any one operator may hold.
    state_limit: Option<usize>,
    /// What the user should know before the job runs (e.g. state that can only grow).
    warnings: Vec<String>,
    /// How the job checkpoints, if it does.
    checkpointing: Option<Checkpointing>,
}

/// A job's checkpoint settings and what it resumed from.
struct Checkpointing {
    config: CheckpointConfig,
    /// What identifies the job besides its graph (its statement), for the fingerprint.
    identity: String,
    /// The checkpoint resumed from (0: none).
    restored: u64,
}

/// The checkpoint a job resumed from.
#[derive(Debug, Clone)]
pub struct Resumed {
    pub id: u64,
    pub path: std::path::PathBuf,
    /// The checkpointed run had finished: its output is complete, and nothing is left to run.
    pub finished: bool,
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

    /// Counts into `metrics`, as its dataflow `part` (the dataflows of a process's share of
    /// a shared job count into one). Before any node is added.
    pub fn share_metrics(&mut self, metrics: Arc<JobMetrics>, part: usize) {
        assert!(
            self.nodes.is_empty(),
            "metrics are shared before nodes take them"
        );
        self.metrics = metrics;
        self.metrics_part = part;
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

    /// Checkpoints the job as `config` says; `identity` (its statement) and the graph make
    /// the fingerprint a checkpoint must match to be restored. Fails, naming it, when a node
    /// cannot take part.
    pub fn set_checkpointing(
        &mut self,
        config: CheckpointConfig,
        identity: impl Into<String>,
    ) -> Result<()> {
        for node in &mut self.nodes {
            let probe = match &mut node.kind {
                NodeKind::Source(s) => s.snapshot().map(drop),
                NodeKind::Operator(o) => o.snapshot().map(drop),
                NodeKind::Exchange(_) | NodeKind::Sink(_) | NodeKind::Fused { .. } => Ok(()),
            };
            probe
                .map_err(|e| EngineError::Other(format!("this job cannot be checkpointed: {e}")))?;
        }
        self.checkpointing = Some(Checkpointing {
            config,
            identity: identity.into(),
            restored: 0,
        });
        Ok(())
    }

    /// The store of the job's checkpoints (when it checkpoints).
    fn checkpoint_store(&self) -> Option<Result<CheckpointStore>> {
        let checkpointing = self.checkpointing.as_ref()?;
        let plan = format!("{}\n{}", checkpointing.identity, self.describe());
        let store = CheckpointStore::open(&checkpointing.config.dir, &plan);
        Some(match &checkpointing.config.owner {
            Some(owner) => store.and_then(|mut store| {
                store.claim(owner)?;
                Ok(store)
            }),
            None => store,
        })
    }

    /// Before the job starts: gives every node its state from the latest complete checkpoint
    /// (or the one `'execution.state-recovery.path'` names), if there is one. A finished
    /// checkpoint only has the sinks' commits to redo: they are redone, and the job must not
    /// run again.
    pub fn resume(&mut self) -> Result<Option<Resumed>> {
        self.fuse();
        let Some(store) = self.checkpoint_store().transpose()? else {
            return Ok(None);
        };
        // Timed for the log only.
        let started = std::time::Instant::now();
        let checkpointing = self.checkpointing.as_mut().expect("checkpointing");
        let mut checkpoint = match &checkpointing.config.recovery {
            Some(path) => store.at(path)?,
            None => match store.latest()? {
                Some(checkpoint) => checkpoint,
                None => return Ok(None),
            },
        };
        checkpointing.restored = checkpoint.id;
        // A crash may have come between a checkpoint's completion and the removal of the
        // oldest.
        store.remove_old()?;
        for (id, node) in self.nodes.iter_mut().enumerate() {
            let stateless = matches!(node.kind, NodeKind::Fused { .. });
            if stateless || checkpoint.finished && !matches!(node.kind, NodeKind::Sink(_)) {
                continue;
            }
            // Each node's checkpointed state goes once the node has it back, rather than once
            // every node has: the two copies of a large state are not held for longer.
            let state = checkpoint.states.remove(&id).ok_or_else(|| {
                EngineError::Other(format!(
                    "checkpoint {} has no state for node #{id} ({})",
                    checkpoint.path.display(),
                    node.kind.name()
                ))
            })?;
            match &mut node.kind {
                NodeKind::Source(s) => s.restore(&state)?,
                NodeKind::Operator(o) if state.is_ended() => {
                    *o = Box::new(Ended::new(o.as_ref()));
                }
                NodeKind::Operator(o) => o.restore(&state)?,
                NodeKind::Exchange(_) | NodeKind::Fused { .. } => {}
                NodeKind::Sink(s) => s.restore(&state)?,
            }
        }
        tracing::info!(
            checkpoint = checkpoint.id,
            path = %checkpoint.path.display(),
            finished = checkpoint.finished,
            millis = started.elapsed().as_millis() as u64,
            "restored"
        );
        Ok(Some(Resumed {
            id: checkpoint.id,
            path: checkpoint.path,
            finished: checkpoint.finished,
        }))
    }

    /// Adds a source.
    pub fn add_source(&mut self, source: Box<dyn Source>) -> NodeId {
        self.push(NodeKind::Source(source), vec![])
    }

    /// Adds an operator reading `inputs` (input `i` of the operator is `inputs[i]`).
    pub fn add_operator(&mut self, operator: Box<dyn Operator>, inputs: Vec<NodeId>) -> NodeId {
        self.push(NodeKind::Operator(operator), inputs)
    }

    /// Adds a keyed operator as `instances`, each reading the rows of its share of the keys
    /// of `inputs` (input `i` of each instance reads `inputs[i].0`, split by `inputs[i].1`
    /// into as many parts as there are instances). Their outputs are merged into one node
    /// of `schema`'s columns, which is returned. One instance is added as it is.
    pub fn add_keyed(
        &mut self,
        mut instances: Vec<Box<dyn Operator>>,
        inputs: Vec<(NodeId, KeyPartitioner)>,
        schema: arrow::datatypes::SchemaRef,
    ) -> NodeId {
        let ids = inputs.iter().map(|(id, _)| *id).collect();
        if instances.len() == 1 {
            return self.add_operator(instances.pop().expect("one instance"), ids);
        }
        assert!(
            (inputs.iter()).all(|(_, p)| p.parts() == instances.len()),
            "one part per instance"
        );
        // Each exchange's outputs are its instances, in order: part k goes to instance k.
        let exchanges: Vec<NodeId> = inputs
            .into_iter()
            .map(|(input, partitioner)| self.push(NodeKind::Exchange(partitioner), vec![input]))
            .collect();
        let outputs = instances
            .into_iter()
            .map(|instance| self.add_operator(instance, exchanges.clone()))
            .collect();
        self.add_operator(Box::new(Union::merge(schema)), outputs)
    }

    /// Adds a sink reading `input`.
    pub fn add_sink(&mut self, sink: Box<dyn Sink>, input: NodeId) -> NodeId {
        self.push(NodeKind::Sink(sink), vec![input])
    }

    /// Adds a sink reading the next side output of operator `operator` (the first call for
    /// an operator gives its side output 0, the next 1, ...): the rows it sends as
    /// [`Message::Side`], with its barriers and end, so the sink takes part in checkpoints
    /// as every sink does.
    pub fn add_side_sink(&mut self, sink: Box<dyn Sink>, operator: NodeId) -> NodeId {
        assert!(
            matches!(self.nodes[operator].kind, NodeKind::Operator(_)),
            "operators have side outputs"
        );
        let node = self.push(NodeKind::Sink(sink), vec![operator]);
        self.nodes[node].side = true;
        node
    }

    /// Keeps only `node`, the nodes it reads (directly or not) and the side sinks of those,
    /// numbered again in the same order: one stage of a job planned whole.
    pub fn keep_upstream_of(&mut self, node: NodeId) {
        let mut keep = vec![false; self.nodes.len()];
        keep[node] = true;
        for id in (0..=node).rev() {
            if keep[id] {
                for &input in &self.nodes[id].inputs {
                    keep[input] = true;
                }
            }
        }
        for id in 0..self.nodes.len() {
            let n = &self.nodes[id];
            keep[id] |= n.side && keep[n.inputs[0]];
        }
        let mut number = vec![0; self.nodes.len()];
        let mut next = 0;
        for (id, kept) in keep.iter().enumerate() {
            number[id] = next;
            next += usize::from(*kept);
        }
        let nodes = std::mem::take(&mut self.nodes);
        for (mut n, kept) in nodes.into_iter().zip(keep) {
            if kept {
                n.inputs.iter_mut().for_each(|i| *i = number[*i]);
                self.nodes.push(n);
            }
        }
    }

    fn push(&mut self, kind: NodeKind, inputs: Vec<NodeId>) -> NodeId {
        assert!(
            inputs.iter().all(|i| *i < self.nodes.len()),
            "inputs come first"
        );
        self.nodes.push(Node {
            kind,
            inputs,
            side: false,
        });
        self.nodes.len() - 1
    }

    /// The graph as text, one node a line, sinks first (for `EXPLAIN`).
    pub fn describe(&self) -> String {
        let mut text = String::new();
        for (id, node) in self.nodes.iter().enumerate().rev() {
            let kind = match node.kind {
                NodeKind::Source(_) => "source",
                NodeKind::Operator(_) | NodeKind::Exchange(_) | NodeKind::Fused { .. } => {
                    "operator"
                }
                NodeKind::Sink(_) => "sink",
            };
            let _ = write!(text, "#{id} {kind} {}", node.kind.name());
            if !node.inputs.is_empty() {
                let inputs: Vec<String> = node.inputs.iter().map(|i| format!("#{i}")).collect();
                let _ = write!(text, " <- {}", inputs.join(", "));
            }
            if let NodeKind::Operator(operator) = &node.kind {
                let bound = operator.state_bound();
                if bound != StateBound::None {
                    let _ = write!(text, "\n     state {bound}");
                }
            }
            text.push('\n');
        }
        text
    }

    /// Moves each calc that is the only reader of a source (or of a calc moved into one) into
    /// that source, when the source can run it ([`Source::fuse`]): Flink's operator chaining.
    /// The calc's node stays in the graph, for plans and checkpoint fingerprints, but runs no
    /// task; its readers read the source. Calcs have no state to checkpoint.
    fn fuse(&mut self) {
        for id in 0..self.nodes.len() {
            let (&[input], false) = (self.nodes[id].inputs.as_slice(), self.nodes[id].side) else {
                continue;
            };
            let readers = (self.nodes.iter())
                .flat_map(|node| &node.inputs)
                .filter(|i| **i == input)
                .count();
            let NodeKind::Operator(operator) = &self.nodes[id].kind else {
                continue;
            };
            let (Some(calc), 1) = (operator.fusable(), readers) else {
                continue;
            };
            let name = operator.name().to_string();
            let source = match &self.nodes[input].kind {
                NodeKind::Fused { source, .. } => *source,
                _ => input,
            };
            let NodeKind::Source(reader) = &mut self.nodes[source].kind else {
                continue;
            };
            if reader.fuse(calc).is_ok() {
                self.nodes[id].kind = NodeKind::Fused { name, source };
            }
        }
    }

    /// The node whose task sends what node `id` emits: a fused calc's source.
    fn sender(&self, id: NodeId) -> NodeId {
        match self.nodes[id].kind {
            NodeKind::Fused { source, .. } => source,
            _ => id,
        }
    }

    /// Starts every node as a task on the current tokio runtime.
    pub fn start(mut self) -> Job {
        self.fuse();
        let senders: Vec<NodeId> = (0..self.nodes.len()).map(|id| self.sender(id)).collect();
        let store = self.checkpoint_store();
        let metrics = self.metrics;
        let part = self.metrics_part;
        let state_limit = self.state_limit;
        let stop = Stop {
            cancelled: Arc::new(AtomicBool::new(false)),
            stopping: Arc::new(Notify::new()),
        };
        let last_checkpoint = CheckpointStatus::default();
        // Sources send barriers for checkpoints after the one resumed from.
        let restored = self.checkpointing.as_ref().map_or(0, |c| c.restored);
        let coordinator = self.checkpointing.map(|checkpointing| {
            let nodes = (self.nodes.iter().enumerate())
                .filter(|(_, node)| !matches!(node.kind, NodeKind::Fused { .. }))
                .map(|(id, node)| (id, node.kind.name()))
                .collect();
            let sinks = (self.nodes.iter().enumerate())
                .filter(|(_, node)| matches!(node.kind, NodeKind::Sink(_)))
                .map(|(id, _)| id)
                .collect();
            Coordinator::new(
                store.expect("a store when checkpointing"),
                checkpointing.config.interval,
                nodes,
                sinks,
                checkpointing.restored,
                stop.cancelled.clone(),
                last_checkpoint.clone(),
            )
        });
        // One bounded channel per input of each node: an input held back while a checkpoint's
        // barrier aligns fills up and slows its producer, rather than memory.
        let mut outputs: Vec<Output> = (0..self.nodes.len()).map(|_| Output::default()).collect();
        let mut inboxes: Vec<Vec<Receiver<Message>>> = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let mut ports = Vec::with_capacity(node.inputs.len());
            for input in &node.inputs {
                if matches!(node.kind, NodeKind::Fused { .. }) {
                    break;
                }
                let (tx, rx) = channel(CHANNEL_CAPACITY);
                let output = &mut outputs[senders[*input]];
                match node.side {
                    true => output.sides.push(tx),
                    false => output.targets.push(tx),
                }
                ports.push(rx);
            }
            inboxes.push(ports);
        }
        let mut tasks = JoinSet::new();
        let mut sinks = 0;
        let sinks_done = Arc::new(AtomicUsize::new(0));
        let nodes = self.nodes.into_iter().zip(outputs).zip(inboxes);
        for (id, ((node, output), inbox)) in nodes.enumerate() {
            let checkpoints = coordinator.as_ref().map(|c| c.handle(id));
            match node.kind {
                NodeKind::Source(source) => {
                    let ctx = SourceContext {
                        output,
                        metrics: metrics.clone(),
                        cancelled: stop.cancelled.clone(),
                        checkpoints,
                        last_barrier: restored,
                    };
                    tasks.spawn_blocking(move || source.run(ctx));
                }
                NodeKind::Operator(operator) => {
                    let runner = OperatorRunner {
                        part,
                        node: id,
                        operator,
                        output,
                        metrics: metrics.clone(),
                        state_limit,
                        checkpoints,
                    };
                    tasks.spawn(runner.run(inbox));
                }
                NodeKind::Exchange(partitioner) => {
                    assert_eq!(
                        output.targets.len(),
                        partitioner.parts(),
                        "one target a part"
                    );
                    let runner = ExchangeRunner {
                        partitioner,
                        output,
                        checkpoints,
                    };
                    let inbox = inbox.into_iter().next().expect("an exchange's input");
                    tasks.spawn(runner.run(inbox));
                }
                NodeKind::Sink(sink) => {
                    let (metrics, stop) = (metrics.clone(), stop.clone());
                    let done = sinks_done.clone();
                    let counts_rows = !node.side && sink.is_output();
                    let runner = SinkRunner {
                        sink,
                        checkpoints,
                        committed: 0,
                        counts_rows,
                    };
                    let inbox = inbox.into_iter().next().expect("a sink's input");
                    tasks.spawn_blocking(move || runner.run(inbox, &metrics, &stop, &done));
                    sinks += 1;
                }
                NodeKind::Fused { .. } => {}
            }
        }
        let trigger = coordinator.as_ref().map(Coordinator::trigger);
        if let Some(coordinator) = coordinator {
            tasks.spawn_blocking(move || coordinator.run());
        }
        Job {
            metrics,
            stop,
            tasks,
            sinks,
            sinks_done,
            last_checkpoint,
            trigger,
        }
    }
}

/// Where a node sends what it emits: an input of every downstream node, and the sinks of
/// an operator's side outputs.
#[derive(Default)]
pub struct Output {
    targets: Vec<Sender<Message>>,
    sides: Vec<Sender<Message>>,
}

impl Output {
    /// Sends from async code; false when every receiver is gone (the job is stopping). Side
    /// rows go to their side sink, other rows and watermarks downstream, and barriers and
    /// the end to both.
    pub async fn send(&self, message: Message) -> bool {
        let to_sides = match message {
            Message::Side(n, rows) => {
                return self.sides[n].send(Message::Batch(rows)).await.is_ok();
            }
            Message::Barrier(_) | Message::End => self.sides.as_slice(),
            Message::Batch(_) | Message::Watermark(_) => &[],
        };
        let mut any = false;
        for tx in self.targets.iter().chain(to_sides) {
            any |= tx.send(message.clone()).await.is_ok();
        }
        any
    }

    /// Sends `messages` in order, leaving it empty; false when the job is stopping.
    async fn send_all(&self, messages: &mut Vec<Message>) -> bool {
        for message in messages.drain(..) {
            if !self.send(message).await {
                return false;
            }
        }
        true
    }

    /// Sends to the `target`-th node reading this one only (an exchange's part); false when
    /// its receiver is gone.
    pub(crate) async fn send_to(&self, target: usize, message: Message) -> bool {
        self.targets[target].send(message).await.is_ok()
    }

    /// Sends from a blocking thread (a source's: it has no side outputs); false when every
    /// receiver is gone.
    pub fn blocking_send(&self, message: Message) -> bool {
        let mut any = false;
        for tx in &self.targets {
            any |= tx.blocking_send(message.clone()).is_ok();
        }
        any
    }
}

/// Drives an operator: batches in arrival order, the minimum watermark over its inputs,
/// checkpoint barriers aligned over its inputs, and end-of-stream once every input ended.
/// Drops a finished operator on a thread of its own. Freeing a large state (a join's rows,
/// bucket by bucket) took an eighth of Nexmark q7's time, which the job's end need not wait
/// for; a process that exits right after leaves it to the system.
fn drop_in_background(operator: Box<dyn Operator>) {
    static DROPPER: std::sync::OnceLock<Option<std::sync::mpsc::Sender<Box<dyn Operator>>>> =
        std::sync::OnceLock::new();
    let dropper = DROPPER.get_or_init(|| {
        let (send, receive) = std::sync::mpsc::channel::<Box<dyn Operator>>();
        let thread = std::thread::Builder::new().name("rill-drop".into());
        thread
            .spawn(move || receive.into_iter().for_each(drop))
            .ok()?;
        Some(send)
    });
    // Without the thread (or once it is gone), here.
    if let Some(Err(returned)) = dropper.as_ref().map(|d| d.send(operator)) {
        drop(returned.0);
    }
}

struct OperatorRunner {
    /// The dataflow's part in its metrics.
    part: usize,
    node: NodeId,
    operator: Box<dyn Operator>,
    output: Output,
    metrics: Arc<JobMetrics>,
    state_limit: Option<usize>,
    checkpoints: Option<NodeCheckpoints>,
}

/// The inputs' progress as an operator sees it.
struct Inputs {
    watermarks: Vec<Watermark>,
    combined: Watermark,
    ended: Vec<bool>,
    /// The checkpoint being aligned and the inputs its barrier arrived on: those are not
    /// read until it arrived on every input still open.
    aligning: Option<(u64, Vec<bool>)>,
    /// The input read first next time, so that every input gets its turn.
    next: usize,
}

impl Inputs {
    fn all_ended(&self) -> bool {
        self.ended.iter().all(|e| *e)
    }

    /// Whether input `port` may be read: open, and not waiting for the other inputs' barrier.
    fn readable(&self, port: usize) -> bool {
        !self.ended[port]
            && !self
                .aligning
                .as_ref()
                .is_some_and(|(_, arrived)| arrived[port])
    }

    /// The next message of a readable input, taking turns; `None` when an input closed
    /// without ending (its producer stopped: the job is stopping).
    async fn next(&mut self, inboxes: &mut [Receiver<Message>]) -> Option<(usize, Message)> {
        std::future::poll_fn(|cx| {
            let n = inboxes.len();
            for k in 0..n {
                let port = (self.next + k) % n;
                if !self.readable(port) {
                    continue;
                }
                match inboxes[port].poll_recv(cx) {
                    Poll::Ready(Some(message)) => {
                        self.next = (port + 1) % n;
                        return Poll::Ready(Some((port, message)));
                    }
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => {}
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Whether the barrier being aligned arrived on every input still open.
    fn aligned(&self) -> bool {
        self.aligning
            .as_ref()
            .is_some_and(|(_, arrived)| arrived.iter().zip(&self.ended).all(|(a, e)| *a || *e))
    }
}

impl OperatorRunner {
    async fn run(mut self, mut inboxes: Vec<Receiver<Message>>) -> Result<()> {
        let result = self.process(&mut inboxes).await;
        drop_in_background(self.operator);
        result
    }

    /// Hands the operator its inputs' messages until they end, it finishes, or its output
    /// closes.
    async fn process(&mut self, inboxes: &mut [Receiver<Message>]) -> Result<()> {
        let inputs = inboxes.len();
        let mut state = Inputs {
            watermarks: vec![NO_WATERMARK; inputs],
            combined: NO_WATERMARK,
            ended: vec![false; inputs],
            aligning: None,
            next: 0,
        };
        let mut out = Vec::new();
        let mut received = 0u64;
        let mut ticks = self.operator.tick_interval().map(ticker);
        loop {
            // `None`: a tick.
            let next = match &mut ticks {
                None => Some(state.next(inboxes).await),
                Some(ticks) => tokio::select! {
                    next = state.next(inboxes) => Some(next),
                    _ = ticks.tick() => None,
                },
            };
            let Some(next) = next else {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                self.operator.on_tick(now, &mut out)?;
                if !self.output.send_all(&mut out).await {
                    return Ok(());
                }
                continue;
            };
            let Some((port, message)) = next else {
                return Ok(());
            };
            received += 1;
            if received <= STATE_CHECK_EVERY || received.is_multiple_of(STATE_CHECK_EVERY) {
                self.measure_state()?;
            }
            self.handle(port, message, &mut state, &mut out)?;
            while self.operator.busy() {
                if !self.output.send_all(&mut out).await {
                    return Ok(());
                }
                self.operator.resume(&mut out)?;
            }
            if state.aligned() {
                let (id, _) = state.aligning.take().expect("aligning");
                self.checkpoint(id, &mut out)?;
            }
            // Its inputs ended, or it will emit nothing more.
            let ended = state.all_ended() || self.operator.finished();
            if ended {
                out.push(Message::End);
                self.end();
            }
            if !self.output.send_all(&mut out).await || ended {
                return Ok(());
            }
        }
    }

    /// Measures the operator's state for the job's metrics, against the job's limit.
    fn measure_state(&self) -> Result<()> {
        let bytes = self.operator.state_bytes();
        self.metrics
            .record_state(self.part, self.node, bytes as u64);
        if let Some(limit) = self.state_limit
            && bytes > limit
        {
            return Err(EngineError::StateLimit {
                operator: self.operator.name().to_string(),
                bytes,
                limit,
            });
        }
        Ok(())
    }

    fn handle(
        &mut self,
        port: usize,
        message: Message,
        state: &mut Inputs,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        match message {
            Message::Batch(batch) => self.operator.on_batch(port, batch, out)?,
            Message::Watermark(w) => {
                state.watermarks[port] = state.watermarks[port].max(w);
                let min = state.watermarks.iter().copied().min().unwrap_or(w);
                if min > state.combined {
                    state.combined = min;
                    self.operator.on_watermark(min, out)?;
                }
            }
            Message::Barrier(id) => {
                let inputs = state.ended.len();
                let (_, arrived) = state.aligning.get_or_insert((id, vec![false; inputs]));
                arrived[port] = true;
            }
            Message::End => {
                state.ended[port] = true;
                self.operator.on_input_end(port, out)?;
                if state.all_ended() {
                    // End-of-stream follows once the operator's work is done.
                    self.operator.on_end(out)?;
                }
            }
            Message::Side(..) => unreachable!("side rows go to a side sink as rows"),
        }
        Ok(())
    }

    /// The barrier of checkpoint `id` arrived on every input: reports the state and passes
    /// the barrier on, ahead of anything the inputs send after it.
    fn checkpoint(&mut self, id: u64, out: &mut Vec<Message>) -> Result<()> {
        if let Some(checkpoints) = &self.checkpoints {
            // Timed for the log only: the pause a checkpoint causes the operator.
            let started = std::time::Instant::now();
            let state = self.operator.snapshot()?;
            tracing::debug!(
                checkpoint = id,
                operator = self.operator.name(),
                bytes = state.bytes(),
                micros = started.elapsed().as_micros() as u64,
                "state taken"
            );
            checkpoints.report(id, state);
            crate::fault::point("after-barrier");
        }
        out.push(Message::Barrier(id));
        Ok(())
    }

    /// The operator ended (its inputs did, or it needs no more): [`State::ended`] stands for
    /// it in every later checkpoint. Nothing reads what it holds again, so that is not taken
    /// (a large join's rows would be copied for nothing).
    fn end(&self) {
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.ended(State::ended());
        }
    }
}

/// Drives a sink on a blocking thread. Without checkpoints it commits only when its input
/// ends normally; with them, it pre-commits at each barrier and commits what a completed
/// checkpoint covers. A cancelled job stops at once, leaving uncommitted output invisible.
struct SinkRunner {
    sink: Box<dyn Sink>,
    checkpoints: Option<NodeCheckpoints>,
    committed: u64,
    /// Whether its rows are the job's output rows (a side sink's late rows are counted as
    /// late where they are found).
    counts_rows: bool,
}

/// Ticks every `every`, the first one `every` from now; late ones are delayed, not bunched.
fn ticker(every: std::time::Duration) -> tokio::time::Interval {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

/// What a sink waits for (one at a time: a message is not worth boxing).
#[allow(clippy::large_enum_variant)]
enum SinkEvent {
    Message(Message),
    Completed(Completion),
    Tick,
    Stop,
}

impl SinkRunner {
    fn run(
        mut self,
        mut inbox: Receiver<Message>,
        metrics: &JobMetrics,
        stop: &Stop,
        done: &AtomicUsize,
    ) -> Result<()> {
        let runtime = tokio::runtime::Handle::current();
        let mut completions = self.checkpoints.as_ref().map(NodeCheckpoints::completions);
        let mut input_open = true;
        let mut ticks = self.sink.tick_interval().map(|every| {
            let _entered = runtime.enter();
            ticker(every)
        });
        loop {
            let event = runtime.block_on(async {
                let stopping = stop.stopping.notified();
                if stop.cancelled.load(Ordering::Relaxed) {
                    return SinkEvent::Stop;
                }
                let completed = async {
                    if let Some(c) = &mut completions
                        && c.changed().await.is_ok()
                    {
                        return SinkEvent::Completed(*c.borrow());
                    }
                    std::future::pending().await
                };
                let tick = async {
                    match &mut ticks {
                        Some(ticks) => {
                            ticks.tick().await;
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    message = inbox.recv(), if input_open => match message {
                        Some(message) => SinkEvent::Message(message),
                        None => SinkEvent::Stop,
                    },
                    event = completed => event,
                    _ = tick => SinkEvent::Tick,
                    _ = stopping => SinkEvent::Stop,
                }
            });
            match event {
                SinkEvent::Stop => return Ok(()),
                SinkEvent::Tick => self.sink.on_tick()?,
                SinkEvent::Completed(completion) => {
                    let id = if completion.finished {
                        u64::MAX
                    } else {
                        completion.id
                    };
                    if id > self.committed {
                        self.sink.commit(id)?;
                        self.committed = id;
                    }
                    if completion.finished || completion.last {
                        done.fetch_add(1, Ordering::Release);
                        return Ok(());
                    }
                }
                SinkEvent::Message(Message::Batch(batch)) => {
                    self.sink.on_batch(&batch)?;
                    if self.counts_rows {
                        JobMetrics::add(&metrics.rows_out, batch.num_rows() as u64);
                    }
                }
                SinkEvent::Message(Message::Watermark(w)) => self.sink.on_watermark(w)?,
                SinkEvent::Message(Message::Side(..)) => {
                    unreachable!("side rows go to a side sink as rows")
                }
                SinkEvent::Message(Message::Barrier(id)) => {
                    if let Some(checkpoints) = &self.checkpoints {
                        checkpoints.report(id, self.sink.snapshot(id)?);
                    }
                }
                SinkEvent::Message(Message::End) => {
                    self.sink.finish()?;
                    crate::fault::point("end-of-input");
                    match &self.checkpoints {
                        // Committed once the finished checkpoint is written.
                        Some(checkpoints) => {
                            checkpoints.ended(self.sink.snapshot(u64::MAX)?);
                            input_open = false;
                        }
                        None => {
                            self.sink.commit(u64::MAX)?;
                            done.fetch_add(1, Ordering::Release);
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
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
    last_checkpoint: CheckpointStatus,
    /// Asks for a checkpoint at once, when the job checkpoints.
    trigger: Option<CheckpointTrigger>,
}

impl Job {
    /// The job's last completed checkpoint, now and later.
    pub fn checkpoints(&self) -> CheckpointStatus {
        self.last_checkpoint.clone()
    }

    /// The job's live counters.
    pub fn metrics(&self) -> Arc<JobMetrics> {
        self.metrics.clone()
    }

    /// Stops the job after a checkpoint taken now (Flink's `STOP JOB .. WITH SAVEPOINT`),
    /// which its sinks commit, and from which running it again resumes; the checkpoint's id.
    pub async fn stop_with_savepoint(&mut self) -> Result<u64> {
        let Some(trigger) = &self.trigger else {
            return Err(EngineError::Other(
                "the job takes no checkpoints: set 'execution.checkpointing.interval' and \
                 'execution.checkpointing.dir' before starting it"
                    .into(),
            ));
        };
        trigger.savepoint();
        // The sinks stop once they committed it, and with them the job.
        self.wait().await?;
        let last = self.last_checkpoint.last();
        let id = last
            .ok_or_else(|| EngineError::Other("the job ended before its savepoint".into()))?
            .id;
        tracing::info!(checkpoint = id, "stopped at a savepoint");
        Ok(id)
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

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};

    use super::*;
    use crate::checkpoint::State;
    use crate::operator::Calc;

    /// A source that runs any calc fused into it.
    struct Fusing;

    impl Source for Fusing {
        fn name(&self) -> &str {
            "Fusing"
        }

        fn run(self: Box<Self>, _ctx: SourceContext) -> Result<()> {
            Ok(())
        }

        fn snapshot(&self) -> Result<State> {
            Ok(State::new())
        }

        fn restore(&mut self, _state: &State) -> Result<()> {
            Ok(())
        }

        fn fuse(&mut self, _calc: Calc) -> std::result::Result<(), Calc> {
            Ok(())
        }
    }

    fn schema() -> arrow::datatypes::SchemaRef {
        Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]))
    }

    fn calc() -> Calc {
        Calc::new(None, None, schema()).unwrap()
    }

    /// The methods of an operator that ignores its rows and holds nothing.
    macro_rules! stateless {
        () => {
            fn on_batch(
                &mut self,
                _: usize,
                _: crate::ChangeBatch,
                _: &mut Vec<Message>,
            ) -> Result<()> {
                Ok(())
            }

            fn snapshot(&mut self) -> Result<State> {
                Ok(State::new())
            }

            fn restore(&mut self, _state: &State) -> Result<()> {
                Ok(())
            }

            fn state_bound(&self) -> crate::operator::StateBound {
                crate::operator::StateBound::None
            }
        };
    }

    /// An operator that says when it is dropped.
    struct Dropped(std::sync::mpsc::Sender<()>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }

    impl Operator for Dropped {
        fn name(&self) -> &str {
            "Dropped"
        }

        stateless!();
    }

    /// An operator whose end of input emits a row in each of three parts, then a watermark.
    struct InParts {
        parts_left: i64,
    }

    impl InParts {
        fn part(&mut self, out: &mut Vec<Message>) {
            let rows = Int64Array::from(vec![self.parts_left]);
            let rows = RecordBatch::try_new(schema(), vec![Arc::new(rows)]).unwrap();
            out.push(Message::Batch(crate::ChangeBatch::inserts(rows)));
            self.parts_left -= 1;
            if self.parts_left == 0 {
                out.push(Message::Watermark(7));
            }
        }
    }

    impl Operator for InParts {
        fn name(&self) -> &str {
            "InParts"
        }

        fn on_end(&mut self, out: &mut Vec<Message>) -> Result<()> {
            self.part(out);
            Ok(())
        }

        fn busy(&self) -> bool {
            self.parts_left > 0
        }

        fn resume(&mut self, out: &mut Vec<Message>) -> Result<()> {
            self.part(out);
            Ok(())
        }

        stateless!();
    }

    /// A sink that notes what it is given.
    struct Noting(Arc<std::sync::Mutex<Vec<String>>>);

    impl crate::sink::Sink for Noting {
        fn name(&self) -> &str {
            "Noting"
        }

        fn on_batch(&mut self, batch: &crate::ChangeBatch) -> Result<()> {
            let rows = batch.data.column(0).as_primitive::<Int64Type>();
            self.0
                .lock()
                .unwrap()
                .push(format!("row {}", rows.value(0)));
            Ok(())
        }

        fn on_watermark(&mut self, watermark: crate::time::Watermark) -> Result<()> {
            self.0
                .lock()
                .unwrap()
                .push(format!("watermark {watermark}"));
            Ok(())
        }

        fn finish(&mut self) -> Result<()> {
            self.0.lock().unwrap().push("end".into());
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_left_by_the_end_goes_out_before_the_end() {
        let noted = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut flow = Dataflow::new();
        let source = flow.add_source(Box::new(crate::source::ValuesSource::new(vec![])));
        let parts = flow.add_operator(Box::new(InParts { parts_left: 3 }), vec![source]);
        flow.add_sink(Box::new(Noting(noted.clone())), parts);
        flow.start().wait().await.unwrap();
        let noted = noted.lock().unwrap().clone();
        assert_eq!(noted, ["row 3", "row 2", "row 1", "watermark 7", "end"]);
    }

    #[test]
    fn finished_operators_are_freed_in_the_background() {
        let (send, dropped) = std::sync::mpsc::channel();
        for _ in 0..3 {
            drop_in_background(Box::new(Dropped(send.clone())));
        }
        for _ in 0..3 {
            dropped
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("an operator handed over is dropped");
        }
    }

    /// Where each node's output comes from once fused.
    fn senders(flow: &Dataflow) -> Vec<NodeId> {
        (0..flow.nodes.len()).map(|id| flow.sender(id)).collect()
    }

    #[test]
    fn calcs_that_alone_read_a_source_run_in_it() {
        let mut flow = Dataflow::new();
        let source = flow.add_source(Box::new(Fusing));
        let first = flow.add_operator(Box::new(calc()), vec![source]);
        let second = flow.add_operator(Box::new(calc()), vec![first]);
        // Two readers of one source: each keeps its task.
        let shared = flow.add_source(Box::new(Fusing));
        let left = flow.add_operator(Box::new(calc()), vec![shared]);
        let right = flow.add_operator(Box::new(calc()), vec![shared]);
        // The rows' watermarks are known only once sent.
        let watermarked = flow.add_source(Box::new(Fusing));
        let watermark_type = DataType::Timestamp(TimeUnit::Millisecond, None);
        let reads_watermarks = calc().with_watermark_column(watermark_type);
        let reading = flow.add_operator(Box::new(reads_watermarks), vec![watermarked]);
        // A source that runs no calc.
        let values = flow.add_source(Box::new(crate::source::ValuesSource::new(vec![])));
        let unfused = flow.add_operator(Box::new(calc()), vec![values]);
        let union = Box::new(Union::merge(schema()));
        let merged = flow.add_operator(union, vec![second, left, right, reading, unfused]);
        let plan = flow.describe();
        flow.fuse();
        assert_eq!(
            flow.describe(),
            plan,
            "plans and fingerprints do not change"
        );
        let mut expected: Vec<NodeId> = (0..flow.nodes.len()).collect();
        expected[first] = source;
        expected[second] = source;
        assert_eq!(senders(&flow), expected);
        assert_eq!(
            flow.nodes[merged].inputs,
            vec![second, left, right, reading, unfused]
        );
        // Fusing again changes nothing.
        flow.fuse();
        assert_eq!(senders(&flow), expected);
    }

    #[test]
    fn a_stage_keeps_the_nodes_it_reads_and_their_side_sinks() {
        let mut flow = Dataflow::new();
        let below = flow.add_source(Box::new(Fusing));
        let stage = flow.add_source(Box::new(Fusing));
        let calc_below = flow.add_operator(Box::new(calc()), vec![below]);
        let keyed = flow.add_operator(Box::new(calc()), vec![stage]);
        flow.add_side_sink(Box::new(crate::sink::BlackholeSink), keyed);
        let above = flow.add_operator(Box::new(calc()), vec![keyed, calc_below]);
        let sink = flow.add_sink(Box::new(crate::sink::BlackholeSink), above);
        let _other = flow.add_sink(Box::new(crate::sink::BlackholeSink), calc_below);
        flow.keep_upstream_of(sink);
        let edges: Vec<(String, Vec<NodeId>, bool)> = (flow.nodes.iter())
            .map(|n| (n.kind.name(), n.inputs.clone(), n.side))
            .collect();
        assert_eq!(
            edges,
            vec![
                ("Fusing".to_string(), vec![], false),
                ("Fusing".to_string(), vec![], false),
                ("Calc".to_string(), vec![0], false),
                ("Calc".to_string(), vec![1], false),
                ("blackhole".to_string(), vec![3], true),
                ("Calc".to_string(), vec![3, 2], false),
                ("blackhole".to_string(), vec![5], false),
            ]
        );
        // A stage under the operator that reads `keyed`: the other source goes.
        flow.keep_upstream_of(3);
        let names: Vec<String> = flow.nodes.iter().map(|n| n.kind.name()).collect();
        assert_eq!(names, ["Fusing", "Calc", "blackhole"]);
        assert_eq!(flow.nodes[1].inputs, vec![0]);
    }
}
