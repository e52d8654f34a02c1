//! Agent legs: the ACD's offers become INVITEs to agents' phones, the first answer is
//! bridged to the waiting caller, and media is relayed between the two legs (transcoding
//! PCMU and PCMA when they differ, RFC 4733 events passed through).

use super::control::FeatureKeys;
use super::transfer::Purpose;
use super::{renegotiate, Control, Engine, EngineEvent, MediaRequest, PortUse, RtpQueue, Side};
use crate::call::CallId;
use sb_acd::{AcdAction, AgentId};
use sb_media::dtmf::{digit_from_info, Rfc4733Receiver};
use sb_media::negotiate::{accept_answer, offer, Codec, Direction, LocalMedia, Negotiated};
use sb_media::prompt::FRAME;
use sb_media::{g711, RtpSession, SessionDescription};
use sb_sip::dialog::DialogId;
use sb_sip::transaction::TxId;
use sb_sip::{OutgoingCall, Peer};
use sb_sip_msg::{Method, NameAddr, Request, Response, Uri};
use sb_types::vocab::{ConsultStep, EndReason, LegFailure};
use std::net::SocketAddr;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u64);

/// A leg the engine calls out on: to an agent the ACD offers the call to, a transfer
/// target, or a colleague an agent consults. `agent` is the extension it rings.
#[derive(Debug)]
pub(super) struct AgentLeg {
    pub(super) call: CallId,
    pub(super) agent: AgentId,
    pub(super) purpose: Purpose,
    contact: Uri,
    flow: Peer,
    pub(super) port: Option<u16>,
    pub(super) tx: Option<TxId>,
    pub(super) dialog: Option<DialogId>,
    our_sdp: Option<SessionDescription>,
    media: Option<Negotiated>,
    rtp: Option<RtpSession>,
    /// Answered and talking (to the patient, or to the agent who consults).
    pub(super) connected: bool,
    /// Transfer and consultation legs ring until then.
    pub(super) ring_until: Option<Instant>,
    /// The agent's second line while consulting a colleague, and whether the agent talks
    /// on it now (otherwise to the patient, after a swap).
    pub(super) consult: Option<LegId>,
    pub(super) on_consult: bool,
    /// Its phone transferred the patient by REFER and waits, on the line, for the outcome.
    pub(super) referred: bool,
    /// The agent's keys (RFC 4733), for feature codes.
    rfc4733: Rfc4733Receiver,
    pub(super) keys: FeatureKeys,
}

impl AgentLeg {
    /// Media packets refused from strangers on this leg.
    pub(super) fn strangers(&self) -> u64 {
        self.rtp.as_ref().map_or(0, |r| r.strangers_dropped)
    }
}

fn transcode(from: Codec, to: Codec, payload: &[u8], out: &mut [u8; FRAME * 2]) -> usize {
    let n = payload.len().min(out.len());
    for (o, b) in out.iter_mut().zip(&payload[..n]) {
        *o = match (from, to) {
            (Codec::Pcmu, Codec::Pcma) => g711::ulaw_to_alaw(*b),
            (Codec::Pcma, Codec::Pcmu) => g711::alaw_to_ulaw(*b),
            _ => *b,
        };
    }
    n
}

impl Engine {
    /// Carries out what the ACD decided.
    pub(super) fn run_acd(&mut self, now: Instant) {
        while let Some(e) = self.acd.poll_event() {
            self.events.push_back(EngineEvent::Acd(e));
        }
        while let Some(a) = self.acd.poll_action() {
            match a {
                AcdAction::Offer { call, agent } => self.offer_to(now, call, agent),
                AcdAction::CancelOffer { call, agent } => self.withdraw(now, call, &agent),
                AcdAction::Connect { call, agent } => self.bridge(now, call, &agent),
                AcdAction::Overflow {
                    call, queue, to, ..
                } => {
                    self.events.push_back(EngineEvent::Overflowed {
                        call,
                        queue,
                        to: to.clone(),
                    });
                    // The operator group takes the overflow; with nowhere to go, the patient
                    // is offered a callback.
                    match to {
                        Some(q) => {
                            if let Some(c) = self.calls.get_mut(&call) {
                                c.queue = Some((q.clone(), 0));
                            }
                            self.acd.handle_enqueue(now, call, &q, 0);
                        }
                        None => self.offer_callback(now, call),
                    }
                }
            }
        }
    }

    fn offer_to(&mut self, now: Instant, call: CallId, agent: AgentId) {
        if self.new_leg(now, call, &agent.0, Purpose::Offer).is_none() {
            self.acd.handle_offer_failed(now, call, &agent);
            return;
        }
        self.events.push_back(EngineEvent::Offered {
            call,
            agent: agent.0,
        });
    }

    /// Starts calling `extension` for `call` (a port first, then the INVITE); `None` when
    /// its phone is not registered. Transfer and consultation legs ring for
    /// `transfer_ring` at most; the ACD times its own offers.
    pub(super) fn new_leg(
        &mut self,
        now: Instant,
        call: CallId,
        extension: &str,
        purpose: Purpose,
    ) -> Option<LegId> {
        let (contact, flow) = self
            .sip
            .location()
            .lookup(extension, now)
            .first()
            .map(|b| (b.contact.uri.clone(), b.flow))?;
        let id = LegId(self.next_leg);
        self.next_leg += 1;
        let ring_until = (purpose != Purpose::Offer).then(|| now + self.cfg.transfer_ring);
        if let Some(t) = ring_until {
            self.leg_due.push(t, id);
            // An agent rung for a transfer or a consultation gets no ACD offer meanwhile.
            self.acd
                .handle_other_call(now, &AgentId(extension.to_string()), true);
            self.run_acd(now);
        }
        self.legs.insert(
            id,
            AgentLeg {
                call,
                agent: AgentId(extension.to_string()),
                purpose,
                contact,
                flow,
                port: None,
                tx: None,
                dialog: None,
                our_sdp: None,
                media: None,
                rtp: None,
                connected: false,
                ring_until,
                consult: None,
                on_consult: false,
                referred: false,
                rfc4733: Rfc4733Receiver::default(),
                keys: FeatureKeys::default(),
            },
        );
        self.media.push_back(MediaRequest::OpenLeg(id));
        Some(id)
    }

    /// The runtime bound `port` for an agent leg: ring the agent's phone.
    pub fn handle_leg_media_opened(&mut self, now: Instant, id: LegId, port: u16) {
        let realm = self.sip.realm().to_string();
        let Some(leg) = self.legs.get_mut(&id) else {
            self.media.push_back(MediaRequest::Close(port));
            return;
        };
        leg.port = Some(port);
        self.ports.insert(port, PortUse::Leg(id));
        let local = LocalMedia {
            addr: self.cfg.media_ip,
            port,
            codecs: self.cfg.codecs.clone(),
            session_id: 1_000_000 + id.0,
            session_version: 1,
        };
        let sdp = offer(&local, Direction::SendRecv);
        leg.our_sdp = Some(sdp.clone());
        let from = NameAddr::parse(&format!("\"Hospital\" <sip:queue@{realm}>"))
            .unwrap_or_else(|_| NameAddr::new(leg.contact.clone()));
        let to = NameAddr::parse(&format!("<sip:{}@{realm}>", leg.agent.0))
            .unwrap_or_else(|_| NameAddr::new(leg.contact.clone()));
        let out = OutgoingCall {
            uri: leg.contact.clone(),
            peer: leg.flow,
            from,
            to,
            sdp: sdp.to_bytes(),
        };
        let tx = self.sip.invite(now, out);
        if let Some(leg) = self.legs.get_mut(&id) {
            leg.tx = Some(tx);
        }
        self.leg_by_tx.insert(tx, id);
    }

    pub fn handle_leg_media_failed(&mut self, now: Instant, id: LegId) {
        self.leg_failed(now, id, 503, LegFailure::NoMediaPort);
    }

    pub(super) fn on_leg_answered(
        &mut self,
        now: Instant,
        tx: TxId,
        dialog: DialogId,
        resp: &Response,
    ) {
        let Some(&id) = self.leg_by_tx.get(&tx) else {
            // Answered after we gave up (a CANCEL crossed the 200): hang that phone up.
            self.sip.send_in_dialog(now, &dialog, Method::Bye);
            self.sip.forget_outgoing(tx);
            return;
        };
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        let neg = SessionDescription::parse(&resp.body)
            .ok()
            .zip(leg.our_sdp.as_ref())
            .and_then(|(ans, ours)| accept_answer(ours, &ans).ok());
        leg.dialog = Some(dialog.clone());
        self.leg_by_dialog.insert(dialog.clone(), id);
        let Some(neg) = neg else {
            // An answer we cannot use (no SDP, no common codec): hang that phone up and
            // treat it as not answered, so the offer, transfer or consultation moves on.
            self.sip.send_in_dialog(now, &dialog, Method::Bye);
            return self.leg_failed(now, id, 488, LegFailure::UnusableAnswer);
        };
        let seed = self.seed ^ (id.0 << 20) ^ 0xA6E7;
        leg.rtp = Some(RtpSession::new(now, seed, neg.remote).with_sip_source(leg.flow.addr.ip()));
        leg.media = Some(neg);
        leg.ring_until = None;
        let (call, agent) = (leg.call, leg.agent.clone());
        match leg.purpose.clone() {
            Purpose::Offer => {
                if !self.acd.handle_answered(now, call, &agent) {
                    // The offer was withdrawn meanwhile (the caller left, another agent
                    // was faster).
                    self.drop_leg(now, id, true);
                }
                self.run_acd(now);
            }
            Purpose::Transfer { .. } => self.transfer_answered(now, id),
            Purpose::Consult { agent } => self.consult_answered(now, id, agent),
            Purpose::Direct => {
                // The extension dialled picked up: now the caller's INVITE is answered.
                if let Some(port) = self.calls.get(&call).and_then(|c| c.local_port) {
                    self.answer_call(now, call, port);
                }
                self.bridge_leg(call, id);
            }
        }
    }

    pub(super) fn on_leg_failed(&mut self, now: Instant, tx: TxId, status: u16) {
        let Some(id) = self.leg_by_tx.remove(&tx) else {
            return;
        };
        self.leg_failed(now, id, status, LegFailure::Refused);
    }

    /// A leg that will not be answered (refused with `status`, unreachable, no port, rang
    /// too long).
    fn leg_failed(&mut self, now: Instant, id: LegId, status: u16, reason: LegFailure) {
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        let (call, agent, purpose) = (leg.call, leg.agent.clone(), leg.purpose.clone());
        self.drop_leg(now, id, false);
        match purpose {
            Purpose::Offer => {
                self.acd.handle_offer_failed(now, call, &agent);
                self.run_acd(now);
            }
            Purpose::Transfer { then } => self.transfer_failed(now, call, &agent.0, then, reason),
            Purpose::Consult { agent: from } => {
                self.consult_over(now, call, from, &agent.0, ConsultStep::Failed)
            }
            Purpose::Direct => {
                // The caller hears why: busy, declined; no answer or no phone is 480.
                let status = if (400..700).contains(&status) && status != 408 && status != 487 {
                    status
                } else {
                    480
                };
                self.end_call(now, call, status, EndReason::callee(reason), Side::Engine)
            }
        }
    }

    /// A transfer or consultation leg rang for `transfer_ring`: give it up.
    pub(super) fn ring_timeout(&mut self, now: Instant, id: LegId) {
        let due = self
            .legs
            .get(&id)
            .filter(|l| l.dialog.is_none())
            .and_then(|l| l.ring_until);
        if due.is_some_and(|t| t <= now) {
            if let Some(tx) = self.legs.get(&id).and_then(|l| l.tx) {
                self.sip.cancel(now, tx);
            }
            self.leg_failed(now, id, 480, LegFailure::NoAnswer);
        }
    }

    /// The ACD withdrew an offer: stop the phone ringing.
    fn withdraw(&mut self, now: Instant, call: CallId, agent: &AgentId) {
        let found = self
            .legs
            .iter()
            .find(|(_, l)| l.call == call && l.agent == *agent && !l.connected)
            .map(|(id, _)| *id);
        if let Some(id) = found {
            self.hang_up_leg(now, id);
        }
    }

    /// Ends a leg whatever its state: CANCEL while it rings, BYE once answered.
    pub(super) fn hang_up_leg(&mut self, now: Instant, id: LegId) {
        if let Some(tx) = self
            .legs
            .get(&id)
            .filter(|l| l.dialog.is_none())
            .and_then(|l| l.tx)
        {
            self.sip.cancel(now, tx);
        }
        self.drop_leg(now, id, true);
    }

    /// Forgets a leg, hanging it up first if its dialog is up.
    pub(super) fn drop_leg(&mut self, now: Instant, id: LegId, bye: bool) {
        let Some(leg) = self.legs.remove(&id) else {
            return;
        };
        if leg.purpose != Purpose::Offer {
            self.acd.handle_other_call(now, &leg.agent, false);
            // Free again: the ACD may offer them a waiting patient.
            self.run_acd(now);
        }
        if let Some(d) = &leg.dialog {
            if bye {
                self.sip.send_in_dialog(now, d, Method::Bye);
            }
            self.leg_by_dialog.remove(d);
        }
        if let Some(tx) = leg.tx {
            self.leg_by_tx.remove(&tx);
        }
        if let Some(rtp) = leg.rtp.as_ref().filter(|_| leg.connected) {
            self.events
                .push_back(EngineEvent::media_quality(leg.call, Side::Agent, rtp));
        }
        if let Some(p) = leg.port {
            self.ports.remove(&p);
            self.media.push_back(MediaRequest::Close(p));
        }
        if self.bridged.get(&leg.call) == Some(&id) {
            self.bridged.remove(&leg.call);
        }
    }

    fn bridge(&mut self, _now: Instant, call: CallId, agent: &AgentId) {
        let found = self
            .legs
            .iter()
            .find(|(_, l)| l.call == call && l.agent == *agent && l.purpose == Purpose::Offer)
            .map(|(id, _)| *id);
        if let Some(id) = found {
            self.bridge_leg(call, id);
        }
    }

    /// The patient talks to leg `id` from now on: their waiting music stops, and the leg's
    /// audio is relayed to them.
    pub(super) fn bridge_leg(&mut self, call: CallId, id: LegId) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        leg.connected = true;
        let agent = leg.agent.0.clone();
        self.rebase(id);
        if let Some(c) = self.calls.get_mut(&call) {
            c.on_hold = false;
            c.playlist.clear();
            c.playing = false;
            c.next_tick = None;
            if let Some(rtp) = c.rtp.as_mut() {
                rtp.end_relay();
            }
        }
        self.bridged.insert(call, id);
        self.events.push_back(EngineEvent::Bridged { call, agent });
    }

    /// One frame of silence to leg `id`'s phone (its agent holds the patient), unless the
    /// agent talks to a colleague on it meanwhile.
    pub(super) fn leg_silence(&mut self, now: Instant, id: LegId) {
        if self
            .legs
            .get(&id)
            .is_some_and(|l| l.connected && !l.on_consult)
        {
            send_frame(&mut self.legs, &mut self.rtp_out, now, id, |c, f| {
                f.copy_from_slice(super::silence(c))
            });
        }
    }

    /// What leg `id` relays to its phone comes from another party now: its timestamps are
    /// re-based so the phone sees one continuous stream.
    pub(super) fn rebase(&mut self, id: LegId) {
        if let Some(rtp) = self.legs.get_mut(&id).and_then(|l| l.rtp.as_mut()) {
            rtp.end_relay();
        }
    }

    /// The caller's call ended: whatever agent legs it had go too.
    pub(super) fn release_agents(&mut self, now: Instant, call: CallId) {
        let acd_call = call;
        if self.acd.is_waiting(acd_call) {
            self.acd.handle_abandon(now, acd_call);
        }
        if self.acd.connected_to(acd_call).is_some() {
            self.acd.handle_call_ended(now, acd_call);
        }
        let legs: Vec<LegId> = self
            .legs
            .iter()
            .filter(|(_, l)| l.call == call)
            .map(|(id, _)| *id)
            .collect();
        for id in legs {
            self.hang_up_leg(now, id);
        }
        self.run_acd(now);
    }

    /// A request inside an agent leg's dialog.
    pub(super) fn on_leg_request(
        &mut self,
        now: Instant,
        dialog: &DialogId,
        tx: Option<TxId>,
        req: Request,
    ) {
        let Some(&id) = self.leg_by_dialog.get(dialog) else {
            return;
        };
        match (&req.method, tx) {
            (Method::Bye, _) => {
                self.leg_by_dialog.remove(dialog);
                let Some(l) = self.legs.get_mut(&id) else {
                    return;
                };
                l.dialog = None;
                let (call, purpose, consult) = (l.call, l.purpose.clone(), l.consult);
                let who = l.agent.0.clone();
                let consultee_up =
                    consult.is_some_and(|c| self.legs.get(&c).is_some_and(|l| l.connected));
                if let Purpose::Consult { agent } = purpose {
                    // The colleague hung up: the agent is back with the patient.
                    self.drop_leg(now, id, false);
                    return self.consult_over(now, call, agent, &who, ConsultStep::Ended);
                }
                if self.bridged.get(&call) != Some(&id) {
                    // A leg the patient no longer talks to (already transferred away).
                    return self.drop_leg(now, id, false);
                }
                if consultee_up {
                    // The agent hung up while the colleague was on the line: the colleague
                    // takes the patient, as on any switchboard.
                    let _ = self.consult_complete(now, call, Control::Phone);
                    return self.drop_leg(now, id, false);
                }
                // The agent hung up: the patient's call ends with the standard BYE.
                self.acd.handle_call_ended(now, call);
                self.drop_leg(now, id, false);
                self.hang_up(now, call, EndReason::AgentHungUp, Side::Agent);
            }
            (Method::Refer, Some(tx)) => self.on_refer(now, id, tx, &req),
            (Method::Invite | Method::Update, Some(tx)) => self.on_leg_reoffer(now, id, tx, &req),
            (Method::Info, Some(tx)) => {
                // A key the agent pressed, signalled in SIP (feature codes).
                let ct = req.headers.get("Content-Type").unwrap_or_default();
                let key = digit_from_info(ct, &req.body);
                self.sip.respond(now, tx, 200, |b| b);
                if let Some(d) = key {
                    self.agent_key(now, id, d);
                }
            }
            (_, Some(tx)) => self.sip.respond(now, tx, 200, |b| b),
            _ => {}
        }
    }

    /// A re-INVITE or UPDATE from the agent's phone (hold, refresh, a new address),
    /// renegotiated on the leg's own port.
    fn on_leg_reoffer(&mut self, now: Instant, id: LegId, tx: TxId, req: &Request) {
        let (media_ip, codecs) = (self.cfg.media_ip, self.cfg.codecs.clone());
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        let (Some(port), Some(ours)) = (leg.port, leg.our_sdp.as_ref()) else {
            return self.sip.respond(now, tx, 488, |b| b);
        };
        let local = LocalMedia {
            addr: media_ip,
            port,
            codecs,
            session_id: ours.session_id,
            session_version: ours.session_version + 1,
        };
        let outcome = renegotiate(now, req, &local, &mut leg.media, leg.rtp.as_mut());
        if let Ok(sdp) = &outcome {
            leg.our_sdp = Some(sdp.clone());
        }
        // The phone's own hold: it offered sendonly or inactive, so we send it nothing.
        let phone_holds = outcome.is_ok()
            && !req.body.is_empty()
            && leg.media.as_ref().is_some_and(|m| !m.direction.sends());
        let (call, connected) = (leg.call, leg.connected);
        self.answer_reoffer(now, tx, outcome);
        if connected {
            let by_phone = self
                .calls
                .get(&call)
                .is_some_and(|c| c.held_by == Some(Control::Phone));
            if phone_holds {
                self.set_hold(now, call, true, Control::Phone);
            } else if by_phone {
                self.set_hold(now, call, false, Control::Phone);
            }
        }
    }

    /// RTP from the caller while bridged: on to the agent's phone.
    pub(super) fn caller_rtp_to_agent(
        &mut self,
        now: Instant,
        id: CallId,
        leg_id: LegId,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        let (Some(call), Some(leg)) = (self.calls.get_mut(&id), self.legs.get_mut(&leg_id)) else {
            return;
        };
        let (Some(crtp), Some(cmedia)) = (call.rtp.as_mut(), call.media.as_ref()) else {
            return;
        };
        let pkt = match crtp.on_packet(now, from, bytes) {
            Ok(p) => p,
            Err(why) => {
                self.events
                    .extend(EngineEvent::refused(id, Side::Caller, from, crtp, why));
                return;
            }
        };
        if let Some(mix) = call.mix.as_mut() {
            if pkt.payload_type == cmedia.codec.payload_type() {
                mix.push(super::conference::PATIENT, cmedia.codec, pkt.payload);
            }
            return;
        }
        if call.held_by.is_some() {
            // On hold: the agent hears nothing of the patient.
            return;
        }
        let (Some(lrtp), Some(lmedia), Some(port)) =
            (leg.rtp.as_mut(), leg.media.as_ref(), leg.port)
        else {
            return;
        };
        relay(now, &pkt, cmedia, lmedia, lrtp, port, &mut self.rtp_out);
    }

    /// RTP from an agent's phone: on to the caller once bridged.
    pub(super) fn leg_rtp(&mut self, now: Instant, leg_id: LegId, from: SocketAddr, bytes: &[u8]) {
        let Some(leg) = self.legs.get_mut(&leg_id) else {
            return;
        };
        let (Some(lrtp), Some(lmedia)) = (leg.rtp.as_mut(), leg.media.as_ref()) else {
            return;
        };
        let pkt = match lrtp.on_packet(now, from, bytes) {
            Ok(p) => p,
            Err(why) => {
                self.events
                    .extend(EngineEvent::refused(leg.call, Side::Agent, from, lrtp, why));
                return;
            }
        };
        if !leg.connected {
            return;
        }
        let dtmf = Some(pkt.payload_type) == lmedia.dtmf_pt;
        // The patient's call, looked up once: the mix, the bridge and the relay need it.
        let mut call = self.calls.get_mut(&leg.call);
        if pkt.payload_type == lmedia.codec.payload_type() {
            // A three-way call: the voice goes to the mix.
            let mix = call.as_mut().and_then(|c| c.mix.as_mut());
            if let Some((mix, party)) = mix.and_then(|m| m.party_of(leg_id).map(|p| (m, p))) {
                mix.push(party, lmedia.codec, pkt.payload);
                return;
            }
        }
        // Who hears this leg: the colleague and the consulting agent hear each other;
        // otherwise the leg talks to the patient.
        let to_leg = match leg.purpose {
            Purpose::Consult { agent } if !dtmf => Some(agent),
            Purpose::Consult { .. } => return,
            _ if leg.on_consult && !dtmf => leg.consult,
            _ => None,
        };
        if let Some(to) = to_leg {
            let from_media = lmedia.clone();
            let back = leg_id;
            let Some(other) = self.legs.get_mut(&to) else {
                return;
            };
            let talking = match other.purpose {
                Purpose::Consult { .. } => other.connected,
                _ => other.on_consult && other.consult == Some(back),
            };
            if let (true, Some(rtp), Some(media), Some(port)) = (
                talking,
                other.rtp.as_mut(),
                other.media.as_ref(),
                other.port,
            ) {
                relay(now, &pkt, &from_media, media, rtp, port, &mut self.rtp_out);
            }
            return;
        }
        if dtmf {
            // The agent's keys are feature codes, never relayed to the patient.
            let key = leg.rfc4733.on_packet(pkt.timestamp, pkt.payload);
            if let Some(d) = key {
                self.agent_key(now, leg_id, d);
            }
            return;
        }
        if self.bridged.get(&leg.call) != Some(&leg_id) {
            return;
        }
        let Some(call) = call else {
            return;
        };
        if call.held_by.is_some() || call.muted {
            // Held (the patient hears music) or muted: the agent's voice stops here.
            return;
        }
        let (Some(crtp), Some(cmedia), Some(port)) =
            (call.rtp.as_mut(), call.media.as_ref(), call.local_port)
        else {
            return;
        };
        relay(now, &pkt, lmedia, cmedia, crtp, port, &mut self.rtp_out);
    }
}

/// One packet across the bridge: audio transcoded when the laws differ, RFC 4733 events
/// passed through when the other side takes them, anything else dropped.
fn relay(
    now: Instant,
    pkt: &sb_media::rtp::Incoming<'_>,
    from: &Negotiated,
    to: &Negotiated,
    rtp: &mut RtpSession,
    port: u16,
    out: &mut RtpQueue,
) {
    // A leg on hold (we are recvonly or inactive towards it) gets nothing.
    if !to.direction.sends() {
        return;
    }
    let Some(dest) = rtp.remote() else { return };
    let mut scratch = [0u8; FRAME * 2];
    let (pt, payload): (u8, &[u8]) = if pkt.payload_type == from.codec.payload_type() {
        let n = transcode(from.codec, to.codec, pkt.payload, &mut scratch);
        (to.codec.payload_type(), &scratch[..n])
    } else if let (true, Some(pt)) = (Some(pkt.payload_type) == from.dtmf_pt, to.dtmf_pt) {
        (pt, pkt.payload)
    } else {
        return;
    };
    let locked = rtp.locked(now);
    out.push(port, dest, locked, |buf| {
        rtp.write_relayed(buf, pt, pkt.marker, pkt.timestamp, payload)
    });
}

/// One mixed frame to leg `id`'s phone, in its codec (a three-way call).
pub(super) fn send_pcm(
    legs: &mut super::IdMap<LegId, AgentLeg>,
    out: &mut RtpQueue,
    now: Instant,
    id: LegId,
    pcm: &[i16; FRAME],
) {
    send_frame(legs, out, now, id, |c, f| c.encode(pcm, f));
}

/// One 20 ms frame the engine makes (`fill` writes it in the leg's codec) to leg `id`'s
/// phone. A free function over the legs, so a patient's call may stay borrowed meanwhile.
fn send_frame(
    legs: &mut super::IdMap<LegId, AgentLeg>,
    out: &mut RtpQueue,
    now: Instant,
    id: LegId,
    fill: impl FnOnce(Codec, &mut [u8; FRAME]),
) {
    let Some(leg) = legs.get_mut(&id) else {
        return;
    };
    let (Some(rtp), Some(media), Some(port)) = (leg.rtp.as_mut(), leg.media.as_ref(), leg.port)
    else {
        return;
    };
    let codec = media.codec;
    match (rtp.remote(), media.direction.sends()) {
        (Some(to), true) => {
            let mut frame = [0u8; FRAME];
            fill(codec, &mut frame);
            let locked = rtp.locked(now);
            out.push(port, to, locked, |buf| {
                rtp.write_packet(buf, codec.payload_type(), false, &frame, FRAME as u32)
            });
        }
        _ => rtp.skip(FRAME as u32),
    }
}
