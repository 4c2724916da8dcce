//! What the operators that hold rows until the watermark makes them final share: fire, then
//! pass the watermark on; at the end fire everything and commit the late rows' side file; and
//! the split of a batch by window with Flink's lateness rule.

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;

use crate::Result;
use crate::batch::{ChangeBatch, Message};
use crate::time::{Watermark, for_each_millis};

/// An operator that emits what a watermark made final.
pub(crate) trait Timed {
    /// Emits what is final at `watermark`.
    fn fire(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()>;

    /// The watermark last passed downstream.
    fn watermark_mut(&mut self) -> &mut Watermark;

    /// Fires at `watermark`, then passes it on: what fired is stamped with the watermark
    /// before it, as in Flink.
    fn advance(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        self.fire(watermark, out)?;
        *self.watermark_mut() = watermark;
        out.push(Message::Watermark(watermark));
        Ok(())
    }

    /// At the end of the input: fires everything.
    fn finish(&mut self, out: &mut Vec<Message>) -> Result<()> {
        self.fire(Watermark::MAX, out)
    }
}

/// Splits `batch` into its rows on time and the numbers of its late rows. A row is late when
/// its event time (column `time`) is at or before the watermark current before the row: its
/// own stamp or, if later, `watermark` (Flink's rule, row by row). A NULL time is late.
pub(crate) fn split_late(
    batch: &ChangeBatch,
    time: usize,
    watermark: Watermark,
) -> Result<(RecordBatch, Vec<u32>)> {
    let stamps = batch.watermarks.as_ref().map(|w| w.values());
    let mut keep = Vec::with_capacity(batch.num_rows());
    for_each_millis(batch.data.column(time), |t| {
        let row = keep.len();
        let before = stamps.map_or(watermark, |s| s[row].max(watermark));
        keep.push(t.is_some_and(|t| t > before));
    })?;
    let late: Vec<u32> = (0..keep.len() as u32)
        .filter(|r| !keep[*r as usize])
        .collect();
    let on_time = if late.is_empty() {
        batch.data.clone()
    } else {
        filter_record_batch(&batch.data, &BooleanArray::from(keep))?
    };
    Ok((on_time, late))
}

/// A batch's rows by the window they belong to.
pub(crate) struct WindowRows {
    /// Per window end, its rows (`None`: every row of the batch), in order of first row.
    pub windows: Vec<(i64, Option<Vec<u32>>)>,
    /// The late rows.
    pub late: Vec<u32>,
}

/// Splits `batch` by the window end in its column `end_column`. A row is late when its
/// window's last instant, plus `lateness`, is at or before the watermark current before the
/// row: its own stamp or, if later, `watermark` (Flink's rule, row by row). A NULL end is late.
pub(crate) fn rows_by_window(
    batch: &ChangeBatch,
    end_column: usize,
    watermark: Watermark,
    lateness: i64,
) -> Result<WindowRows> {
    let stamps = batch.watermarks.as_ref().map(|w| w.values());
    let mut ends = Vec::with_capacity(batch.num_rows());
    let mut row = 0;
    for_each_millis(batch.data.column(end_column), |end| {
        let before = stamps.map_or(watermark, |s| s[row].max(watermark));
        ends.push(end.filter(|e| (e - 1).saturating_add(lateness) > before));
        row += 1;
    })?;
    let first = ends.first().copied().flatten();
    if let Some(end) = first
        && ends.iter().all(|e| *e == first)
    {
        return Ok(WindowRows {
            windows: vec![(end, None)],
            late: vec![],
        });
    }
    // One pass: a batch spans few windows, so a short list will do.
    let mut windows: Vec<(i64, Option<Vec<u32>>)> = Vec::new();
    let mut late = Vec::new();
    for (row, end) in ends.into_iter().enumerate() {
        let Some(end) = end else {
            late.push(row as u32);
            continue;
        };
        match windows.iter_mut().rev().find(|(e, _)| *e == end) {
            Some((_, Some(rows))) => rows.push(row as u32),
            _ => windows.push((end, Some(vec![row as u32]))),
        }
    }
    Ok(WindowRows { windows, late })
}
