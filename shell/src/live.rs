//! The live table of Flink's `'table'` result mode: the materialized result of an updating
//! query, redrawn in place on the terminal as changes arrive (at most ten times a second).

use std::io::Write;
use std::time::{Duration, Instant};

use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use rill_engine::format::{OutputFormat, RowWriter, materialize};
use rill_engine::sink::Sink;
use rill_engine::{ChangeBatch, EngineError};

/// How often the table is redrawn at most.
const REDRAW: Duration = Duration::from_millis(100);

/// Keeps the current rows of a changelog and draws them as a table.
pub struct LiveTable {
    schema: SchemaRef,
    /// The current rows (materialized), then the changes since.
    rows: RecordBatch,
    changes: Vec<ChangeBatch>,
    /// Lines drawn last time, to move back over.
    drawn: usize,
    last_draw: Option<Instant>,
}

impl LiveTable {
    /// An empty table of `schema`.
    pub fn new(schema: SchemaRef) -> LiveTable {
        LiveTable {
            rows: RecordBatch::new_empty(schema.clone()),
            schema,
            changes: Vec::new(),
            drawn: 0,
            last_draw: None,
        }
    }

    /// Applies the buffered changes to the current rows.
    fn apply(&mut self) -> rill_engine::Result<()> {
        if self.changes.is_empty() {
            return Ok(());
        }
        let mut batches = vec![self.rows.clone()];
        let mut ops: Vec<i8> = vec![0; self.rows.num_rows()];
        for change in self.changes.drain(..) {
            ops.extend((0..change.num_rows()).map(|i| change.row_kind(i) as i8));
            batches.push(change.data);
        }
        let all = concat_batches(&self.schema, &batches)?;
        self.rows = materialize(&all, &ops.into())?;
        Ok(())
    }

    /// The table as text, cut to `height` lines and, when known, `width` characters.
    fn render(&self, height: usize, width: Option<usize>) -> std::io::Result<String> {
        let shown = self.rows.num_rows().min(height.saturating_sub(6).max(1));
        let rows = ChangeBatch::inserts(self.rows.slice(0, shown));
        let mut text = Vec::new();
        let mut writer = RowWriter::new(OutputFormat::Table, self.schema.clone(), true);
        if let Some(width) = width {
            writer = writer.fit_width(width);
        }
        writer.begin(&mut text, Some(&rows))?;
        writer.write_batch(&mut text, &rows)?;
        writer.finish(&mut text, self.rows.num_rows() as u64)?;
        let mut text = String::from_utf8_lossy(&text).into_owned();
        if shown < self.rows.num_rows() {
            text.push_str(&format!(
                "({} more rows not shown)\n",
                self.rows.num_rows() - shown
            ));
        }
        Ok(text)
    }

    /// Draws the table over the previous drawing.
    fn draw(&mut self) -> rill_engine::Result<()> {
        self.apply()?;
        let (height, width) = console::Term::stdout().size();
        let text = self
            .render(height as usize, Some(width as usize))
            .map_err(io)?;
        let mut out = std::io::stdout().lock();
        if self.drawn > 0 {
            // Back to the first line drawn, and clear to the end of the screen.
            write!(out, "\x1b[{}F\x1b[J", self.drawn).map_err(io)?;
        }
        out.write_all(text.as_bytes()).map_err(io)?;
        out.flush().map_err(io)?;
        self.drawn = text.lines().count();
        self.last_draw = Some(Instant::now());
        Ok(())
    }
}

fn io(e: std::io::Error) -> EngineError {
    EngineError::Sink {
        name: "result".into(),
        reason: e.to_string(),
    }
}

impl Sink for LiveTable {
    fn name(&self) -> &str {
        "live table"
    }

    fn on_batch(&mut self, batch: &ChangeBatch) -> rill_engine::Result<()> {
        self.changes.push(batch.clone());
        if self.last_draw.is_none_or(|t| t.elapsed() >= REDRAW) {
            self.draw()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> rill_engine::Result<()> {
        self.draw()
    }

    // Changes that came within `REDRAW` of the last drawing are drawn on the next tick.
    fn tick_interval(&self) -> Option<Duration> {
        Some(REDRAW)
    }

    fn on_tick(&mut self) -> rill_engine::Result<()> {
        match self.changes.is_empty() {
            true => Ok(()),
            false => self.draw(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int8Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn keeps_the_current_rows_and_cuts_to_the_screen() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let change = |keys: Vec<&str>, counts: Vec<i64>, ops: Vec<i8>| ChangeBatch {
            data: RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(keys)),
                    Arc::new(Int64Array::from(counts)),
                ],
            )
            .unwrap(),
            ops: Some(Int8Array::from(ops)),
            watermarks: None,
        };
        let mut table = LiveTable::new(schema.clone());
        table
            .changes
            .push(change(vec!["a", "b"], vec![1, 1], vec![0, 0]));
        table
            .changes
            .push(change(vec!["a", "a"], vec![1, 2], vec![1, 2]));
        table.apply().unwrap();
        let text = table.render(40, None).unwrap();
        assert!(
            text.contains("| a | 2 |") && text.contains("| b | 1 |"),
            "{text}"
        );
        assert!(!text.contains("| a | 1 |"), "{text}");
        assert!(text.contains("2 rows in set"), "{text}");
        // A screen of 7 lines shows one row and says how many more there are.
        let text = table.render(7, None).unwrap();
        assert!(text.contains("(1 more rows not shown)"), "{text}");
    }
}
