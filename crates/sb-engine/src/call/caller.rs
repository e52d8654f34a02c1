//! The caller's leg: its port and the answer to its INVITE (or, for a call between
//! extensions, the wait for the one dialled), and what comes in its dialog afterwards: the
//! late offer's answer in the ACK, keys in INFO, re-INVITEs and UPDATEs, the hangup.

use super::leg::Role;
use super::state::CallState;
use super::{AcdInput, Call, Callee, Ctx, Output, Reply};
use crate::control::check_agent_command;
use crate::event::EngineEvent;
use sb_media::dtmf::Source;
use sb_media::negotiate::{accept_answer, answer, offer, Direction, LocalMedia};
use sb_media::{Negotiated, RtpSession, SessionDescription};
use sb_sip::dialog::DialogId;
use sb_sip::transaction::TxId;
use sb_sip_msg::{Method, Request};
use sb_types::vocab::{EndReason, ServiceOutcome, Side};
use sb_types::AgentId;
use std::time::Instant;

/// Why a re-offer was refused.
pub(super) enum Refusal {
    /// 488 with this Warning (RFC 3261 §20.43).
    Unusable(&'static str),
    /// 400: the SDP does not parse.
    Malformed,
}

/// The offer/answer of a re-INVITE or UPDATE on one leg (RFC 3264 §8): our answer to its
/// offer, applied to the leg's media and remote address; or, when it carried none, a fresh
/// offer of ours (the answer then comes in the ACK).
pub(super) fn renegotiate(
    now: Instant,
    req: &Request,
    local: &LocalMedia,
    media: &mut Option<Negotiated>,
    rtp: Option<&mut RtpSession>,
) -> Result<SessionDescription, Refusal> {
    if req.body.is_empty() {
        return Ok(offer(local, Direction::SendRecv));
    }
    let theirs = SessionDescription::parse(&req.body).map_err(|_| Refusal::Malformed)?;
    let (sdp, neg) = answer(&theirs, local).map_err(|e| Refusal::Unusable(e.warning()))?;
    if let Some(rtp) = rtp {
        if rtp.remote() != neg.remote {
            rtp.set_remote(now, neg.remote);
        }
    }
    *media = Some(neg);
    Ok(sdp)
}

/// An UPDATE with no offer: a session refresh (RFC 4028), answered 200 with no SDP (RFC
/// 3311 §5.2: an answer only goes with an offer).
pub(super) fn is_bare_update(req: &Request) -> bool {
    req.method == Method::Update && req.body.is_empty()
}

/// The reply to a re-offer: 200 with our SDP, or the refusal.
pub(super) fn reoffer_reply(outcome: &Result<SessionDescription, Refusal>) -> Reply {
    match outcome {
        Ok(sdp) => Reply::sdp(200, sdp),
        Err(Refusal::Unusable(warning)) => Reply::status(488).header("Warning", *warning),
        Err(Refusal::Malformed) => Reply::status(400).reason("Malformed SDP"),
    }
}

impl Call {
    /// The caller's leg has its port: answer (or, between extensions, ring the one dialled).
    pub(super) fn caller_port(&mut self, now: Instant, ctx: &Ctx<'_>, port: u16) {
        let id = self.id;
        let local = ctx.local_media(port, id.0, 1);
        let leg = self.caller_leg_mut();
        leg.port = Some(port);
        let sdp = match &leg.offer {
            Some(o) => match answer(o, &local) {
                Ok((sdp, neg)) => {
                    leg.media = Some(neg);
                    sdp
                }
                // Checked when the INVITE came; cannot change since.
                Err(_) => return self.end(488, EndReason::NoCommonCodec, Side::Engine),
            },
            None => offer(&local, Direction::SendRecv),
        };
        let seed = ctx.seed ^ id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let remote = leg.media.as_ref().and_then(|m| m.remote);
        leg.rtp = Some(RtpSession::new(now, seed, remote).with_sip_source(leg.flow.addr.ip()));
        leg.tones = leg
            .media
            .as_ref()
            .filter(|m| m.dtmf_pt.is_none())
            .map(|_| Box::default());
        leg.our_sdp = Some(sdp);
        let tx = leg.tx;
        if self.callee.is_some() {
            // A call between extensions (or out) is answered when the one dialled answers.
            match (self.ring_callee(now, ctx), tx) {
                (Ok(()), Some(tx)) => self.respond(tx, Reply::status(180)),
                (Ok(()), None) => {}
                (Err(reason), _) => {
                    let status = if reason == EndReason::NoTrunk {
                        503
                    } else {
                        480
                    };
                    self.end(status, reason, Side::Engine);
                }
            }
            return;
        }
        self.answer_caller();
    }

    /// Rings the one a call between extensions (or out through a carrier) dialled: the
    /// on-duty number rings the first person on duty with a phone. The call is `Dialling`
    /// until it answers; `Err` says why nobody could be rung.
    pub(super) fn ring_callee(&mut self, now: Instant, ctx: &Ctx<'_>) -> Result<(), EndReason> {
        match self.callee.clone() {
            Some(Callee::Outside(route)) => {
                self.dial_out(now, ctx, Role::Outside, route)
                    .ok_or(EndReason::NoTrunk)?;
            }
            Some(Callee::Extension(callee)) => {
                ctx.resolve(now, &callee)
                    .and_then(|t| self.new_leg(now, ctx, &t, Role::Direct))
                    .ok_or(EndReason::ExtensionNotRegistered)?;
            }
            None => return Ok(()),
        }
        self.set_state(CallState::Dialling { answered: None });
        Ok(())
    }

    /// 200 OK with our SDP to the caller; the router forms the dialog.
    pub(super) fn answer_caller(&mut self) {
        if let Some(sdp) = self.caller_leg().our_sdp.as_ref() {
            let sdp = sdp.to_bytes();
            self.out.push_back(Output::Answer { sdp });
        }
    }

    /// The caller's 200 OK went out in dialog `dialog`: the dialplan starts (or the service
    /// code is carried out, or the one dialled is bridged).
    pub(crate) fn on_answered(&mut self, now: Instant, ctx: &Ctx<'_>, dialog: DialogId) {
        let wall = ctx.wall(now);
        self.caller_leg_mut().dialog = Some(dialog);
        self.start_ticking(ctx, now);
        let port = self.caller_leg().port.unwrap_or_default();
        let mut actions = Vec::new();
        let mut bridge = None;
        match std::mem::replace(&mut self.state, CallState::Transferring) {
            CallState::Setup { ivr: Some(mut s) } => {
                actions = s.start(wall);
                self.state = CallState::Ivr(s);
            }
            CallState::Dialling { answered } => {
                bridge = answered;
                self.state = CallState::Dialling { answered };
            }
            // A service code (the state it takes is set with it, below).
            other => self.state = other,
        }
        self.event(EngineEvent::CallAnswered {
            call: self.id,
            rtp_port: port,
        });
        if let Some(cmd) = self.service.take() {
            self.agent_service(ctx, cmd);
        }
        if let Some(leg) = bridge {
            self.bridge_leg(leg);
        }
        self.apply_ivr(now, ctx, actions);
    }

    /// No dialog could be formed for the caller's 200 OK.
    pub(crate) fn on_no_dialog(&mut self) {
        self.end(0, EndReason::NoDialog, Side::Engine);
    }

    /// An agent's service code, answered: carry it out, say how it went, hang up.
    fn agent_service(&mut self, ctx: &Ctx<'_>, cmd: Option<crate::control::AgentCommand>) {
        let agent = AgentId(self.caller.clone());
        let outcome = match cmd {
            Some(cmd) => {
                let done = match &cmd {
                    crate::control::AgentCommand::Login(_) => ServiceOutcome::LoggedIn,
                    crate::control::AgentCommand::Logout => ServiceOutcome::LoggedOut,
                    crate::control::AgentCommand::Pause(_) => ServiceOutcome::Paused,
                    crate::control::AgentCommand::Unpause => ServiceOutcome::Unpaused,
                };
                match check_agent_command(ctx.acd, &agent, &cmd) {
                    Ok(()) => {
                        self.acd(AcdInput::Command {
                            agent: agent.clone(),
                            cmd,
                        });
                        done
                    }
                    Err(_) => ServiceOutcome::Failed,
                }
            }
            None => ServiceOutcome::Failed,
        };
        self.play(ctx, super::features::service_prompt(outcome));
        self.set_state(CallState::Closing {
            reason: EndReason::ServiceCodeDone,
            by: Side::Engine,
        });
        self.event(EngineEvent::AgentService {
            call: self.id,
            agent: agent.0,
            outcome,
        });
    }

    /// A request in the caller's dialog.
    pub(super) fn caller_request(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        tx: Option<TxId>,
        req: &Request,
    ) {
        match (&req.method, tx) {
            (Method::Bye, _) => self.end(0, EndReason::CallerHungUp, Side::Caller),
            (Method::Ack, None) => self.late_answer(now, req),
            (Method::Info, Some(tx)) => {
                let ct = req.headers.get("Content-Type").unwrap_or_default();
                match sb_media::dtmf::digit_from_info(ct, &req.body) {
                    Some(d) => {
                        self.respond(tx, Reply::status(200));
                        self.on_digit(now, ctx, d, Source::Info);
                    }
                    None => self.respond(
                        tx,
                        Reply::status(415)
                            .header("Accept", "application/dtmf-relay, application/dtmf"),
                    ),
                }
            }
            (Method::Invite | Method::Update, Some(tx)) => self.caller_reoffer(now, ctx, tx, req),
            (_, Some(tx)) => self.respond(tx, Reply::status(501)),
            _ => {}
        }
    }

    /// A late offer's answer comes in the ACK (RFC 3264 §5, RFC 3261 §13.2.1). Our 200
    /// carried the offer: the ACK must bring a usable answer, or the call has no media path
    /// and is ended at once with a BYE.
    fn late_answer(&mut self, now: Instant, req: &Request) {
        let leg = self.caller_leg_mut();
        if leg.media.is_some() || leg.our_sdp.is_none() {
            return;
        }
        let neg = SessionDescription::parse(&req.body)
            .ok()
            .zip(leg.our_sdp.as_ref())
            .and_then(|(ans, ours)| accept_answer(ours, &ans).ok());
        match neg {
            Some(neg) => {
                if let Some(rtp) = leg.rtp.as_mut() {
                    rtp.set_remote(now, neg.remote);
                }
                leg.tones = neg.dtmf_pt.is_none().then(Box::default);
                leg.media = Some(neg);
            }
            None if req.body.is_empty() => self.hang_up(EndReason::NoSdpAnswer, Side::Engine),
            None => self.hang_up(EndReason::UnusableSdpAnswer, Side::Engine),
        }
    }

    /// A re-INVITE or UPDATE from the caller: session refresh, hold, a new address.
    fn caller_reoffer(&mut self, now: Instant, ctx: &Ctx<'_>, tx: TxId, req: &Request) {
        if is_bare_update(req) {
            return self.respond(tx, Reply::status(200));
        }
        let id = self.id;
        let leg = self.caller_leg_mut();
        let Some(port) = leg.port else {
            return self.respond(tx, Reply::status(491));
        };
        let version = leg
            .our_sdp
            .as_ref()
            .map(|s| s.session_version + 1)
            .unwrap_or(2);
        // The session keeps the id it was offered or answered with (RFC 4566 §5.2).
        let session = leg.our_sdp.as_ref().map_or(id.0, |s| s.session_id);
        let local = ctx.local_media(port, session, version);
        let outcome = renegotiate(now, req, &local, &mut leg.media, leg.rtp.as_mut());
        if let Ok(sdp) = &outcome {
            leg.our_sdp = Some(sdp.clone());
        }
        self.respond(tx, reoffer_reply(&outcome));
    }
}
