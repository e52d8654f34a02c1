//! The validated configuration the runtime runs on: parsed, typed, consistent.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionKind {
    Agent,
    Operator,
    Department,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub number: String,
    pub name: String,
    pub kind: ExtensionKind,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub name: String,
    /// Transfers and consultations reach the queue by this number.
    pub number: Option<String>,
    pub agents: Vec<String>,
    pub strategy: QueueStrategy,
    /// (agent, skill level), in the order of `agents`.
    pub levels: Vec<(String, u8)>,
    /// Overflowing calls are offered a callback instead of going to the operators.
    pub overflow_to_callback: bool,
    /// The queue's own overflow limits, when it sets them.
    pub max_waiting: Option<usize>,
    pub max_wait: Option<Duration>,
    /// The patient hears the satisfaction survey when the agent hangs up first.
    pub survey: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStrategy {
    LongestIdle,
    RoundRobin,
    RingAll,
    FewestCalls,
    Skills { widen: Duration },
}

pub use sb_api::access::{ApiToken, Role};
pub use sb_api::users::ConsoleUser;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registrar {
    pub default_expires: u32,
    pub min_expires: u32,
    pub max_expires: u32,
    pub max_contacts: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    pub max_user_failures: u32,
    pub max_address_failures: u32,
    pub failure_window: Duration,
    pub ban: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub hospital_name: String,
    pub hospital_number: String,
    pub sip_listen: SocketAddr,
    pub realm: String,
    pub qualify_interval: Duration,
    pub nonce_lifetime: Duration,
    pub tcp_idle: Duration,
    /// "SHA-256" and/or "MD5", most preferred first.
    pub digest_algorithms: Vec<String>,
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
    pub registrar: Registrar,
    pub security: Security,
    pub rtp_ports: RangeInclusive<u16>,
    /// How long before a media tick the core stops sleeping and spins (0: never spin).
    pub rtp_timer_spin: Duration,
    /// `sip.overload_lag_ms`: how late a timer may run before new calls get 503.
    pub overload_lag: Duration,
    /// `shutdown.grace_seconds`: how long calls in progress may finish after SIGTERM (0:
    /// end them at once).
    pub shutdown_grace: Duration,
    pub http_listen: SocketAddr,
    pub api_tokens: Vec<ApiToken>,
    /// `[[http.users]]`: who signs in to the web consoles.
    pub console_users: Vec<ConsoleUser>,
    /// `http.metrics_token`: what Prometheus presents for `/metrics` on `http.listen`.
    pub metrics_token: Option<String>,
    /// `http.metrics_listen`: `/metrics` alone, without a token, on an address of its own.
    pub metrics_listen: Option<SocketAddr>,
    pub store_path: PathBuf,
    pub dialplans_dir: PathBuf,
    pub prompts_dir: PathBuf,
    pub languages: Vec<String>,
    pub default_language: String,
    /// Unix time the IVR's clock starts at, instead of the wall clock.
    pub clock_start: Option<i64>,
    pub sla_rings: u32,
    pub sla_ring_cycle: Duration,
    /// The agents' in-call feature codes (`[features]`).
    pub features: FeatureCodes,
    /// How long a transfer target rings before the call comes back
    /// (`features.transfer_ring_seconds`).
    pub transfer_ring: Duration,
    /// After-call work (`acd.wrap_up_seconds`).
    pub wrap_up: Duration,
    /// Missed offers in a row before an agent is paused (`acd.pause_after_misses`).
    pub pause_after_misses: u32,
    pub extensions: Vec<Extension>,
    pub queues: Vec<Queue>,
    pub on_duty: Vec<String>,
    /// `roster.number`: rings the first person on duty with a phone registered, then the
    /// next.
    pub roster_number: Option<String>,
    /// Where records wait when the database falls behind.
    pub store_journal: PathBuf,
    pub store_queue_capacity: usize,
    pub reports: Reports,
    /// (prefix, region), longest prefix first.
    pub regions: Vec<(String, String)>,
    /// Trunks, numbering and the outbound dial plan.
    pub outside: Outside,
    /// The hospital's holidays, (year, month, day).
    pub holidays: Vec<(i32, u8, u8)>,
    /// Keep-my-place callbacks (`[callbacks]`).
    pub callbacks: sb_engine::CallbackRules,
}

/// The phone network's side of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outside {
    pub numbering: sb_engine::trunk::Numbering,
    pub trunks: Vec<Trunk>,
    pub rules: Vec<sb_engine::trunk::OutboundRule>,
    pub per_extension: u32,
    pub setup_timeout: Duration,
    pub ring: Duration,
}

/// One carrier's trunk: what the SIP layer and the engine each take of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    pub sip: sb_sip::trunk::TrunkSettings,
    pub plan: sb_engine::trunk::TrunkPlan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reports {
    pub utc_offset_min: i32,
    pub short_abandon: Duration,
    pub shifts: Vec<Shift>,
}

/// A shift by minutes of the local day, `start` included, `end` excluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub name: String,
    pub start: u16,
    pub end: u16,
}

/// The region of a number by the longest matching prefix of `regions` (sorted longest
/// first, as `Model::regions` is).
impl Model {
    /// The region of a caller's number by the longest matching prefix.
    pub fn region_of(&self, number: &str) -> Option<&str> {
        sb_records::region_of(&self.regions, number)
    }

    /// (number, queue) for every queue with a number.
    pub fn queue_numbers(&self) -> Vec<(String, String)> {
        self.queues
            .iter()
            .filter_map(|q| q.number.clone().map(|n| (n, q.name.clone())))
            .collect()
    }

    /// The queues whose patients hear the satisfaction survey.
    pub fn survey_queues(&self) -> Vec<String> {
        self.queues
            .iter()
            .filter(|q| q.survey)
            .map(|q| q.name.clone())
            .collect()
    }

    /// What a dialplan may transfer to: every extension, and the on-duty number.
    pub fn transfer_targets(&self) -> Vec<String> {
        self.extensions
            .iter()
            .map(|e| e.number.clone())
            .chain(self.roster_number.clone())
            .collect()
    }
    /// Extensions still using the documented demo password pattern.
    pub fn demo_credentials(&self) -> Vec<&str> {
        self.extensions
            .iter()
            .filter(|e| e.password == format!("demo-{}", e.number))
            .map(|e| e.number.as_str())
            .collect()
    }

    /// The answer threshold of the three-ring rule: rings times the ring cycle.
    pub fn sla_threshold(&self) -> Duration {
        self.sla_ring_cycle * self.sla_rings
    }
}

pub use sb_engine::FeatureCodes;
