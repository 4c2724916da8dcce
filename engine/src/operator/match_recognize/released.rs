//! Rows the watermark released, in order, still in the batches they came in, and runs of them
//! copied into order.

use std::ops::Range;

use arrow::array::{Array, ArrayData, ArrayRef, RecordBatch, RecordBatchOptions, make_array};
use arrow::buffer::{BooleanBuffer, Buffer, MutableBuffer, NullBuffer};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, SchemaRef};

use crate::Result;
use crate::time::for_each_millis;

/// A released row: its partition, its place among the released rows in arrival order, and
/// its event time.
#[derive(Clone, Copy, Default)]
pub(super) struct Placed {
    pub partition: u32,
    pub row: u32,
    pub time: i64,
}

/// A partition with released rows, and one past its last in [`Sorted`]'s order.
#[derive(Clone, Copy)]
pub(super) struct PartitionEnd {
    pub partition: u32,
    pub end: u32,
}

/// Rows the watermark released, in order (by partition, time, the further ORDER BY keys and
/// arrival), still in the batches they came in: they are copied into order a run at a time,
/// so that a large release (all the rows, at the end of the input) is never copied whole.
/// Each row is named by its place in arrival order, 4 bytes: at the end of the input there is
/// one for every row held.
pub(super) struct Sorted {
    schema: SchemaRef,
    /// The batches' columns, ready to be copied from.
    columns: Vec<Column>,
    /// The column of the rows' event times.
    time: usize,
    /// Which batch holds each row.
    batches: Batches,
    /// Each row's place in arrival order, in order.
    rows: Vec<u32>,
    /// The partitions of `rows`, in order.
    pub ends: Vec<PartitionEnd>,
}

impl Sorted {
    /// The rows `rows` (and `ends`) place in `batches` (at least one, all of one schema, with
    /// event times in column `time`).
    pub fn new(
        batches: &[RecordBatch],
        time: usize,
        rows: Vec<u32>,
        ends: Vec<PartitionEnd>,
    ) -> Sorted {
        let columns = (0..batches[0].num_columns())
            .map(|c| Column::new(batches.iter().map(|b| b.column(c))))
            .collect();
        Sorted {
            schema: batches[0].schema(),
            columns,
            time,
            batches: Batches::new(batches.iter().map(RecordBatch::num_rows)),
            rows,
            ends,
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The rows of `range`, in one batch.
    pub fn run(&self, range: Range<usize>) -> Result<Released> {
        let order: Vec<(usize, usize)> = (self.rows[range.clone()].iter())
            .map(|row| self.batches.find(*row))
            .collect();
        let columns = (self.columns.iter())
            .map(|c| c.copy(&order))
            .collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(order.len()));
        let rows = RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)?;
        let mut partitions = Vec::with_capacity(range.len());
        let mut end = self.ends.partition_point(|e| e.end as usize <= range.start);
        for row in range {
            while self.ends[end].end as usize <= row {
                end += 1;
            }
            partitions.push(self.ends[end].partition as usize);
        }
        let mut times = Vec::with_capacity(partitions.len());
        for_each_millis(rows.column(self.time), |t| {
            times.push(t.expect("rows without event time are late"))
        })?;
        Ok(Released {
            rows,
            partitions,
            times,
        })
    }
}

/// Where the rows of some batches are, by their place among all their rows.
struct Batches {
    /// Each batch's first row, then the number of rows.
    starts: Vec<u32>,
    /// Per block of `1 << shift` rows (no more than the shortest batch), the batch of its
    /// first row: a row's batch is that of its block or the next.
    blocks: Vec<u32>,
    shift: u32,
}

impl Batches {
    fn new(lens: impl Iterator<Item = usize>) -> Batches {
        let mut starts = vec![0u32];
        let mut shortest = u32::MAX;
        for len in lens {
            let len = len as u32;
            starts.push(starts.last().expect("a start") + len);
            if len > 0 {
                shortest = shortest.min(len);
            }
        }
        let shift = shortest.ilog2();
        let n = *starts.last().expect("a start");
        let mut blocks = Vec::with_capacity((n >> shift) as usize + 1);
        let mut batch = 0;
        for block in 0..=n >> shift {
            while starts[batch + 1] <= block << shift && batch + 2 < starts.len() {
                batch += 1;
            }
            blocks.push(batch as u32);
        }
        Batches {
            starts,
            blocks,
            shift,
        }
    }

    /// The `(batch, row in it)` of row `row`.
    fn find(&self, row: u32) -> (usize, usize) {
        let mut batch = self.blocks[(row >> self.shift) as usize] as usize;
        while self.starts[batch + 1] <= row {
            batch += 1;
        }
        (batch, (row - self.starts[batch]) as usize)
    }
}

/// A column of the released batches. A fixed-width one (integers, times, decimals, floats)
/// is copied from its batches' values directly: arrow's `interleave` looks at every batch's
/// array on each call (its type, its nulls), and at the end of the input, when all the rows
/// are released, those are many and out of cache (cep_q1 at 10 M events: 1,100 batches; that
/// look cost more than the copy).
enum Column {
    Fixed {
        data_type: DataType,
        width: usize,
        /// Each batch's values, from its first row.
        values: Vec<Buffer>,
        /// Each batch's nulls, if any batch has some.
        nulls: Option<Vec<Option<NullBuffer>>>,
    },
    Other(Vec<ArrayRef>),
}

impl Column {
    fn new<'a>(arrays: impl Iterator<Item = &'a ArrayRef>) -> Column {
        let arrays: Vec<ArrayRef> = arrays.cloned().collect();
        let data_type = arrays[0].data_type().clone();
        let Some(width) = data_type.primitive_width() else {
            return Column::Other(arrays);
        };
        let values = (arrays.iter())
            .map(|a| {
                let data = a.to_data();
                data.buffers()[0].slice_with_length(data.offset() * width, data.len() * width)
            })
            .collect();
        let nulls = (arrays.iter().any(|a| a.null_count() > 0))
            .then(|| arrays.iter().map(|a| a.nulls().cloned()).collect());
        Column::Fixed {
            data_type,
            width,
            values,
            nulls,
        }
    }

    /// The values at `(batch, row)` of each of `order`, in that order.
    fn copy(&self, order: &[(usize, usize)]) -> Result<ArrayRef> {
        let (data_type, width, values, nulls) = match self {
            Column::Other(arrays) => {
                let arrays: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
                return Ok(interleave(&arrays, order)?);
            }
            Column::Fixed {
                data_type,
                width,
                values,
                nulls,
            } => (data_type, *width, values, nulls),
        };
        let values: Vec<&[u8]> = values.iter().map(|b| b.as_slice()).collect();
        let mut out = MutableBuffer::from_len_zeroed(order.len() * width);
        match width {
            1 => copy_fixed::<1>(&values, order, &mut out),
            2 => copy_fixed::<2>(&values, order, &mut out),
            4 => copy_fixed::<4>(&values, order, &mut out),
            8 => copy_fixed::<8>(&values, order, &mut out),
            16 => copy_fixed::<16>(&values, order, &mut out),
            _ => {
                for (to, &(b, r)) in out.chunks_exact_mut(width).zip(order) {
                    to.copy_from_slice(&values[b][r * width..][..width]);
                }
            }
        }
        let nulls = nulls.as_ref().map(|nulls| {
            let valid =
                (order.iter()).map(|&(b, r)| nulls[b].as_ref().is_none_or(|n| n.is_valid(r)));
            NullBuffer::new(BooleanBuffer::from_iter(valid))
        });
        let data = ArrayData::builder(data_type.clone())
            .len(order.len())
            .add_buffer(out.into())
            .nulls(nulls)
            .build()?;
        Ok(make_array(data))
    }
}

/// Copies the `W`-byte values at `order` of `values` into `out`.
fn copy_fixed<const W: usize>(values: &[&[u8]], order: &[(usize, usize)], out: &mut [u8]) {
    for (to, &(b, r)) in out.chunks_exact_mut(W).zip(order) {
        let from: &[u8; W] = values[b][r * W..][..W].try_into().expect("W bytes");
        to.copy_from_slice(from);
    }
}

/// A run of released rows, in order, in one batch.
pub(super) struct Released {
    pub rows: RecordBatch,
    /// Each row's partition number.
    pub partitions: Vec<usize>,
    /// Each row's event time.
    pub times: Vec<i64>,
}

impl Released {
    /// The rows of `range` (nothing copied).
    pub fn slice(&self, range: Range<usize>) -> ReleasedRows<'_> {
        ReleasedRows {
            rows: self.rows.slice(range.start, range.len()),
            partitions: &self.partitions[range.clone()],
            times: &self.times[range],
        }
    }

    /// All its rows.
    pub fn all(&self) -> ReleasedRows<'_> {
        self.slice(0..self.partitions.len())
    }
}

/// Some rows of a [`Released`], in one batch.
pub(super) struct ReleasedRows<'a> {
    pub rows: RecordBatch,
    pub partitions: &'a [usize],
    pub times: &'a [i64],
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::AsArray;
    use arrow::array::{
        BooleanArray, Decimal128Array, Int16Array, Int64Array, StringArray,
        TimestampMillisecondArray,
    };
    use arrow::compute::interleave_record_batch;
    use arrow::datatypes::TimestampMillisecondType;

    use super::*;
    use crate::operator::testing::random;

    /// A batch of `n` rows of several types, fixed-width and not, with NULLs where `nulls`,
    /// sliced from a larger one (so that its arrays start at an offset).
    fn batch(n: usize, seed: u64, nulls: bool) -> RecordBatch {
        let mut next = random(seed);
        let mut values = || (0..n + 3).map(|_| next(1000) as i64).collect::<Vec<_>>();
        let (a, b, c) = (values(), values(), values());
        let valid = |i: usize| !nulls || i % 3 != 1;
        let batch = RecordBatch::try_from_iter([
            (
                "i64",
                Arc::new(Int64Array::from_iter(
                    (0..n + 3).map(|i| valid(i).then_some(a[i])),
                )) as ArrayRef,
            ),
            (
                "i16",
                Arc::new(Int16Array::from_iter_values(b.iter().map(|v| *v as i16))) as ArrayRef,
            ),
            (
                "ts",
                Arc::new(TimestampMillisecondArray::from(c.clone()).with_timezone("+01:00"))
                    as ArrayRef,
            ),
            (
                "dec",
                Arc::new(
                    Decimal128Array::from_iter(
                        c.iter()
                            .enumerate()
                            .map(|(i, v)| valid(i + 1).then_some(*v as i128)),
                    )
                    .with_precision_and_scale(20, 2)
                    .unwrap(),
                ) as ArrayRef,
            ),
            (
                "s",
                Arc::new(StringArray::from_iter(
                    (0..n + 3).map(|i| valid(i).then(|| format!("s{}", a[i]))),
                )) as ArrayRef,
            ),
            (
                "b",
                Arc::new(BooleanArray::from_iter(b.iter().map(|v| Some(v % 2 == 0)))) as ArrayRef,
            ),
        ])
        .unwrap();
        batch.slice(2, n)
    }

    /// A row's batch is found by its place among all the rows, whatever the batches'
    /// lengths (empty ones included).
    #[test]
    fn rows_are_found_in_their_batches() {
        for lens in [
            &[3, 0, 1, 5, 0, 0, 8][..],
            &[5, 0, 0, 5],
            &[0, 16, 16, 4, 0],
            &[1],
            &[9, 9, 17],
        ] {
            let batches = Batches::new(lens.iter().copied());
            let expected =
                (lens.iter().enumerate()).flat_map(|(b, len)| (0..*len).map(move |r| (b, r)));
            for (row, expected) in expected.enumerate() {
                assert_eq!(batches.find(row as u32), expected, "row {row} of {lens:?}");
            }
        }
    }

    /// Runs copied into order hold what arrow's `interleave` gives for the same rows: values,
    /// NULLs and types, from batches whose arrays start at offsets, with and without NULLs.
    #[test]
    fn a_run_holds_the_rows_it_places_as_interleave_gives_them() {
        let batches = [batch(7, 1, true), batch(5, 2, false), batch(9, 3, true)];
        let mut next = random(9);
        let firsts = [0, 7, 12];
        let order: Vec<(usize, usize)> = (0..40)
            .map(|_| {
                let batch = next(3) as usize;
                (batch, next(batches[batch].num_rows() as u64) as usize)
            })
            .collect();
        let rows: Vec<u32> = (order.iter())
            .map(|(batch, row)| (firsts[*batch] + row) as u32)
            .collect();
        // Four rows a partition, numbered with gaps (partitions without rows).
        let ends: Vec<PartitionEnd> = (0..10)
            .map(|i| PartitionEnd {
                partition: i * 3,
                end: (i + 1) * 4,
            })
            .collect();
        let sorted = Sorted::new(&batches, 2, rows, ends);
        for range in [0..40, 3..17, 39..40] {
            let run = sorted.run(range.clone()).unwrap();
            let order = &order[range.clone()];
            let expected = interleave_record_batch(&batches.iter().collect::<Vec<_>>(), order);
            let expected = expected.unwrap();
            assert_eq!(run.rows, expected, "{range:?}");
            let partitions: Vec<usize> = range.clone().map(|i| i / 4 * 3).collect();
            assert_eq!(run.partitions, partitions);
            let times = expected
                .column(2)
                .as_primitive::<TimestampMillisecondType>();
            assert_eq!(run.times, times.values().to_vec());
            if range.len() >= 5 {
                assert_eq!(run.slice(2..5).rows, run.rows.slice(2, 3));
                assert_eq!(run.slice(2..5).times, &run.times[2..5]);
                assert_eq!(run.slice(2..5).partitions, &run.partitions[2..5]);
            }
        }
    }
}
