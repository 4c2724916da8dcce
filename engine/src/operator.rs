//! Operators: event handlers that transform the messages of their inputs.

/// `snapshot`, `restore` and `state_bound` of an operator that keeps nothing between
/// messages.
macro_rules! stateless {
    () => {
        fn state_bound(&self) -> $crate::operator::StateBound {
            $crate::operator::StateBound::None
        }

        fn snapshot(&mut self) -> $crate::Result<$crate::checkpoint::State> {
            Ok($crate::checkpoint::State::new())
        }

        fn restore(&mut self, _state: &$crate::checkpoint::State) -> $crate::Result<()> {
            Ok(())
        }
    };
}
pub(crate) use stateless;

pub mod aggregate;
mod calc;
mod ended;
mod expiry;
mod from_changelog;
mod group_aggregate;
mod group_state;
mod join;
mod keep_first;
mod key;
mod limit;
pub mod match_recognize;
mod normalize;
mod over_aggregate;
mod rank;
mod retracting;
mod session_aggregate;
#[cfg(test)]
mod testing;
mod time_sort;
mod timed;
mod to_changelog;
mod union;
mod unnest;
mod waiting;
mod window_aggregate;
mod window_assign;
mod window_rank;

pub use aggregate::WindowOutput;
pub use calc::{Calc, WATERMARK_COLUMN};
pub use ended::Ended;
pub use from_changelog::FromChangelog;
pub use group_aggregate::GroupAggregate;
pub use join::{
    IntervalBounds, IntervalJoin, Join, JoinSpec, JoinType, LookupJoin, MultiJoin, MultiJoinSpec,
    TemporalJoin, WindowJoin,
};
pub use keep_first::KeepFirst;
pub use limit::Limit;
pub use match_recognize::MatchRecognize;
pub use normalize::Normalize;
pub use over_aggregate::{Frame, OverAggregate, OverFunctions};
pub use rank::Rank;
pub use session_aggregate::SessionAggregate;
pub use time_sort::TimeSort;
pub use to_changelog::{ToChangelog, default_codes};
pub use union::Union;
pub use unnest::Unnest;
pub use window_aggregate::WindowAggregate;
pub use window_assign::WindowAssign;
pub use window_rank::{SortKey, WindowRank};

use arrow::array::RecordBatch;

use crate::Result;
use crate::batch::{ChangeBatch, Message};
use crate::checkpoint::State;
use crate::time::Watermark;

/// A dataflow operator. The runtime calls the handlers in input order; an operator appends
/// what it emits to `out`. Operators never read the wall clock.
pub trait Operator: Send {
    /// A short name for plans and errors.
    fn name(&self) -> &str;

    /// Rows arrived on input `input`.
    fn on_batch(&mut self, input: usize, batch: ChangeBatch, out: &mut Vec<Message>) -> Result<()>;

    /// The combined watermark of all inputs advanced to `watermark`.
    fn on_watermark(&mut self, watermark: Watermark, out: &mut Vec<Message>) -> Result<()> {
        out.push(Message::Watermark(watermark));
        Ok(())
    }

    /// Input `input` ended (before [`Operator::on_end`] when it was the last one).
    fn on_input_end(&mut self, _input: usize, _out: &mut Vec<Message>) -> Result<()> {
        Ok(())
    }

    /// All inputs ended. Emit what is left; the runtime sends end-of-stream afterwards.
    fn on_end(&mut self, _out: &mut Vec<Message>) -> Result<()> {
        Ok(())
    }

    /// Whether the last call left work for [`Operator::resume`]: one that emits many rows
    /// (the end of a large input) may emit them a part at a time, so that they are not all
    /// held at once. What follows the work (the watermark passed on) waits for it to be done.
    fn busy(&self) -> bool {
        false
    }

    /// Does the next part of the work left ([`Operator::busy`]). The runtime sends `out` on
    /// between parts, and hands the operator nothing else until it is done.
    fn resume(&mut self, _out: &mut Vec<Message>) -> Result<()> {
        Ok(())
    }

    /// The operator as a calc a source can run ([`Source::fuse`](crate::source::Source::fuse)),
    /// when it is a stateless one.
    fn fusable(&self) -> Option<Calc> {
        None
    }

    /// Whether the operator will emit nothing more (a satisfied `LIMIT`): the runtime then
    /// ends its output and stops reading its inputs.
    fn finished(&self) -> bool {
        false
    }

    /// How often the runtime calls [`Operator::on_tick`], by the clock, if ever: for what
    /// Flink emits on processing time (early window results, processing-time windows). An
    /// operator never reads the clock itself, so everything else it emits is the same on
    /// every run.
    fn tick_interval(&self) -> Option<std::time::Duration> {
        None
    }

    /// A tick of [`Operator::tick_interval`] at `now` (ms since the epoch, by the runtime's
    /// clock): emit what is due on processing time.
    fn on_tick(&mut self, _now: i64, _out: &mut Vec<Message>) -> Result<()> {
        Ok(())
    }

    /// The operator's state for a checkpoint, taken when the checkpoint's barrier arrived on
    /// every input. Cheap where it can be: Arrow arrays are shared, not copied. An operator
    /// that holds nothing between messages returns an empty state.
    fn snapshot(&mut self) -> Result<State>;

    /// Takes back the state of [`Operator::snapshot`], before the first message.
    fn restore(&mut self, state: &State) -> Result<()>;

    /// What bounds the operator's state, for `EXPLAIN`.
    fn state_bound(&self) -> StateBound;

    /// About how many bytes of state the operator holds (rows, keys, accumulators), for the
    /// job's state limit. Called now and then, so it may take time linear in the state.
    fn state_bytes(&self) -> usize {
        0
    }
}

/// What bounds an operator's state, as `EXPLAIN` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateBound {
    /// Nothing is kept between messages (or a counter).
    None,
    /// What is kept is freed as the watermark passes it (`what`: windows, rows, ...).
    Watermark(&'static str),
    /// Partial matches last at most this long (`WITHIN`, ms); rows wait for the watermark.
    Within(i64),
    /// What is kept lives this long (ms of event time) after its last update (a TTL).
    Ttl(i64),
    /// Grows with what it says, for as long as the input runs.
    Unbounded(&'static str),
}

impl std::fmt::Display for StateBound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateBound::None => write!(f, "none"),
            StateBound::Watermark(what) => {
                write!(f, "bounded: {what} freed as the watermark passes")
            }
            StateBound::Within(ms) => write!(
                f,
                "bounded: partial matches by WITHIN {ms} ms, rows by the watermark"
            ),
            StateBound::Ttl(ms) => write!(
                f,
                "bounded: kept {ms} ms of event time after the last update (TTL)"
            ),
            StateBound::Unbounded(what) => write!(f, "UNBOUNDED: grows with {what}"),
        }
    }
}

/// The error of an operator whose state checkpoints do not cover yet.
pub(crate) fn not_checkpointed(name: &str) -> crate::EngineError {
    crate::EngineError::Other(format!("{name} does not take part in checkpoints yet"))
}

/// The memory of batches, as Arrow counts it.
pub(crate) fn batches_bytes<'a>(batches: impl IntoIterator<Item = &'a RecordBatch>) -> usize {
    batches
        .into_iter()
        .map(RecordBatch::get_array_memory_size)
        .sum()
}
