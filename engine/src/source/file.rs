//! The `filesystem` connector as a source: one file or a directory of files, CSV or JSON lines,
//! read in order, with event-time watermarks.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{Int8Type, SchemaRef};
use datafusion::physical_expr::PhysicalExpr;

use super::chunks::{ChunkFormat, Reading, read_parallel};
use super::decode::RecordFormat;
use super::{Source, SourceContext, WatermarkAssigner};
use crate::batch::{ChangeBatch, Message};
use crate::metrics::JobMetrics;
use crate::time::{MAX_WATERMARK, NO_WATERMARK, Watermark};
use crate::{EngineError, Result};

/// What a file source reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileInput {
    /// A file, or a directory whose visible files are read in name order.
    Path(PathBuf),
    /// Standard input, rows handed on as they arrive.
    Stdin,
}

/// Settings of a file source.
#[derive(Debug)]
pub struct FileSourceOptions {
    pub input: FileInput,
    /// Follow a file as it grows, looking for more every interval (Flink's
    /// `'source.monitor-interval'`): the source then never ends.
    pub follow: Option<Duration>,
    /// The format of the files and how malformed records are handled.
    pub records: RecordFormat,
    /// The table's columns as stored in the files.
    pub schema: SchemaRef,
    /// The table's computed columns, added to each batch before watermarks are assigned.
    pub computed: Option<Computed>,
    /// Which columns the query uses (all when `None`), of the table with its computed columns.
    pub projection: Option<Vec<usize>>,
    /// Rows per batch.
    pub batch_size: usize,
}

/// A table's computed columns (`name AS expr` in its DDL).
#[derive(Debug)]
pub struct Computed {
    /// All the table's columns.
    pub schema: SchemaRef,
    /// Each computed column's place in `schema` and its expression over the stored columns.
    pub columns: Vec<(usize, Arc<dyn PhysicalExpr>)>,
}

impl Computed {
    /// The rows of `stored` (the stored columns) with the computed columns in their places.
    fn add(&self, stored: &RecordBatch) -> Result<RecordBatch> {
        let mut stored_columns = stored.columns().iter();
        let mut computed = self.columns.iter().peekable();
        let mut columns = Vec::with_capacity(self.schema.fields().len());
        for i in 0..self.schema.fields().len() {
            match computed.next_if(|(at, _)| *at == i) {
                Some((_, expr)) => {
                    let value = expr.evaluate(stored)?.into_array(stored.num_rows())?;
                    columns.push(arrow::compute::cast(
                        &value,
                        self.schema.field(i).data_type(),
                    )?);
                }
                None => columns.push(stored_columns.next().expect("a stored column").clone()),
            }
        }
        let options = RecordBatchOptions::new().with_row_count(Some(stored.num_rows()));
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &options,
        )?)
    }
}

/// A source over files (bounded unless it follows one) or standard input.
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
        let files = match &options.input {
            FileInput::Path(path) => list_files(path)?,
            FileInput::Stdin => vec![],
        };
        if let (FileInput::Path(path), Some(_)) = (&options.input, options.follow)
            && path.is_dir()
        {
            return Err(EngineError::Other(format!(
                "'source.monitor-interval' follows one growing file; {} is a directory",
                path.display()
            )));
        }
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
        let mut batch = match self.options.records.format.is_changelog() {
            // Change events: the last column holds each row's change kind.
            true => {
                let kinds = data.num_columns() - 1;
                ChangeBatch {
                    ops: Some(data.column(kinds).as_primitive::<Int8Type>().clone()),
                    data: data.project(&(0..kinds).collect::<Vec<_>>())?,
                    watermarks: None,
                }
            }
            false => ChangeBatch::inserts(data),
        };
        if let Some(computed) = &self.options.computed {
            batch = batch.with_data(computed.add(&batch.data)?);
        }
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

    fn chunk_format(&self) -> ChunkFormat {
        ChunkFormat {
            records: self.options.records,
            schema: self.options.schema.clone(),
            batch_size: self.options.batch_size,
        }
    }

    /// Reads one file; returns false when the job stopped.
    fn read_file(&mut self, path: &Path, ctx: &SourceContext) -> Result<bool> {
        let file = File::open(path).map_err(|source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let reading = Reading {
            eager: self.options.follow.is_some(),
            follow: self.options.follow.map(|i| (i, ctx.cancelled.clone())),
        };
        let format = self.chunk_format();
        read_parallel(file, reading, path, &format, &ctx.metrics, |batch| {
            self.emit(batch, ctx)
        })
    }

    /// Reads standard input to its end; returns false when the job stopped.
    fn read_stdin(&mut self, ctx: &SourceContext) -> Result<bool> {
        let reading = Reading {
            eager: true,
            follow: None,
        };
        let format = self.chunk_format();
        let stdin = std::io::stdin().lock();
        read_parallel(
            stdin,
            reading,
            Path::new("<stdin>"),
            &format,
            &ctx.metrics,
            |batch| self.emit(batch, ctx),
        )
    }
}

impl Source for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(mut self: Box<Self>, ctx: SourceContext) -> Result<()> {
        let total: u64 = self
            .files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        JobMetrics::add(&ctx.metrics.bytes_total, total);
        if self.options.input == FileInput::Stdin && !self.read_stdin(&ctx)? {
            return Ok(());
        }
        for path in std::mem::take(&mut self.files) {
            if !self.read_file(&path, &ctx)? {
                return Ok(());
            }
        }
        // At its end a bounded input holds back no operator, with or without a declared
        // watermark (as in Flink): a join with a table that has none can free its state.
        if !ctx.output.blocking_send(Message::Watermark(MAX_WATERMARK)) {
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
