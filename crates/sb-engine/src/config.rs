//! The engine's settings, built from the validated configuration by the composition root.

use crate::call::features::FeatureCodes;
use crate::trunk::{Numbering, OutboundRule, TrunkPlan};
use sb_media::negotiate::Codec;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// What the engine needs to know, fixed for its life.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The address put in SDP for our media.
    pub media_ip: IpAddr,
    /// Prompts are played in this language until the dialplan chooses another.
    pub default_language: String,
    /// The codecs offered and accepted, in order of preference.
    pub codecs: Vec<Codec>,
    /// The Unix time at `origin`, so opening hours follow the wall clock (or a clock a test
    /// or a drill sets) while every timer runs on `Instant`s.
    pub origin: Instant,
    /// See `origin`.
    pub wall_at_origin: i64,
    /// A timer running this late means the engine is behind: new calls get 503 for a
    /// while (`sip.overload_lag_ms`; zero never refuses).
    pub overload_lag: Duration,
    /// The agents' in-call feature codes.
    pub features: FeatureCodes,
    /// How long a transfer or consultation target rings before it is given up.
    pub transfer_ring: Duration,
    /// Who is on duty, in order of preference, and the number that rings them.
    pub roster: Vec<String>,
    /// See `roster`.
    pub roster_number: Option<String>,
    /// (number, queue): agents transfer and consult to a queue by its number.
    pub queue_numbers: Vec<(String, String)>,
    /// The outside world: trunks, numbering and the outbound dial plan.
    pub outside: OutsideConfig,
    /// Keep-my-place callbacks: when they are placed, how often they are tried.
    pub callbacks: CallbackRules,
    /// The queues whose patients hear the satisfaction survey when the agent hangs up
    /// first.
    pub survey_queues: Vec<String>,
}

/// How keep-my-place callbacks are worked (`[callbacks]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRules {
    /// When callbacks are placed (the hospital's local time, its holidays closed).
    pub hours: sb_ivr::Schedule,
    /// Tries before a patient not reached goes to the worklist.
    pub attempts: u32,
    /// Between two tries.
    pub retry: Duration,
    /// A patient waiting this long in a queue is offered a callback (`None`: only when the
    /// queue overflows with nowhere to go).
    pub offer_after: Option<Duration>,
    /// A patient who hangs up after waiting this long becomes a callback item (abandoned-
    /// call recovery; `None`: off).
    pub recover_after: Option<Duration>,
}

impl Default for CallbackRules {
    fn default() -> CallbackRules {
        CallbackRules {
            // Any day, any time.
            hours: sb_ivr::Schedule {
                utc_offset_min: 480,
                windows: vec![(0x7F, 0, 24 * 60)],
                holidays: Vec::new(),
            },
            attempts: 3,
            retry: Duration::from_secs(15 * 60),
            offer_after: None,
            recover_after: None,
        }
    }
}

impl EngineConfig {
    /// The engine's wall clock: its instants as Unix milliseconds (call records, opening
    /// hours, the consoles' clocks).
    pub fn wall_clock(&self) -> crate::control::WallClock {
        crate::control::WallClock {
            origin: self.origin,
            origin_ms: self.wall_at_origin * 1000,
        }
    }
}

/// How the switchboard reaches the phone network and is reached from it.
#[derive(Debug, Clone)]
pub struct OutsideConfig {
    /// The country's numbering: the one form numbers are recorded in.
    pub numbering: Numbering,
    /// The carriers' trunks, in the same order as the SIP endpoint's.
    pub trunks: Vec<TrunkPlan>,
    /// The outbound dial plan; the first rule whose pattern matches decides.
    pub rules: Vec<OutboundRule>,
    /// (extension, kind): the dial plan allows by kind (`agent`, `operator`, `department`).
    pub extension_kinds: Vec<(String, String)>,
    /// Outside calls one extension may have at once (0: no limit).
    pub per_extension: u32,
    /// A carrier that gives no answer at all to a call out within this is given up for the
    /// next trunk.
    pub setup_timeout: Duration,
    /// How long an outside number may ring before the call is given up.
    pub ring: Duration,
}

impl Default for OutsideConfig {
    fn default() -> OutsideConfig {
        OutsideConfig {
            numbering: Numbering::default(),
            trunks: Vec::new(),
            rules: Vec::new(),
            extension_kinds: Vec::new(),
            per_extension: 2,
            setup_timeout: Duration::from_secs(5),
            ring: Duration::from_secs(90),
        }
    }
}

impl OutsideConfig {
    /// The kind of extension `number`.
    pub fn kind_of(&self, number: &str) -> Option<&str> {
        self.extension_kinds
            .iter()
            .find(|(n, _)| n == number)
            .map(|(_, k)| k.as_str())
    }
}
