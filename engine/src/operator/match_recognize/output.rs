//! The rows a `MATCH_RECOGNIZE` emits for what the matcher reported: the measures' terms
//! gathered into a batch (one row per output row), the measures evaluated on it, and the
//! input columns of each output row's row.

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::nullif;
use rill_cep::{EXCLUDED, Outcome};

use super::rows::{MatchRows, PartitionRows, RowStore};
use super::terms::{Collected, Gather};
use super::{MatchSpec, OutputColumn, RowsPerMatch};
use crate::Result;
use crate::operator::aggregate::cast_to;

/// What the matcher reported for a partition.
pub struct Emit {
    pub partition: usize,
    pub outcome: Outcome,
}

impl Emit {
    /// The first row of the match (or the unmatched row).
    pub fn first_row(&self) -> u64 {
        match &self.outcome {
            Outcome::Match { start, .. } | Outcome::TimedOut { start, .. } => *start,
            Outcome::Unmatched(row) => *row,
        }
    }

    /// The last row the report shows: the match's last (its first if empty), or the
    /// unmatched row.
    pub fn last_row(&self) -> u64 {
        match &self.outcome {
            Outcome::Match { start, labels, .. } | Outcome::TimedOut { start, labels } => {
                start + labels.len().max(1) as u64 - 1
            }
            Outcome::Unmatched(row) => *row,
        }
    }

    /// The rows of the (partial) match, with its number if it is a match.
    fn matched(&self, seen: usize) -> (MatchRows<'_>, Option<u64>, bool) {
        let (start, labels, number) = match &self.outcome {
            Outcome::Match {
                start,
                labels,
                number,
            } => (*start, labels.as_slice(), Some(*number)),
            Outcome::TimedOut { start, labels } => (*start, labels.as_slice(), None),
            Outcome::Unmatched(row) => (*row, &[][..], None),
        };
        let m = MatchRows {
            start,
            labels,
            current: None,
            row: seen.saturating_sub(1),
            path: None,
        };
        (m, number, matches!(self.outcome, Outcome::TimedOut { .. }))
    }
}

/// One output row: the report it shows, how many rows of its match it sees (`RUNNING`),
/// and the row of the partition whose input columns it carries.
struct OutRow {
    emit: usize,
    seen: usize,
    row: u64,
}

/// The output rows for `emits` (whose partitions' rows `partition` gives), or `None` when
/// there are none. The measures' terms are collected in `collected` (of `spec.terms`, empty).
pub fn emit_rows<'a>(
    spec: &MatchSpec,
    emits: &[Emit],
    partition: impl Fn(usize) -> &'a PartitionRows,
    store: &RowStore,
    collected: &mut Collected,
) -> Result<Option<RecordBatch>> {
    let rows = out_rows(spec, emits);
    if rows.is_empty() {
        return Ok(None);
    }
    for r in &rows {
        let emit = &emits[r.emit];
        let (m, number, timed_out) = emit.matched(r.seen);
        collected.push(
            &spec.terms,
            &m,
            number,
            timed_out,
            partition(emit.partition),
        );
    }
    let gather = Gather::new(store);
    let terms = collected.take_batch(&spec.terms, &spec.names, &gather)?;
    // Every measure of a row no match includes is NULL (SQL:2016 `WITH UNMATCHED ROWS`).
    let unmatched = (emits.iter()).any(|e| matches!(e.outcome, Outcome::Unmatched(_)));
    let unmatched = unmatched.then(|| {
        (rows.iter())
            .map(|r| matches!(emits[r.emit].outcome, Outcome::Unmatched(_)))
            .collect::<BooleanArray>()
    });
    let mut columns = Vec::with_capacity(spec.output.len());
    for (i, output) in spec.output.iter().enumerate() {
        let data_type = spec.schema.field(i).data_type();
        let column = match output {
            OutputColumn::Input(c) => gather.column(
                rows.iter()
                    .map(|r| partition(emits[r.emit].partition).get(r.row)),
                |s| s.batch.column(*c),
            )?,
            OutputColumn::Measure(m) => {
                let values = spec.measures[*m].evaluate(&terms)?.into_array(rows.len())?;
                match &unmatched {
                    Some(mask) => nullif(&values, mask)?,
                    None => values,
                }
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
            (
                Outcome::Match { start, labels, .. } | Outcome::TimedOut { start, labels },
                RowsPerMatch::One,
            ) => rows.push(OutRow {
                emit,
                seen: labels.len(),
                row: start + labels.len().saturating_sub(1) as u64,
            }),
            (
                Outcome::Match { start, labels, .. } | Outcome::TimedOut { start, labels },
                RowsPerMatch::All { empty_matches, .. },
            ) => {
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
