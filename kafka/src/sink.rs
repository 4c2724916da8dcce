//! The Kafka sink: each row a message, its key and value encoded in the table's formats.
//!
//! Exactly once, the sink keeps the messages of each checkpoint (in memory, and in the
//! checkpoint itself) and produces them only once the checkpoint completed, in one Kafka
//! transaction that also commits, as the offset of a marker group named after the
//! transactional id, the sequence number of the last checkpoint it holds. librdkafka cannot
//! resume another process's transaction, so a restored sink asks the marker instead: the
//! checkpoints after it are produced again, in a new transaction; those up to it were
//! committed. A second process with the same transactional id fences the first.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, BinaryArray, BinaryBuilder, Int64Array, Int64Builder,
    RecordBatch,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMillisecondType};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use rill_engine::batch::{ChangeBatch, RowKind};
use rill_engine::checkpoint::State;
use rill_engine::format::{OutputFormat, RowWriter};
use rill_engine::sink::Sink;
use rill_engine::{EngineError, Result};

use crate::client::{BROKER_TIMEOUT, client_config, error};
use crate::config::{Delivery, KafkaTable, Partitioner, Topics};

/// How long a commit, a flush or a transaction step may take before the job fails.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Writes rows to a Kafka topic.
pub struct KafkaSink {
    name: String,
    table: KafkaTable,
    topic: String,
    /// The value's columns and their encoder.
    value: (Vec<usize>, RowWriter),
    /// The key's columns and their encoder, if messages have keys.
    key: Option<(Vec<usize>, RowWriter)>,
    /// The column holding each message's timestamp (`METADATA FROM 'timestamp'`).
    timestamp: Option<usize>,
    client: Option<Client>,
    /// Messages encoded since the last barrier (exactly once).
    current: Encoded,
    /// Messages of checkpoints not yet committed (exactly once), oldest first.
    pending: Vec<Segment>,
    /// The sequence number the next segment gets: above the marker's when the sink starts,
    /// so a marker left by an earlier job with the same transactional id covers none.
    next_seq: Option<u64>,
    /// Messages sent, for round-robin partitioning.
    sent: u64,
}

/// The sink's connections, made when first needed (planning does not connect).
struct Client {
    producer: ThreadedProducer<Delivered>,
    partitions: i32,
    /// For exactly once: the marker group's consumer.
    marker: Option<BaseConsumer>,
}

/// Messages of one checkpoint, kept until it completed.
struct Segment {
    seq: u64,
    checkpoint: u64,
    messages: RecordBatch,
}

/// Messages being encoded: keys, values (NULL: a tombstone) and timestamps.
#[derive(Default)]
struct Encoded {
    keys: BinaryBuilder,
    values: BinaryBuilder,
    timestamps: Int64Builder,
}

impl Encoded {
    fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.keys.finish()),
            Arc::new(self.values.finish()),
            Arc::new(self.timestamps.finish()),
        ];
        RecordBatch::try_new(segment_schema(), columns).expect("segment columns")
    }
}

fn segment_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Binary, true),
        Field::new("value", DataType::Binary, true),
        Field::new("timestamp", DataType::Int64, true),
    ]))
}

/// Remembers the first message the brokers refused.
#[derive(Clone, Default)]
struct Delivered {
    failure: Arc<Mutex<Option<String>>>,
}

impl ClientContext for Delivered {}

impl ProducerContext for Delivered {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if let Err((e, _)) = result {
            let mut failure = self.failure.lock().expect("delivery lock");
            failure.get_or_insert_with(|| e.to_string());
        }
    }
}

impl KafkaSink {
    /// A sink writing rows of `schema` to the table `name`: `key` and `value` are the places
    /// of the key's columns (`key.fields`, or an upsert table's primary key) and of the
    /// value's, `timestamp` the column of the messages' timestamps.
    pub fn new(
        name: impl Into<String>,
        table: KafkaTable,
        schema: SchemaRef,
        key: Option<Vec<usize>>,
        value_columns: Vec<usize>,
        timestamp: Option<usize>,
    ) -> Result<Self> {
        let topic = match &table.topics {
            Topics::Names(names) if names.len() == 1 => names[0].clone(),
            _ => {
                return Err(EngineError::Other(
                    "a Kafka sink writes one topic: give 'topic' one name".into(),
                ));
            }
        };
        let writer = |columns: &[usize], format| -> Result<RowWriter> {
            let schema = Arc::new(schema.project(columns)?);
            Ok(RowWriter::new(output_format(format)?, schema, false))
        };
        let key = match (key, &table.key) {
            (Some(columns), Some(format)) => {
                let w = writer(&columns, format.format.format)?;
                Some((columns, w))
            }
            _ => None,
        };
        let value = writer(&value_columns, table.value.format)?;
        Ok(KafkaSink {
            name: name.into(),
            table,
            topic,
            value: (value_columns, value),
            key,
            timestamp,
            client: None,
            current: Encoded::default(),
            pending: Vec::new(),
            next_seq: None,
            sent: 0,
        })
    }

    fn exactly_once(&self) -> Option<&str> {
        match &self.table.delivery {
            Delivery::ExactlyOnce {
                transactional_id_prefix,
            } => Some(transactional_id_prefix),
            _ => None,
        }
    }

    /// The sink's transactional id (exactly once).
    fn transactional_id(&self) -> Option<String> {
        self.exactly_once().map(|prefix| format!("{prefix}-0"))
    }

    /// Connects on first use; exactly once, fences older producers of the same id.
    fn client(&mut self) -> Result<&mut Client> {
        if self.client.is_none() {
            self.client = Some(self.connect()?);
        }
        Ok(self.client.as_mut().expect("connected"))
    }

    fn connect(&self) -> Result<Client> {
        let table = &self.table;
        let transactional_id = self.transactional_id();
        // Kafka's Java partitioner (murmur2), so keyed messages land where Java clients,
        // Kafka Streams and Flink put them.
        let mut rill = vec![("partitioner", "murmur2_random")];
        if let Some(id) = &transactional_id {
            rill.push(("transactional.id", id));
        }
        if table.delivery != Delivery::None {
            rill.push(("enable.idempotence", "true"));
        }
        let producer: ThreadedProducer<Delivered> = client_config(table, &rill)
            .create_with_context(Delivered::default())
            .map_err(|e| error(table, "cannot create a producer", e))?;
        let metadata = producer
            .client()
            .fetch_metadata(Some(&self.topic), BROKER_TIMEOUT)
            .map_err(|e| {
                error(
                    table,
                    &format!(
                        "cannot reach the brokers within {} s",
                        BROKER_TIMEOUT.as_secs()
                    ),
                    e,
                )
            })?;
        let partitions = metadata
            .topics()
            .first()
            .map_or(0, |t| t.partitions().len() as i32);
        if partitions == 0 {
            return Err(EngineError::Other(format!(
                "Kafka ({}): topic '{}' does not exist",
                table.bootstrap_servers(),
                self.topic
            )));
        }
        let marker = match &transactional_id {
            None => None,
            Some(id) => {
                producer
                    .init_transactions(COMMIT_TIMEOUT)
                    .map_err(|e| error(table, "initialising transactions", e))?;
                let consumer: BaseConsumer = client_config(table, &[])
                    .set("group.id", id)
                    .set("enable.auto.commit", "false")
                    .create()
                    .map_err(|e| error(table, "cannot create the marker consumer", e))?;
                Some(consumer)
            }
        };
        tracing::info!(sink = %self.name, topic = %self.topic, "writing to Kafka");
        Ok(Client {
            producer,
            partitions,
            marker,
        })
    }

    /// Sends one message, waiting while librdkafka's queue is full.
    fn send(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: Option<i64>,
    ) -> Result<()> {
        self.client()?;
        let client = self.client.as_ref().expect("connected");
        let partition = match self.table.partitioner {
            Partitioner::Default => None,
            Partitioner::Fixed => Some(0),
            Partitioner::RoundRobin => Some((self.sent % client.partitions as u64) as i32),
        };
        self.sent += 1;
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(value) = value {
            record = record.payload(value);
        }
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        if let Some(ts) = timestamp {
            record = record.timestamp(ts);
        }
        loop {
            match client.producer.send(record) {
                Ok(()) => return Ok(()),
                // librdkafka's queue is full: its thread is sending, wait for room.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(error(&self.table, "sending a message", e)),
            }
        }
    }

    /// Fails when the brokers refused a message.
    fn check_delivery(&self) -> Result<()> {
        let Some(client) = &self.client else {
            return Ok(());
        };
        let failure = client
            .producer
            .context()
            .failure
            .lock()
            .expect("delivery lock")
            .clone();
        match failure {
            Some(e) => Err(EngineError::Other(format!(
                "Kafka ({}): a message to '{}' was not delivered: {e}",
                self.table.bootstrap_servers(),
                self.topic
            ))),
            None => Ok(()),
        }
    }

    /// Waits until every message sent is acknowledged.
    fn flush(&mut self) -> Result<()> {
        if let Some(client) = &self.client {
            client
                .producer
                .flush(COMMIT_TIMEOUT)
                .map_err(|e| error(&self.table, "flushing messages", e))?;
        }
        self.check_delivery()
    }

    /// Produces the pending segments up to checkpoint `id` in one transaction.
    fn commit_segments(&mut self, id: u64) -> Result<()> {
        let count = self
            .pending
            .iter()
            .take_while(|s| s.checkpoint <= id)
            .count();
        if count == 0 {
            return Ok(());
        }
        rill_engine::fault::point("kafka-before-commit");
        let segments: Vec<Segment> = self.pending.drain(..count).collect();
        let last = segments.last().map_or(0, |s| s.seq);
        let table = self.table.clone();
        let topic = self.topic.clone();
        let transactional_id = self.transactional_id().unwrap_or_default();
        let fail = |what: &str, e: KafkaError| match &e {
            KafkaError::Transaction(t)
                if matches!(
                    t.code(),
                    RDKafkaErrorCode::Fenced
                        | RDKafkaErrorCode::ProducerFenced
                        | RDKafkaErrorCode::InvalidProducerEpoch
                ) =>
            {
                EngineError::Other(format!(
                    "Kafka ({}): another producer with the transactional id '{}' took over \
                     (a second rill process running this job?); this one stops",
                    table.bootstrap_servers(),
                    transactional_id
                ))
            }
            _ => error(&table, what, e),
        };
        self.client()?
            .producer
            .begin_transaction()
            .map_err(|e| fail("beginning a transaction", e))?;
        for segment in &segments {
            let keys = segment.messages.column(0).as_binary::<i32>().clone();
            let values = segment.messages.column(1).as_binary::<i32>().clone();
            let times = segment
                .messages
                .column(2)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .clone();
            for i in 0..segment.messages.num_rows() {
                self.send(
                    keys.is_valid(i).then(|| keys.value(i)),
                    values.is_valid(i).then(|| values.value(i)),
                    times.is_valid(i).then(|| times.value(i)),
                )?;
            }
        }
        let client = self.client()?;
        let marker = client.marker.as_ref().expect("a marker consumer");
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(&topic, 0, Offset::Offset(last as i64))
            .map_err(|e| fail("the marker", e))?;
        let group = marker
            .group_metadata()
            .ok_or_else(|| EngineError::Other("Kafka: no group metadata for the marker".into()))?;
        client
            .producer
            .send_offsets_to_transaction(&offsets, &group, COMMIT_TIMEOUT)
            .map_err(|e| fail("the marker", e))?;
        client
            .producer
            .commit_transaction(COMMIT_TIMEOUT)
            .map_err(|e| fail("committing a transaction", e))?;
        rill_engine::fault::point("kafka-after-commit");
        self.check_delivery()?;
        tracing::debug!(
            sink = %self.name,
            id = %transactional_id,
            seq = last,
            "Kafka transaction committed"
        );
        Ok(())
    }

    /// Makes the messages since the last barrier the segment of checkpoint `id`.
    fn seal(&mut self, id: u64) -> Result<()> {
        let seq = match self.next_seq {
            Some(seq) => seq,
            None => self.committed_seq()? + 1,
        };
        let messages = self.current.finish();
        self.pending.push(Segment {
            seq,
            checkpoint: id,
            messages,
        });
        self.next_seq = Some(seq + 1);
        Ok(())
    }

    /// The sequence number of the last segment committed, from the marker group.
    fn committed_seq(&mut self) -> Result<u64> {
        let topic = self.topic.clone();
        let table = self.table.clone();
        let client = self.client()?;
        let marker = client.marker.as_ref().expect("a marker consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&topic, 0);
        let committed = marker
            .committed_offsets(tpl, BROKER_TIMEOUT)
            .map_err(|e| error(&table, "reading the marker", e))?;
        Ok(match committed.elements().first().map(|e| e.offset()) {
            Some(Offset::Offset(o)) if o > 0 => o as u64,
            _ => 0,
        })
    }
}

/// The writer format of a Kafka format.
fn output_format(format: rill_engine::source::FileFormat) -> Result<OutputFormat> {
    use rill_engine::source::FileFormat;
    Ok(match format {
        FileFormat::Csv => OutputFormat::FlinkCsv,
        FileFormat::Json => OutputFormat::Json,
        FileFormat::Raw => OutputFormat::Raw,
        FileFormat::Debezium { .. } => OutputFormat::DebeziumJson,
        FileFormat::Canal | FileFormat::Maxwell => {
            return Err(EngineError::Other(
                "writing 'canal-json' or 'maxwell-json' is not supported yet".into(),
            ));
        }
    })
}

impl Sink for KafkaSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn on_batch(&mut self, batch: &ChangeBatch) -> Result<()> {
        let upsert = self.table.upsert;
        let keys = match &mut self.key {
            Some((columns, writer)) => {
                let mut keys = BinaryBuilder::new();
                writer.encode_rows(&batch.with_data(batch.data.project(columns)?), |_, k| {
                    keys.append_value(k)
                });
                Some(keys.finish())
            }
            None => None,
        };
        let mut values = BinaryBuilder::new();
        let (columns, writer) = &mut self.value;
        let value_batch = batch.with_data(batch.data.project(columns)?);
        // An upsert topic writes a retraction as a tombstone, -U as -D, as Flink's sink does:
        // the planner sends it -U rows only where the next row of the key may not come (a
        // filter on other columns than the key over an update), and makes none otherwise.
        writer.encode_rows(&value_batch, |row, v| {
            if upsert && matches!(batch.row_kind(row), RowKind::Delete | RowKind::UpdateBefore) {
                values.append_null();
            } else {
                values.append_value(v);
            }
        });
        let values: BinaryArray = values.finish();
        let times: Option<Int64Array> = match self.timestamp {
            Some(column) => {
                let ts = arrow::compute::cast(
                    batch.data.column(column),
                    &DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None),
                )?;
                let ts = ts.as_primitive::<TimestampMillisecondType>();
                Some(ts.reinterpret_cast())
            }
            None => None,
        };
        let exactly_once = self.exactly_once().is_some();
        for i in 0..batch.num_rows() {
            let key = keys.as_ref().map(|k| k.value(i));
            let value = values.is_valid(i).then(|| values.value(i));
            let ts = times.as_ref().filter(|t| t.is_valid(i)).map(|t| t.value(i));
            if exactly_once {
                match key {
                    Some(k) => self.current.keys.append_value(k),
                    None => self.current.keys.append_null(),
                }
                match value {
                    Some(v) => self.current.values.append_value(v),
                    None => self.current.values.append_null(),
                }
                self.current.timestamps.append_option(ts);
            } else {
                self.send(key, value, ts)?;
            }
        }
        self.check_delivery()
    }

    fn finish(&mut self) -> Result<()> {
        if self.exactly_once().is_none() {
            self.flush()?;
        }
        Ok(())
    }

    fn snapshot(&mut self, id: u64) -> Result<State> {
        let mut state = State::new();
        match self.exactly_once() {
            None => {
                if self.table.delivery == Delivery::AtLeastOnce {
                    self.flush()?;
                }
            }
            Some(_) => {
                self.seal(id)?;
                let seqs: Vec<u64> = self.pending.iter().map(|s| s.seq).collect();
                state.put("segments", &seqs)?;
                state.put("next_seq", &self.next_seq)?;
                for segment in &self.pending {
                    state.put_batches(
                        &format!("segment-{}", segment.seq),
                        segment_schema(),
                        vec![segment.messages.clone()],
                    );
                }
            }
        }
        Ok(state)
    }

    fn commit(&mut self, id: u64) -> Result<()> {
        if self.exactly_once().is_none() {
            return Ok(());
        }
        if id == u64::MAX && self.current.values.len() > 0 {
            // The end of a job without checkpoints: everything in one transaction.
            self.seal(id)?;
        }
        self.commit_segments(id)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        if self.exactly_once().is_none() {
            return Ok(());
        }
        let seqs: Vec<u64> = state.get("segments")?;
        self.next_seq = state.get("next_seq")?;
        let committed = self.committed_seq()?;
        for seq in seqs.into_iter().filter(|&s| s > committed) {
            let batches = state.batches(&format!("segment-{seq}"))?;
            let messages = arrow::compute::concat_batches(&segment_schema(), &batches)?;
            // Every segment in a complete checkpoint is covered by it.
            self.pending.push(Segment {
                seq,
                checkpoint: 0,
                messages,
            });
        }
        if !self.pending.is_empty() {
            tracing::info!(
                sink = %self.name,
                segments = self.pending.len(),
                committed,
                "Kafka: committing the messages of the restored checkpoint"
            );
        }
        self.commit_segments(0)
    }
}
