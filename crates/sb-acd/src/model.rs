//! The ACD's vocabulary: configuration, identities, what it asks of the engine and what it
//! reports.

use std::time::Duration;

pub use sb_types::{AgentId, CallId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The agent idle the longest.
    LongestIdle,
    /// The next member after the one offered last, in configuration order.
    RoundRobin,
    /// Every available member at once; the first to answer takes the call.
    RingAll,
    /// The member who has taken the fewest calls (longest idle on a tie).
    FewestCalls,
    /// Members at the lowest skill level first; every `widen_every` of waiting lets the next
    /// level in, the caller keeping their place.
    Skills { widen_every: Duration },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    pub strategy: Strategy,
    /// (agent, skill level: 1 is the best).
    pub members: Vec<(AgentId, u8)>,
    /// Where calls go when this queue overflows (the operator group); `None`: offer a
    /// callback instead.
    pub overflow_to: Option<String>,
    /// This queue's own overflow limits (patients waiting, longest wait) instead of the
    /// ACD's defaults.
    pub limits: Option<(usize, Duration)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AcdConfig {
    /// How long an offer rings before it counts as ring-no-answer.
    pub ring_timeout: Duration,
    /// The answer threshold: `sla.rings` times `sla.ring_cycle` (15 s by default).
    pub sla_threshold: Duration,
    /// Offers missed in a row before the agent is paused.
    pub max_misses: u32,
    pub wrap_up: Duration,
    /// More than this many patients waiting in a queue: the next one overflows.
    pub max_waiting: usize,
    /// A patient waiting longer than this overflows.
    pub max_wait: Duration,
    /// When a waiting call reaches this share of the threshold, it is offered to every
    /// available member at once.
    pub escalate_at: f64,
    /// A queue's handle time (talk, hold and wrap-up) assumed until its calls tell better;
    /// the estimate of a waiting patient's wait is made from it.
    pub initial_handle_time: Duration,
}

impl Default for AcdConfig {
    fn default() -> Self {
        AcdConfig {
            ring_timeout: Duration::from_secs(15),
            sla_threshold: Duration::from_secs(15),
            max_misses: 2,
            wrap_up: Duration::from_secs(10),
            max_waiting: 3,
            max_wait: Duration::from_secs(120),
            escalate_at: 0.7,
            initial_handle_time: Duration::from_secs(180),
        }
    }
}

/// What an agent is doing, as far as the ACD knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    Idle,
    Offered(CallId),
    OnCall(CallId),
    WrapUp,
}

impl Activity {
    /// The state an agent is in, as the records and the API name it.
    pub fn state_name(&self, paused: bool, available: bool, busy: bool) -> &'static str {
        match (self, paused) {
            // On a call the ACD did not give them (a transfer, a call between extensions).
            (Activity::Idle, _) if busy => "on_call",
            (Activity::Offered(_), _) => "offered",
            (Activity::OnCall(_), _) => "on_call",
            (Activity::WrapUp, _) => "wrap_up",
            (Activity::Idle, true) => "paused",
            (Activity::Idle, false) if available => "available",
            (Activity::Idle, false) => "unavailable",
        }
    }
}

/// One agent as the control API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentView {
    pub id: String,
    /// `available`, `offered`, `on_call`, `wrap_up`, `paused` or `unavailable`.
    pub state: &'static str,
    pub paused: Option<String>,
    /// Registered and answering keep-alives.
    pub reachable: bool,
    /// The queues logged in to, and all the queues the agent belongs to.
    pub logged_in: Vec<String>,
    pub member_of: Vec<String>,
}

/// One queue now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueView {
    pub name: String,
    pub waiting: usize,
    pub longest_wait: Duration,
    /// Logged-in members by state.
    pub agents: std::collections::BTreeMap<&'static str, usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverflowReason {
    NoAgents,
    TooManyWaiting,
    MaxWait,
}

/// What the engine must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcdAction {
    /// Ring the agent's phone for this call.
    Offer { call: CallId, agent: AgentId },
    /// Stop ringing (another agent answered, the caller left, the offer timed out).
    CancelOffer { call: CallId, agent: AgentId },
    /// Bridge the caller to the agent who answered.
    Connect { call: CallId, agent: AgentId },
    /// The call leaves the queue: to `to` (the operator group) or, when `None`, to a
    /// callback offer.
    Overflow {
        call: CallId,
        queue: String,
        to: Option<String>,
        reason: OverflowReason,
    },
}

/// What happened, for the call records and the live figures.
#[derive(Debug, Clone, PartialEq)]
pub enum AcdEvent {
    Joined {
        call: CallId,
        queue: String,
        position: usize,
    },
    Offered {
        call: CallId,
        agent: AgentId,
    },
    RingNoAnswer {
        call: CallId,
        agent: AgentId,
        rang: Duration,
    },
    Answered {
        call: CallId,
        agent: AgentId,
        rang: Duration,
        within_rings: bool,
        waited: Duration,
    },
    Escalated {
        call: CallId,
        waited: Duration,
    },
    Overflowed {
        call: CallId,
        queue: String,
        reason: OverflowReason,
        waited: Duration,
    },
    Abandoned {
        call: CallId,
        queue: String,
        waited: Duration,
    },
    AgentState {
        agent: AgentId,
        activity: Activity,
        paused: Option<String>,
        available: bool,
        /// As the records and the API name it (`Activity::state_name`).
        state: &'static str,
    },
    AutoPaused {
        agent: AgentId,
        misses: u32,
    },
    /// The patient chose to be called back.
    CallbackRequested {
        call: CallId,
        queue: String,
    },
}
