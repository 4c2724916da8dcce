//! A sink that writes rows as text (CSV, JSON lines, table, changelog) to standard output or
//! to a file: query results, the `print` connector and the `filesystem` connector.

use std::io::Write;
use std::path::PathBuf;

use arrow::datatypes::SchemaRef;

use super::Sink;
use super::file_target::FileTarget;
use super::part_files::PartFiles;
use crate::batch::ChangeBatch;
use crate::checkpoint::State;
use crate::format::{OutputFormat, RowWriter, materialize, sort_rows};
use crate::{EngineError, Result};

/// Where a [`WriterSink`] writes.
pub enum Destination {
    /// Any stream (standard output), written as rows arrive.
    Stream(Box<dyn Write + Send>),
    /// A path: a regular file is written to a hidden file beside it and renamed into
    /// place when committed; a device, FIFO or socket is written in place (see
    /// [`FileTarget`]).
    File(PathBuf),
    /// A directory, to write part files into (see [`super::part_files`]).
    Directory(PathBuf),
}

enum Target {
    Stream(Box<dyn Write + Send>),
    File { path: PathBuf, file: FileTarget },
}

impl Target {
    fn writer(&mut self) -> std::io::Result<&mut dyn Write> {
        match self {
            Target::Stream(w) => Ok(w),
            Target::File { file, .. } => file.writer(),
        }
    }

    /// The hidden files committed by rename, unless rows are written in place.
    fn part_files(&mut self) -> Option<&mut PartFiles> {
        match self {
            Target::File {
                file: FileTarget::Replace(files),
                ..
            } => Some(files),
            _ => None,
        }
    }

    /// Whether a reader sees rows as they are written, so each batch is flushed.
    fn live(&self) -> bool {
        match self {
            Target::Stream(_) => true,
            Target::File { file, .. } => file.in_place(),
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
            Destination::File(path) => match FileTarget::open(&path) {
                Ok(file) => Target::File { path, file },
                Err(source) => return Err(EngineError::Io { path, source }),
            },
            Destination::Directory(path) => match FileTarget::directory(&path) {
                Ok(file) => Target::File { path, file },
                Err(source) => return Err(EngineError::Io { path, source }),
            },
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
        if e.kind() == std::io::ErrorKind::BrokenPipe && self.target.live() {
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
        let live = self.target.live();
        let out = self.target.writer()?;
        if !self.started {
            self.started = true;
            self.writer.begin(out, Some(batch))?;
        }
        self.writer.write_batch(out, batch)?;
        if live {
            out.flush()?;
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
            let out = self.target.writer()?;
            if !self.started {
                self.started = true;
                self.writer.begin(out, None)?;
            }
            self.writer.finish(out, rows)?;
            out.flush()
        })();
        result.map_err(|e| self.io_error(e))
    }

    fn snapshot(&mut self, id: u64) -> Result<State> {
        if self.sorted && id != u64::MAX {
            return Err(EngineError::Other(
                "a result sorted at the end (--sort) does not take part in checkpoints".into(),
            ));
        }
        let mut state = match self.target.part_files() {
            Some(files) => files.snapshot(id).map_err(|e| self.io_error(e))?,
            // Written in place: made durable as far as a stream can be.
            None => {
                let flushed = self.target.writer().and_then(|w| w.flush());
                flushed.map_err(|e| self.io_error(e))?;
                State::new()
            }
        };
        state.put("writer", &(self.started, self.rows))?;
        Ok(state)
    }

    fn commit(&mut self, id: u64) -> Result<()> {
        let committed = match self.target.part_files() {
            Some(files) => files.commit(id),
            None => self.target.writer().and_then(|w| w.flush()),
        };
        committed.map_err(|e| self.io_error(e))
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        (self.started, self.rows) = state.get("writer")?;
        match self.target.part_files() {
            Some(files) => files.restore(state),
            None => Ok(()),
        }
    }
}
