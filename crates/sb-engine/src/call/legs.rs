//! The legs the switchboard calls out on: the ACD's offers become INVITEs to agents'
//! phones, the first answer is bridged to the waiting caller; transfer, consultation and
//! direct legs ring for a while and are given up. What comes in their dialogs (the hangup,
//! a REFER, a re-INVITE, keys in INFO) is handled here too.

use super::caller::{is_bare_update, renegotiate, reoffer_reply};
use super::leg::{Leg, LegId, Role};
use super::state::CallState;
use super::{AcdInput, Call, Ctx, Output, Reply};
use crate::event::EngineEvent;
use sb_acd::AgentId;
use sb_media::dtmf::digit_from_info;
use sb_media::negotiate::{accept_answer, offer, Direction};
use sb_media::{RtpSession, SessionDescription};
use sb_sip::dialog::DialogId;
use sb_sip::transaction::TxId;
use sb_sip::OutgoingCall;
use sb_sip_msg::{Method, NameAddr, Request, Response};
use sb_types::vocab::{ConsultStep, Control, EndReason, LegFailure, Side};
use std::time::Instant;

impl Call {
    /// The ACD offers the call to `agent`: their phone rings.
    pub(super) fn offer_to(&mut self, now: Instant, ctx: &Ctx<'_>, agent: AgentId) {
        if self.new_leg(now, ctx, &agent.0, Role::Offer).is_none() {
            self.acd(AcdInput::OfferFailed { agent });
            return;
        }
        self.event(EngineEvent::Offered {
            call: self.id,
            agent: agent.0,
        });
    }

    /// Starts calling `extension` (a port first, then the INVITE); `None` when its phone
    /// is not registered. Transfer, consultation and direct legs ring for `transfer_ring`
    /// at most; the ACD times its own offers.
    pub(super) fn new_leg(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        extension: &str,
        role: Role,
    ) -> Option<LegId> {
        let (contact, flow) = ctx
            .sip
            .location()
            .lookup(extension, now)
            .first()
            .map(|b| (b.contact.uri.clone(), b.flow))?;
        let id = LegId(self.next_leg);
        self.next_leg += 1;
        let mut leg = Leg::outgoing(id, role, extension, contact, flow);
        if leg.role != Role::Offer {
            leg.ring_until = Some(now + ctx.cfg.transfer_ring);
            // An agent rung for a transfer or a consultation gets no ACD offer meanwhile.
            self.acd(AcdInput::OtherCall {
                agent: AgentId(extension.to_string()),
                busy: true,
            });
        }
        self.legs.push(leg);
        self.out.push_back(Output::OpenPort { leg: id });
        Some(id)
    }

    /// The seed of leg `id`'s RTP session (its SSRC and first sequence number).
    pub(super) fn leg_seed(&self, ctx: &Ctx<'_>, id: LegId) -> u64 {
        ctx.seed ^ (self.id.0 << 32) ^ (id.0 << 20) ^ 0xA6E7
    }

    /// Leg `id` has its port: ring the phone.
    pub(super) fn leg_port(&mut self, ctx: &Ctx<'_>, id: LegId, port: u16) {
        let realm = ctx.sip.realm().to_string();
        let session = 1_000_000 + self.id.0 * 1_000 + id.0;
        let local = ctx.local_media(port, session, 1);
        // The phone placing a call shows whom it is about to call; an agent offered a
        // callback, whom for (masked); others, the hospital.
        let call_id = self.placed_call_id(id);
        let from = match (&call_id, self.callback_of()) {
            (Some(_), None) => format!("\"{0}\" <sip:{0}@{realm}>", self.dialled),
            (None, Some(_)) => format!(
                "\"Callback {}\" <sip:queue@{realm}>",
                sb_types::pii::mask_number(&self.caller)
            ),
            _ => format!("\"Hospital\" <sip:queue@{realm}>"),
        };
        let Some(leg) = self.leg_mut(id) else {
            return;
        };
        leg.port = Some(port);
        if leg.trunk.is_some() {
            if let Some(mut call) = self.trunk_invite(ctx, id, &local) {
                call.call_id = call_id;
                self.out.push_back(Output::Invite {
                    leg: id,
                    call: Box::new(call),
                });
            }
            return;
        }
        let sdp = offer(&local, Direction::SendRecv);
        let Some(contact) = leg.contact.as_deref().cloned() else {
            return;
        };
        leg.our_sdp = Some(sdp.clone());
        let from = NameAddr::parse(&from).unwrap_or_else(|_| NameAddr::new(contact.clone()));
        let to = NameAddr::parse(&format!("<sip:{}@{realm}>", leg.party))
            .unwrap_or_else(|_| NameAddr::new(contact.clone()));
        let call = OutgoingCall {
            uri: contact,
            peer: leg.flow,
            from,
            to,
            sdp: sdp.to_bytes(),
            headers: Vec::new(),
            credentials: None,
            call_id,
        };
        self.out.push_back(Output::Invite {
            leg: id,
            call: Box::new(call),
        });
    }

    /// The phone on leg `id` answered (the router has indexed `dialog`).
    pub(super) fn leg_answered(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        id: LegId,
        dialog: DialogId,
        resp: &Response,
    ) {
        let seed = self.leg_seed(ctx, id);
        let Some(leg) = self.leg_mut(id) else {
            return;
        };
        let neg = match SessionDescription::parse(&resp.body) {
            Ok(ans) => leg
                .our_sdp
                .as_ref()
                .and_then(|ours| accept_answer(ours, &ans).ok()),
            // The answer came with early media already (RFC 3261 §13.2.1: the 200 may
            // repeat it or leave it out).
            Err(_) if resp.body.is_empty() => leg.media.take(),
            Err(_) => None,
        };
        leg.dialog = Some(dialog.clone());
        let Some(neg) = neg else {
            // An answer we cannot use (no SDP, no common codec): hang that phone up and
            // treat it as not answered, so the offer, transfer or consultation moves on.
            self.bye(&dialog);
            return self.leg_failed(now, ctx, id, 488, LegFailure::UnusableAnswer);
        };
        match leg.rtp.as_mut() {
            // Early media ran on this RTP session: it goes on, to wherever the answer says.
            Some(rtp) => {
                if rtp.remote() != neg.remote {
                    rtp.set_remote(now, neg.remote);
                }
            }
            None => {
                leg.rtp =
                    Some(RtpSession::new(now, seed, neg.remote).with_sip_source(leg.flow.addr.ip()))
            }
        }
        leg.media = Some(neg);
        leg.ring_until = None;
        if leg.trunk.is_some() {
            self.trunk_answered(ctx, id);
        }
        let Some(leg) = self.leg(id) else {
            return;
        };
        let agent = AgentId(leg.party.clone());
        match leg.role.clone() {
            Role::Offer => self.acd(AcdInput::Answered { agent, leg: id }),
            Role::Transfer { .. } => self.transfer_answered(ctx, id),
            Role::Consult { agent } => self.consult_answered(id, agent),
            Role::Direct | Role::Outside => {
                // The extension (or outside number) dialled picked up: now the caller's
                // INVITE is answered (a placed call's first phone answered already).
                if self.caller_leg().port.is_some() && !self.is_placed() {
                    self.set_state(CallState::Dialling { answered: Some(id) });
                    self.answer_caller();
                } else {
                    self.bridge_leg(id);
                }
            }
            Role::Caller if self.callback_of().is_some() => self.patient_answered(now),
            Role::Caller if self.is_placed() => self.placed_answered(now, ctx),
            Role::Caller => {}
        }
    }

    /// A leg that will not be answered (refused with `status`, unreachable, no port, rang
    /// too long).
    pub(super) fn leg_failed(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        id: LegId,
        status: u16,
        reason: LegFailure,
    ) {
        let Some(leg) = self.leg(id) else {
            return;
        };
        let (role, party, shown) = (leg.role.clone(), leg.party.clone(), leg.shown().to_string());
        self.drop_leg(id, false);
        match role {
            Role::Offer => self.acd(AcdInput::OfferFailed {
                agent: AgentId(party),
            }),
            Role::Transfer { then } => self.transfer_failed(now, ctx, &shown, then, reason),
            Role::Consult { agent } => {
                self.consult_over(now, ctx, agent, &shown, ConsultStep::Failed)
            }
            Role::Direct | Role::Outside if self.is_placed() => {
                self.hang_up(EndReason::callee(reason), Side::Engine)
            }
            Role::Direct | Role::Outside => {
                // The caller hears why: busy, declined; no answer or no phone is 480.
                let status = if (400..700).contains(&status) && status != 408 && status != 487 {
                    status
                } else {
                    480
                };
                self.end(status, EndReason::callee(reason), Side::Engine)
            }
            Role::Caller => self.placed_failed(reason),
        }
    }

    /// A transfer or consultation leg rang for `transfer_ring`: give it up.
    pub(super) fn ring_timeout(&mut self, now: Instant, ctx: &Ctx<'_>, id: LegId) {
        let Some(leg) = self.leg(id) else {
            return;
        };
        if leg.dialog.is_some() || leg.ring_until.is_none_or(|t| t > now) {
            return;
        }
        let silent_carrier = leg.trunk.as_ref().is_some_and(|t| !t.progressed);
        if let Some(tx) = leg.tx {
            self.out.push_back(Output::Cancel { tx });
        }
        if silent_carrier && self.failover(now, ctx, id, 408, None) {
            return;
        }
        self.leg_failed(now, ctx, id, 480, LegFailure::NoAnswer);
    }

    /// The ACD withdrew an offer: stop the phone ringing.
    pub(super) fn withdraw(&mut self, agent: &AgentId) {
        let found = self.legs[1..]
            .iter()
            .find(|l| l.party == agent.0 && !l.connected)
            .map(|l| l.id);
        if let Some(id) = found {
            self.hang_up_leg(id);
        }
    }

    /// Ends a leg whatever its state: CANCEL while it rings, BYE once answered.
    pub(super) fn hang_up_leg(&mut self, id: LegId) {
        if let Some(tx) = self
            .leg(id)
            .filter(|l| l.dialog.is_none())
            .and_then(|l| l.tx)
        {
            self.out.push_back(Output::Cancel { tx });
        }
        self.drop_leg(id, true);
    }

    /// Forgets a leg, hanging it up first (`bye`) if its dialog is up.
    pub(super) fn drop_leg(&mut self, id: LegId, bye: bool) {
        let Some(i) = self
            .legs
            .iter()
            .position(|l| l.id == id && l.id != LegId::CALLER)
        else {
            return;
        };
        let leg = self.legs.remove(i);
        if leg.role != Role::Offer && leg.trunk.is_none() {
            // Free again: the ACD may offer them a waiting patient.
            self.acd(AcdInput::OtherCall {
                agent: AgentId(leg.party.clone()),
                busy: false,
            });
        }
        if let (Some(d), true) = (&leg.dialog, bye) {
            self.bye(d);
        }
        self.out.push_back(Output::LegGone {
            tx: leg.tx,
            dialog: leg.dialog.clone(),
            port: leg.port,
        });
        if leg.connected {
            if let Some(q) = leg.quality(self.id) {
                self.event(q);
            }
        }
        if self.state.agent_leg() == Some(id) {
            // The patient's agent is gone without a hand-over: they wait with music.
            self.set_state(CallState::Transferring);
        }
    }

    /// The ACD connected the patient to `agent`, whose phone answered the offer.
    pub(super) fn connect(&mut self, now: Instant, ctx: &Ctx<'_>, agent: &AgentId) {
        let found = self.legs[1..]
            .iter()
            .find(|l| l.party == agent.0 && l.role == Role::Offer)
            .map(|l| l.id);
        match found {
            // A callback: the agent is on the line; now the patient is dialled.
            Some(id) if self.callback_of().is_some() => {
                if let Some(l) = self.leg_mut(id) {
                    l.connected = true;
                }
                self.call_patient(now, ctx, id);
            }
            Some(id) => self.bridge_leg(id),
            None => {}
        }
    }

    /// The patient talks to leg `id` from now on: their waiting music stops, and the leg's
    /// audio is relayed to them.
    pub(super) fn bridge_leg(&mut self, id: LegId) {
        let talk = self.state.talk().unwrap_or_default();
        let Some(leg) = self.leg_mut(id) else {
            return;
        };
        leg.connected = true;
        leg.rebase();
        let agent = leg.shown().to_string();
        self.playout.stop();
        self.playout.next_tick = None;
        self.caller_leg_mut().rebase();
        self.set_state(CallState::Bridged { agent: id, talk });
        self.event(EngineEvent::Bridged {
            call: self.id,
            agent,
        });
    }

    /// A request in the dialog of leg `id`.
    pub(super) fn leg_request(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        id: LegId,
        tx: Option<TxId>,
        req: &Request,
    ) {
        match (&req.method, tx) {
            (Method::Bye, _) => self.leg_bye(now, ctx, id),
            (Method::Refer, Some(tx)) => self.on_refer(now, ctx, id, tx, req),
            (Method::Invite | Method::Update, Some(tx)) => self.leg_reoffer(now, ctx, id, tx, req),
            (Method::Info, Some(tx)) => {
                // A key the agent pressed, signalled in SIP (feature codes).
                let ct = req.headers.get("Content-Type").unwrap_or_default();
                let key = digit_from_info(ct, &req.body);
                self.respond(tx, Reply::status(200));
                if let Some(d) = key {
                    self.agent_key(now, ctx, id, d);
                }
            }
            (_, Some(tx)) => self.respond(tx, Reply::status(200)),
            _ => {}
        }
    }

    /// The session of leg `id` expired (RFC 4028): hung up with a BYE, then as if its
    /// phone had hung up.
    pub(super) fn leg_expired(&mut self, now: Instant, ctx: &Ctx<'_>, id: LegId) {
        if let Some(d) = self.leg(id).and_then(|l| l.dialog.clone()) {
            self.bye(&d);
        }
        self.leg_bye(now, ctx, id);
    }

    /// The phone on leg `id` hung up.
    fn leg_bye(&mut self, now: Instant, ctx: &Ctx<'_>, id: LegId) {
        let Some(leg) = self.leg_mut(id) else {
            return;
        };
        // Its dialog is over: nothing more is sent on it.
        if let Some(d) = leg.dialog.take() {
            self.out.push_back(Output::LegGone {
                tx: None,
                dialog: Some(d),
                port: None,
            });
        }
        let Some(leg) = self.leg(id) else {
            return;
        };
        let (role, who) = (leg.role.clone(), leg.shown().to_string());
        if let Role::Consult { agent } = role {
            // The colleague hung up: the agent is back with the patient.
            self.drop_leg(id, false);
            return self.consult_over(now, ctx, agent, &who, ConsultStep::Ended);
        }
        if self.waits_for_patient(id) {
            // The agent gave up on a callback while the patient's phone rang.
            self.acd(AcdInput::CallEnded);
            self.drop_leg(id, false);
            return self.hang_up(EndReason::AgentHungUp, Side::Agent);
        }
        if self.state.agent_leg() != Some(id) {
            // A leg the patient no longer talks to (already transferred away).
            return self.drop_leg(id, false);
        }
        let colleague_up = self
            .state
            .consult()
            .and_then(|c| self.leg(c.colleague))
            .is_some_and(|l| l.connected);
        if colleague_up {
            // The agent hung up while the colleague was on the line: the colleague takes
            // the patient, as on any switchboard.
            let _ = self.consult_complete(now, ctx, Control::Phone);
            return self.drop_leg(id, false);
        }
        // The agent hung up: the patient hears the survey where their queue asks it, else
        // the call ends with the standard BYE.
        self.acd(AcdInput::CallEnded);
        let agent = self.leg(id).map(|l| l.party.clone());
        self.drop_leg(id, false);
        if self.survey_due(ctx, agent.as_deref()) {
            return self.start_survey(now, ctx, agent);
        }
        self.hang_up(EndReason::AgentHungUp, Side::Agent);
    }

    /// A re-INVITE or UPDATE from an agent's phone (hold, refresh, a new address),
    /// renegotiated on the leg's own port.
    fn leg_reoffer(&mut self, now: Instant, ctx: &Ctx<'_>, id: LegId, tx: TxId, req: &Request) {
        if is_bare_update(req) {
            return self.respond(tx, Reply::status(200));
        }
        let Some(leg) = self.leg(id) else {
            return;
        };
        let (Some(port), Some(ours)) = (leg.port, leg.our_sdp.as_ref()) else {
            return self.respond(tx, Reply::status(488));
        };
        let local = ctx.local_media(port, ours.session_id, ours.session_version + 1);
        let Some(leg) = self.leg_mut(id) else {
            return;
        };
        let outcome = renegotiate(now, req, &local, &mut leg.media, leg.rtp.as_mut());
        if let Ok(sdp) = &outcome {
            leg.our_sdp = Some(sdp.clone());
        }
        // The phone's own hold: it offered sendonly or inactive, so we send it nothing.
        let phone_holds = outcome.is_ok()
            && !req.body.is_empty()
            && leg.media.as_ref().is_some_and(|m| !m.direction.sends());
        let connected = leg.connected;
        self.respond(tx, reoffer_reply(&outcome));
        if connected {
            let by_phone = self
                .state
                .talk()
                .is_some_and(|t| t.hold == Some(Control::Phone));
            if phone_holds {
                self.set_hold(now, ctx, true, Control::Phone);
            } else if by_phone {
                self.set_hold(now, ctx, false, Control::Phone);
            }
        }
    }
}
