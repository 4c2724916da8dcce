//! The options of `'connector' = 'kafka'` and `'upsert-kafka'`, as Flink's Kafka connectors
//! name them.

use std::collections::BTreeMap;

use arrow::datatypes::{Field, Schema};
use rill_engine::sink::Sink;
use rill_kafka::{Delivery, KafkaTable, KeyFormat, Metadata, Offsets, Partitioner, Topics};

use super::{FORMAT_OPTIONS, check_format_columns, flag, formatted_records};
use crate::catalog::{MetadataColumn, TableDef};
use crate::error::{SqlError, SqlResult};
use crate::units::duration_millis;

/// The options either Kafka connector takes, besides `properties.*` and format options.
const COMMON: [&str; 15] = [
    "scan.bounded.mode",
    "scan.bounded.specific-offsets",
    "scan.bounded.timestamp-millis",
    "topic",
    "key.format",
    "key.fields",
    "value.format",
    "value.fields-include",
    "sink.partitioner",
    "sink.delivery-guarantee",
    "sink.transactional-id-prefix",
    "scan.watermark.idle-timeout",
    "source.max-record-size",
    "key.fields-prefix",
    "sink.parallelism",
];

/// Only `'kafka'`'s.
const KAFKA_ONLY: [&str; 6] = [
    "topic-pattern",
    "format",
    "scan.startup.mode",
    "scan.startup.specific-offsets",
    "scan.startup.timestamp-millis",
    "scan.topic-partition-discovery.interval",
];

/// A Kafka table's options, checked (its columns are checked with the table).
pub(super) fn options(
    connector: &str,
    options: &BTreeMap<String, String>,
) -> SqlResult<KafkaTable> {
    let upsert = connector == "upsert-kafka";
    let known = |key: &str| {
        key == "connector"
            || key.starts_with("properties.")
            || COMMON.contains(&key)
            || (!upsert && KAFKA_ONLY.contains(&key))
            || ["", "key.", "value."].iter().any(|prefix| {
                key.strip_prefix(prefix)
                    .is_some_and(|k| FORMAT_OPTIONS.contains(&k))
            })
    };
    if let Some(key) = options.keys().find(|k| !known(k)) {
        return Err(SqlError::new(format!(
            "unsupported option '{key}' for connector '{connector}'"
        ))
        .with_hint(format!(
            "supported options: 'topic', {}'properties.*', 'key.format', 'key.fields', \
                     'value.format', 'value.fields-include', 'sink.partitioner', \
                     'sink.delivery-guarantee', 'sink.transactional-id-prefix', \
                     'scan.watermark.idle-timeout' and the formats' options",
            if upsert {
                ""
            } else {
                "'topic-pattern', 'format', 'scan.startup.mode', 'scan.bounded.mode', "
            }
        )));
    }
    let unsupported = |key: &str, why: &str| -> SqlResult<()> {
        match options.contains_key(key) {
            true => Err(SqlError::new(format!(
                "option '{key}' is not supported yet: {why}"
            ))),
            false => Ok(()),
        }
    };
    unsupported("key.fields-prefix", "name the key's columns as they are")?;
    unsupported(
        "scan.topic-partition-discovery.interval",
        "rill reads the partitions a topic has when the job starts",
    )?;
    let properties: BTreeMap<String, String> = options
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("properties.")?.to_string(), v.clone())))
        .collect();
    if !properties.contains_key("bootstrap.servers") {
        return Err(SqlError::new(format!(
            "connector '{connector}' needs option 'properties.bootstrap.servers'"
        ))
        .with_hint("the brokers to connect to, e.g. 'localhost:9092'"));
    }
    let topics = match (options.get("topic"), options.get("topic-pattern")) {
        (Some(_), Some(_)) => {
            return Err(SqlError::new(
                "options 'topic' and 'topic-pattern' cannot both be set",
            ));
        }
        (Some(list), None) => Topics::Names(
            list.split(';')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect(),
        ),
        (None, Some(pattern)) => {
            regex::Regex::new(pattern).map_err(|e| {
                SqlError::new(format!(
                    "option 'topic-pattern' is no regular expression: {e}"
                ))
            })?;
            Topics::Pattern(pattern.clone())
        }
        (None, None) => {
            return Err(SqlError::new(format!(
                "connector '{connector}' needs option 'topic'{}",
                if upsert { "" } else { " or 'topic-pattern'" }
            )));
        }
    };
    let value = match (
        formatted_records(options, "format", "")?,
        formatted_records(options, "value.format", "value.")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(SqlError::new(
                "options 'format' and 'value.format' cannot both be set",
            ));
        }
        (Some(v), None) | (None, Some(v)) => v,
        (None, None) => {
            return Err(SqlError::new(format!(
                "connector '{connector}' needs option '{}'",
                if upsert { "value.format" } else { "format" }
            ))
            .with_hint("e.g. 'json', 'csv' or 'raw'"));
        }
    };
    if upsert && value.format.is_changelog() {
        return Err(SqlError::new(
            "'upsert-kafka' values are rows: its 'value.format' cannot be a changelog format",
        ));
    }
    let key_format = formatted_records(options, "key.format", "key.")?;
    let key_fields: Vec<String> = options
        .get("key.fields")
        .map(|f| {
            f.split(';')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let key = match (key_format, key_fields.is_empty()) {
        (Some(format), _) if format.format.is_changelog() => {
            return Err(SqlError::new("a key's format cannot be a changelog format"));
        }
        (Some(format), false) => Some(KeyFormat {
            format,
            fields: key_fields,
        }),
        // upsert-kafka's key columns are its primary key, filled in with the table.
        (Some(format), true) if upsert => Some(KeyFormat {
            format,
            fields: Vec::new(),
        }),
        (Some(_), true) => {
            return Err(SqlError::new("option 'key.format' needs 'key.fields'")
                .with_hint("the key's columns, separated by ';'"));
        }
        (None, false) => {
            return Err(SqlError::new("option 'key.fields' needs 'key.format'"));
        }
        (None, true) if upsert => {
            return Err(SqlError::new(
                "connector 'upsert-kafka' needs option 'key.format'",
            ));
        }
        (None, true) => None,
    };
    let value_includes_key = match options
        .get("value.fields-include")
        .map(|v| v.to_ascii_uppercase())
        .as_deref()
    {
        None | Some("ALL") => true,
        Some("EXCEPT_KEY") => false,
        Some(other) => {
            return Err(SqlError::new(format!(
                "option 'value.fields-include' must be 'ALL' or 'EXCEPT_KEY', found '{other}'"
            )));
        }
    };
    let startup = match upsert {
        // upsert-kafka reads a topic whole, to know every key's latest row.
        true => Offsets::Earliest,
        false => scan_offsets(options, "startup", &properties)?.unwrap_or(Offsets::Group {
            reset: reset(&properties)?,
        }),
    };
    // Flink's upsert-kafka is unbounded; rill also lets it end (for tests and backfills).
    let bounded = scan_offsets(options, "bounded", &properties)?;
    if matches!(bounded, Some(Offsets::Earliest)) {
        return Err(SqlError::new(
            "'scan.bounded.mode' must be 'unbounded', 'latest-offset', 'group-offsets', \
             'timestamp' or 'specific-offsets'",
        ));
    }
    let idle_timeout = options
        .get("scan.watermark.idle-timeout")
        .map(|v| duration_millis(v).map(|ms| std::time::Duration::from_millis(ms.max(1) as u64)))
        .transpose()?;
    let partitioner = match options.get("sink.partitioner").map(String::as_str) {
        None | Some("default") => Partitioner::Default,
        Some("fixed") => Partitioner::Fixed,
        Some("round-robin") => Partitioner::RoundRobin,
        Some(other) => {
            return Err(SqlError::new(format!(
                "option 'sink.partitioner' must be 'default', 'fixed' or 'round-robin', found \
                 '{other}'"
            )));
        }
    };
    let delivery = match options.get("sink.delivery-guarantee").map(String::as_str) {
        None | Some("at-least-once") => Delivery::AtLeastOnce,
        Some("none") => Delivery::None,
        Some("exactly-once") => match options.get("sink.transactional-id-prefix") {
            Some(prefix) if !prefix.is_empty() => Delivery::ExactlyOnce {
                transactional_id_prefix: prefix.clone(),
            },
            _ => {
                return Err(SqlError::new(
                    "'sink.delivery-guarantee' = 'exactly-once' needs option \
                     'sink.transactional-id-prefix'",
                )
                .with_hint("a prefix unique to this job among the broker's producers"));
            }
        },
        Some(other) => {
            return Err(SqlError::new(format!(
                "option 'sink.delivery-guarantee' must be 'none', 'at-least-once' or \
                 'exactly-once', found '{other}'"
            )));
        }
    };
    flag(options, "value.debezium-json.schema-include")?;
    Ok(KafkaTable {
        upsert,
        topics,
        properties,
        value,
        key,
        value_includes_key,
        startup,
        bounded,
        idle_timeout,
        partitioner,
        delivery,
    })
}

/// `properties.auto.offset.reset`: where a partition without a committed offset starts.
fn reset(properties: &BTreeMap<String, String>) -> SqlResult<Option<Box<Offsets>>> {
    Ok(
        match properties.get("auto.offset.reset").map(String::as_str) {
            None | Some("none") => None,
            Some("earliest" | "smallest") => Some(Box::new(Offsets::Earliest)),
            Some("latest" | "largest") => Some(Box::new(Offsets::Latest)),
            Some(other) => {
                return Err(SqlError::new(format!(
                    "option 'properties.auto.offset.reset' must be 'earliest', 'latest' or \
                 'none', found '{other}'"
                )));
            }
        },
    )
}

/// `scan.startup.*` or `scan.bounded.*` (`which`): `None` for the default (startup) or
/// `'unbounded'`.
fn scan_offsets(
    options: &BTreeMap<String, String>,
    which: &str,
    properties: &BTreeMap<String, String>,
) -> SqlResult<Option<Offsets>> {
    let mode_key = format!("scan.{which}.mode");
    let timestamp_key = format!("scan.{which}.timestamp-millis");
    let offsets_key = format!("scan.{which}.specific-offsets");
    let needs = |key: &str, what: &str| {
        SqlError::new(format!("'{mode_key}' = '{what}' needs option '{key}'"))
    };
    Ok(Some(match options.get(&mode_key).map(String::as_str) {
        None => return Ok(None),
        Some("unbounded") if which == "bounded" => return Ok(None),
        Some("earliest-offset") if which == "startup" => Offsets::Earliest,
        Some("latest-offset") => Offsets::Latest,
        Some("group-offsets") => Offsets::Group {
            reset: reset(properties)?,
        },
        Some("timestamp") => {
            let ms = options
                .get(&timestamp_key)
                .ok_or_else(|| needs(&timestamp_key, "timestamp"))?;
            Offsets::Timestamp(ms.trim().parse().map_err(|_| {
                SqlError::new(format!(
                    "option '{timestamp_key}' must be milliseconds since the epoch, found '{ms}'"
                ))
            })?)
        }
        Some("specific-offsets") => {
            let text = options
                .get(&offsets_key)
                .ok_or_else(|| needs(&offsets_key, "specific-offsets"))?;
            Offsets::Specific(specific_offsets(&offsets_key, text)?)
        }
        Some(other) => {
            let modes = match which {
                "startup" => {
                    "'earliest-offset', 'latest-offset', 'group-offsets', 'timestamp' or \
                     'specific-offsets'"
                }
                _ => {
                    "'unbounded', 'latest-offset', 'group-offsets', 'timestamp' or \
                     'specific-offsets'"
                }
            };
            return Err(SqlError::new(format!(
                "option '{mode_key}' must be {modes}, found '{other}'"
            )));
        }
    }))
}

/// Flink's `partition:0,offset:42;partition:1,offset:300`.
fn specific_offsets(key: &str, text: &str) -> SqlResult<BTreeMap<i32, i64>> {
    let bad = || {
        SqlError::new(format!(
            "option '{key}' must look like 'partition:0,offset:42;partition:1,offset:300', \
             found '{text}'"
        ))
    };
    let mut offsets = BTreeMap::new();
    for pair in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (partition, offset) = pair.split_once(',').ok_or_else(bad)?;
        fn value<'a>(part: &'a str, name: &str) -> Option<&'a str> {
            part.trim()
                .strip_prefix(name)
                .and_then(|v| v.trim().strip_prefix(':'))
                .map(str::trim)
        }
        let value = |part, name| value(part, name).ok_or_else(bad);
        let partition: i32 = value(partition, "partition")?.parse().map_err(|_| bad())?;
        let offset: i64 = value(offset, "offset")?.parse().map_err(|_| bad())?;
        offsets.insert(partition, offset);
    }
    Ok(offsets)
}

/// Checks a Kafka table's columns: its key's, its metadata's, its format's.
pub(super) fn check_columns(
    table: &mut KafkaTable,
    data_columns: &[&Field],
    primary_key: &[String],
    metadata: &[MetadataColumn],
) -> SqlResult<()> {
    for m in metadata {
        if Metadata::from_key(&m.key).is_none() {
            let hint = format!("Kafka's metadata keys: {}", Metadata::KEYS);
            return Err(match m.key.as_str() {
                "headers" | "leader-epoch" => SqlError::new(format!(
                    "column '{}': metadata '{}' is not supported yet",
                    m.name, m.key
                )),
                _ => SqlError::new(format!(
                    "column '{}': unknown metadata key '{}'",
                    m.name, m.key
                )),
            }
            .with_hint(hint));
        }
    }
    if table.upsert {
        if primary_key.is_empty() {
            return Err(SqlError::new(
                "'upsert-kafka' tables require to define a PRIMARY KEY constraint: the key \
                 of each message is the row's primary key",
            )
            .with_hint("declare PRIMARY KEY (...) NOT ENFORCED"));
        }
        if let Some(key) = &mut table.key {
            key.fields = primary_key.to_vec();
        }
    }
    let is_data = |name: &str| data_columns.iter().any(|f| f.name() == name);
    if let Some(key) = &table.key {
        if let Some(missing) = key.fields.iter().find(|f| !is_data(f)) {
            return Err(SqlError::new(format!(
                "the key column '{missing}' is not a physical column of the table"
            )));
        }
        let columns: Vec<&Field> = data_columns
            .iter()
            .copied()
            .filter(|f| key.fields.contains(f.name()))
            .collect();
        check_format_columns(key.format.format, &columns)?;
    }
    let value_columns: Vec<&Field> = data_columns
        .iter()
        .copied()
        .filter(|f| {
            table.value_includes_key
                || table
                    .key
                    .as_ref()
                    .is_none_or(|k| !k.fields.contains(f.name()))
        })
        .collect();
    check_format_columns(table.value.format, &value_columns)?;
    if table.value.format.is_changelog() && (table.key.is_some() || !metadata.is_empty()) {
        return Err(SqlError::new(
            "a Kafka table of change events with a key or metadata columns is not supported yet",
        ));
    }
    Ok(())
}

/// The places of the named columns in `schema`.
fn places(schema: &Schema, names: &[String]) -> SqlResult<Vec<usize>> {
    names.iter().map(|n| Ok(schema.index_of(n)?)).collect()
}

/// A source reading `table`; refused when it reads a group's offsets without a group, or
/// when this build has no Kafka client.
pub(crate) fn create_source(
    kafka: &KafkaTable,
    table: &TableDef,
    shape: rill_engine::source::RowShape,
    watermarks: Option<rill_engine::source::WatermarkAssigner>,
    batch_size: usize,
    route: Option<crate::plan::shared::Route>,
) -> SqlResult<Box<dyn rill_engine::source::Source>> {
    let group_offsets = |o: &Offsets| matches!(o, Offsets::Group { .. });
    if (group_offsets(&kafka.startup) || kafka.bounded.as_ref().is_some_and(group_offsets))
        && kafka.group_id().is_none()
    {
        return Err(SqlError::new(format!(
            "table '{}': 'scan.startup.mode' = 'group-offsets' (the default) needs option \
             'properties.group.id'",
            table.name
        ))
        .with_hint("name the consumer group, or set 'scan.startup.mode' = 'earliest-offset'"));
    }
    #[cfg(not(feature = "kafka"))]
    {
        let _ = (kafka, table, shape, watermarks, batch_size, route);
        Err(no_client())
    }
    #[cfg(feature = "kafka")]
    {
        let metadata = table
            .metadata
            .iter()
            .map(|m| {
                let key = Metadata::from_key(&m.key).expect("checked with the table");
                Ok((table.physical.index_of(&m.name)?, key))
            })
            .collect::<SqlResult<_>>()?;
        let options = rill_kafka::KafkaSourceOptions {
            table: kafka.clone(),
            schema: table.physical.clone(),
            metadata,
            shape,
            watermarks,
            batch_size,
        };
        let mut source = rill_kafka::KafkaSource::new(table.name.clone(), options)
            .map_err(|e| SqlError::new(format!("table '{}': {e}", table.name)))?;
        if let Some((partitions, router)) = route {
            source = source.shared(partitions, router);
        }
        Ok(Box::new(source))
    }
}

#[cfg(not(feature = "kafka"))]
fn no_client() -> SqlError {
    SqlError::new("this rill was built without its Kafka client").with_hint(
        "build it with the `kafka` feature: `cargo build --release -p rill-shell --features kafka`",
    )
}

/// A sink writing rows of `table` (all its columns) to its topic.
pub(super) fn create_sink(kafka: &KafkaTable, table: &TableDef) -> SqlResult<Box<dyn Sink>> {
    let schema = &table.schema;
    let in_table = |e: SqlError| SqlError {
        message: format!("table '{}': {}", table.name, e.message),
        ..e
    };
    if let Some(m) = table
        .metadata
        .iter()
        .find(|m| !m.is_virtual && Metadata::from_key(&m.key).is_some_and(|k| !k.writable()))
    {
        return Err(in_table(SqlError::new(format!(
            "the metadata column '{}' cannot be written; declare it VIRTUAL",
            m.name
        ))));
    }
    let key = match &kafka.key {
        Some(k) => Some(places(schema, &k.fields)?),
        None => None,
    };
    let skipped: Vec<usize> = table
        .metadata
        .iter()
        .map(|m| schema.index_of(&m.name))
        .chain(table.computed.iter().map(|(i, _)| Ok(*i)))
        .collect::<Result<_, _>>()?;
    let value: Vec<usize> = (0..schema.fields().len())
        .filter(|i| !skipped.contains(i))
        .filter(|i| kafka.value_includes_key || key.as_ref().is_none_or(|k| !k.contains(i)))
        .collect();
    let timestamp = table
        .metadata
        .iter()
        .find(|m| !m.is_virtual && m.key == "timestamp")
        .map(|m| schema.index_of(&m.name))
        .transpose()?;
    sink(kafka, table, key, value, timestamp).map_err(in_table)
}

/// The Kafka sink, in a build with the Kafka client.
fn sink(
    kafka: &KafkaTable,
    table: &TableDef,
    key: Option<Vec<usize>>,
    value: Vec<usize>,
    timestamp: Option<usize>,
) -> SqlResult<Box<dyn Sink>> {
    #[cfg(not(feature = "kafka"))]
    {
        let _ = (kafka, table, key, value, timestamp);
        Err(no_client())
    }
    #[cfg(feature = "kafka")]
    {
        let sink = rill_kafka::KafkaSink::new(
            table.name.clone(),
            kafka.clone(),
            table.schema.clone(),
            key,
            value,
            timestamp,
        )
        .map_err(|e| SqlError::new(e.to_string()))?;
        Ok(Box::new(sink))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> SqlResult<KafkaTable> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        options(map["connector"].as_str(), &map)
    }

    const BASE: [(&str, &str); 3] = [
        ("connector", "kafka"),
        ("topic", "a; b"),
        ("properties.bootstrap.servers", "localhost:9092"),
    ];

    #[test]
    fn flink_options_are_read() {
        let t = parse(
            &[
                &BASE[..],
                &[
                    ("format", "json"),
                    ("json.ignore-parse-errors", "true"),
                    ("scan.startup.mode", "specific-offsets"),
                    (
                        "scan.startup.specific-offsets",
                        "partition:0,offset:42;partition:3,offset:7",
                    ),
                    ("scan.bounded.mode", "latest-offset"),
                    ("properties.group.id", "g"),
                    ("properties.fetch.min.bytes", "1"),
                ],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(t.topics, Topics::Names(vec!["a".into(), "b".into()]));
        assert!(t.value.ignore_parse_errors);
        assert_eq!(t.startup, Offsets::Specific([(0, 42), (3, 7)].into()));
        assert_eq!(t.bounded, Some(Offsets::Latest));
        assert_eq!(t.properties["fetch.min.bytes"], "1");
        assert_eq!(t.group_id(), Some("g"));
        assert_eq!(t.delivery, Delivery::AtLeastOnce);
    }

    #[test]
    fn missing_and_wrong_options_are_named() {
        let err = |pairs: &[(&str, &str)]| parse(&[&BASE[..], pairs].concat()).unwrap_err().message;
        assert_eq!(
            err(&[("format", "json"), ("scan.startup.mode", "timestamp")]),
            "'scan.startup.mode' = 'timestamp' needs option 'scan.startup.timestamp-millis'"
        );
        assert_eq!(
            err(&[
                ("format", "json"),
                ("scan.startup.mode", "earliest-offset"),
                ("sink.delivery-guarantee", "exactly-once")
            ]),
            "'sink.delivery-guarantee' = 'exactly-once' needs option \
             'sink.transactional-id-prefix'"
        );
        assert_eq!(
            err(&[("format", "json"), ("key.fields", "id")]),
            "option 'key.fields' needs 'key.format'"
        );
        assert_eq!(
            err(&[("scan.startup.mode", "earliest-offset")]),
            "connector 'kafka' needs option 'format'"
        );
        assert_eq!(
            err(&[
                ("format", "json"),
                ("scan.startup.mode", "specific-offsets"),
                ("scan.startup.specific-offsets", "partition:x")
            ])
            .split(':')
            .next()
            .unwrap(),
            "option 'scan.startup.specific-offsets' must look like 'partition"
        );
        let e = parse(&[
            ("connector", "upsert-kafka"),
            ("topic", "t"),
            ("properties.bootstrap.servers", "b"),
            ("value.format", "json"),
        ])
        .unwrap_err();
        assert_eq!(
            e.message,
            "connector 'upsert-kafka' needs option 'key.format'"
        );
        let e = parse(&[
            ("connector", "upsert-kafka"),
            ("topic", "t"),
            ("properties.bootstrap.servers", "b"),
            ("value.format", "json"),
            ("key.format", "json"),
            ("scan.startup.mode", "earliest-offset"),
        ])
        .unwrap_err();
        assert_eq!(
            e.message,
            "unsupported option 'scan.startup.mode' for connector 'upsert-kafka'"
        );
    }
}
