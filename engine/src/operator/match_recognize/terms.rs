//! The leaves of expressions over a match — navigated columns, aggregates, `CLASSIFIER()`,
//! `MATCH_NUMBER()` — gathered column by column into a batch with one row per look at a
//! match, over which the expressions (measures, conditions) are evaluated: one evaluator for
//! conditions and measures, vectorised over every thread or output row at once.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, RecordBatchOptions, StringArray,
    new_null_array,
};
use arrow::compute::{interleave, nullif};
use arrow::datatypes::SchemaRef;
use datafusion_expr::EmitTo;
use datafusion_physical_expr::aggregate::AggregateFunctionExpr;
use rill_cep::EXCLUDED;

use super::rows::{MatchRows, Navigation, PartitionRows, RowRef, RowStore, Stored};
use crate::Result;
use crate::operator::aggregate::{cast_to, new_accumulator};

/// A leaf of the expressions over a match.
#[derive(Debug, Clone)]
pub enum Term {
    /// An input column at a row of the match; `running` sees the match up to the current row
    /// (`RUNNING`, the default), else all of it (`FINAL`).
    Column {
        column: usize,
        at: Navigation,
        running: bool,
    },
    /// An aggregate over the match's rows of `vars`. Its arguments are the `arguments` range
    /// of the aggregate arguments each stored batch keeps.
    Aggregate {
        call: Arc<AggregateFunctionExpr>,
        vars: u64,
        running: bool,
        arguments: Range<usize>,
    },
    /// `CLASSIFIER()`: the variable of a row of the match.
    Classifier { at: Navigation, running: bool },
    /// `MATCH_NUMBER()`.
    MatchNumber,
    /// `TIMED_OUT()`: whether `WITHIN` ended the match (reported `WITH TIMEOUTS`).
    TimedOut,
}

/// The leaves of some expressions, and the schema of the batch they are gathered into.
#[derive(Debug, Clone)]
pub struct Terms {
    pub terms: Vec<Term>,
    pub schema: SchemaRef,
}

/// What a term takes from each look at a match, until the batch is gathered.
enum Picks {
    Rows(Vec<Option<RowRef>>),
    Labels(Vec<Option<u16>>),
    Numbers(Vec<Option<i64>>),
    Flags(Vec<bool>),
    /// The rows an aggregate reads, each with the look it belongs to.
    Aggregate {
        looks: Vec<usize>,
        rows: Vec<Option<RowRef>>,
    },
}

/// Terms being collected, one row per look at a match.
pub struct Collected {
    picks: Vec<Picks>,
    looks: usize,
}

impl Collected {
    pub fn new(terms: &Terms) -> Self {
        let picks = terms
            .terms
            .iter()
            .map(|t| match t {
                Term::Column { .. } => Picks::Rows(Vec::new()),
                Term::Classifier { .. } => Picks::Labels(Vec::new()),
                Term::MatchNumber => Picks::Numbers(Vec::new()),
                Term::TimedOut => Picks::Flags(Vec::new()),
                Term::Aggregate { .. } => Picks::Aggregate {
                    looks: Vec::new(),
                    rows: Vec::new(),
                },
            })
            .collect();
        Collected { picks, looks: 0 }
    }

    /// Adds a look at match `m` (numbered `number` if reported, `timed_out` if `WITHIN`
    /// ended it) of a partition's `rows`.
    pub fn push(
        &mut self,
        terms: &Terms,
        m: &MatchRows,
        number: Option<u64>,
        timed_out: bool,
        rows: &PartitionRows,
    ) {
        let look = self.looks;
        self.looks += 1;
        for (term, picks) in terms.terms.iter().zip(&mut self.picks) {
            match (term, picks) {
                (Term::Column { at, running, .. }, Picks::Rows(picked)) => {
                    picked.push(at.target(m, *running).and_then(|p| rows.get(p)));
                }
                (Term::Classifier { at, running }, Picks::Labels(picked)) => picked.push(
                    at.target(m, *running)
                        .and_then(|p| p.checked_sub(m.start))
                        .filter(|i| (*i as usize) < m.len())
                        .map(|i| m.label(i as usize) & !EXCLUDED),
                ),
                (Term::MatchNumber, Picks::Numbers(picked)) => {
                    picked.push(number.map(|n| n as i64))
                }
                (Term::TimedOut, Picks::Flags(picked)) => picked.push(timed_out),
                (
                    Term::Aggregate { vars, running, .. },
                    Picks::Aggregate {
                        looks,
                        rows: picked,
                    },
                ) => {
                    for k in 0..m.visible(*running) {
                        if vars >> (m.label(k) & !EXCLUDED) & 1 == 1 {
                            looks.push(look);
                            picked.push(rows.get(m.start + k as u64));
                        }
                    }
                }
                _ => unreachable!("picks follow their terms"),
            }
        }
    }

    /// The collected terms as a batch, emptying the collection.
    pub fn take_batch(
        &mut self,
        terms: &Terms,
        names: &[String],
        gather: &Gather,
    ) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(terms.terms.len());
        for (i, (term, picks)) in terms.terms.iter().zip(&mut self.picks).enumerate() {
            let column: ArrayRef = match (term, picks) {
                (Term::Column { column, .. }, Picks::Rows(picked)) => {
                    gather.column(picked.drain(..), |s| s.batch.column(*column))?
                }
                (Term::Classifier { .. }, Picks::Labels(picked)) => Arc::new(
                    picked
                        .drain(..)
                        .map(|l| l.map(|l| names[usize::from(l)].as_str()))
                        .collect::<StringArray>(),
                ),
                (Term::MatchNumber, Picks::Numbers(picked)) => {
                    Arc::new(picked.drain(..).collect::<Int64Array>())
                }
                (Term::TimedOut, Picks::Flags(picked)) => {
                    Arc::new(BooleanArray::from(std::mem::take(picked)))
                }
                (
                    Term::Aggregate {
                        call, arguments, ..
                    },
                    Picks::Aggregate { looks, rows },
                ) => {
                    let values = arguments
                        .clone()
                        .map(|a| gather.column(rows.iter().copied(), |s| &s.arguments[a]))
                        .collect::<Result<Vec<_>>>()?;
                    let mut accumulator = new_accumulator(call)?;
                    accumulator.update_batch(&values, looks, None, self.looks)?;
                    let values = accumulator.evaluate(EmitTo::All)?;
                    // Over no rows, an aggregate is NULL; only COUNT is 0 (SQL:2016).
                    let values = if call.fun().name() == "count" {
                        values
                    } else {
                        let mut empty = vec![true; self.looks];
                        looks.iter().for_each(|l| empty[*l] = false);
                        nullif(&values, &BooleanArray::from(empty))?
                    };
                    looks.clear();
                    rows.clear();
                    values
                }
                _ => unreachable!("picks follow their terms"),
            };
            columns.push(cast_to(column, terms.schema.field(i).data_type())?);
        }
        let looks = std::mem::take(&mut self.looks);
        Ok(RecordBatch::try_new_with_options(
            terms.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(looks)),
        )?)
    }
}

/// Gathers values from stored batches, by row. Made once for many gatherings while the
/// stored batches stay the same; keeps its buffers from one to the next.
pub(super) struct Gather<'a> {
    stored: Vec<&'a Stored>,
    /// The number of the first stored batch, and from it, per number, its index in `stored`.
    first: u64,
    index: Vec<usize>,
    /// The `(array, row)` of each value gathered (reused).
    picks: RefCell<Vec<(usize, usize)>>,
    /// One-row NULL arrays by type, for rows that are not there.
    nulls: RefCell<Vec<ArrayRef>>,
}

impl<'a> Gather<'a> {
    pub(super) fn new(store: &'a RowStore) -> Self {
        let batches: Vec<(u64, &Stored)> = store.batches().collect();
        let first = batches.first().map_or(0, |(id, _)| *id);
        let mut index = Vec::new();
        for (i, (id, _)) in batches.iter().enumerate() {
            index.resize((id - first) as usize, usize::MAX);
            index.push(i);
        }
        Gather {
            stored: batches.into_iter().map(|(_, s)| s).collect(),
            first,
            index,
            picks: RefCell::new(Vec::new()),
            nulls: RefCell::new(Vec::new()),
        }
    }

    /// The values of `array` (per stored batch) at `rows`, NULL where there is no row.
    pub(super) fn column(
        &self,
        rows: impl Iterator<Item = Option<RowRef>>,
        array: impl Fn(&'a Stored) -> &'a ArrayRef,
    ) -> Result<ArrayRef> {
        let mut sources: Vec<&dyn Array> = Vec::with_capacity(self.stored.len() + 1);
        sources.extend(self.stored.iter().map(|s| array(s).as_ref()));
        let data_type = sources
            .first()
            .expect("rows are gathered while their batch is stored")
            .data_type()
            .clone();
        let mut nulls = self.nulls.borrow_mut();
        let null = match nulls.iter().position(|n| *n.data_type() == data_type) {
            Some(i) => i,
            None => {
                nulls.push(new_null_array(&data_type, 1));
                nulls.len() - 1
            }
        };
        let none = (sources.len(), 0);
        let mut picks = self.picks.borrow_mut();
        picks.clear();
        picks.extend(rows.map(|r| match r {
            Some(r) => (self.index[(r.batch - self.first) as usize], r.row as usize),
            None => none,
        }));
        sources.push(nulls[null].as_ref());
        Ok(interleave(&sources, &picks)?)
    }
}
