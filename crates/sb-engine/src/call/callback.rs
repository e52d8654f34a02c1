//! A keep-my-place callback: the call that rings a patient back. It starts with no phone
//! ringing, waiting in the queue in the place the patient kept (or, on a retry, at its
//! back); the ACD offers it to an agent like any waiting call, the agent's phone showing
//! it is a callback; once the agent answers, the patient is dialled (through a carrier with
//! the hospital's number, or their extension) and bridged to the agent on answer. Its first
//! leg is the patient's, called out on last: a placed call whose order is reversed.

use super::leg::{Leg, LegId, Role, TrunkLeg};
use super::placed::Placed;
use super::playout::grid_after;
use super::state::{CallState, Queued};
use super::{Call, Ctx, OutRoute, Output, RouteRefusal};
use crate::event::{EngineEvent, Outside};
use sb_sip::Peer;
use sb_sip_msg::Uri;
use sb_types::vocab::{CallDirection, EndReason, OutboundPurpose, Side};
use sb_types::CallId;
use std::time::Instant;

/// What the router knows of a callback it starts.
pub(crate) struct CallbackCall {
    pub(crate) id: CallId,
    /// The call the patient asked on: the callback's item.
    pub(crate) item: CallId,
    /// The patient's number, normalised (personal data).
    pub(crate) number: String,
    pub(crate) queue: String,
    /// When the patient asked: their wait counts from then.
    pub(crate) requested: Instant,
    pub(crate) sip_call_id: String,
    pub(crate) tick_phase: usize,
    pub(crate) language: String,
}

/// How the patient is reached.
#[derive(Debug)]
pub(crate) enum PatientRoute {
    /// Through a carrier.
    Trunk(OutRoute),
    /// A phone of the switchboard's own (a patient who called from an extension).
    Extension(Uri, Peer),
}

/// What a callback keeps of its item.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallbackOf {
    pub(crate) item: CallId,
    pub(crate) requested: Instant,
    /// The patient's phone was dialled.
    pub(crate) dialled: bool,
    /// The patient answered.
    pub(crate) reached: bool,
}

impl Call {
    /// A callback waiting for an agent, no phone ringing yet; the router puts it in the
    /// queue.
    pub(crate) fn callback(c: CallbackCall) -> Call {
        // The patient's leg, called out on once an agent has answered.
        let first = Leg::waiting(LegId::CALLER, Role::Caller, &c.number);
        let mut call = Call::with_first_leg(
            c.id,
            &c.number,
            &c.number,
            first,
            CallState::Queued(Queued {
                queue: c.queue.clone(),
                priority: 0,
                announce_at: None,
                callback_until: None,
                callback_at: None,
            }),
            c.language,
            c.tick_phase,
        );
        call.last_queue = Some((c.queue.clone(), 0));
        call.queued_at = Some(c.requested);
        call.placed = Some(Placed {
            call_id: Some(c.sip_call_id.clone()),
            callback: Some(CallbackOf {
                item: c.item,
                requested: c.requested,
                dialled: false,
                reached: false,
            }),
        });
        call.event(EngineEvent::CallStarted {
            call: c.id,
            dialled: c.number.clone(),
            caller: sb_types::pii::Redacted(c.number),
            sip_call_id: c.sip_call_id,
            direction: CallDirection::Outbound,
            outside: Some(Box::new(Outside {
                trunk: None,
                did: None,
                withheld: false,
                purpose: Some(OutboundPurpose::Callback),
            })),
        });
        call.event(EngineEvent::Queued {
            call: c.id,
            queue: c.queue,
        });
        call
    }

    /// The callback this call works, if it is one.
    pub(crate) fn callback_of(&self) -> Option<CallbackOf> {
        self.placed.as_ref().and_then(|p| p.callback)
    }

    fn callback_mut(&mut self) -> Option<&mut CallbackOf> {
        self.placed.as_mut().and_then(|p| p.callback.as_mut())
    }

    /// The agent on leg `agent` answered the callback: the patient is dialled (the router
    /// finds the way); the agent hears ringback meanwhile.
    pub(super) fn call_patient(&mut self, now: Instant, ctx: &Ctx<'_>, agent: LegId) {
        self.set_state(CallState::CallingBack { agent });
        self.playout.stop();
        self.playout.next_tick = Some(grid_after(ctx.cfg.origin, self.playout.tick_phase, now));
        if let Some(cb) = self.callback_mut() {
            cb.dialled = true;
        }
        self.out.push_back(Output::CallPatient {
            number: self.caller.clone(),
        });
    }

    /// The router's way to the patient (or why there is none).
    pub(crate) fn patient_routed(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        way: Result<PatientRoute, RouteRefusal>,
    ) {
        let leg = match way {
            Ok(PatientRoute::Trunk(route)) => {
                let mut trunks = route.trunks.into_iter();
                trunks.next().and_then(|trunk| {
                    self.trunk_leg_as(
                        now,
                        ctx,
                        LegId::CALLER,
                        Role::Caller,
                        TrunkLeg {
                            trunk,
                            number: route.number,
                            rest: trunks.collect(),
                            progressed: false,
                        },
                    )
                })
            }
            Ok(PatientRoute::Extension(uri, flow)) => {
                let mut leg = Leg::outgoing(LegId::CALLER, Role::Caller, &self.caller, uri, flow);
                leg.ring_until = Some(now + ctx.cfg.outside.ring);
                Some(leg)
            }
            Err(_) => None,
        };
        match leg {
            Some(leg) => {
                self.legs[0] = leg;
                self.out.push_back(Output::OpenPort { leg: LegId::CALLER });
            }
            None => self.hang_up(EndReason::NoTrunk, Side::Engine),
        }
    }

    /// The patient answered: bridged to the agent waiting on the line.
    pub(super) fn patient_answered(&mut self, now: Instant) {
        let CallState::CallingBack { agent } = self.state else {
            return;
        };
        let port = self.caller_leg().port.unwrap_or_default();
        let Some(cb) = self.callback_mut() else {
            return;
        };
        cb.reached = true;
        let (item, requested) = (cb.item, cb.requested);
        self.event(EngineEvent::CallAnswered {
            call: self.id,
            rtp_port: port,
        });
        self.event(EngineEvent::CallbackReached {
            call: self.id,
            item,
            waited_ms: now.saturating_duration_since(requested).as_millis() as u64,
        });
        self.bridge_leg(agent);
    }

    /// The callback is over: the router learns whether the patient was reached.
    pub(super) fn callback_over(&mut self) {
        if let Some(cb) = self.callback_of() {
            self.out.push_back(Output::CallbackDone {
                item: cb.item,
                dialled: cb.dialled,
                reached: cb.reached,
            });
        }
    }
}
