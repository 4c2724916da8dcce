//! The rows a `MATCH_RECOGNIZE` keeps: batches of released rows, and each partition's rows as
//! references into them. A batch is dropped once no partition refers to any of its rows.

use std::collections::VecDeque;

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, UInt64Array};
use arrow::datatypes::UInt64Type;
use arrow::record_batch::RecordBatch;
use rill_cep::{EXCLUDED, KEPT_ROWS, Path};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::checkpoint::State;

/// A batch of released rows, sorted by partition and time.
pub struct Stored {
    pub batch: RecordBatch,
    /// Per row: the variables whose batch-evaluated condition holds, one bit each (set once
    /// the batch is stored, as conditions may read its rows through the store).
    pub symbols: Vec<u64>,
    /// Arguments of the measures' aggregates, evaluated on the batch.
    pub arguments: Vec<ArrayRef>,
    /// Rows still referred to.
    live: usize,
    /// The memory it takes, with the symbols' (one `u64` a row).
    bytes: usize,
}

impl Stored {
    fn new(batch: RecordBatch, symbols: Vec<u64>, arguments: Vec<ArrayRef>, live: usize) -> Self {
        let bytes = batch.get_array_memory_size()
            + batch.num_rows() * size_of::<u64>()
            + arguments
                .iter()
                .map(|a| a.get_array_memory_size())
                .sum::<usize>();
        Stored {
            batch,
            symbols,
            arguments,
            live,
            bytes,
        }
    }
}

/// A row: a stored batch's number and the row in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowRef {
    pub batch: u64,
    pub row: u32,
}

/// Stored batches in release order.
#[derive(Default)]
pub struct RowStore {
    batches: VecDeque<Option<Stored>>,
    /// The number of the first batch in `batches`.
    first: u64,
    /// The memory of the kept batches ([`Stored::bytes`]), kept as they come and go.
    bytes: usize,
}

impl RowStore {
    /// The memory of the kept batches and what was evaluated on them.
    pub fn size(&self) -> usize {
        self.bytes
    }

    /// Keeps `batch`, every row of which some partition will refer to; returns its number.
    pub fn push(&mut self, batch: RecordBatch, arguments: Vec<ArrayRef>) -> u64 {
        let live = batch.num_rows();
        let stored = Stored::new(batch, Vec::new(), arguments, live);
        self.bytes += stored.bytes;
        self.batches.push_back(Some(stored));
        self.first + self.batches.len() as u64 - 1
    }

    pub fn get(&self, batch: u64) -> &Stored {
        self.batches[(batch - self.first) as usize]
            .as_ref()
            .expect("a stored batch is kept while its rows are referred to")
    }

    pub fn get_mut(&mut self, batch: u64) -> &mut Stored {
        self.batches[(batch - self.first) as usize]
            .as_mut()
            .expect("a stored batch is kept while its rows are referred to")
    }

    /// A partition no longer refers to `row`.
    pub fn release(&mut self, row: RowRef) {
        let slot = &mut self.batches[(row.batch - self.first) as usize];
        let stored = slot.as_mut().expect("released twice");
        stored.live -= 1;
        if stored.live == 0 {
            self.bytes -= stored.bytes;
            *slot = None;
            while matches!(self.batches.front(), Some(None)) {
                self.batches.pop_front();
                self.first += 1;
            }
        }
    }

    /// The stored batches by number, for gathering rows from them.
    pub fn batches(&self) -> impl Iterator<Item = (u64, &Stored)> {
        self.batches
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (self.first + i as u64, s)))
    }

    /// Rows kept in stored batches (referred to or not).
    pub fn rows(&self) -> usize {
        self.batches().map(|(_, s)| s.batch.num_rows()).sum()
    }

    /// Puts the kept batches, with their conditions' results, under `name`.
    pub fn snapshot(&self, state: &mut State, name: &str) -> Result<()> {
        let slots: Vec<Option<usize>> = (self.batches.iter())
            .map(|s| s.as_ref().map(|s| s.live))
            .collect();
        state.put(&format!("{name}.slots"), &(self.first, slots))?;
        for (i, stored) in self.batches() {
            let rows = stored.batch.num_rows();
            let batch = format!("{name}.{i}");
            state.put_batches(&batch, stored.batch.schema(), vec![stored.batch.clone()]);
            let symbols: ArrayRef = Arc::new(UInt64Array::from(stored.symbols.clone()));
            state.put_columns(&format!("{batch}.symbols"), vec![symbols], rows)?;
        }
        Ok(())
    }

    /// The store put under `name` by [`RowStore::snapshot`]; `derive` evaluates again what
    /// is evaluated on a batch when it is stored (the aggregates' arguments).
    pub fn restore(
        state: &State,
        name: &str,
        mut derive: impl FnMut(&RecordBatch) -> Result<Vec<ArrayRef>>,
    ) -> Result<RowStore> {
        let (first, slots): (u64, Vec<Option<usize>>) = state.get(&format!("{name}.slots"))?;
        let mut batches = VecDeque::with_capacity(slots.len());
        for (i, live) in slots.into_iter().enumerate() {
            let Some(live) = live else {
                batches.push_back(None);
                continue;
            };
            let part = format!("{name}.{}", first + i as u64);
            let Some(batch) = state.batches(&part)?.into_iter().next() else {
                return Err(crate::EngineError::Other(format!(
                    "a checkpointed state does not read: part '{part}' has no rows"
                )));
            };
            let (symbols, _) = state.columns(&format!("{part}.symbols"))?;
            let symbols = symbols[0].as_primitive::<UInt64Type>().values().to_vec();
            let arguments = derive(&batch)?;
            batches.push_back(Some(Stored::new(batch, symbols, arguments, live)));
        }
        let bytes = batches.iter().flatten().map(|s| s.bytes).sum();
        Ok(RowStore {
            batches,
            first,
            bytes,
        })
    }
}

/// One partition's rows still needed, by position in the partition.
#[derive(Default, Serialize, Deserialize)]
pub struct PartitionRows {
    rows: VecDeque<RowRef>,
    /// The position of the first kept row.
    base: u64,
}

impl PartitionRows {
    /// The memory of the row references.
    pub fn size(&self) -> usize {
        self.rows.len() * size_of::<RowRef>()
    }

    /// Keeps `rows`, the partition's next.
    pub fn extend(&mut self, rows: impl IntoIterator<Item = RowRef>) {
        self.rows.extend(rows);
    }

    /// The row at `position`, if kept.
    pub fn get(&self, position: u64) -> Option<RowRef> {
        let i = position.checked_sub(self.base)?;
        self.rows.get(i as usize).copied()
    }

    /// Forgets every row (none is kept) and the count of rows, keeping the memory a small
    /// partition needs.
    pub fn clear(&mut self) {
        debug_assert!(self.rows.is_empty(), "rows are released first");
        self.rows.shrink_to(KEPT_ROWS);
        self.base = 0;
    }

    /// Whether no row is kept.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// How many rows the partition has had.
    pub fn total(&self) -> u64 {
        self.base + self.rows.len() as u64
    }

    /// Forgets the rows before `position`.
    pub fn forget_before(&mut self, position: u64, store: &mut RowStore) {
        while self.base < position {
            let Some(row) = self.rows.pop_front() else {
                break;
            };
            store.release(row);
            self.base += 1;
        }
    }
}

/// The rows of the universal variable: every variable.
pub const ALL_VARIABLES: u64 = u64::MAX;

/// A way from the current row of a match to another row: the last (or first) row of one of
/// `vars`, `offset` such rows back (or on), then `physical` rows on in the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Navigation {
    pub vars: u64,
    pub first: bool,
    pub offset: u32,
    pub physical: i64,
}

impl Navigation {
    /// The current row itself.
    pub const CURRENT: Navigation = Navigation {
        vars: ALL_VARIABLES,
        first: false,
        offset: 0,
        physical: 0,
    };

    /// The position in the partition this leads to in match `m`, if any: `LAST` counts back
    /// from the current row (`running`) or the match's last row, `FIRST` on from its first
    /// row, then `physical` rows on (the rows may lie outside the match).
    pub fn target(&self, m: &MatchRows, running: bool) -> Option<u64> {
        let n = m.len();
        if n == 0 {
            return None;
        }
        if *self == Navigation::CURRENT && running {
            return Some(m.start + m.row as u64);
        }
        // The last row seen: a running navigation sees no row after the current one.
        let from = if running { m.row } else { n.checked_sub(1)? };
        let at = if self.vars == ALL_VARIABLES {
            match self.first {
                true => Some(self.offset as usize).filter(|i| *i <= from),
                false => from.checked_sub(self.offset as usize),
            }
        } else {
            m.nth_of(self.vars, self.first, self.offset as usize, from)
        }?;
        (m.start + at as u64).checked_add_signed(self.physical)
    }
}

/// The rows of a match: `labels` from row `start` on, maybe the label the current row is
/// being tried with (in `DEFINE`), and which of them is the current row.
#[derive(Debug, Clone, Copy)]
pub struct MatchRows<'a> {
    pub start: u64,
    pub labels: &'a [u16],
    pub current: Option<u16>,
    /// The current row, as an index into the match.
    pub row: usize,
    /// The path `labels` come from, which says where each variable's rows are.
    pub path: Option<&'a Path>,
}

impl<'a> MatchRows<'a> {
    /// A match being extended by the current row, tried as `var` (in `DEFINE`).
    pub fn trying(start: u64, path: &'a Path, var: u16) -> Self {
        MatchRows {
            start,
            labels: path.labels(),
            current: Some(var),
            row: path.labels().len(),
            path: Some(path),
        }
    }

    /// The `offset`-th of the rows `0..=from` labelled with one of `vars`, counted from the
    /// first (`first`) or back from the last.
    fn nth_of(&self, vars: u64, first: bool, offset: usize, from: usize) -> Option<usize> {
        let var = vars.trailing_zeros() as u16;
        let indexed = (self.path.filter(|_| vars.count_ones() == 1)).and_then(|p| p.rows_of(var));
        let Some(rows) = indexed else {
            let in_vars = |i: &usize| vars >> (self.label(*i) & !EXCLUDED) & 1 == 1;
            return match first {
                true => (0..=from).filter(in_vars).nth(offset),
                false => (0..=from).rev().filter(in_vars).nth(offset),
            };
        };
        // One variable: its rows on the path, then the current row if it is being tried as it.
        let rows = &rows[..rows.partition_point(|r| *r as usize <= from)];
        let current =
            from >= self.labels.len() && self.current.is_some_and(|c| c & !EXCLUDED == var);
        let count = rows.len() + usize::from(current);
        let i = match first {
            true => offset,
            false => count.checked_sub(offset + 1)?,
        };
        match i.cmp(&rows.len()) {
            std::cmp::Ordering::Less => Some(rows[i] as usize),
            std::cmp::Ordering::Equal if current => Some(self.labels.len()),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len() + usize::from(self.current.is_some())
    }

    /// How many of the match's rows a navigation or aggregate sees: up to the current row
    /// when `running`, else all.
    pub fn visible(&self, running: bool) -> usize {
        match running {
            true => (self.row + 1).min(self.len()),
            false => self.len(),
        }
    }

    pub fn label(&self, i: usize) -> u16 {
        match self.labels.get(i) {
            Some(l) => *l,
            None => self.current.expect("a row of the match"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigation_finds_rows_of_variables() {
        // Rows 10..15 labelled A B B A(excluded) and B being tried.
        let mut path = Path::default();
        [0, 1, 1, EXCLUDED].into_iter().for_each(|l| path.push(l));
        let m = MatchRows::trying(10, &path, 1);
        let last = |vars, offset| Navigation {
            vars,
            first: false,
            offset,
            physical: 0,
        };
        assert_eq!(Navigation::CURRENT.target(&m, true), Some(14));
        assert_eq!(last(1 << 1, 0).target(&m, true), Some(14));
        assert_eq!(last(1 << 1, 1).target(&m, true), Some(12));
        assert_eq!(last(1 << 0, 0).target(&m, true), Some(13));
        assert_eq!(last(1 << 0, 2).target(&m, true), None);
        let first_b = Navigation {
            first: true,
            ..last(1 << 1, 1)
        };
        assert_eq!(first_b.target(&m, true), Some(12));
        // PREV(A.x, 4): before the match; NEXT past its last row.
        let prev = Navigation {
            physical: -4,
            ..last(1 << 0, 0)
        };
        assert_eq!(prev.target(&m, true), Some(9));
        let next = Navigation {
            physical: 2,
            ..last(1 << 0, 0)
        };
        assert_eq!(next.target(&m, true), Some(15));
        // In MEASURES the whole match is known: at row 11 (running), LAST(B) is row 11, FINAL
        // LAST(B) row 14, FIRST(B, 1) not yet seen (FINAL: row 12), and NEXT reaches row 12.
        let whole = MatchRows {
            start: 10,
            labels: &[0, 1, 1, EXCLUDED, 1],
            current: None,
            row: 1,
            path: None,
        };
        assert_eq!(last(1 << 1, 0).target(&whole, true), Some(11));
        assert_eq!(last(1 << 1, 0).target(&whole, false), Some(14));
        assert_eq!(first_b.target(&whole, true), None);
        assert_eq!(first_b.target(&whole, false), Some(12));
        let next_row = Navigation {
            physical: 1,
            ..Navigation::CURRENT
        };
        assert_eq!(next_row.target(&whole, true), Some(12));
    }

    #[test]
    fn a_long_path_finds_the_rows_a_search_finds() {
        // 40 rows of variables 0..3, some excluded, then the current row tried as each one.
        let mut path = Path::default();
        for i in 0..40u16 {
            let var = (i * 7 + i / 5) % 4;
            path.push(if i % 9 == 4 { var | EXCLUDED } else { var });
        }
        for var in 0..4 {
            let m = MatchRows::trying(100, &path, var);
            assert!(
                m.path.unwrap().rows_of(var).is_some(),
                "a long path is indexed"
            );
            let searched = MatchRows { path: None, ..m };
            for vars in [1 << 0, 1 << 1, 1 << 3, 0b110] {
                for (first, offset, running) in (0..12).flat_map(|o| {
                    [
                        (true, o, true),
                        (true, o, false),
                        (false, o, true),
                        (false, o, false),
                    ]
                }) {
                    let nav = Navigation {
                        vars,
                        first,
                        offset,
                        physical: 0,
                    };
                    let found = nav.target(&m, running);
                    assert_eq!(found, nav.target(&searched, running), "{nav:?} {running}");
                }
            }
        }
    }
}
