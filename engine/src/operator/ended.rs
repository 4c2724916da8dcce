//! What an operator that had ended is restored as.

use super::{Operator, StateBound};
use crate::Result;
use crate::batch::{ChangeBatch, Message};
use crate::checkpoint::State;
use crate::time::Watermark;

/// An operator restored from a checkpoint taken after it ended ([`State::ended`]): it had
/// emitted all it would, so it ends again at its first message and emits nothing, as it did
/// then. Its inputs had ended too, or it had wanted no more of them (a satisfied `LIMIT`).
pub struct Ended {
    name: String,
    /// The operator's, so that the plan (and its checkpoints' fingerprint) stays the same.
    bound: StateBound,
}

impl Ended {
    /// Stands for `operator`.
    pub fn new(operator: &dyn Operator) -> Self {
        Ended {
            name: operator.name().to_string(),
            bound: operator.state_bound(),
        }
    }
}

impl Operator for Ended {
    fn name(&self) -> &str {
        &self.name
    }

    fn on_batch(&mut self, _: usize, _: ChangeBatch, _: &mut Vec<Message>) -> Result<()> {
        Ok(())
    }

    fn on_watermark(&mut self, _: Watermark, _: &mut Vec<Message>) -> Result<()> {
        Ok(())
    }

    fn finished(&self) -> bool {
        true
    }

    fn snapshot(&mut self) -> Result<State> {
        Ok(State::ended())
    }

    fn restore(&mut self, _: &State) -> Result<()> {
        Ok(())
    }

    fn state_bound(&self) -> StateBound {
        self.bound.clone()
    }
}
