//! What the store keeps: one record per call, its events, the offers to agents, transfers
//! and agents' state changes; and the operations that put them there. Every operation is
//! idempotent and safe in any order against the others of the same call, so one replayed
//! from the journal after the database already has it changes nothing.

use sb_types::vocab::{CallDirection, TransferKind};
use serde::{Deserialize, Serialize};

/// How a call ended, for the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Still going (the row of a call in progress).
    InProgress,
    /// An agent answered.
    Answered,
    /// The caller left the queue after the short-abandon threshold.
    Abandoned,
    /// The caller left the queue sooner: a misdial or a change of mind.
    ShortAbandon,
    /// The queue sent the call elsewhere (the operator group).
    Overflowed,
    /// The caller chose to be called back.
    CallbackRequested,
    /// The IVR played the after-hours message.
    AfterHours,
    /// Handed to an extension or outside number.
    TransferredOut,
    /// Refused before answer (no flow for the number, unusable SDP, no media port).
    Blocked,
    /// Ended in the IVR without reaching a queue.
    IvrOnly,
    /// The engine stopped while the call was up; closed at the next start.
    Interrupted,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::InProgress => "in_progress",
            Disposition::Answered => "answered",
            Disposition::Abandoned => "abandoned",
            Disposition::ShortAbandon => "short_abandon",
            Disposition::Overflowed => "overflowed",
            Disposition::CallbackRequested => "callback_requested",
            Disposition::AfterHours => "after_hours",
            Disposition::TransferredOut => "transferred_out",
            Disposition::Blocked => "blocked",
            Disposition::IvrOnly => "ivr_only",
            Disposition::Interrupted => "interrupted",
        }
    }
}

/// Who ended the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Caller,
    Agent,
    System,
}

impl Party {
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Caller => "caller",
            Party::Agent => "agent",
            Party::System => "system",
        }
    }
}

/// One call, as the `calls` table holds it. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Unique across engine runs: `<run>-<n>`.
    pub call_id: String,
    /// How the call came (stored by its stable name).
    pub direction: CallDirection,
    /// In full: callbacks dial it. Reports mask it unless asked.
    pub caller: String,
    pub dialled: String,
    pub media_source: Option<String>,
    pub region: Option<String>,
    pub language: Option<String>,
    /// The IVR nodes the call went through, `>`-separated.
    pub ivr_path: String,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub started_ms: i64,
    pub queued_ms: Option<i64>,
    pub first_offer_ms: Option<i64>,
    pub answered_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    /// From joining the queue to answer, or to leaving it.
    pub wait_ms: Option<i64>,
    /// How long the answering agent's phone rang, and in whole ring cycles begun.
    pub ring_ms: Option<i64>,
    pub rings: Option<i64>,
    pub within_rings: Option<bool>,
    pub disposition: Disposition,
    pub hangup_by: Option<Party>,
    pub hold_ms: i64,
    pub mute_ms: i64,
    pub wrapup_ms: i64,
    pub caller_loss: Option<f64>,
    pub caller_jitter_ms: Option<f64>,
    pub agent_loss: Option<f64>,
    pub agent_jitter_ms: Option<f64>,
    /// Media packets refused from strangers on the patient's leg, and on the agents' legs.
    pub caller_strangers: i64,
    pub agent_strangers: i64,
    /// Comma-separated, sorted: `complaint,appointment`.
    pub tags: String,
    /// The trunk a patient's call came in on, or the one that carried a call out.
    #[serde(default)]
    pub trunk: Option<String>,
    /// The hospital number (DID) a call from the network came to.
    #[serde(default)]
    pub did: Option<String>,
    /// The caller withheld their number (`caller` is then empty).
    #[serde(default)]
    pub withheld: bool,
    /// Why a call went out: dialled, transfer, callback, follow_up.
    #[serde(default)]
    pub purpose: Option<String>,
    /// The last failure a carrier answered a call out with, and its Reason (Q.850).
    #[serde(default)]
    pub carrier_status: Option<i64>,
    #[serde(default)]
    pub carrier_cause: Option<String>,
    /// When the patient began to hear the satisfaction survey (the agent had left).
    #[serde(default)]
    pub survey_ms: Option<i64>,
    /// What they keyed: 1 (very dissatisfied) to 5 (very satisfied).
    #[serde(default)]
    pub survey_score: Option<i64>,
}

impl CallRecord {
    pub fn new(call_id: String, started_ms: i64) -> CallRecord {
        CallRecord {
            call_id,
            direction: CallDirection::Inbound,
            caller: String::new(),
            dialled: String::new(),
            media_source: None,
            region: None,
            language: None,
            ivr_path: String::new(),
            queue: None,
            agent: None,
            started_ms,
            queued_ms: None,
            first_offer_ms: None,
            answered_ms: None,
            ended_ms: None,
            wait_ms: None,
            ring_ms: None,
            rings: None,
            within_rings: None,
            disposition: Disposition::InProgress,
            hangup_by: None,
            hold_ms: 0,
            mute_ms: 0,
            wrapup_ms: 0,
            caller_loss: None,
            caller_jitter_ms: None,
            agent_loss: None,
            agent_jitter_ms: None,
            caller_strangers: 0,
            agent_strangers: 0,
            tags: String::new(),
            trunk: None,
            did: None,
            withheld: false,
            purpose: None,
            carrier_status: None,
            carrier_cause: None,
            survey_ms: None,
            survey_score: None,
        }
    }
}

/// One line of a call's event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEvent {
    pub seq: i64,
    pub at_ms: i64,
    /// joined, offered, ring_no_answer, answered, escalated, overflowed, abandoned, held,
    /// muted, transferred, tagged, ivr, ended...
    pub kind: String,
    pub agent: Option<String>,
    pub detail: Option<String>,
}

/// One offer of the call to an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferRow {
    pub seq: i64,
    pub agent: String,
    pub offered_ms: i64,
    pub rang_ms: i64,
    /// answered, no_answer, withdrawn (another agent answered or the caller left), failed.
    pub outcome: String,
    pub within_rings: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferRow {
    pub seq: i64,
    pub at_ms: i64,
    pub from_party: String,
    pub to_party: String,
    pub kind: TransferKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStateRow {
    pub run: String,
    pub seq: i64,
    pub agent: String,
    pub at_ms: i64,
    /// available, offered, on_call, wrap_up, paused, unavailable.
    pub state: String,
    pub reason: Option<String>,
    /// The state this one ends and since when: its time goes to the agent's figures.
    #[serde(default)]
    pub prev_state: Option<String>,
    #[serde(default)]
    pub prev_since_ms: Option<i64>,
}

/// What the writer does to the database. Each is idempotent (see the module comment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// The call exists: inserted unless it already is.
    Begin(CallRecord),
    /// The last known state of a call in progress; ignored once the call has ended.
    Progress(CallRecord),
    /// The call ended: the record replaces whatever was there; its log rows are added.
    End {
        record: CallRecord,
        events: Vec<CallEvent>,
        offers: Vec<OfferRow>,
        transfers: Vec<TransferRow>,
    },
    AgentState(AgentStateRow),
    /// How a keep-my-place callback is going: applied to the callback list's row of the
    /// call the patient asked on (after that call's end in the same batch).
    Callback(CallbackProgress),
}

/// A callback's progress (see [`Op::Callback`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackProgress {
    /// The call the patient asked on.
    pub call_id: String,
    /// `pending`, `reached` or `worklist`.
    pub status: String,
    pub attempts: i64,
    pub next_ms: Option<i64>,
    pub reached_ms: Option<i64>,
    pub at_ms: i64,
    /// For a request the list does not hold yet (an abandoned call to be called back):
    /// the number and queue; the request's time is `at_ms`.
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub queue: Option<String>,
}
