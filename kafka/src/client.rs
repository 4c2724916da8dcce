//! librdkafka clients for a table: their configuration, and errors in terms a user can act on.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata as BrokerMetadata;
use rill_engine::EngineError;

use crate::config::{KafkaTable, Topics};

/// How long rill waits for the brokers before it says they cannot be reached.
pub(crate) const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// The configuration of a client for `table`, with rill's settings under the table's
/// properties (which win).
pub(crate) fn client_config(table: &KafkaTable, rill: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    // librdkafka logs through its own logger; rill reports what matters as errors.
    config.set("log_level", "3");
    for (key, value) in rill {
        config.set(*key, *value);
    }
    for (key, value) in &table.properties {
        config.set(key, value);
    }
    config
}

/// An error of the client as the job's error, naming `what` rill was doing and the brokers.
pub(crate) fn error(table: &KafkaTable, what: &str, e: KafkaError) -> EngineError {
    EngineError::Other(format!(
        "Kafka ({}): {what}: {e}",
        table.bootstrap_servers()
    ))
}

/// The partitions of the table's topics, `(topic, partition)` in name and number order;
/// an error when the brokers cannot be reached within [`BROKER_TIMEOUT`] or a topic does
/// not exist.
pub(crate) fn partitions(
    table: &KafkaTable,
    metadata: impl Fn(Option<&str>) -> Result<BrokerMetadata, KafkaError>,
) -> rill_engine::Result<Vec<(String, i32)>> {
    let unreachable = |e| {
        error(
            table,
            &format!(
                "cannot reach the brokers within {} s",
                BROKER_TIMEOUT.as_secs()
            ),
            e,
        )
    };
    let mut found = Vec::new();
    match &table.topics {
        Topics::Names(names) => {
            for name in names {
                let metadata = metadata(Some(name)).map_err(unreachable)?;
                for topic in metadata.topics() {
                    if let Some(e) = topic.error() {
                        return Err(EngineError::Other(format!(
                            "Kafka ({}): topic '{name}': {}",
                            table.bootstrap_servers(),
                            rdkafka::error::RDKafkaErrorCode::from(e)
                        )));
                    }
                    if topic.partitions().is_empty() {
                        return Err(EngineError::Other(format!(
                            "Kafka ({}): topic '{name}' does not exist",
                            table.bootstrap_servers()
                        )));
                    }
                    found.extend(topic.partitions().iter().map(|p| (name.clone(), p.id())));
                }
            }
        }
        Topics::Pattern(pattern) => {
            let regex = regex::Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| EngineError::Other(format!("'topic-pattern': {e}")))?;
            let metadata = metadata(None).map_err(unreachable)?;
            for topic in metadata.topics() {
                if regex.is_match(topic.name()) && !topic.name().starts_with("__") {
                    found.extend(
                        topic
                            .partitions()
                            .iter()
                            .map(|p| (topic.name().to_string(), p.id())),
                    );
                }
            }
            if found.is_empty() {
                return Err(EngineError::Other(format!(
                    "Kafka ({}): no topic matches 'topic-pattern' = '{pattern}'",
                    table.bootstrap_servers()
                )));
            }
        }
    }
    found.sort();
    Ok(found)
}
