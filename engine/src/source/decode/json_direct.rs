//! A JSON decoder that reads records straight into arrow buffers, in one pass over the bytes,
//! for what most JSON input is: objects of strings, numbers, booleans, nulls and nested
//! objects. Arrow's decoder first writes every value of a record to a tape, then decodes the
//! tape column by column; on Nexmark's events that is most of a query's time.
//!
//! It reads what arrow's decoder reads (with the options [`super::arrow_json_decoder`] gives),
//! into the same batch, and nothing more: its columns are integers, text (a number or boolean
//! read into text is its JSON text) and rows of these. At a record it does not read exactly as
//! arrow does (a surrogate pair, a duplicate key, a number out of range, malformed JSON, ...)
//! it stops, and [`super::JsonLines`] hands the rest to arrow's decoder, which reads it, or
//! fails on it, as ever.

use std::sync::Arc;

use arrow::array::{ArrayRef, PrimitiveArray, RecordBatch, StringArray, StructArray};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Fields, Int8Type, Int16Type, Int32Type, Int64Type, SchemaRef,
};

/// Values nested deeper than this are left to arrow's decoder (this one recurses into them).
const MAX_DEPTH: usize = 64;

/// Rows of a schema of integers, text and rows, decoded from JSON objects.
pub(crate) struct Direct {
    schema: SchemaRef,
    root: Row,
    rows: usize,
    batch_size: usize,
}

/// How [`Direct::decode`] ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// At the end of the input, or with a full batch.
    Done,
    /// Before a record it does not read as arrow does.
    Unread,
}

/// How far a buffer is UTF-8, checked a window at a time as records are read (a check per
/// record costs a call per record).
#[derive(Default)]
struct Utf8 {
    /// Bytes before this are UTF-8.
    checked: usize,
    /// The first byte that is not.
    bad: Option<usize>,
}

impl Utf8 {
    /// Bytes checked ahead of the records read.
    const WINDOW: usize = 64 << 10;

    /// Whether `buf[..end]` is UTF-8.
    fn valid(&mut self, buf: &[u8], end: usize) -> bool {
        while self.bad.is_none() && self.checked < end {
            let to = (self.checked + Self::WINDOW).max(end).min(buf.len());
            match std::str::from_utf8(&buf[self.checked..to]) {
                Ok(_) => self.checked = to,
                // A character cut by the window's end: the next window starts with it.
                Err(e) if e.error_len().is_none() && to < buf.len() => {
                    self.checked += e.valid_up_to()
                }
                Err(e) => self.bad = Some(self.checked + e.valid_up_to()),
            }
        }
        self.bad.is_none_or(|bad| bad >= end)
    }
}

/// The columns of an object's fields, named.
struct Row {
    names: Vec<Box<[u8]>>,
    /// Each field's key as it is most often written, its name and closing quote, to be
    /// recognized in one comparison of 16 bytes; `None` for a name that does not fit or
    /// has a quote or backslash.
    keys: Vec<Option<Key>>,
    nullable: Vec<bool>,
    columns: Vec<Column>,
    /// The field the next key most likely names: the one after the last found.
    next: usize,
    /// Every field's bit.
    all: u64,
    /// NULL rows its columns are still to be given (a run of them is given at once).
    owed: usize,
}

enum Column {
    Int {
        values: Vec<i64>,
        nulls: Validity,
        data_type: DataType,
    },
    Text {
        offsets: Vec<i32>,
        bytes: Vec<u8>,
        nulls: Validity,
    },
    Row {
        row: Row,
        fields: Fields,
        nulls: Validity,
    },
}

impl Direct {
    /// A decoder of rows of `schema` (the types arrow's decoder reads), if it reads them all.
    pub(crate) fn new(schema: &SchemaRef, batch_size: usize) -> Option<Direct> {
        Some(Direct {
            schema: schema.clone(),
            root: Row::new(schema.fields())?,
            rows: 0,
            batch_size,
        })
    }

    /// The rows decoded and not yet flushed.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Reads records from `buf` until it is used up, the batch is full, or a record is not
    /// read; returns the bytes consumed (whole records) and why it stopped.
    pub(crate) fn decode(&mut self, buf: &[u8]) -> (usize, Stop) {
        let mut at = Cursor { buf, at: 0 };
        let mut utf8 = Utf8::default();
        loop {
            at.whitespace();
            if at.at == buf.len() || self.rows == self.batch_size {
                return (at.at, Stop::Done);
            }
            let start = at.at;
            let read = at.byte() == Some(b'{')
                && at.object(&mut self.root, 0).is_some()
                // Only strings may hold bytes past ASCII: arrow checks them for UTF-8.
                && utf8.valid(buf, at.at);
            if !read {
                self.root.truncate(self.rows);
                return (start, Stop::Unread);
            }
            self.rows += 1;
        }
    }

    /// The rows decoded since the last flush, as arrow's decoder gives them.
    pub(crate) fn flush(&mut self) -> Option<RecordBatch> {
        if self.rows == 0 {
            return None;
        }
        let columns = self.root.finish();
        self.rows = 0;
        let batch = RecordBatch::try_new(self.schema.clone(), columns);
        Some(batch.expect("columns of the schema's types, each with every row"))
    }
}

impl Row {
    fn new(fields: &Fields) -> Option<Row> {
        // A row of no fields has no bit to see it by (and arrow keeps its length apart).
        if fields.is_empty() || fields.len() > 64 {
            return None;
        }
        let columns = fields.iter().map(|f| Column::new(f.data_type()));
        Some(Row {
            names: fields.iter().map(|f| f.name().as_bytes().into()).collect(),
            keys: fields
                .iter()
                .map(|f| Key::new(f.name().as_bytes()))
                .collect(),
            nullable: fields.iter().map(|f| f.is_nullable()).collect(),
            columns: columns.collect::<Option<_>>()?,
            next: 0,
            all: u64::MAX >> (64 - fields.len()),
            owed: 0,
        })
    }

    /// The field whose key comes next in `at` (its opening quote read), which the cursor
    /// then passes: `Some(None)` for a key no field has.
    fn key(&mut self, at: &mut Cursor) -> Option<Option<usize>> {
        let expected = self.keys.get(self.next).copied().flatten();
        if let Some(key) = expected
            && let Some(next) = at.buf[at.at..].first_chunk::<16>()
            && key.starts(next)
        {
            at.at += key.width;
            self.next += 1;
            return Some(Some(self.next - 1));
        }
        Some(self.find(at.name()?))
    }

    /// The field named `name`.
    fn find(&mut self, name: &[u8]) -> Option<usize> {
        let i = match self.names.get(self.next) {
            Some(guess) if same(guess, name) => self.next,
            _ => self.names.iter().position(|n| same(n, name))?,
        };
        self.next = i + 1;
        Some(i)
    }

    /// Gives every column the NULL rows owed.
    fn settle(&mut self) {
        let owed = std::mem::take(&mut self.owed);
        if owed > 0 {
            self.columns.iter_mut().for_each(|c| c.push_nulls(owed));
        }
    }

    fn truncate(&mut self, rows: usize) {
        self.settle();
        self.columns.iter_mut().for_each(|c| c.truncate(rows));
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        self.settle();
        self.columns.iter_mut().map(Column::finish).collect()
    }
}

/// A key, its name and closing quote, as the first bytes of a little-endian word.
#[derive(Clone, Copy)]
struct Key {
    bytes: u128,
    /// The bits of the key's bytes.
    mask: u128,
    width: usize,
}

impl Key {
    fn new(name: &[u8]) -> Option<Key> {
        let width = name.len() + 1;
        if width > 16 || name.iter().any(|b| matches!(b, b'"' | b'\\')) {
            return None;
        }
        let mut bytes = [0; 16];
        bytes[..name.len()].copy_from_slice(name);
        bytes[name.len()] = b'"';
        Some(Key {
            bytes: u128::from_le_bytes(bytes),
            mask: u128::MAX >> (8 * (16 - width)),
            width,
        })
    }

    /// Whether `next` starts with the key.
    fn starts(&self, next: &[u8; 16]) -> bool {
        u128::from_le_bytes(*next) & self.mask == self.bytes
    }
}

/// Whether two short byte strings are equal (without a call to `memcmp`).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

impl Column {
    fn new(data_type: &DataType) -> Option<Column> {
        let nulls = Validity::default();
        Some(match data_type {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => Column::Int {
                values: Vec::new(),
                nulls,
                data_type: data_type.clone(),
            },
            DataType::Utf8 => Column::Text {
                offsets: vec![0],
                bytes: Vec::new(),
                nulls,
            },
            DataType::Struct(fields) => Column::Row {
                row: Row::new(fields)?,
                fields: fields.clone(),
                nulls,
            },
            _ => return None,
        })
    }

    /// `n` NULLs, and NULLs in every field below (as arrow reads a NULL row): a row's
    /// fields are owed theirs until it has a value, so that runs of NULL rows (the other
    /// kinds of a table of events of several kinds) cost a count.
    fn push_nulls(&mut self, n: usize) {
        match self {
            Column::Int { values, nulls, .. } => {
                values.resize(values.len() + n, 0);
                nulls.push_nulls(n);
            }
            Column::Text { offsets, nulls, .. } => {
                let last = *offsets.last().expect("a first offset");
                offsets.resize(offsets.len() + n, last);
                nulls.push_nulls(n);
            }
            Column::Row { row, nulls, .. } => {
                row.owed += n;
                nulls.push_nulls(n);
            }
        }
    }

    /// Drops the values after the first `rows`.
    fn truncate(&mut self, rows: usize) {
        match self {
            Column::Int { values, nulls, .. } => {
                values.truncate(rows);
                nulls.truncate(rows);
            }
            Column::Text {
                offsets,
                bytes,
                nulls,
            } => {
                offsets.truncate(rows + 1);
                bytes.truncate(offsets[rows] as usize);
                nulls.truncate(rows);
            }
            Column::Row { row, nulls, .. } => {
                row.truncate(rows);
                nulls.truncate(rows);
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Int {
                values,
                nulls,
                data_type,
            } => {
                let rows = values.len();
                let values = std::mem::replace(values, Vec::with_capacity(rows));
                let nulls = nulls.finish();
                match data_type {
                    DataType::Int8 => narrow::<Int8Type>(values, nulls),
                    DataType::Int16 => narrow::<Int16Type>(values, nulls),
                    DataType::Int32 => narrow::<Int32Type>(values, nulls),
                    _ => Arc::new(PrimitiveArray::<Int64Type>::new(values.into(), nulls)),
                }
            }
            Column::Text {
                offsets,
                bytes,
                nulls,
            } => {
                let mut next = Vec::with_capacity(offsets.len());
                next.push(0);
                let offsets = OffsetBuffer::new(std::mem::replace(offsets, next).into());
                let bytes = std::mem::replace(bytes, Vec::with_capacity(bytes.len())).into();
                Arc::new(StringArray::new(offsets, bytes, nulls.finish()))
            }
            Column::Row { row, fields, nulls } => Arc::new(StructArray::new(
                fields.clone(),
                row.finish(),
                nulls.finish(),
            )),
        }
    }
}

/// Integers read in range of `T` (checked as each is read), as `T`.
fn narrow<T: ArrowPrimitiveType>(values: Vec<i64>, nulls: Option<NullBuffer>) -> ArrayRef
where
    T::Native: TryFrom<i64>,
{
    let values = (values.into_iter())
        .map(|v| T::Native::try_from(v).unwrap_or_else(|_| unreachable!("{v} was read in range")));
    Arc::new(PrimitiveArray::<T>::new(
        ScalarBuffer::from_iter(values),
        nulls,
    ))
}

/// Which values of a column are valid, a bit each, as arrow's null buffers hold them.
/// (Arrow's `NullBufferBuilder` checks on every bit whether to make its bitmap, and a NULL
/// row pushes a bit for each of its fields: that was 7 % of decoding Nexmark's events.)
#[derive(Default)]
struct Validity {
    words: Vec<u64>,
    len: usize,
}

impl Validity {
    fn push(&mut self, valid: bool) {
        let bit = self.len % 64;
        if bit == 0 {
            self.words.push(0);
        }
        *self.words.last_mut().expect("a word") |= u64::from(valid) << bit;
        self.len += 1;
    }

    /// `n` invalid bits (the bits past the last one pushed are clear).
    fn push_nulls(&mut self, n: usize) {
        self.len += n;
        self.words.resize(self.len.div_ceil(64), 0);
    }

    fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.words.truncate(len.div_ceil(64));
            if let Some(last) = self.words.last_mut().filter(|_| !len.is_multiple_of(64)) {
                *last &= (1 << (len % 64)) - 1;
            }
            self.len = len;
        }
    }

    /// The bits pushed (none if all are valid), starting again.
    fn finish(&mut self) -> Option<NullBuffer> {
        let capacity = self.words.len();
        let mut words = std::mem::replace(&mut self.words, Vec::with_capacity(capacity));
        words.iter_mut().for_each(|w| *w = w.to_le());
        let bits = BooleanBuffer::new(Buffer::from_vec(words), 0, std::mem::take(&mut self.len));
        Some(NullBuffer::new(bits)).filter(|n| n.null_count() > 0)
    }
}

/// A read position in a buffer. Its methods return `None` for what is not read.
struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.at).copied()
    }

    fn byte(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.byte()? == b).then_some(())
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    /// The rest of an object (its `{` read) into `row`: each field's value, NULL for each
    /// field missing.
    fn object(&mut self, row: &mut Row, depth: usize) -> Option<()> {
        row.settle();
        let mut seen = 0u64;
        row.next = 0;
        self.members(|at| {
            let key = row.key(at)?;
            at.whitespace();
            at.expect(b':')?;
            at.whitespace();
            match key {
                // Arrow keeps a key's last value; such input is left to it.
                Some(i) if seen & (1 << i) != 0 => None,
                Some(i) => {
                    seen |= 1 << i;
                    at.value(&mut row.columns[i], row.nullable[i], depth)
                }
                None => at.skip(depth),
            }
        })?;
        if seen != row.all {
            for i in (0..row.columns.len()).filter(|i| seen & (1 << i) == 0) {
                // Arrow fails on a missing value of a field that may not be NULL.
                row.nullable[i].then_some(())?;
                row.columns[i].push_nulls(1);
            }
        }
        Some(())
    }

    /// The members of an object, its `{` read, each read by `member` from its key's quote on.
    fn members(&mut self, mut member: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.expect(b'"')?;
            member(self)?;
            self.whitespace();
            match self.byte()? {
                b',' => self.whitespace(),
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A value into `column`.
    fn value(&mut self, column: &mut Column, nullable: bool, depth: usize) -> Option<()> {
        match (self.peek()?, column) {
            (b'n', column) => {
                self.literal(b"null")?;
                // A field that may not be NULL: arrow fails on it.
                nullable.then_some(())?;
                column.push_nulls(1);
            }
            (
                b'"',
                Column::Text {
                    offsets,
                    bytes,
                    nulls,
                },
            ) => {
                self.at += 1;
                self.string(Some(&mut *bytes))?;
                offsets.push(i32::try_from(bytes.len()).ok()?);
                nulls.push(true);
            }
            (
                b'-' | b'0'..=b'9',
                Column::Int {
                    values,
                    nulls,
                    data_type,
                },
            ) => {
                values.push(self.integer(data_type)?);
                nulls.push(true);
            }
            // A number or boolean read as text is its JSON text.
            (
                b'-' | b'0'..=b'9' | b't' | b'f',
                Column::Text {
                    offsets,
                    bytes,
                    nulls,
                },
            ) => {
                let start = self.at;
                match self.peek()? {
                    b't' => self.literal(b"true")?,
                    b'f' => self.literal(b"false")?,
                    _ => self.number()?,
                }
                bytes.extend_from_slice(&self.buf[start..self.at]);
                offsets.push(i32::try_from(bytes.len()).ok()?);
                nulls.push(true);
            }
            (b'{', Column::Row { row, nulls, .. }) if depth < MAX_DEPTH => {
                self.at += 1;
                self.object(row, depth + 1)?;
                nulls.push(true);
            }
            _ => return None,
        }
        Some(())
    }

    /// Skips a value of a field the schema does not have, as long as it is valid JSON.
    fn skip(&mut self, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => {
                self.at += 1;
                self.string(None)
            }
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'{' => {
                self.at += 1;
                self.members(|at| {
                    at.string(None)?;
                    at.whitespace();
                    at.expect(b':')?;
                    at.whitespace();
                    at.skip(depth + 1)
                })
            }
            b'[' => {
                self.at += 1;
                self.whitespace();
                if self.peek()? == b']' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.skip(depth + 1)?;
                    self.whitespace();
                    match self.byte()? {
                        b',' => self.whitespace(),
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    /// A key, its opening quote read: its bytes, when it has no escape.
    fn name(&mut self) -> Option<&'a [u8]> {
        let rest = &self.buf[self.at..];
        let end = quote_or_escape(rest)?;
        (rest[end] == b'"').then_some(())?;
        self.at += end + 1;
        Some(&rest[..end])
    }

    /// The rest of a string, its opening quote read, unescaped into `out` if given.
    fn string(&mut self, mut out: Option<&mut Vec<u8>>) -> Option<()> {
        loop {
            let rest = &self.buf[self.at..];
            let end = quote_or_escape(rest)?;
            if let Some(out) = out.as_deref_mut() {
                out.extend_from_slice(&rest[..end]);
            }
            self.at += end + 1;
            if rest[end] == b'"' {
                return Some(());
            }
            let unescaped = match self.byte()? {
                b @ (b'"' | b'\\' | b'/') => b,
                b'b' => 8,
                b'f' => 12,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'u' => {
                    let c = self.code_point()?;
                    if let Some(out) = out.as_deref_mut() {
                        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    }
                    continue;
                }
                _ => return None,
            };
            if let Some(out) = out.as_deref_mut() {
                out.push(unescaped);
            }
        }
    }

    /// The character of a `\u` escape, its `\u` read: one of the Basic Multilingual Plane
    /// (surrogate pairs are left to arrow, which reads some malformed ones its own way).
    fn code_point(&mut self) -> Option<char> {
        let hex = self.buf.get(self.at..self.at + 4)?;
        let code =
            (hex.iter()).try_fold(0, |code, h| Some(code << 4 | char::from(*h).to_digit(16)?))?;
        self.at += 4;
        char::from_u32(code)
    }

    /// A number by JSON's grammar. (Arrow's decoder reads on while bytes could continue a
    /// number: what follows one here, in an object or array, is no such byte.)
    fn number(&mut self) -> Option<()> {
        self.integer_part()?;
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.digits()?;
        }
        Some(())
    }

    /// An integer (no fraction, no exponent) in range of `data_type`.
    fn integer(&mut self, data_type: &DataType) -> Option<i64> {
        let negative = self.peek() == Some(b'-');
        self.at += usize::from(negative);
        let first = self.at;
        // Read as the digits are scanned: up to 18 digits cannot overflow.
        let mut magnitude = 0u64;
        match self.byte()? {
            b'0' => {}
            d @ b'1'..=b'9' => {
                magnitude = u64::from(d - b'0');
                while let Some(d @ b'0'..=b'9') = self.peek() {
                    magnitude = magnitude.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                    self.at += 1;
                }
            }
            _ => return None,
        }
        let value = if self.at - first <= 18 {
            let magnitude = magnitude as i64;
            if negative { -magnitude } else { magnitude }
        } else {
            // Accumulated negative, so that the most negative value fits.
            let mut value: i64 = 0;
            for d in &self.buf[first..self.at] {
                value = value.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
            }
            if negative {
                value
            } else {
                value.checked_neg()?
            }
        };
        let fits = match data_type {
            DataType::Int8 => i8::try_from(value).is_ok(),
            DataType::Int16 => i16::try_from(value).is_ok(),
            DataType::Int32 => i32::try_from(value).is_ok(),
            _ => true,
        };
        fits.then_some(value)
    }

    /// `-?(0|[1-9][0-9]*)`.
    fn integer_part(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.byte()? {
            b'0' => Some(()),
            b'1'..=b'9' => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.at += 1;
                }
                Some(())
            }
            _ => None,
        }
    }

    /// One digit or more.
    fn digits(&mut self) -> Option<()> {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }

    fn literal<const N: usize>(&mut self, word: &[u8; N]) -> Option<()> {
        let next: &[u8; N] = self.buf.get(self.at..self.at + N)?.try_into().ok()?;
        (next == word).then_some(())?;
        self.at += N;
        Some(())
    }
}

/// Where the first `"` or `\` of `bytes` is.
fn quote_or_escape(bytes: &[u8]) -> Option<usize> {
    // Most keys and many values end before a vector search would pay for itself: the first
    // 16 bytes are looked at as one word.
    const SHORT: usize = 16;
    let Some(first) = bytes.first_chunk::<SHORT>() else {
        return bytes.iter().position(|b| matches!(b, b'"' | b'\\'));
    };
    let word = u128::from_le_bytes(*first);
    match zero_bytes(word ^ repeated(b'"')) | zero_bytes(word ^ repeated(b'\\')) {
        0 => memchr::memchr2(b'"', b'\\', &bytes[SHORT..]).map(|end| end + SHORT),
        found => Some(found.trailing_zeros() as usize / 8),
    }
}

/// A word of 16 bytes `b`.
const fn repeated(b: u8) -> u128 {
    u128::from_le_bytes([b; 16])
}

/// The high bit of each zero byte of `word` set, and perhaps of bytes above the first zero
/// byte (a borrow runs up from it), never below: the lowest bit set marks the first one.
fn zero_bytes(word: u128) -> u128 {
    word.wrapping_sub(repeated(0x01)) & !word & repeated(0x80)
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{Field, Schema};

    use super::super::{JsonLines, arrow_json_decoder, json_read_schema};
    use super::*;
    use arrow::error::ArrowError;

    /// A name of 15 bytes: its key, with the closing quote, fills a word.
    const B: &str = "b_fifteen_bytes";
    /// A name too long for a word.
    const Y: &str = "y_of_seventeen_by";

    /// A schema of every type the direct decoder reads, some fields not nullable.
    fn schema() -> SchemaRef {
        let inner = Fields::from(vec![Field::new("w", DataType::Int16, true)]);
        let row = Fields::from(vec![
            Field::new("x", DataType::Int8, true),
            Field::new(Y, DataType::Utf8, false),
            Field::new("z", DataType::Struct(inner), true),
        ]);
        Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new(B, DataType::Utf8, true),
            Field::new("c", DataType::Int32, false),
            Field::new("s", DataType::Struct(row), true),
            Field::new(
                "t",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None),
                true,
            ),
        ]))
    }

    /// The rows of `text` read as a file's chunk is (a call of `decode`, then `flush`, until
    /// it is used up), or none if that fails.
    fn read(
        text: &[u8],
        batch_size: usize,
        mut decode_and_flush: impl FnMut(&[u8]) -> Result<(usize, Option<RecordBatch>), ArrowError>,
    ) -> Option<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        let mut at = 0;
        while at < text.len() {
            let (consumed, batch) = decode_and_flush(&text[at..]).ok()?;
            at += consumed;
            batches.extend(batch);
            assert!(batches.iter().all(|b| b.num_rows() <= batch_size));
        }
        Some(batches)
    }

    /// What the direct decoder (with arrow's after it) and arrow's alone read from `text`;
    /// and whether the direct decoder read all of it.
    fn both(
        schema: &SchemaRef,
        text: &[u8],
        batch_size: usize,
    ) -> (Option<RecordBatch>, Option<RecordBatch>, bool) {
        let concat = |batches: Option<Vec<RecordBatch>>, schema: &SchemaRef| {
            batches.map(|b| arrow::compute::concat_batches(schema, &b).unwrap())
        };
        let mut lines = JsonLines::new(schema, batch_size).unwrap();
        let read_schema = json_read_schema(schema);
        let mut arrow = arrow_json_decoder(read_schema.clone(), batch_size).unwrap();
        let direct = read(text, batch_size, |b| Ok((lines.decode(b)?, lines.flush()?)));
        let all_direct = lines.direct();
        let alone = read(text, batch_size, |b| Ok((arrow.decode(b)?, arrow.flush()?)));
        (
            concat(direct, &read_schema),
            concat(alone, &read_schema),
            all_direct,
        )
    }

    /// Random records, the same on every run (xorshift).
    struct Gen {
        state: u64,
        kind: Kind,
    }

    /// What records a [`Gen`] makes.
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        /// Records the direct decoder reads.
        Plain,
        /// Records arrow's decoder reads, now and then its own way (a duplicate key, a
        /// surrogate pair, a missing comma): the direct decoder leaves those to it.
        Quirky,
        /// Anything, malformed or not.
        Messy,
    }

    /// Integers of every integer type (first), then of wider types, then no integers.
    const NUMBERS: &[&str] = &[
        "0",
        "-0",
        "7",
        "-128",
        "127",
        "128",
        "-129",
        "32767",
        "-32769",
        "2147483647",
        "2147483648",
        "-2147483648",
        "999999999999999999",
        "-999999999999999999",
        "1000000000000000000",
        "-1000000000000000000",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "1.5",
        "-0.25",
        "1e3",
        "1E+3",
        "2e-2",
        "01",
        "00",
        "1.",
        ".5",
        "-",
        "1.5.2",
        "1e",
        "+1",
        "3-4",
    ];
    /// Strings the direct decoder reads (first), then others.
    const STRINGS: &[&str] = &[
        r#""""#,
        r#""abc""#,
        r#""tab\tq\"uote\\ \/ \b\f\n\r""#,
        "\"é ü 中\"",
        r#""2024-01-01 00:00:00.001""#,
        r#""not a time""#,
        "\"raw\ttab\"",
        r#""12""#,
        r#""\u00e9 \u4E2D \u0000 \u00FF""#,
        r#""\ud83d\ude00""#,
        r#""\ud83d""#,
        r#""\x""#,
        r#""\u00g1""#,
        r#""\u12""#,
        r#""open"#,
    ];
    /// Other values: valid JSON (first), then not.
    const OTHERS: &[&str] = &[
        "null",
        "true",
        "false",
        "[]",
        r#"[1, "a", {"k": [null, 2.5e1]}]"#,
        "{}",
        r#"{"k": {"j": 1}}"#,
        "nul",
        "tru",
        "[1,]",
        "{,}",
        "[1 2]",
    ];
    const SPACES: &[&str] = &["", "", "", " ", "\n", "\t", "\r\n", "  "];

    impl Gen {
        fn below(&mut self, n: usize) -> usize {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            (self.state % n as u64) as usize
        }

        /// One of `from`: of its first `plain` or `quirky` for those kinds.
        fn pick<'a>(&mut self, from: &[&'a str], plain: usize, quirky: usize) -> &'a str {
            let n = match self.kind {
                Kind::Plain => plain,
                Kind::Quirky => quirky,
                Kind::Messy => from.len(),
            };
            from[self.below(n)]
        }

        /// A value for `key`: mostly one of its type; unless messy, one read into its type.
        fn value(&mut self, key: &str, depth: usize) -> String {
            let fitting = self.below(10) < 7 || self.kind != Kind::Messy;
            match key {
                "s" if fitting && depth < 3 => self.object(&["x", Y, "z"], &[Y], depth + 1),
                "z" if fitting && depth < 3 => self.object(&["w"], &[], depth + 1),
                "s" | "z" if fitting => "null".into(),
                "a" | "c" | "x" | "w" if fitting => self.pick(NUMBERS, 5, 5).into(),
                // A number or boolean is read as its text.
                B | Y | "t" if fitting => match self.below(4) {
                    0 => self.pick(&NUMBERS[..21], 21, 21),
                    1 => self.pick(&["true", "false", "null"], 2, 2),
                    _ => self.pick(STRINGS, 9, 10),
                }
                .into(),
                _ => match self.below(3) {
                    0 => self.pick(NUMBERS, 21, 21),
                    1 => self.pick(STRINGS, 9, 10),
                    _ => self.pick(OTHERS, 7, 7),
                }
                .into(),
            }
        }

        /// An object of mostly the fields `keys` (in any order, some missing) and some
        /// others; unless messy, with every field of `needed`.
        fn object(&mut self, keys: &[&str], needed: &[&str], depth: usize) -> String {
            let mut keys: Vec<&str> = (keys.iter())
                .filter(|k| self.below(8) > 0 || (self.kind != Kind::Messy && needed.contains(k)))
                .copied()
                .collect();
            for _ in 0..self.below(3) {
                // Unknown keys, some a field's name but for its last byte or one more.
                let others = [
                    "u",
                    "v",
                    "é",
                    "b_fifteen_byte",
                    "b_fifteen_bytess",
                    "a",
                    "a\\u0062",
                ];
                let other = self.pick(&others, 5, 7);
                keys.insert(self.below(keys.len() + 1), other);
            }
            if self.below(4) == 0 && keys.len() > 1 {
                let (i, j) = (self.below(keys.len()), self.below(keys.len()));
                keys.swap(i, j);
            }
            let mut out = String::from("{");
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    let commas = [",", ",", ",", ",", ",", ",", ",", ",", ",", ",", ",,", ""];
                    out += self.pick(&commas, 10, 12);
                }
                out += self.pick(SPACES, 8, 8);
                out += &format!("\"{key}\"{}:", self.pick(SPACES, 8, 8));
                out += self.pick(SPACES, 8, 8);
                out += &self.value(key, depth);
                out += self.pick(SPACES, 8, 8);
            }
            out + "}"
        }

        /// A few records of a kind: objects of the schema's fields, when messy now and then
        /// something else; of any kind, now and then with a byte that is no UTF-8 in a string.
        fn records(&mut self) -> Vec<u8> {
            self.kind = [Kind::Plain, Kind::Quirky, Kind::Messy][self.below(3)];
            let mut text = String::new();
            for _ in 0..1 + self.below(5) {
                match self.below(25) {
                    0 if self.kind == Kind::Messy => {
                        text += self.pick(&["null", "[1]", "5", "\"s\"", "{", "}"], 0, 0)
                    }
                    _ => text += &self.object(&["a", B, "c", "s", "t"], &["c"], 0),
                }
                text += self.pick(&["\n", "\n", "\n", "\n", " ", "\n\n", "\r\n", ""], 8, 8);
            }
            match text.find("abc") {
                Some(at) if self.below(4) == 0 => [
                    &text.as_bytes()[..at],
                    b"a\xffc",
                    &text.as_bytes()[at + 3..],
                ]
                .concat(),
                _ => text.into_bytes(),
            }
        }
    }

    #[test]
    fn reads_what_arrows_decoder_reads() {
        let schema = schema();
        let mut records = Gen {
            state: 0x5eed_cafe_f00d,
            kind: Kind::Messy,
        };
        let (mut read, mut direct, mut failed) = (0, 0, 0);
        for case in 0..4000 {
            let text = records.records();
            let batch_size = [1, 2, 3, 1024][case % 4];
            let (ours, arrows, all_direct) = both(&schema, &text, batch_size);
            let text = String::from_utf8_lossy(&text);
            assert_eq!(
                ours, arrows,
                "case {case}, batches of {batch_size}: {text:?}"
            );
            match ours {
                Some(_) if all_direct => direct += 1,
                Some(_) => read += 1,
                None => failed += 1,
            }
        }
        // The cases cross every path: read directly, handed on to arrow, failed.
        assert!(
            direct > 1000 && read > 300 && failed > 300,
            "{direct} {read} {failed}"
        );
    }

    /// Events as the Nexmark generator writes them, through the benchmark's table.
    #[test]
    fn reads_nexmark_events_itself() {
        // Fields as `name type`: `i` a BIGINT, `s` a STRING, `t` a TIMESTAMP(3).
        let row = |fields: &str| {
            let fields = fields.split(", ").map(|field| {
                let (name, short) = field.split_once(' ').unwrap();
                let data_type = match short {
                    "i" => DataType::Int64,
                    "s" => DataType::Utf8,
                    _ => DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None),
                };
                Field::new(name, data_type, true)
            });
            DataType::Struct(fields.collect())
        };
        let person =
            row("id i, name s, emailAddress s, creditCard s, city s, state s, dateTime t, extra s");
        let auction = row(
            "id i, itemName s, description s, initialBid i, reserve i, dateTime t, expires t, \
             seller i, category i, extra s",
        );
        let bid = row("auction i, bidder i, price i, channel s, url s, dateTime t, extra s");
        let schema = Arc::new(Schema::new(vec![
            Field::new("event_type", DataType::Int32, true),
            Field::new("person", person, true),
            Field::new("auction", auction, true),
            Field::new("bid", bid, true),
        ]));
        let events = r#"{"event_type":0,"person":{"id":1000,"name":"Vicky Noris","emailAddress":"yplkvgz@qbxfg.com","creditCard":"7878 5821 1864 2539","city":"Cheyenne","state":"AZ","dateTime":"2024-01-01 00:00:00","extra":"lwaiyhjhrk"},"auction":null,"bid":null}
{"event_type":1,"person":null,"auction":{"id":1001,"itemName":"tfwipvdbmd","description":"ayfnatbsal","initialBid":1171819,"reserve":93374315,"dateTime":"2024-01-01 00:00:00","expires":"2024-01-01 00:00:00.001","seller":1000,"category":13,"extra":"ngtjoormrs"},"bid":null}
{"event_type":2,"person":null,"auction":null,"bid":{"auction":1000,"bidder":1001,"price":73134520,"channel":"channel-7568","url":"https://www.nexmark.com/rswp/bsu/_gzj/item.htm?query=1&channel_id=163053568","dateTime":"2024-01-01 00:00:00","extra":"tjegpemlel"}}
"#;
        let (ours, arrows, all_direct) = both(&schema, events.as_bytes(), 2);
        assert_eq!(ours.as_ref().map(RecordBatch::num_rows), Some(3));
        assert_eq!(ours, arrows);
        assert!(all_direct, "arrow's decoder read some of the events");
    }

    /// Keys read by their whole names, closing quote included: unknown keys that start as
    /// the next field's name does are not taken for it.
    #[test]
    fn keys_are_read_by_their_whole_names() {
        let text = format!(
            "{{\"a\": 1, \"{B}s\": 2, \"b_fifteen_byte\": 3, \"{B}\": \"b\", \"c\": 1, \
             \"s\": {{\"x\": 1, \"{Y}y\": 4, \"{Y}\": \"y\"}}, \"t\": null}}\n"
        );
        let (ours, arrows, all_direct) = both(&schema(), text.as_bytes(), 4);
        assert_eq!(ours, arrows);
        let ours = ours.expect("read");
        assert_eq!(
            arrow::array::AsArray::as_string::<i32>(ours.column(1)).value(0),
            "b"
        );
        assert!(all_direct, "arrow's decoder read the record");
    }

    #[test]
    fn validity_keeps_the_bits_left_after_truncating() {
        let mut random = Gen {
            state: 7,
            kind: Kind::Plain,
        };
        let (mut bits, mut model) = (Validity::default(), Vec::new());
        for _ in 0..3 {
            for _ in 0..500 {
                if random.below(20) == 0 {
                    let len = random.below(model.len() + 1);
                    bits.truncate(len);
                    model.truncate(len);
                } else if random.below(10) == 0 {
                    let n = random.below(130);
                    bits.push_nulls(n);
                    model.resize(model.len() + n, false);
                } else {
                    let valid = random.below(3) > 0;
                    bits.push(valid);
                    model.push(valid);
                }
            }
            let expected = NullBuffer::from(model.clone());
            assert_eq!(bits.finish(), Some(expected).filter(|n| n.null_count() > 0));
            model.clear();
        }
        assert_eq!(bits.finish(), None);
        bits.push(true);
        assert_eq!(bits.finish(), None, "all valid");
    }

    #[test]
    fn utf8_is_checked_across_windows() {
        // A two-byte character cut by the first window's end, then a byte that is no UTF-8.
        let mut buf = vec![b'a'; Utf8::WINDOW - 1];
        buf.extend("é".as_bytes());
        buf.extend([b'b'; 100]);
        let bad = buf.len();
        buf.push(0xff);
        buf.extend([b'c'; 10]);
        let mut utf8 = Utf8::default();
        assert!(utf8.valid(&buf, 10));
        assert!(utf8.valid(&buf, Utf8::WINDOW + 5));
        assert!(utf8.valid(&buf, bad));
        assert!(!utf8.valid(&buf, bad + 1));
        assert!(!utf8.valid(&buf, buf.len()));
    }

    /// Bytes decoded in several calls before one flush (as Kafka messages are) give all their
    /// records in it: the decoder takes no more once the direct decoder has stopped with rows.
    #[test]
    fn a_flush_gives_every_record_consumed() {
        let text = b"{\"c\": 1}\n{\"c\": 2, \"c\": 2}\n{\"c\": 3}\n";
        let mut lines = JsonLines::new(&schema(), 16).unwrap();
        let mut at = 0;
        while at < text.len() {
            match lines.decode(&text[at..]).unwrap() {
                0 => break,
                n => at += n,
            }
        }
        let records = text[..at].iter().filter(|b| **b == b'\n').count();
        let rows = lines.flush().unwrap().map_or(0, |b| b.num_rows());
        assert_eq!((records, rows), (1, 1));
        // Then arrow's decoder reads on.
        assert_eq!(lines.decode(&text[at..]).unwrap(), text.len() - at);
        assert_eq!(lines.flush().unwrap().map(|b| b.num_rows()), Some(2));
    }
}
