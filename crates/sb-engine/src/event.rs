//! What the engine reports: every step of every call, for the logs, the event stream and
//! the call records. Each field that names a kind of thing is an enum of the vocabulary
//! (`sb_types::vocab`), with a stable name.

use sb_media::dtmf::Source;
use sb_types::pii::Redacted;
use sb_types::vocab::{
    CallDirection, ConsultStep, Control, EndReason, LegFailure, OutboundPurpose, ServiceOutcome,
    Side, TransferKind,
};
use sb_types::CallId;
use std::net::SocketAddr;

/// What a call from or to the phone network adds to its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outside {
    /// The trunk it came in on (a call out names its trunks in [`EngineEvent::TrunkAttempt`]).
    pub trunk: Option<String>,
    /// The hospital number (DID) a patient's call came to, normalised.
    pub did: Option<String>,
    /// The caller withheld their number.
    pub withheld: bool,
    /// Why a call went out.
    pub purpose: Option<OutboundPurpose>,
}

/// What happened, for the logs, the event stream and the call records. Every variant that
/// concerns a call names it by `call`.
#[derive(Debug)]
pub enum EngineEvent {
    /// What the SIP endpoint reported (registrations, challenge outcomes, malformed input).
    Sip(sb_sip::Event),
    /// A call was taken: `dialled` is the number called, `caller` the caller's user
    /// (redacted in logs), `sip_call_id` the caller's Call-ID.
    CallStarted {
        /// The call.
        call: CallId,
        /// The number called.
        dialled: String,
        /// The caller's number (redacted when printed).
        caller: Redacted<String>,
        /// The caller's SIP Call-ID.
        sip_call_id: String,
        /// `inbound` (a patient's call to a hospital number), `internal` (an extension
        /// calling another), `service` (an agent's service code) or `outbound` (an extension
        /// calling out to the phone network).
        direction: CallDirection,
        /// For a call from or to the phone network: the trunk, the hospital number, why.
        outside: Option<Box<Outside>>,
    },
    /// One attempt of a call out on a trunk ended: answered (200) or failed with the
    /// carrier's status and Reason (RFC 3326, a Q.850 cause).
    TrunkAttempt {
        /// The call.
        call: CallId,
        /// The trunk.
        trunk: String,
        /// The final status (200: answered; 408: no answer in time).
        status: u16,
        /// The Reason header, when the carrier gave one.
        cause: Option<String>,
        /// Another trunk is tried next.
        failover: bool,
    },
    /// A call that would have reached the phone network, or come from it to where it may
    /// not go, was refused (toll-fraud protection; a security event).
    OutsideRefused {
        /// Who tried: an extension, or a trunk's name.
        by: String,
        /// The number tried (redacted when printed).
        dialled: Redacted<String>,
        /// Why.
        why: &'static str,
        /// The status it was refused with.
        status: u16,
    },
    /// The caller's INVITE was answered; our media is on `rtp_port`.
    CallAnswered {
        /// The call.
        call: CallId,
        /// Our media port for the caller's leg.
        rtp_port: u16,
    },
    /// The dialplan entered `node` (`flow/node`).
    Ivr {
        /// The call.
        call: CallId,
        /// The node, as `flow/node`.
        node: String,
    },
    /// The dialplan set variable `var` to `value` (a tag, the media source, the language).
    Tag {
        /// The call.
        call: CallId,
        /// The variable.
        var: String,
        /// Its value.
        value: String,
    },
    /// The caller pressed `digit`, signalled by `source` (each key once).
    Digit {
        /// The call.
        call: CallId,
        /// The key.
        digit: char,
        /// How it was signalled.
        source: Source,
    },
    /// The call joined `queue`.
    Queued {
        /// The call.
        call: CallId,
        /// The queue.
        queue: String,
    },
    /// The call is being transferred: `to` rings while the patient hears music. `from` is
    /// the agent who transferred it (`ivr` for a dialplan's transfer); `kind` is `ivr`,
    /// `blind`, `attended`, or `back` (an unanswered transfer returning to `to`).
    Transfer {
        /// The call.
        call: CallId,
        /// Who transferred it: an agent's extension, or `ivr`.
        from: String,
        /// Who rings now.
        to: String,
        /// What kind of transfer it is.
        kind: TransferKind,
        /// How the agent asked for it; `None` for a transfer coming back.
        by: Option<Control>,
    },
    /// The transfer target did not answer (or could not be reached).
    TransferFailed {
        /// The call.
        call: CallId,
        /// The target that did not answer.
        to: String,
        /// Why.
        reason: LegFailure,
    },
    /// The agent's consultation with a colleague while the patient waits on hold: `step`
    /// is `ringing`, `answered`, `failed`, `swapped_to_patient`, `swapped_to_colleague` or
    /// `ended`.
    Consult {
        /// The call.
        call: CallId,
        /// The agent's extension.
        agent: String,
        /// The colleague consulted.
        to: String,
        /// Which step.
        step: ConsultStep,
    },
    /// The call is over: why, and who ended it.
    CallEnded {
        /// The call.
        call: CallId,
        /// Why it ended.
        reason: EndReason,
        /// Who ended it.
        by: Side,
    },
    /// What a leg's receiver measured (RFC 3550 §6.4.1), when the leg goes.
    MediaQuality {
        /// The call.
        call: CallId,
        /// Whose leg.
        side: Side,
        /// Fraction of the packets expected that never came.
        loss: f64,
        /// Interarrival jitter (RFC 3550 §6.4.1), in milliseconds.
        jitter_ms: f64,
        /// Packets refused from strangers (not the leg's peer) over the leg's life.
        strangers: u64,
        /// Packets expected from the peer (by sequence number) and of those, never come.
        expected: u64,
        /// See `expected`.
        lost: u64,
    },
    /// The first packet refused on a leg from a source that is not its peer (a media
    /// hijack attempt, or a phone whose NAT the rules could not learn): logged once per
    /// leg under the `security` target; the count is in `MediaQuality`.
    MediaRefused {
        /// The call.
        call: CallId,
        /// Whose leg.
        side: Side,
        /// Where the refused packet came from.
        from: SocketAddr,
    },
    /// What the ACD reports: ring times, answers within three rings, overflows, pauses.
    Acd(sb_acd::AcdEvent),
    /// The ACD offered the call to an agent (their phone rings).
    Offered {
        /// The call.
        call: CallId,
        /// The agent whose phone rings.
        agent: String,
    },
    /// The agent answered: caller and agent are bridged.
    Bridged {
        /// The call.
        call: CallId,
        /// The agent (or extension) the patient talks to now.
        agent: String,
    },
    /// The agent put the patient on hold (music) or took them off it.
    Hold {
        /// The call.
        call: CallId,
        /// On (true) or off.
        on: bool,
        /// Where the change came from.
        by: Control,
    },
    /// The agent muted themselves towards the patient, or unmuted.
    Mute {
        /// The call.
        call: CallId,
        /// On (true) or off.
        on: bool,
        /// Where the change came from.
        by: Control,
    },
    /// The ACD moved the call out of `queue`: to `to`, or, with nowhere to go, to a
    /// callback offer.
    Overflowed {
        /// The call.
        call: CallId,
        /// The queue it left.
        queue: String,
        /// The queue it went to; `None`: nowhere (a callback is offered).
        to: Option<String>,
    },
    /// An agent dialled a service code (login, logout, pause, unpause); `outcome` is the
    /// confirmation prompt they hear (`agent-failed` when it could not be done).
    AgentService {
        /// The call.
        call: CallId,
        /// The agent's extension.
        agent: String,
        /// How it went.
        outcome: ServiceOutcome,
    },
    /// Overflowed with nowhere to go: the patient is offered a callback.
    CallbackOffered {
        /// The call.
        call: CallId,
    },
    /// The patient pressed 1 for a callback, keeping their place.
    CallbackRequested {
        /// The call.
        call: CallId,
        /// The queue.
        queue: String,
    },
    /// A callback call works the callback the patient asked for on call `item`: waiting in
    /// the queue for an agent (try `attempt`, counting from 1).
    CallbackStarted {
        /// The callback call.
        call: CallId,
        /// The call the patient asked on.
        item: CallId,
        /// Which try this is, from 1.
        attempt: u32,
    },
    /// The patient answered the callback: `waited_ms` since they asked.
    CallbackReached {
        /// The callback call.
        call: CallId,
        /// The call the patient asked on.
        item: CallId,
        /// From the request to the patient answering: the callback's own service measure.
        waited_ms: u64,
    },
    /// The callback for `item` is tried again at `at_ms` (Unix ms): the patient was not
    /// reached, or the callbacks' hours are closed.
    CallbackDeferred {
        /// The call the patient asked on.
        item: CallId,
        /// When it is tried next (Unix ms).
        at_ms: i64,
        /// Times the patient's phone was dialled so far.
        tries: u32,
    },
    /// The callback for `item` is closed: the patient reached, or every try spent (it goes
    /// to the worklist).
    CallbackClosed {
        /// The call the patient asked on.
        item: CallId,
        /// Reached, on the worklist, or called again.
        outcome: sb_types::vocab::CallbackOutcome,
        /// Times the patient's phone was dialled.
        tries: u32,
    },
    /// A patient who hung up after waiting `waited_ms` in `queue` is to be called back
    /// (abandoned-call recovery): call `item` becomes a callback item.
    CallbackRecovered {
        /// The abandoned call.
        item: CallId,
        /// The queue they left.
        queue: String,
        /// How long they waited.
        waited_ms: u64,
    },
    /// The agent left and the patient hears the satisfaction survey, about `agent` (in
    /// `queue`).
    SurveyOffered {
        /// The call.
        call: CallId,
        /// The agent the patient talked to.
        agent: Option<String>,
    },
    /// The patient's answer to the survey: 1 (very dissatisfied) to 5 (very satisfied), or
    /// none keyed in time.
    SurveyAnswered {
        /// The call.
        call: CallId,
        /// The score.
        score: Option<u8>,
    },
    /// A call refused before it was taken (404, 400, 488, 503): no call exists for it.
    Rejected {
        /// The number called.
        dialled: String,
        /// The caller's number (redacted when printed).
        caller: Redacted<String>,
        /// The status the INVITE was refused with.
        status: u16,
    },
}
