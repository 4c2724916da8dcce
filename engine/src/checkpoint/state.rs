//! What one node of a dataflow keeps between messages, as a checkpoint holds it: named parts,
//! each Arrow data (rows, keys, accumulator states) or a small serde value (positions,
//! counters), encoded in one versioned byte string.

use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, BinaryArray, BinaryBuilder, BinaryViewArray,
    RecordBatch, RecordBatchOptions,
};
use arrow::buffer::Buffer;
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::StreamWriter;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{EngineError, Result};

/// The first bytes of an encoded state; the number is the format's version. In version 2
/// each payload starts at a multiple of [`ALIGN`] bytes; version 1 has no padding.
const MAGIC: &[u8; 8] = b"RILLST02";
const MAGIC_1: &[u8; 8] = b"RILLST01";

/// Payloads start at a multiple of this many bytes from the state's start, as the Arrow IPC
/// writer aligns buffers within a stream: arrays read from a mapped state are then aligned
/// where they lie, and not copied.
const ALIGN: usize = 64;

/// The one part of the state of an operator that ended (a name no operator gives a part).
const ENDED: &str = "operator ended";

/// Byte strings read back from a state, in the array they were decoded into: a join's rows
/// are read one by one without a copy of each (they can be most of the state).
pub enum ByteStrings {
    /// Put with [`State::put_byte_strings`].
    Offsets(BinaryArray),
    /// Put with [`State::put_byte_views`].
    Views(BinaryViewArray),
}

impl ByteStrings {
    /// How many there are.
    pub fn len(&self) -> usize {
        match self {
            ByteStrings::Offsets(strings) => strings.len(),
            ByteStrings::Views(strings) => strings.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The strings, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        (0..self.len()).map(|i| match self {
            ByteStrings::Offsets(strings) => strings.value(i),
            ByteStrings::Views(strings) => strings.value(i),
        })
    }
}

/// Pairs of byte strings (keys and rows in Arrow's row format, say) read back from a state,
/// in the arrays they were decoded into.
pub struct BytePairs(BinaryArray, BinaryArray);

impl BytePairs {
    /// The pairs, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> {
        (0..self.0.len()).map(|i| (self.0.value(i), self.1.value(i)))
    }
}

/// One named part of a state.
#[derive(Debug, Clone)]
enum Part {
    /// Batches of one schema, written as an Arrow IPC stream.
    Batches(SchemaRef, Vec<RecordBatch>),
    /// A serde value, as JSON.
    Value(Vec<u8>),
}

/// A node's state: taken by the node (cheap: Arrow arrays are shared, not copied), encoded
/// and written by the checkpoint writer off the node's path.
#[derive(Debug, Clone, Default)]
pub struct State {
    parts: Vec<(String, Part)>,
}

impl State {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the state has no parts.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The state of an operator that ended (its inputs had, or it wanted no more): it stands
    /// for the operator in every later checkpoint, in place of what the operator held, which
    /// nothing reads again. An operator restored from it ends again at once.
    pub fn ended() -> Self {
        State {
            parts: vec![(ENDED.to_string(), Part::Value(b"true".to_vec()))],
        }
    }

    /// Whether it is the state of an operator that ended ([`State::ended`]).
    pub fn is_ended(&self) -> bool {
        matches!(self.parts.as_slice(), [(name, Part::Value(_))] if name == ENDED)
    }

    /// Adds batches of `schema` under `name`.
    pub fn put_batches(&mut self, name: &str, schema: SchemaRef, batches: Vec<RecordBatch>) {
        self.parts
            .push((name.to_string(), Part::Batches(schema, batches)));
    }

    /// Adds columns of equal length (`rows` of them) under `name`.
    pub fn put_columns(&mut self, name: &str, columns: Vec<ArrayRef>, rows: usize) -> Result<()> {
        let fields: Vec<Field> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        let batch = RecordBatch::try_new_with_options(schema.clone(), columns, &options)?;
        self.put_batches(name, schema, vec![batch]);
        Ok(())
    }

    /// Adds byte strings (keys or rows in Arrow's row format) under `name`.
    pub fn put_byte_strings<'a>(
        &mut self,
        name: &str,
        strings: impl Iterator<Item = &'a [u8]>,
    ) -> Result<()> {
        let strings: BinaryArray = strings.map(Some).collect();
        let rows = strings.len();
        self.put_columns(name, vec![Arc::new(strings)], rows)
    }

    /// Adds byte strings under `name` as views into buffers the state shares (a join's
    /// rows, in its blocks).
    pub fn put_byte_views(&mut self, name: &str, strings: BinaryViewArray) -> Result<()> {
        let rows = strings.len();
        self.put_columns(name, vec![Arc::new(strings)], rows)
    }

    /// The byte strings under `name` (put with [`State::put_byte_strings`] or
    /// [`State::put_byte_views`]), read in place.
    pub fn byte_strings(&self, name: &str) -> Result<ByteStrings> {
        let (columns, _) = self.columns(name)?;
        let not_strings = || corrupt(format!("part '{name}' is not byte strings"));
        let [strings] = columns.as_slice() else {
            return Err(not_strings());
        };
        if let Some(strings) = strings.as_binary_opt::<i32>() {
            Ok(ByteStrings::Offsets(strings.clone()))
        } else {
            let strings = strings.as_binary_view_opt().ok_or_else(not_strings)?;
            Ok(ByteStrings::Views(strings.clone()))
        }
    }

    /// Adds pairs of byte strings (keys and rows in Arrow's row format) under `name`.
    pub fn put_byte_pairs<'a>(
        &mut self,
        name: &str,
        pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Result<()> {
        let (mut firsts, mut seconds) = (BinaryBuilder::new(), BinaryBuilder::new());
        for (first, second) in pairs {
            firsts.append_value(first);
            seconds.append_value(second);
        }
        let rows = firsts.len();
        let columns: Vec<ArrayRef> = vec![Arc::new(firsts.finish()), Arc::new(seconds.finish())];
        self.put_columns(name, columns, rows)
    }

    /// The pairs under `name` (put with [`State::put_byte_pairs`]), read in place.
    pub fn byte_pairs(&self, name: &str) -> Result<BytePairs> {
        let (columns, _) = self.columns(name)?;
        let [firsts, seconds] = columns.as_slice() else {
            return Err(corrupt(format!("part '{name}' is not pairs")));
        };
        let (Some(firsts), Some(seconds)) = (
            firsts.as_binary_opt::<i32>(),
            seconds.as_binary_opt::<i32>(),
        ) else {
            return Err(corrupt(format!("part '{name}' is not pairs of bytes")));
        };
        // Columns of one batch: as long as each other.
        Ok(BytePairs(firsts.clone(), seconds.clone()))
    }

    /// Adds a serde value under `name`.
    pub fn put<T: Serialize>(&mut self, name: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| EngineError::Other(format!("state '{name}': {e}")))?;
        self.parts.push((name.to_string(), Part::Value(bytes)));
        Ok(())
    }

    /// Whether it has a part named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.parts.iter().any(|(n, _)| n == name)
    }

    fn part(&self, name: &str) -> Result<&Part> {
        self.parts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p)
            .ok_or_else(|| corrupt(format!("it has no part '{name}'")))
    }

    /// The batches under `name`.
    pub fn batches(&self, name: &str) -> Result<Vec<RecordBatch>> {
        match self.part(name)? {
            Part::Batches(_, batches) => Ok(batches.clone()),
            Part::Value(_) => Err(corrupt(format!("part '{name}' is not Arrow data"))),
        }
    }

    /// The columns under `name` (put with [`State::put_columns`]) and their length.
    pub fn columns(&self, name: &str) -> Result<(Vec<ArrayRef>, usize)> {
        match self.part(name)? {
            Part::Batches(schema, batches) => {
                let batch = arrow::compute::concat_batches(schema, batches)?;
                Ok((batch.columns().to_vec(), batch.num_rows()))
            }
            Part::Value(_) => Err(corrupt(format!("part '{name}' is not Arrow data"))),
        }
    }

    /// The `N` columns under `name` (put with [`State::put_columns`]) and their length.
    pub fn columns_of<const N: usize>(&self, name: &str) -> Result<([ArrayRef; N], usize)> {
        let (columns, rows) = self.columns(name)?;
        let columns = (columns.try_into())
            .map_err(|_| corrupt(format!("part '{name}' does not have {N} columns")))?;
        Ok((columns, rows))
    }

    /// The serde value under `name`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        match self.part(name)? {
            Part::Value(bytes) => serde_json::from_slice(bytes)
                .map_err(|e| corrupt(format!("part '{name}' does not read: {e}"))),
            Part::Batches(..) => Err(corrupt(format!("part '{name}' is Arrow data"))),
        }
    }

    /// The state as bytes: the magic, then each part as its name, kind and payload (in
    /// memory, for tests; a checkpoint writes them with [`State::encode_to`]).
    #[cfg(test)]
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = std::io::Cursor::new(Vec::new());
        self.encode_to(&mut out)?;
        Ok(out.into_inner())
    }

    /// Writes the state's bytes (the magic, then each part as its name, kind and payload) to
    /// `out` as they are made: each payload goes straight out, and its length is written
    /// before it once it is known, so that the encoded state is never held in memory beside
    /// the state (a join's rows can be most of the machine's memory).
    pub fn encode_to(&self, out: &mut (impl Write + Seek)) -> Result<()> {
        out.write_all(MAGIC).map_err(ArrowError::from)?;
        out.write_all(&(self.parts.len() as u32).to_le_bytes())
            .map_err(ArrowError::from)?;
        for (name, part) in &self.parts {
            let mut head = (name.len() as u32).to_le_bytes().to_vec();
            head.extend_from_slice(name.as_bytes());
            head.push(match part {
                Part::Batches(..) => 0,
                Part::Value(_) => 1,
            });
            out.write_all(&head).map_err(ArrowError::from)?;
            let length_at = out.stream_position().map_err(ArrowError::from)?;
            out.write_all(&0u64.to_le_bytes())
                .map_err(ArrowError::from)?;
            let padding = padding(length_at as usize + 8);
            out.write_all(&[0; ALIGN][..padding])
                .map_err(ArrowError::from)?;
            match part {
                Part::Batches(schema, batches) => {
                    let mut writer = StreamWriter::try_new(&mut *out, schema)?;
                    for batch in batches {
                        writer.write(batch)?;
                    }
                    writer.finish()?;
                }
                Part::Value(bytes) => out.write_all(bytes).map_err(ArrowError::from)?,
            }
            let end = out.stream_position().map_err(ArrowError::from)?;
            let length = end - length_at - 8 - padding as u64;
            out.seek(SeekFrom::Start(length_at))
                .and_then(|_| out.write_all(&length.to_le_bytes()))
                .and_then(|_| out.seek(SeekFrom::Start(end)))
                .map_err(ArrowError::from)?;
        }
        Ok(())
    }

    /// Reads bytes written by [`State::encode_to`] (or in version 1). Arrays read from them
    /// point into them (copied where they are not aligned as their type asks).
    pub fn decode(bytes: impl Into<Buffer>) -> Result<State> {
        let bytes = bytes.into();
        let mut input = Input {
            bytes: &bytes,
            at: 0,
        };
        let aligned = match input.take(MAGIC.len())? {
            magic if magic == MAGIC => true,
            magic if magic == MAGIC_1 => false,
            _ => {
                return Err(corrupt(
                    "it is not a rill state of a version this reads".into(),
                ));
            }
        };
        let count = u32::from_le_bytes(input.array()?);
        let mut parts = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let len = u32::from_le_bytes(input.array()?) as usize;
            let name = String::from_utf8(input.take(len)?.to_vec())
                .map_err(|_| corrupt("a part's name is not text".into()))?;
            let kind = input.take(1)?[0];
            let len = u64::from_le_bytes(input.array()?) as usize;
            if aligned {
                input.take(padding(input.at))?;
            }
            let start = input.at;
            let payload = input.take(len)?;
            let part = match kind {
                0 => batches(bytes.slice_with_length(start, len))?,
                1 => Part::Value(payload.to_vec()),
                _ => return Err(corrupt(format!("part '{name}' has unknown kind {kind}"))),
            };
            parts.push((name, part));
        }
        Ok(State { parts })
    }

    /// About how many bytes the state holds.
    pub fn bytes(&self) -> usize {
        self.parts
            .iter()
            .map(|(_, p)| match p {
                Part::Batches(_, b) => b.iter().map(RecordBatch::get_array_memory_size).sum(),
                Part::Value(v) => v.len(),
            })
            .sum()
    }
}

/// The zero bytes that put a payload that would start at `at` at a multiple of [`ALIGN`].
fn padding(at: usize) -> usize {
    at.next_multiple_of(ALIGN) - at
}

/// The batches of an Arrow IPC stream, as arrays over its bytes.
fn batches(mut stream: Buffer) -> Result<Part> {
    let mut decoder = StreamDecoder::new();
    let mut batches = Vec::new();
    while let Some(batch) = decoder.decode(&mut stream)? {
        batches.push(batch);
    }
    decoder.finish()?;
    let schema = (decoder.schema()).ok_or_else(|| corrupt("a stream has no schema".into()))?;
    Ok(Part::Batches(schema, batches))
}

fn corrupt(reason: String) -> EngineError {
    EngineError::Other(format!("a checkpointed state does not read: {reason}"))
}

/// A cursor over encoded bytes that fails, rather than panics, where they end too soon.
struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| corrupt("it ends too soon".into()))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};

    use super::*;

    #[test]
    fn a_state_reads_back_as_written() {
        let mut state = State::new();
        let keys: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None]));
        let sums: ArrayRef = Arc::new(Int64Array::from(vec![3, 4]));
        state
            .put_columns("groups", vec![keys.clone(), sums.clone()], 2)
            .unwrap();
        state.put_columns("none", vec![], 5).unwrap();
        state
            .put("position", &(7u64, "file.csv".to_string()))
            .unwrap();
        let read = State::decode(state.encode().unwrap()).unwrap();
        let (columns, rows) = read.columns("groups").unwrap();
        assert_eq!((columns.as_slice(), rows), ([keys, sums].as_slice(), 2));
        assert_eq!(read.columns("none").unwrap().1, 5);
        let position: (u64, String) = read.get("position").unwrap();
        assert_eq!(position, (7, "file.csv".to_string()));
        assert!(read.get::<u64>("missing").is_err());
    }

    /// A join's rows were put as offsets before they were put as views: both read back.
    #[test]
    fn byte_strings_read_back_put_as_offsets_or_as_views() {
        let strings: [&[u8]; 3] = [b"short", b"", b"longer than twelve bytes"];
        let mut state = State::new();
        state
            .put_byte_strings("offsets", strings.into_iter())
            .unwrap();
        let views = BinaryViewArray::from_iter_values(strings);
        state.put_byte_views("views", views).unwrap();
        let read = State::decode(state.encode().unwrap()).unwrap();
        for name in ["offsets", "views"] {
            let read = read.byte_strings(name).unwrap();
            assert_eq!(read.iter().collect::<Vec<_>>(), strings, "{name}");
        }
        assert!(matches!(
            read.byte_strings("views"),
            Ok(ByteStrings::Views(_))
        ));
    }

    #[test]
    fn an_ended_operator_reads_back_as_ended_and_nothing_else_does() {
        let read = State::decode(State::ended().encode().unwrap()).unwrap();
        assert!(read.is_ended());
        assert!(!State::new().is_ended());
        let mut own = State::new();
        own.put("n", &1u64).unwrap();
        assert!(!own.is_ended());
    }

    #[test]
    fn damaged_bytes_are_an_error_not_a_panic() {
        let mut state = State::new();
        state.put("n", &1u64).unwrap();
        let bytes = state.encode().unwrap();
        for cut in 0..bytes.len() {
            assert!(State::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut wrong = bytes.clone();
        wrong[3] = b'X';
        assert!(State::decode(wrong).is_err());
    }

    /// The bytes of a state of `parts` (name, kind, payload) in format `version`: each
    /// part's length before its payload, which starts at a multiple of 64 bytes in version 2.
    fn laid_out(version: u8, parts: &[(&str, u8, &[u8])]) -> Vec<u8> {
        let mut bytes = format!("RILLST0{version}").into_bytes();
        bytes.extend((parts.len() as u32).to_le_bytes());
        for (name, kind, payload) in parts {
            bytes.extend((name.len() as u32).to_le_bytes());
            bytes.extend(name.as_bytes());
            bytes.push(*kind);
            bytes.extend((payload.len() as u64).to_le_bytes());
            if version == 2 {
                bytes.resize(bytes.len().next_multiple_of(64), 0);
            }
            bytes.extend(*payload);
        }
        bytes
    }

    /// Checkpoints written before the state was encoded as it is written, or before its
    /// payloads were aligned, still read.
    #[test]
    fn each_part_is_its_name_kind_length_and_payload() {
        let values: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let mut state = State::new();
        state.put_columns("rows", vec![values.clone()], 3).unwrap();
        state.put("n", &7u64).unwrap();
        let (batch_schema, batch) = match &state.parts[0].1 {
            Part::Batches(schema, batches) => (schema.clone(), batches[0].clone()),
            Part::Value(_) => unreachable!("columns are batches"),
        };
        let mut ipc = StreamWriter::try_new(Vec::new(), &batch_schema).unwrap();
        ipc.write(&batch).unwrap();
        let ipc = ipc.into_inner().unwrap();
        let parts = [("rows", 0u8, &ipc[..]), ("n", 1, b"7")];
        let expected = laid_out(2, &parts);
        assert_eq!(state.encode().unwrap(), expected);
        let file = tempfile::tempfile().unwrap();
        let mut out = std::io::BufWriter::with_capacity(16, file);
        state.encode_to(&mut out).unwrap();
        let mut file = out.into_inner().unwrap();
        file.rewind().unwrap();
        let mut written = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut written).unwrap();
        assert_eq!(written, expected);
        for version in [1, 2] {
            let read = State::decode(laid_out(version, &parts)).unwrap();
            assert_eq!(read.columns("rows").unwrap(), (vec![values.clone()], 3));
            assert_eq!(read.get::<u64>("n").unwrap(), 7);
        }
    }

    /// A state read from a buffer (a mapped file, in a restore) reads its arrays in place.
    #[test]
    fn arrays_are_read_where_the_state_is() {
        let mut state = State::new();
        let strings = BinaryViewArray::from_iter_values([b"longer than twelve bytes"; 1000]);
        state.put_byte_views("views", strings).unwrap();
        let values: ArrayRef = Arc::new(Int64Array::from_iter_values(0..1000));
        state.put_columns("values", vec![values], 1000).unwrap();
        let bytes = Buffer::from_vec(state.encode().unwrap());
        let within = bytes.as_ptr_range();
        let read = State::decode(bytes.clone()).unwrap();
        let ([values], _) = read.columns_of("values").unwrap();
        let values = values.as_primitive::<arrow::datatypes::Int64Type>();
        assert!(within.contains(&values.values().inner().as_ptr()));
        let ByteStrings::Views(strings) = read.byte_strings("views").unwrap() else {
            panic!("views read as views")
        };
        assert!(within.contains(&strings.views().inner().as_ptr()));
        assert!(within.contains(&strings.data_buffers()[0].as_ptr()));
    }
}
