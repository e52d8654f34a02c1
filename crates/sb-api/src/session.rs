//! The consoles' sign-in state, without I/O: who is signed in (sessions with an idle and an
//! absolute expiry, each with its own CSRF token) and who has given too many wrong passwords
//! (a throttle per user name and per client address). The HTTP layer reads the clock and
//! draws the random secrets and hands them in, so every rule here is tested with made-up
//! time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Signed out after this long without a request.
    pub idle: Duration,
    /// Signed out this long after signing in, whatever happens (a shift).
    pub lifetime: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: Duration::from_secs(60 * 60),
            lifetime: Duration::from_secs(12 * 60 * 60),
        }
    }
}

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The user, as an index into the configuration's `[[http.users]]`.
    pub user: usize,
    /// The token every state-changing request must carry (form field or header).
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

impl Session {
    fn alive(&self, now: Instant, limits: SessionLimits) -> bool {
        now.saturating_duration_since(self.last_seen) < limits.idle
            && now.saturating_duration_since(self.created) < limits.lifetime
    }
}

/// The sessions open now, by their cookie's secret.
#[derive(Debug)]
pub struct Sessions {
    limits: SessionLimits,
    by_secret: HashMap<String, Session>,
}

/// More sessions than this and the longest idle one is closed: a flood of sign-ins cannot
/// grow the table without bound.
const MAX_SESSIONS: usize = 10_000;

impl Sessions {
    pub fn new(limits: SessionLimits) -> Sessions {
        Sessions {
            limits,
            by_secret: HashMap::new(),
        }
    }

    /// The limits sessions are opened with (the cookie's Max-Age is `lifetime`).
    pub fn limits(&self) -> SessionLimits {
        self.limits
    }

    /// Opens a session for `user`: `secret` becomes the cookie's value, `csrf` the token
    /// its forms carry (both random, drawn by the caller). Returns the cookie's value.
    pub fn open(&mut self, now: Instant, user: usize, secret: [u8; 32], csrf: [u8; 32]) -> String {
        self.prune(now);
        if self.by_secret.len() >= MAX_SESSIONS {
            if let Some(oldest) = self
                .by_secret
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone())
            {
                self.by_secret.remove(&oldest);
            }
        }
        let key = hex(&secret);
        self.by_secret.insert(
            key.clone(),
            Session {
                user,
                csrf: hex(&csrf),
                created: now,
                last_seen: now,
            },
        );
        key
    }

    /// The session behind a cookie's value, if it is open and not expired; the request
    /// counts as activity.
    pub fn touch(&mut self, now: Instant, secret: &str) -> Option<&Session> {
        match self.by_secret.get(secret) {
            Some(_) if self.alive(now, secret) => {}
            Some(_) => {
                self.by_secret.remove(secret);
                return None;
            }
            None => return None,
        }
        let s = self.by_secret.get_mut(secret)?;
        s.last_seen = now;
        Some(s)
    }

    /// Whether the session behind a cookie's value is still open, without counting this as
    /// activity.
    pub fn alive(&self, now: Instant, secret: &str) -> bool {
        self.by_secret
            .get(secret)
            .is_some_and(|s| s.alive(now, self.limits))
    }

    /// Signs the session out.
    pub fn close(&mut self, secret: &str) {
        self.by_secret.remove(secret);
    }

    /// Closes every session of `user` (their password or role changed at a reload).
    pub fn close_user(&mut self, user: usize) {
        self.by_secret.retain(|_, s| s.user != user);
    }

    /// Sessions open now.
    pub fn len(&self) -> usize {
        self.by_secret.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_secret.is_empty()
    }

    fn prune(&mut self, now: Instant) {
        let limits = self.limits;
        self.by_secret.retain(|_, s| s.alive(now, limits));
    }
}

/// Wrong passwords, counted per key (a user name, a client address): the first `free` in a
/// row cost nothing; each one after locks the key for twice as long as the one before,
/// `FIRST_LOCK` (5 s), 10 s, 20 s, ... up to `MAX_LOCK`. While locked, sign-in is refused without looking at
/// the password. A right password clears the key; a key quiet for `FORGET` is forgotten.
#[derive(Debug)]
pub struct Throttle {
    free: u32,
    keys: HashMap<String, Failures>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// The first lock, after the free wrong passwords.
pub const FIRST_LOCK: Duration = Duration::from_secs(5);
/// The longest a key is locked for.
pub const MAX_LOCK: Duration = Duration::from_secs(300);
/// How long a key's failures are remembered after the last one.
const FORGET: Duration = Duration::from_secs(15 * 60);
/// More keys than this and the quietest is forgotten.
const MAX_KEYS: usize = 50_000;

impl Throttle {
    pub fn new(free: u32) -> Throttle {
        Throttle {
            free,
            keys: HashMap::new(),
        }
    }

    /// `Err(wait)` while `key` is locked.
    pub fn check(&self, now: Instant, key: &str) -> Result<(), Duration> {
        match self.keys.get(key).and_then(|f| f.locked_until) {
            Some(t) if t > now => Err(t - now),
            _ => Ok(()),
        }
    }

    /// A wrong password for `key`; says how long it is now locked for, if at all.
    pub fn failed(&mut self, now: Instant, key: &str) -> Option<Duration> {
        if !self.keys.contains_key(key) {
            self.keys
                .retain(|_, f| now.saturating_duration_since(f.last) < FORGET);
            if self.keys.len() >= MAX_KEYS {
                if let Some(quiet) = self
                    .keys
                    .iter()
                    .min_by_key(|(_, f)| f.last)
                    .map(|(k, _)| k.clone())
                {
                    self.keys.remove(&quiet);
                }
            }
        }
        let f = self.keys.entry(key.to_string()).or_insert(Failures {
            count: 0,
            last: now,
            locked_until: None,
        });
        if now.saturating_duration_since(f.last) >= FORGET {
            f.count = 0;
        }
        f.count += 1;
        f.last = now;
        let over = f.count.checked_sub(self.free).filter(|&n| n > 0)?;
        let lock = (FIRST_LOCK * (1u32 << (over - 1).min(16))).min(MAX_LOCK);
        f.locked_until = Some(now + lock);
        Some(lock)
    }

    /// A right password: `key`'s failures are forgotten.
    pub fn succeeded(&mut self, key: &str) {
        self.keys.remove(key);
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Equal-time comparison of two secrets: how much of one matched must not show in the time
/// taken.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        sb_sim::Clock::new().now()
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_session_lives_while_used_and_ends_when_idle_or_too_old() {
        let now = t0();
        let mut s = Sessions::new(SessionLimits {
            idle: 60 * S,
            lifetime: 600 * S,
        });
        let key = s.open(now, 3, [7; 32], [9; 32]);
        assert_eq!(key.len(), 64);
        let got = s.touch(now + 30 * S, &key).expect("open").clone();
        assert_eq!(got.user, 3);
        assert_eq!(got.csrf, "09".repeat(32));
        // Used every 50 s it stays open until its lifetime is over.
        let mut t = now;
        for _ in 0..11 {
            t += 50 * S;
            assert!(s.touch(t, &key).is_some(), "open at {:?}", t - now);
        }
        t += 50 * S;
        assert!(s.touch(t, &key).is_none(), "600 s after sign-in it is over");
        assert!(s.is_empty(), "an expired session is forgotten");

        let key = s.open(t, 1, [8; 32], [1; 32]);
        assert!(s.touch(t + 61 * S, &key).is_none(), "61 s idle is too long");
        assert!(s.touch(t, "00").is_none());
    }

    #[test]
    fn signing_out_closes_only_that_session() {
        let now = t0();
        let mut s = Sessions::new(SessionLimits::default());
        let a = s.open(now, 0, [1; 32], [2; 32]);
        let b = s.open(now, 0, [3; 32], [4; 32]);
        let c = s.open(now, 1, [5; 32], [6; 32]);
        s.close(&a);
        assert!(s.touch(now, &a).is_none());
        assert!(s.touch(now, &b).is_some());
        s.close_user(0);
        assert!(s.touch(now, &b).is_none());
        assert!(s.touch(now, &c).is_some());
    }

    #[test]
    fn the_table_is_bounded() {
        let now = t0();
        let mut s = Sessions::new(SessionLimits::default());
        let first = s.open(now, 0, [0; 32], [0; 32]);
        for i in 1..=MAX_SESSIONS as u32 {
            let mut secret = [0u8; 32];
            secret[..4].copy_from_slice(&i.to_le_bytes());
            s.open(
                now + Duration::from_millis(u64::from(i)),
                0,
                secret,
                [0; 32],
            );
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        assert!(
            s.touch(now + S, &first).is_none(),
            "the longest idle went first"
        );
    }

    #[test]
    fn wrong_passwords_lock_the_key_longer_each_time() {
        let now = t0();
        let mut t = Throttle::new(3);
        for _ in 0..3 {
            assert_eq!(t.failed(now, "user:ana"), None, "the first three are free");
        }
        assert_eq!(t.check(now, "user:ana"), Ok(()));
        assert_eq!(t.failed(now, "user:ana"), Some(5 * S));
        assert_eq!(t.check(now, "user:ana"), Err(5 * S));
        assert_eq!(t.check(now + 4 * S, "user:ana"), Err(S));
        assert_eq!(
            t.check(now, "user:bo"),
            Ok(()),
            "other keys are not touched"
        );
        assert_eq!(
            t.check(now + 5 * S, "user:ana"),
            Ok(()),
            "the lock runs out"
        );
        assert_eq!(t.failed(now + 5 * S, "user:ana"), Some(10 * S));
        assert_eq!(t.failed(now + 15 * S, "user:ana"), Some(20 * S));
        let mut at = now + 15 * S;
        for _ in 0..20 {
            at += MAX_LOCK;
            t.failed(at, "user:ana");
        }
        assert_eq!(t.check(at, "user:ana"), Err(MAX_LOCK), "capped");
        t.succeeded("user:ana");
        assert_eq!(t.check(at, "user:ana"), Ok(()));
        assert_eq!(
            t.failed(at, "user:ana"),
            None,
            "a right password starts again"
        );
    }

    #[test]
    fn failures_long_ago_are_forgotten() {
        let now = t0();
        let mut t = Throttle::new(1);
        t.failed(now, "ip:127.0.0.1");
        assert_eq!(t.failed(now + FORGET, "ip:127.0.0.1"), None);
        assert!(t.failed(now + FORGET, "ip:127.0.0.1").is_some());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", "a"));
    }
}
