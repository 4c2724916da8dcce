//! Frames from `UNBOUNDED PRECEDING` (running aggregates): each partition keeps each call's
//! state, as a `GROUP BY` keeps a group's, instead of rows.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{concat, take};
use arrow::datatypes::{FieldRef, Schema, SchemaRef};

use super::Evaluator;
use crate::Result;
use crate::checkpoint::State;
use crate::operator::StateBound;
use crate::operator::aggregate::{AggregateCall, GroupBy, KeyTable, cast_to};
use crate::operator::group_state::{CallStates, Rows};
use crate::time::{Watermark, for_each_millis};

pub(super) struct Running {
    /// The calls, as a `GROUP BY` without keys: it evaluates their arguments.
    calls: GroupBy,
    /// The calls' states in every partition.
    states: CallStates,
    /// Numbers the partitions.
    partitions: KeyTable,
    ids: Vec<usize>,
    /// The input column holding event time.
    time: usize,
    /// Whether rows of the same time share one result (`RANGE`).
    peers: bool,
    /// The fields of the calls' results.
    results: Vec<FieldRef>,
}

impl Running {
    /// `calls` per partition of keys of `key_schema`.
    pub fn new(
        calls: Vec<AggregateCall>,
        key_schema: SchemaRef,
        time: usize,
        peers: bool,
        results: Vec<FieldRef>,
    ) -> Result<Self> {
        let states = CallStates::new(&calls, false)?;
        let calls = GroupBy {
            keys: Vec::new(),
            key_schema: Arc::new(Schema::empty()),
            calls,
        };
        Ok(Running {
            calls,
            states,
            partitions: KeyTable::new(key_schema)?,
            ids: Vec::new(),
            time,
            peers,
            results,
        })
    }

    /// Each row's step: its place in its partition's run, where rows of the same time share
    /// one with `peers`.
    fn steps(&self, rows: &RecordBatch) -> Result<Vec<u32>> {
        let n = rows.num_rows();
        let mut times = Vec::with_capacity(if self.peers { n } else { 0 });
        if self.peers {
            for_each_millis(rows.column(self.time), |t| times.push(t))?;
        }
        let mut steps = vec![0u32; n];
        for i in 1..n {
            steps[i] = if self.ids[i] != self.ids[i - 1] {
                0
            } else if self.peers && times[i] == times[i - 1] {
                steps[i - 1]
            } else {
                steps[i - 1] + 1
            };
        }
        Ok(steps)
    }
}

impl Evaluator for Running {
    /// The rows go to the calls' states a step at a time, all partitions at once: a row's
    /// result then counts exactly its partition's rows up to its own step.
    fn evaluate(&mut self, rows: &RecordBatch, partition: &[ArrayRef]) -> Result<Vec<ArrayRef>> {
        let n = rows.num_rows();
        self.partitions.intern(partition, n, &mut self.ids)?;
        let groups = self.partitions.len();
        let steps = self.steps(rows)?;
        // The rows by step, each step's rows a slice.
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by_key(|&i| steps[i as usize]);
        let ids: Vec<usize> = order.iter().map(|&i| self.ids[i as usize]).collect();
        let order = UInt32Array::from(order);
        let input = self.calls.evaluate(rows)?.take(&order)?;
        let mut pieces: Vec<Vec<ArrayRef>> = vec![Vec::new(); self.results.len()];
        let mut start = 0;
        while start < n {
            let step = steps[order.value(start) as usize];
            let mut end = start + 1;
            while end < n && steps[order.value(end) as usize] == step {
                end += 1;
            }
            let step_ids = &ids[start..end];
            let step_rows = Rows::new(step_ids, None, groups);
            self.states.update(&input.arguments, start, &step_rows)?;
            let results = self.states.evaluate(step_ids)?;
            for (pieces, result) in pieces.iter_mut().zip(results) {
                pieces.push(result);
            }
            start = end;
        }
        // From step order back to the rows' order.
        let mut back = vec![0u32; n];
        for (at, &row) in order.values().iter().enumerate() {
            back[row as usize] = at as u32;
        }
        let back = UInt32Array::from(back);
        (pieces.iter().zip(&self.results))
            .map(|(pieces, field)| {
                let pieces: Vec<&dyn Array> = pieces.iter().map(AsRef::as_ref).collect();
                cast_to(take(&concat(&pieces)?, &back, None)?, field.data_type())
            })
            .collect()
    }

    fn forget(&mut self, _watermark: Watermark) {}

    fn partitions(&self) -> usize {
        self.partitions.len()
    }

    fn state_bound(&self) -> StateBound {
        StateBound::Unbounded("distinct partition keys (their running aggregates)")
    }

    fn state_bytes(&self) -> usize {
        self.partitions.size() + self.states.size()
    }

    fn snapshot(&mut self, state: &mut State, name: &str) -> Result<()> {
        let partitions = self.partitions.len();
        let keys = self.partitions.snapshot()?;
        state.put_columns(&format!("{name}.partitions"), keys, partitions)?;
        self.states.snapshot(partitions, state, &format!("{name}."))
    }

    fn restore(&mut self, state: &State, name: &str) -> Result<()> {
        let (keys, partitions) = state.columns(&format!("{name}.partitions"))?;
        self.partitions.intern(&keys, partitions, &mut self.ids)?;
        self.states.restore(partitions, state, &format!("{name}."))
    }
}
