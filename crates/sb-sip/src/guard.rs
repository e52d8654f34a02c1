//! Throttling of authentication failures, sans-IO.
//!
//! A hospital puts hundreds of phones behind one NAT address, and a UDP source address is
//! forgeable, so failures are counted per (address, claimed user) first: a phone with a
//! wrong password, or a guesser naming one extension, stops being answered for that
//! extension alone. Only when failures from one address across users pass a much higher
//! threshold is the address ignored as a whole, and even then not for the users that have
//! authenticated correctly from it: the phones that work keep working.

use crate::endpoint::SecurityKind;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The thresholds, from `[security]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardSettings {
    /// Failures for one user from one address within `window` before that pair is ignored.
    pub user_failures: u32,
    /// Failures from one address, all users together, before the address is ignored for
    /// every user that never authenticated from it.
    pub address_failures: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long a throttled user or a banned address is ignored.
    pub ban: Duration,
}

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings {
            user_failures: 5,
            address_failures: 100,
            window: Duration::from_secs(60),
            ban: Duration::from_secs(300),
        }
    }
}

/// How long a correct authentication keeps its (address, user) trusted through an
/// address ban: longer than any registration interval a phone uses.
const TRUST_FOR: Duration = Duration::from_secs(24 * 3600);

/// At most this many (address, user) counters are kept; beyond it (a flood naming a new
/// user in every request from many addresses) only the address counters count, which
/// keeps memory bounded whatever arrives.
const MAX_PAIRS: usize = 65_536;

#[derive(Debug, Default)]
struct Counter {
    times: VecDeque<Instant>,
    banned_until: Option<Instant>,
}

impl Counter {
    fn banned(&self, now: Instant) -> bool {
        self.banned_until.is_some_and(|t| t > now)
    }

    fn forget_before(&mut self, now: Instant, window: Duration) {
        while self
            .times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > window)
        {
            self.times.pop_front();
        }
    }

    /// Counts one failure; `true` when it reaches `max` and starts a ban.
    fn fail(&mut self, now: Instant, s: &GuardSettings, max: u32) -> Option<usize> {
        self.forget_before(now, s.window);
        self.times.push_back(now);
        if self.times.len() >= max as usize && !self.banned(now) {
            self.banned_until = Some(now + s.ban);
            let n = self.times.len();
            self.times.clear();
            return Some(n);
        }
        None
    }

    fn idle(&self, now: Instant) -> bool {
        !self.banned(now) && self.times.is_empty()
    }
}

/// Counts authentication failures per (address, user) and per address, and says who is
/// throttled or banned.
#[derive(Debug, Default)]
pub struct AuthGuard {
    settings: GuardSettings,
    pairs: HashMap<(IpAddr, String), Counter>,
    addresses: HashMap<IpAddr, Counter>,
    trusted: HashMap<(IpAddr, String), Instant>,
}

impl AuthGuard {
    /// A guard with these thresholds.
    pub fn new(settings: GuardSettings) -> AuthGuard {
        AuthGuard {
            settings,
            ..AuthGuard::default()
        }
    }

    /// Whether a request from `ip` claiming `user` is looked at at all.
    pub fn admits(&self, now: Instant, ip: IpAddr, user: &str) -> bool {
        let key = (ip, user.to_string());
        if self.pairs.get(&key).is_some_and(|c| c.banned(now)) {
            return false;
        }
        if self.addresses.get(&ip).is_some_and(|c| c.banned(now)) {
            return self.trusted.get(&key).is_some_and(|t| *t > now);
        }
        true
    }

    /// Whether the address as a whole is ignored (for requests that name no user).
    pub fn address_banned(&self, now: Instant, ip: IpAddr) -> bool {
        self.addresses.get(&ip).is_some_and(|c| c.banned(now))
    }

    /// A failed authentication: the security events it starts (a pair or an address
    /// ignored from now on).
    pub fn on_failure(&mut self, now: Instant, ip: IpAddr, user: &str) -> Vec<SecurityKind> {
        let s = self.settings;
        let mut out = Vec::new();
        let key = (ip, user.to_string());
        if self.pairs.len() < MAX_PAIRS || self.pairs.contains_key(&key) {
            let c = self.pairs.entry(key).or_default();
            if let Some(failures) = c.fail(now, &s, s.user_failures) {
                out.push(SecurityKind::UserThrottled {
                    user: user.to_string(),
                    failures,
                    seconds: s.ban.as_secs(),
                });
            }
        }
        // Failures of users that authenticate from here do not count against the address:
        // a phone whose password was changed must not take its neighbours off.
        let trusted = self
            .trusted
            .get(&(ip, user.to_string()))
            .is_some_and(|t| *t > now);
        if !trusted {
            let c = self.addresses.entry(ip).or_default();
            if let Some(failures) = c.fail(now, &s, s.address_failures) {
                out.push(SecurityKind::Banned {
                    failures,
                    seconds: s.ban.as_secs(),
                });
            }
        }
        out
    }

    /// A correct authentication: the user is trusted from this address.
    pub fn on_success(&mut self, now: Instant, ip: IpAddr, user: &str) {
        let key = (ip, user.to_string());
        if let Some(c) = self.pairs.get_mut(&key) {
            c.times.clear();
        }
        self.trusted.insert(key, now + TRUST_FOR);
    }

    /// Forgets counters that have nothing left to say.
    pub fn housekeeping(&mut self, now: Instant) {
        let w = self.settings.window;
        for c in self.pairs.values_mut().chain(self.addresses.values_mut()) {
            c.forget_before(now, w);
        }
        self.pairs.retain(|_, c| !c.idle(now));
        self.addresses.retain(|_, c| !c.idle(now));
        self.trusted.retain(|_, t| *t > now);
    }

    /// Counters held, for tests and the live view.
    pub fn tracked(&self) -> usize {
        self.pairs.len() + self.addresses.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> AuthGuard {
        AuthGuard::new(GuardSettings {
            user_failures: 3,
            address_failures: 10,
            window: Duration::from_secs(60),
            ban: Duration::from_secs(300),
        })
    }

    const NAT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));

    #[test]
    fn one_user_failing_does_not_stop_another_behind_the_same_address() {
        let now = sb_sim::Clock::new().now();
        let mut g = guard();
        g.on_success(now, NAT, "1002");
        let mut events = Vec::new();
        for _ in 0..3 {
            events.extend(g.on_failure(now, NAT, "1001"));
        }
        assert!(
            matches!(events.as_slice(), [SecurityKind::UserThrottled { user, failures: 3, .. }] if user == "1001")
        );
        assert!(!g.admits(now, NAT, "1001"));
        assert!(g.admits(now, NAT, "1002"));
        assert!(
            g.admits(now, NAT, "1003"),
            "never seen is not banned either"
        );
        // The ban ends.
        let later = now + Duration::from_secs(301);
        assert!(g.admits(later, NAT, "1001"));
    }

    #[test]
    fn an_address_ban_spares_the_users_that_authenticated_from_it() {
        let now = sb_sim::Clock::new().now();
        let mut g = guard();
        g.on_success(now, NAT, "1002");
        let mut banned = false;
        for i in 0..10 {
            let evs = g.on_failure(now, NAT, &format!("9{i:03}"));
            banned |= evs.iter().any(|e| matches!(e, SecurityKind::Banned { .. }));
        }
        assert!(banned);
        assert!(g.address_banned(now, NAT));
        assert!(!g.admits(now, NAT, "1003"));
        assert!(g.admits(now, NAT, "1002"));
        // A trusted user's failures never ban the address.
        let mut h = guard();
        h.on_success(now, NAT, "1004");
        for _ in 0..20 {
            h.on_failure(now, NAT, "1004");
        }
        assert!(!h.address_banned(now, NAT));
    }

    #[test]
    fn counters_expire_and_are_forgotten() {
        let now = sb_sim::Clock::new().now();
        let mut g = guard();
        g.on_failure(now, NAT, "1001");
        g.on_failure(now, NAT, "1001");
        let later = now + Duration::from_secs(61);
        g.on_failure(later, NAT, "1001");
        assert!(
            g.admits(later, NAT, "1001"),
            "the first two left the window"
        );
        g.housekeeping(later + Duration::from_secs(61));
        assert_eq!(g.tracked(), 0);
    }
}
