//! Kafka topics as rill's sources and sinks (`'connector' = 'kafka'` and `'upsert-kafka'`), on
//! librdkafka. `rill-sql` checks a table's options into a [`KafkaTable`]; this crate reads and
//! writes the topics.
//!
//! * [`KafkaSource`] reads the partitions of its topics from the offsets the table asks for
//!   (or a checkpoint's), decodes each message into a row, adds metadata columns, and assigns
//!   watermarks per partition, sending their minimum (Flink's rule), idle partitions aside.
//! * [`KafkaSink`] writes each row as a message; exactly once by committing, in one Kafka
//!   transaction per completed checkpoint, the messages the checkpoint covers.
//! * [`repartition`] and [`stage`] carry the rows of a job several processes share between
//!   its stages.

#[cfg(feature = "client")]
mod client;
mod config;
#[cfg(feature = "client")]
pub mod repartition;
#[cfg(feature = "client")]
mod sink;
#[cfg(feature = "client")]
mod source;
#[cfg(feature = "client")]
pub mod stage;

pub use config::{Delivery, KafkaTable, KeyFormat, Metadata, Offsets, Partitioner, Topics};
#[cfg(feature = "client")]
pub use sink::KafkaSink;
#[cfg(feature = "client")]
pub use source::{KafkaSource, KafkaSourceOptions};
