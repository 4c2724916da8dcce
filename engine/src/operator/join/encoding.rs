//! How the joins encode the rows they keep: each row one compact byte string, a null bitmap
//! followed by the values of its non-null columns, as they are in Arrow's buffers (a string
//! with its length before it). Arrow's row format, made for comparing rows, pads strings to
//! blocks and is a fifth larger on Nexmark's bids; it serves here only for the types without a
//! plainer form (nested ones), one column at a time.
//!
//! Equal rows encode to equal bytes (a retraction finds its row by them): a value's bytes are
//! those of its buffer, a NULL has none, and the fallback's encoding is canonical.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayData, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder, make_array,
};
use arrow::buffer::{MutableBuffer, NullBuffer};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::row::{OwnedRow, RowConverter, Rows, SortField};

use crate::Result;

/// How one column's values are written.
enum Column {
    /// A fixed-width value: the bytes of its buffer (primitive types).
    Fixed(usize),
    /// One byte, 0 or 1.
    Boolean,
    /// A length (`u32`, little-endian) and the bytes (strings and binaries).
    Bytes,
    /// A length and the value in Arrow's row format (the other types).
    Row {
        converter: RowConverter,
        null: OwnedRow,
    },
}

impl Column {
    fn new(data_type: &DataType) -> Result<Column> {
        Ok(match data_type {
            DataType::Boolean => Column::Boolean,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Binary | DataType::LargeBinary => {
                Column::Bytes
            }
            t => match t.primitive_width() {
                Some(width) => Column::Fixed(width),
                None => {
                    let converter = RowConverter::new(vec![SortField::new(t.clone())])?;
                    let nulls = arrow::array::new_null_array(t, 1);
                    let null = converter.convert_columns(&[nulls])?.row(0).owned();
                    Column::Row { converter, null }
                }
            },
        })
    }
}

/// The rows of a batch, encoded.
pub(super) struct EncodedRows {
    data: Vec<u8>,
    /// Row `i` is `data[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<usize>,
}

impl EncodedRows {
    pub fn row(&self, i: usize) -> &[u8] {
        &self.data[self.offsets[i]..self.offsets[i + 1]]
    }
}

/// Encodes rows of one schema, and decodes them back to columns.
pub(super) struct RowEncoding {
    types: Vec<DataType>,
    columns: Vec<Column>,
    /// Bytes of the null bitmap at the start of each row.
    bitmap: usize,
}

/// A column's values as written to rows.
enum Values<'a> {
    /// Fixed-width values, the buffer from the array's first value on.
    Fixed {
        buffer: &'a [u8],
        width: usize,
    },
    Boolean(&'a BooleanArray),
    /// Strings or binaries: value `i` is `values[offsets[i]..offsets[i + 1]]`, behind its length.
    Bytes32 {
        offsets: &'a [i32],
        values: &'a [u8],
    },
    Bytes64 {
        offsets: &'a [i64],
        values: &'a [u8],
    },
    /// The fallback's encodings, behind their lengths.
    Row(&'a Rows),
}

/// Appends value `i` of a buffer of `W`-byte values.
fn fixed<const W: usize>(buffer: &[u8], i: usize, out: &mut Vec<u8>) {
    let value: &[u8; W] = buffer[i * W..(i + 1) * W].try_into().expect("W bytes");
    out.extend_from_slice(value);
}

impl<'a> Values<'a> {
    fn of(
        codec: &Column,
        column: &'a ArrayRef,
        data: &'a ArrayData,
        rows: Option<&'a Rows>,
    ) -> Self {
        match codec {
            Column::Fixed(width) => Values::Fixed {
                buffer: &data.buffers()[0].as_slice()[data.offset() * width..],
                width: *width,
            },
            Column::Boolean => Values::Boolean(column.as_boolean()),
            // Strings and binaries alike: offsets, then values.
            Column::Bytes => {
                let values = data.buffers()[1].as_slice();
                match column.data_type() {
                    DataType::LargeUtf8 | DataType::LargeBinary => Values::Bytes64 {
                        offsets: &data.buffer::<i64>(0)[data.offset()..],
                        values,
                    },
                    _ => Values::Bytes32 {
                        offsets: &data.buffer::<i32>(0)[data.offset()..],
                        values,
                    },
                }
            }
            Column::Row { .. } => Values::Row(rows.expect("converted")),
        }
    }

    /// Appends the bytes of value `i`.
    fn write(&self, i: usize, out: &mut Vec<u8>) {
        let mut prefixed = |value: &[u8]| {
            let length = u32::try_from(value.len()).expect("a value under 4 GiB");
            out.extend_from_slice(&length.to_le_bytes());
            out.extend_from_slice(value);
        };
        match self {
            // Widths known when compiled copy without calling memcpy.
            Values::Fixed { buffer, width: 8 } => fixed::<8>(buffer, i, out),
            Values::Fixed { buffer, width: 4 } => fixed::<4>(buffer, i, out),
            Values::Fixed { buffer, width: 16 } => fixed::<16>(buffer, i, out),
            Values::Fixed { buffer, width } => {
                out.extend_from_slice(&buffer[i * width..(i + 1) * width])
            }
            Values::Boolean(array) => out.push(u8::from(array.value(i))),
            Values::Bytes32 { offsets, values } => {
                prefixed(&values[offsets[i] as usize..offsets[i + 1] as usize])
            }
            Values::Bytes64 { offsets, values } => {
                prefixed(&values[offsets[i] as usize..offsets[i + 1] as usize])
            }
            Values::Row(rows) => prefixed(rows.row(i).data()),
        }
    }

    /// About how many bytes the `valid` values of `n` take (exactly, but for byte values a
    /// NULL may have, which are not written).
    fn size(&self, n: usize, valid: usize) -> usize {
        match self {
            Values::Fixed { width, .. } => valid * width,
            Values::Boolean(_) => valid,
            Values::Bytes32 { offsets, .. } => 4 * valid + (offsets[n] - offsets[0]) as usize,
            Values::Bytes64 { offsets, .. } => 4 * valid + (offsets[n] - offsets[0]) as usize,
            Values::Row(rows) => 4 * valid + rows.size(),
        }
    }
}

impl RowEncoding {
    pub fn new(schema: &SchemaRef) -> Result<RowEncoding> {
        let types: Vec<DataType> = schema
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let columns = types.iter().map(Column::new).collect::<Result<_>>()?;
        Ok(RowEncoding {
            bitmap: types.len().div_ceil(8),
            types,
            columns,
        })
    }

    /// The rows of `columns` (of this schema), `n` of them.
    pub fn encode(&self, columns: &[ArrayRef], n: usize) -> Result<EncodedRows> {
        // The fallback's encodings live while the rows are written.
        let converted: Vec<Option<Rows>> = (self.columns.iter().zip(columns))
            .map(|(codec, column)| match codec {
                Column::Row { converter, .. } => Ok(Some(
                    converter.convert_columns(std::slice::from_ref(column))?,
                )),
                _ => Ok(None),
            })
            .collect::<Result<_>>()?;
        let data: Vec<ArrayData> = columns.iter().map(|c| c.to_data()).collect();
        let values: Vec<(Option<&NullBuffer>, Values)> =
            (self.columns.iter().zip(columns).zip(&data).zip(&converted))
                .map(|(((codec, column), data), rows)| {
                    (
                        column.nulls(),
                        Values::of(codec, column, data, rows.as_ref()),
                    )
                })
                .collect();
        let size = (values.iter())
            .map(|(nulls, values)| values.size(n, n - nulls.map_or(0, NullBuffer::null_count)))
            .sum::<usize>();
        // Row by row, each written once, in order: the null bitmap, then the valid values.
        let mut out = Vec::with_capacity(n * self.bitmap + size);
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        for i in 0..n {
            let start = out.len();
            out.resize(start + self.bitmap, 0);
            for (c, (nulls, values)) in values.iter().enumerate() {
                if nulls.is_some_and(|nulls| nulls.is_null(i)) {
                    continue;
                }
                out[start + c / 8] |= 1 << (c % 8);
                values.write(i, &mut out);
            }
            offsets.push(out.len());
        }
        Ok(EncodedRows { data: out, offsets })
    }

    /// A row of NULLs.
    pub fn null_row(&self) -> Vec<u8> {
        vec![0; self.bitmap]
    }

    /// The columns of `rows`, encoded by [`RowEncoding::encode`].
    pub fn decode(&self, rows: &[&[u8]]) -> Result<Vec<ArrayRef>> {
        self.decode_some(rows, |_| true)
    }

    /// The columns of `rows` that `wanted` picks (by index); the others all NULL.
    pub fn decode_some(
        &self,
        rows: &[&[u8]],
        wanted: impl Fn(usize) -> bool,
    ) -> Result<Vec<ArrayRef>> {
        let n = rows.len();
        let mut cursors = vec![self.bitmap; n];
        let mut out = Vec::with_capacity(self.columns.len());
        let last = (0..self.columns.len()).rfind(|&c| wanted(c));
        for (c, (codec, data_type)) in self.columns.iter().zip(&self.types).enumerate() {
            let valid = |row: &[u8]| row[c / 8] >> (c % 8) & 1 == 1;
            if !wanted(c) {
                // Past the last wanted column, the cursors need not move.
                if last.is_some_and(|last| c < last) {
                    for (row, cursor) in rows.iter().zip(&mut cursors) {
                        if valid(row) {
                            *cursor += match codec {
                                Column::Fixed(width) => *width,
                                Column::Boolean => 1,
                                Column::Bytes | Column::Row { .. } => {
                                    let length = &row[*cursor..*cursor + 4];
                                    4 + u32::from_le_bytes(length.try_into().expect("4 bytes"))
                                        as usize
                                }
                            };
                        }
                    }
                }
                out.push(arrow::array::new_null_array(data_type, n));
                continue;
            }
            let nulls = NullBuffer::from_iter(rows.iter().map(|r| valid(r)));
            let nulls = (nulls.null_count() > 0).then_some(nulls);
            // The bytes of each valid value, advancing the cursors.
            let mut take = |i: usize, len: usize| {
                let at = cursors[i];
                cursors[i] += len;
                &rows[i][at..at + len]
            };
            let mut prefixed = |i: usize| {
                let length = u32::from_le_bytes(take(i, 4).try_into().expect("4 bytes"));
                take(i, length as usize)
            };
            let array = match codec {
                Column::Fixed(width) => {
                    let mut values = MutableBuffer::with_capacity(n * width);
                    for (i, row) in rows.iter().enumerate() {
                        match valid(row) {
                            true => values.extend_from_slice(take(i, *width)),
                            false => values.extend_zeros(*width),
                        }
                    }
                    let data = ArrayData::builder(data_type.clone())
                        .len(n)
                        .add_buffer(values.into())
                        .nulls(nulls);
                    make_array(data.build()?)
                }
                Column::Boolean => {
                    let mut values = BooleanBufferBuilder::new(n);
                    for (i, row) in rows.iter().enumerate() {
                        values.append(valid(row) && take(i, 1)[0] == 1);
                    }
                    Arc::new(arrow::array::BooleanArray::new(values.finish(), nulls))
                }
                Column::Bytes => {
                    let large = matches!(data_type, DataType::LargeUtf8 | DataType::LargeBinary);
                    // The values first, so that their buffer is made once, to size.
                    let bytes: Vec<&[u8]> = (rows.iter().enumerate())
                        .map(|(i, row)| if valid(row) { prefixed(i) } else { &[] })
                        .collect();
                    let mut offsets = MutableBuffer::with_capacity((n + 1) * 8);
                    let mut values =
                        MutableBuffer::with_capacity(bytes.iter().map(|b| b.len()).sum());
                    let mut push_offset = |at: usize| match large {
                        true => offsets.push(at as i64),
                        false => offsets.push(i32::try_from(at).expect("under 2 GiB of values")),
                    };
                    push_offset(0);
                    for value in bytes {
                        values.extend_from_slice(value);
                        push_offset(values.len());
                    }
                    let data = ArrayData::builder(data_type.clone())
                        .len(n)
                        .add_buffer(offsets.into())
                        .add_buffer(values.into())
                        .nulls(nulls);
                    make_array(data.build()?)
                }
                Column::Row { converter, null } => {
                    let parser = converter.parser();
                    let parsed: Vec<_> = (rows.iter().enumerate())
                        .map(|(i, row)| match valid(row) {
                            true => parser.parse(prefixed(i)),
                            false => null.row(),
                        })
                        .collect();
                    converter.convert_rows(parsed)?.remove(0)
                }
            };
            out.push(array);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        BooleanArray, Decimal128Array, Float64Array, Int32Array, LargeStringArray, ListArray,
        RecordBatch, StringArray, StructArray, TimestampMillisecondArray,
    };
    use arrow::datatypes::{Field, Int32Type, Schema};

    /// A batch of every kind of column, with NULLs, sliced so that arrays start at an offset.
    fn batch() -> RecordBatch {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>([
            Some(vec![Some(9)]),
            Some(vec![Some(1), None, Some(3)]),
            None,
            Some(vec![]),
            Some(vec![Some(5)]),
        ]);
        let point = StructArray::from(vec![
            (
                Arc::new(Field::new("x", DataType::Int32, true)),
                Arc::new(Int32Array::from(vec![
                    Some(0),
                    Some(1),
                    None,
                    Some(3),
                    Some(4),
                ])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("s", DataType::Utf8, true)),
                Arc::new(StringArray::from(vec![
                    Some("-"),
                    Some("a"),
                    Some(""),
                    None,
                    Some("é"),
                ])),
            ),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(vec![
                Some(7),
                Some(1),
                None,
                Some(-3),
                Some(i32::MAX),
            ])),
            Arc::new(Float64Array::from(vec![
                Some(0.5),
                Some(-0.0),
                Some(f64::NAN),
                None,
                Some(1e300),
            ])),
            Arc::new(BooleanArray::from(vec![
                Some(false),
                Some(true),
                None,
                Some(false),
                Some(true),
            ])),
            Arc::new(StringArray::from(vec![
                Some("x"),
                Some("long enough to pass a block of thirty-two bytes"),
                None,
                Some(""),
                Some("ü"),
            ])),
            Arc::new(LargeStringArray::from(vec![
                None,
                Some("l"),
                Some(""),
                Some("m"),
                None,
            ])),
            Arc::new(
                Decimal128Array::from(vec![Some(1), Some(-12345), None, Some(0), Some(i128::MAX)])
                    .with_precision_and_scale(38, 3)
                    .unwrap(),
            ),
            Arc::new(
                TimestampMillisecondArray::from(vec![Some(1), None, Some(-5), Some(0), Some(9)])
                    .with_timezone("UTC"),
            ),
            Arc::new(list),
            Arc::new(point),
        ];
        let fields: Vec<Field> = (columns.iter().enumerate())
            .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .unwrap()
            .slice(1, 4)
    }

    #[test]
    fn rows_decode_to_the_columns_they_were_encoded_from() {
        let batch = batch();
        let encoding = RowEncoding::new(&batch.schema()).unwrap();
        let rows = encoding.encode(batch.columns(), batch.num_rows()).unwrap();
        let null = encoding.null_row();
        // Backwards, with a row of NULLs in between.
        let order = [3, 2, 1, 0];
        let mut slices: Vec<&[u8]> = order.iter().map(|&i| rows.row(i)).collect();
        slices.insert(2, &null);
        let decoded = encoding.decode(&slices).unwrap();
        for (c, column) in decoded.iter().enumerate() {
            let original = batch.column(c);
            assert_eq!(column.data_type(), original.data_type(), "column {c}");
            for (j, &i) in order.iter().enumerate() {
                let j = if j < 2 { j } else { j + 1 };
                assert_eq!(
                    column.slice(j, 1).to_data(),
                    original.slice(i, 1).to_data(),
                    "{c}/{i}"
                );
            }
            assert!(column.is_null(2), "column {c} of the NULL row");
        }
    }

    #[test]
    fn some_columns_decode_as_all_do_and_the_rest_as_nulls() {
        let batch = batch();
        let encoding = RowEncoding::new(&batch.schema()).unwrap();
        let rows = encoding.encode(batch.columns(), batch.num_rows()).unwrap();
        let slices: Vec<&[u8]> = (0..batch.num_rows()).map(|i| rows.row(i)).collect();
        let all = encoding.decode(&slices).unwrap();
        let width = batch.num_columns();
        // Each pair of columns, so that wanted columns follow skipped ones of every kind.
        for (a, b) in (0..width).flat_map(|a| (a..width).map(move |b| (a, b))) {
            let some = encoding.decode_some(&slices, |c| c == a || c == b).unwrap();
            for (c, column) in some.iter().enumerate() {
                assert_eq!(column.data_type(), all[c].data_type(), "column {c}");
                match c == a || c == b {
                    true => assert_eq!(column.to_data(), all[c].to_data(), "column {c}"),
                    false => assert_eq!(column.null_count(), column.len(), "column {c}"),
                }
            }
        }
    }

    #[test]
    fn equal_rows_have_equal_bytes_and_others_not() {
        let batch = batch();
        let encoding = RowEncoding::new(&batch.schema()).unwrap();
        let twice = arrow::compute::concat_batches(&batch.schema(), [&batch, &batch]).unwrap();
        let rows = encoding.encode(twice.columns(), twice.num_rows()).unwrap();
        let n = batch.num_rows();
        for i in 0..n {
            assert_eq!(rows.row(i), rows.row(i + n));
            for j in (0..n).filter(|j| *j != i) {
                assert_ne!(rows.row(i), rows.row(j));
            }
        }
        // A NULL and an empty string differ; so do "a" + "" and "" + "a" over two columns.
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Utf8, true),
        ]));
        let encoding = RowEncoding::new(&schema).unwrap();
        let a: ArrayRef = Arc::new(StringArray::from(vec![None, Some(""), Some("a"), Some("")]));
        let b: ArrayRef = Arc::new(StringArray::from(vec![
            Some(""),
            Some(""),
            Some(""),
            Some("a"),
        ]));
        let rows = encoding.encode(&[a, b], 4).unwrap();
        let all: Vec<&[u8]> = (0..4).map(|i| rows.row(i)).collect();
        for i in 0..4 {
            for j in (0..4).filter(|j| *j != i) {
                assert_ne!(all[i], all[j], "rows {i} and {j}");
            }
        }
    }

    #[test]
    fn strings_take_their_length_and_four_bytes() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let encoding = RowEncoding::new(&schema).unwrap();
        let id: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![1, 2]));
        let s: ArrayRef = Arc::new(StringArray::from(vec![Some("x".repeat(100)), None]));
        let rows = encoding.encode(&[id, s], 2).unwrap();
        assert_eq!(rows.row(0).len(), 1 + 8 + 4 + 100);
        assert_eq!(rows.row(1).len(), 1 + 8);
    }
}
