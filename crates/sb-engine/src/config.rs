//! The engine's settings, built from the validated configuration by the composition root.

use crate::call::features::FeatureCodes;
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
}
