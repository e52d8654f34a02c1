//! Phase one: the file's shape, with spans for every value a diagnostic may point at.
//! Unknown keys are rejected here by serde (house rule 6).

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub hospital: Hospital,
    pub sip: Sip,
    #[serde(default)]
    pub security: Security,
    pub rtp: Rtp,
    pub http: Http,
    pub store: Store,
    pub ivr: Ivr,
    #[serde(default)]
    pub sla: Sla,
    #[serde(default)]
    pub acd: Acd,
    #[serde(default)]
    pub features: Features,
    #[serde(default)]
    pub extensions: Vec<Extension>,
    #[serde(default)]
    pub queues: Vec<Queue>,
    #[serde(default)]
    pub roster: Roster,
    #[serde(default)]
    pub reports: Reports,
    /// Caller regions by number prefix: `"010" = "Beijing"`; the longest prefix wins.
    #[serde(default)]
    pub regions: std::collections::BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub shutdown: Shutdown,
    /// The country's numbering: the one form numbers are recorded in.
    #[serde(default)]
    pub numbering: Numbering,
    /// The carriers' SIP trunks.
    #[serde(default)]
    pub trunks: Vec<Trunk>,
    /// Limits and timers of calls to the phone network.
    #[serde(default)]
    pub outside: OutsideLimits,
    /// The outbound dial plan: who may dial which numbers out, on which trunks.
    #[serde(default)]
    pub outbound: Vec<OutboundRule>,
    #[serde(default)]
    pub calendar: Calendar,
    #[serde(default)]
    pub callbacks: Callbacks,
}

/// The hospital's calendar: the days it keeps as holidays (no callbacks, no working days
/// counted towards what is due).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    /// `YYYY-MM-DD` dates.
    #[serde(default)]
    pub holidays: Vec<Spanned<String>>,
}

/// Keep-my-place callbacks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Callbacks {
    /// When callbacks are placed, as a dialplan's `open` windows (`mon-fri 08:00-17:30`),
    /// in the reports' time zone; empty: at any time.
    #[serde(default)]
    pub open: Vec<Spanned<String>>,
    /// Tries before a patient not reached goes to the worklist.
    #[serde(default = "d3")]
    pub attempts: Spanned<u64>,
    /// Minutes between two tries.
    #[serde(default = "d15")]
    pub retry_minutes: Spanned<u64>,
    /// A patient waiting this long in any queue is offered a callback; 0: only when the
    /// queue overflows with nowhere to go.
    #[serde(default = "d0")]
    pub offer_after_seconds: Spanned<u64>,
    /// A patient who hangs up after waiting longer than `reports.short_abandon_seconds`
    /// becomes a callback item.
    #[serde(default = "yes")]
    pub recover_abandoned: bool,
}

fn yes() -> bool {
    true
}

impl Default for Callbacks {
    fn default() -> Self {
        Callbacks {
            open: Vec::new(),
            attempts: d3(),
            retry_minutes: d15(),
            offer_after_seconds: d0(),
            recover_abandoned: true,
        }
    }
}

fn d0() -> Spanned<u64> {
    Spanned::new(0..0, 0)
}
fn d3() -> Spanned<u64> {
    Spanned::new(0..0, 3)
}
fn d15() -> Spanned<u64> {
    Spanned::new(0..0, 15)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Numbering {
    #[serde(default = "cc86")]
    pub country_code: Spanned<String>,
    #[serde(default = "zero")]
    pub trunk_prefix: Spanned<String>,
    #[serde(default = "zero_zero")]
    pub international_prefix: Spanned<String>,
    /// National numbers that take no trunk prefix (China's mobiles: `1`).
    #[serde(default = "one")]
    pub no_trunk_prefix: Vec<Spanned<String>>,
}

fn cc86() -> Spanned<String> {
    code("86")
}
fn zero() -> Spanned<String> {
    code("0")
}
fn zero_zero() -> Spanned<String> {
    code("00")
}
fn one() -> Vec<Spanned<String>> {
    vec![code("1")]
}

impl Default for Numbering {
    fn default() -> Self {
        Numbering {
            country_code: cc86(),
            trunk_prefix: zero(),
            international_prefix: zero_zero(),
            no_trunk_prefix: one(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    pub name: Spanned<String>,
    /// The carrier's proxy: `host:port` (a name is resolved when the file is read).
    pub address: Spanned<String>,
    /// udp (default) or tcp.
    #[serde(default)]
    pub transport: Option<Spanned<String>>,
    /// The host of the URIs we send the carrier (default: the address's host).
    #[serde(default)]
    pub domain: Option<Spanned<String>>,
    /// Where the carrier's requests come from (default: the address).
    #[serde(default)]
    pub trust: Vec<Spanned<String>>,
    /// How the carrier writes numbers: e164 or national.
    #[serde(default)]
    pub numbers: Option<Spanned<String>>,
    /// The hospital's numbers on the trunk, each to the internal number that answers it.
    #[serde(default)]
    pub dids: std::collections::BTreeMap<String, Spanned<String>>,
    /// The number presented on calls out.
    pub caller_id: Spanned<String>,
    #[serde(default)]
    pub caller_name: Option<Spanned<String>>,
    /// Also send P-Asserted-Identity.
    #[serde(default)]
    pub asserted_identity: bool,
    /// Ask the network to withhold our number (`Privacy: id`).
    #[serde(default)]
    pub withhold: bool,
    /// Calls at once, both ways (0: no limit).
    #[serde(default)]
    pub max_calls: Option<Spanned<u64>>,
    /// Lower first, for routes that name no trunks.
    #[serde(default)]
    pub priority: Option<Spanned<u64>>,
    /// OPTIONS health check every this many seconds (0: off).
    #[serde(default)]
    pub options_seconds: Option<Spanned<u64>>,
    /// Register with the carrier (without it the carrier trusts our address).
    #[serde(default)]
    pub register: Option<TrunkRegister>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkRegister {
    pub user: Spanned<String>,
    #[serde(default)]
    pub auth_user: Option<Spanned<String>>,
    pub password: Spanned<String>,
    #[serde(default)]
    pub expires: Option<Spanned<u64>>,
    /// The user of our Contact, where the carrier sends calls (default: `user`).
    #[serde(default)]
    pub contact_user: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutsideLimits {
    /// Outside calls one extension may have at once (0: no limit).
    #[serde(default = "d2")]
    pub per_extension: Spanned<u64>,
    /// A carrier silent this long about a call out is given up for the next trunk.
    #[serde(default = "d5")]
    pub setup_timeout_seconds: Spanned<u64>,
    /// How long an outside number may ring.
    #[serde(default = "d90")]
    pub ring_seconds: Spanned<u64>,
}

fn d5() -> Spanned<u64> {
    Spanned::new(0..0, 5)
}
fn d90() -> Spanned<u64> {
    Spanned::new(0..0, 90)
}

impl Default for OutsideLimits {
    fn default() -> Self {
        OutsideLimits {
            per_extension: d2(),
            setup_timeout_seconds: d5(),
            ring_seconds: d90(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundRule {
    pub name: Spanned<String>,
    pub patterns: Vec<Spanned<String>>,
    /// Extension kinds allowed: agent, operator, department.
    #[serde(default)]
    pub roles: Vec<Spanned<String>>,
    #[serde(default)]
    pub extensions: Vec<Spanned<String>>,
    /// Calls the switchboard places itself (callbacks, follow-ups) may use the rule.
    #[serde(default)]
    pub engine: bool,
    #[serde(default)]
    pub strip: Option<Spanned<u64>>,
    #[serde(default)]
    pub prepend: Option<Spanned<String>>,
    #[serde(default)]
    pub trunks: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shutdown {
    /// How long calls in progress may go on after SIGTERM before they are ended.
    pub grace_seconds: Spanned<u64>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            grace_seconds: Spanned::new(0..0, 30),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hospital {
    pub name: Spanned<String>,
    pub number: Spanned<String>,
    /// The hospital's name as each prompt language says it (read by prompts/generate.py).
    #[serde(default)]
    pub spoken_name: std::collections::BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sip {
    pub listen: Spanned<String>,
    pub realm: Spanned<String>,
    #[serde(default = "d30")]
    pub qualify_seconds: Spanned<u64>,
    #[serde(default = "d120")]
    pub nonce_seconds: Spanned<u64>,
    #[serde(default = "d300")]
    pub tcp_idle_seconds: Spanned<u64>,
    #[serde(default = "default_algorithms")]
    pub digest_algorithms: Spanned<Vec<String>>,
    #[serde(default)]
    pub timers: Timers,
    #[serde(default)]
    pub registrar: Registrar,
    /// A timer running this late means the engine is behind: new calls get 503 for a second.
    #[serde(default = "d100")]
    pub overload_lag_ms: Spanned<u64>,
}

fn d100() -> Spanned<u64> {
    Spanned::new(0..0, 100)
}

fn default_algorithms() -> Spanned<Vec<String>> {
    Spanned::new(0..0, vec!["MD5".into()])
}
fn d_spin() -> Spanned<u64> {
    Spanned::new(0..0, 5)
}
fn d30() -> Spanned<u64> {
    Spanned::new(0..0, 30)
}
fn d120() -> Spanned<u64> {
    Spanned::new(0..0, 120)
}
fn d300() -> Spanned<u64> {
    Spanned::new(0..0, 300)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timers {
    pub t1_ms: Spanned<u64>,
    pub t2_ms: Spanned<u64>,
    pub t4_ms: Spanned<u64>,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1_ms: Spanned::new(0..0, 500),
            t2_ms: Spanned::new(0..0, 4000),
            t4_ms: Spanned::new(0..0, 5000),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registrar {
    pub default_expires: Spanned<u32>,
    pub min_expires: Spanned<u32>,
    pub max_expires: Spanned<u32>,
    pub max_contacts: Spanned<u32>,
}

impl Default for Registrar {
    fn default() -> Self {
        Registrar {
            default_expires: Spanned::new(0..0, 3600),
            min_expires: Spanned::new(0..0, 60),
            max_expires: Spanned::new(0..0, 7200),
            max_contacts: Spanned::new(0..0, 5),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    pub max_user_failures: Spanned<u32>,
    pub max_address_failures: Spanned<u32>,
    pub failure_window_seconds: Spanned<u64>,
    pub ban_seconds: Spanned<u64>,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            max_user_failures: Spanned::new(0..0, 5),
            max_address_failures: Spanned::new(0..0, 100),
            failure_window_seconds: Spanned::new(0..0, 60),
            ban_seconds: Spanned::new(0..0, 300),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rtp {
    pub port_range: Spanned<String>,
    #[serde(default = "d_spin")]
    pub timer_spin_ms: Spanned<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    pub listen: Spanned<String>,
    /// Bearer tokens of the control API, each with its role.
    #[serde(default)]
    pub tokens: Vec<ApiToken>,
    /// The people who sign in to the web consoles.
    #[serde(default)]
    pub users: Vec<ConsoleUser>,
    /// The bearer token Prometheus presents for `/metrics` on `listen`.
    #[serde(default)]
    pub metrics_token: Option<Spanned<String>>,
    /// A separate address serving `/metrics` alone, without a token.
    #[serde(default)]
    pub metrics_listen: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleUser {
    pub name: Spanned<String>,
    /// Argon2id, as `switchboard hash-password` prints it.
    pub password_hash: Spanned<String>,
    /// agent, operator, supervisor or admin.
    pub role: Spanned<String>,
    /// The extension an agent answers on.
    #[serde(default)]
    pub agent: Option<Spanned<String>>,
    /// zh-CN (the default) or en.
    #[serde(default)]
    pub language: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    pub token: Spanned<String>,
    /// agent, operator, supervisor or admin.
    pub role: Spanned<String>,
    /// The extension an agent's token acts for.
    #[serde(default)]
    pub agent: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    pub path: Spanned<String>,
    /// Where records wait when the database falls behind (default: `<path>.journal`).
    #[serde(default)]
    pub journal: Option<Spanned<String>>,
    /// How many records and events may wait in memory for the writer.
    #[serde(default = "d_capacity")]
    pub queue_capacity: Spanned<u64>,
}

fn d_capacity() -> Spanned<u64> {
    Spanned::new(0..0, 20_000)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reports {
    /// Days, weeks, months and shifts are counted in this zone.
    pub time_zone: Spanned<String>,
    /// A caller who leaves a queue sooner than this is a short abandon, not counted against
    /// the service level.
    pub short_abandon_seconds: Spanned<u64>,
    pub shifts: Vec<Shift>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    pub name: Spanned<String>,
    /// `HH:MM-HH:MM` local time; `24:00` ends at midnight.
    pub hours: Spanned<String>,
}

impl Default for Reports {
    fn default() -> Self {
        let shift = |n: &str, h: &str| Shift {
            name: Spanned::new(0..0, n.into()),
            hours: Spanned::new(0..0, h.into()),
        };
        Reports {
            time_zone: Spanned::new(0..0, "Asia/Shanghai".into()),
            short_abandon_seconds: Spanned::new(0..0, 5),
            shifts: vec![
                shift("early", "08:00-16:00"),
                shift("middle", "10:00-18:00"),
                shift("night", "16:00-24:00"),
            ],
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ivr {
    pub dialplans: Spanned<String>,
    pub prompts: Spanned<String>,
    pub languages: Spanned<Vec<Spanned<String>>>,
    pub default_language: Spanned<String>,
    /// Runs opening hours from this moment instead of the wall clock (drills and tests).
    #[serde(default)]
    pub clock_start: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sla {
    pub rings: Spanned<u32>,
    pub ring_cycle_seconds: Spanned<u32>,
}

/// How agents are handled between and after offers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acd {
    /// After-call work: how long an agent stays unavailable after each call.
    #[serde(default = "d10")]
    pub wrap_up_seconds: Spanned<u64>,
    /// Offers an agent lets ring out in a row before being paused ("missed calls").
    #[serde(default = "d2")]
    pub pause_after_misses: Spanned<u64>,
}

/// The agents' in-call feature codes, keyed on the phone during a call.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Features {
    #[serde(default = "star1")]
    pub hold: Spanned<String>,
    #[serde(default = "star2")]
    pub mute: Spanned<String>,
    #[serde(default = "star3")]
    pub consult: Spanned<String>,
    #[serde(default = "star4")]
    pub transfer: Spanned<String>,
    #[serde(default = "hash")]
    pub complete: Spanned<String>,
    #[serde(default = "star0")]
    pub back: Spanned<String>,
    #[serde(default = "star5")]
    pub swap: Spanned<String>,
    #[serde(default = "star6")]
    pub join: Spanned<String>,
    /// The agent leaves and the patient hears the satisfaction survey.
    #[serde(default = "star9")]
    pub survey: Spanned<String>,
    /// How long a transfer target rings before the call comes back.
    #[serde(default = "d20")]
    pub transfer_ring_seconds: Spanned<u64>,
    /// Dialled from an agent's phone outside calls.
    #[serde(default = "star71")]
    pub login: Spanned<String>,
    #[serde(default = "star72")]
    pub logout: Spanned<String>,
    /// Followed by a reason code from `pause_reasons` (or none: "break").
    #[serde(default = "star73")]
    pub pause: Spanned<String>,
    #[serde(default = "star74")]
    pub unpause: Spanned<String>,
    #[serde(default = "reasons")]
    pub pause_reasons: Spanned<std::collections::BTreeMap<String, String>>,
}

fn star71() -> Spanned<String> {
    code("*71")
}
fn star72() -> Spanned<String> {
    code("*72")
}
fn star73() -> Spanned<String> {
    code("*73")
}
fn star74() -> Spanned<String> {
    code("*74")
}
fn reasons() -> Spanned<std::collections::BTreeMap<String, String>> {
    let m = crate::model::FeatureCodes::default()
        .pause_reasons
        .into_iter()
        .collect();
    Spanned::new(0..0, m)
}

fn code(s: &str) -> Spanned<String> {
    Spanned::new(0..0, s.into())
}
fn star1() -> Spanned<String> {
    code("*1")
}
fn star2() -> Spanned<String> {
    code("*2")
}
fn star3() -> Spanned<String> {
    code("*3")
}
fn star4() -> Spanned<String> {
    code("*4")
}
fn hash() -> Spanned<String> {
    code("#")
}
fn star0() -> Spanned<String> {
    code("*0")
}
fn star5() -> Spanned<String> {
    code("*5")
}
fn star9() -> Spanned<String> {
    code("*9")
}
fn star6() -> Spanned<String> {
    code("*6")
}
fn d20() -> Spanned<u64> {
    Spanned::new(0..0, 20)
}

impl Default for Features {
    fn default() -> Self {
        Features {
            hold: star1(),
            mute: star2(),
            consult: star3(),
            transfer: star4(),
            complete: hash(),
            back: star0(),
            swap: star5(),
            join: star6(),
            survey: star9(),
            transfer_ring_seconds: d20(),
            login: star71(),
            logout: star72(),
            pause: star73(),
            unpause: star74(),
            pause_reasons: reasons(),
        }
    }
}

fn d10() -> Spanned<u64> {
    Spanned::new(0..0, 10)
}
fn d2() -> Spanned<u64> {
    Spanned::new(0..0, 2)
}

impl Default for Acd {
    fn default() -> Self {
        Acd {
            wrap_up_seconds: d10(),
            pause_after_misses: d2(),
        }
    }
}

impl Default for Sla {
    fn default() -> Self {
        Sla {
            rings: Spanned::new(0..0, 3),
            ring_cycle_seconds: Spanned::new(0..0, 5),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    pub number: Spanned<String>,
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    pub password: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    pub name: Spanned<String>,
    /// Agents and operators transfer or consult to the queue by this number.
    #[serde(default)]
    pub number: Option<Spanned<String>>,
    pub agents: Vec<Spanned<String>>,
    /// longest-idle (default), round-robin, ring-all, fewest-calls or skills.
    #[serde(default)]
    pub strategy: Option<Spanned<String>>,
    /// Skill level per agent for the skills strategy (1 is the best; unlisted agents are 1).
    #[serde(default)]
    pub levels: std::collections::BTreeMap<String, Spanned<u8>>,
    /// Skills strategy: every this many seconds of waiting the next level joins the pool.
    #[serde(default)]
    pub widen_seconds: Option<Spanned<u64>>,
    /// Where overflowing calls go: "operator" (the operator queue, when there is one) or
    /// "callback" (the patient is offered a callback).
    #[serde(default)]
    pub overflow: Option<Spanned<String>>,
    /// More than this many patients waiting overflow the next one (default 3).
    #[serde(default)]
    pub max_waiting: Option<Spanned<u64>>,
    /// A patient waiting longer overflows (default 120).
    #[serde(default)]
    pub max_wait_seconds: Option<Spanned<u64>>,
    /// When the agent hangs up first, the patient is asked their satisfaction (1 to 5).
    #[serde(default)]
    pub survey: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    #[serde(default)]
    pub on_duty: Vec<Spanned<String>>,
    /// Calling or transferring to this number rings whoever is on duty.
    #[serde(default)]
    pub number: Option<Spanned<String>>,
}
