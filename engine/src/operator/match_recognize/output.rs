//! The rows a `MATCH_RECOGNIZE` emits for what the matcher reported: the measures' leaves
//! (navigated columns, aggregates, `CLASSIFIER()`, `MATCH_NUMBER()`) gathered column by
//! column into a batch, and the measure expressions evaluated on it.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray, new_null_array};
use arrow::compute::interleave;
use datafusion::logical_expr::EmitTo;
use rill_cep::{EXCLUDED, Outcome};

use super::rows::{MatchRows, PartitionRows, RowRef, RowStore, Stored};
use super::{MatchSpec, OutputColumn, RowsPerMatch, Term};
use crate::Result;
use crate::operator::aggregate::{cast_to, new_accumulator};

/// What the matcher reported for a partition.
pub struct Emit {
    pub partition: usize,
    pub outcome: Outcome,
}

impl Emit {
    /// The first row of the match (or the unmatched row).
    pub fn first_row(&self) -> u64 {
        match &self.outcome {
            Outcome::Match { start, .. } => *start,
            Outcome::Unmatched(row) => *row,
        }
    }

    /// The last row the report shows: the match's last (its first if empty), or the
    /// unmatched row.
    pub fn last_row(&self) -> u64 {
        match &self.outcome {
            Outcome::Match { start, labels, .. } => start + labels.len().max(1) as u64 - 1,
            Outcome::Unmatched(row) => *row,
        }
    }
}

/// One output row: the report it shows, how many rows of its match it sees (`RUNNING`),
/// and the row of the partition whose input columns it carries.
struct OutRow {
    emit: usize,
    seen: usize,
    row: u64,
}

/// The output rows for `emits`, or `None` when there are none.
pub fn emit_rows(
    spec: &MatchSpec,
    emits: &[Emit],
    partitions: &[&PartitionRows],
    store: &RowStore,
) -> Result<Option<RecordBatch>> {
    let rows = out_rows(spec, emits);
    if rows.is_empty() {
        return Ok(None);
    }
    let gather = Gather::new(store);
    // The match an output row shows (its first row, all its labels, the output row's index
    // in it) and its number.
    let matched = |r: &OutRow| -> (MatchRows, Option<u64>) {
        match &emits[r.emit].outcome {
            Outcome::Match {
                start,
                labels,
                number,
            } => (
                MatchRows {
                    start: *start,
                    labels,
                    current: None,
                    row: r.seen.saturating_sub(1),
                },
                Some(*number),
            ),
            Outcome::Unmatched(row) => (
                MatchRows {
                    start: *row,
                    labels: &[],
                    current: None,
                    row: 0,
                },
                None,
            ),
        }
    };
    let row_at = |r: &OutRow, position: u64| partitions[emits[r.emit].partition].get(position);
    let mut terms: Vec<ArrayRef> = Vec::with_capacity(spec.terms.len());
    for (i, term) in spec.terms.iter().enumerate() {
        let data_type = spec.terms_schema.field(i).data_type();
        let column = match term {
            Term::Column {
                column,
                at,
                running,
            } => {
                let picks = rows.iter().map(|r| {
                    let (m, _) = matched(r);
                    at.target(&m, *running).and_then(|p| row_at(r, p))
                });
                gather.column(picks, |s| s.batch.column(*column))?
            }
            Term::Classifier { at, running } => Arc::new(
                rows.iter()
                    .map(|r| {
                        let (m, _) = matched(r);
                        let position = at.target(&m, *running)?;
                        let label = m.labels.get(position.checked_sub(m.start)? as usize)?;
                        Some(spec.names[usize::from(label & !EXCLUDED)].as_str())
                    })
                    .collect::<StringArray>(),
            ),
            Term::MatchNumber => Arc::new(
                rows.iter()
                    .map(|r| matched(r).1.map(|n| n as i64))
                    .collect::<Int64Array>(),
            ),
            Term::Aggregate {
                call,
                vars,
                running,
                arguments,
            } => {
                let mut groups = Vec::new();
                let mut picks = Vec::new();
                for (group, r) in rows.iter().enumerate() {
                    let (m, _) = matched(r);
                    let seen = if *running { r.seen } else { m.labels.len() };
                    for (k, label) in m.labels[..seen].iter().enumerate() {
                        if vars >> (label & !EXCLUDED) & 1 == 1 {
                            groups.push(group);
                            picks.push(row_at(r, m.start + k as u64));
                        }
                    }
                }
                let values = arguments
                    .clone()
                    .map(|a| gather.column(picks.iter().copied(), |s| &s.arguments[a]))
                    .collect::<Result<Vec<_>>>()?;
                let mut accumulator = new_accumulator(call)?;
                accumulator.update_batch(&values, &groups, None, rows.len())?;
                accumulator.evaluate(EmitTo::All)?
            }
        };
        terms.push(cast_to(column, data_type)?);
    }
    let terms = RecordBatch::try_new(spec.terms_schema.clone(), terms)?;
    let mut columns = Vec::with_capacity(spec.output.len());
    for (i, output) in spec.output.iter().enumerate() {
        let data_type = spec.schema.field(i).data_type();
        let column = match output {
            OutputColumn::Input(c) => gather
                .column(rows.iter().map(|r| row_at(r, r.row)), |s| {
                    s.batch.column(*c)
                })?,
            OutputColumn::Measure(m) => {
                spec.measures[*m].evaluate(&terms)?.into_array(rows.len())?
            }
        };
        columns.push(cast_to(column, data_type)?);
    }
    Ok(Some(RecordBatch::try_new(spec.schema.clone(), columns)?))
}

fn out_rows(spec: &MatchSpec, emits: &[Emit]) -> Vec<OutRow> {
    let mut rows = Vec::new();
    for (emit, e) in emits.iter().enumerate() {
        match (&e.outcome, spec.rows) {
            (Outcome::Match { start, labels, .. }, RowsPerMatch::One) => rows.push(OutRow {
                emit,
                seen: labels.len(),
                row: start + labels.len().saturating_sub(1) as u64,
            }),
            (Outcome::Match { start, labels, .. }, RowsPerMatch::All { empty_matches, .. }) => {
                if labels.is_empty() && empty_matches {
                    rows.push(OutRow {
                        emit,
                        seen: 0,
                        row: *start,
                    });
                }
                for (k, label) in labels.iter().enumerate() {
                    if label & EXCLUDED == 0 {
                        rows.push(OutRow {
                            emit,
                            seen: k + 1,
                            row: start + k as u64,
                        });
                    }
                }
            }
            (Outcome::Unmatched(row), _) => rows.push(OutRow {
                emit,
                seen: 0,
                row: *row,
            }),
        }
    }
    rows
}

/// Gathers values from stored batches, by row.
pub(super) struct Gather<'a> {
    /// Stored batches by number, ascending.
    stored: Vec<(u64, &'a Stored)>,
}

impl<'a> Gather<'a> {
    pub(super) fn new(store: &'a RowStore) -> Self {
        Gather {
            stored: store.batches().collect(),
        }
    }

    /// The values of `array` (per stored batch) at `rows`, NULL where there is no row.
    pub(super) fn column(
        &self,
        rows: impl Iterator<Item = Option<RowRef>>,
        array: impl Fn(&'a Stored) -> &'a ArrayRef,
    ) -> Result<ArrayRef> {
        let mut sources: Vec<&dyn Array> =
            self.stored.iter().map(|(_, s)| array(s).as_ref()).collect();
        let data_type = sources
            .first()
            .expect("rows are gathered while their batch is stored")
            .data_type();
        let null = new_null_array(data_type, 1);
        sources.push(null.as_ref());
        let none = (sources.len() - 1, 0);
        let indices: Vec<(usize, usize)> = rows
            .map(|r| match r {
                Some(r) => {
                    let source = self
                        .stored
                        .binary_search_by_key(&r.batch, |(id, _)| *id)
                        .expect("referred rows are stored");
                    (source, r.row as usize)
                }
                None => none,
            })
            .collect();
        Ok(interleave(&sources, &indices)?)
    }
}
