//! The ACD's vocabulary: configuration, identities, what it asks of the engine and what it
//! reports.

use std::time::{Duration, Instant};

pub use sb_types::{AgentId, CallId};

/// How a queue picks the agent to offer a call to.
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
    Skills {
        /// How long each skill level has the call to itself.
        widen_every: Duration,
    },
}

/// One queue as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// Its name (`consultation`, `operator`, ...).
    pub name: String,
    /// How it picks an agent.
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

/// The ACD's settings, the same for every queue unless a queue says otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct AcdConfig {
    /// How long an offer rings before it counts as ring-no-answer.
    pub ring_timeout: Duration,
    /// The answer threshold: `sla.rings` times `sla.ring_cycle` (15 s by default).
    pub sla_threshold: Duration,
    /// Offers missed in a row before the agent is paused.
    pub max_misses: u32,
    /// After each call, the agent's time to finish up before the next offer.
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
    /// Not on a call the ACD gave them.
    Idle,
    /// Their phone rings with this call.
    Offered(CallId),
    /// Talking with this call's patient.
    OnCall(CallId),
    /// Finishing up after a call.
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
    /// The agent's extension.
    pub id: String,
    /// `available`, `offered`, `on_call`, `wrap_up`, `paused` or `unavailable`.
    pub state: &'static str,
    /// The pause reason, while paused.
    pub paused: Option<String>,
    /// Registered and answering keep-alives.
    pub reachable: bool,
    /// When the agent entered `state`.
    pub since: Instant,
    /// The call offered to them or connected to them by the ACD.
    pub call: Option<CallId>,
    /// While offered: when their phone started ringing.
    pub ringing_since: Option<Instant>,
    /// While wrapping up: when it ends.
    pub wrap_until: Option<Instant>,
    /// The queues logged in to, and all the queues the agent belongs to.
    pub logged_in: Vec<String>,
    /// See `logged_in`.
    pub member_of: Vec<String>,
}

/// One queue now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueView {
    /// The queue.
    pub name: String,
    /// Patients waiting now.
    pub waiting: usize,
    /// How long the patient waiting longest has waited.
    pub longest_wait: Duration,
    /// When that patient joined the queue.
    pub oldest: Option<Instant>,
    /// Logged-in members by state.
    pub agents: std::collections::BTreeMap<&'static str, usize>,
}

/// Why a call left its queue for the overflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverflowReason {
    /// Nobody is logged in to the queue.
    NoAgents,
    /// More patients were waiting than the queue allows.
    TooManyWaiting,
    /// The patient waited longer than the queue allows.
    MaxWait,
}

/// What the engine must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcdAction {
    /// Ring the agent's phone for this call.
    Offer {
        /// The call.
        call: CallId,
        /// The agent's extension.
        agent: AgentId,
    },
    /// Stop ringing (another agent answered, the caller left, the offer timed out).
    CancelOffer {
        /// The call.
        call: CallId,
        /// The agent's extension.
        agent: AgentId,
    },
    /// Bridge the caller to the agent who answered.
    Connect {
        /// The call.
        call: CallId,
        /// The agent's extension.
        agent: AgentId,
    },
    /// The call leaves the queue: to `to` (the operator group) or, when `None`, to a
    /// callback offer.
    Overflow {
        /// The call.
        call: CallId,
        /// The queue.
        queue: String,
        /// The queue it goes to; `None`: a callback is offered instead.
        to: Option<String>,
        /// Why.
        reason: OverflowReason,
    },
}

/// What happened, for the call records and the live figures.
#[derive(Debug, Clone, PartialEq)]
pub enum AcdEvent {
    /// The call joined the queue.
    Joined {
        /// The call.
        call: CallId,
        /// The queue.
        queue: String,
        /// Its place: 1 is next.
        position: usize,
    },
    /// An agent's phone rings with the call.
    Offered {
        /// The call.
        call: CallId,
        /// The agent's extension.
        agent: AgentId,
    },
    /// The phone rang out: the offer moves on.
    RingNoAnswer {
        /// The call.
        call: CallId,
        /// The agent's extension.
        agent: AgentId,
        /// How long the phone rang.
        rang: Duration,
    },
    /// The agent answered: the patient is theirs.
    Answered {
        /// The call.
        call: CallId,
        /// The agent's extension.
        agent: AgentId,
        /// How long the phone rang.
        rang: Duration,
        /// Answered within the three-ring threshold.
        within_rings: bool,
        /// How long the patient waited in the queue.
        waited: Duration,
    },
    /// Near the threshold: the call is offered to every available member.
    Escalated {
        /// The call.
        call: CallId,
        /// How long the patient waited in the queue.
        waited: Duration,
    },
    /// The call left its queue for the overflow.
    Overflowed {
        /// The call.
        call: CallId,
        /// The queue.
        queue: String,
        /// Why.
        reason: OverflowReason,
        /// How long the patient waited in the queue.
        waited: Duration,
    },
    /// The patient hung up while waiting.
    Abandoned {
        /// The call.
        call: CallId,
        /// The queue.
        queue: String,
        /// How long the patient waited in the queue.
        waited: Duration,
    },
    /// An agent's state changed.
    AgentState {
        /// The agent's extension.
        agent: AgentId,
        /// What the agent is doing.
        activity: Activity,
        /// The pause reason, while paused.
        paused: Option<String>,
        /// Whether the ACD may offer them a call now.
        available: bool,
        /// As the records and the API name it (`Activity::state_name`).
        state: &'static str,
    },
    /// An agent missed too many offers in a row and was paused.
    AutoPaused {
        /// The agent's extension.
        agent: AgentId,
        /// Offers missed in a row.
        misses: u32,
    },
    /// The patient chose to be called back.
    CallbackRequested {
        /// The call.
        call: CallId,
        /// The queue.
        queue: String,
    },
}
