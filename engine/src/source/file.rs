//! The `filesystem` connector as a source: one file or a directory of files, CSV or JSON lines,
//! read in order, with event-time watermarks.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::decode::{Decoder, FileFormat, decode_line};
use super::{Source, SourceContext, WatermarkAssigner};
use crate::batch::{ChangeBatch, Message};
use crate::metrics::JobMetrics;
use crate::time::{MAX_WATERMARK, NO_WATERMARK, Watermark};
use crate::{EngineError, Result};

/// How much is read from a file at a time.
const READ_CHUNK: usize = 1 << 20;

/// Settings of a file source.
#[derive(Debug)]
pub struct FileSourceOptions {
    /// A file, or a directory whose visible files are read in name order.
    pub path: PathBuf,
    /// The format of the files.
    pub format: FileFormat,
    /// The table's columns, as stored in the files.
    pub schema: SchemaRef,
    /// Which columns the query uses (all when `None`).
    pub projection: Option<Vec<usize>>,
    /// Rows per batch.
    pub batch_size: usize,
    /// Skip (and count) malformed rows instead of failing the job.
    pub ignore_parse_errors: bool,
}

/// A bounded source over files.
pub struct FileSource {
    name: String,
    options: FileSourceOptions,
    files: Vec<PathBuf>,
    watermarks: Option<WatermarkAssigner>,
    sent_watermark: Watermark,
}

impl FileSource {
    /// A source for the table `name`; fails early when the path is missing or unreadable.
    pub fn new(
        name: impl Into<String>,
        options: FileSourceOptions,
        watermarks: Option<WatermarkAssigner>,
    ) -> Result<Self> {
        let files = list_files(&options.path)?;
        Ok(FileSource {
            name: name.into(),
            options,
            files,
            watermarks,
            sent_watermark: NO_WATERMARK,
        })
    }

    /// Turns decoded rows into the message sent downstream: projected, stamped with watermarks.
    fn emit(&mut self, data: RecordBatch, ctx: &SourceContext) -> Result<bool> {
        JobMetrics::add(&ctx.metrics.rows_in, data.num_rows() as u64);
        let mut batch = ChangeBatch::inserts(data);
        if let Some(assigner) = &mut self.watermarks {
            assigner.assign(&mut batch)?;
        }
        if let Some(projection) = &self.options.projection {
            batch = batch.with_data(batch.data.project(projection)?);
        }
        let mut sent = ctx.output.blocking_send(Message::Batch(batch));
        if let Some(assigner) = &self.watermarks {
            let watermark = assigner.current();
            if watermark > self.sent_watermark {
                self.sent_watermark = watermark;
                ctx.metrics.record_source_watermark(&self.name, watermark);
                sent = sent && ctx.output.blocking_send(Message::Watermark(watermark));
            }
        }
        Ok(sent && !ctx.cancelled.load(Ordering::Relaxed))
    }

    /// Reads one file; returns false when the job stopped.
    fn read_file(&mut self, path: &Path, ctx: &SourceContext) -> Result<bool> {
        let io_error = |source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(io_error)?;
        let (format, schema, batch_size) = (
            self.options.format,
            self.options.schema.clone(),
            self.options.batch_size,
        );
        let new_decoder = || Decoder::new(format, schema.clone(), batch_size);
        let mut decoder = new_decoder()?;
        // `buf[batch_start..filled]` holds the bytes of the batch being decoded and what
        // follows; `pos` is how far the decoder has consumed.
        let mut buf = vec![0u8; READ_CHUNK];
        let (mut batch_start, mut pos, mut filled) = (0, 0, 0);
        let mut line_of_batch = 1u64;
        let mut eof = false;
        loop {
            if pos == filled && !eof {
                buf.copy_within(batch_start..filled, 0);
                (pos, filled) = (pos - batch_start, filled - batch_start);
                batch_start = 0;
                if buf.len() - filled < READ_CHUNK / 2 {
                    buf.resize(buf.len() + READ_CHUNK, 0);
                }
                let n = file.read(&mut buf[filled..]).map_err(io_error)?;
                filled += n;
                eof = n == 0;
                if eof && filled > 0 && buf[filled - 1] != b'\n' {
                    // A last line without a line end is still a row.
                    buf.truncate(filled);
                    buf.push(b'\n');
                    filled += 1;
                }
            }
            let (consumed, failed) = match decoder.decode(&buf[pos..filled]) {
                Ok(n) => (n, false),
                // Retry the whole lines buffered so far one by one (see `recover`).
                Err(_) => match memchr::memrchr(b'\n', &buf[pos..filled]) {
                    Some(last) => (last + 1, true),
                    None => (filled - pos, true),
                },
            };
            pos += consumed;
            let batch_full = consumed == 0 || pos < filled;
            if !(batch_full || eof || failed) {
                continue;
            }
            let bytes = &buf[batch_start..pos];
            let flushed = if failed { None } else { decoder.flush().ok() };
            let decoded = match flushed {
                Some(batch) => batch,
                None => {
                    decoder = new_decoder()?;
                    self.recover(path, bytes, line_of_batch, ctx)?
                }
            };
            line_of_batch += memchr::memchr_iter(b'\n', bytes).count() as u64;
            batch_start = pos;
            if let Some(batch) = decoded
                && batch.num_rows() > 0
                && !self.emit(batch, ctx)?
            {
                return Ok(false);
            }
            if eof && pos == filled {
                return Ok(true);
            }
        }
    }

    /// Decodes `bytes` (whole lines starting at line `first_line`) one line at a time, keeping
    /// the good rows and reporting or failing on the bad ones.
    fn recover(
        &self,
        path: &Path,
        bytes: &[u8],
        first_line: u64,
        ctx: &SourceContext,
    ) -> Result<Option<RecordBatch>> {
        let schema = &self.options.schema;
        let mut good = Vec::new();
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match decode_line(self.options.format, schema, line) {
                Ok(batch) => good.extend(batch),
                Err(reason) => {
                    let line_no = first_line + i as u64;
                    if !self.options.ignore_parse_errors {
                        return Err(EngineError::MalformedRow {
                            path: path.to_path_buf(),
                            line: line_no,
                            reason,
                        });
                    }
                    ctx.metrics
                        .record_malformed(format!("{}:{line_no}: {reason}", path.display()));
                }
            }
        }
        Ok(Some(arrow::compute::concat_batches(schema, &good)?))
    }
}

impl Source for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(mut self: Box<Self>, ctx: SourceContext) -> Result<()> {
        for path in std::mem::take(&mut self.files) {
            if !self.read_file(&path, &ctx)? {
                return Ok(());
            }
        }
        if self.watermarks.is_some() && !ctx.output.blocking_send(Message::Watermark(MAX_WATERMARK))
        {
            return Ok(());
        }
        ctx.output.blocking_send(Message::End);
        Ok(())
    }
}

/// The files behind a path: the file itself, or a directory's visible files in name order
/// (names starting with `.` or `_` are skipped, as Flink does).
fn list_files(path: &Path) -> Result<Vec<PathBuf>> {
    let io_error = |source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io_error)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.starts_with('_') || !entry.path().is_file() {
            continue;
        }
        files.push(entry.path());
    }
    files.sort();
    Ok(files)
}
