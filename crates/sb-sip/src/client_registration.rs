//! Registering with a carrier, as a client (RFC 3261 §10.2): the switchboard's trunk account
//! registers its contact with the carrier's registrar, answers the digest challenge (401
//! with WWW-Authenticate, or 407 with Proxy-Authenticate; MD5 or SHA-256), refreshes before
//! the binding expires, raises its Expires on `423 Interval Too Brief`, and after a failure
//! tries again with a growing, jittered wait (RFC 5626 §4.5's flow-recovery timing). At
//! shutdown it removes its binding (Expires: 0).
//!
//! Sans-IO: [`ClientRegistration::poll_register`] says what REGISTER to send next (the
//! sender builds the message and runs its transaction); the final response comes back in
//! [`ClientRegistration::handle_response`], a transaction timeout in
//! [`ClientRegistration::handle_no_response`], and [`ClientRegistration::poll_timeout`]
//! says when to call [`ClientRegistration::handle_timeout`].

use crate::digest::answer_challenge;
use sb_types::splitmix::SplitMix64;
use std::time::{Duration, Instant};

/// How a trunk account registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationSettings {
    /// The Request-URI: the carrier's registrar domain (`sip:carrier.example`).
    pub registrar_uri: String,
    /// The user the credentials are for.
    pub auth_user: String,
    /// The password.
    pub password: String,
    /// The Expires asked for, in seconds.
    pub expires: u32,
    /// The first wait after a failure; it doubles with each failure in a row.
    pub retry_base: Duration,
    /// The longest wait after failures.
    pub retry_max: Duration,
}

/// One REGISTER to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    /// Its CSeq (the Call-ID stays the same for the registration's life, RFC 3261 §10.2.4).
    pub cseq: u32,
    /// The Expires asked for; 0 removes the binding.
    pub expires: u32,
    /// The credentials: the header (`Authorization` or `Proxy-Authorization`) and its value.
    pub authorization: Option<(&'static str, String)>,
}

/// Where a registration stands, as the live API and the events show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationState {
    /// Not started, or un-registered.
    Idle,
    /// A REGISTER is out.
    Registering,
    /// Bound until then.
    Registered {
        /// When the binding expires at the registrar.
        until: Instant,
    },
    /// The last attempt failed with `status` (408 for no response); the next one is due at
    /// `retry_at`.
    Failing {
        /// The carrier's answer, or 408 when none came.
        status: u16,
        /// Failures in a row.
        failures: u32,
        /// When the next attempt goes.
        retry_at: Instant,
    },
    /// The removal of the binding is out.
    Unregistering,
}

impl RegistrationState {
    /// The stable name on the event stream, the live API and the log.
    pub fn name(&self) -> &'static str {
        match self {
            RegistrationState::Idle => "idle",
            RegistrationState::Registering => "registering",
            RegistrationState::Registered { .. } => "registered",
            RegistrationState::Failing { .. } => "failing",
            RegistrationState::Unregistering => "unregistering",
        }
    }
}

/// Attempts with credentials a challenge may get in a row before the account is taken to be
/// refused (a wrong password is challenged again and again).
const MAX_CHALLENGES: u32 = 2;

/// One trunk account's registration.
#[derive(Debug)]
pub struct ClientRegistration {
    settings: RegistrationSettings,
    state: RegistrationState,
    cseq: u32,
    expires: u32,
    /// The REGISTER the sender should send next.
    pending: Option<Register>,
    /// Challenges answered in a row without success.
    challenges: u32,
    /// The digest nonce count of the last answer.
    nc: u32,
    refresh_at: Option<Instant>,
    /// For the retry jitter and the cnonces.
    rng: SplitMix64,
    /// Removing the binding (so a success does not schedule a refresh).
    removing: bool,
    /// Failed attempts in a row (the retry wait grows with them).
    failures: u32,
}

impl ClientRegistration {
    /// A registration that has not started; `seed` draws its retry jitter and cnonces.
    pub fn new(settings: RegistrationSettings, seed: u64) -> ClientRegistration {
        let expires = settings.expires;
        ClientRegistration {
            settings,
            state: RegistrationState::Idle,
            cseq: 0,
            expires,
            pending: None,
            challenges: 0,
            nc: 0,
            refresh_at: None,
            rng: SplitMix64::new(seed),
            removing: false,
            failures: 0,
        }
    }

    /// Where it stands.
    pub fn state(&self) -> &RegistrationState {
        &self.state
    }

    /// The Expires asked for now (raised by a 423).
    pub fn expires(&self) -> u32 {
        self.expires
    }

    /// Registers now.
    pub fn start(&mut self) {
        self.removing = false;
        self.send(None);
    }

    /// Removes the binding (at shutdown).
    pub fn unregister(&mut self) {
        self.removing = true;
        self.refresh_at = None;
        self.state = RegistrationState::Unregistering;
        self.cseq += 1;
        self.pending = Some(Register {
            cseq: self.cseq,
            expires: 0,
            authorization: None,
        });
    }

    fn send(&mut self, authorization: Option<(&'static str, String)>) {
        self.cseq += 1;
        if authorization.is_none() {
            self.challenges = 0;
        }
        if !self.removing {
            self.state = RegistrationState::Registering;
        }
        self.pending = Some(Register {
            cseq: self.cseq,
            expires: if self.removing { 0 } else { self.expires },
            authorization,
        });
    }

    /// The REGISTER to send now, if any.
    pub fn poll_register(&mut self) -> Option<Register> {
        self.pending.take()
    }

    /// When [`ClientRegistration::handle_timeout`] is needed next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            RegistrationState::Failing { retry_at, .. } => Some(*retry_at),
            RegistrationState::Registered { .. } => self.refresh_at,
            _ => None,
        }
    }

    /// A refresh or a retry is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|t| t <= now) {
            self.refresh_at = None;
            self.send(None);
        }
    }

    /// The final response to the REGISTER with `cseq`: its status, and the headers that
    /// matter (the challenge, Min-Expires, the Expires granted).
    pub fn handle_response(&mut self, now: Instant, cseq: u32, answer: &RegisterAnswer<'_>) {
        if cseq != self.cseq {
            // An answer to a request this registration no longer waits for.
            return;
        }
        match answer.status {
            200..=299 if self.removing => {
                self.state = RegistrationState::Idle;
            }
            200..=299 => {
                let granted = answer.expires.unwrap_or(self.expires).max(1);
                // Refresh at half the binding's life, or ten minutes before it ends when
                // that is later (RFC 3261 §10.2.4 leaves the margin to the client).
                let life = Duration::from_secs(u64::from(granted));
                let margin = (life / 2).min(Duration::from_secs(600));
                self.challenges = 0;
                self.failures = 0;
                self.refresh_at =
                    Some(now + life.saturating_sub(margin).max(Duration::from_secs(1)));
                self.state = RegistrationState::Registered { until: now + life };
            }
            401 | 407 if self.challenges < MAX_CHALLENGES => {
                let (header, challenge) = if answer.status == 401 {
                    ("Authorization", answer.www_authenticate)
                } else {
                    ("Proxy-Authorization", answer.proxy_authenticate)
                };
                let credentials = challenge.and_then(|c| {
                    self.nc += 1;
                    let cnonce = format!("{:016x}", self.rng.next_u64());
                    answer_challenge(
                        c,
                        &self.settings.auth_user,
                        &self.settings.password,
                        "REGISTER",
                        &self.settings.registrar_uri,
                        self.nc,
                        &cnonce,
                    )
                });
                match credentials {
                    Some(value) => {
                        let tries = self.challenges + 1;
                        self.send(Some((header, value)));
                        self.challenges = tries;
                    }
                    None => self.fail(now, answer.status),
                }
            }
            423 => match answer.min_expires {
                // Interval too brief (RFC 3261 §10.2.8): ask again with the registrar's
                // minimum, once it is more than what was asked.
                Some(min) if min > self.expires => {
                    self.expires = min;
                    self.send(None);
                }
                _ => self.fail(now, 423),
            },
            status => self.fail(now, status),
        }
    }

    /// No final response came to the REGISTER with `cseq` (Timer F).
    pub fn handle_no_response(&mut self, now: Instant, cseq: u32) {
        if cseq == self.cseq {
            self.fail(now, 408);
        }
    }

    /// A failure: wait, growing with each failure in a row, jittered so that many accounts
    /// do not retry together, then register again.
    fn fail(&mut self, now: Instant, status: u16) {
        if self.removing {
            self.state = RegistrationState::Idle;
            return;
        }
        self.failures += 1;
        let failures = self.failures;
        let exp = failures.saturating_sub(1).min(16);
        let upper = self
            .settings
            .retry_base
            .saturating_mul(1 << exp)
            .min(self.settings.retry_max);
        // Between half the wait and all of it (RFC 5626 §4.5).
        let wait = upper.mul_f64(0.5 + 0.5 * self.rng.unit());
        self.challenges = 0;
        self.state = RegistrationState::Failing {
            status,
            failures,
            retry_at: now + wait,
        };
    }
}

/// What a final response to a REGISTER says that the registration needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegisterAnswer<'a> {
    /// The status.
    pub status: u16,
    /// WWW-Authenticate (with a 401).
    pub www_authenticate: Option<&'a str>,
    /// Proxy-Authenticate (with a 407).
    pub proxy_authenticate: Option<&'a str>,
    /// Min-Expires (with a 423).
    pub min_expires: Option<u32>,
    /// The expires granted to our contact (with a 2xx).
    pub expires: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RegistrationSettings {
        RegistrationSettings {
            registrar_uri: "sip:carrier.example".into(),
            auth_user: "hospital".into(),
            password: "trunk-secret".into(),
            expires: 600,
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(1800),
        }
    }

    const CHALLENGE: &str =
        "Digest realm=\"carrier.example\", nonce=\"abc123\", algorithm=MD5, qop=\"auth\"";

    fn ok(expires: u32) -> RegisterAnswer<'static> {
        RegisterAnswer {
            status: 200,
            expires: Some(expires),
            ..RegisterAnswer::default()
        }
    }

    #[test]
    fn a_challenge_is_answered_then_the_binding_is_refreshed_before_it_ends() {
        let t0 = sb_sim::Clock::new().now();
        let mut r = ClientRegistration::new(settings(), 1);
        r.start();
        let first = r.poll_register().expect("a REGISTER");
        assert_eq!(
            (first.cseq, first.expires, first.authorization.clone()),
            (1, 600, None)
        );
        assert_eq!(r.state(), &RegistrationState::Registering);
        r.handle_response(
            t0,
            1,
            &RegisterAnswer {
                status: 401,
                www_authenticate: Some(CHALLENGE),
                ..RegisterAnswer::default()
            },
        );
        let second = r.poll_register().expect("with credentials");
        assert_eq!(second.cseq, 2);
        let (header, value) = second.authorization.expect("credentials");
        assert_eq!(header, "Authorization");
        assert!(
            value.contains("username=\"hospital\"")
                && value.contains("uri=\"sip:carrier.example\"")
        );
        // The carrier grants less than asked: refreshed at half of it.
        r.handle_response(t0, 2, &ok(300));
        assert_eq!(
            r.state(),
            &RegistrationState::Registered {
                until: t0 + Duration::from_secs(300)
            }
        );
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(150)));
        r.handle_timeout(t0 + Duration::from_secs(149));
        assert!(r.poll_register().is_none(), "not yet");
        r.handle_timeout(t0 + Duration::from_secs(150));
        let refresh = r.poll_register().expect("the refresh");
        assert_eq!((refresh.cseq, refresh.authorization), (3, None));
    }

    #[test]
    fn a_proxy_challenge_is_answered_with_proxy_authorization() {
        let t0 = sb_sim::Clock::new().now();
        let mut r = ClientRegistration::new(settings(), 2);
        r.start();
        r.poll_register();
        r.handle_response(
            t0,
            1,
            &RegisterAnswer {
                status: 407,
                proxy_authenticate: Some(CHALLENGE),
                ..RegisterAnswer::default()
            },
        );
        let again = r.poll_register().expect("with credentials");
        assert_eq!(
            again.authorization.expect("credentials").0,
            "Proxy-Authorization"
        );
    }

    #[test]
    fn a_wrong_password_is_not_retried_at_once_forever() {
        let t0 = sb_sim::Clock::new().now();
        let mut r = ClientRegistration::new(settings(), 3);
        r.start();
        let challenge = RegisterAnswer {
            status: 401,
            www_authenticate: Some(CHALLENGE),
            ..RegisterAnswer::default()
        };
        let mut sent = 0;
        while let Some(reg) = r.poll_register() {
            sent += 1;
            r.handle_response(t0, reg.cseq, &challenge);
            assert!(sent < 10, "challenged forever");
        }
        assert_eq!(sent, 1 + MAX_CHALLENGES as usize);
        assert!(matches!(
            r.state(),
            RegistrationState::Failing {
                status: 401,
                failures: 1,
                ..
            }
        ));
    }

    #[test]
    fn failures_back_off_doubling_with_jitter_up_to_the_cap_and_recover() {
        let t0 = sb_sim::Clock::new().now();
        let mut r = ClientRegistration::new(settings(), 4);
        r.start();
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..10 {
            let reg = r.poll_register().expect("an attempt");
            r.handle_no_response(now, reg.cseq);
            let RegistrationState::Failing {
                retry_at, status, ..
            } = r.state().clone()
            else {
                panic!("failing");
            };
            assert_eq!(status, 408);
            waits.push(retry_at - now);
            now = retry_at;
            r.handle_timeout(now);
        }
        for (i, w) in waits.iter().enumerate() {
            let upper = (Duration::from_secs(30) * (1 << i)).min(Duration::from_secs(1800));
            assert!(
                *w >= upper / 2 && *w <= upper,
                "wait {i}: {w:?} against {upper:?}"
            );
        }
        assert!(waits[9] >= Duration::from_secs(900), "capped at 30 minutes");
        // The carrier answers again: registered, and the failures forgotten.
        let reg = r.poll_register().expect("an attempt");
        r.handle_response(now, reg.cseq, &ok(600));
        assert!(matches!(r.state(), RegistrationState::Registered { .. }));
        let reg = {
            r.handle_timeout(now + Duration::from_secs(300));
            r.poll_register().expect("the refresh")
        };
        r.handle_response(
            now,
            reg.cseq,
            &RegisterAnswer {
                status: 503,
                ..RegisterAnswer::default()
            },
        );
        assert!(matches!(
            r.state(),
            RegistrationState::Failing {
                failures: 1,
                status: 503,
                ..
            }
        ));
    }

    #[test]
    fn interval_too_brief_raises_the_expires_once() {
        let t0 = sb_sim::Clock::new().now();
        let mut r = ClientRegistration::new(settings(), 5);
        r.start();
        r.poll_register();
        r.handle_response(
            t0,
            1,
            &RegisterAnswer {
                status: 423,
                min_expires: Some(3600),
                ..RegisterAnswer::default()
            },
        );
        let again = r.poll_register().expect("again");
        assert_eq!((again.cseq, again.expires), (2, 3600));
        assert_eq!(r.expires(), 3600);
        // A registrar asking for no more than was asked is a failure, not a loop.
        r.handle_response(
            t0,
            2,
            &RegisterAnswer {
                status: 423,
                min_expires: Some(3600),
                ..RegisterAnswer::default()
            },
        );
        assert!(r.poll_register().is_none());
        assert!(matches!(
            r.state(),
            RegistrationState::Failing { status: 423, .. }
        ));
    }

    #[test]
    fn unregistering_sends_expires_zero_and_ends_idle() {
        let t0 = sb_sim::Clock::new().now();
        let mut r = ClientRegistration::new(settings(), 6);
        r.start();
        let reg = r.poll_register().expect("register");
        r.handle_response(t0, reg.cseq, &ok(600));
        r.unregister();
        let bye = r.poll_register().expect("the removal");
        assert_eq!(bye.expires, 0);
        assert_eq!(r.poll_timeout(), None, "no refresh while removing");
        // A stale answer to the earlier REGISTER changes nothing.
        r.handle_response(t0, reg.cseq, &ok(600));
        assert_eq!(r.state(), &RegistrationState::Unregistering);
        r.handle_response(t0, bye.cseq, &ok(0));
        assert_eq!(r.state(), &RegistrationState::Idle);
        assert_eq!(r.poll_timeout(), None);
    }
}
