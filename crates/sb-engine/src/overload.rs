//! Overload protection. Every timer the engine runs (media ticks every 20 ms while calls are
//! up, SIP retransmissions, ACD deadlines) says how late the loop is: a timer due at `due`
//! and run at `now` ran `now - due` late. When timers have run later than the threshold for
//! at least that long (one stall of the machine is not a backlog), the engine is behind its
//! work, and taking more calls would make every call worse: late prompts and relays,
//! retransmissions piling up, then calls dropping. So while that lasts, and for a second
//! after, new calls are refused with 503 and Retry-After (RFC 3261 §21.5.4) and the calls
//! already up are served.

use std::time::{Duration, Instant};

/// How long after the backlog new calls are still refused.
pub(crate) const CALM: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct LoadGuard {
    threshold: Duration,
    /// Since when timers have been running late without one on time in between.
    late_since: Option<Instant>,
    /// The last moment the engine was found behind.
    behind_at: Option<Instant>,
}

impl LoadGuard {
    /// `threshold` zero: never refuse.
    pub(crate) fn new(threshold: Duration) -> LoadGuard {
        LoadGuard {
            threshold,
            late_since: None,
            behind_at: None,
        }
    }

    /// A timer due at `due` ran at `now`.
    pub(crate) fn on_timer(&mut self, due: Instant, now: Instant) {
        if self.threshold.is_zero() {
            return;
        }
        let late = now.saturating_duration_since(due);
        if late > self.threshold {
            let since = *self.late_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= self.threshold {
                self.behind_at = Some(now);
            }
        } else if late <= self.threshold / 2 {
            self.late_since = None;
        }
    }

    /// Whether a new call may be taken at `now`.
    pub(crate) fn admits(&self, now: Instant) -> bool {
        self.behind_at
            .is_none_or(|t| now.saturating_duration_since(t) >= CALM)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlog_refuses_calls_until_a_calm_second_but_one_stall_does_not() {
        let t0 = sb_sim::Clock::new().now();
        let ms = Duration::from_millis;
        let mut g = LoadGuard::new(ms(100));
        // One stall, then on time again: no refusal.
        g.on_timer(t0, t0 + ms(300));
        assert!(g.admits(t0 + ms(300)));
        g.on_timer(t0 + ms(320), t0 + ms(321));
        // Late, and still late 100 ms on: behind.
        g.on_timer(t0 + ms(400), t0 + ms(550));
        assert!(g.admits(t0 + ms(550)));
        g.on_timer(t0 + ms(560), t0 + ms(700));
        assert!(!g.admits(t0 + ms(700)));
        assert!(!g.admits(t0 + ms(1699)));
        assert!(g.admits(t0 + ms(1700)));
        // Exactly the threshold late is on time.
        let mut g = LoadGuard::new(ms(100));
        g.on_timer(t0, t0 + ms(100));
        g.on_timer(t0 + ms(200), t0 + ms(300));
        assert!(g.admits(t0 + ms(300)));
        let mut off = LoadGuard::new(Duration::ZERO);
        off.on_timer(t0, t0 + ms(5000));
        off.on_timer(t0 + ms(5000), t0 + ms(10_000));
        assert!(off.admits(t0 + ms(10_000)));
    }
}
