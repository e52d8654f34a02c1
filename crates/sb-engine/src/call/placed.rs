//! A call the switchboard places itself (an operator's "call this extension" in the
//! console, or the control API): the phone of the extension placing it rings first, as if
//! it had dialled; once it answers it hears ringback while the one dialled rings, and the
//! two are bridged when that one answers. The first leg is then one the switchboard called
//! out on (it sent the INVITE), where a call that came in has the caller's INVITE to
//! answer; from the answer on, it is a call between extensions (or out through a carrier)
//! like any other.

use super::leg::{Leg, LegId, Role};
use super::state::CallState;
use super::{AcdInput, Call, Callee, Ctx, Output};
use crate::event::{EngineEvent, Outside};
use sb_acd::AgentId;
use sb_sip::Peer;
use sb_sip_msg::Uri;
use sb_types::vocab::{CallDirection, EndReason, LegFailure, Side};
use sb_types::CallId;
use std::time::{Duration, Instant};

/// What a placed call keeps of its placing.
#[derive(Debug)]
pub(crate) struct Placed {
    /// The Call-ID the first INVITE carries (its records name it from the start); taken
    /// when that INVITE is built.
    pub(crate) call_id: Option<String>,
    /// A keep-my-place callback: its first leg is the patient's, rung once an agent has
    /// answered.
    pub(crate) callback: Option<super::callback::CallbackOf>,
}

/// What the router knows of a call it places.
pub(crate) struct PlaceCall {
    pub(crate) id: CallId,
    /// The extension placing the call, and its phone's registered contact and flow.
    pub(crate) from: String,
    pub(crate) contact: Uri,
    pub(crate) flow: Peer,
    /// Who is dialled once that phone answers.
    pub(crate) callee: Callee,
    /// As the records show it: the extension, or the outside number normalised.
    pub(crate) dialled: String,
    pub(crate) sip_call_id: String,
    pub(crate) tick_phase: usize,
    /// A call out to the phone network: how the records describe it.
    pub(crate) outside: Option<Box<Outside>>,
    /// How long the placing extension's phone may ring.
    pub(crate) ring: Duration,
}

impl Call {
    /// A call the switchboard places: a port for the placing phone's leg, then its INVITE.
    pub(crate) fn place(p: PlaceCall, now: Instant, language: &str) -> Call {
        let direction = match p.callee {
            Callee::Outside(_) => CallDirection::Outbound,
            Callee::Extension(_) => CallDirection::Internal,
        };
        let mut first = Leg::outgoing(LegId::CALLER, Role::Caller, &p.from, p.contact, p.flow);
        first.ring_until = Some(now + p.ring);
        let mut call = Call::with_first_leg(
            p.id,
            &p.from,
            &p.dialled,
            first,
            CallState::Setup { ivr: None },
            language.to_string(),
            p.tick_phase,
        );
        call.callee = Some(p.callee);
        call.placed = Some(Placed {
            call_id: Some(p.sip_call_id.clone()),
            callback: None,
        });
        call.event(EngineEvent::CallStarted {
            call: p.id,
            dialled: p.dialled,
            caller: sb_types::pii::Redacted(p.from.clone()),
            sip_call_id: p.sip_call_id,
            direction,
            outside: p.outside,
        });
        // Busy for the ACD until they hang up, as when they dial themselves.
        call.acd(AcdInput::OtherCall {
            agent: AgentId(p.from),
            busy: true,
        });
        call.out.push_back(Output::OpenPort { leg: LegId::CALLER });
        call
    }

    /// Whether the switchboard placed this call.
    pub(crate) fn is_placed(&self) -> bool {
        self.placed.is_some()
    }

    /// The Call-ID for the INVITE on leg `id`: the one the records name, for the placing
    /// phone's.
    pub(super) fn placed_call_id(&mut self, id: LegId) -> Option<String> {
        if id != LegId::CALLER {
            return None;
        }
        self.placed.as_mut().and_then(|p| p.call_id.take())
    }

    /// The placing phone answered: it hears ringback while the one dialled rings.
    pub(super) fn placed_answered(&mut self, now: Instant, ctx: &Ctx<'_>) {
        let port = self.caller_leg().port.unwrap_or_default();
        self.event(EngineEvent::CallAnswered {
            call: self.id,
            rtp_port: port,
        });
        self.start_ticking(ctx, now);
        if let Err(reason) = self.ring_callee(now, ctx) {
            self.hang_up(reason, Side::Engine);
        }
    }

    /// The placing phone will not answer (refused, rang out, no port): the call ends.
    pub(super) fn placed_failed(&mut self, failure: LegFailure) {
        let reason = match failure {
            LegFailure::NoMediaPort => EndReason::NoMediaPort,
            _ if self.callback_of().is_some() => EndReason::CallbackNotReached,
            _ => EndReason::PlacerNotAnswered,
        };
        self.end(0, reason, Side::Engine);
    }

    /// A placed call whose first phone still rings: stop it ringing.
    pub(super) fn cancel_placing(&mut self) {
        if self.placed.is_none() || self.caller_leg().dialog.is_some() {
            return;
        }
        if let Some(tx) = self.caller_leg().tx {
            self.out.push_back(Output::Cancel { tx });
        }
    }

    /// Whether the placing phone hears ringback now: answered, the one dialled ringing.
    pub(super) fn hears_ringback(&self) -> bool {
        self.placed.is_some() && matches!(self.state, CallState::Dialling { .. })
    }

    /// Whether leg `id` is the agent waiting on the line while a callback rings the patient.
    pub(super) fn waits_for_patient(&self, id: LegId) -> bool {
        matches!(self.state, CallState::CallingBack { agent } if agent == id)
    }
}
