//! What a Kafka table's `WITH` options say, checked.

use std::collections::BTreeMap;
use std::time::Duration;

use rill_engine::source::RecordFormat;

/// A Kafka table's connector options.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaTable {
    /// `'upsert-kafka'`: messages are keyed by the primary key, a value is the key's latest
    /// row and a tombstone (no value) deletes it.
    pub upsert: bool,
    pub topics: Topics,
    /// The client's properties (`properties.*` without the prefix), `bootstrap.servers`
    /// among them.
    pub properties: BTreeMap<String, String>,
    /// The format of message values.
    pub value: RecordFormat,
    /// The format and columns of message keys, if the table has a key.
    pub key: Option<KeyFormat>,
    /// Whether values hold the key's columns too (`'value.fields-include' = 'ALL'`).
    pub value_includes_key: bool,
    /// Where reading starts (`scan.startup.mode`).
    pub startup: Offsets,
    /// Where reading ends (`scan.bounded.mode`); unbounded when `None`.
    pub bounded: Option<Offsets>,
    /// After how long without messages a partition stops holding the watermark back.
    pub idle_timeout: Option<Duration>,
    /// How a sink picks each message's partition.
    pub partitioner: Partitioner,
    /// What a sink promises about its messages after a failure.
    pub delivery: Delivery,
}

impl KafkaTable {
    /// The brokers the table names.
    pub fn bootstrap_servers(&self) -> &str {
        self.properties
            .get("bootstrap.servers")
            .map_or("", String::as_str)
    }

    /// The consumer group, if the table names one.
    pub fn group_id(&self) -> Option<&str> {
        self.properties.get("group.id").map(String::as_str)
    }
}

/// The topics of a table: `'topic'` (one, or a `;` list) or `'topic-pattern'`.
#[derive(Debug, Clone, PartialEq)]
pub enum Topics {
    Names(Vec<String>),
    /// A regular expression matched against whole topic names.
    Pattern(String),
}

/// A table's key: its format and columns (`'key.format'`, `'key.fields'`).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyFormat {
    pub format: RecordFormat,
    /// The key's columns, in the key's order, by name.
    pub fields: Vec<String>,
}

/// A place in each partition: where reading starts or ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Offsets {
    /// The first message kept.
    Earliest,
    /// After the last message written (at the time the job starts).
    Latest,
    /// The consumer group's committed offsets; where it has none, `reset` decides
    /// (`properties.auto.offset.reset`), or it is an error.
    Group { reset: Option<Box<Offsets>> },
    /// The first message at or after a time, in ms since the epoch.
    Timestamp(i64),
    /// Given offsets by partition (`partition:0,offset:42;...`); a partition not listed
    /// starts at the earliest offset and is read to its end.
    Specific(BTreeMap<i32, i64>),
}

/// How a sink picks a message's partition (`sink.partitioner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioner {
    /// By key hash when a message has a key, else spread (Kafka's default).
    Default,
    /// Every message to partition 0 (Flink's `fixed`, one writer).
    Fixed,
    /// Messages spread over partitions in turn, keys ignored.
    RoundRobin,
}

/// What a sink promises after a failure (`sink.delivery-guarantee`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Messages are sent as they come; a failure may lose some.
    None,
    /// Each checkpoint waits until its messages are acknowledged: after a restore some may
    /// come again.
    AtLeastOnce,
    /// Messages are committed in one transaction per completed checkpoint, with the
    /// transactional id `<prefix>-0` (`sink.transactional-id-prefix`).
    ExactlyOnce { transactional_id_prefix: String },
}

/// A metadata column's source (`METADATA FROM '...'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metadata {
    /// The message's topic (STRING).
    Topic,
    /// Its partition (INT).
    Partition,
    /// Its offset (BIGINT).
    Offset,
    /// Its timestamp (TIMESTAMP_LTZ(3)).
    Timestamp,
    /// Its timestamp's type: `NoTimestampType`, `CreateTime` or `LogAppendTime` (STRING).
    TimestampType,
}

impl Metadata {
    /// The metadata key `name`, as Flink's Kafka connector names them.
    pub fn from_key(name: &str) -> Option<Metadata> {
        Some(match name {
            "topic" => Metadata::Topic,
            "partition" => Metadata::Partition,
            "offset" => Metadata::Offset,
            "timestamp" => Metadata::Timestamp,
            "timestamp-type" => Metadata::TimestampType,
            _ => return None,
        })
    }

    /// The keys readable from a Kafka table.
    pub const KEYS: &str = "'topic', 'partition', 'offset', 'timestamp', 'timestamp-type'";

    /// Whether a sink can write it (the message's timestamp); the others must be `VIRTUAL`.
    pub fn writable(self) -> bool {
        self == Metadata::Timestamp
    }
}
