//! One group's distinct values, each with its tally: a hash table of `(key, tally)` slots,
//! probed linearly and at most three quarters full, where a slot whose tally is
//! [`Vacant::VACANT`] is empty. A lookup of a value usually reads one cache line, which the
//! caller can fetch ahead ([`ValueTable::prefetch`]): over many groups, `COUNT(DISTINCT)`
//! spends its time waiting for memory, and a general map reads two lines (control bytes, then
//! the entry) without a way to ask for them early.

use std::borrow::Borrow;
use std::hash::BuildHasher;

use super::DistinctKey;

/// A tally that marks an empty slot.
pub(super) trait Vacant: Copy + Eq {
    const VACANT: Self;
}

/// The keys `K` of one group with their tallies `T`.
pub(super) struct ValueTable<K, T> {
    /// None, or a power of two many.
    slots: Box<[(K, T)]>,
    len: usize,
}

impl<K, T> Default for ValueTable<K, T> {
    fn default() -> Self {
        ValueTable {
            slots: Box::default(),
            len: 0,
        }
    }
}

/// The fewest slots a table has once it holds a key.
const FEWEST: usize = 8;

impl<K: DistinctKey, T: Vacant> ValueTable<K, T> {
    /// The slot `hash` starts probing at; the table has slots.
    fn home(&self, hash: u64) -> usize {
        hash as usize & (self.slots.len() - 1)
    }

    /// Asks the processor for the memory where the key of `hash` is looked up.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let slot = &self.slots[self.home(hash)];
            // SAFETY: a prefetch only hints; the address is a slot of this table.
            unsafe { _mm_prefetch::<_MM_HINT_T0>((slot as *const (K, T)).cast()) };
        }
    }

    /// The slot of `key` (whose hash is `hash`), added with a vacant tally if it was not there;
    /// `own` makes the key kept and `hasher` hashes the keys as the table grows.
    pub fn slot(
        &mut self,
        hash: u64,
        key: &K::Ref,
        own: impl FnOnce(&K::Ref) -> K,
        hasher: &impl BuildHasher,
    ) -> usize {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow(hasher);
        }
        let mask = self.slots.len() - 1;
        let mut slot = self.home(hash);
        loop {
            let (k, tally) = &self.slots[slot];
            if *tally == T::VACANT {
                self.slots[slot].0 = own(key);
                self.len += 1;
                return slot;
            }
            if <K as Borrow<K::Ref>>::borrow(k) == key {
                return slot;
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The tally in `slot`.
    pub fn tally(&mut self, slot: usize) -> &mut T {
        &mut self.slots[slot].1
    }

    /// Empties `slot`, moving back the keys after it that probed past it.
    pub fn remove(&mut self, mut hole: usize, hasher: &impl BuildHasher) {
        let mask = self.slots.len() - 1;
        self.slots[hole] = (K::default(), T::VACANT);
        self.len -= 1;
        let mut next = (hole + 1) & mask;
        while self.slots[next].1 != T::VACANT {
            let home = self.home(hash(hasher, &self.slots[next].0));
            // The key at `next` may fill the hole if the hole is on its probe path.
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                self.slots.swap(hole, next);
                hole = next;
            }
            next = (next + 1) & mask;
        }
    }

    /// The keys and their tallies, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &T)> {
        (self.slots.iter())
            .filter(|(_, tally)| *tally != T::VACANT)
            .map(|(key, tally)| (key, tally))
    }

    /// Adds `key`, which is not there, with `tally`.
    pub fn insert(&mut self, key: K, tally: T, hasher: &impl BuildHasher) {
        let slot = self.slot(hash(hasher, &key), key.borrow(), |_| K::default(), hasher);
        self.slots[slot] = (key, tally);
    }

    /// The memory the slots take (not what the keys point to).
    pub fn size(&self) -> usize {
        self.slots.len() * size_of::<(K, T)>()
    }

    /// Twice the slots (at least [`FEWEST`]), each key in its new place.
    fn grow(&mut self, hasher: &impl BuildHasher) {
        let slots = (self.slots.len() * 2).max(FEWEST);
        let old = std::mem::replace(
            &mut self.slots,
            (0..slots).map(|_| (K::default(), T::VACANT)).collect(),
        );
        let mask = slots - 1;
        for (key, tally) in old {
            if tally == T::VACANT {
                continue;
            }
            let mut slot = self.home(hash(hasher, &key));
            while self.slots[slot].1 != T::VACANT {
                slot = (slot + 1) & mask;
            }
            self.slots[slot] = (key, tally);
        }
    }
}

/// The hash of a kept key: that of the key as rows give it.
fn hash<K: DistinctKey>(hasher: &impl BuildHasher, key: &K) -> u64 {
    hasher.hash_one(<K as Borrow<K::Ref>>::borrow(key))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::hash::Hasher;

    use hashbrown::DefaultHashBuilder;

    use super::*;
    use crate::operator::testing::random;

    impl Vacant for u8 {
        const VACANT: Self = 0;
    }

    /// Hashes of a few values at the end of any table, so that probe runs are long and wrap
    /// around its end.
    struct Crowded;

    #[derive(Default)]
    struct CrowdedHasher(u64);

    impl Hasher for CrowdedHasher {
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = self.0.wrapping_mul(31).wrapping_add(u64::from(b));
            }
        }

        fn finish(&self) -> u64 {
            u64::MAX - self.0 % 7
        }
    }

    impl BuildHasher for Crowded {
        type Hasher = CrowdedHasher;

        fn build_hasher(&self) -> CrowdedHasher {
            CrowdedHasher::default()
        }
    }

    /// Random adds, changes and removals leave the table holding what a map holds; a key that
    /// a removal moved wrongly would be missing or there twice.
    fn holds_what_a_map_holds(hasher: &impl BuildHasher) {
        let (mut table, mut map) = (ValueTable::<i64, u8>::default(), BTreeMap::new());
        let mut next = random(7);
        for _ in 0..20_000 {
            let key = next(300) as i64 - 150;
            let tally = next(4) as u8;
            let slot = table.slot(hasher.hash_one(key), &key, |k| *k, hasher);
            *table.tally(slot) = tally;
            if tally == 0 {
                table.remove(slot, hasher);
                map.remove(&key);
            } else {
                map.insert(key, tally);
            }
            let mut held: Vec<(i64, u8)> = table.iter().map(|(k, t)| (*k, *t)).collect();
            held.sort_unstable();
            assert_eq!(held, map.iter().map(|(k, t)| (*k, *t)).collect::<Vec<_>>());
        }
        assert!(table.size() >= map.len() * 16 * 4 / 3);
    }

    #[test]
    fn a_table_holds_what_a_map_holds() {
        holds_what_a_map_holds(&DefaultHashBuilder::default());
    }

    #[test]
    fn a_crowded_table_holds_what_a_map_holds() {
        holds_what_a_map_holds(&Crowded);
    }
}
