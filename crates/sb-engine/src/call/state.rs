//! Where a call stands. Each state holds what is valid in it, so a combination the call
//! cannot be in (music while bridged without hold, a callback offer outside a queue, a
//! mix without a consultation) cannot be written.

use super::conference::Mix;
use super::leg::LegId;
use sb_ivr::Session;
use sb_types::vocab::{Control, EndReason, LiveState, Side};
use std::time::Instant;

/// The patient's side of a talk with an agent: held (music, and by whom), muted (the
/// agent's voice stops).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Talk {
    pub(crate) hold: Option<Control>,
    pub(crate) muted: bool,
}

/// A call waiting in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Queued {
    pub(crate) queue: String,
    pub(crate) priority: i32,
    /// When the patient next hears their place in the queue.
    pub(crate) announce_at: Option<Instant>,
    /// Overflowed with nowhere to go (or waited long enough): offered a callback until
    /// then.
    pub(crate) callback_until: Option<Instant>,
    /// When the patient is offered a callback for waiting so long, if they will be.
    pub(crate) callback_at: Option<Instant>,
}

/// A consultation: the agent on `agent` talks to the colleague on `colleague` (or, after a
/// swap, to the patient) while the patient waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Consult {
    pub(crate) agent: LegId,
    pub(crate) colleague: LegId,
    /// The agent talks to the colleague now (otherwise to the patient, after a swap).
    pub(crate) with_colleague: bool,
}

/// Where a call stands.
#[derive(Debug)]
pub(crate) enum CallState {
    /// The INVITE came; waiting for a media port. The dialplan runs once answered.
    Setup { ivr: Option<Box<Session>> },
    /// A call between extensions: the one dialled rings; the caller is answered when it
    /// answers (on leg `answered`, then bridged to it).
    Dialling { answered: Option<LegId> },
    /// Answered; the dialplan runs.
    Ivr(Box<Session>),
    /// The confirmation of a service code or a callback (or the survey's thanks) plays;
    /// then the call ends, as ended by `by`.
    Closing { reason: EndReason, by: Side },
    /// The agent left: the patient hears the satisfaction survey and may key 1 to 5 until
    /// `until`.
    Survey { until: Instant },
    /// Waiting for an agent: music, and the place in the queue every so often.
    Queued(Queued),
    /// A transfer target rings while the patient waits with music.
    Transferring,
    /// A callback: the agent on `agent` answered it and waits on the line while the
    /// patient's phone rings.
    CallingBack { agent: LegId },
    /// The patient talks to the agent on `agent`.
    Bridged { agent: LegId, talk: Talk },
    /// The agent consults a colleague, the patient on hold (or talking to the agent after
    /// a swap).
    Consulting { consult: Consult, talk: Talk },
    /// The patient, the agent and the colleague all hear each other.
    Conference {
        consult: Consult,
        mix: Box<Mix>,
        talk: Talk,
    },
}

impl CallState {
    /// The leg the patient talks to (or last talked to, while a consultation runs).
    pub(crate) fn agent_leg(&self) -> Option<LegId> {
        match self {
            CallState::Bridged { agent, .. } => Some(*agent),
            CallState::Consulting { consult, .. } | CallState::Conference { consult, .. } => {
                Some(consult.agent)
            }
            _ => None,
        }
    }

    /// The consultation under way, if any.
    pub(crate) fn consult(&self) -> Option<Consult> {
        match self {
            CallState::Consulting { consult, .. } | CallState::Conference { consult, .. } => {
                Some(*consult)
            }
            _ => None,
        }
    }

    /// Hold and mute of a call with an agent.
    pub(crate) fn talk(&self) -> Option<Talk> {
        match self {
            CallState::Bridged { talk, .. }
            | CallState::Consulting { talk, .. }
            | CallState::Conference { talk, .. } => Some(*talk),
            _ => None,
        }
    }

    pub(crate) fn talk_mut(&mut self) -> Option<&mut Talk> {
        match self {
            CallState::Bridged { talk, .. }
            | CallState::Consulting { talk, .. }
            | CallState::Conference { talk, .. } => Some(talk),
            _ => None,
        }
    }

    /// Waiting with music: in a queue, or while a transfer rings.
    pub(crate) fn waits(&self) -> bool {
        matches!(self, CallState::Queued(_) | CallState::Transferring)
    }

    /// As the live API shows it.
    pub(crate) fn live(&self) -> LiveState {
        match self {
            CallState::Bridged { .. }
            | CallState::Consulting { .. }
            | CallState::Conference { .. } => LiveState::Talking,
            CallState::Queued(_) | CallState::Transferring | CallState::CallingBack { .. } => {
                LiveState::Waiting
            }
            _ => LiveState::Ivr,
        }
    }
}
