//! Reading a malformed record as Flink's `'<format>.ignore-parse-errors'` does: a value that
//! is no value of its type is read as NULL, down to the fields of rows and the items of
//! arrays, a CSV record's missing fields are NULL, and the rest of the record is kept. A
//! record that cannot be split into values (a line that is no JSON object, a CSV line with
//! more fields than the table) gives no row.
//!
//! Only records that failed to decode come here, so each value is simply decoded on its own
//! by the format's decoder, which keeps what is readable exactly as the fast path reads it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ListArray, RecordBatch, StructArray, new_null_array};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use serde_json::value::RawValue;

use super::{FileFormat, RecordReader, changelog, json_text};
use crate::format::sql_type_name;

/// Reads the malformed records of one table's format as Flink does with ignore-parse-errors.
pub(crate) struct NullingReader {
    format: FileFormat,
    schema: SchemaRef,
    /// The table's records, for JSON records made readable.
    records: RecordReader,
    /// Records of one value of each type met so far.
    values: HashMap<DataType, RecordReader>,
    csv: csv_core::Reader,
    /// Whether the record read last had an object or array read into a STRING.
    stringified: bool,
}

impl NullingReader {
    pub(crate) fn new(format: FileFormat, schema: SchemaRef) -> Self {
        NullingReader {
            format,
            records: RecordReader::new(format, schema.clone()),
            schema,
            values: HashMap::new(),
            csv: csv_core::Reader::new(),
            stringified: false,
        }
    }

    /// `record`, which failed to decode, decoded with its unreadable values as NULL and its
    /// objects and arrays in STRING columns as their text, and which values were NULLed
    /// (none: the record is good as Flink reads it); `None` if it gives no row.
    pub(crate) fn read(&mut self, record: &[u8]) -> Option<(RecordBatch, Vec<String>)> {
        let mut nulled = Vec::new();
        self.stringified = false;
        let row = match self.format {
            FileFormat::Csv => self.csv_row(record, &mut nulled)?,
            FileFormat::Raw => return None,
            format => {
                let envelope = match format.is_changelog() {
                    true => changelog::envelope(format, &self.schema),
                    false => self.schema.clone(),
                };
                let object = json_object(std::str::from_utf8(record).ok()?)?;
                let members = row_members(envelope.fields());
                let repaired = self.object_text(&object, &members, "", &mut nulled);
                self.records.read(repaired.as_bytes()).ok()?
            }
        };
        // A record none of whose values is wrong failed for another reason: it is not read.
        (!nulled.is_empty() || self.stringified).then_some((row, nulled))
    }

    /// `text` decoded as the one value of a record whose one column is `data_type`.
    fn read_alone(&mut self, data_type: &DataType, text: &[u8]) -> Option<ArrayRef> {
        // The values of change events are plain JSON.
        let format = match self.format {
            FileFormat::Csv => FileFormat::Csv,
            _ => FileFormat::Json,
        };
        let reader = (self.values.entry(data_type.clone())).or_insert_with(|| {
            let schema = Schema::new(vec![Field::new("v", data_type.clone(), true)]);
            RecordReader::new(format, Arc::new(schema)).of_whole_records()
        });
        let record = match self.format {
            FileFormat::Csv => {
                let mut quoted = b"\"".to_vec();
                for &b in text {
                    if b == b'"' {
                        quoted.push(b'"');
                    }
                    quoted.push(b);
                }
                quoted.push(b'"');
                quoted
            }
            _ => [b"{\"v\":", text, b"}"].concat(),
        };
        let batch = reader.read(&record).ok()?;
        (batch.num_rows() == 1).then(|| batch.column(0).clone())
    }

    /// The text of `object`, its members named in `members` (in the order of the report) made
    /// readable as their types.
    fn object_text(
        &mut self,
        object: &Object,
        members: &[(&str, &DataType)],
        path: &str,
        nulled: &mut Vec<String>,
    ) -> String {
        let mut readable: BTreeMap<&str, String> = (members.iter())
            .filter_map(|&(name, data_type)| {
                let value = object.get(name)?;
                Some((
                    name,
                    self.json_value(value, data_type, &field_path(path, name), nulled),
                ))
            })
            .collect();
        let members: Vec<String> = (object.iter())
            .map(|(key, value)| {
                let text = readable.remove(key.as_str());
                let key = serde_json::Value::from(key.clone());
                format!("{key}:{}", text.as_deref().unwrap_or(value.get()))
            })
            .collect();
        format!("{{{}}}", members.join(","))
    }

    /// The text of `value`, NULL where it is not of `data_type`.
    fn json_value(
        &mut self,
        value: &RawValue,
        data_type: &DataType,
        path: &str,
        nulled: &mut Vec<String>,
    ) -> String {
        let text = value.get();
        // An object or array read into a STRING is its text, as Flink reads it (and arrow
        // reads none: no need to try).
        if *data_type == DataType::Utf8
            && text.starts_with(['{', '['])
            && let Some(flink_text) = json_text::flink_text(text)
        {
            self.stringified = true;
            return serde_json::Value::from(flink_text).to_string();
        }
        if self.read_alone(data_type, text.as_bytes()).is_some() {
            return text.to_string();
        }
        let repaired = match data_type {
            DataType::Struct(fields) => {
                json_object(text).map(|o| self.object_text(&o, &row_members(fields), path, nulled))
            }
            // A map's values; its keys are strings.
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(key_value) if key_value.len() == 2 => json_object(text).map(|o| {
                    let value_type = key_value[1].data_type();
                    let members: Vec<_> = o.keys().map(|k| (k.as_str(), value_type)).collect();
                    self.object_text(&o, &members, path, nulled)
                }),
                _ => None,
            },
            DataType::List(item) => {
                serde_json::from_str::<Vec<&RawValue>>(text)
                    .ok()
                    .map(|items| {
                        let items: Vec<String> = (items.iter().enumerate())
                            .map(|(i, v)| {
                                self.json_value(v, item.data_type(), &item_path(path, i), nulled)
                            })
                            .collect();
                        format!("[{}]", items.join(","))
                    })
            }
            _ => None,
        };
        repaired.unwrap_or_else(|| {
            nulled.push(cannot_read(text, data_type, path));
            "null".into()
        })
    }

    /// The row of a CSV record, its fields read one by one.
    fn csv_row(&mut self, record: &[u8], nulled: &mut Vec<String>) -> Option<RecordBatch> {
        let schema = self.schema.clone();
        let fields = self.csv_fields(record)?;
        if fields.len() > schema.fields().len() {
            return None;
        }
        let columns = (schema.fields().iter().enumerate())
            .map(|(i, f)| {
                let text = fields.get(i).map(String::as_str);
                self.csv_value(text, f.data_type(), f.name(), nulled)
            })
            .collect();
        RecordBatch::try_new(schema, columns).ok()
    }

    /// The fields of one CSV record, unquoted.
    fn csv_fields(&mut self, record: &[u8]) -> Option<Vec<String>> {
        use csv_core::ReadRecordResult;
        let reader = &mut self.csv;
        reader.reset();
        let (mut out, mut ends) = (vec![0; record.len()], vec![0; record.len() + 1]);
        let (mut input, mut written, mut fields) = (record, 0, 0);
        loop {
            // Once the input is used up, an empty input ends the record.
            let (result, read, w, f) =
                reader.read_record(input, &mut out[written..], &mut ends[fields..]);
            (input, written, fields) = (&input[read..], written + w, fields + f);
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::Record if input.iter().all(u8::is_ascii_whitespace) => break,
                _ => return None,
            }
        }
        let text = std::str::from_utf8(&out[..written]).ok()?;
        let mut start = 0;
        let fields = ends[..fields].iter().map(|&end| {
            let field = text[start..end].to_string();
            start = end;
            field
        });
        Some(fields.collect())
    }

    /// A CSV field read as `data_type`, NULL where it is not of it (missing: `None`).
    fn csv_value(
        &mut self,
        text: Option<&str>,
        data_type: &DataType,
        path: &str,
        nulled: &mut Vec<String>,
    ) -> ArrayRef {
        let Some(text) = text else {
            nulled.push(format!("no value for {path}"));
            return new_null_array(data_type, 1);
        };
        if let Some(array) = self.read_alone(data_type, text.as_bytes()) {
            return array;
        }
        // Rows and arrays: their fields and items, joined by `;`.
        let mut parts = text.split(';');
        let repaired: Option<ArrayRef> = match data_type {
            DataType::List(item) => {
                let items: Vec<ArrayRef> = (parts.enumerate())
                    .map(|(i, t)| {
                        self.csv_value(Some(t), item.data_type(), &item_path(path, i), nulled)
                    })
                    .collect();
                let items: Vec<&dyn Array> = items.iter().map(|a| a.as_ref()).collect();
                arrow::compute::concat(&items).ok().and_then(|values| {
                    let offsets = OffsetBuffer::from_lengths([values.len()]);
                    let list = ListArray::try_new(item.clone(), offsets, values, None).ok()?;
                    Some(Arc::new(list) as ArrayRef)
                })
            }
            DataType::Struct(fields) => {
                let columns = (fields.iter())
                    .map(|f| {
                        let path = field_path(path, f.name());
                        self.csv_value(parts.next(), f.data_type(), &path, nulled)
                    })
                    .collect();
                let row = StructArray::try_new(fields.clone(), columns, None).ok();
                row.map(|r| Arc::new(r) as ArrayRef)
            }
            _ => None,
        };
        repaired.unwrap_or_else(|| {
            nulled.push(cannot_read(&format!("'{text}'"), data_type, path));
            new_null_array(data_type, 1)
        })
    }
}

fn cannot_read(text: &str, data_type: &DataType, path: &str) -> String {
    format!(
        "cannot read {text} as {} for {path}",
        sql_type_name(data_type)
    )
}

fn field_path(path: &str, name: &str) -> String {
    match path {
        "" => name.to_string(),
        _ => format!("{path}.{name}"),
    }
}

fn item_path(path: &str, index: usize) -> String {
    format!("{path}[{}]", index + 1)
}

/// A JSON object's members, each as its text.
type Object<'a> = BTreeMap<String, &'a RawValue>;

fn json_object(text: &str) -> Option<Object<'_>> {
    serde_json::from_str(text).ok()
}

/// The members of a row of `fields`, for [`object_text`].
fn row_members(fields: &Fields) -> Vec<(&str, &DataType)> {
    let members = fields.iter().map(|f| (f.name().as_str(), f.data_type()));
    members.collect()
}
