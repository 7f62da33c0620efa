//! Requests awaiting their response on one connection, in the order they
//! were sent, found by correlation id in O(1).
//!
//! Kafka answers in order per connection, so a response normally matches the
//! oldest request; but a capture can lose responses, and a client may reuse a
//! correlation id (kwire reports it). Every operation here is O(log n) or
//! better whatever the ids, so a million requests in flight (librdkafka's
//! `max.in.flight` default) or a hostile stream of one repeated id cost
//! linear time overall. Memory is one entry per request; the caller bounds
//! it (by its memory budget) and accounts each entry's `cost`.

use foldhash::{HashMap, HashMapExt};
use std::collections::{BTreeMap, VecDeque};

/// What the queue needs to know of an entry.
pub(super) trait Entry {
    fn correlation_id(&self) -> i32;
    /// Bytes this entry stands for in the memory budget.
    fn cost(&self) -> usize;
}

pub(super) struct InFlight<T> {
    next: u64,
    /// By arrival order.
    queue: BTreeMap<u64, T>,
    /// Arrival numbers per correlation id, oldest first.
    ids: HashMap<i32, VecDeque<u64>>,
    bytes: usize,
}

impl<T: Entry> Default for InFlight<T> {
    fn default() -> Self {
        InFlight {
            next: 0,
            queue: BTreeMap::new(),
            ids: HashMap::new(),
            bytes: 0,
        }
    }
}

impl<T: Entry> InFlight<T> {
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Sum of the entries' costs.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn contains(&self, corr: i32) -> bool {
        self.ids.contains_key(&corr)
    }

    /// The oldest entry waiting with this correlation id.
    pub fn oldest_with(&self, corr: i32) -> Option<&T> {
        let seq = self.ids.get(&corr)?.front()?;
        self.queue.get(seq)
    }

    pub fn push(&mut self, t: T) {
        let seq = self.next;
        self.next += 1;
        self.bytes += t.cost();
        self.ids
            .entry(t.correlation_id())
            .or_default()
            .push_back(seq);
        self.queue.insert(seq, t);
    }

    /// The oldest entry waiting with this correlation id, removed.
    pub fn take(&mut self, corr: i32) -> Option<T> {
        let seqs = self.ids.get_mut(&corr)?;
        let seq = seqs.pop_front()?;
        if seqs.is_empty() {
            self.ids.remove(&corr);
        }
        let t = self.queue.remove(&seq)?;
        self.bytes -= t.cost();
        Some(t)
    }

    /// Apply `f` to every entry (e.g. to let go of what it holds), keeping
    /// the byte count in step.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&mut T)) {
        for t in self.queue.values_mut() {
            let before = t.cost();
            f(t);
            self.bytes = self.bytes - before + t.cost();
        }
    }

    /// The oldest entry, removed.
    pub fn pop_oldest(&mut self) -> Option<T> {
        let (seq, t) = self.queue.pop_first()?;
        let corr = t.correlation_id();
        if let Some(seqs) = self.ids.get_mut(&corr) {
            // The oldest entry is the oldest of its id too.
            if seqs.front() == Some(&seq) {
                seqs.pop_front();
            }
            if seqs.is_empty() {
                self.ids.remove(&corr);
            }
        }
        self.bytes -= t.cost();
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct R(i32, u32);

    impl Entry for R {
        fn correlation_id(&self) -> i32 {
            self.0
        }
        fn cost(&self) -> usize {
            self.1 as usize
        }
    }

    #[test]
    fn takes_oldest_of_an_id_and_keeps_order() {
        let mut q = InFlight::default();
        q.push(R(1, 10));
        q.push(R(2, 20));
        q.push(R(1, 30));
        assert_eq!(q.bytes(), 60);
        assert_eq!(q.oldest_with(1), Some(&R(1, 10)));
        assert_eq!(q.take(1), Some(R(1, 10)));
        assert!(q.contains(1));
        assert_eq!(q.take(7), None);
        assert_eq!(q.pop_oldest(), Some(R(2, 20)));
        assert_eq!(q.pop_oldest(), Some(R(1, 30)));
        assert!(!q.contains(1));
        assert_eq!(q.len(), 0);
        assert_eq!(q.bytes(), 0);
        assert_eq!(q.pop_oldest(), None);
    }

    #[test]
    fn one_repeated_id_keeps_arrival_order() {
        let mut q = InFlight::default();
        for i in 0..100_000u32 {
            q.push(R(5, i));
        }
        for i in 0..50_000u32 {
            assert_eq!(q.take(5), Some(R(5, i)));
        }
        for i in 50_000..100_000u32 {
            assert_eq!(q.pop_oldest(), Some(R(5, i)));
        }
        assert_eq!(q.len(), 0);
        assert!(!q.contains(5));
    }
}
