//! Decoding CSV and JSON-lines bytes into record batches with arrow's push decoders, and
//! finding the malformed rows when a batch fails to decode.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, BinaryBuilder, BooleanArray, BooleanBufferBuilder,
    ListArray, MapArray, PrimitiveArray, RecordBatch, StringArray, StringBuilder, StructArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Decimal128Type, Field, Float32Type, Float64Type,
    Schema, SchemaRef, Time32MillisecondType,
};
use arrow::error::ArrowError;
use arrow::util::display::FormatOptions;

use crate::format::{
    NotANumber, parse_java_boolean, parse_java_decimal, parse_java_float, sql_type_name,
};

mod changelog;
mod date_time;
mod json_direct;
mod json_text;
mod lenient;
mod timestamp;

use date_time::Dialect;
use json_direct::{Direct, Stop};
use lenient::NullingReader;

/// The data format of a file source (Flink's `'format'` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// RFC-4180 CSV without header (Flink's `csv`).
    Csv,
    /// One JSON object per line (Flink's `json`).
    Json,
    /// Debezium change events, one JSON object per line (`debezium-json`); with
    /// `schema_include`, each wrapped as `{"schema": ..., "payload": ...}`.
    Debezium { schema_include: bool },
    /// Canal change events, one JSON object per line (`canal-json`).
    Canal,
    /// Maxwell change events, one JSON object per line (`maxwell-json`).
    Maxwell,
    /// Each line (or message) whole as the value of the table's one STRING column (`raw`).
    Raw,
}

impl FileFormat {
    /// Whether records are JSON objects, one per line.
    pub fn is_json(self) -> bool {
        !matches!(self, FileFormat::Csv | FileFormat::Raw)
    }

    /// Whether records are change events: decoded rows then carry a change kind.
    pub fn is_changelog(self) -> bool {
        matches!(
            self,
            FileFormat::Debezium { .. } | FileFormat::Canal | FileFormat::Maxwell
        )
    }

    /// The columns of decoded batches: the table's, then, for change events, the change
    /// kind of each row ([`RowKind`](crate::batch::RowKind) codes).
    pub fn decoded_schema(self, table: &SchemaRef) -> SchemaRef {
        if !self.is_changelog() {
            return table.clone();
        }
        let mut fields: Vec<Field> = table.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new(CHANGE_KIND_COLUMN, DataType::Int8, false));
        Arc::new(Schema::new(fields))
    }
}

/// The last column of decoded change events: each row's change kind.
pub const CHANGE_KIND_COLUMN: &str = "rill.change-kind";

/// How a table's records are read (its format options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordFormat {
    pub format: FileFormat,
    /// Read malformed records as Flink does with `ignore-parse-errors` (values that cannot be
    /// read are NULL; records that cannot be split into values are skipped), and count them,
    /// instead of failing the job.
    pub ignore_parse_errors: bool,
    /// The longest record accepted, in bytes, without its line end: a longer one is
    /// malformed, and is skipped over without ever being held in memory whole.
    pub max_record_bytes: u64,
}

impl RecordFormat {
    /// The default longest record: far beyond any sane event, far below a machine's memory.
    pub const DEFAULT_MAX_RECORD_BYTES: u64 = 16 << 20;

    /// Why a record of `len` bytes, over the maximum, is malformed.
    pub(crate) fn too_long(&self, len: u64) -> String {
        format!(
            "record of {len} bytes is longer than the maximum of {} bytes \
             (the table's 'source.max-record-size')",
            self.max_record_bytes
        )
    }

    /// The reason a record is malformed, saying it is skipped when errors are ignored.
    pub(crate) fn skipped(&self, reason: String) -> String {
        match self.ignore_parse_errors {
            true => format!("{reason}; skipped"),
            false => reason,
        }
    }

    /// `format` with the default options.
    pub fn new(format: FileFormat) -> Self {
        RecordFormat {
            format,
            ignore_parse_errors: false,
            max_record_bytes: Self::DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// A push decoder of one format: bytes in, batches of up to `batch_size` rows out.
// One per file being read; its size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Decoder {
    /// CSV; timestamp, array and row columns are read as text and parsed by
    /// [`parse_text_columns`] into the table's schema, `SchemaRef`.
    Csv(arrow::csv::reader::Decoder, SchemaRef),
    /// JSON; binary strings and timestamps are read as text and parsed into the table's
    /// schema, `SchemaRef`, by [`parse_json_text`].
    Json(JsonLines, SchemaRef),
    /// Change events: the JSON envelope, unnested into rows of the table's schema and
    /// their change kinds.
    Changelog(changelog::Events),
    Raw(RawLines),
}

impl Decoder {
    pub(crate) fn new(
        format: FileFormat,
        schema: SchemaRef,
        batch_size: usize,
    ) -> Result<Decoder, ArrowError> {
        Ok(match format {
            FileFormat::Csv => {
                let text = Schema::new(
                    schema
                        .fields()
                        .iter()
                        .map(|f| match read_as_text(f.data_type()) {
                            true => Field::new(f.name(), DataType::Utf8, true),
                            false => f.as_ref().clone(),
                        })
                        .collect::<Vec<_>>(),
                );
                let decoder = arrow::csv::ReaderBuilder::new(Arc::new(text))
                    .with_batch_size(batch_size)
                    .build_decoder();
                Decoder::Csv(decoder, schema)
            }
            FileFormat::Json => Decoder::Json(JsonLines::new(&schema, batch_size)?, schema),
            FileFormat::Debezium { .. } | FileFormat::Canal | FileFormat::Maxwell => {
                Decoder::Changelog(changelog::Events::new(format, &schema, batch_size)?)
            }
            FileFormat::Raw => Decoder::Raw(RawLines {
                lines: BinaryBuilder::new(),
                batch_size,
                schema,
            }),
        })
    }

    /// Consumes bytes until a batch is full or `buf` is used up; returns the bytes consumed.
    pub(crate) fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        without_panics(|| match self {
            Decoder::Csv(d, _) => d.decode(buf),
            Decoder::Json(d, _) => d.decode(buf),
            Decoder::Changelog(events) => events.decode(buf),
            Decoder::Raw(lines) => Ok(lines.decode(buf)),
        })
    }

    /// Whether its JSON decoder has fallen back to arrow's, on a record its own does not read
    /// (and so reads on more slowly).
    pub(crate) fn fell_back(&self) -> bool {
        match self {
            Decoder::Json(d, _) => d.fell_back(),
            Decoder::Changelog(events) => events.fell_back(),
            Decoder::Csv(..) | Decoder::Raw(_) => false,
        }
    }

    /// The rows decoded since the last flush.
    pub(crate) fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        without_panics(|| match self {
            Decoder::Csv(d, schema) => d
                .flush()?
                .map(|b| empty_csv_fields(parse_text_columns(b, schema)?))
                .transpose(),
            Decoder::Json(d, schema) => d.flush()?.map(|b| parse_json_text(b, schema)).transpose(),
            Decoder::Changelog(events) => events.flush(),
            Decoder::Raw(lines) => lines.flush(),
        })
    }
}

/// The `raw` format's decoder: each line is a value of the table's one column.
pub(crate) struct RawLines {
    lines: BinaryBuilder,
    batch_size: usize,
    schema: SchemaRef,
}

impl RawLines {
    fn decode(&mut self, buf: &[u8]) -> usize {
        let mut consumed = 0;
        while consumed < buf.len() && self.lines.len() < self.batch_size {
            let rest = &buf[consumed..];
            let (line, len) = match memchr::memchr(b'\n', rest) {
                Some(end) => (&rest[..end], end + 1),
                None => (rest, rest.len()),
            };
            self.lines
                .append_value(line.strip_suffix(b"\r").unwrap_or(line));
            consumed += len;
        }
        consumed
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        if self.lines.is_empty() {
            return Ok(None);
        }
        let text = StringArray::try_from_binary(self.lines.finish())?;
        RecordBatch::try_new(self.schema.clone(), vec![Arc::new(text)]).map(Some)
    }
}

thread_local! {
    /// Set while arrow decodes input: a panic there is bad input, not a bug to print.
    static DECODING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs arrow's decoding, turning a panic into an error. Arrow's parsers have panicked on
/// input (a DECIMAL of over 255 digits overflows a digit counter; overflow checks are on
/// for arrow-cast even in release builds, so that it panics rather than read a wrong value):
/// such a row is malformed, like any other the decoder refuses.
fn without_panics<T>(decode: impl FnOnce() -> Result<T, ArrowError>) -> Result<T, ArrowError> {
    static QUIET_HOOK: std::sync::Once = std::sync::Once::new();
    QUIET_HOOK.call_once(|| {
        let print = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !DECODING.with(|d| d.get()) {
                print(info);
            }
        }));
    });
    DECODING.with(|d| d.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode));
    DECODING.with(|d| d.set(false));
    result.unwrap_or_else(|panic| {
        Err(ArrowError::ParseError(format!(
            "the decoder failed ({})",
            panic_message(panic.as_ref())
        )))
    })
}

/// What a panic said.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Whether CSV fields of `data_type` are read as text first, and parsed by [`from_text`].
fn read_as_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Timestamp(..)
            | DataType::List(_)
            | DataType::Struct(_)
            | DataType::Binary
            | DataType::Boolean
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(..)
            | DataType::Date32
            | DataType::Time32(_)
    )
}

/// The type arrow's JSON decoder reads values of `data_type` as, inside rows and arrays too:
/// binary strings as text, for Flink's json format writes them in Base64 (arrow's reads hex);
/// timestamps as text, for rill's parser of Flink's form is far faster than arrow's, and Flink
/// reads no number as a timestamp; decimals as text, for Flink rounds them half up (arrow
/// truncates) and reads NULL for one too large (arrow fails); dates, times, booleans and
/// floating-point numbers as text, read by Flink's rules (arrow reads a number as a date, no
/// text as a boolean, and `inf` but not Java's `1.5f` as a number).
fn json_read_type(data_type: &DataType) -> DataType {
    let field = |f: &Field| f.clone().with_data_type(json_read_type(f.data_type()));
    match data_type {
        DataType::Binary
        | DataType::Timestamp(..)
        | DataType::Decimal128(..)
        | DataType::Date32
        | DataType::Time32(_)
        | DataType::Boolean
        | DataType::Float32
        | DataType::Float64 => DataType::Utf8,
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| field(f)).collect()),
        DataType::List(item) => DataType::List(Arc::new(field(item))),
        DataType::Map(entries, sorted) => DataType::Map(Arc::new(field(entries)), *sorted),
        other => other.clone(),
    }
}

/// A decoder of JSON objects into rows of `schema`, read as [`json_read_type`]s: rill's
/// direct decoder ([`json_direct`]) while it reads them, arrow's from the first record it
/// does not read on. A number or boolean read as text gives its JSON text, as Flink reads one
/// into a STRING.
pub(crate) struct JsonLines {
    direct: Option<Direct>,
    /// The direct decoder reads the schema: it was there at the start.
    reads_directly: bool,
    /// The direct decoder stopped at a record it does not read: arrow's reads on once the
    /// direct decoder's rows are flushed.
    stopped: bool,
    arrow: arrow::json::reader::Decoder,
}

impl JsonLines {
    pub(crate) fn new(schema: &SchemaRef, batch_size: usize) -> Result<JsonLines, ArrowError> {
        let read = json_read_schema(schema);
        let direct = Direct::new(&read, batch_size);
        Ok(JsonLines {
            reads_directly: direct.is_some(),
            direct,
            stopped: false,
            arrow: arrow_json_decoder(read, batch_size)?,
        })
    }

    /// Consumes bytes until a batch is full or `buf` is used up; returns the bytes consumed.
    pub(crate) fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        if self.stopped {
            // The direct decoder's rows are flushed first: until then, as with a full batch,
            // no byte is taken.
            return Ok(0);
        }
        let Some(direct) = self.direct.as_mut() else {
            return self.arrow.decode(buf);
        };
        let (consumed, stop) = direct.decode(buf);
        if stop == Stop::Done {
            return Ok(consumed);
        }
        if direct.rows() > 0 {
            self.stopped = true;
            return Ok(consumed);
        }
        self.direct = None;
        Ok(consumed + self.arrow.decode(&buf[consumed..])?)
    }

    /// The rows decoded since the last flush, in the types [`json_read_type`] gives.
    pub(crate) fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        let batch = self.direct.as_mut().and_then(Direct::flush);
        if self.stopped {
            (self.direct, self.stopped) = (None, false);
        }
        match batch {
            Some(batch) => Ok(Some(batch)),
            None => self.arrow.flush(),
        }
    }

    /// Whether records are still read by the direct decoder.
    #[cfg(test)]
    fn direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Whether arrow's decoder reads on where the direct decoder stopped.
    pub(crate) fn fell_back(&self) -> bool {
        self.reads_directly && self.direct.is_none()
    }
}

/// `schema` with each column's type the [`json_read_type`] of its own.
fn json_read_schema(schema: &SchemaRef) -> SchemaRef {
    let fields = (schema.fields().iter()).map(|f| {
        f.as_ref()
            .clone()
            .with_data_type(json_read_type(f.data_type()))
    });
    Arc::new(Schema::new(fields.collect::<Vec<_>>()))
}

/// Arrow's JSON decoder of rows of `read` (a [`json_read_schema`]).
fn arrow_json_decoder(
    read: SchemaRef,
    batch_size: usize,
) -> Result<arrow::json::reader::Decoder, ArrowError> {
    arrow::json::ReaderBuilder::new(read)
        .with_batch_size(batch_size)
        .with_coerce_primitive(true)
        .build_decoder()
}

/// The columns of `batch`, read as [`json_read_type`]s, parsed into `schema`'s types.
fn parse_json_text(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch);
    }
    let columns = (batch.columns().iter().zip(schema.fields()))
        .map(|(column, field)| from_json_text(column, field.data_type()))
        .collect::<Result<_, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}

/// A column read as [`json_read_type`] of `data_type`, parsed into `data_type`.
fn from_json_text(column: &ArrayRef, data_type: &DataType) -> Result<ArrayRef, ArrowError> {
    if column.data_type() == data_type {
        return Ok(column.clone());
    }
    match data_type {
        DataType::Binary => {
            let text = column.as_string::<i32>();
            from_base64(text.len(), |row| {
                text.is_valid(row).then(|| text.value(row))
            })
        }
        DataType::Timestamp(..) => parse_timestamps(column.as_string::<i32>(), data_type, false),
        // A JSON boolean or number is its text here, and reads back as itself.
        DataType::Decimal128(..)
        | DataType::Date32
        | DataType::Time32(_)
        | DataType::Boolean
        | DataType::Float32
        | DataType::Float64 => parse_scalars(column.as_string::<i32>(), data_type, Dialect::Json),
        DataType::Struct(fields) => {
            let row = column.as_struct();
            let columns = (row.columns().iter().zip(fields))
                .map(|(c, f)| from_json_text(c, f.data_type()))
                .collect::<Result<_, _>>()?;
            let nulls = row.nulls().cloned();
            Ok(Arc::new(StructArray::try_new(
                fields.clone(),
                columns,
                nulls,
            )?))
        }
        DataType::List(item) => {
            let list = column.as_list::<i32>();
            let values = from_json_text(list.values(), item.data_type())?;
            let (offsets, nulls) = (list.offsets().clone(), list.nulls().cloned());
            Ok(Arc::new(ListArray::try_new(
                item.clone(),
                offsets,
                values,
                nulls,
            )?))
        }
        DataType::Map(entries, sorted) => {
            let map = column.as_map();
            let read: ArrayRef = Arc::new(map.entries().clone());
            let parsed = from_json_text(&read, entries.data_type())?;
            Ok(Arc::new(MapArray::try_new(
                entries.clone(),
                map.offsets().clone(),
                parsed.as_struct().clone(),
                map.nulls().cloned(),
                *sorted,
            )?))
        }
        _ => Ok(column.clone()),
    }
}

/// Timestamps as text (CSV fields `trimmed` first) parsed into `data_type` as Flink reads them
/// ([`timestamp::parse_column`]).
fn parse_timestamps(
    text: &StringArray,
    data_type: &DataType,
    trimmed: bool,
) -> Result<ArrayRef, ArrowError> {
    let DataType::Timestamp(unit, zone) = data_type else {
        unreachable!("a timestamp type");
    };
    match timestamp::parse_column(text, *unit, trimmed, zone.is_some()) {
        // Reinterprets the integers as timestamps, without a copy.
        Ok(values) => arrow::compute::cast(&values, data_type),
        Err(value) => Err(ArrowError::ParseError(format!(
            "'{value}' is no {} ('yyyy-MM-dd HH:mm:ss[.S...]{}')",
            sql_type_name(data_type),
            if zone.is_some() { "Z" } else { "" }
        ))),
    }
}

/// Scalars as text (NULL stays NULL) parsed into `data_type` as Flink's format `dialect`
/// reads them: BOOLEAN as Java's parseBoolean (anything but `true` in any case is false),
/// FLOAT and DOUBLE as Java ([`parse_java_float`]: `1.5f` too, but not `inf`), DECIMAL as
/// Java's BigDecimal rounded half up, NULL when too large ([`parse_java_decimal`]), DATE and
/// TIME by [`date_time`].
fn parse_scalars(
    text: &StringArray,
    data_type: &DataType,
    dialect: Dialect,
) -> Result<ArrayRef, ArrowError> {
    /// A value read, or none.
    fn number<T>(value: Option<T>) -> Result<Option<T>, NotANumber> {
        value.map(Some).ok_or(NotANumber)
    }
    Ok(match data_type {
        DataType::Boolean => {
            Arc::new((text.iter().map(|v| v.map(parse_java_boolean))).collect::<BooleanArray>())
        }
        // Flink's json format reads a FLOAT as a double made a float (which rounds twice),
        // its csv format as Java's `Float.parseFloat`.
        DataType::Float32 => Arc::new(parse_each::<Float32Type>(text, data_type, |v| {
            number(match dialect {
                Dialect::Json => parse_java_float::<f64>(v).map(|d| d as f32),
                Dialect::Csv => parse_java_float(v),
            })
        })?),
        DataType::Float64 => Arc::new(parse_each::<Float64Type>(text, data_type, |v| {
            number(parse_java_float(v))
        })?),
        DataType::Decimal128(precision, scale) => {
            let values = parse_each::<Decimal128Type>(text, data_type, |v| {
                parse_java_decimal(v, *precision, *scale)
            })?;
            Arc::new(values.with_precision_and_scale(*precision, *scale)?)
        }
        DataType::Date32 => Arc::new(parse_each::<Date32Type>(text, data_type, |v| {
            number(date_time::date(v.as_bytes(), dialect))
        })?),
        // In milliseconds, then in `data_type`'s unit (TIME(0) drops the fraction).
        _ => {
            let millis = parse_each::<Time32MillisecondType>(text, data_type, |v| {
                number(date_time::time_of_day(v.as_bytes(), dialect))
            })?;
            arrow::compute::cast(&millis, data_type)?
        }
    })
}

/// Each value of `text` read by `parse` (NULL stays NULL, as does a value `parse` reads as
/// NULL); the first that is no value of `data_type` is the error.
fn parse_each<T: ArrowPrimitiveType>(
    text: &StringArray,
    data_type: &DataType,
    parse: impl Fn(&str) -> Result<Option<T::Native>, NotANumber>,
) -> Result<PrimitiveArray<T>, ArrowError> {
    (text.iter())
        .map(|value| match value {
            None => Ok(None),
            Some(v) => parse(v).map_err(|_| {
                ArrowError::ParseError(format!("'{v}' is no {}", sql_type_name(data_type)))
            }),
        })
        .collect()
}

/// Arrow's cast, failing on a value it cannot convert (not making it NULL).
fn strict() -> CastOptions<'static> {
    CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    }
}

/// The binary strings `text` gives for rows `0..rows` in Base64 (NULL for `None`), as Flink's
/// csv and json formats write them.
fn from_base64<'a>(
    rows: usize,
    text: impl Fn(usize) -> Option<&'a str>,
) -> Result<ArrayRef, ArrowError> {
    use base64::Engine;
    let mut out = BinaryBuilder::with_capacity(rows, rows * 16);
    let mut bytes = Vec::new();
    for row in 0..rows {
        let Some(value) = text(row) else {
            out.append_null();
            continue;
        };
        bytes.clear();
        base64::engine::general_purpose::STANDARD
            .decode_vec(value, &mut bytes)
            .map_err(|e| ArrowError::ParseError(format!("'{value}' is not Base64: {e}")))?;
        out.append_value(&bytes);
    }
    Ok(Arc::new(out.finish()))
}

/// The columns of `batch` read as text, parsed into their types in `schema`.
fn parse_text_columns(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let mut columns = batch.columns().to_vec();
    for (column, field) in columns.iter_mut().zip(schema.fields()) {
        if read_as_text(field.data_type()) {
            *column = from_text(column.as_string::<i32>(), field.data_type())?;
        }
    }
    RecordBatch::try_new(schema.clone(), columns)
}

/// CSV fields as text, parsed into `data_type`, as Flink's `csv` format reads them:
/// * a timestamp: by [`parse_timestamps`];
/// * an array: its elements joined by `;`, an empty field being an empty array;
/// * a row: its fields joined by `;` (those past the row's are ignored, too few is an
///   error), an empty field being NULL;
/// * a binary string: Base64, an empty field being empty;
/// * anything else by arrow's cast, which fails on what is no value of the type.
fn from_text(text: &StringArray, data_type: &DataType) -> Result<ArrayRef, ArrowError> {
    // Arrow keeps "" under a NULL of a string array; Flink reads an empty field as "".
    let field = |row: usize| {
        if text.is_null(row) {
            ""
        } else {
            text.value(row)
        }
    };
    match data_type {
        DataType::Timestamp(..) => parse_timestamps(text, data_type, true),
        DataType::Binary => from_base64(text.len(), |row| Some(field(row))),
        // An empty field is false, as Java reads it; a NULL here is the field of a NULL row
        // (`empty_csv_fields` makes an empty column's false).
        DataType::Boolean
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(..)
        | DataType::Date32
        | DataType::Time32(_) => parse_scalars(text, data_type, Dialect::Csv),
        DataType::List(item) => {
            let mut items = StringBuilder::new();
            let mut offsets = Vec::with_capacity(text.len() + 1);
            offsets.push(0);
            for row in 0..text.len() {
                let value = field(row);
                if !value.is_empty() {
                    value.split(';').for_each(|v| items.append_value(v));
                }
                offsets.push(i32::try_from(items.len()).map_err(|_| {
                    ArrowError::CsvError("too many array elements in one batch".into())
                })?);
            }
            let items = from_text(&items.finish(), item.data_type())?;
            let offsets = OffsetBuffer::new(offsets.into());
            Ok(Arc::new(ListArray::try_new(
                item.clone(),
                offsets,
                items,
                None,
            )?))
        }
        DataType::Struct(fields) => {
            let mut parts: Vec<StringBuilder> =
                fields.iter().map(|_| StringBuilder::new()).collect();
            let mut present = BooleanBufferBuilder::new(text.len());
            for row in 0..text.len() {
                let value = field(row);
                present.append(!value.is_empty());
                let mut values = value.split(';');
                for (k, part) in parts.iter_mut().enumerate() {
                    match values.next() {
                        _ if value.is_empty() => part.append_null(),
                        Some(v) => part.append_value(v),
                        None => {
                            return Err(ArrowError::CsvError(format!(
                                "a row of {} fields has {k} in '{value}'",
                                fields.len()
                            )));
                        }
                    }
                }
            }
            let columns = parts
                .iter_mut()
                .zip(fields)
                .map(|(part, f)| from_text(&part.finish(), f.data_type()))
                .collect::<Result<Vec<_>, _>>()?;
            let nulls = NullBuffer::new(present.finish());
            Ok(Arc::new(StructArray::try_new(
                fields.clone(),
                columns,
                Some(nulls),
            )?))
        }
        _ => cast_with_options(text, data_type, &strict()),
    }
}

/// Flink reads an empty CSV field as an empty string, never as NULL, as false for a BOOLEAN,
/// and fails on an empty number (but reads an empty row as NULL). Arrow reads empty fields as
/// NULL; its string arrays keep `""` under the NULL bit, so dropping the null buffer gives
/// Flink's strings for free.
fn empty_csv_fields(batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
    if batch.columns().iter().all(|c| c.null_count() == 0) {
        return Ok(batch);
    }
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (column, field) in batch.columns().iter().zip(batch.schema().fields()) {
        // An empty row field is NULL (see `from_text`).
        if column.null_count() == 0 || matches!(field.data_type(), DataType::Struct(_)) {
            columns.push(column.clone());
        } else if let Some(strings) = column.as_string_opt::<i32>() {
            let (offsets, values, _) = strings.clone().into_parts();
            columns.push(Arc::new(StringArray::new(offsets, values, None)) as ArrayRef);
        } else if let Some(booleans) = column.as_boolean_opt() {
            let values = booleans.values() & booleans.nulls().expect("nulls").inner();
            columns.push(Arc::new(BooleanArray::new(values, None)) as ArrayRef);
        } else {
            return Err(ArrowError::CsvError(format!(
                "empty value for column {} of type {}",
                field.name(),
                sql_type_name(field.data_type())
            )));
        }
    }
    RecordBatch::try_new(batch.schema(), columns)
}

/// What a record read on its own gave.
pub(crate) enum Record {
    /// Its rows.
    Rows(RecordBatch),
    /// With ignore-parse-errors, a malformed record's row, NULL where it could not be read,
    /// and which values those are.
    Nulled(RecordBatch, String),
    /// Why the record is malformed; it gives no row.
    Malformed(String),
}

/// Reads records one at a time (the lines of a batch that failed to decode, messages): the
/// good ones, and with ignore-parse-errors the malformed ones as Flink reads them.
pub(crate) struct RecordByRecord {
    reader: RecordReader,
    /// Reads what the decoder does not as Flink does: with ignore-parse-errors, or for JSON,
    /// whose objects and arrays in STRING columns only it reads.
    nulling: Option<NullingReader>,
    ignore_parse_errors: bool,
}

impl RecordByRecord {
    pub(crate) fn new(records: RecordFormat, schema: SchemaRef) -> Self {
        let nulling = records.ignore_parse_errors || records.format.is_json();
        RecordByRecord {
            reader: RecordReader::new(records.format, schema.clone()),
            nulling: nulling.then(|| NullingReader::new(records.format, schema)),
            ignore_parse_errors: records.ignore_parse_errors,
        }
    }

    pub(crate) fn read(&mut self, record: &[u8]) -> Record {
        let error = match self.reader.read(record) {
            Ok(rows) => return Record::Rows(rows),
            Err(error) => error,
        };
        match self.nulling.as_mut().and_then(|n| n.read(record)) {
            Some((row, nulled)) if nulled.is_empty() => Record::Rows(row),
            Some((row, nulled)) if self.ignore_parse_errors => {
                Record::Nulled(row, format!("{}; read as NULL", nulled.join("; ")))
            }
            _ => Record::Malformed(self.reader.explain(record, &error)),
        }
    }
}

/// Decodes records one at a time. Its decoder is kept while records decode (building one
/// costs more than decoding a line) and replaced after an error.
pub(crate) struct RecordReader {
    format: FileFormat,
    schema: SchemaRef,
    decoder: Option<Decoder>,
    /// The record being read, with a line end.
    text: Vec<u8>,
    /// Records are whole CSV records (not cut inside a quoted field).
    whole: bool,
}

impl RecordReader {
    /// Rows a record may give before they are handed on in a second batch.
    const BATCH_ROWS: usize = 16;

    pub(crate) fn new(format: FileFormat, schema: SchemaRef) -> Self {
        RecordReader {
            format,
            schema,
            decoder: None,
            text: Vec::new(),
            whole: false,
        }
    }

    /// A reader of CSV records known to be whole.
    pub(crate) fn of_whole_records(mut self) -> Self {
        self.whole = true;
        self
    }

    /// The rows of `record` (usually one; none for a change event that changes nothing).
    pub(crate) fn read(&mut self, record: &[u8]) -> Result<RecordBatch, ArrowError> {
        let decoder = match &mut self.decoder {
            Some(decoder) => decoder,
            None => (self.decoder).insert(Decoder::new(
                self.format,
                self.schema.clone(),
                Self::BATCH_ROWS,
            )?),
        };
        self.text.clear();
        self.text.extend_from_slice(record);
        self.text.push(b'\n');
        let mut batches = Vec::new();
        let mut at = 0;
        // Whether the decoder is fit for the next record after an error: a CSV decoder that
        // failed to parse the fields of a whole record has let go of them.
        let whole = self.whole || !record.contains(&b'"');
        let reusable = self.format == FileFormat::Csv && whole;
        let read = loop {
            let consumed = match decoder.decode(&self.text[at..]) {
                Ok(consumed) => consumed,
                Err(e) => break Err((e, false)),
            };
            at += consumed;
            // The decoder stops at the end, or when its batch is full.
            match decoder.flush() {
                Ok(Some(batch)) => batches.push(batch),
                Ok(None) if consumed == 0 && at < self.text.len() => {
                    let e = ArrowError::ParseError("the record cannot be decoded".into());
                    break Err((e, false));
                }
                Ok(None) => {}
                Err(e) => break Err((e, reusable)),
            }
            if at == self.text.len() {
                break Ok(());
            }
        };
        if let Err((e, reusable)) = read {
            if !reusable {
                self.decoder = None;
            }
            return Err(e);
        }
        let schema = self.format.decoded_schema(&self.schema);
        arrow::compute::concat_batches(&schema, &batches)
    }

    /// Why `record` failed to decode with `error`: for CSV, the column and value it fails on.
    fn explain(&self, record: &[u8], error: &ArrowError) -> String {
        let mut line = record.to_vec();
        line.push(b'\n');
        match self.format {
            FileFormat::Csv => explain_csv_error(&self.schema, &line),
            _ => None,
        }
        .unwrap_or_else(|| clean(error))
    }
}

/// Names the column and value a CSV line fails on, by reading the line as text and casting
/// each field to its column's type.
fn explain_csv_error(schema: &SchemaRef, line: &[u8]) -> Option<String> {
    let text_schema = Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    let mut decoder = Decoder::new(FileFormat::Csv, text_schema.into(), 1).ok()?;
    let text = match decoder.decode(line).and_then(|_| decoder.flush()) {
        Ok(Some(batch)) => batch,
        Ok(None) => return None,
        Err(e) => return Some(clean(&e)),
    };
    schema
        .fields()
        .iter()
        .zip(text.columns())
        .find_map(|(field, column)| {
            let column = column.as_string::<i32>();
            from_text(column, field.data_type()).err().map(|_| {
                format!(
                    "cannot read '{}' as {} for column {}",
                    column.value(0),
                    sql_type_name(field.data_type()),
                    field.name()
                )
            })
        })
}

/// An arrow error message without its "Parser error: " style prefix.
fn clean(e: &ArrowError) -> String {
    let text = e.to_string();
    let text = text
        .strip_prefix("Csv error: ")
        .or_else(|| text.strip_prefix("Json error: "))
        .or_else(|| text.strip_prefix("Parser error: "))
        .unwrap_or(&text);
    text.trim().to_string()
}
