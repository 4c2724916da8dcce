//! The repartition topic of a job shared by several processes (scale-out, as Kafka Streams
//! does it).
//!
//! Each process of the job reads the table's partitions the consumer group gives it and
//! routes every row, by the hash of the key of the job's keyed operators, to one partition
//! of the job's repartition topic ([`Router`], stage 1). Each partition of that topic is a
//! task: one process runs it, reading it with [`RepartitionSource`] into that task's own
//! operators, state and checkpoints (stage 2). Equal keys meet in one task whichever
//! process read them.
//!
//! A message holds rows of one partition of the table (its *origin*, the message key):
//! its value is a kind byte, the origin's watermark after the rows (8 bytes, big endian)
//! and, for rows, an Arrow IPC stream of them with two columns more: each row's offset in
//! its origin and the origin's watermark before it (and a third, each row's change kind,
//! for changes). A job's later repartitions ([`crate::stage`]) send the same messages. Stage 2 takes the minimum watermark
//! over origins, stamping each row as one process reading every partition would (Flink's
//! rule for a keyed exchange). Stage 1 restarts from progress it saved now and then, so
//! after a failure it sends some rows again: stage 2 drops rows at or below the last
//! offset it took from their origin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, BooleanArray, Int64Array, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, Field, Int8Type, Int64Type, Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message as _;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use rill_engine::batch::{ChangeBatch, Message};
use rill_engine::checkpoint::State;
use rill_engine::exchange::KeyPartitioner;
use rill_engine::source::{Source, SourceContext};
use rill_engine::time::{MAX_WATERMARK, NO_WATERMARK, Watermark};
use rill_engine::{EngineError, Result};
use serde::{Deserialize, Serialize};

use crate::client::{BROKER_TIMEOUT, client_config, error};
use crate::config::KafkaTable;
use crate::source::combined_stamps;

/// The column of a repartitioned row's offset in its origin.
const OFFSET_COLUMN: &str = "__rill_offset";
/// The column of the origin's watermark before a repartitioned row.
const STAMP_COLUMN: &str = "__rill_watermark";
/// The column of a repartitioned change's kind, after the others when the rows are changes.
const OP_COLUMN: &str = "__rill_op";

/// What a message of the repartition topic holds.
pub(crate) const ROWS: u8 = 0;
/// Only the origin's watermark (it advanced, but none of its rows came to this partition).
pub(crate) const WATERMARK: u8 = 1;
/// The origin ended (a bounded table).
pub(crate) const END: u8 = 2;

/// How long stage 1 waits for the brokers to take its messages.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a job's repartition topic is and how it is read and written.
#[derive(Debug, Clone)]
pub struct Repartition {
    /// The table read: its brokers and client properties.
    pub table: KafkaTable,
    /// The repartition topic.
    pub topic: String,
    /// Its partitions: the job's tasks.
    pub partitions: usize,
    /// Every partition of the table, `topic-partition`: the origins each task waits for.
    pub origins: Vec<String>,
}

impl Repartition {
    /// Creates the topic if it does not exist.
    pub async fn create_topic(&self) -> Result<()> {
        use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
        use rdkafka::client::DefaultClientContext;
        let admin: AdminClient<DefaultClientContext> = client_config(&self.table, &[])
            .create()
            .map_err(|e| error(&self.table, "cannot create an admin client", e))?;
        let topic = NewTopic::new(
            &self.topic,
            self.partitions as i32,
            TopicReplication::Fixed(1),
        );
        let options = AdminOptions::new().operation_timeout(Some(BROKER_TIMEOUT));
        let results = admin
            .create_topics([&topic], &options)
            .await
            .map_err(|e| error(&self.table, "creating the repartition topic", e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(EngineError::Other(format!(
                        "Kafka ({}): creating the repartition topic '{name}': {code}",
                        self.table.bootstrap_servers()
                    )));
                }
            }
        }
        Ok(())
    }

    /// A producer of the topic's messages.
    pub(crate) fn producer(&self) -> Result<ThreadedProducer<DefaultProducerContext>> {
        // In order per partition even when retrying, so a task sees an origin's rows in
        // their order.
        // Uncompressed, as Kafka Streams' repartition topics: lz4 cost 6 % of a shared job's
        // CPU on a local broker (the table's properties may ask for it).
        let rill = [("enable.idempotence", "true"), ("linger.ms", "5")];
        client_config(&self.table, &rill)
            .create()
            .map_err(|e| error(&self.table, "cannot create a producer", e))
    }

    /// Waits until the brokers took every message `producer` sent.
    pub(crate) fn flush(&self, producer: &ThreadedProducer<DefaultProducerContext>) -> Result<()> {
        producer
            .flush(FLUSH_TIMEOUT)
            .map_err(|e| error(&self.table, "flushing the repartition topic", e))
    }
}

/// Where stage 1 is in one partition of the table, saved now and then (after the rows
/// before it were acknowledged by the brokers).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OriginProgress {
    /// The next offset to read.
    pub next: i64,
    /// The partition's watermark there.
    pub watermark: Watermark,
    /// The partition is read to its end (a bounded table).
    pub done: bool,
}

/// The file holding an origin's progress in `dir`.
fn progress_path(dir: &Path, origin: &str) -> PathBuf {
    dir.join(format!("{origin}.json"))
}

/// The progress saved for `origin` in `dir`, if any.
pub fn read_progress(dir: &Path, origin: &str) -> Result<Option<OriginProgress>> {
    let path = progress_path(dir, origin);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| EngineError::Other(format!("{}: damaged progress: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EngineError::Other(format!("{}: {e}", path.display()))),
    }
}

/// Stage 1: sends the rows of the partitions a process reads to the repartition topic, each
/// to the partition its key hashes to.
pub struct Router {
    repartition: Repartition,
    producer: ThreadedProducer<DefaultProducerContext>,
    partitioner: KeyPartitioner,
    /// Per origin, the watermark last sent to each partition.
    sent: BTreeMap<String, Vec<Watermark>>,
    /// Where progress is saved, one file per origin.
    progress_dir: PathBuf,
    last_saved: Instant,
}

impl Router {
    /// Routes rows by `partitioner` (over the rows the table's source sends) into
    /// `repartition`'s topic, saving progress in `progress_dir`.
    pub fn new(
        repartition: Repartition,
        partitioner: KeyPartitioner,
        progress_dir: PathBuf,
    ) -> Result<Self> {
        assert_eq!(partitioner.parts(), repartition.partitions, "a part a task");
        std::fs::create_dir_all(&progress_dir)
            .map_err(|e| EngineError::Other(format!("{}: {e}", progress_dir.display())))?;
        let producer = repartition.producer()?;
        Ok(Router {
            repartition,
            producer,
            partitioner,
            sent: BTreeMap::new(),
            progress_dir,
            last_saved: Instant::now(),
        })
    }

    /// Sends rows of `origin`: `batch` stamped with the origin's watermark before each row,
    /// `offsets` their offsets, `after` the origin's watermark after them.
    pub(crate) fn route(
        &mut self,
        origin: &str,
        batch: &ChangeBatch,
        offsets: Int64Array,
        after: Watermark,
    ) -> Result<()> {
        let stamps = match &batch.watermarks {
            Some(stamps) => stamps.clone(),
            None => Int64Array::from(vec![NO_WATERMARK; batch.num_rows()]),
        };
        let parts = self
            .partitioner
            .split(&with_origin_columns(batch, offsets, stamps)?)?;
        let count = self.repartition.partitions;
        let sent = self
            .sent
            .entry(origin.to_string())
            .or_insert_with(|| vec![NO_WATERMARK; count]);
        for (part, rows) in parts.into_iter().enumerate() {
            let value = match rows {
                Some(rows) => encode(ROWS, after, Some(&rows.data))?,
                None if after > sent[part] => encode(WATERMARK, after, None)?,
                None => continue,
            };
            sent[part] = after;
            send(&self.producer, &self.repartition, part, origin, &value)?;
        }
        Ok(())
    }

    /// `origin` ended: every task is told.
    pub(crate) fn end(&mut self, origin: &str) -> Result<()> {
        let value = encode(END, MAX_WATERMARK, None)?;
        for part in 0..self.repartition.partitions {
            send(&self.producer, &self.repartition, part, origin, &value)?;
        }
        Ok(())
    }

    /// Whether progress is due to be saved (once a second).
    pub(crate) fn progress_due(&self) -> bool {
        self.last_saved.elapsed() >= Duration::from_secs(1)
    }

    /// Waits until the brokers took every row sent, then saves each origin's `progress`.
    pub(crate) fn save_progress(
        &mut self,
        progress: impl IntoIterator<Item = (String, OriginProgress)>,
    ) -> Result<()> {
        self.repartition.flush(&self.producer)?;
        for (origin, progress) in progress {
            let path = progress_path(&self.progress_dir, &origin);
            let temporary = path.with_extension("json.tmp");
            let bytes = serde_json::to_vec(&progress)
                .map_err(|e| EngineError::Other(format!("progress: {e}")))?;
            std::fs::write(&temporary, bytes)
                .and_then(|()| std::fs::rename(&temporary, &path))
                .map_err(|e| EngineError::Other(format!("{}: {e}", path.display())))?;
        }
        self.last_saved = Instant::now();
        Ok(())
    }
}

/// Sends one message, waiting while librdkafka's queue is full.
pub(crate) fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    repartition: &Repartition,
    part: usize,
    origin: &str,
    value: &[u8],
) -> Result<()> {
    let mut record: BaseRecord<'_, str, [u8]> = BaseRecord::to(&repartition.topic)
        .partition(part as i32)
        .key(origin)
        .payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => {
                return Err(error(
                    &repartition.table,
                    "writing the repartition topic",
                    e,
                ));
            }
        }
    }
}

/// A message's value: its kind, the origin's watermark after it, and its rows if any.
pub(crate) fn encode(kind: u8, after: Watermark, rows: Option<&RecordBatch>) -> Result<Vec<u8>> {
    let mut value = Vec::with_capacity(9);
    value.push(kind);
    value.extend_from_slice(&after.to_be_bytes());
    if let Some(rows) = rows {
        let mut writer = StreamWriter::try_new(&mut value, &rows.schema())?;
        writer.write(rows)?;
        writer.finish()?;
    }
    Ok(value)
}

/// `batch` with the columns a task reads besides its rows: each row's offset in its origin,
/// the origin's watermark before it and, for changes, its kind.
pub(crate) fn with_origin_columns(
    batch: &ChangeBatch,
    offsets: Int64Array,
    stamps: Int64Array,
) -> Result<ChangeBatch> {
    let mut fields = batch.data.schema().fields().to_vec();
    fields.push(Arc::new(Field::new(OFFSET_COLUMN, DataType::Int64, false)));
    fields.push(Arc::new(Field::new(STAMP_COLUMN, DataType::Int64, false)));
    let mut columns = batch.data.columns().to_vec();
    columns.push(Arc::new(offsets));
    columns.push(Arc::new(stamps));
    if let Some(ops) = &batch.ops {
        fields.push(Arc::new(Field::new(OP_COLUMN, DataType::Int8, false)));
        columns.push(Arc::new(ops.clone()));
    }
    let data = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    Ok(batch.with_data(data))
}

/// A message's kind, watermark and rows.
fn decode(value: &[u8]) -> Result<(u8, Watermark, Option<RecordBatch>)> {
    let malformed = || EngineError::Other("a malformed message in the repartition topic".into());
    if value.len() < 9 {
        return Err(malformed());
    }
    let kind = value[0];
    let after = Watermark::from_be_bytes(value[1..9].try_into().expect("8 bytes"));
    let rows = match kind {
        ROWS => {
            let mut reader = StreamReader::try_new(&value[9..], None)?;
            Some(reader.next().ok_or_else(malformed)??)
        }
        WATERMARK | END => None,
        _ => return Err(malformed()),
    };
    Ok((kind, after, rows))
}

/// Stage 2: one partition of the repartition topic, as a task's source.
pub struct RepartitionSource {
    name: String,
    repartition: Repartition,
    partition: usize,
    /// The rows the table's source sends, which the task's operators read (`None`: the rows
    /// a stage before sends, as it sends them).
    schema: Option<SchemaRef>,
    /// After how long without messages an origin stops holding the watermark back.
    idle_timeout: Option<Duration>,
    state: TaskProgress,
}

/// What a task's checkpoint keeps of its source.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TaskProgress {
    /// The next offset to read in the task's partition.
    next: i64,
    origins: BTreeMap<String, OriginState>,
    sent_watermark: Watermark,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct OriginState {
    /// The last offset of the origin taken: rows at or below it are replays.
    last: i64,
    watermark: Watermark,
    ended: bool,
    #[serde(skip, default = "Instant::now")]
    last_message: Instant,
    #[serde(skip)]
    idle: bool,
}

impl OriginState {
    fn new() -> Self {
        OriginState {
            last: -1,
            watermark: NO_WATERMARK,
            ended: false,
            last_message: Instant::now(),
            idle: false,
        }
    }
}

impl TaskProgress {
    /// The minimum watermark of the origins neither ended nor idle, but `except`.
    fn combined(&self, except: Option<&str>) -> Watermark {
        self.origins
            .iter()
            .filter(|(name, o)| Some(name.as_str()) != except && !o.ended && !o.idle)
            .map(|(_, o)| o.watermark)
            .min()
            .unwrap_or(MAX_WATERMARK)
    }
}

impl RepartitionSource {
    /// Reads partition `partition` of `repartition`'s topic, whose rows have `schema` (`None`:
    /// as sent).
    pub fn new(
        name: impl Into<String>,
        repartition: Repartition,
        partition: usize,
        schema: Option<SchemaRef>,
        idle_timeout: Option<Duration>,
    ) -> Self {
        let origins = (repartition.origins.iter())
            .map(|o| (o.clone(), OriginState::new()))
            .collect();
        RepartitionSource {
            name: name.into(),
            repartition,
            partition,
            schema,
            idle_timeout,
            state: TaskProgress {
                next: 0,
                origins,
                sent_watermark: NO_WATERMARK,
            },
        }
    }

    /// The rows of a message of `origin`, replays dropped, stamped with the task's
    /// watermark; `None` when none is left.
    fn rows(&mut self, origin: &str, rows: RecordBatch) -> Result<Option<ChangeBatch>> {
        let others = self.state.combined(Some(origin));
        let state = self.state.origins.get_mut(origin).expect("a known origin");
        let malformed = || EngineError::Other("malformed rows in the repartition topic".into());
        let mut columns = rows.num_columns();
        let ops = match rows.schema().fields().last() {
            Some(field) if field.name() == OP_COLUMN => {
                columns -= 1;
                let ops = rows.column(columns).as_primitive_opt::<Int8Type>();
                Some(ops.ok_or_else(malformed)?.clone())
            }
            _ => None,
        };
        if columns < 2 {
            return Err(malformed());
        }
        let int64 = |c: usize| rows.column(c).as_primitive_opt::<Int64Type>().cloned();
        let (offsets, stamps) = match (int64(columns - 2), int64(columns - 1)) {
            (Some(offsets), Some(stamps)) => (offsets, stamps),
            _ => return Err(malformed()),
        };
        // The rows a stage before sent have the columns it sent.
        let schema = match &self.schema {
            Some(schema) => schema.clone(),
            None => Arc::new(Schema::new(rows.schema().fields()[..columns - 2].to_vec())),
        };
        // Rows may have no columns (a count's input).
        let count = RecordBatchOptions::new().with_row_count(Some(rows.num_rows()));
        let data = RecordBatch::try_new_with_options(
            schema,
            rows.columns()[..columns - 2].to_vec(),
            &count,
        )
        .map_err(|e| EngineError::Other(format!("the repartition topic's rows: {e}")))?;
        let last = state.last;
        state.last = state
            .last
            .max(arrow::compute::max(&offsets).unwrap_or(last));
        let stamps = combined_stamps(&stamps, others, self.state.sent_watermark);
        let batch = ChangeBatch {
            data,
            ops,
            watermarks: Some(stamps),
        };
        if offsets.values().iter().all(|&o| o > last) {
            return Ok(Some(batch));
        }
        let fresh = BooleanArray::from_iter(offsets.values().iter().map(|&o| Some(o > last)));
        let batch = batch.filter(&fresh)?;
        Ok((batch.num_rows() > 0).then_some(batch))
    }

    /// Sends the task's watermark if it advanced.
    fn advance_watermark(&mut self, ctx: &SourceContext) -> bool {
        let watermark = self.state.combined(None);
        if watermark <= self.state.sent_watermark || watermark == MAX_WATERMARK {
            return true;
        }
        self.state.sent_watermark = watermark;
        ctx.metrics.record_source_watermark(&self.name, watermark);
        ctx.output.blocking_send(Message::Watermark(watermark))
    }

    fn snapshot_state(&self) -> Result<State> {
        let mut state = State::new();
        state.put("progress", &self.state)?;
        Ok(state)
    }

    /// Reads until every origin ended or the job stops; false when it stopped.
    fn read(&mut self, consumer: &BaseConsumer, ctx: &mut SourceContext) -> Result<bool> {
        let repartition = &self.repartition;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(
                &repartition.topic,
                self.partition as i32,
                Offset::Offset(self.state.next),
            )
            .map_err(|e| error(&repartition.table, "assign", e))?;
        consumer
            .assign(&assignment)
            .map_err(|e| error(&repartition.table, "assign", e))?;
        tracing::info!(
            task = self.partition,
            topic = %repartition.topic,
            offset = self.state.next,
            "reading the repartition topic"
        );
        let mut wait = Duration::from_millis(100);
        while !self.state.origins.values().all(|o| o.ended) {
            if ctx.cancelled.load(Ordering::Relaxed) {
                return Ok(false);
            }
            if let Some(message) = consumer.poll(wait) {
                let message = match message {
                    Ok(message) => message,
                    // librdkafka retries by itself: a transient error is only reported.
                    Err(e) => {
                        tracing::warn!(task = self.partition, "Kafka: {e}");
                        continue;
                    }
                };
                self.state.next = message.offset() + 1;
                let origin = String::from_utf8_lossy(message.key().unwrap_or_default());
                let (kind, after, rows) = decode(message.payload().unwrap_or_default())?;
                if !self.state.origins.contains_key(origin.as_ref()) {
                    return Err(EngineError::Other(format!(
                        "the repartition topic '{}' has rows of '{origin}', not a partition \
                         of the table (did its partitions change?)",
                        self.repartition.topic
                    )));
                }
                // Rows in are counted where stage 1 read them from the table.
                if let Some(rows) = rows
                    && let Some(batch) = self.rows(&origin, rows)?
                    && !ctx.output.blocking_send(Message::Batch(batch))
                {
                    return Ok(false);
                }
                let state = self.state.origins.get_mut(origin.as_ref()).expect("known");
                state.watermark = state.watermark.max(after);
                state.ended |= kind == END;
                state.last_message = Instant::now();
                state.idle = false;
                wait = Duration::ZERO;
            } else {
                wait = Duration::from_millis(100);
            }
            if let Some(timeout) = self.idle_timeout {
                let now = Instant::now();
                for origin in self.state.origins.values_mut() {
                    origin.idle |= now.duration_since(origin.last_message) >= timeout;
                }
            }
            if !self.advance_watermark(ctx) {
                return Ok(false);
            }
            if !ctx.barrier(|| self.snapshot_state())? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl Source for RepartitionSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(mut self: Box<Self>, mut ctx: SourceContext) -> Result<()> {
        let consumer: BaseConsumer = client_config(
            &self.repartition.table,
            &[
                ("enable.auto.commit", "false"),
                ("enable.partition.eof", "false"),
                ("auto.offset.reset", "earliest"),
                ("fetch.queue.backoff.ms", "10"),
            ],
        )
        // Tasks are assigned by rill, not by the group: the group is the job's only.
        .set("group.id", format!("{}-task", self.repartition.topic))
        .create()
        .map_err(|e| error(&self.repartition.table, "cannot create a consumer", e))?;
        if !self.read(&consumer, &mut ctx)? {
            return Ok(());
        }
        if !ctx.output.blocking_send(Message::Watermark(MAX_WATERMARK)) {
            return Ok(());
        }
        ctx.end(|| self.snapshot_state())
    }

    fn snapshot(&self) -> Result<State> {
        self.snapshot_state()
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        let progress: TaskProgress = state.get("progress")?;
        self.state = progress;
        Ok(())
    }
}

/// Every partition of `table`'s topics, `topic-partition`: the origins of a shared job.
pub fn table_partitions(table: &KafkaTable) -> Result<Vec<String>> {
    let consumer: BaseConsumer = client_config(table, &[("group.id", "rill")])
        .create()
        .map_err(|e| error(table, "cannot create a consumer", e))?;
    let found = crate::client::partitions(table, |topic| {
        consumer.fetch_metadata(topic, BROKER_TIMEOUT)
    })?;
    Ok(found.into_iter().map(|(t, p)| format!("{t}-{p}")).collect())
}

/// What the consumer group says to a process of a shared job.
pub enum GroupEvent {
    /// These partitions (of the table's topics and of the repartition topic) are the
    /// process's now.
    Assigned(Vec<(String, i32)>),
    /// The process's partitions are taken back: the group waits until the sender is
    /// answered (the process stopped reading them and saved its tasks' state).
    Revoked(std::sync::mpsc::Sender<()>),
}

/// Tells the process of rebalances, from librdkafka's poll thread.
struct Rebalances {
    events: tokio::sync::mpsc::UnboundedSender<GroupEvent>,
}

impl rdkafka::ClientContext for Rebalances {}

impl rdkafka::consumer::ConsumerContext for Rebalances {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &rdkafka::consumer::Rebalance) {
        if let rdkafka::consumer::Rebalance::Revoke(_) = rebalance {
            let (done, wait) = std::sync::mpsc::channel();
            if self.events.send(GroupEvent::Revoked(done)).is_ok() {
                let _ = wait.recv();
            }
        }
    }

    fn post_rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance,
    ) {
        match rebalance {
            rdkafka::consumer::Rebalance::Assign(list) => {
                // The member only learns its partitions; tasks read them with their own
                // consumers, from their own offsets.
                let _ = consumer.pause(list);
                let partitions = (list.elements().iter())
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect();
                let _ = self.events.send(GroupEvent::Assigned(partitions));
            }
            rdkafka::consumer::Rebalance::Revoke(_) => {}
            rdkafka::consumer::Rebalance::Error(e) => {
                tracing::warn!("Kafka: rebalance: {e}");
            }
        }
    }
}

/// Joins `table`'s consumer group for `topics`, on a thread of its own that tells `events`
/// of each rebalance, until `stop` is set (then it leaves the group).
pub fn join_group(
    table: &KafkaTable,
    topics: Vec<String>,
    events: tokio::sync::mpsc::UnboundedSender<GroupEvent>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Result<std::thread::JoinHandle<()>> {
    // A process that died is noticed within 10 s (the table's properties may say otherwise);
    // Kafka's 45 s default also slows the first join on brokers that wait on it (Tansu).
    let consumer: BaseConsumer<Rebalances> = client_config(
        table,
        &[
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "false"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "3000"),
            // A task reads one partition of each repartition topic: every process must be
            // given partition N of all of them, as the range assignor does.
            ("partition.assignment.strategy", "range"),
        ],
    )
    .create_with_context(Rebalances { events })
    .map_err(|e| error(table, "cannot join the consumer group", e))?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&names)
        .map_err(|e| error(table, "cannot join the consumer group", e))?;
    tracing::info!(
        group = table.group_id().unwrap_or_default(),
        "joined the consumer group"
    );
    Ok(std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            // Partitions are paused: polling serves the group's heartbeats and rebalances.
            let _ = consumer.poll(Duration::from_millis(100));
        }
        consumer.unsubscribe();
        tracing::info!("left the consumer group");
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reads_back_as_written() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let rows =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2]))]).unwrap();
        let (kind, after, back) = decode(&encode(ROWS, 42, Some(&rows)).unwrap()).unwrap();
        assert_eq!((kind, after), (ROWS, 42));
        assert_eq!(back.unwrap(), rows);
        let (kind, after, back) = decode(&encode(END, MAX_WATERMARK, None).unwrap()).unwrap();
        assert_eq!((kind, after, back), (END, MAX_WATERMARK, None));
        assert!(decode(&[7; 9]).is_err());
        assert!(decode(&[0; 3]).is_err());
    }
}
