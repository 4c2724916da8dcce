//! Connectors named in `CREATE TABLE ... WITH ('connector' = ...)`: their options, checked
//! when the table is created, and the engine sources and sinks they become.

use std::collections::BTreeMap;
use std::path::PathBuf;

use arrow::datatypes::{DataType, Field, Schema};
use rill_engine::format::{OutputFormat, sql_type_name};
use rill_engine::sink::{BlackholeSink, Destination, Sink, WriterSink};
use rill_engine::source::{FileFormat, NexmarkSettings, RecordFormat};
use rill_kafka::KafkaTable;

use crate::catalog::{MetadataColumn, TableDef};
use crate::error::{SqlError, SqlResult};
use crate::units::{duration_millis, memory_bytes};

/// A table's connector with its checked options.
#[derive(Debug, Clone, PartialEq)]
pub enum Connector {
    /// Files (one file or a directory), CSV or JSON lines; bounded, unless
    /// `'source.monitor-interval'` follows a growing file.
    Filesystem {
        path: PathBuf,
        records: RecordFormat,
        /// How often to look for more of a growing file, in ms.
        monitor_interval: Option<u64>,
    },
    /// Standard input, CSV or JSON lines, read as rows arrive (`tail -f log | rill -f q.sql`).
    Stdin { records: RecordFormat },
    /// Writes every change to standard output as `+I[v1, v2]`.
    Print,
    /// Discards rows.
    Blackhole,
    /// Kafka topics (`'kafka'` and `'upsert-kafka'`).
    Kafka(KafkaTable),
    /// The Nexmark benchmark's generated auction events.
    Nexmark(NexmarkSettings),
}

const CONNECTORS: &str =
    "'filesystem', 'stdin', 'kafka', 'upsert-kafka', 'nexmark', 'print', 'blackhole'";

/// Flink's legacy filesystem properties, which Flink still reads and Nexmark q13 declares its
/// side input with: `'connector.type' = 'filesystem'`, `'connector.path'` and `'format.type'`,
/// as the options of today that mean the same; other options as they are.
fn current_options(options: &BTreeMap<String, String>) -> SqlResult<BTreeMap<String, String>> {
    if !options.contains_key("connector.type") {
        return Ok(options.clone());
    }
    let mut current = BTreeMap::new();
    for (key, value) in options {
        let key = match key.as_str() {
            "connector.type" if value == "filesystem" => "connector",
            "connector.path" => "path",
            "format.type" => "format",
            "connector.type" => {
                return Err(SqlError::new(format!(
                    "the legacy 'connector.type' = '{value}' is not supported"
                ))
                .with_hint("declare the table with 'connector' = ... and its options"));
            }
            other => other,
        };
        current.insert(key.to_string(), value.clone());
    }
    Ok(current)
}

impl Connector {
    /// Whether its sink takes updates (`-U`, `+U`, `-D`) as well as inserts.
    pub fn accepts_updates(&self) -> bool {
        match self {
            Connector::Print | Connector::Blackhole => true,
            Connector::Filesystem { records, .. } => records.format.is_changelog(),
            Connector::Stdin { .. } | Connector::Nexmark(_) => false,
            Connector::Kafka(table) => table.upsert || table.value.format.is_changelog(),
        }
    }

    /// Whether its sink asks for no `-U` rows (Flink's `ONLY_UPDATE_AFTER`), so that the
    /// changes reaching it need not have them: a blackhole's, and an upsert topic's, whose `+U`
    /// replaces the key's row (a `-U` that still comes is a tombstone there).
    pub fn needs_no_update_before(&self) -> bool {
        match self {
            Connector::Blackhole => true,
            Connector::Kafka(table) => table.upsert,
            _ => false,
        }
    }

    /// The records a file-like or log connector reads.
    pub fn records(&self) -> Option<&RecordFormat> {
        match self {
            Connector::Filesystem { records, .. } | Connector::Stdin { records } => Some(records),
            Connector::Kafka(table) => Some(&table.value),
            Connector::Print | Connector::Blackhole | Connector::Nexmark(_) => None,
        }
    }

    /// The connector described by a table's `WITH` options.
    pub fn from_options(options: &BTreeMap<String, String>) -> SqlResult<Connector> {
        let options = &current_options(options)?;
        let Some(name) = options.get("connector") else {
            return Err(SqlError::new("missing option 'connector'")
                .with_hint(format!("add WITH ('connector' = ...), one of {CONNECTORS}")));
        };
        let allowed: Vec<&str> = match name.as_str() {
            "filesystem" => [
                &[
                    "path",
                    "format",
                    "source.max-record-size",
                    "source.monitor-interval",
                ][..],
                &FORMAT_OPTIONS,
            ]
            .concat(),
            "stdin" => [&["format", "source.max-record-size"][..], &FORMAT_OPTIONS].concat(),
            "print" | "blackhole" => Vec::new(),
            "kafka" | "upsert-kafka" => return kafka::options(name, options).map(Connector::Kafka),
            "nexmark" => return nexmark::options(options).map(Connector::Nexmark),
            other => {
                return Err(SqlError::new(format!("unknown connector '{other}'"))
                    .with_hint(format!("supported connectors: {CONNECTORS}")));
            }
        };
        for key in options.keys().filter(|k| *k != "connector") {
            if !allowed.contains(&key.as_str()) {
                let supported = if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed
                        .iter()
                        .map(|k| format!("'{k}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(SqlError::new(format!(
                    "unsupported option '{key}' for connector '{name}'"
                ))
                .with_hint(format!("supported options: {supported}")));
            }
        }
        Ok(match name.as_str() {
            "filesystem" => {
                let path = options
                    .get("path")
                    .ok_or_else(|| SqlError::new("connector 'filesystem' needs option 'path'"))?;
                let records = record_format(name, options)?;
                let monitor_interval = options
                    .get("source.monitor-interval")
                    .map(|v| duration_millis(v).map(|ms| ms.max(1) as u64))
                    .transpose()?;
                Connector::Filesystem {
                    path: PathBuf::from(path.strip_prefix("file://").unwrap_or(path)),
                    records,
                    monitor_interval,
                }
            }
            "stdin" => Connector::Stdin {
                records: record_format(name, options)?,
            },
            "print" => Connector::Print,
            _ => Connector::Blackhole,
        })
    }

    /// Checks the table's stored columns against the connector: the columns its format
    /// needs, its key's columns, its metadata columns.
    pub fn check_columns(
        &mut self,
        physical: &Schema,
        primary_key: &[String],
        metadata: &[MetadataColumn],
    ) -> SqlResult<()> {
        let data_columns: Vec<&Field> = physical
            .fields()
            .iter()
            .map(|f| f.as_ref())
            .filter(|f| metadata.iter().all(|m| &m.name != f.name()))
            .collect();
        match self {
            Connector::Kafka(table) => {
                kafka::check_columns(table, &data_columns, primary_key, metadata)
            }
            _ if !metadata.is_empty() => Err(SqlError::new(format!(
                "column '{}': this connector has no metadata",
                metadata[0].name
            ))),
            _ => match self.records() {
                Some(records) => check_format_columns(records.format, &data_columns),
                None => Ok(()),
            },
        }
    }

    /// A sink writing rows of the table `def` (all its columns) into this connector.
    /// This sink as task `part` of a shared job writes it: part files in a directory of
    /// their own (`path/part/`), Kafka transactions with ids of their own; refused where
    /// tasks would write over each other.
    pub fn for_task(&self, table: &str, part: &str) -> SqlResult<Connector> {
        match self {
            Connector::Filesystem { path, .. } if writes_part_files(path) => {
                let mut connector = self.clone();
                if let Connector::Filesystem { path, .. } = &mut connector {
                    *path = path.join(format!("{part}/"));
                }
                Ok(connector)
            }
            Connector::Filesystem { .. } => Err(SqlError::new(format!(
                "table '{table}': a job shared by several processes writes a directory (each \
                 task its own part files), not one file: end 'path' with '/'"
            ))),
            // Each task's transactions, and the marker of what they committed, are its own;
            // the task's next owner fences the last one.
            Connector::Kafka(kafka) => {
                let mut kafka = kafka.clone();
                if let rill_kafka::Delivery::ExactlyOnce {
                    transactional_id_prefix,
                } = &mut kafka.delivery
                {
                    *transactional_id_prefix = format!("{transactional_id_prefix}-{part}");
                }
                Ok(Connector::Kafka(kafka))
            }
            _ => Ok(self.clone()),
        }
    }

    pub fn create_sink(&self, def: &TableDef) -> SqlResult<Box<dyn Sink>> {
        let (table, schema) = (def.name.as_str(), def.schema.clone());
        Ok(match self {
            Connector::Blackhole => Box::new(BlackholeSink),
            Connector::Stdin { .. } => {
                return Err(SqlError::new(format!(
                    "table '{table}' reads standard input and cannot be written"
                )));
            }
            Connector::Nexmark(_) => {
                return Err(SqlError::new(format!(
                    "table '{table}' generates Nexmark events and cannot be written"
                )));
            }
            Connector::Kafka(kafka) => return kafka::create_sink(kafka, def),
            Connector::Print => Box::new(
                WriterSink::new(
                    table,
                    schema,
                    OutputFormat::Print,
                    false,
                    false,
                    Destination::Stream(Box::new(std::io::stdout())),
                )
                .map_err(|e| SqlError::new(e.to_string()))?,
            ),
            Connector::Filesystem { path, records, .. } => {
                let format = match records.format {
                    FileFormat::Csv => OutputFormat::FlinkCsv,
                    FileFormat::Json => OutputFormat::Json,
                    FileFormat::Debezium { .. } => OutputFormat::DebeziumJson,
                    FileFormat::Raw => OutputFormat::Raw,
                    FileFormat::Canal | FileFormat::Maxwell => {
                        return Err(SqlError::new(format!(
                            "table '{table}': writing 'canal-json' or 'maxwell-json' is not \
                             supported yet"
                        ))
                        .with_hint("write 'debezium-json', or read 'canal-json'"));
                    }
                };
                Box::new(
                    WriterSink::new(table, schema, format, false, false, destination(path))
                        .map_err(|e| SqlError::new(e.to_string()))?,
                )
            }
        })
    }
}

mod kafka;
mod nexmark;

pub(crate) use kafka::create_source as create_kafka_source;

/// Checks that `format` can read and write `columns`: `raw` one text column, `csv` no map
/// (Flink's csv format has none); binary strings are Base64 text, which rill reads anywhere
/// but in json maps.
fn check_format_columns(format: FileFormat, columns: &[&Field]) -> SqlResult<()> {
    let binary = |t: &DataType| t == &DataType::Binary;
    let refuse = |f: &Field, what: &str| {
        Err(SqlError::new(format!(
            "{what}: column '{}' is {}",
            f.name(),
            sql_type_name(f.data_type())
        )))
    };
    match (format, columns) {
        (FileFormat::Raw, [one]) if matches!(one.data_type(), DataType::Utf8) => Ok(()),
        (FileFormat::Raw, _) => Err(SqlError::new(
            "the 'raw' format reads and writes a single STRING column",
        )),
        (FileFormat::Csv, _) => match columns.iter().find(|f| holds(f.data_type(), &is_map)) {
            Some(f) => refuse(f, "the 'csv' format has no maps")
                .map_err(|e| e.with_hint("use 'format' = 'json'")),
            None => Ok(()),
        },
        // JSON and change events.
        _ => {
            let map_of_binaries = |t: &DataType| is_map(t) && holds(t, &binary);
            match columns
                .iter()
                .find(|f| holds(f.data_type(), &map_of_binaries))
            {
                Some(f) => refuse(f, "binary strings inside maps are not read from json yet"),
                None => Ok(()),
            }
        }
    }
}

fn is_map(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Map(..))
}

/// Whether `data_type` is or holds a value of a type `is` says yes to.
fn holds(data_type: &DataType, is: &dyn Fn(&DataType) -> bool) -> bool {
    is(data_type)
        || match data_type {
            DataType::List(item) => holds(item.data_type(), is),
            DataType::Struct(fields) => fields.iter().any(|f| holds(f.data_type(), is)),
            DataType::Map(entries, _) => holds(entries.data_type(), is),
            _ => false,
        }
}

/// The options of the formats, for the connectors that read and write them.
const FORMAT_OPTIONS: [&str; 6] = [
    "csv.ignore-parse-errors",
    "json.ignore-parse-errors",
    "debezium-json.ignore-parse-errors",
    "debezium-json.schema-include",
    "canal-json.ignore-parse-errors",
    "maxwell-json.ignore-parse-errors",
];

/// How a file-like connector reads records: its `'format'`, whether malformed rows are
/// skipped, and the longest record it takes.
fn record_format(connector: &str, options: &BTreeMap<String, String>) -> SqlResult<RecordFormat> {
    match formatted_records(options, "format", "")? {
        Some(records) => Ok(records),
        None => Err(
            SqlError::new(format!("connector '{connector}' needs option 'format'"))
                .with_hint("'format' = 'csv' or 'format' = 'json'"),
        ),
    }
}

/// The records named by the option `key` (`format`, `value.format`, ...), their format
/// options prefixed by `prefix` (`""`, `"value."`, ...); `None` when `key` is not set.
fn formatted_records(
    options: &BTreeMap<String, String>,
    key: &str,
    prefix: &str,
) -> SqlResult<Option<RecordFormat>> {
    let format = match options.get(key).map(String::as_str) {
        Some("csv") => FileFormat::Csv,
        Some("json") => FileFormat::Json,
        Some("raw") => FileFormat::Raw,
        Some("debezium-json") => FileFormat::Debezium {
            schema_include: flag(options, &format!("{prefix}debezium-json.schema-include"))?,
        },
        Some("canal-json") => FileFormat::Canal,
        Some("maxwell-json") => FileFormat::Maxwell,
        Some(other) => {
            return Err(
                SqlError::new(format!("unsupported format '{other}'")).with_hint(
                    "supported formats: 'csv', 'json', 'raw', 'debezium-json', 'canal-json', \
                 'maxwell-json'",
                ),
            );
        }
        None => return Ok(None),
    };
    let ignore_key = match format {
        FileFormat::Csv => Some("csv.ignore-parse-errors"),
        FileFormat::Json => Some("json.ignore-parse-errors"),
        FileFormat::Debezium { .. } => Some("debezium-json.ignore-parse-errors"),
        FileFormat::Canal => Some("canal-json.ignore-parse-errors"),
        FileFormat::Maxwell => Some("maxwell-json.ignore-parse-errors"),
        FileFormat::Raw => None,
    };
    let max_record_bytes = match options.get("source.max-record-size") {
        None => RecordFormat::DEFAULT_MAX_RECORD_BYTES,
        Some(size) => match memory_bytes(size)? {
            bytes if bytes > 0 => bytes as u64,
            _ => {
                return Err(SqlError::new(
                    "'source.max-record-size' must be at least 1 byte",
                ));
            }
        },
    };
    let ignore_parse_errors = match ignore_key {
        Some(k) => flag(options, &format!("{prefix}{k}"))?,
        None => false,
    };
    Ok(Some(RecordFormat {
        format,
        ignore_parse_errors,
        max_record_bytes,
    }))
}

fn flag(options: &BTreeMap<String, String>, key: &str) -> SqlResult<bool> {
    match options.get(key).map(|v| v.to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(SqlError::new(format!(
            "option '{key}' must be 'true' or 'false', found '{v}'"
        ))),
    }
}

/// Like Flink, a filesystem sink whose path is a directory (or ends in `/`) writes part
/// files; a file path is written whole.
fn writes_part_files(path: &std::path::Path) -> bool {
    path.is_dir() || path.to_string_lossy().ends_with('/')
}

/// Where a sink writing to `path` writes: part files in a directory, else one file.
pub(crate) fn destination(path: &std::path::Path) -> Destination {
    match writes_part_files(path) {
        true => Destination::Directory(path.to_path_buf()),
        false => Destination::File(path.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn filesystem_options() {
        let c = Connector::from_options(&options(&[
            ("connector", "filesystem"),
            ("path", "file:///data/t.csv"),
            ("format", "csv"),
            ("csv.ignore-parse-errors", "true"),
        ]))
        .unwrap();
        assert_eq!(
            c,
            Connector::Filesystem {
                path: "/data/t.csv".into(),
                records: RecordFormat {
                    format: FileFormat::Csv,
                    ignore_parse_errors: true,
                    max_record_bytes: RecordFormat::DEFAULT_MAX_RECORD_BYTES,
                },
                monitor_interval: None,
            }
        );
    }

    #[test]
    fn legacy_filesystem_properties_read_as_todays_options() {
        let legacy = Connector::from_options(&options(&[
            ("connector.type", "filesystem"),
            ("connector.path", "file:///data/t.csv"),
            ("format.type", "csv"),
        ]));
        let current = Connector::from_options(&options(&[
            ("connector", "filesystem"),
            ("path", "/data/t.csv"),
            ("format", "csv"),
        ]));
        assert_eq!(legacy.unwrap(), current.unwrap());
        let e = Connector::from_options(&options(&[("connector.type", "kafka")])).unwrap_err();
        assert!(
            e.message.contains("legacy 'connector.type'"),
            "{}",
            e.message
        );
    }

    #[test]
    fn unknown_connector_and_option_are_errors() {
        let e = Connector::from_options(&options(&[("connector", "kafka2")])).unwrap_err();
        assert_eq!(e.message, "unknown connector 'kafka2'");
        let e = Connector::from_options(&options(&[("connector", "blackhole"), ("x", "1")]))
            .unwrap_err();
        assert_eq!(
            e.message,
            "unsupported option 'x' for connector 'blackhole'"
        );
        let e = Connector::from_options(&options(&[("connector", "filesystem"), ("path", "/p")]))
            .unwrap_err();
        assert_eq!(e.message, "connector 'filesystem' needs option 'format'");
    }
}
