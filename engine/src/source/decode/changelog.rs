//! Change-event formats (Flink's `debezium-json`, `canal-json` and `maxwell-json`): each JSON
//! record is an envelope holding rows before and after a change, decoded by arrow's JSON
//! decoder into structs and unnested, a whole batch at a time, into rows of the table with
//! their change kinds, as Flink's deserialisation schemas emit them.
//!
//! Canal and Maxwell send, for an update, only the fields that changed (`old`): a field
//! absent there kept its value, while a field present with `null` was NULL before. Arrow's
//! decoder cannot tell the two apart, so the keys of `old` are read from the update's text.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int8Array, RecordBatch, StructArray};
use arrow::compute::interleave;
use arrow::compute::kernels::zip::zip;
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrow::error::ArrowError;

use super::{FileFormat, JsonLines, parse_json_text};
use crate::batch::RowKind;

/// A push decoder of change events.
pub(crate) struct Events {
    decoder: JsonLines,
    /// The envelope's types (the decoder reads timestamps and binary strings as text).
    envelope: SchemaRef,
    format: FileFormat,
    /// The table's columns, then the change kind.
    schema: SchemaRef,
    /// The text of the records decoded since the last flush, where `old` must be read.
    text: Vec<u8>,
}

impl Events {
    /// Whether its JSON decoder has fallen back to arrow's.
    pub(crate) fn fell_back(&self) -> bool {
        self.decoder.fell_back()
    }

    pub fn new(
        format: FileFormat,
        table: &SchemaRef,
        batch_size: usize,
    ) -> Result<Self, ArrowError> {
        let envelope = envelope(format, table);
        Ok(Events {
            decoder: JsonLines::new(&envelope, batch_size)?,
            envelope,
            format,
            schema: format.decoded_schema(table),
            text: Vec::new(),
        })
    }

    pub fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        let consumed = self.decoder.decode(buf)?;
        if matches!(self.format, FileFormat::Canal | FileFormat::Maxwell) {
            self.text.extend_from_slice(&buf[..consumed]);
        }
        Ok(consumed)
    }

    pub fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        let text = std::mem::take(&mut self.text);
        let Some(envelope) = self.decoder.flush()? else {
            return Ok(None);
        };
        let envelope = parse_json_text(envelope, &self.envelope)?;
        let schema = &self.schema;
        match self.format {
            FileFormat::Debezium { schema_include } => {
                let root = match schema_include {
                    true => envelope.column(0).as_struct().clone(),
                    false => StructArray::from(envelope),
                };
                debezium(&root, schema)
            }
            format => partial_updates(format, &envelope, &text, schema),
        }
        .map(Some)
    }
}

/// The envelope a change event is decoded as (unknown fields, e.g. Debezium's `source`, are
/// ignored).
pub(super) fn envelope(format: FileFormat, table: &SchemaRef) -> SchemaRef {
    let row = DataType::Struct(table.fields().clone());
    let list = DataType::List(Arc::new(Field::new("item", row.clone(), true)));
    let fields = match format {
        FileFormat::Canal => vec![
            Field::new("data", list.clone(), true),
            Field::new("old", list, true),
            Field::new("type", DataType::Utf8, true),
        ],
        FileFormat::Maxwell => vec![
            Field::new("data", row.clone(), true),
            Field::new("old", row, true),
            Field::new("type", DataType::Utf8, true),
        ],
        _ => vec![
            Field::new("before", row.clone(), true),
            Field::new("after", row, true),
            Field::new("op", DataType::Utf8, true),
        ],
    };
    let fields = match format {
        FileFormat::Debezium {
            schema_include: true,
        } => vec![Field::new(
            "payload",
            DataType::Struct(Fields::from(fields)),
            true,
        )],
        _ => fields,
    };
    Arc::new(Schema::new(fields))
}

/// `c`/`r` -> +I after; `u` -> -U before, +U after; `d` -> -D before.
fn debezium(root: &StructArray, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let field = |name: &str| {
        root.column_by_name(name)
            .ok_or_else(|| ArrowError::JsonError(format!("no \"{name}\" field")))
    };
    let (before, after) = (field("before")?.as_struct(), field("after")?.as_struct());
    let op = field("op")?.as_string::<i32>();
    let mut picks = Vec::with_capacity(root.len());
    let mut kinds = Vec::with_capacity(root.len());
    for i in 0..root.len() {
        // Rows are picked from [before, after].
        let mut pick = |side: usize, kind: RowKind, what: &str| {
            let image = [before, after][side];
            if image.is_null(i) {
                return Err(ArrowError::JsonError(format!(
                    "the \"{}\" field of a {what} message is null (with Debezium's Postgres \
                     connector, set the table's REPLICA IDENTITY to FULL)",
                    ["before", "after"][side]
                )));
            }
            picks.push((side, i));
            kinds.push(kind as i8);
            Ok(())
        };
        match op.is_valid(i).then(|| op.value(i)) {
            Some("c" | "r") => pick(1, RowKind::Insert, "CREATE")?,
            Some("u") => {
                pick(0, RowKind::UpdateBefore, "UPDATE")?;
                pick(1, RowKind::UpdateAfter, "UPDATE")?;
            }
            Some("d") => pick(0, RowKind::Delete, "DELETE")?,
            other => {
                return Err(ArrowError::JsonError(format!(
                    "unknown \"op\" value {} in a Debezium JSON message",
                    other.map_or("null".to_string(), |o| format!("\"{o}\""))
                )));
            }
        }
    }
    rows(&[before, after], &picks, kinds, schema)
}

/// Canal and Maxwell: an insert gives +I of its row(s) in `data`; an update -U of the row
/// before it (the fields in `old`, the others from `data`) and +U of the row in `data`; a
/// delete -D of its row(s) in `data`; Canal's `CREATE` (a DDL event) nothing. A Canal event
/// holds a list of rows, a Maxwell event one row. `text` holds the events' JSON lines.
fn partial_updates(
    format: FileFormat,
    envelope: &RecordBatch,
    text: &[u8],
    schema: &SchemaRef,
) -> Result<RecordBatch, ArrowError> {
    let column = |name: &str| {
        envelope
            .column_by_name(name)
            .ok_or_else(|| ArrowError::JsonError(format!("no \"{name}\" field")))
    };
    let canal = format == FileFormat::Canal;
    let name = if canal { "Canal" } else { "Maxwell" };
    // Per event, its rows in `data` and in `old`, as ranges of the rows of `after` and
    // `old_rows`: a list each for Canal, one row (or none) each for Maxwell.
    let (after, old_rows, ranges): (&StructArray, &StructArray, Vec<_>) = match canal {
        true => {
            let (data, old) = (
                column("data")?.as_list::<i32>(),
                column("old")?.as_list::<i32>(),
            );
            let range = |list: &arrow::array::ListArray, i: usize| match list.is_valid(i) {
                true => list.value_offsets()[i] as usize..list.value_offsets()[i + 1] as usize,
                false => 0..0,
            };
            let ranges = (0..envelope.num_rows())
                .map(|i| (range(data, i), range(old, i)))
                .collect();
            (data.values().as_struct(), old.values().as_struct(), ranges)
        }
        false => {
            let (data, old) = (column("data")?.as_struct(), column("old")?.as_struct());
            let one = |s: &StructArray, i: usize| if s.is_valid(i) { i..i + 1 } else { i..i };
            let ranges = (0..envelope.num_rows())
                .map(|i| (one(data, i), one(old, i)))
                .collect();
            (data, old, ranges)
        }
    };
    let kind = column("type")?.as_string::<i32>();
    let [insert, update, delete] = match canal {
        true => ["INSERT", "UPDATE", "DELETE"],
        false => ["insert", "update", "delete"],
    };
    let fields = after.fields();
    // Per row of `after`: the row of `old_rows` holding its earlier values, and which fields
    // that row has (absent fields did not change).
    let mut old_at = vec![None; after.len()];
    let mut present = vec![false; after.len() * fields.len()];
    let mut picks = Vec::new();
    let mut kinds = Vec::new();
    let mut lines = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
    for (i, (rows, olds)) in ranges.into_iter().enumerate() {
        let line = lines.next().unwrap_or_default();
        let mut push = |r: usize, kind: RowKind| {
            picks.push((1, r));
            kinds.push(kind as i8);
        };
        match kind.is_valid(i).then(|| kind.value(i)) {
            Some(k) if k == insert => rows.for_each(|r| push(r, RowKind::Insert)),
            Some(k) if k == delete => rows.for_each(|r| push(r, RowKind::Delete)),
            Some(k) if k == update => {
                if olds.len() != rows.len() {
                    return Err(ArrowError::JsonError(format!(
                        "an update of {name} JSON needs an \"old\" row for each \"data\" row"
                    )));
                }
                let keys = old_keys(line, canal)?;
                for ((r, o), keys) in rows.zip(olds).zip(keys) {
                    old_at[r] = Some(o);
                    for (f, field) in fields.iter().enumerate() {
                        present[r * fields.len() + f] = keys.iter().any(|k| k == field.name());
                    }
                    picks.push((0, r));
                    kinds.push(RowKind::UpdateBefore as i8);
                    picks.push((1, r));
                    kinds.push(RowKind::UpdateAfter as i8);
                }
            }
            Some("CREATE") if canal => {}
            other => {
                return Err(ArrowError::JsonError(format!(
                    "unknown \"type\" value {} in a {name} JSON message",
                    other.map_or("null".to_string(), |o| format!("\"{o}\""))
                )));
            }
        }
    }
    // The rows before the updates, aligned with `after`'s rows.
    let indices = arrow::array::UInt32Array::from(
        old_at
            .iter()
            .map(|o| o.map(|o| o as u32))
            .collect::<Vec<_>>(),
    );
    let mut columns = Vec::with_capacity(fields.len());
    for (f, new) in after.columns().iter().enumerate() {
        let old = arrow::compute::take(old_rows.column(f).as_ref(), &indices, None)?;
        let changed = BooleanArray::from(
            (0..after.len())
                .map(|r| present[r * fields.len() + f])
                .collect::<Vec<_>>(),
        );
        columns.push(zip(&changed, &old, new)?);
    }
    let before = StructArray::try_new(fields.clone(), columns, None)?;
    rows(&[&before, after], &picks, kinds, schema)
}

/// The keys of each object in an update's `old` (a list of objects for Canal, one object for
/// Maxwell), read from the event's text.
fn old_keys(line: &[u8], canal: bool) -> Result<Vec<Vec<String>>, ArrowError> {
    let event: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| ArrowError::JsonError(e.to_string()))?;
    let keys = |o: &serde_json::Value| -> Vec<String> {
        o.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    Ok(match (&event["old"], canal) {
        (serde_json::Value::Array(olds), true) => olds.iter().map(keys).collect(),
        (old, false) => vec![keys(old)],
        _ => Vec::new(),
    })
}

/// The rows `picks` (image, row) of `images`, with their change kinds, as a batch of
/// `schema`.
fn rows(
    images: &[&StructArray],
    picks: &[(usize, usize)],
    kinds: Vec<i8>,
    schema: &SchemaRef,
) -> Result<RecordBatch, ArrowError> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for f in 0..images[0].num_columns() {
        let sources: Vec<&dyn Array> = images.iter().map(|s| s.column(f).as_ref()).collect();
        columns.push(interleave(&sources, picks)?);
    }
    columns.push(Arc::new(Int8Array::from(kinds)));
    let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(picks.len()));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
}
