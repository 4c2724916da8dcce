//! Reading a file in parallel: the file is cut into chunks of whole records, worker threads
//! decode chunks into batches, and the batches come back in file order. Watermarks and
//! everything else downstream see exactly the rows, in exactly the order, of a sequential
//! read; only the decoding runs on several cores.

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::decode::{Decoder, FileFormat, Record, RecordByRecord, RecordFormat};
use super::in_order::in_order;
use crate::metrics::JobMetrics;
use crate::{EngineError, Result};

/// Bytes read per chunk (a chunk is extended to end on a record boundary).
const CHUNK_BYTES: usize = 1 << 20;

/// What decoding needs to know about the file.
#[derive(Debug, Clone)]
pub(crate) struct ChunkFormat {
    pub records: RecordFormat,
    pub schema: SchemaRef,
    pub batch_size: usize,
}

/// Whole records of a file and the line number of the first; or, in their place, one record
/// longer than the maximum, of which only the length was kept.
struct Chunk {
    bytes: Vec<u8>,
    first_line: u64,
    /// Where the input continues after this chunk.
    end: Position,
    /// The length of the oversize record at `first_line` (`bytes` is then empty).
    oversize: Option<u64>,
}

impl Chunk {
    /// The bytes of the input it stands for.
    fn input_bytes(&self) -> u64 {
        self.bytes.len() as u64 + self.oversize.unwrap_or(0)
    }
}

/// A record longer than the maximum, being skipped.
#[derive(Debug)]
struct Oversize {
    /// Bytes skipped so far.
    bytes: u64,
    /// Line ends skipped so far (CSV fields may hold quoted ones).
    lines: u64,
    /// Quotes skipped so far.
    quotes: usize,
}

/// Cuts a file into chunks that end on record boundaries: a line end outside quotes (CSV
/// fields may hold quoted line ends; JSON lines escape them). A record longer than the
/// maximum is passed over as it is read, so memory holds at most the maximum and a read.
struct Splitter<R> {
    input: R,
    format: FileFormat,
    max_record: u64,
    reading: Reading,
    carry: Vec<u8>,
    skipping: Option<Oversize>,
    next_line: u64,
    eof: bool,
    /// Bytes read from the input, plus where it started.
    read: u64,
}

/// A place in an input between records: a byte offset and the number of the line there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    pub offset: u64,
    pub line: u64,
}

impl Position {
    /// The start of an input.
    pub const START: Position = Position { offset: 0, line: 1 };
}

impl Default for Position {
    fn default() -> Self {
        Position::START
    }
}

/// What reading hands on, in input order.
pub(crate) enum Read<T = RecordBatch> {
    /// Decoded rows, prepared.
    Batch(T),
    /// Every record before this position was handed on: a source may checkpoint here.
    Position(Position),
}

/// How an input is read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reading {
    /// Where in the whole input the bytes read start.
    pub start: Position,
    /// Hand on whole records as soon as they are read (for inputs that grow while read),
    /// rather than in chunks of a megabyte.
    pub eager: bool,
    /// At the end of the input, wait this long and look for more, until `cancelled`.
    pub follow: Option<(Duration, Arc<AtomicBool>)>,
}

impl<R: std::io::Read> Splitter<R> {
    /// Splits `input`, which starts at `start` of the whole input.
    fn new(input: R, records: RecordFormat, reading: Reading) -> Self {
        let start = reading.start;
        Splitter {
            input,
            format: records.format,
            max_record: records.max_record_bytes,
            reading,
            carry: Vec::new(),
            skipping: None,
            next_line: start.line,
            eof: false,
            read: start.offset,
        }
    }

    /// Where the last whole record of `buf` ends, if any record is whole.
    fn cut(&self, buf: &[u8]) -> Option<usize> {
        let last = memchr::memrchr(b'\n', buf)?;
        if self.format.is_json() {
            return Some(last + 1);
        }
        // A line end ends a record when an even number of quotes precedes it.
        let quotes: Vec<usize> = memchr::memchr_iter(b'"', buf).collect();
        if quotes.is_empty() {
            return Some(last + 1);
        }
        let mut end = last;
        loop {
            if quotes.partition_point(|q| *q < end) % 2 == 0 {
                return Some(end + 1);
            }
            end = memchr::memrchr(b'\n', &buf[..end])?;
        }
    }

    /// Where the chunk at the start of `carry` ends: eagerly, after the last whole record
    /// read; otherwise after the last record that ends within [`CHUNK_BYTES`] of its start
    /// (or the first, if longer). Chunks, and so batches, then depend only on where reading
    /// started, not on how reads fell: a source restored at a chunk's start reads the very
    /// batches the first run read.
    fn chunk_end(&self) -> Option<usize> {
        if self.reading.eager {
            return self.cut(&self.carry);
        }
        let window = &self.carry[..CHUNK_BYTES.min(self.carry.len())];
        self.cut(window)
            .or_else(|| self.first_end(&self.carry, 0).ok())
    }

    /// Where the first record of `buf` ends (past its line end), given `quotes` quotes of it
    /// before `buf`; or, when it does not end in `buf`, the quotes of it counted so far.
    fn first_end(&self, buf: &[u8], mut quotes: usize) -> Result<usize, usize> {
        let mut from = 0;
        for line_end in memchr::memchr_iter(b'\n', buf) {
            if self.format == FileFormat::Csv {
                quotes += memchr::memchr_iter(b'"', &buf[from..line_end]).count();
                from = line_end;
            }
            if quotes.is_multiple_of(2) {
                return Ok(line_end + 1);
            }
        }
        if self.format == FileFormat::Csv {
            quotes += memchr::memchr_iter(b'"', &buf[from..]).count();
        }
        Err(quotes)
    }

    fn next(&mut self) -> std::io::Result<Option<Chunk>> {
        loop {
            if self.skipping.is_some() {
                if let Some(chunk) = self.skip() {
                    return Ok(Some(chunk));
                }
            } else if self.carry.len() as u64 > self.max_record {
                // Only here can a record be too long: hand on the records before it, or
                // start skipping it.
                if let Some(chunk) = self.split_long() {
                    return Ok(Some(chunk));
                }
            } else if (self.reading.eager || self.carry.len() >= CHUNK_BYTES)
                && let Some(end) = self.chunk_end()
            {
                let rest = self.carry.split_off(end);
                let bytes = std::mem::replace(&mut self.carry, rest);
                return Ok(Some(self.chunk(bytes)));
            } else if self.eof {
                if self.carry.is_empty() {
                    return Ok(None);
                }
                // A last line without a line end is still a record.
                if self.carry.last() != Some(&b'\n') {
                    self.carry.push(b'\n');
                }
                let bytes = std::mem::take(&mut self.carry);
                return Ok(Some(self.chunk(bytes)));
            }
            let start = self.carry.len();
            let n = if self.reading.eager {
                // One read: it returns what is there without waiting for more.
                self.carry.resize(start + CHUNK_BYTES, 0);
                let n = self.input.read(&mut self.carry[start..])?;
                self.carry.truncate(start + n);
                n
            } else {
                // A chunk's worth, read into the buffer without zeroing it first.
                self.carry.reserve(CHUNK_BYTES);
                let mut input = (&mut self.input).take(CHUNK_BYTES as u64);
                input.read_to_end(&mut self.carry)?
            };
            self.read += n as u64;
            if n > 0 {
                continue;
            }
            match &self.reading.follow {
                // A growing input: its last line may still be incomplete.
                Some((_, cancelled)) if cancelled.load(Ordering::Relaxed) => return Ok(None),
                Some((interval, _)) => {
                    std::thread::sleep(*interval);
                    // An empty chunk while waiting: the source can take a checkpoint at its
                    // end (a source waiting on its input must not hold checkpoints back).
                    return Ok(Some(self.chunk(Vec::new())));
                }
                None => self.eof = true,
            }
        }
    }

    /// With more than the maximum in `carry`: the whole records before a too long one as a
    /// chunk, or the too long one as an oversize chunk once it ends (or, when it does not end
    /// in `carry`, nothing: it is then being skipped).
    fn split_long(&mut self) -> Option<Chunk> {
        let mut end = 0;
        let long = loop {
            match self.first_end(&self.carry[end..], 0) {
                Ok(len) if (len - 1) as u64 <= self.max_record => end += len,
                Ok(len) => break Some(len),
                Err(quotes) => {
                    if ((self.carry.len() - end) as u64) <= self.max_record {
                        break None;
                    }
                    if end == 0 {
                        self.skipping = Some(Oversize {
                            bytes: self.carry.len() as u64,
                            lines: memchr::memchr_iter(b'\n', &self.carry).count() as u64,
                            quotes,
                        });
                        self.carry.clear();
                        return None;
                    }
                    break None;
                }
            }
        };
        if end > 0 {
            let rest = self.carry.split_off(end);
            let bytes = std::mem::replace(&mut self.carry, rest);
            return Some(self.chunk(bytes));
        }
        // The first record is whole but too long.
        let len = long.expect("a too long record");
        let lines = memchr::memchr_iter(b'\n', &self.carry[..len]).count() as u64;
        self.carry.drain(..len);
        Some(self.oversize_chunk((len - 1) as u64, lines))
    }

    /// Skips the rest of a too long record in `carry`; its chunk once it ends.
    fn skip(&mut self) -> Option<Chunk> {
        let quotes = self.skipping.as_ref().map_or(0, |s| s.quotes);
        match self.first_end(&self.carry, quotes) {
            Ok(len) => {
                let lines = memchr::memchr_iter(b'\n', &self.carry[..len]).count() as u64;
                let skipping = self.skipping.take().expect("skipping");
                self.carry.drain(..len);
                Some(self.oversize_chunk(skipping.bytes + len as u64 - 1, skipping.lines + lines))
            }
            Err(quotes) => {
                let skipping = self.skipping.as_mut().expect("skipping");
                skipping.bytes += self.carry.len() as u64;
                skipping.lines += memchr::memchr_iter(b'\n', &self.carry).count() as u64;
                skipping.quotes = quotes;
                self.carry.clear();
                // A last record without a line end ends with the input.
                if self.eof {
                    let skipping = self.skipping.take().expect("skipping");
                    return Some(self.oversize_chunk(skipping.bytes, skipping.lines + 1));
                }
                None
            }
        }
    }

    fn chunk(&mut self, bytes: Vec<u8>) -> Chunk {
        let lines = memchr::memchr_iter(b'\n', &bytes).count() as u64;
        self.numbered(bytes, None, lines)
    }

    /// A record of `len` bytes spanning `lines` lines, skipped for being too long.
    fn oversize_chunk(&mut self, len: u64, lines: u64) -> Chunk {
        self.numbered(Vec::new(), Some(len), lines)
    }

    fn numbered(&mut self, bytes: Vec<u8>, oversize: Option<u64>, lines: u64) -> Chunk {
        let first_line = self.next_line;
        self.next_line += lines;
        // What is read and not cut yet follows the chunk (a line end added at the end of
        // the input was never read, and is not counted).
        let unread = (self.carry.len() as u64).min(self.read);
        Chunk {
            first_line,
            end: Position {
                offset: self.read - unread,
                line: self.next_line,
            },
            bytes,
            oversize,
        }
    }
}

/// How many threads decode.
fn decode_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

/// Reads `input` (the file at `path` from `reading.start` on), decoding and then `prepare`-ing each
/// batch on worker threads, and hands the batches to `emit` in file order, with the position
/// after each chunk. Stops early, returning false, when `emit` does.
pub(crate) fn read_parallel<T: Send>(
    input: impl std::io::Read,
    reading: Reading,
    path: &Path,
    format: &ChunkFormat,
    metrics: &Arc<JobMetrics>,
    prepare: &(impl Fn(RecordBatch) -> Result<T> + Sync),
    mut emit: impl FnMut(Read<T>) -> Result<bool>,
) -> Result<bool> {
    let workers = decode_workers();
    // An input that grows while read hands each chunk on before it waits for more; otherwise
    // every worker is busy and has one chunk queued, no more.
    let in_flight = if reading.eager { 1 } else { 2 * workers };
    let mut splitter = Splitter::new(input, format.records, reading);
    let chunks = std::iter::from_fn(|| {
        let chunk = splitter.next().map_err(|source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        });
        chunk.transpose()
    });
    // Kept from chunk to chunk, so that its buffers start a chunk as large as the last
    // chunk's batches were (growing them again was 4 % of decoding Nexmark's events); made
    // again after a failure, or once its JSON decoder has fallen back to arrow's.
    let decode = |kept: &mut Option<Decoder>, chunk: Chunk| {
        if kept.as_ref().is_some_and(Decoder::fell_back) {
            *kept = None;
        }
        let decoder = match kept {
            Some(decoder) => decoder,
            None => kept.insert(new_decoder(format)?),
        };
        let batches = decode_chunk(&chunk, decoder, path, format, metrics)?;
        let batches = batches
            .into_iter()
            .map(prepare)
            .collect::<Result<Vec<_>>>()?;
        Ok((chunk.input_bytes(), chunk.end, batches))
    };
    let what = format!("decoding {}", path.display());
    in_order(
        workers,
        in_flight,
        &what,
        chunks,
        &decode,
        |(bytes, end, batches)| {
            for batch in batches {
                if !emit(Read::Batch(batch))? {
                    return Ok(false);
                }
            }
            JobMetrics::add(&metrics.bytes_read, bytes);
            emit(Read::Position(end))
        },
    )
}

/// Decodes one chunk into batches of up to `batch_size` rows. A batch that fails to decode is
/// decoded again line by line, to report (or skip) exactly its malformed rows.
fn decode_chunk(
    chunk: &Chunk,
    decoder: &mut Decoder,
    path: &Path,
    format: &ChunkFormat,
    metrics: &JobMetrics,
) -> Result<Vec<RecordBatch>> {
    if let Some(len) = chunk.oversize {
        let reason = format.records.too_long(len);
        malformed(path, chunk.first_line, reason, format, metrics)?;
        return Ok(Vec::new());
    }
    let bytes = &chunk.bytes;
    let mut batches = Vec::new();
    let (mut pos, mut batch_start) = (0, 0);
    while pos < bytes.len() {
        // Each call stops when a batch is full or the chunk is used up: flush after it.
        let decoded = decoder
            .decode(&bytes[pos..])
            .map(|consumed| pos += consumed)
            .and_then(|()| decoder.flush());
        let batch = match decoded {
            Ok(batch) => batch,
            Err(_) => {
                // Redo from the batch's start to the end of the chunk, line by line (lines
                // are counted only here: most chunks have no error).
                pos = bytes.len();
                *decoder = new_decoder(format)?;
                let before = memchr::memchr_iter(b'\n', &bytes[..batch_start]).count() as u64;
                let line = chunk.first_line + before;
                recover(&bytes[batch_start..], line, path, format, metrics)?
            }
        };
        batches.extend(batch.filter(|b| b.num_rows() > 0));
        batch_start = pos;
    }
    Ok(batches)
}

/// A decoder of `format`'s records.
fn new_decoder(format: &ChunkFormat) -> Result<Decoder> {
    Ok(Decoder::new(
        format.records.format,
        format.schema.clone(),
        format.batch_size,
    )?)
}

/// Decodes `bytes` (whole lines starting at line `first_line`) one line at a time, keeping
/// the good rows; a bad one fails the job or, with ignore-parse-errors, is read with NULLs or
/// skipped, and counted.
fn recover(
    bytes: &[u8],
    first_line: u64,
    path: &Path,
    format: &ChunkFormat,
    metrics: &JobMetrics,
) -> Result<Option<RecordBatch>> {
    let mut reader = RecordByRecord::new(format.records, format.schema.clone());
    let mut good = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line_number = first_line + i as u64;
        match reader.read(line) {
            Record::Rows(batch) => good.push(batch),
            Record::Nulled(row, nulled) => {
                metrics.record_malformed(format!("{}:{line_number}: {nulled}", path.display()));
                good.push(row);
            }
            Record::Malformed(reason) => malformed(path, line_number, reason, format, metrics)?,
        }
    }
    let schema = format.records.format.decoded_schema(&format.schema);
    Ok(Some(arrow::compute::concat_batches(&schema, &good)?))
}

/// A malformed record at `line` that gives no row: fails the job, or is counted and skipped.
fn malformed(
    path: &Path,
    line: u64,
    reason: String,
    format: &ChunkFormat,
    metrics: &JobMetrics,
) -> Result<()> {
    if !format.records.ignore_parse_errors {
        return Err(EngineError::MalformedRow {
            path: path.to_path_buf(),
            line,
            reason,
        });
    }
    let reason = format.records.skipped(reason);
    metrics.record_malformed(format!("{}:{line}: {reason}", path.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(text: &str, format: FileFormat) -> Vec<(String, u64)> {
        split(text, RecordFormat::new(format))
            .into_iter()
            .map(|(bytes, line, oversize)| {
                assert_eq!(oversize, None);
                (bytes, line)
            })
            .collect()
    }

    /// Each chunk: its text, first line and, for a too long record, its length.
    fn split(text: &str, records: RecordFormat) -> Vec<(String, u64, Option<u64>)> {
        let mut splitter = Splitter::new(text.as_bytes(), records, Reading::default());
        let mut out = Vec::new();
        while let Some(c) = splitter.next().unwrap() {
            out.push((
                String::from_utf8(c.bytes).unwrap(),
                c.first_line,
                c.oversize,
            ));
        }
        out
    }

    fn at_most(format: FileFormat, max_record_bytes: u64) -> RecordFormat {
        RecordFormat {
            max_record_bytes,
            ..RecordFormat::new(format)
        }
    }

    #[test]
    fn too_long_records_are_passed_over_with_their_line_and_length() {
        // Short records around long ones, in one read.
        let text = "a,1\nbbbbbbbbbb,2\nc,3\nd,\"quoted\nline end that is long\"\ne,5";
        assert_eq!(
            split(text, at_most(FileFormat::Csv, 8)),
            vec![
                ("a,1\n".into(), 1, None),
                (String::new(), 2, Some(12)),
                ("c,3\n".into(), 3, None),
                (String::new(), 4, Some(32)),
                ("e,5\n".into(), 6, None),
            ]
        );
        // A record exactly at the maximum is kept; JSON lines end at every line end.
        assert_eq!(
            split("{\"a\":1}\n{\"a\":12}\n", at_most(FileFormat::Json, 7)),
            vec![("{\"a\":1}\n".into(), 1, None), (String::new(), 2, Some(8))]
        );
        // A record longer than several reads, with and without a line end at the end.
        let long = "x".repeat(3 * CHUNK_BYTES + 5);
        for tail in ["\nlast,1\n", ""] {
            let text = format!("first,1\n{long}\"q\n\"{tail}");
            let all = split(&text, at_most(FileFormat::Csv, CHUNK_BYTES as u64));
            let mut expected = vec![
                ("first,1\n".into(), 1, None),
                (String::new(), 2, Some(long.len() as u64 + 4)),
            ];
            if !tail.is_empty() {
                expected.push(("last,1\n".into(), 4, None));
            }
            assert_eq!(all, expected);
        }
    }

    #[test]
    fn a_too_long_record_is_reported_or_skipped() {
        let long = "9".repeat(2 * CHUNK_BYTES);
        let text = format!("1,\"a\"\n{long},\"b\"\n3,\"c\"\n");
        let mut format = csv(false);
        format.records.max_record_bytes = CHUNK_BYTES as u64;
        let metrics = Arc::new(JobMetrics::default());
        let read = |format: &ChunkFormat, seen: &mut Vec<i64>| {
            read_parallel(
                text.as_bytes(),
                Reading::default(),
                Path::new("t.csv"),
                format,
                &metrics,
                &Ok,
                |read| {
                    seen.extend(numbers(read));
                    Ok(true)
                },
            )
        };
        let err = read(&format, &mut Vec::new()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "t.csv:2: malformed row: record of {} bytes is longer than the maximum of \
                 1048576 bytes (the table's 'source.max-record-size')",
                long.len() + 4
            )
        );
        format.records.ignore_parse_errors = true;
        let mut seen = Vec::new();
        read(&format, &mut seen).unwrap();
        assert_eq!(seen, vec![1, 3]);
        assert_eq!(JobMetrics::get(&metrics.malformed_rows), 1);
    }

    #[test]
    fn chunks_end_on_records_and_count_lines() {
        // Small inputs are one chunk, with a line end added to the last line.
        assert_eq!(
            chunks("a,1\nb,2", FileFormat::Csv),
            vec![("a,1\nb,2\n".into(), 1)]
        );
        // A long input is cut at line ends outside quotes only.
        let record = "x,\"two\nlines\"\n";
        let text = record.repeat(CHUNK_BYTES / record.len() + 10);
        let all = chunks(&text, FileFormat::Csv);
        assert!(all.len() > 1);
        let mut line = 1;
        for (bytes, first_line) in &all {
            assert!(bytes.starts_with("x,\"two\n") && bytes.ends_with("lines\"\n"));
            assert_eq!(*first_line, line);
            line += bytes.matches('\n').count() as u64;
        }
        assert_eq!(
            all.iter().map(|(b, _)| b.as_str()).collect::<String>(),
            text
        );
    }

    fn csv(ignore_parse_errors: bool) -> ChunkFormat {
        ChunkFormat {
            records: RecordFormat {
                ignore_parse_errors,
                ..RecordFormat::new(FileFormat::Csv)
            },
            schema: Arc::new(arrow::datatypes::Schema::new(vec![
                arrow::datatypes::Field::new("n", arrow::datatypes::DataType::Int64, true),
                arrow::datatypes::Field::new("s", arrow::datatypes::DataType::Utf8, true),
            ])),
            batch_size: 1000,
        }
    }

    /// Decoders are kept from chunk to chunk: one whose JSON decoder fell back to arrow's, or
    /// that failed on a malformed record, reads the chunks after it as a fresh one would.
    #[test]
    fn a_decoder_reads_every_chunk_alike() {
        use arrow::array::AsArray;
        use arrow::datatypes::Int64Type;

        let mut text = String::new();
        for n in 1..=200_000 {
            match n {
                // A surrogate pair: arrow's decoder reads it, rill's falls back to arrow's.
                100_001 => text.push_str(r#"{"n":100001,"s":"\ud83d\ude00"}"#),
                150_001 => text.push_str(r#"{"n":oops}"#),
                n => text.push_str(&format!(r#"{{"n":{n},"s":"row {n}"}}"#)),
            }
            text.push('\n');
        }
        assert!(text.len() > 4 * CHUNK_BYTES);
        let format = ChunkFormat {
            records: RecordFormat {
                ignore_parse_errors: true,
                ..RecordFormat::new(FileFormat::Json)
            },
            ..csv(true)
        };
        let metrics = Arc::new(JobMetrics::default());
        let mut rows = Vec::new();
        read_parallel(
            text.as_bytes(),
            Reading::default(),
            Path::new("t.json"),
            &format,
            &metrics,
            &Ok,
            |read| {
                if let Read::Batch(batch) = &read {
                    let s = batch.column(1).as_string::<i32>().iter();
                    let n = batch
                        .column(0)
                        .as_primitive::<Int64Type>()
                        .values()
                        .to_vec();
                    rows.extend(n.into_iter().zip(s.map(|s| s.map(str::to_string))));
                }
                Ok(true)
            },
        )
        .unwrap();
        let expected: Vec<(i64, Option<String>)> = (1..=200_000)
            .filter(|n| *n != 150_001)
            .map(|n| match n {
                100_001 => (n, Some("\u{1F600}".to_string())),
                n => (n, Some(format!("row {n}"))),
            })
            .collect();
        assert!(rows == expected, "rows differ");
        assert_eq!(JobMetrics::get(&metrics.malformed_rows), 1);
    }

    /// 200k rows `n,"text"` (several chunks), row 150001 malformed.
    fn rows_with_a_bad_one() -> Vec<u8> {
        let mut text = String::new();
        for n in 1..=200_000 {
            if n == 150_001 {
                // A field too many: skipped with ignore-parse-errors.
                text.push_str("oops,\"x\",y\n");
            } else {
                text.push_str(&format!("{n},\"row {n}\"\n"));
            }
        }
        text.into_bytes()
    }

    /// The first column of the rows read, if rows were read.
    fn numbers(read: Read) -> Vec<i64> {
        match read {
            Read::Batch(batch) => batch
                .column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap()
                .values()
                .to_vec(),
            Read::Position(_) => vec![],
        }
    }

    #[test]
    fn parallel_reading_keeps_file_order_and_line_numbers() {
        let data = rows_with_a_bad_one();
        assert!(data.len() > 2 * CHUNK_BYTES);
        let metrics = Arc::new(JobMetrics::default());
        let err = read_parallel(
            &data[..],
            Reading::default(),
            Path::new("t.csv"),
            &csv(false),
            &metrics,
            &Ok,
            |_| Ok(true),
        )
        .unwrap_err();
        assert!(err.to_string().contains("t.csv:150001"), "{err}");
        let mut seen = Vec::new();
        let mut positions = Vec::new();
        read_parallel(
            &data[..],
            Reading::default(),
            Path::new("t.csv"),
            &csv(true),
            &metrics,
            &Ok,
            |read| {
                if let Read::Position(p) = &read {
                    positions.push((*p, seen.len()));
                }
                seen.extend(numbers(read));
                Ok(true)
            },
        )
        .unwrap();
        let expected: Vec<i64> = (1..=200_000).filter(|n| *n != 150_001).collect();
        assert_eq!(seen, expected);
        assert_eq!(JobMetrics::get(&metrics.malformed_rows), 1);
        // Reading on from any position handed on gives the rows after it, with their
        // line numbers (the malformed row is still line 150001).
        assert!(positions.len() > 2);
        assert_eq!(positions.last().unwrap().0.offset, data.len() as u64);
        let (position, rows_before) = positions[1];
        let mut rest = Vec::new();
        let err = read_parallel(
            &data[position.offset as usize..],
            Reading {
                start: position,
                ..Reading::default()
            },
            Path::new("t.csv"),
            &csv(false),
            &metrics,
            &Ok,
            |read| {
                rest.extend(numbers(read));
                Ok(true)
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("t.csv:150001"), "{err}");
        assert_eq!(rest[..], expected[rows_before..rows_before + rest.len()]);
        assert_eq!(position.line, rows_before as u64 + 1);
    }
}
