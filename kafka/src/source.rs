//! The Kafka source: the partitions of a table's topics, read from the offsets the table (or
//! a checkpoint) says, each message decoded into a row.
//!
//! Messages come from librdkafka in runs of one partition. Each run is decoded at once (its
//! keys, its values, its metadata columns), and its rows are stamped with the source's
//! watermark: every partition has its own assigner, and the source's watermark is the
//! minimum over the partitions that are neither finished nor idle (Flink's rule), never
//! going back. A partition idle for the table's idle timeout stops holding it back until it
//! has messages again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arrow::array::{
    Array, ArrayRef, Int8Array, Int32Array, Int64Array, RecordBatch, RecordBatchOptions,
    StringArray, TimestampMillisecondArray, UInt32Array,
};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::{BorrowedMessage, Message as _, Timestamp};
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};
use rill_engine::batch::{Message, RowKind};
use rill_engine::checkpoint::State;
use rill_engine::metrics::JobMetrics;
use rill_engine::operator::Calc;
use rill_engine::source::{
    CHANGE_KIND_COLUMN, MessageDecoder, RecordFormat, RowShape, Source, SourceContext,
    WatermarkAssigner,
};
use rill_engine::time::{MAX_WATERMARK, NO_WATERMARK, Watermark};
use rill_engine::{EngineError, Result};
use serde::{Deserialize, Serialize};

use crate::client::{BROKER_TIMEOUT, client_config, error, partitions};
use crate::config::{KafkaTable, Metadata, Offsets};
use crate::repartition::{OriginProgress, Router};

/// Settings of a Kafka source.
#[derive(Debug)]
pub struct KafkaSourceOptions {
    pub table: KafkaTable,
    /// The table's stored columns: the key's and the value's, and metadata columns.
    pub schema: SchemaRef,
    /// The metadata columns, by their place in `schema`.
    pub metadata: Vec<(usize, Metadata)>,
    /// How decoded rows become the rows sent (each partition's own, from this one).
    pub shape: RowShape,
    /// The table's watermark, assigned per partition.
    pub watermarks: Option<WatermarkAssigner>,
    /// Most messages per batch.
    pub batch_size: usize,
}

/// Reads a Kafka table.
pub struct KafkaSource {
    name: String,
    options: KafkaSourceOptions,
    /// The key's columns: their places in `schema`, and their decoder.
    key: Option<(Vec<usize>, MessageDecoder)>,
    /// The value's columns: their places in `schema`, and their decoder.
    value: (Vec<usize>, MessageDecoder),
    /// The columns of decoded rows: the stored columns, and an upsert table's change kinds.
    decoded_schema: SchemaRef,
    /// Where each partition is: from a checkpoint before the run (`None`: a fresh start),
    /// where reading ended after it (for the final snapshot).
    restored: Option<Progress>,
    /// The checkpoint restored, for what each partition's rows' shape keeps.
    restored_state: Option<State>,
    sent_watermark: Watermark,
    /// Stage 1 of a shared job: the partitions this process reads, each with where it got
    /// to before, and where their rows go instead of the dataflow.
    shared: Option<Shared>,
    /// The calcs fused into the source, run on its rows before they are sent.
    calcs: Vec<Calc>,
}

/// The part of a shared job's table one process reads, and the router of its rows.
struct Shared {
    partitions: BTreeMap<String, Option<OriginProgress>>,
    router: Router,
}

/// What a checkpoint keeps of a Kafka source.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Progress {
    partitions: Vec<PartitionProgress>,
    sent_watermark: Watermark,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PartitionProgress {
    topic: String,
    partition: i32,
    /// The next offset to read.
    next: i64,
    watermark: Watermark,
    done: bool,
}

/// A partition being read.
struct Partition {
    topic: String,
    id: i32,
    /// The next offset to read.
    next: i64,
    /// The offset reading ends at (bounded tables).
    stop: Option<i64>,
    /// How its rows become the rows sent: computed columns that keep state (a skew
    /// correction) keep it per partition, whose rows come in order.
    shape: RowShape,
    watermarks: Option<WatermarkAssigner>,
    /// Messages before the first at or after this time are skipped (`timestamp` startup).
    start_time: Option<i64>,
    /// The first message at or after this time ends the partition (`timestamp` bound).
    stop_time: Option<i64>,
    /// When its last message came, for idleness.
    last_message: Instant,
    /// No message came for the idle timeout: it does not hold the watermark back.
    idle: bool,
    done: bool,
}

impl Partition {
    /// `topic-partition`, as lag, progress and a shared job's origins name it.
    fn name(&self) -> String {
        partition_name(&self.topic, self.id)
    }

    fn watermark(&self) -> Watermark {
        self.watermarks
            .as_ref()
            .map_or(NO_WATERMARK, WatermarkAssigner::current)
    }
}

/// Reports each partition's consumer lag from librdkafka's statistics (once a second, from
/// the client's last fetches: no request of its own).
struct LagReporter {
    name: String,
    metrics: Arc<JobMetrics>,
    /// Set once every partition is read to its bound: later statistics are stale.
    done: std::sync::atomic::AtomicBool,
}

impl ClientContext for LagReporter {
    // `consumer_lag_stored` counts from the position read (librdkafka stores each consumed
    // message's offset); `consumer_lag` counts from committed offsets, which rill leaves be.
    fn stats(&self, statistics: Statistics) {
        if self.done.load(Ordering::Relaxed) {
            return;
        }
        let mut lag: Vec<(String, u64)> = statistics
            .topics
            .iter()
            .flat_map(|(topic, t)| {
                t.partitions
                    .iter()
                    .filter(|(id, p)| **id >= 0 && p.consumer_lag_stored >= 0)
                    .map(move |(id, p)| (format!("{topic}-{id}"), p.consumer_lag_stored as u64))
            })
            .collect();
        lag.sort();
        self.metrics.record_lag(&self.name, lag);
    }
}

impl ConsumerContext for LagReporter {}

/// The information of one message a run keeps.
struct Received<'a> {
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    offset: i64,
    timestamp: Timestamp,
}

impl KafkaSource {
    /// A source for the table `name`; the brokers are first asked when it runs.
    pub fn new(name: impl Into<String>, options: KafkaSourceOptions) -> Result<Self> {
        let table = &options.table;
        let metadata: Vec<usize> = options.metadata.iter().map(|(i, _)| *i).collect();
        let place = |name: &str| {
            options
                .schema
                .index_of(name)
                .map_err(|_| EngineError::Other(format!("the key column '{name}' is not a column")))
        };
        let key_places = match &table.key {
            Some(key) => key
                .fields
                .iter()
                .map(|f| place(f))
                .collect::<Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        let value_places: Vec<usize> = (0..options.schema.fields().len())
            .filter(|i| !metadata.contains(i))
            .filter(|i| table.value_includes_key || !key_places.contains(i))
            .collect();
        let decoder = |places: &[usize], records: RecordFormat| -> Result<MessageDecoder> {
            Ok(MessageDecoder::new(
                records,
                Arc::new(options.schema.project(places)?),
            ))
        };
        // With 'ALL' the value has the key's columns: the key is not read (as in Flink).
        let key = match &table.key {
            Some(k) if !table.value_includes_key || table.upsert => {
                Some((key_places.clone(), decoder(&key_places, k.format)?))
            }
            _ => None,
        };
        let value_decoder = decoder(&value_places, table.value)?;
        let value = (value_places, value_decoder);
        let mut decoded = options.schema.fields().to_vec();
        if table.upsert {
            decoded.push(Arc::new(Field::new(
                CHANGE_KIND_COLUMN,
                DataType::Int8,
                false,
            )));
        }
        Ok(KafkaSource {
            name: name.into(),
            decoded_schema: Arc::new(Schema::new(decoded)),
            key,
            value,
            options,
            restored: None,
            restored_state: None,
            sent_watermark: NO_WATERMARK,
            shared: None,
            calcs: Vec::new(),
        })
    }

    /// Stage 1 of a job shared by several processes: reads only `partitions` (named
    /// `topic-partition`), each from where it got to before if it did (else as the table
    /// says), and routes their rows with `router` instead of sending them on.
    pub fn shared(
        mut self,
        partitions: BTreeMap<String, Option<OriginProgress>>,
        router: Router,
    ) -> Self {
        self.shared = Some(Shared { partitions, router });
        self
    }

    fn consumer(&self, metrics: Arc<JobMetrics>) -> Result<BaseConsumer<LagReporter>> {
        let table = &self.options.table;
        // Offsets are rill's to keep (in checkpoints): the group's are only reported to.
        let rill = [
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "false"),
            // Where retention removed the next message, go on with the first one kept.
            ("auto.offset.reset", "earliest"),
            // librdkafka wants a group even to read assigned partitions; nothing is
            // committed to it unless the table names one.
            ("group.id", "rill"),
            // Statistics, with each partition's lag, once a second.
            ("statistics.interval.ms", "1000"),
            // A consumer as fast as rill's empties librdkafka's queue at once; the default
            // (a second's pause once the queue was full) leaves it waiting: 5x slower.
            ("fetch.queue.backoff.ms", "10"),
        ];
        let reporter = LagReporter {
            name: self.name.clone(),
            metrics,
            done: std::sync::atomic::AtomicBool::new(false),
        };
        client_config(table, &rill)
            .create_with_context(reporter)
            .map_err(|e| error(table, "cannot create a consumer", e))
    }

    /// The partitions to read, each with its start (and, bounded, stop) offset.
    fn plan_partitions(&self, consumer: &BaseConsumer<LagReporter>) -> Result<Vec<Partition>> {
        let table = &self.options.table;
        let found = partitions(table, |topic| {
            consumer.fetch_metadata(topic, BROKER_TIMEOUT)
        })?;
        let restored: BTreeMap<(String, i32), &PartitionProgress> = self
            .restored
            .iter()
            .flat_map(|p| &p.partitions)
            .map(|p| ((p.topic.clone(), p.partition), p))
            .collect();
        let mut parts = Vec::with_capacity(found.len());
        for (topic, id) in found {
            let shared = match &self.shared {
                Some(shared) => match shared.partitions.get(&format!("{topic}-{id}")) {
                    Some(progress) => Some(progress),
                    None => continue,
                },
                None => None,
            };
            let fail = |e| error(table, &format!("offsets of {topic}-{id}"), e);
            // The partition's first and end offsets, asked once.
            let range = consumer
                .fetch_watermarks(&topic, id, BROKER_TIMEOUT)
                .map_err(fail)?;
            let offset = |at: &Offsets| self.offset(consumer, at, &topic, id, range);
            let mut watermarks = self.options.watermarks.clone();
            // Where the partition got to: a shared job's saved progress, or a checkpoint's.
            let resumed = match shared {
                Some(progress) => progress.as_ref().map(|p| (p.next, p.watermark, p.done)),
                None => (restored.get(&(topic.clone(), id))).map(|p| (p.next, p.watermark, p.done)),
            };
            let mut shape = self.options.shape.for_part()?;
            let (next, done, from_startup) = match resumed {
                Some((next, watermark, done)) => {
                    if let Some(w) = &mut watermarks {
                        w.restore(watermark);
                    }
                    if let (None, Some(state)) = (shared, &self.restored_state) {
                        shape.restore(state, &shape_prefix(&topic, id))?;
                    }
                    (next, done, false)
                }
                // A partition new since the checkpoint is read from its start, as Flink
                // reads newly discovered partitions.
                None if shared.is_none() && self.restored.is_some() => (range.0, false, false),
                None => (offset(&table.startup)?, false, true),
            };
            let start_time = match &table.startup {
                Offsets::Timestamp(ms) if from_startup => Some(*ms),
                _ => None,
            };
            let (stop, stop_time) = match &table.bounded {
                None => (None, None),
                Some(Offsets::Specific(map)) if !map.contains_key(&id) => (Some(range.1), None),
                // Up to the first message at or after the time, at most to the end.
                Some(Offsets::Timestamp(ms)) => (Some(range.1), Some(*ms)),
                Some(bound) => (Some(offset(bound)?), None),
            };
            let done = done || stop.is_some_and(|s| next >= s);
            parts.push(Partition {
                topic,
                id,
                next,
                stop,
                shape,
                watermarks,
                start_time,
                stop_time,
                last_message: Instant::now(),
                idle: false,
                done,
            });
        }
        Ok(parts)
    }

    /// The offset `at` stands for in one partition, whose first and end offsets are
    /// `(low, high)`.
    fn offset(
        &self,
        consumer: &BaseConsumer<LagReporter>,
        at: &Offsets,
        topic: &str,
        partition: i32,
        (low, high): (i64, i64),
    ) -> Result<i64> {
        let table = &self.options.table;
        let fail = |e| error(table, &format!("offsets of {topic}-{partition}"), e);
        Ok(match at {
            Offsets::Earliest => low,
            Offsets::Latest => high,
            Offsets::Specific(map) => map.get(&partition).copied().unwrap_or(low),
            Offsets::Timestamp(ms) => {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(topic, partition, Offset::Offset(*ms))
                    .map_err(fail)?;
                let found = consumer
                    .offsets_for_times(tpl, BROKER_TIMEOUT)
                    .map_err(fail)?;
                match found.elements().first().map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    // No message at or after the time: the end.
                    _ => high,
                }
            }
            Offsets::Group { reset } => {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition(topic, partition);
                let committed = consumer
                    .committed_offsets(tpl, BROKER_TIMEOUT)
                    .map_err(fail)?;
                match committed.elements().first().map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    _ => match reset {
                        Some(reset) => {
                            return self.offset(consumer, reset, topic, partition, (low, high));
                        }
                        None => {
                            return Err(EngineError::Other(format!(
                                "Kafka: the group '{}' has no committed offset for {topic}-{partition}; \
                                 set 'properties.auto.offset.reset' to 'earliest' or 'latest', \
                                 or choose another 'scan.startup.mode'",
                                table.group_id().unwrap_or_default()
                            )));
                        }
                    },
                }
            }
        })
    }

    /// Decodes a run of messages of one partition into rows of the stored columns, with
    /// the offset of each row's message (unknown for change events, which may give two).
    fn decode(
        &mut self,
        partition: &Partition,
        run: &[Received],
        metrics: &JobMetrics,
    ) -> Result<Option<(RecordBatch, Option<Int64Array>)>> {
        let upsert = self.options.table.upsert;
        let ignore = self.options.table.value.ignore_parse_errors;
        let malformed = |i: usize, what: &str, reason: String| -> Result<()> {
            let at = format!(
                "{}-{} offset {}: {what}: {reason}",
                partition.topic, partition.id, run[i].offset
            );
            if ignore {
                metrics.record_malformed(at);
                Ok(())
            } else {
                Err(EngineError::Other(format!("malformed message in {at}")))
            }
        };
        // Each message's row of the decoded keys and values, if it has one.
        let mut key_row: Vec<Option<u32>> = vec![None; run.len()];
        let mut value_row: Vec<Option<u32>> = vec![None; run.len()];
        let keys = match &mut self.key {
            Some((_, decoder)) => {
                let (with, bytes): (Vec<usize>, Vec<&[u8]>) = run
                    .iter()
                    .enumerate()
                    .filter_map(|(i, m)| m.key.map(|k| (i, k)))
                    .unzip();
                for (i, m) in run.iter().enumerate() {
                    if m.key.is_none() {
                        malformed(i, "key", "the message has no key".into())?;
                    }
                }
                let decoded =
                    decoder.decode(&bytes, |i, reason| malformed(with[i], "key", reason))?;
                fill_rows(&mut key_row, &with, decoded.messages.as_ref());
                Some(decoded.data)
            }
            None => None,
        };
        let (with, bytes): (Vec<usize>, Vec<&[u8]>) = run
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.value.map(|v| (i, v)))
            .unzip();
        let decoded = self
            .value
            .1
            .decode(&bytes, |i, reason| malformed(with[i], "value", reason))?;
        if self.options.table.value.format.is_changelog() {
            // Change events have neither key nor metadata columns (refused at planning).
            return Ok(Some((decoded.data, None)));
        }
        fill_rows(&mut value_row, &with, decoded.messages.as_ref());
        let values = decoded.data;
        // The messages that give a row: a value (or, upsert, a tombstone) and a key if read.
        let rows: Vec<u32> = (0..run.len())
            .filter(|&i| keys.is_none() || key_row[i].is_some())
            .filter(|&i| value_row[i].is_some() || (upsert && run[i].value.is_none()))
            .map(|i| i as u32)
            .collect();
        if rows.is_empty() {
            return Ok(None);
        }
        let pick =
            |of: &[Option<u32>]| UInt32Array::from_iter(rows.iter().map(|&i| of[i as usize]));
        let schema = &self.options.schema;
        let mut columns: Vec<Option<ArrayRef>> = vec![None; schema.fields().len()];
        if let (Some(keys), Some((places, _))) = (&keys, &self.key) {
            let indices = pick(&key_row);
            for (column, &place) in keys.columns().iter().zip(places) {
                columns[place] = Some(take(column, &indices, None)?);
            }
        }
        let indices = pick(&value_row);
        for (column, &place) in values.columns().iter().zip(&self.value.0) {
            // With 'ALL' and upsert, the key's columns of a tombstone come from its key.
            if columns[place].is_none() || indices.null_count() == 0 {
                columns[place] = Some(take(column, &indices, None)?);
            } else if let Some(key_column) = &columns[place] {
                let from_value = take(column, &indices, None)?;
                let is_value = arrow::compute::is_not_null(&indices)?;
                columns[place] = Some(arrow::compute::kernels::zip::zip(
                    &is_value,
                    &from_value,
                    key_column,
                )?);
            }
        }
        for (place, metadata) in &self.options.metadata {
            let data_type = schema.field(*place).data_type();
            columns[*place] = Some(metadata_column(
                *metadata, data_type, partition, run, &rows,
            )?);
        }
        let mut columns: Vec<ArrayRef> = columns
            .into_iter()
            .map(|c| c.expect("every stored column filled"))
            .collect();
        if upsert {
            // Values upsert their key's row, tombstones delete it (normalised downstream).
            let kinds =
                Int8Array::from_iter_values(rows.iter().map(|&i| match run[i as usize].value {
                    Some(_) => RowKind::UpdateAfter as i8,
                    None => RowKind::Delete as i8,
                }));
            columns.push(Arc::new(kinds));
        }
        let offsets = Int64Array::from_iter_values(rows.iter().map(|&i| run[i as usize].offset));
        let data = RecordBatch::try_new_with_options(
            self.decoded_schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows.len())),
        )?;
        Ok(Some((data, Some(offsets))))
    }

    /// Sends the rows of a run of partition `p`, stamped with the source's watermark (or,
    /// stage 1 of a shared job, routes them stamped with the partition's).
    fn emit(
        &mut self,
        parts: &mut [Partition],
        p: usize,
        (data, offsets): (RecordBatch, Option<Int64Array>),
        ctx: &SourceContext,
    ) -> Result<bool> {
        JobMetrics::add(&ctx.metrics.rows_in, data.num_rows() as u64);
        let mut batch = parts[p].shape.rows(data)?;
        if let Some(shared) = &mut self.shared {
            if let Some(assigner) = &mut parts[p].watermarks {
                assigner.assign(&mut batch)?;
            }
            let batch = parts[p].shape.project(batch)?;
            let offsets = offsets.ok_or_else(|| {
                EngineError::Other("change events cannot be repartitioned yet".into())
            })?;
            let origin = parts[p].name();
            shared
                .router
                .route(&origin, &batch, offsets, parts[p].watermark())?;
            return Ok(!ctx.cancelled.load(Ordering::Relaxed));
        }
        if parts[p].watermarks.is_some() {
            let others = combined(parts, Some(p));
            let assigner = parts[p].watermarks.as_mut().expect("an assigner");
            assigner.assign(&mut batch)?;
            let own = batch.watermarks.take().expect("stamps");
            batch.watermarks = Some(combined_stamps(&own, others, self.sent_watermark));
        }
        let mut batch = parts[p].shape.project(batch)?;
        for calc in &self.calcs {
            batch = calc.apply(batch)?;
        }
        Ok(batch.num_rows() == 0 || ctx.output.blocking_send(Message::Batch(batch)))
    }

    /// Sends the source's watermark if it advanced.
    fn advance_watermark(&mut self, parts: &[Partition], ctx: &SourceContext) -> bool {
        // A shared job's stage 1 sends each partition's watermark with its rows.
        if self.options.watermarks.is_none() || self.shared.is_some() {
            return true;
        }
        let watermark = combined(parts, None);
        if watermark <= self.sent_watermark || watermark == MAX_WATERMARK {
            return true;
        }
        self.sent_watermark = watermark;
        ctx.metrics.record_source_watermark(&self.name, watermark);
        ctx.output.blocking_send(Message::Watermark(watermark))
    }

    fn progress(&self, parts: &[Partition]) -> Progress {
        Progress {
            partitions: parts
                .iter()
                .map(|p| PartitionProgress {
                    topic: p.topic.clone(),
                    partition: p.id,
                    next: p.next,
                    watermark: p.watermark(),
                    done: p.done,
                })
                .collect(),
            sent_watermark: self.sent_watermark,
        }
    }

    fn state(&self, parts: &[Partition]) -> Result<State> {
        let mut state = State::new();
        state.put("progress", &self.progress(parts))?;
        for p in parts {
            p.shape
                .snapshot(&mut state, &shape_prefix(&p.topic, p.id))?;
        }
        Ok(state)
    }

    /// Commits the offsets reached to the consumer group, if the table names one, for
    /// monitoring tools: a restored job goes on from its checkpoint's offsets.
    fn report_offsets(&self, consumer: &BaseConsumer<LagReporter>, parts: &[Partition]) {
        if self.options.table.group_id().is_none() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for p in parts {
            let _ = tpl.add_partition_offset(&p.topic, p.id, Offset::Offset(p.next));
        }
        if let Err(e) = consumer.commit(&tpl, rdkafka::consumer::CommitMode::Async) {
            tracing::warn!(source = %self.name, "Kafka: committing offsets to the group: {e}");
        }
    }

    /// Reads until every partition is done (bounded) or the job stops.
    fn read(
        &mut self,
        consumer: &BaseConsumer<LagReporter>,
        ctx: &mut SourceContext,
    ) -> Result<bool> {
        let mut parts = self.plan_partitions(consumer)?;
        let mut assignment = TopicPartitionList::new();
        for p in parts.iter().filter(|p| !p.done) {
            assignment
                .add_partition_offset(&p.topic, p.id, Offset::Offset(p.next))
                .map_err(|e| error(&self.options.table, "assign", e))?;
        }
        consumer
            .assign(&assignment)
            .map_err(|e| error(&self.options.table, "assign", e))?;
        tracing::info!(
            source = %self.name,
            partitions = parts.len(),
            "reading Kafka topics from {}",
            self.options.table.bootstrap_servers()
        );
        let index: BTreeMap<(String, i32), usize> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| ((p.topic.clone(), p.id), i))
            .collect();
        let idle_timeout = self.options.table.idle_timeout;
        let batch_size = self.options.batch_size.max(1);
        // Stage 1 of a shared job: the partitions whose end the tasks were told of.
        let mut announced = vec![false; parts.len()];
        while parts.iter().any(|p| !p.done) {
            if ctx.cancelled.load(Ordering::Relaxed) {
                return Ok(false);
            }
            let mut messages: Vec<BorrowedMessage> = Vec::new();
            let mut wait = Duration::from_millis(100);
            while messages.len() < batch_size {
                match consumer.poll(wait) {
                    None => break,
                    Some(Ok(m)) => messages.push(m),
                    Some(Err(e)) => {
                        tracing::warn!(source = %self.name, "Kafka: {e}");
                        break;
                    }
                }
                wait = Duration::ZERO;
            }
            let now = Instant::now();
            let mut start = 0;
            while start < messages.len() {
                let (topic, id) = (messages[start].topic(), messages[start].partition());
                let end = start
                    + messages[start..]
                        .iter()
                        .take_while(|m| m.partition() == id && m.topic() == topic)
                        .count();
                let Some(&p) = index.get(&(topic.to_string(), id)) else {
                    start = end;
                    continue;
                };
                let part = &mut parts[p];
                let stop = part.stop.unwrap_or(i64::MAX);
                let mut run: Vec<Received> = Vec::with_capacity(end - start);
                for m in &messages[start..end] {
                    if part.done || m.offset() >= stop {
                        break;
                    }
                    part.next = m.offset() + 1;
                    let time = m.timestamp().to_millis().unwrap_or(i64::MIN);
                    // A timestamp mode's bound is checked on the messages themselves too:
                    // brokers that answer a time lookup with an earlier offset (Tansu answers
                    // the first) then give Kafka's answer all the same.
                    if part.start_time.is_some_and(|t| time < t) {
                        continue;
                    }
                    part.start_time = None;
                    if part.stop_time.is_some_and(|t| time >= t) {
                        part.done = true;
                        break;
                    }
                    let (key, value) = (m.key(), m.payload());
                    if value.is_some() || self.options.table.upsert {
                        run.push(Received {
                            key,
                            value,
                            offset: m.offset(),
                            timestamp: m.timestamp(),
                        });
                    }
                }
                let bytes: usize = run
                    .iter()
                    .map(|m| m.value.map_or(0, <[u8]>::len) + m.key.map_or(0, <[u8]>::len))
                    .sum();
                JobMetrics::add(&ctx.metrics.bytes_read, bytes as u64);
                parts[p].last_message = now;
                parts[p].idle = false;
                if !run.is_empty()
                    && let Some(data) = self.decode(&parts[p], &run, &ctx.metrics)?
                    && !self.emit(&mut parts, p, data, ctx)?
                {
                    return Ok(false);
                }
                start = end;
            }
            for p in parts.iter_mut().filter(|p| !p.done) {
                if p.stop.is_some_and(|stop| p.next >= stop) {
                    p.done = true;
                    let mut tpl = TopicPartitionList::new();
                    tpl.add_partition(&p.topic, p.id);
                    let _ = consumer.pause(&tpl);
                }
            }
            if let Some(timeout) = idle_timeout {
                // Partitions fall idle in the order their last messages came, the watermark
                // moving after each, as Flink's combined watermark moves: a partition that
                // never had a message stops holding back the others before they fall idle.
                let mut falling: Vec<usize> = (0..parts.len())
                    .filter(|&i| {
                        !parts[i].idle && now.duration_since(parts[i].last_message) >= timeout
                    })
                    .collect();
                falling.sort_by_key(|&i| parts[i].last_message);
                for i in falling {
                    if !self.advance_watermark(&parts, ctx) {
                        return Ok(false);
                    }
                    parts[i].idle = true;
                }
            }
            if !self.advance_watermark(&parts, ctx) {
                return Ok(false);
            }
            self.route_progress(&parts, &mut announced, false)?;
            drop(messages);
            let before = ctx.last_barrier;
            if !ctx.barrier(|| self.state(&parts))? {
                return Ok(false);
            }
            if ctx.last_barrier != before {
                self.report_offsets(consumer, &parts);
            }
        }
        self.route_progress(&parts, &mut announced, true)?;
        // Every partition is read to its bound: nothing is left to read (librdkafka's last
        // statistics, up to a second old, would still count what came since).
        consumer.context().done.store(true, Ordering::Relaxed);
        let read = parts.iter().map(|p| (p.name(), 0)).collect();
        ctx.metrics.record_lag(&self.name, read);
        self.restored = Some(self.progress(&parts));
        Ok(true)
    }

    /// Stage 1 of a shared job: tells the tasks of partitions that ended, and saves where
    /// each partition is once a second (or now, when `now`).
    fn route_progress(
        &mut self,
        parts: &[Partition],
        announced: &mut [bool],
        now: bool,
    ) -> Result<()> {
        let Some(shared) = &mut self.shared else {
            return Ok(());
        };
        for (p, announced) in parts.iter().zip(announced.iter_mut()) {
            if p.done && !*announced {
                shared.router.end(&p.name())?;
                *announced = true;
            }
        }
        if now || shared.router.progress_due() {
            shared.router.save_progress(parts.iter().map(|p| {
                let progress = OriginProgress {
                    next: p.next,
                    watermark: p.watermark(),
                    done: p.done,
                };
                (p.name(), progress)
            }))?;
        }
        Ok(())
    }
}

/// The minimum watermark of the partitions neither done nor idle, but `except`: the
/// source's watermark (`MAX_WATERMARK` when no partition holds it back).
fn combined(parts: &[Partition], except: Option<usize>) -> Watermark {
    parts
        .iter()
        .enumerate()
        .filter(|(i, p)| Some(*i) != except && !p.done && !p.idle)
        .map(|(_, p)| p.watermark())
        .min()
        .unwrap_or(MAX_WATERMARK)
}

/// The stamps of rows of one partition that were stamped `own` by its assigner, as a
/// reader of every partition sees them: each the minimum of its own and `others` (the
/// other partitions' watermark), never going back below `sent` or a row before it.
pub(crate) fn combined_stamps(own: &Int64Array, others: Watermark, sent: Watermark) -> Int64Array {
    let mut sent = sent;
    Int64Array::from_iter_values(own.values().iter().map(|&w| {
        sent = sent.max(w.min(others));
        sent
    }))
}

/// Sets `rows[with[j]]` to the decoded row of the `j`-th decoded message.
fn fill_rows(rows: &mut [Option<u32>], with: &[usize], messages: Option<&UInt32Array>) {
    match messages {
        None => {
            for (j, &i) in with.iter().enumerate() {
                rows[i] = Some(j as u32);
            }
        }
        Some(of) => {
            for (row, &j) in of.values().iter().enumerate() {
                rows[with[j as usize]] = Some(row as u32);
            }
        }
    }
}

/// A metadata column for the messages `rows` of a run of `partition`.
fn metadata_column(
    metadata: Metadata,
    data_type: &DataType,
    partition: &Partition,
    run: &[Received],
    rows: &[u32],
) -> Result<ArrayRef> {
    let messages = rows.iter().map(|&i| &run[i as usize]);
    let column: ArrayRef = match metadata {
        Metadata::Topic => Arc::new(StringArray::from_iter_values(
            messages.map(|_| partition.topic.as_str()),
        )),
        Metadata::Partition => {
            Arc::new(Int32Array::from_iter_values(messages.map(|_| partition.id)))
        }
        Metadata::Offset => Arc::new(Int64Array::from_iter_values(messages.map(|m| m.offset))),
        Metadata::Timestamp => Arc::new(TimestampMillisecondArray::from_iter(
            messages.map(|m| m.timestamp.to_millis()),
        )),
        Metadata::TimestampType => {
            Arc::new(StringArray::from_iter_values(messages.map(
                |m| match m.timestamp {
                    Timestamp::NotAvailable => "NoTimestampType",
                    Timestamp::CreateTime(_) => "CreateTime",
                    Timestamp::LogAppendTime(_) => "LogAppendTime",
                },
            )))
        }
    };
    Ok(arrow::compute::cast(&column, data_type)?)
}

impl Source for KafkaSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(mut self: Box<Self>, mut ctx: SourceContext) -> Result<()> {
        let consumer = self.consumer(ctx.metrics.clone())?;
        if !self.read(&consumer, &mut ctx)? {
            return Ok(());
        }
        if !ctx.output.blocking_send(Message::Watermark(MAX_WATERMARK)) {
            return Ok(());
        }
        ctx.end(|| self.snapshot())
    }

    fn snapshot(&self) -> Result<State> {
        let mut state = State::new();
        state.put("progress", &self.restored.clone().unwrap_or_default())?;
        Ok(state)
    }

    fn fuse(&mut self, calc: Calc) -> std::result::Result<(), Calc> {
        // Stage 1 of a shared job routes its rows before any calc.
        match self.shared {
            Some(_) => Err(calc),
            None => {
                self.calcs.push(calc);
                Ok(())
            }
        }
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        let progress: Progress = state.get("progress")?;
        self.sent_watermark = progress.sent_watermark;
        self.restored = Some(progress);
        self.restored_state = Some(state.clone());
        Ok(())
    }
}

/// `topic-partition`.
fn partition_name(topic: &str, id: i32) -> String {
    format!("{topic}-{id}")
}

/// Where a partition's rows' shape keeps its state in the source's checkpoint state.
fn shape_prefix(topic: &str, id: i32) -> String {
    format!("{}/", partition_name(topic, id))
}
