//! Output formats: rows of change batches written as CSV, JSON lines, a tableau or a
//! changelog, in the same text as the Flink oracle.

use std::fmt::Write as _;
use std::io::Write;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Fields, SchemaRef};

use super::value::{ValueFormatter, entries};
use crate::batch::ChangeBatch;

/// How rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// RFC-4180 CSV, as the Flink oracle writes it.
    Csv,
    /// Flink's `csv` format, as its filesystem and Kafka connectors write it: Java's text of
    /// numbers, and fields quoted as Jackson's CSV writer quotes them.
    FlinkCsv,
    /// One JSON object per row.
    Json,
    /// A bordered table, printed row by row as rows arrive (Flink's tableau mode).
    Table,
    /// CSV with the change kind (`+I`, `-U`, `+U`, `-D`) as first column `op`.
    Changelog,
    /// Flink's `print` connector: `+I[v1, v2]`, NULL as `null`.
    Print,
    /// Debezium change events (`{"before":..,"after":..,"op":"c"|"d"}`), as Flink's
    /// `debezium-json` format writes an updating result.
    DebeziumJson,
    /// The text of the one column, as it is (Flink's `raw`).
    Raw,
}

impl OutputFormat {
    /// The format called `name` (`csv`, `json`, `table`/`tableau`, `changelog`).
    pub fn from_name(name: &str) -> Option<OutputFormat> {
        Some(match name.to_ascii_lowercase().as_str() {
            "csv" => OutputFormat::Csv,
            "json" => OutputFormat::Json,
            "table" | "tableau" => OutputFormat::Table,
            "changelog" => OutputFormat::Changelog,
            _ => return None,
        })
    }
}

/// Widest a table column grows before values are cut with `...`, unless a terminal's width
/// says otherwise ([`RowWriter::fit_width`]).
const MAX_TABLE_WIDTH: usize = 40;

/// Renders rows of one schema in one format into text lines.
pub struct RowWriter {
    format: OutputFormat,
    schema: SchemaRef,
    header: bool,
    /// Whether a table shows each row's change kind in a first column `op`.
    ops: bool,
    /// The width of the terminal a table must fit in, if any.
    fit: Option<usize>,
    /// Table column widths, fixed when the first rows arrive.
    widths: Option<Vec<usize>>,
    /// Which table columns align right (numbers).
    numeric: Vec<bool>,
    line: String,
    field: String,
}

impl RowWriter {
    /// A writer of rows of `schema`; `header` prints the column names first (always on for
    /// tables).
    pub fn new(format: OutputFormat, schema: SchemaRef, header: bool) -> Self {
        let numeric = schema
            .fields()
            .iter()
            .map(|f| f.data_type().is_numeric())
            .collect();
        RowWriter {
            format,
            schema,
            header,
            ops: format == OutputFormat::Changelog,
            fit: None,
            widths: None,
            numeric,
            line: String::new(),
            field: String::new(),
        }
    }

    /// A table that shows each row's change kind in a first column `op` (for updating
    /// results, like Flink's tableau mode).
    pub fn with_ops(mut self) -> Self {
        if !self.ops {
            self.ops = true;
            self.numeric.insert(0, false);
        }
        self
    }

    /// A table that fits in `columns` characters of a terminal: the widest columns give way
    /// first, down to 8 characters.
    pub fn fit_width(mut self, columns: usize) -> Self {
        self.fit = Some(columns);
        self
    }

    /// Column names, with `op` first for changelogs.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::with_capacity(self.schema.fields().len() + 1);
        if self.ops {
            names.push("op".into());
        }
        names.extend(self.schema.fields().iter().map(|f| f.name().clone()));
        names
    }

    /// Writes the header (CSV/changelog with `header`, always for tables) and fixes table
    /// widths from `first` rows.
    pub fn begin(
        &mut self,
        out: &mut dyn Write,
        first: Option<&ChangeBatch>,
    ) -> std::io::Result<()> {
        match self.format {
            OutputFormat::Csv | OutputFormat::Changelog if self.header => {
                let names = self.names();
                let fields = names.iter().map(|n| Some(n.as_str()));
                self.line.clear();
                push_csv_record(&mut self.line, fields);
                out.write_all(self.line.as_bytes())?;
            }
            OutputFormat::Table => {
                let widths = self.table_widths(first);
                let names = self.names();
                let rule = table_rule(&widths);
                self.line.clear();
                self.line.push_str(&rule);
                push_table_row(
                    &mut self.line,
                    &widths,
                    names.iter().map(|s| s.as_str()),
                    &[],
                );
                self.line.push_str(&rule);
                out.write_all(self.line.as_bytes())?;
                self.widths = Some(widths);
            }
            _ => {}
        }
        Ok(())
    }

    fn table_widths(&self, first: Option<&ChangeBatch>) -> Vec<usize> {
        let names = self.names();
        let mut widths: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
        let offset = usize::from(self.ops);
        if offset == 1 {
            widths[0] = widths[0].max(2);
        }
        for (i, field) in self.schema.fields().iter().enumerate() {
            let typical = match field.data_type() {
                DataType::Timestamp(..) => 23,
                DataType::Boolean => 5,
                _ => 0,
            };
            widths[i + offset] = widths[i + offset].max(typical);
        }
        if let Some(batch) = first {
            let mut text = String::new();
            for (i, column) in batch.data.columns().iter().enumerate() {
                let f = ValueFormatter::new(column);
                for row in 0..batch.num_rows() {
                    text.clear();
                    f.write(&mut text, row);
                    let w = if f.is_null(row) {
                        4
                    } else {
                        text.chars().count()
                    };
                    widths[i + offset] = widths[i + offset].max(w.min(MAX_TABLE_WIDTH));
                }
            }
        }
        if let Some(columns) = self.fit {
            // A row takes each width plus three characters of padding and border, plus one.
            loop {
                let used = 1 + widths.iter().map(|w| w + 3).sum::<usize>();
                let widest = (0..widths.len()).max_by_key(|i| widths[*i]);
                match widest {
                    Some(i) if used > columns && widths[i] > 8 => {
                        widths[i] = widths[i].saturating_sub(used - columns).max(8);
                    }
                    _ => break,
                }
            }
        }
        widths
    }

    /// Writes row `row` of `batch` as a JSON object, a member per column.
    fn push_json_object(&mut self, batch: &ChangeBatch, row: usize) {
        let fields = self.schema.fields();
        push_json_members(
            &mut self.line,
            &mut self.field,
            fields,
            batch.data.columns(),
            row,
        );
    }

    /// Writes the rows of `batch`.
    pub fn write_batch(&mut self, out: &mut dyn Write, batch: &ChangeBatch) -> std::io::Result<()> {
        let formatters = Self::formatters(batch);
        self.line.clear();
        for row in 0..batch.num_rows() {
            self.push_row(&formatters, batch, row);
        }
        out.write_all(self.line.as_bytes())
    }

    /// Encodes each row of `batch` on its own (for a log's messages), without a line end.
    pub fn encode_rows(&mut self, batch: &ChangeBatch, mut each: impl FnMut(usize, &[u8])) {
        let formatters = Self::formatters(batch);
        for row in 0..batch.num_rows() {
            self.line.clear();
            self.push_row(&formatters, batch, row);
            each(
                row,
                self.line
                    .strip_suffix('\n')
                    .unwrap_or(&self.line)
                    .as_bytes(),
            );
        }
    }

    fn formatters(batch: &ChangeBatch) -> Vec<ValueFormatter<'_>> {
        batch
            .data
            .columns()
            .iter()
            .map(ValueFormatter::new)
            .collect()
    }

    /// Appends the line of row `row`.
    fn push_row(&mut self, formatters: &[ValueFormatter], batch: &ChangeBatch, row: usize) {
        match self.format {
            OutputFormat::Csv | OutputFormat::Changelog => {
                let start = self.line.len();
                let changelog = self.format == OutputFormat::Changelog;
                if changelog {
                    self.line.push_str(batch.row_kind(row).short_name());
                }
                for (i, f) in formatters.iter().enumerate() {
                    if i > 0 || changelog {
                        self.line.push(',');
                    }
                    if !f.is_null(row) {
                        self.field.clear();
                        f.write_csv(&mut self.field, row);
                        push_csv_field(&mut self.line, &self.field);
                    }
                }
                if formatters.len() == 1 && !changelog && self.line.len() == start {
                    self.line.push_str("\"\"");
                }
                self.line.push('\n');
            }
            OutputFormat::FlinkCsv => {
                for (i, f) in formatters.iter().enumerate() {
                    if i > 0 {
                        self.line.push(',');
                    }
                    if f.is_null(row) {
                        continue;
                    }
                    let data_type = batch.data.column(i).data_type();
                    if data_type.is_numeric() || data_type == &DataType::Boolean {
                        f.write_flink_csv(&mut self.line, row);
                    } else {
                        self.field.clear();
                        f.write_flink_csv(&mut self.field, row);
                        push_jackson_csv_field(&mut self.line, &self.field);
                    }
                }
                self.line.push('\n');
            }
            OutputFormat::Print => {
                self.line.push_str(batch.row_kind(row).short_name());
                self.line.push('[');
                for (i, f) in formatters.iter().enumerate() {
                    if i > 0 {
                        self.line.push_str(", ");
                    }
                    if f.is_null(row) {
                        self.line.push_str("null");
                    } else {
                        f.write(&mut self.line, row);
                    }
                }
                self.line.push_str("]\n");
            }
            OutputFormat::Raw => {
                if let Some(f) = formatters.first().filter(|f| !f.is_null(row)) {
                    f.write(&mut self.line, row);
                }
                self.line.push('\n');
            }
            OutputFormat::Json => {
                self.push_json_object(batch, row);
                self.line.push('\n');
            }
            OutputFormat::DebeziumJson => {
                // Flink's encoding: +I and +U are creates, -U and -D deletes.
                if batch.row_kind(row).is_retraction() {
                    self.line.push_str("{\"before\":");
                    self.push_json_object(batch, row);
                    self.line.push_str(",\"after\":null,\"op\":\"d\"}\n");
                } else {
                    self.line.push_str("{\"before\":null,\"after\":");
                    self.push_json_object(batch, row);
                    self.line.push_str(",\"op\":\"c\"}\n");
                }
            }
            OutputFormat::Table => {
                let mut texts = Vec::with_capacity(formatters.len() + 1);
                if self.ops {
                    texts.push(batch.row_kind(row).short_name().to_string());
                }
                for f in formatters {
                    self.field.clear();
                    f.write(&mut self.field, row);
                    texts.push(if f.is_null(row) {
                        "NULL".to_string()
                    } else {
                        self.field.clone()
                    });
                }
                push_table_row(
                    &mut self.line,
                    self.widths.as_deref().unwrap_or_default(),
                    texts.iter().map(|s| s.as_str()),
                    &self.numeric,
                );
            }
        }
    }

    /// Closes the output (the table's bottom rule and row count).
    pub fn finish(&mut self, out: &mut dyn Write, rows: u64) -> std::io::Result<()> {
        if self.format == OutputFormat::Table {
            if self.widths.is_none() {
                self.begin(out, None)?;
            }
            let widths = self.widths.clone().unwrap_or_default();
            let plural = if rows == 1 { "" } else { "s" };
            write!(out, "{}{rows} row{plural} in set\n\n", table_rule(&widths))?;
        }
        out.flush()
    }
}

/// Appends one CSV record as Python's `csv.writer` writes it (minimal RFC-4180 quoting,
/// NULL as an empty field, a lone empty field as `""`).
fn push_csv_record<'a>(line: &mut String, fields: impl Iterator<Item = Option<&'a str>>) {
    let start = line.len();
    let mut count = 0;
    for field in fields {
        if count > 0 {
            line.push(',');
        }
        count += 1;
        if let Some(field) = field {
            push_csv_field(line, field);
        }
    }
    if count == 1 && line.len() == start {
        line.push_str("\"\"");
    }
    line.push('\n');
}

/// Appends a field, quoted when it holds a separator, a quote or a line break.
fn push_csv_field(line: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        push_quoted(line, field);
    } else {
        line.push_str(field);
    }
}

/// Appends a text field as Flink's csv format (Jackson's CSV writer) writes it: quoted when
/// longer than 24 UTF-16 units (Jackson checks no further) or when it holds a character
/// below `-` (a space, `,`, `"`, `#`, a line break, ...) or a backslash; empty unquoted.
fn push_jackson_csv_field(line: &mut String, field: &str) {
    const CHECKED_LENGTH: usize = 24;
    let long = field.len() > CHECKED_LENGTH && field.encode_utf16().count() > CHECKED_LENGTH;
    if long || field.bytes().any(|b| b < b'-' || b == b'\\') {
        push_quoted(line, field);
    } else {
        line.push_str(field);
    }
}

/// Appends `"field"`, its quotes doubled.
fn push_quoted(line: &mut String, field: &str) {
    line.push('"');
    for c in field.chars() {
        if c == '"' {
            line.push('"');
        }
        line.push(c);
    }
    line.push('"');
}

/// Appends `{"name":value,...}` of row `row` of `columns`, using `scratch` for values' text.
fn push_json_members(
    line: &mut String,
    scratch: &mut String,
    fields: &Fields,
    columns: &[ArrayRef],
    row: usize,
) {
    line.push('{');
    for (i, (field, column)) in fields.iter().zip(columns).enumerate() {
        if i > 0 {
            line.push(',');
        }
        push_json_string(line, field.name());
        line.push(':');
        push_json_value(line, scratch, column, row);
    }
    line.push('}');
}

/// Appends row `row` of `column` as JSON, as Flink's json format writes it: a row as a
/// nested object, an array as an array, a map as an object of its keys' text.
fn push_json_value(line: &mut String, scratch: &mut String, column: &ArrayRef, row: usize) {
    if column.is_null(row) {
        line.push_str("null");
        return;
    }
    match column.data_type() {
        DataType::Struct(fields) => {
            push_json_members(line, scratch, fields, column.as_struct().columns(), row)
        }
        DataType::List(_) => {
            let list = column.as_list::<i32>();
            line.push('[');
            for (k, item) in entries(list.value_offsets(), row).enumerate() {
                if k > 0 {
                    line.push(',');
                }
                push_json_value(line, scratch, list.values(), item);
            }
            line.push(']');
        }
        DataType::Map(..) => {
            let map = column.as_map();
            let keys = ValueFormatter::new(map.keys());
            line.push('{');
            for k in entries(map.value_offsets(), row) {
                if k > map.value_offsets()[row] as usize {
                    line.push(',');
                }
                scratch.clear();
                keys.write(scratch, k);
                push_json_string(line, scratch);
                line.push(':');
                push_json_value(line, scratch, map.values(), k);
            }
            line.push('}');
        }
        data_type => {
            scratch.clear();
            ValueFormatter::new(column).write_json(scratch, row);
            if json_bare(data_type, scratch) {
                line.push_str(scratch);
            } else {
                push_json_string(line, scratch);
            }
        }
    }
}

fn json_bare(data_type: &DataType, text: &str) -> bool {
    match data_type {
        DataType::Boolean => true,
        DataType::Float32 | DataType::Float64 => !matches!(text, "NaN" | "Infinity" | "-Infinity"),
        t => t.is_integer() || matches!(t, DataType::Decimal128(..)),
    }
}

/// Appends `s` as a JSON string literal as Jackson (so Flink's json format and JSON functions)
/// writes one: `"` and `\` escaped, control characters as `\b`, `\t`, `\n`, `\f`, `\r` or
/// `\u00XX`, all else as it is.
pub fn push_json_string(line: &mut String, s: &str) {
    line.push('"');
    for c in s.chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            '\u{8}' => line.push_str("\\b"),
            '\u{c}' => line.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(line, "\\u{:04X}", c as u32);
            }
            c => line.push(c),
        }
    }
    line.push('"');
}

fn table_rule(widths: &[usize]) -> String {
    let mut rule = String::from("+");
    for w in widths {
        rule.push_str(&"-".repeat(w + 2));
        rule.push('+');
    }
    rule.push('\n');
    rule
}

/// One table row; values wider than their column are cut with `...`; `numeric` columns are
/// right-aligned (an op column, if any, is not counted in `numeric`).
fn push_table_row<'a>(
    line: &mut String,
    widths: &[usize],
    values: impl Iterator<Item = &'a str>,
    numeric: &[bool],
) {
    line.push('|');
    let offset = widths.len().saturating_sub(numeric.len());
    for (i, (value, width)) in values.zip(widths).enumerate() {
        let len = value.chars().count();
        let text: String = if len > *width {
            value
                .chars()
                .take(width.saturating_sub(3))
                .chain("...".chars())
                .collect()
        } else {
            value.to_string()
        };
        let right = i >= offset && numeric.get(i - offset).copied().unwrap_or(false);
        if right {
            line.push_str(&format!(" {text:>width$} |"));
        } else {
            line.push_str(&format!(" {text:<width$} |"));
        }
    }
    line.push('\n');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{RecordBatch, StringArray};

    use super::*;

    #[test]
    fn a_table_fits_the_terminal_width() {
        let long = "x".repeat(60);
        let column = || Arc::new(StringArray::from(vec![long.as_str()])) as _;
        let data = RecordBatch::try_from_iter([("a", column()), ("b", column()), ("c", column())])
            .unwrap();
        let batch = ChangeBatch::inserts(data);
        let mut text = Vec::new();
        let mut writer =
            RowWriter::new(OutputFormat::Table, batch.data.schema(), true).fit_width(50);
        writer.begin(&mut text, Some(&batch)).unwrap();
        writer.write_batch(&mut text, &batch).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.lines().all(|l| l.chars().count() <= 50), "{text}");
        assert!(text.contains("..."), "long values are cut: {text}");
    }
}
