//! The `filesystem` connector as a source: one file or a directory of files, CSV or JSON lines,
//! read in order, with event-time watermarks.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};

use super::chunks::{ChunkFormat, Position, Read, Reading, read_parallel};
use super::decode::RecordFormat;
use super::{Emitter, RowShape, Source, SourceContext, WatermarkAssigner};
use crate::batch::Message;
use crate::checkpoint::State;
use crate::metrics::JobMetrics;
use crate::operator::Calc;
use crate::time::{MAX_WATERMARK, Watermark};
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
    /// How decoded rows become the rows sent (taken by the source).
    pub shape: RowShape,
    /// Rows per batch.
    pub batch_size: usize,
}

/// A source over files (bounded unless it follows one) or standard input.
pub struct FileSource {
    name: String,
    options: FileSourceOptions,
    files: Vec<PathBuf>,
    emitter: Emitter,
    /// How far the source has read: what a checkpoint keeps.
    at: Progress,
}

/// How far a file source has read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Progress {
    /// The file being read (those before it in name order are done); `None` before the
    /// first and after the last.
    file: Option<PathBuf>,
    /// Where in it.
    position: Position,
    /// Every file was read.
    done: bool,
    /// The watermark assigner's watermark and the last watermark sent.
    watermark: Watermark,
    sent_watermark: Watermark,
}

impl FileSource {
    /// A source for the table `name`; fails early when the path is missing or unreadable.
    pub fn new(
        name: impl Into<String>,
        mut options: FileSourceOptions,
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
        let name = name.into();
        let emitter = Emitter::new(&name, std::mem::take(&mut options.shape), watermarks);
        Ok(FileSource {
            name,
            options,
            files,
            emitter,
            at: Progress::default(),
        })
    }

    fn chunk_format(&self) -> ChunkFormat {
        ChunkFormat {
            records: self.options.records,
            schema: self.options.schema.clone(),
            batch_size: self.options.batch_size,
        }
    }

    /// Reads one file from `start` on; returns false when the job stopped.
    fn read_file(&mut self, path: &Path, start: Position, ctx: &mut SourceContext) -> Result<bool> {
        let io_error = |source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(io_error)?;
        if start.offset > 0 {
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start.offset))
                .map_err(io_error)?;
            JobMetrics::add(&ctx.metrics.bytes_read, start.offset);
        }
        self.at.file = Some(path.to_path_buf());
        self.at.position = start;
        let reading = Reading {
            start,
            eager: self.options.follow.is_some(),
            follow: self.options.follow.map(|i| (i, ctx.cancelled.clone())),
        };
        let format = self.chunk_format();
        let stage = self.emitter.stage();
        read_parallel(
            file,
            reading,
            path,
            &format,
            &ctx.metrics.clone(),
            &|batch| stage.early(batch),
            |read| match read {
                Read::Batch(batch) => self.emitter.emit(batch, ctx),
                Read::Position(position) => {
                    self.at.position = position;
                    ctx.barrier(|| self.snapshot())
                }
            },
        )
    }

    /// Reads standard input to its end; returns false when the job stopped.
    fn read_stdin(&mut self, ctx: &SourceContext) -> Result<bool> {
        let reading = Reading {
            start: Position::START,
            eager: true,
            follow: None,
        };
        let format = self.chunk_format();
        let stdin = std::io::stdin().lock();
        let stage = self.emitter.stage();
        read_parallel(
            stdin,
            reading,
            Path::new("<stdin>"),
            &format,
            &ctx.metrics,
            &|batch| stage.early(batch),
            |read| match read {
                Read::Batch(batch) => self.emitter.emit(batch, ctx),
                Read::Position(_) => Ok(true),
            },
        )
    }
}

impl FileSource {
    /// How far the source has read, with its watermarks.
    fn progress(&self) -> Progress {
        Progress {
            watermark: self.emitter.watermark(),
            sent_watermark: self.emitter.sent_watermark,
            ..self.at.clone()
        }
    }
}

impl Source for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(mut self: Box<Self>, mut ctx: SourceContext) -> Result<()> {
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
        // A restored source goes on in the file it was reading, where it was.
        let resume = match self.at.done {
            true => None,
            false => Some((self.at.file.clone(), self.at.position)),
        };
        for path in std::mem::take(&mut self.files) {
            let start = match &resume {
                None => continue,
                Some((Some(file), _)) if path < *file => continue,
                Some((Some(file), position)) if path == *file => *position,
                Some(_) => Position::START,
            };
            if !self.read_file(&path, start, &mut ctx)? {
                return Ok(());
            }
        }
        self.at = Progress {
            done: true,
            ..self.progress()
        };
        // At its end a bounded input holds back no operator, with or without a declared
        // watermark (as in Flink): a join with a table that has none can free its state.
        if !ctx.output.blocking_send(Message::Watermark(MAX_WATERMARK)) {
            return Ok(());
        }
        ctx.end(|| self.snapshot())
    }

    fn snapshot(&self) -> Result<State> {
        if self.options.input == FileInput::Stdin {
            return Err(EngineError::Other(format!(
                "{} reads standard input, which cannot be read again after a restore",
                self.name
            )));
        }
        let mut state = State::new();
        state.put("progress", &self.progress())?;
        self.emitter.snapshot(&mut state)?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        let at: Progress = state.get("progress")?;
        if let Some(file) = &at.file
            && !at.done
            && !self.files.contains(file)
        {
            return Err(EngineError::Other(format!(
                "{} was being read when the checkpoint was taken, and is gone",
                file.display()
            )));
        }
        self.emitter
            .restore(at.watermark, at.sent_watermark, state)?;
        self.at = at;
        Ok(())
    }

    fn fuse(&mut self, calc: Calc) -> std::result::Result<(), Calc> {
        self.emitter.fuse(calc);
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
