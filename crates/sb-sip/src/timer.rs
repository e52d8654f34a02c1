//! The RFC 3261 timer table (§17, Table 4 of Appendix A). State machines name their timers;
//! the runtime only learns "call me again at this instant".

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// T1, T2 and T4 of RFC 3261 §17.1.1.1 and Appendix A.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerSettings {
    /// RTT estimate, 500 ms by default.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Maximum time a message remains in the network, 5 s.
    pub t4: Duration,
}

impl Default for TimerSettings {
    fn default() -> Self {
        TimerSettings {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerSettings {
    /// 64*T1: Timers B, F, H and J.
    pub fn t1_x64(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer D: at least 32 s on unreliable transports, zero on reliable ones.
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            Duration::from_secs(32).max(self.t1_x64())
        }
    }

    /// Timers I and K: T4 on unreliable transports, zero on reliable ones.
    pub fn t4_or_zero(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }
}

/// The timers of RFC 3261 §17, named as the RFC names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerName {
    /// INVITE client: request retransmission.
    A,
    /// INVITE client: transaction timeout.
    B,
    /// INVITE client: wait for response retransmissions in Completed.
    D,
    /// Non-INVITE client: request retransmission.
    E,
    /// Non-INVITE client: transaction timeout.
    F,
    /// INVITE server: final response retransmission.
    G,
    /// INVITE server: wait for ACK.
    H,
    /// INVITE server: wait for ACK retransmissions in Confirmed.
    I,
    /// Non-INVITE server: wait for request retransmissions in Completed.
    J,
    /// Non-INVITE client: wait for response retransmissions in Completed.
    K,
    /// INVITE server (RFC 6026 §7.1): absorb INVITE retransmissions after a 2xx.
    L,
}

/// A deadline heap with lazy deletion: entries name an owner, and the owner decides when
/// popped whether anything of it is really due.
#[derive(Debug)]
pub struct DeadlineQueue<K: Ord> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord> Default for DeadlineQueue<K> {
    fn default() -> Self {
        DeadlineQueue {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord> DeadlineQueue<K> {
    /// Wakes `owner` at `at`.
    pub fn push(&mut self, at: Instant, owner: K) {
        self.heap.push(Reverse((at, owner)));
    }

    /// The earliest wake-up.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns an owner whose deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse((_, k))| k),
            _ => None,
        }
    }

    /// How many wake-ups are queued.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// The running timers of one state machine: at most a few, each named.
#[derive(Debug, Default, Clone)]
pub struct TimerSet(Vec<(TimerName, Instant)>);

impl TimerSet {
    /// Starts or restarts `name`.
    pub fn set(&mut self, name: TimerName, at: Instant) {
        self.clear(name);
        self.0.push((name, at));
    }

    /// Stops timer `name`.
    pub fn clear(&mut self, name: TimerName) {
        self.0.retain(|(n, _)| *n != name);
    }

    /// Stops every timer.
    pub fn clear_all(&mut self) {
        self.0.clear();
    }

    /// Whether timer `name` runs.
    pub fn has(&self, name: TimerName) -> bool {
        self.0.iter().any(|(n, _)| *n == name)
    }

    /// The earliest timer.
    pub fn next(&self) -> Option<Instant> {
        self.0.iter().map(|(_, at)| *at).min()
    }

    /// Removes and returns the timers due at `now`, earliest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<TimerName> {
        let mut due: Vec<(TimerName, Instant)> = self
            .0
            .iter()
            .copied()
            .filter(|(_, at)| *at <= now)
            .collect();
        due.sort_by_key(|(_, at)| *at);
        self.0.retain(|(_, at)| *at > now);
        due.into_iter().map(|(n, _)| n).collect()
    }
}
