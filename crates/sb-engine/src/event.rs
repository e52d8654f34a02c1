//! What the engine reports: every step of every call, for the logs, the event stream and
//! the call records. Each field that names a kind of thing is an enum of the vocabulary
//! (`sb_types::vocab`), with a stable name.

use sb_media::dtmf::Source;
use sb_types::pii::Redacted;
use sb_types::vocab::{
    CallDirection, ConsultStep, Control, EndReason, LegFailure, ServiceOutcome, Side, TransferKind,
};
use sb_types::CallId;
use std::net::SocketAddr;

/// What happened, for the logs, the events stream and (later) the call records.
#[derive(Debug)]
pub enum EngineEvent {
    Sip(sb_sip::Event),
    CallStarted {
        call: CallId,
        dialled: String,
        caller: Redacted<String>,
        sip_call_id: String,
        /// `inbound` (a patient's call to a hospital number), `internal` (an extension
        /// calling another) or `service` (an agent's service code).
        direction: CallDirection,
    },
    CallAnswered {
        call: CallId,
        rtp_port: u16,
    },
    Ivr {
        call: CallId,
        node: String,
    },
    Tag {
        call: CallId,
        var: String,
        value: String,
    },
    Digit {
        call: CallId,
        digit: char,
        source: Source,
    },
    Queued {
        call: CallId,
        queue: String,
    },
    /// The call is being transferred: `to` rings while the patient hears music. `from` is
    /// the agent who transferred it (`ivr` for a dialplan's transfer); `kind` is `ivr`,
    /// `blind`, `attended`, or `back` (an unanswered transfer returning to `to`).
    Transfer {
        call: CallId,
        from: String,
        to: String,
        kind: TransferKind,
        /// How the agent asked for it; `None` for a transfer coming back.
        by: Option<Control>,
    },
    /// The transfer target did not answer (or could not be reached).
    TransferFailed {
        call: CallId,
        to: String,
        reason: LegFailure,
    },
    /// The agent's consultation with a colleague while the patient waits on hold: `step`
    /// is `ringing`, `answered`, `failed`, `swapped_to_patient`, `swapped_to_colleague` or
    /// `ended`.
    Consult {
        call: CallId,
        agent: String,
        to: String,
        step: ConsultStep,
    },
    CallEnded {
        call: CallId,
        reason: EndReason,
        by: Side,
    },
    /// What a leg's receiver measured (RFC 3550 §6.4.1), when the leg goes.
    MediaQuality {
        call: CallId,
        side: Side,
        /// Fraction of the packets expected that never came.
        loss: f64,
        jitter_ms: f64,
        /// Packets refused from strangers (not the leg's peer) over the leg's life.
        strangers: u64,
    },
    /// The first packet refused on a leg from a source that is not its peer (a media
    /// hijack attempt, or a phone whose NAT the rules could not learn): logged once per
    /// leg under the `security` target; the count is in `MediaQuality`.
    MediaRefused {
        call: CallId,
        side: Side,
        from: SocketAddr,
    },
    /// What the ACD reports: ring times, answers within three rings, overflows, pauses.
    Acd(sb_acd::AcdEvent),
    /// The ACD offered the call to an agent (their phone rings).
    Offered {
        call: CallId,
        agent: String,
    },
    /// The agent answered: caller and agent are bridged.
    Bridged {
        call: CallId,
        agent: String,
    },
    /// The agent put the patient on hold (music) or took them off it.
    Hold {
        call: CallId,
        on: bool,
        by: Control,
    },
    /// The agent muted themselves towards the patient, or unmuted.
    Mute {
        call: CallId,
        on: bool,
        by: Control,
    },
    Overflowed {
        call: CallId,
        queue: String,
        to: Option<String>,
    },
    /// An agent dialled a service code (login, logout, pause, unpause); `outcome` is the
    /// confirmation prompt they hear (`agent-failed` when it could not be done).
    AgentService {
        call: CallId,
        agent: String,
        outcome: ServiceOutcome,
    },
    /// Overflowed with nowhere to go: the patient is offered a callback.
    CallbackOffered {
        call: CallId,
    },
    /// The patient pressed 1 for a callback, keeping their place.
    CallbackRequested {
        call: CallId,
        queue: String,
    },
    Rejected {
        dialled: String,
        caller: Redacted<String>,
        status: u16,
    },
}
