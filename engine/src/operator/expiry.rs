//! Expiry of state by event time.

use std::collections::BTreeMap;

/// When pieces of an operator's state (numbered slots: a join's buckets, aggregation groups)
/// have something to drop: each slot is listed at the earliest time one of its parts is due,
/// and looked at when the watermark passes that time.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Expiry {
    queue: BTreeMap<i64, Vec<usize>>,
    /// Per slot, the time it is listed at (`i64::MAX`: not listed).
    listed: Vec<i64>,
}

impl Expiry {
    /// Makes sure slot `slot` is looked at by `time`.
    pub fn list(&mut self, slot: usize, time: i64) {
        if self.listed.len() <= slot {
            self.listed.resize(slot + 1, i64::MAX);
        }
        if time < self.listed[slot] {
            self.listed[slot] = time;
            self.queue.entry(time).or_default().push(slot);
        }
    }

    /// The slots listed at or before `time`, no longer listed.
    pub fn due(&mut self, time: i64) -> Vec<usize> {
        let mut due = Vec::new();
        while let Some(entry) = self.queue.first_entry() {
            if *entry.key() > time {
                break;
            }
            for slot in entry.remove() {
                self.listed[slot] = i64::MAX;
                due.push(slot);
            }
        }
        due
    }

    pub fn bytes(&self) -> usize {
        self.queue.len() * 48 + self.listed.capacity() * 8
    }
}
