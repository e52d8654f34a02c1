//! What may be asked of the engine from outside a call (the control API, supervisors): the
//! actions on a call, the commands to agents, what a call looks like to them, and why a
//! request was refused.

use sb_types::vocab::LiveState;
use sb_types::CallId;
use std::time::Instant;

/// One call as the control API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCall {
    /// The call.
    pub id: CallId,
    /// The number called.
    pub dialled: String,
    /// The patient's number: personal data, for the API to mask as the asker's role says.
    pub caller: String,
    /// `ivr`, `waiting` (in a queue or being transferred) or `talking` (bridged).
    pub state: LiveState,
    /// The queue the call waits in, or last waited in.
    pub queue: Option<String>,
    /// The agent the call is bridged to.
    pub agent: Option<String>,
    /// The patient is on hold.
    pub held: bool,
    /// The agent is muted towards the patient.
    pub muted: bool,
    /// Media packets refused from strangers: on the patient's leg, and on the agents'
    /// legs of the call now up.
    pub strangers_caller: u64,
    /// See `strangers_caller`.
    pub strangers_agents: u64,
    /// What the dialplan noted on the way (media source, the patient's choices), in order
    /// of name.
    pub vars: Vec<(String, String)>,
    /// The dialplan's nodes the patient went through (their menu choices), in order.
    pub path: Vec<String>,
    /// When the call joined its queue (the last one, after a transfer to another).
    pub queued_at: Option<Instant>,
    /// When an agent answered it from the queue.
    pub answered_at: Option<Instant>,
    /// The consultation under way, if any.
    pub consult: Option<LiveConsult>,
    /// The switchboard placed the call for `caller`, the extension that asked
    /// ([`crate::Engine::place_call`]).
    pub placed: bool,
    /// A keep-my-place callback: `caller` is the patient to ring back, who asked at
    /// `callback_requested` (an instant on the engine's clock).
    pub callback_requested: Option<Instant>,
}

/// A phone as the operators' directory shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Presence {
    /// Not registered.
    Offline,
    /// Registered and free.
    Registered,
    /// Ringing with a call.
    Ringing,
    /// Talking (or dialling).
    OnCall,
}

impl Presence {
    /// As the consoles name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Offline => "offline",
            Presence::Registered => "registered",
            Presence::Ringing => "ringing",
            Presence::OnCall => "on_call",
        }
    }
}

/// A consultation as the consoles show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveConsult {
    /// The colleague consulted (their extension, or `outside`).
    pub colleague: String,
    /// The agent talks to the colleague now (otherwise to the patient, after a swap).
    pub with_colleague: bool,
    /// All three hear each other.
    pub joined: bool,
}

/// Why a control request was not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlError {
    /// No call has that id (it may have ended).
    NoSuchCall,
    /// Hold and mute need the call bridged to an agent.
    NotBridged,
    /// No agent has that extension.
    NoSuchAgent,
    /// A queue that does not exist or the agent is not a member of.
    NotAMember(String),
    /// A transfer or consultation to something that is no other extension, and no outside
    /// number the dial plan covers.
    UnknownExtension(String),
    /// The agent is already consulting a colleague.
    Consulting,
    /// Back, swap and complete need a consultation under way.
    NotConsulting,
    /// Swap needs the colleague to have answered.
    NotAnswered,
    /// The three are joined: back, complete or hang up instead.
    Joined,
    /// No queue has that name.
    NoSuchQueue(String),
    /// Nobody in the queue is free to be consulted.
    NobodyFree(String),
    /// The outbound dial plan refused the outside number (why).
    OutsideRefused(&'static str),
    /// The extension that would place a call has no phone registered.
    PhoneOffline(String),
    /// The switchboard is stopping: it places no more calls.
    Stopping,
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlError::NoSuchCall => write!(f, "no such call"),
            ControlError::NotBridged => write!(f, "the call is not with an agent"),
            ControlError::NoSuchAgent => write!(f, "no such agent"),
            ControlError::NotAMember(q) => write!(f, "not a member of queue {q}"),
            ControlError::UnknownExtension(e) => {
                write!(
                    f,
                    "{e} is no other extension, and no outbound rule covers it"
                )
            }
            ControlError::Consulting => write!(f, "already consulting"),
            ControlError::NotConsulting => write!(f, "no consultation under way"),
            ControlError::NotAnswered => write!(f, "the colleague has not answered"),
            ControlError::Joined => write!(f, "the patient, agent and colleague are joined"),
            ControlError::NoSuchQueue(q) => write!(f, "no queue {q}"),
            ControlError::NobodyFree(q) => write!(f, "nobody in queue {q} is free"),
            ControlError::OutsideRefused(why) => write!(f, "{why}"),
            ControlError::PhoneOffline(e) => write!(f, "extension {e} has no phone registered"),
            ControlError::Stopping => write!(f, "the switchboard is stopping"),
        }
    }
}

/// What may be done to a call from outside it (the control API): the same steps as the
/// agent's feature codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallAction {
    /// Puts the patient on hold (true) or takes them off it.
    Hold(bool),
    /// Mutes the agent towards the patient (true) or unmutes.
    Mute(bool),
    /// Ends the call (BYE to every leg).
    HangUp,
    /// Blind transfer to an extension.
    Transfer(String),
    /// Consult an extension, the patient on hold.
    Consult(String),
    /// Consult whichever member of this queue is free (the one idle longest).
    ConsultQueue(String),
    /// End the consultation, back to the patient.
    Back,
    /// Talk to the other party of a consultation.
    Swap,
    /// The consulted colleague takes the patient.
    Complete,
    /// The patient, the agent and the consulted colleague all hear each other.
    Join,
    /// The agent leaves; the patient hears the satisfaction survey.
    Survey,
}

/// What an agent (or a supervisor for them) asks of the ACD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentCommand {
    /// Into these queues; none named: every queue the agent belongs to.
    Login(Vec<String>),
    /// Out of every queue.
    Logout,
    /// Paused for this reason: no offers until unpaused.
    Pause(String),
    /// Available again.
    Unpause,
}

/// Whether `cmd` can be carried out for `agent` now: an agent the ACD knows, logging into
/// queues they belong to.
pub(crate) fn check_agent_command(
    acd: &sb_acd::Acd,
    agent: &sb_types::AgentId,
    cmd: &AgentCommand,
) -> Result<(), ControlError> {
    if acd.agent(agent).is_none() {
        return Err(ControlError::NoSuchAgent);
    }
    if let AgentCommand::Login(queues) = cmd {
        let member = acd.member_queues(agent);
        if let Some(q) = queues.iter().find(|q| !member.contains(q)) {
            return Err(ControlError::NotAMember(q.clone()));
        }
    }
    Ok(())
}

/// Carries out a checked `cmd` on the ACD.
pub(crate) fn apply_agent_command(
    acd: &mut sb_acd::Acd,
    now: std::time::Instant,
    agent: &sb_types::AgentId,
    cmd: AgentCommand,
) {
    match cmd {
        AgentCommand::Login(queues) => {
            let names = if queues.is_empty() {
                acd.member_queues(agent)
            } else {
                queues
            };
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            acd.handle_login(now, agent, &refs);
        }
        AgentCommand::Logout => acd.handle_logout(now, agent),
        AgentCommand::Pause(reason) => acd.handle_pause(now, agent, &reason),
        AgentCommand::Unpause => acd.handle_unpause(now, agent),
    }
}

/// The engine's wall clock, for turning its instants into Unix milliseconds outside the
/// engine (the consoles' clocks): the same mapping as the call records'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    pub(crate) origin: Instant,
    pub(crate) origin_ms: i64,
}

impl WallClock {
    /// Unix milliseconds at `at`.
    pub fn ms(&self, at: Instant) -> i64 {
        self.origin_ms + at.saturating_duration_since(self.origin).as_millis() as i64
    }
}
