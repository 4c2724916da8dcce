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
use crate::operator::group_state::{CallState, Rows, call_state};
use crate::time::{Watermark, for_each_millis};

pub(super) struct Running {
    /// The calls, as a `GROUP BY` without keys: it evaluates their arguments.
    calls: GroupBy,
    /// Per call, its state in every partition.
    states: Vec<Box<dyn CallState>>,
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
        let states = (calls.iter())
            .map(|call| call_state(call, false))
            .collect::<Result<_>>()?;
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
        let mut pieces: Vec<Vec<ArrayRef>> = vec![Vec::new(); self.states.len()];
        let mut start = 0;
        while start < n {
            let step = steps[order.value(start) as usize];
            let mut end = start + 1;
            while end < n && steps[order.value(end) as usize] == step {
                end += 1;
            }
            let step_ids = &ids[start..end];
            let step_rows = Rows::new(step_ids, None, groups);
            let calls = self.states.iter_mut().zip(&input.arguments);
            for ((state, (args, filter)), pieces) in calls.zip(&mut pieces) {
                let args: Vec<ArrayRef> =
                    args.iter().map(|a| a.slice(start, end - start)).collect();
                let filter = filter.as_ref().map(|f| f.slice(start, end - start));
                state.update(&args, filter.as_ref(), &step_rows)?;
                pieces.push(state.evaluate(step_ids)?);
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
        self.partitions.size() + self.states.iter().map(|s| s.size()).sum::<usize>()
    }

    fn snapshot(&mut self, state: &mut State, name: &str) -> Result<()> {
        let partitions = self.partitions.len();
        let keys = self.partitions.snapshot()?;
        state.put_columns(&format!("{name}.partitions"), keys, partitions)?;
        for (c, call) in self.states.iter_mut().enumerate() {
            call.snapshot(partitions, state, &format!("{name}.call{c}"))?;
        }
        Ok(())
    }

    fn restore(&mut self, state: &State, name: &str) -> Result<()> {
        let (keys, partitions) = state.columns(&format!("{name}.partitions"))?;
        self.partitions.intern(&keys, partitions, &mut self.ids)?;
        for (c, call) in self.states.iter_mut().enumerate() {
            call.restore(partitions, state, &format!("{name}.call{c}"))?;
        }
        Ok(())
    }
}
