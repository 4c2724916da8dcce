//! Window aggregation: `GROUP BY window_start, window_end, keys...` over the output of a
//! window table function. Each open window has its own groups; a window fires when the
//! watermark reaches its last instant and emits one row per group. Its state is dropped then,
//! or, with an allowed lateness, kept that much longer so late rows update the result.
//!
//! With early firing, each time the watermark passes a multiple of an interval of event time,
//! every open window whose result changed since it last emitted emits it: its first result
//! as inserts, later ones as updates (-U/+U), as Flink's `table.exec.emit.early-fire.*` does
//! on processing time. A batch is cut where its rows' watermark stamps pass such a multiple, so
//! early results do not depend on how the input is batched. Flink's own trigger, every so
//! often on the clock, comes as the runtime's ticks (the operator never reads the clock): its
//! early results then depend on timing, as in Flink, while the final ones do not.
//!
//! HOP and CUMULATE windows overlap: rather than aggregating each row once per window, the
//! operator can take rows by slice (see [`WindowKind::slice`]) and, as Flink does, merge a
//! window's slices when it fires: each row is aggregated once, each slice's state read once
//! per window.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Int8Array, Int64Array, TimestampMillisecondArray, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use arrow::row::{RowConverter, SortField};
use datafusion_common::ScalarValue;

use super::aggregate::{Frozen, GroupBy, Groups, WindowOutput, cast_to};
use super::timed::{Timed, rows_by_window};
use super::{Operator, batches_bytes};
use crate::batch::{ChangeBatch, Message, RowKind};
use crate::checkpoint::State;
use crate::late::{LatePolicy, LateRows};
use crate::time::{NO_WATERMARK, Watermark, for_each_millis};
use crate::window::WindowKind;
use crate::{EngineError, Result};

/// One window's groups and what was last emitted for them.
struct Window {
    groups: Groups,
    /// `window_start`, when the output has it (taken from the window's first row).
    start: Option<ScalarValue>,
    /// The rows the window last emitted (an early result, or its result when it fired and
    /// an allowed lateness keeps it).
    emitted: Option<RecordBatch>,
    /// Whether rows changed the groups since.
    changed: bool,
}

/// Aggregates rows per window and group, emitting each window once it is complete.
pub struct WindowAggregate {
    /// The keys other than the window's columns, which are constant in a window and so
    /// are not hashed, and the aggregates.
    group_by: GroupBy,
    /// The input column holding `window_end`.
    window_end: usize,
    /// The input column holding `window_start`, when the output has it.
    window_start: Option<usize>,
    /// What each output column holds.
    layout: Vec<WindowOutput>,
    schema: SchemaRef,
    /// Windows with state, by end.
    windows: BTreeMap<i64, Window>,
    /// How long (ms) a window's state outlives its firing.
    lateness: i64,
    late: LateRows,
    /// The watermark last passed downstream.
    watermark: Watermark,
    /// With rows by slice: the windows made of them.
    slices: Option<Slices>,
    /// With early results: when they are due.
    early: Option<EarlyFire>,
    /// Windows on processing time: `watermark` is then the processing time windows fired up
    /// to, not an event-time watermark.
    processing_time: bool,
}

/// How long after a processing-time window's end the runtime's clock fires it when no later
/// row has (rows read before its end may still be on their way).
const PROCESSING_TIME_GRACE: i64 = 1000;

/// When early results are due: each time the watermark passes a multiple of an interval of
/// event time (counted from the first watermark), or at each of the runtime's ticks.
struct EarlyFire {
    trigger: Trigger,
    /// The last multiple early results were due at (or the first watermark reached).
    fired: i64,
    /// The operator's name, saying so (`EXPLAIN` and the plan checkpoints belong to show it).
    name: String,
}

/// What makes early results due.
#[derive(Clone, Copy)]
enum Trigger {
    /// The watermark passing a multiple of this many ms of event time.
    EventTime(i64),
    /// The runtime's ticks, this often by the clock.
    Ticks(Duration),
}

impl EarlyFire {
    /// The multiple of the event-time interval `watermark` reached, if past the last one; the
    /// first watermark only says where counting starts.
    fn due(&mut self, watermark: Watermark) -> Option<i64> {
        let Trigger::EventTime(interval) = self.trigger else {
            return None;
        };
        if watermark == NO_WATERMARK {
            return None;
        }
        let multiple = watermark.checked_sub(watermark.rem_euclid(interval))?;
        if self.fired == NO_WATERMARK {
            self.fired = multiple;
        }
        (multiple > self.fired).then_some(multiple)
    }
}

/// The windows of a window aggregation whose input rows come by slice: the operator's
/// `windows` are then slices, merged into the windows they make up when those fire.
struct Slices {
    kind: WindowKind,
    /// The windows that have rows, by end: their start.
    pending: BTreeMap<i64, i64>,
    /// Slices a fired window read, by end, until their last window fired.
    frozen: BTreeMap<i64, Frozen>,
    /// Rows late for their slice but not for some of its windows, by window end.
    late: BTreeMap<i64, Groups>,
}

impl Slices {
    /// Notes the windows of the slice ending at `end` as having rows.
    fn note_windows(&mut self, end: i64) {
        let length = self.kind.slice().expect("a sliced kind");
        let pending = &mut self.pending;
        self.kind.for_each_window(end - length, |start, end| {
            pending.insert(end, start);
        });
    }

    /// The end of the last window of the slice ending at `end`.
    fn last_window_end(&self, end: i64) -> i64 {
        let length = self.kind.slice().expect("a sliced kind");
        let mut last = end;
        self.kind
            .for_each_window(end - length, |_, end| last = last.max(end));
        last
    }
}

impl WindowAggregate {
    /// Groups by `group_by` within the windows whose end is in input column `window_end`
    /// (and start in `window_start`); `layout` says what each column of `schema` holds; late
    /// rows are handled by `late` with the lateness of `policy`.
    pub fn new(
        group_by: GroupBy,
        window_end: usize,
        window_start: Option<usize>,
        layout: Vec<WindowOutput>,
        schema: SchemaRef,
        policy: &LatePolicy,
        late: LateRows,
    ) -> Self {
        WindowAggregate {
            group_by,
            window_end,
            window_start,
            layout,
            schema,
            windows: BTreeMap::new(),
            lateness: policy.lateness(),
            late,
            watermark: NO_WATERMARK,
            slices: None,
            early: None,
            processing_time: false,
        }
    }

    /// Windows of processing time (Flink's `TUMBLE(TABLE t, DESCRIPTOR(proctime), ...)`),
    /// their bounds from the clock's readings in the rows. A window fires when a row read
    /// after its end arrives, or when the runtime's clock is past its end by
    /// [`PROCESSING_TIME_GRACE`]; a row of a window fired already is late. Its output has no
    /// event time. Not with slices or early results.
    pub fn on_processing_time(mut self) -> Self {
        assert!(self.slices.is_none() && self.early.is_none());
        self.processing_time = true;
        self
    }

    /// Fires the windows ended by processing time `now`, if later than the last firing.
    fn fire_processing_time(&mut self, now: i64, out: &mut Vec<Message>) -> Result<()> {
        let Some(done) = now.checked_sub(1).filter(|done| *done > self.watermark) else {
            return Ok(());
        };
        self.fire(done, out)?;
        self.watermark = done;
        Ok(())
    }

    /// Emits early results each time the watermark passes a multiple of `interval` ms of
    /// event time. Not with slices.
    pub fn with_early_fire(mut self, interval: i64) -> Self {
        assert!(interval > 0 && self.slices.is_none());
        self.early = Some(EarlyFire {
            trigger: Trigger::EventTime(interval),
            fired: NO_WATERMARK,
            name: format!("WindowAggregate, early results every {interval} ms of event time"),
        });
        self
    }

    /// Emits early results at each of the runtime's ticks, every `delay` by the clock
    /// (Flink's `table.exec.emit.early-fire.delay`). Not with slices.
    pub fn with_early_fire_on_ticks(mut self, delay: Duration) -> Self {
        assert!(!delay.is_zero() && self.slices.is_none());
        self.early = Some(EarlyFire {
            trigger: Trigger::Ticks(delay),
            fired: NO_WATERMARK,
            name: format!(
                "WindowAggregate, early results every {} ms of processing time",
                delay.as_millis()
            ),
        });
        self
    }

    /// Takes rows by slice of `kind`'s windows (`window_end` holding the slice's end) and
    /// merges slices into windows when they fire. Only without an allowed lateness.
    pub fn with_slices(mut self, kind: WindowKind) -> Self {
        assert!(kind.slice().is_some() && self.lateness == 0 && self.early.is_none());
        self.slices = Some(Slices {
            kind,
            pending: BTreeMap::new(),
            frozen: BTreeMap::new(),
            late: BTreeMap::new(),
        });
        self
    }

    /// How many windows hold state.
    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    /// The window ending at `end`, made if new from `row` of `batch`, its first row.
    fn window(&mut self, end: i64, batch: &RecordBatch, row: usize) -> Result<&mut Window> {
        if !self.windows.contains_key(&end) {
            let start = self
                .window_start
                .map(|c| ScalarValue::try_from_array(batch.column(c), row))
                .transpose()?;
            let window = Window {
                groups: self.group_by.new_groups()?,
                start,
                emitted: None,
                changed: false,
            };
            self.windows.insert(end, window);
        }
        Ok(self.windows.get_mut(&end).expect("inserted above"))
    }

    /// The output rows of a window ending at `end`: `values` are its groups' keys, then
    /// aggregates, for `rows` groups.
    fn batch(
        &self,
        start: Option<&ScalarValue>,
        end: i64,
        rows: usize,
        values: Vec<ArrayRef>,
    ) -> Result<RecordBatch> {
        let keys = self.group_by.keys.len();
        let constant =
            |t: i64| -> ArrayRef { Arc::new(TimestampMillisecondArray::from(vec![t; rows])) };
        let mut columns = Vec::with_capacity(self.layout.len());
        for (what, field) in self.layout.iter().zip(self.schema.fields()) {
            let column = match *what {
                WindowOutput::Start => match start {
                    Some(start) => start.to_array_of_size(rows)?,
                    None => {
                        return Err(EngineError::Other("internal error: no window start".into()));
                    }
                },
                WindowOutput::End => constant(end),
                WindowOutput::Time => constant(end - 1),
                WindowOutput::Key(i) => values[i].clone(),
                WindowOutput::Aggregate(i) => values[keys + i].clone(),
            };
            columns.push(cast_to(column, field.data_type())?);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &options,
        )?)
    }

    /// Emits the windows of slices complete at `watermark` (oldest first), each merged from
    /// its slices, and drops the slices no window left needs.
    fn fire_slices(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        let slices = self.slices.as_mut().expect("sliced");
        let length = slices.kind.slice().expect("a sliced kind");
        let complete: Vec<(i64, i64)> = (slices.pending.range(..))
            .take_while(|(end, _)| end.saturating_sub(1) <= watermark)
            .map(|(end, start)| (*end, *start))
            .collect();
        for (end, start) in complete {
            let slices = self.slices.as_mut().expect("sliced");
            slices.pending.remove(&end);
            let mut window = self.group_by.new_groups()?;
            for slice_end in (start + length..=end).step_by(length as usize) {
                // Complete, as the window is: read-only from now on.
                if let Some(slice) = self.windows.remove(&slice_end) {
                    slices.frozen.insert(slice_end, slice.groups.freeze()?);
                }
                if let Some(frozen) = slices.frozen.get(&slice_end) {
                    window.merge(frozen)?;
                }
            }
            if let Some(late) = slices.late.remove(&end) {
                window.merge(&late.freeze()?)?;
            }
            // Slices whose last window this was.
            while let Some(first) = slices.frozen.first_key_value().map(|(e, _)| *e)
                && slices.last_window_end(first) <= end
            {
                slices.frozen.remove(&first);
            }
            let groups = window.len();
            let start = ScalarValue::TimestampMillisecond(Some(start), None);
            let rows = self.batch(Some(&start), end, groups, window.emit()?)?;
            if let Some(rows) = inserts(rows) {
                out.push(Message::Batch(self.stamped(rows)));
            }
        }
        Ok(())
    }

    /// Rows `late` of `batch` (with `input` evaluated on it) are late for their slice: each
    /// goes to those of its slice's windows it is not late for; the rows late for all of
    /// them are returned.
    fn late_for_slice(
        &mut self,
        batch: &ChangeBatch,
        input: &super::aggregate::GroupInput,
        late: Vec<u32>,
    ) -> Result<Vec<u32>> {
        let Some(slices) = &mut self.slices else {
            return Ok(late);
        };
        if late.is_empty() {
            return Ok(late);
        }
        let length = slices.kind.slice().expect("a sliced kind");
        let mut ends = Vec::with_capacity(batch.num_rows());
        for_each_millis(batch.data.column(self.window_end), |end| ends.push(end))?;
        let stamps = batch.watermarks.as_ref().map(|w| w.values());
        let mut dropped = Vec::new();
        let mut by_window: BTreeMap<i64, (i64, Vec<u32>)> = BTreeMap::new();
        for row in late {
            let before = stamps.map_or(self.watermark, |s| s[row as usize].max(self.watermark));
            let mut kept = false;
            if let Some(end) = ends[row as usize] {
                slices.kind.for_each_window(end - length, |start, end| {
                    if end - 1 > before {
                        by_window
                            .entry(end)
                            .or_insert((start, Vec::new()))
                            .1
                            .push(row);
                        kept = true;
                    }
                });
            }
            if !kept {
                dropped.push(row);
            }
        }
        for (end, (start, rows)) in by_window {
            let groups = match slices.late.entry(end) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(self.group_by.new_groups()?)
                }
            };
            groups.update(&input.take(&UInt32Array::from(rows))?)?;
            slices.pending.insert(end, start);
        }
        Ok(dropped)
    }

    /// Emits the result of the window ending at `end` if it changed since the window last
    /// emitted (the first as inserts, later ones as updates), then drops the window if `drop`.
    fn emit(&mut self, end: i64, drop: bool, out: &mut Vec<Message>) -> Result<()> {
        let mut window = self.windows.remove(&end).expect("an open window");
        if window.emitted.is_none() || window.changed {
            let groups = window.groups.len();
            let values = match drop {
                true => window.groups.emit()?,
                false => window.groups.evaluate_and_keep(&self.group_by)?,
            };
            let rows = self.batch(window.start.as_ref(), end, groups, values)?;
            let change = match window.emitted.take() {
                None => inserts(rows.clone()),
                Some(old) => updates(&old, &rows)?,
            };
            if let Some(change) = change {
                out.push(Message::Batch(self.stamped(change)));
            }
            window.emitted = Some(rows);
            window.changed = false;
        }
        if !drop {
            self.windows.insert(end, window);
        }
        Ok(())
    }

    /// Early results at `multiple` (of the early-fire interval).
    fn fire_early(&mut self, multiple: i64, out: &mut Vec<Message>) -> Result<()> {
        self.emit_open(out)?;
        self.early.as_mut().expect("early firing").fired = multiple;
        Ok(())
    }

    /// Early results: every open window whose result changed since it last emitted emits.
    fn emit_open(&mut self, out: &mut Vec<Message>) -> Result<()> {
        let ends: Vec<i64> = self.windows.keys().copied().collect();
        for end in ends {
            self.emit(end, false, out)?;
        }
        Ok(())
    }

    /// Aggregates the rows of `batch` into their windows.
    fn aggregate(&mut self, batch: &ChangeBatch, out: &mut Vec<Message>) -> Result<()> {
        let split = rows_by_window(batch, self.window_end, self.watermark, self.lateness)?;
        let input = self.group_by.evaluate(&batch.data)?;
        let late = self.late_for_slice(batch, &input, split.late)?;
        self.late.record(&batch.data, late, out)?;
        for (end, rows) in split.windows {
            if let Some(slices) = &mut self.slices
                && !self.windows.contains_key(&end)
            {
                slices.note_windows(end);
            }
            let first = rows.as_ref().map_or(0, |r| r[0] as usize);
            let window = self.window(end, &batch.data, first)?;
            match rows {
                None => window.groups.update(&input)?,
                Some(rows) => window
                    .groups
                    .update(&input.take(&UInt32Array::from(rows))?)?,
            }
            // A row for a window that already emitted changes its result.
            window.changed |= window.emitted.is_some();
        }
        Ok(())
    }

    /// `batch` with every row stamped with the watermark before this firing (on processing
    /// time, none).
    fn stamped(&self, mut batch: ChangeBatch) -> ChangeBatch {
        batch.watermarks = (!self.processing_time)
            .then(|| Int64Array::from(vec![self.watermark; batch.num_rows()]));
        batch
    }
}

fn inserts(rows: RecordBatch) -> Option<ChangeBatch> {
    (rows.num_rows() > 0).then(|| ChangeBatch::inserts(rows))
}

/// The changelog from a window's `old` result to its `new` one. Groups keep their positions
/// (new groups come last), so rows are compared position by position.
fn updates(old: &RecordBatch, new: &RecordBatch) -> Result<Option<ChangeBatch>> {
    let fields = new
        .schema()
        .fields()
        .iter()
        .map(|f| SortField::new(f.data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields)?;
    let (before, after) = (
        converter.convert_columns(old.columns())?,
        converter.convert_columns(new.columns())?,
    );
    let mut from_old = Vec::new();
    let mut from_new = Vec::new();
    let mut ops = Vec::new();
    for i in 0..new.num_rows() {
        if i < old.num_rows() {
            if before.row(i) == after.row(i) {
                continue;
            }
            from_old.push(i as u32);
            ops.push(RowKind::UpdateBefore as i8);
        }
        from_new.push(i as u32);
        ops.push(if i < old.num_rows() {
            RowKind::UpdateAfter as i8
        } else {
            RowKind::Insert as i8
        });
    }
    if ops.is_empty() {
        return Ok(None);
    }
    // Interleave: each -U right before its +U.
    let mut indices = Vec::with_capacity(ops.len());
    let (mut o, mut n) = (0u32, 0u32);
    for op in &ops {
        if *op == RowKind::UpdateBefore as i8 {
            indices.push((0u8, from_old[o as usize]));
            o += 1;
        } else {
            indices.push((1u8, from_new[n as usize]));
            n += 1;
        }
    }
    let both = concat_batches(&new.schema(), [old, new])?;
    let offset = old.num_rows() as u32;
    let picked = UInt32Array::from_iter_values(
        indices
            .iter()
            .map(|(side, i)| if *side == 0 { *i } else { offset + i }),
    );
    Ok(Some(ChangeBatch {
        data: take_record_batch(&both, &picked)?,
        ops: Some(Int8Array::from(ops)),
        watermarks: None,
    }))
}

impl Timed for WindowAggregate {
    /// Emits the windows complete at `watermark` (oldest first) and the updates of fired
    /// windows late rows changed; drops the state of windows past their lateness.
    fn fire(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        if self.slices.is_some() {
            return self.fire_slices(watermark, out);
        }
        let complete = |end: i64| end.saturating_sub(1) <= watermark;
        let lateness = self.lateness;
        let expired = |end: i64| end.saturating_sub(1).saturating_add(lateness) <= watermark;
        let ends: Vec<i64> = self
            .windows
            .range(..)
            .take_while(|(end, _)| complete(**end))
            .map(|(end, _)| *end)
            .collect();
        for end in ends {
            self.emit(end, expired(end), out)?;
        }
        Ok(())
    }

    fn watermark_mut(&mut self) -> &mut Watermark {
        &mut self.watermark
    }
}

impl Operator for WindowAggregate {
    fn state_bound(&self) -> super::StateBound {
        super::StateBound::Watermark("windows")
    }

    fn name(&self) -> &str {
        match &self.early {
            Some(early) => &early.name,
            None if self.processing_time => "WindowAggregate on processing time",
            None => "WindowAggregate",
        }
    }

    fn state_bytes(&self) -> usize {
        let windows: usize = (self.windows.values())
            .map(|w| w.groups.size() + batches_bytes(&w.emitted))
            .sum();
        let slices = self.slices.as_ref().map_or(0, |s| {
            s.frozen.values().map(Frozen::size).sum::<usize>()
                + s.late.values().map(Groups::size).sum::<usize>()
        });
        windows + slices
    }

    fn on_batch(
        &mut self,
        _input: usize,
        mut batch: ChangeBatch,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        if batch.ops.is_some() {
            return Err(EngineError::Other(
                "window aggregation needs an insert-only input".into(),
            ));
        }
        if self.processing_time {
            // Event-time stamps say nothing of processing time.
            batch.watermarks = None;
            self.aggregate(&batch, out)?;
            // Rows come in the order the clock was read for them: by the time a row's
            // latest window started, every window that ended is complete.
            let start = self
                .window_start
                .expect("processing-time windows keep their start");
            let mut latest = None;
            for_each_millis(batch.data.column(start), |t| latest = latest.max(t))?;
            return match latest {
                Some(latest) => self.fire_processing_time(latest, out),
                None => Ok(()),
            };
        }
        // Early results are due before the first row whose watermark stamp passes a multiple
        // of the interval: the rows before it are aggregated first.
        while let (Some(early), Some(stamps)) = (&mut self.early, &batch.watermarks) {
            let due = (stamps.values().iter().enumerate())
                .find_map(|(row, stamp)| early.due(*stamp).map(|multiple| (row, multiple)));
            let Some((row, multiple)) = due else { break };
            if row > 0 {
                self.aggregate(&batch.slice(0, row), out)?;
            }
            self.fire_early(multiple, out)?;
            batch = batch.slice(row, batch.num_rows() - row);
        }
        self.aggregate(&batch, out)
    }

    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        if self.processing_time {
            out.push(Message::Watermark(watermark));
            return Ok(());
        }
        if let Some(multiple) = self.early.as_mut().and_then(|e| e.due(watermark)) {
            self.fire_early(multiple, out)?;
        }
        self.advance(watermark, out)
    }

    fn on_end(&mut self, out: &mut Vec<Message>) -> Result<()> {
        self.finish(out)
    }

    fn tick_interval(&self) -> Option<Duration> {
        if self.processing_time {
            return Some(Duration::from_millis(200));
        }
        match self.early.as_ref()?.trigger {
            Trigger::Ticks(every) => Some(every),
            Trigger::EventTime(_) => None,
        }
    }

    fn on_tick(&mut self, now: i64, out: &mut Vec<Message>) -> Result<()> {
        match self.processing_time {
            true => self.fire_processing_time(now - PROCESSING_TIME_GRACE, out),
            false => self.emit_open(out),
        }
    }

    fn snapshot(&mut self) -> Result<State> {
        let mut state = State::new();
        state.put("watermark", &self.watermark)?;
        let mut windows = Vec::with_capacity(self.windows.len());
        for (i, (end, window)) in self.windows.iter_mut().enumerate() {
            window
                .groups
                .snapshot(&self.group_by, &mut state, &format!("w{i}"))?;
            if let Some(start) = &window.start {
                state.put_columns(&format!("w{i}.start"), vec![start.to_array()?], 1)?;
            }
            if let Some(emitted) = &window.emitted {
                let name = format!("w{i}.emitted");
                state.put_batches(&name, emitted.schema(), vec![emitted.clone()]);
            }
            windows.push((
                *end,
                window.start.is_some(),
                window.emitted.is_some(),
                window.changed,
            ));
        }
        state.put("windows", &windows)?;
        if let Some(early) = &self.early {
            state.put("early", &early.fired)?;
        }
        if let Some(slices) = &mut self.slices {
            let pending: Vec<(i64, i64)> = slices.pending.iter().map(|(e, s)| (*e, *s)).collect();
            state.put("pending", &pending)?;
            for (i, frozen) in slices.frozen.values().enumerate() {
                frozen.snapshot(&mut state, &format!("f{i}"))?;
            }
            state.put("frozen", &slices.frozen.keys().collect::<Vec<_>>())?;
            for (i, late) in slices.late.values_mut().enumerate() {
                late.snapshot(&self.group_by, &mut state, &format!("l{i}"))?;
            }
            state.put("late", &slices.late.keys().collect::<Vec<_>>())?;
        }
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        self.watermark = state.get("watermark")?;
        let windows: Vec<(i64, bool, bool, bool)> = state.get("windows")?;
        for (i, (end, start, emitted, changed)) in windows.into_iter().enumerate() {
            let start = match start {
                true => Some(ScalarValue::try_from_array(
                    &state.columns(&format!("w{i}.start"))?.0[0],
                    0,
                )?),
                false => None,
            };
            let emitted = match emitted {
                true => Some(concat_batches(
                    &self.schema,
                    &state.batches(&format!("w{i}.emitted"))?,
                )?),
                false => None,
            };
            let window = Window {
                groups: Groups::restore(&self.group_by, state, &format!("w{i}"))?,
                start,
                emitted,
                changed,
            };
            self.windows.insert(end, window);
        }
        if let Some(early) = &mut self.early {
            early.fired = state.get("early")?;
        }
        if let Some(slices) = &mut self.slices {
            let pending: Vec<(i64, i64)> = state.get("pending")?;
            slices.pending = pending.into_iter().collect();
            let frozen: Vec<i64> = state.get("frozen")?;
            for (i, end) in frozen.into_iter().enumerate() {
                let slice = Frozen::restore(state, &format!("f{i}"))?;
                slices.frozen.insert(end, slice);
            }
            let late: Vec<i64> = state.get("late")?;
            for (i, end) in late.into_iter().enumerate() {
                let groups = Groups::restore(&self.group_by, state, &format!("l{i}"))?;
                slices.late.insert(end, groups);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field, Schema};

    use std::sync::Arc;

    use arrow::datatypes::TimeUnit;

    use super::*;
    use crate::metrics::JobMetrics;
    use crate::operator::WindowAssign;
    use crate::operator::aggregate::tests::{count_and_sum, rows, windowed_count_and_sum};
    use crate::operator::testing::{describe, feed, keyed_batch, keyed_schema};

    fn input_schema() -> SchemaRef {
        keyed_schema("window_end")
    }

    fn batch(rows: &[(&str, i64, i64, i64)]) -> ChangeBatch {
        keyed_batch("window_end", rows)
    }

    fn operator() -> (WindowAggregate, Arc<JobMetrics>) {
        let metrics = Arc::new(JobMetrics::default());
        let output = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, true),
            Field::new("cnt", DataType::Int64, true),
            Field::new("total", DataType::Int64, true),
        ]));
        let late = LateRows::new(metrics.clone());
        let layout = vec![
            WindowOutput::Key(0),
            WindowOutput::Aggregate(0),
            WindowOutput::Aggregate(1),
        ];
        let op = WindowAggregate::new(
            count_and_sum(input_schema()),
            2,
            None,
            layout,
            output,
            &LatePolicy::Drop,
            late,
        );
        (op, metrics)
    }

    /// HOP(slide 10, size 30) over `(key, v, ts)`: the window function, by window or by
    /// slice, then the aggregation `window_start, window_end, key, COUNT(v), SUM(v)`.
    fn hop(sliced: bool) -> (WindowAssign, WindowAggregate, Arc<JobMetrics>) {
        let kind = WindowKind::Hop {
            slide: 10,
            size: 30,
            offset: 0,
        };
        let time = || Field::new("t", DataType::Timestamp(TimeUnit::Millisecond, None), true);
        let mut fields: Vec<Field> = (keyed_schema("ts").fields().iter())
            .map(|f| f.as_ref().clone())
            .collect();
        fields.extend(["window_start", "window_end", "window_time"].map(|n| time().with_name(n)));
        let assigned = Arc::new(Schema::new(fields));
        let assign = WindowAssign::new(kind, 2, vec![0, 1, 2], assigned.clone());
        let (output, layout) = windowed_count_and_sum();
        let metrics = Arc::new(JobMetrics::default());
        let late = LateRows::new(metrics.clone());
        let group_by = count_and_sum(assigned);
        let op = WindowAggregate::new(
            group_by,
            4,
            Some(3),
            layout,
            output,
            &LatePolicy::Drop,
            late,
        );
        match sliced {
            true => (assign.slices(), op.with_slices(kind), metrics),
            false => (assign, op, metrics),
        }
    }

    /// Rows of three keys, out of order within 5 ms, each stamped with the watermark (the
    /// latest time less 5) before it, the watermark sent every 10 rows; every 17th row is
    /// 25 ms behind (late for some of its windows), every 29th 45 ms (late for all).
    fn disordered() -> Vec<(usize, Message)> {
        let mut messages = Vec::new();
        let mut watermark = NO_WATERMARK;
        let mut latest = 0;
        for i in 0..300i64 {
            let mut ts = i * 2 + (i * 7) % 5;
            if i % 17 == 16 {
                ts -= 25;
            }
            if i % 29 == 28 {
                ts -= 45;
            }
            let key = ["a", "b", "c"][(i % 3) as usize];
            messages.push(Message::Batch(keyed_batch(
                "ts",
                &[(key, i, ts, watermark)],
            )));
            latest = latest.max(ts);
            if i % 10 == 9 {
                watermark = latest - 5;
                messages.push(Message::Watermark(watermark));
            }
        }
        messages.into_iter().map(|m| (0, m)).collect()
    }

    /// What `op` emits for `inputs`, then for the end of its input.
    fn through(op: &mut dyn Operator, inputs: &[(usize, Message)]) -> Vec<(usize, Message)> {
        let mut out = Vec::new();
        feed(op, inputs, &mut out);
        out.push(Message::End);
        out.into_iter().map(|m| (0, m)).collect()
    }

    #[test]
    fn windows_merged_from_slices_are_the_windows_rows_reach_one_by_one() {
        let input = disordered();
        let rows = |out: Vec<(usize, Message)>| {
            let mut rows = describe(&out.into_iter().map(|(_, m)| m).collect::<Vec<_>>());
            rows.sort();
            rows
        };
        let (mut assign, mut by_window, windowed_late) = hop(false);
        let expected = rows(through(&mut by_window, &through(&mut assign, &input)));
        let (mut assign, mut by_slice, sliced_late) = hop(true);
        let sliced = through(&mut assign, &input);
        assert_eq!(rows(through(&mut by_slice, &sliced)), expected);
        assert!(expected.len() > 200, "{expected:?}");
        // Each late row once (only when late for all its windows), not once per window:
        // some rows were late for some windows only, some for all.
        let late = |m: &Arc<JobMetrics>| JobMetrics::get(&m.late_rows);
        assert!(
            late(&windowed_late) > late(&sliced_late),
            "{}",
            late(&windowed_late)
        );
        assert!(late(&sliced_late) > 0);
        assert_eq!((by_slice.open_windows(), by_slice.state_bytes()), (0, 0));
        // Checkpoints of slices, frozen slices and late rows' windows restore.
        let make = || -> Box<dyn Operator> { Box::new(hop(true).1) };
        crate::operator::testing::assert_restores(make, &sliced);
    }

    #[test]
    fn a_restored_operator_goes_on_as_the_first_would() {
        // With an allowed lateness, so fired windows are kept and late rows update them.
        let make = || -> Box<dyn Operator> {
            let metrics = Arc::new(JobMetrics::default());
            let policy = LatePolicy::Update { lateness: 60_000 };
            let late = LateRows::new(metrics);
            let (op, _) = operator();
            Box::new(WindowAggregate::new(
                op.group_by,
                2,
                None,
                op.layout,
                op.schema,
                &policy,
                late,
            ))
        };
        let none = NO_WATERMARK;
        let inputs = [
            batch(&[("a", 1, 60_000, none), ("b", 2, 60_000, none)]),
            batch(&[("a", 3, 120_000, none)]),
        ]
        .into_iter()
        .map(Message::Batch)
        .chain([Message::Watermark(60_000)])
        .chain([Message::Batch(batch(&[("a", 4, 60_000, 60_000)]))])
        .chain([Message::Watermark(130_000), Message::End])
        .map(|m| (0, m))
        .collect::<Vec<_>>();
        crate::operator::testing::assert_restores(make, &inputs);
    }

    /// Rows of a window ending at 100 with early results every 10 ms, each its own batch or
    /// cut into `batches` of consecutive rows, and the watermarks between them.
    fn early_input(batches: &[usize]) -> Vec<(usize, Message)> {
        let none = NO_WATERMARK;
        let rows = [
            ("a", 1, 100, none),
            ("b", 5, 100, none),
            // Stamped 3: the first watermark.
            ("a", 2, 100, 3),
            // Past 10.
            ("a", 4, 100, 12),
            ("b", 1, 100, 15),
        ];
        let mut input = Vec::new();
        let mut from = 0;
        for len in batches {
            input.push(Message::Batch(batch(&rows[from..from + len])));
            from += len;
        }
        input.push(Message::Watermark(19));
        input.push(Message::Batch(batch(&[("c", 7, 100, 19)])));
        // Past 20.
        input.push(Message::Watermark(25));
        input.into_iter().map(|m| (0, m)).collect()
    }

    #[test]
    fn early_results_come_each_time_the_watermark_passes_a_multiple_whatever_the_batches() {
        let early = || operator().0.with_early_fire(10);
        let expected = [
            // At 10 (counted from the first watermark, 3): the window's first result, of the
            // rows before.
            "Insert a,2,3",
            "Insert b,1,5",
            "watermark 19",
            // At 20: a and b changed, c is new.
            "UpdateBefore a,2,3",
            "UpdateAfter a,3,7",
            "UpdateBefore b,1,5",
            "UpdateAfter b,2,6",
            "Insert c,1,7",
            "watermark 25",
            // The window closes unchanged since its last early result: nothing more.
            "end",
        ];
        for batches in [&[1, 1, 1, 1, 1][..], &[5], &[2, 3], &[3, 2]] {
            let out = through(&mut early(), &early_input(batches));
            let out: Vec<Message> = out.into_iter().map(|(_, m)| m).collect();
            assert_eq!(describe(&out), expected, "batches {batches:?}");
        }
        let make = || -> Box<dyn Operator> { Box::new(early()) };
        crate::operator::testing::assert_restores(make, &early_input(&[2, 3]));
    }

    #[test]
    fn a_window_that_changed_after_its_last_early_result_closes_with_an_update() {
        let mut op = operator().0.with_early_fire(10);
        let mut out = Vec::new();
        // The first watermark (0) starts the count; the second row comes after the watermark
        // passed 90: an early result before it.
        op.on_batch(0, batch(&[("a", 1, 100, 0), ("a", 2, 100, 91)]), &mut out)
            .unwrap();
        op.on_watermark(99, &mut out).unwrap();
        assert_eq!(
            describe(&out),
            [
                "Insert a,1,1",
                // Complete at 99, before the next multiple.
                "UpdateBefore a,1,1",
                "UpdateAfter a,2,3",
                "watermark 99"
            ]
        );
        assert_eq!(op.open_windows(), 0);
    }

    #[test]
    fn windows_fire_at_their_last_instant_and_free_their_state() {
        let (mut op, metrics) = operator();
        let mut out = Vec::new();
        let none = NO_WATERMARK;
        op.on_batch(
            0,
            batch(&[
                ("a", 1, 60_000, none),
                ("b", 2, 60_000, none),
                ("a", 3, 120_000, none),
            ]),
            &mut out,
        )
        .unwrap();
        op.on_watermark(59_998, &mut out).unwrap();
        assert_eq!(rows(&out, 0), ["wm 59998"]);
        assert_eq!(op.open_windows(), 2);
        out.clear();
        // Still in time: the watermark before this row is below the window's last instant.
        op.on_batch(0, batch(&[("a", 4, 60_000, 59_998)]), &mut out)
            .unwrap();
        op.on_watermark(59_999, &mut out).unwrap();
        assert_eq!(rows(&out, 0), ["a:2:5", "b:1:2", "wm 59999"]);
        assert_eq!(op.open_windows(), 1);
        out.clear();
        // Late: its window fired at a watermark not after this row's.
        op.on_batch(
            0,
            batch(&[("a", 5, 60_000, 59_999), ("b", 6, 120_000, 59_999)]),
            &mut out,
        )
        .unwrap();
        assert_eq!(JobMetrics::get(&metrics.late_rows), 1);
        op.on_end(&mut out).unwrap();
        assert_eq!(rows(&out, 0), ["a:1:3", "b:1:6"]);
        assert_eq!(op.open_windows(), 0);
    }

    #[test]
    fn windows_of_processing_time_fire_by_later_rows_and_by_the_clock() {
        let (mut assign, op, metrics) = hop(false);
        let mut op = op.on_processing_time();
        let mut out = Vec::new();
        // The clock's readings (ts) of two batches, stamped with event-time watermarks far
        // ahead, which must not fire anything.
        let mut assigned = Vec::new();
        for rows in [[("a", 1, 5, 1_000)], [("b", 2, 12, 1_000)]] {
            assign
                .on_batch(0, keyed_batch("ts", &rows), &mut assigned)
                .unwrap();
        }
        let windows = |out: &[Message]| {
            describe(out)
                .iter()
                .map(|r| r.split(',').take(3).collect::<Vec<_>>().join(","))
                .collect::<Vec<_>>()
        };
        for message in assigned {
            let Message::Batch(batch) = message else {
                continue;
            };
            op.on_batch(0, batch, &mut out).unwrap();
        }
        op.on_watermark(1_000, &mut out).unwrap();
        // Read at 12, b's row closed [-20, 10): it holds a's row alone.
        assert_eq!(
            windows(&out),
            [
                "Insert 1969-12-31T23:59:59.980,1970-01-01T00:00:00.010,a",
                "watermark 1000"
            ]
        );
        assert!(out.iter().all(|m| match m {
            Message::Batch(b) => b.watermarks.is_none(),
            _ => true,
        }));
        out.clear();
        // The clock, a second past 20, closes [-10, 20).
        op.on_tick(1_019, &mut out).unwrap();
        assert!(out.is_empty());
        op.on_tick(1_020, &mut out).unwrap();
        assert_eq!(
            windows(&out),
            [
                "Insert 1969-12-31T23:59:59.990,1970-01-01T00:00:00.020,a",
                "Insert 1969-12-31T23:59:59.990,1970-01-01T00:00:00.020,b"
            ]
        );
        assert_eq!(JobMetrics::get(&metrics.late_rows), 0);
    }

    #[test]
    fn a_row_stamped_past_its_window_is_late_even_before_the_operator_saw_the_watermark() {
        let (mut op, metrics) = operator();
        let mut out = Vec::new();
        op.on_batch(
            0,
            batch(&[("a", 1, 60_000, NO_WATERMARK), ("a", 2, 60_000, 70_000)]),
            &mut out,
        )
        .unwrap();
        op.on_end(&mut out).unwrap();
        assert_eq!(rows(&out, 0), ["a:1:1"]);
        assert_eq!(JobMetrics::get(&metrics.late_rows), 1);
    }
}
