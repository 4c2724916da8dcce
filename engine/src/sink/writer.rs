//! A sink that writes rows as text (CSV, JSON lines, table, changelog) to standard output or
//! to a file: query results, the `print` connector and the `filesystem` connector.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use tempfile::NamedTempFile;

use super::Sink;
use crate::batch::ChangeBatch;
use crate::format::{OutputFormat, RowWriter, materialize, sort_rows};
use crate::{EngineError, Result};

/// Where a [`WriterSink`] writes.
pub enum Destination {
    /// Any stream (standard output), written as rows arrive.
    Stream(Box<dyn Write + Send>),
    /// A file, written to a temporary file beside it and renamed into place at the end.
    File(PathBuf),
}

enum Target {
    Stream(Box<dyn Write + Send>),
    File {
        path: PathBuf,
        temp: BufWriter<NamedTempFile>,
    },
}

impl Target {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Target::Stream(w) => w,
            Target::File { temp, .. } => temp,
        }
    }
}

/// Writes rows as text; with `sorted`, buffers all rows and writes them sorted at the end
/// (a changelog is first applied, leaving the final rows).
pub struct WriterSink {
    name: String,
    writer: RowWriter,
    target: Target,
    schema: SchemaRef,
    sorted: bool,
    buffered: Vec<ChangeBatch>,
    started: bool,
    rows: u64,
}

impl WriterSink {
    /// A sink named `name` writing rows of `schema`. Creating a file destination fails early
    /// when its directory cannot be written.
    pub fn new(
        name: impl Into<String>,
        schema: SchemaRef,
        format: OutputFormat,
        header: bool,
        sorted: bool,
        destination: Destination,
    ) -> Result<Self> {
        let name = name.into();
        let target = match destination {
            Destination::Stream(w) => Target::Stream(w),
            Destination::File(path) => {
                let dir = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let temp = tempfile::Builder::new()
                    .prefix(".rill-")
                    .tempfile_in(&dir)
                    .map_err(|source| EngineError::Io { path: dir, source })?;
                Target::File {
                    path,
                    temp: BufWriter::with_capacity(1 << 16, temp),
                }
            }
        };
        Ok(WriterSink {
            name,
            writer: RowWriter::new(format, schema.clone(), header),
            target,
            schema,
            sorted,
            buffered: Vec::new(),
            started: false,
            rows: 0,
        })
    }

    /// A table that fits a terminal `columns` wide (see [`RowWriter::fit_width`]).
    pub fn fit_width(mut self, columns: usize) -> Self {
        self.writer = self.writer.fit_width(columns);
        self
    }

    /// A table that shows each row's change kind (see [`RowWriter::with_ops`]).
    pub fn with_ops(mut self) -> Self {
        self.writer = self.writer.with_ops();
        self
    }

    fn io_error(&self, e: std::io::Error) -> EngineError {
        if e.kind() == std::io::ErrorKind::BrokenPipe && matches!(self.target, Target::Stream(_)) {
            return EngineError::OutputClosed;
        }
        let name = match &self.target {
            Target::File { path, .. } => path.display().to_string(),
            Target::Stream(_) => self.name.clone(),
        };
        EngineError::Sink {
            name,
            reason: e.to_string(),
        }
    }

    fn write(&mut self, batch: &ChangeBatch) -> std::io::Result<()> {
        let out = self.target.writer();
        if !self.started {
            self.started = true;
            self.writer.begin(out, Some(batch))?;
        }
        self.writer.write_batch(out, batch)?;
        if matches!(self.target, Target::Stream(_)) {
            self.target.writer().flush()?;
        }
        Ok(())
    }
}

impl Sink for WriterSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn on_batch(&mut self, batch: &ChangeBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        if self.sorted {
            self.buffered.push(batch.clone());
            return Ok(());
        }
        self.write(batch).map_err(|e| self.io_error(e))
    }

    fn finish(&mut self) -> Result<()> {
        if self.sorted {
            let buffered = std::mem::take(&mut self.buffered);
            let updating = buffered.iter().any(|b| b.ops.is_some());
            let all =
                arrow::compute::concat_batches(&self.schema, buffered.iter().map(|b| &b.data))?;
            let all = if updating {
                let ops: Vec<i8> = buffered
                    .iter()
                    .flat_map(|b| (0..b.num_rows()).map(|i| b.row_kind(i) as i8))
                    .collect();
                materialize(&all, &ops.into())?
            } else {
                all
            };
            let sorted = sort_rows(&all)?;
            if sorted.num_rows() > 0 {
                self.write(&ChangeBatch::inserts(sorted))
                    .map_err(|e| self.io_error(e))?;
            }
        }
        let rows = self.rows;
        let result = (|| {
            let out = self.target.writer();
            if !self.started {
                self.writer.begin(out, None)?;
            }
            self.writer.finish(out, rows)
        })();
        result.map_err(|e| self.io_error(e))?;
        let target = std::mem::replace(&mut self.target, Target::Stream(Box::new(std::io::sink())));
        if let Target::File { path, temp } = target {
            commit(&path, temp).map_err(|e| self.io_error(e))?;
        }
        Ok(())
    }
}

/// Moves the finished temporary file to `path`.
fn commit(path: &Path, temp: BufWriter<NamedTempFile>) -> std::io::Result<()> {
    let temp = temp.into_inner().map_err(|e| e.into_error())?;
    temp.as_file().sync_data()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
