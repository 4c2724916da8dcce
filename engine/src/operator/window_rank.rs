//! Window Top-N and deduplication: `ROW_NUMBER() OVER (PARTITION BY window_start, window_end,
//! ... ORDER BY ...)` kept where it is at most N. Rows are buffered per window; when the window
//! fires they are sorted once (partition, order, arrival) and the first N of each partition
//! are emitted with their row number. The window's rows are freed then.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, UInt32Array, UInt64Array};
use arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, take_record_batch,
};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use datafusion_physical_expr::PhysicalExpr;

use super::aggregate::cast_to;
use super::timed::{Timed, rows_by_window};
use super::{Operator, batches_bytes};
use crate::batch::{ChangeBatch, Message};
use crate::checkpoint::State;
use crate::late::LateRows;
use crate::time::{NO_WATERMARK, Watermark};
use crate::{EngineError, Result};

/// An ORDER BY key.
#[derive(Debug, Clone)]
pub struct SortKey {
    pub expr: Arc<dyn PhysicalExpr>,
    pub options: SortOptions,
}

/// Rows a window buffers before it drops those that can no longer make the top N (at least;
/// also whenever the buffer doubled since the last pruning).
const PRUNE_AT: usize = 8192;

/// A window's buffered rows, in arrival order (rows kept by a pruning first).
#[derive(Default)]
struct Buffer {
    batches: Vec<RecordBatch>,
    rows: usize,
    /// Rows kept by the last pruning.
    kept: usize,
}

/// Keeps the first `limit` rows per window and partition.
pub struct WindowRank {
    /// The input column holding `window_end`.
    window_end: usize,
    partition: Vec<Arc<dyn PhysicalExpr>>,
    order: Vec<SortKey>,
    limit: usize,
    /// The input columns, then the row number.
    schema: SchemaRef,
    /// Rows of open windows by end.
    windows: BTreeMap<i64, Buffer>,
    watermark: Watermark,
    late: LateRows,
}

impl WindowRank {
    /// Ranks rows of the windows ending at input column `window_end` within `partition` by
    /// `order`, keeping ranks up to `limit`.
    pub fn new(
        window_end: usize,
        partition: Vec<Arc<dyn PhysicalExpr>>,
        order: Vec<SortKey>,
        limit: usize,
        schema: SchemaRef,
        late: LateRows,
    ) -> Self {
        WindowRank {
            window_end,
            partition,
            order,
            limit,
            schema,
            windows: BTreeMap::new(),
            watermark: NO_WATERMARK,
            late,
        }
    }

    /// How many windows hold rows.
    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    /// Drops the rows of window `end` that rank below `limit` already: later rows can only
    /// push them further down. The kept rows stay ahead of later ones, as they came first.
    fn prune(&mut self, end: i64) -> Result<()> {
        let Some(buffer) = self.windows.get_mut(&end) else {
            return Ok(());
        };
        let Some(first) = buffer.batches.first() else {
            return Ok(());
        };
        let rows = concat_batches(&first.schema(), &buffer.batches)?;
        let columns: Vec<usize> = (0..rows.num_columns()).collect();
        let kept = match self.rank(&rows)? {
            Some(ranked) => ranked.project(&columns)?,
            None => RecordBatch::new_empty(rows.schema()),
        };
        let buffer = self.windows.get_mut(&end).expect("checked above");
        buffer.rows = kept.num_rows();
        buffer.kept = kept.num_rows();
        buffer.batches = vec![kept];
        Ok(())
    }

    /// The first `limit` rows of each partition of one window's `rows`, numbered.
    fn rank(&self, rows: &RecordBatch) -> Result<Option<RecordBatch>> {
        let n = rows.num_rows();
        let eval = |e: &Arc<dyn PhysicalExpr>| -> Result<ArrayRef> {
            Ok(e.evaluate(rows)?.into_array(n)?)
        };
        let partition = self
            .partition
            .iter()
            .map(eval)
            .collect::<Result<Vec<_>>>()?;
        let ascending = SortOptions::default();
        let mut keys: Vec<SortColumn> = partition
            .iter()
            .map(|values| SortColumn {
                values: values.clone(),
                options: Some(ascending),
            })
            .collect();
        for key in &self.order {
            keys.push(SortColumn {
                values: eval(&key.expr)?,
                options: Some(key.options),
            });
        }
        // Arrival order breaks ties, as Flink keeps the first row it saw.
        keys.push(SortColumn {
            values: Arc::new(UInt32Array::from_iter_values(0..n as u32)),
            options: Some(ascending),
        });
        let sorted = lexsort_to_indices(&keys, None)?;
        let fields = partition
            .iter()
            .map(|p| SortField::new(p.data_type().clone()))
            .collect();
        let partition_rows = RowConverter::new(fields)?.convert_columns(&partition)?;
        let mut kept = Vec::new();
        let mut numbers = Vec::new();
        let mut rank = 0u64;
        for (i, &row) in sorted.values().iter().enumerate() {
            let same = i > 0
                && partition_rows.row(row as usize)
                    == partition_rows.row(sorted.value(i - 1) as usize);
            rank = if same { rank + 1 } else { 1 };
            if rank <= self.limit as u64 {
                kept.push(row);
                numbers.push(rank);
            }
        }
        if kept.is_empty() {
            return Ok(None);
        }
        let taken = take_record_batch(rows, &UInt32Array::from(kept))?;
        let mut columns = taken.columns().to_vec();
        let number = self.schema.field(columns.len()).data_type();
        columns.push(cast_to(Arc::new(UInt64Array::from(numbers)), number)?);
        Ok(Some(RecordBatch::try_new(self.schema.clone(), columns)?))
    }
}

impl Timed for WindowRank {
    fn fire(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        let open = match watermark.checked_add(2) {
            Some(bound) => self.windows.split_off(&bound),
            None => BTreeMap::new(),
        };
        for (_, buffer) in std::mem::replace(&mut self.windows, open) {
            let Some(first) = buffer.batches.first() else {
                continue;
            };
            let rows = concat_batches(&first.schema(), &buffer.batches)?;
            if let Some(ranked) = self.rank(&rows)? {
                let mut batch = ChangeBatch::inserts(ranked);
                batch.watermarks = Some(Int64Array::from(vec![self.watermark; batch.num_rows()]));
                out.push(Message::Batch(batch));
            }
        }
        Ok(())
    }

    fn watermark_mut(&mut self) -> &mut Watermark {
        &mut self.watermark
    }
}

impl Operator for WindowRank {
    fn state_bound(&self) -> super::StateBound {
        super::StateBound::Watermark("windows")
    }

    fn name(&self) -> &str {
        "WindowRank"
    }

    fn state_bytes(&self) -> usize {
        batches_bytes(self.windows.values().flat_map(|w| &w.batches))
    }

    fn on_batch(
        &mut self,
        _input: usize,
        batch: ChangeBatch,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        if batch.ops.is_some() {
            return Err(EngineError::Other(
                "window Top-N needs an insert-only input".into(),
            ));
        }
        let split = rows_by_window(&batch, self.window_end, self.watermark, 0)?;
        self.late.record(&batch.data, split.late, out)?;
        for (end, rows) in split.windows {
            let part = match rows {
                None => batch.data.clone(),
                Some(rows) => take_record_batch(&batch.data, &UInt32Array::from(rows))?,
            };
            let buffer = self.windows.entry(end).or_default();
            buffer.rows += part.num_rows();
            buffer.batches.push(part);
            if buffer.rows > PRUNE_AT.max(2 * buffer.kept) {
                self.prune(end)?;
            }
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        let mut windows = Vec::with_capacity(self.windows.len());
        for (i, (end, buffer)) in self.windows.iter().enumerate() {
            if let Some(first) = buffer.batches.first() {
                state.put_batches(&format!("w{i}"), first.schema(), buffer.batches.clone());
            }
            windows.push((*end, buffer.rows, buffer.kept));
        }
        state.put("windows", &(windows, self.watermark))?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        let (windows, watermark): (Vec<(i64, usize, usize)>, Watermark) = state.get("windows")?;
        for (i, (end, rows, kept)) in windows.into_iter().enumerate() {
            let batches = match rows {
                0 => Vec::new(),
                _ => state.batches(&format!("w{i}"))?,
            };
            self.windows.insert(
                end,
                Buffer {
                    batches,
                    rows,
                    kept,
                },
            );
        }
        self.watermark = watermark;
        Ok(())
    }

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        self.advance(watermark, out)
    }

    fn on_end(&mut self, out: &mut Vec<Message>) -> Result<()> {
        self.finish(out)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use datafusion_physical_expr::expressions::Column;

    use super::*;
    use crate::operator::testing::{keyed_batch, keyed_schema};

    /// The first `limit` rows per window (`window_end`) and key by `v` descending.
    fn top_v(limit: usize) -> WindowRank {
        let input = keyed_schema("window_end");
        let mut fields = input.fields().to_vec();
        fields.push(Arc::new(Field::new("rownum", DataType::Int64, true)));
        let output = Arc::new(Schema::new(fields));
        let order = vec![SortKey {
            expr: Arc::new(Column::new("v", 1)),
            options: SortOptions {
                descending: true,
                nulls_first: false,
            },
        }];
        let metrics = Arc::new(crate::metrics::JobMetrics::default());
        let late = LateRows::new(metrics);
        let key = Arc::new(Column::new("key", 0));
        WindowRank::new(2, vec![key], order, limit, output, late)
    }

    #[test]
    fn keeps_the_first_n_per_partition_ties_in_arrival_order_and_frees_the_window() {
        let mut op = top_v(2);
        let rows: Vec<(&str, i64, i64, i64)> = [
            ("a", 1, 10),
            ("b", 5, 10),
            ("a", 3, 10),
            ("a", 3, 10),
            ("a", 9, 20),
        ]
        .iter()
        .map(|&(k, v, end)| (k, v, end, NO_WATERMARK))
        .collect();
        let mut out = Vec::new();
        op.on_batch(0, keyed_batch("window_end", &rows), &mut out)
            .unwrap();
        op.on_watermark(9, &mut out).unwrap();
        assert_eq!(op.open_windows(), 1);
        let Message::Batch(b) = &out[0] else {
            panic!("no rows: {out:?}")
        };
        let keys = b.data.column(0).as_string::<i32>();
        let v = b.data.column(1).as_primitive::<Int64Type>();
        let n = b.data.column(3).as_primitive::<Int64Type>();
        let got: Vec<String> = (0..b.num_rows())
            .map(|i| format!("{}:{}:{}", keys.value(i), v.value(i), n.value(i)))
            .collect();
        // `a` has 3, 3 (tied: arrival order), 1: the first two are kept.
        assert_eq!(got, ["a:3:1", "a:3:2", "b:5:1"]);
        op.on_end(&mut out).unwrap();
        assert_eq!(op.open_windows(), 0);
    }

    #[test]
    fn a_large_window_is_pruned_to_its_top_rows_without_losing_any() {
        let mut op = top_v(3);
        // 20 000 distinct values in scrambled order, alternately for keys a and b.
        let values: Vec<i64> = (0..20_000i64).map(|i| (i * 7919) % 20_000).collect();
        let mut out = Vec::new();
        for chunk in values.chunks(1000) {
            let rows: Vec<(&str, i64, i64, i64)> = chunk
                .iter()
                .map(|&v| (if v % 2 == 0 { "a" } else { "b" }, v, 10, NO_WATERMARK))
                .collect();
            op.on_batch(0, keyed_batch("window_end", &rows), &mut out)
                .unwrap();
        }
        assert!(op.windows[&10].rows < 20_000, "the buffer was pruned");
        op.on_end(&mut out).unwrap();
        let Message::Batch(b) = &out[0] else {
            panic!("no rows: {out:?}")
        };
        let v = b.data.column(1).as_primitive::<Int64Type>();
        let got: Vec<i64> = v.values().to_vec();
        assert_eq!(got, [19_998, 19_996, 19_994, 19_999, 19_997, 19_995]);
    }
}
