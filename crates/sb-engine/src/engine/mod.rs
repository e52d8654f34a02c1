//! The engine: answers calls to the hospital's numbers, runs the IVR on them and carries
//! their media. Sans-IO like the layers under it: `handle_*` take the time and an input,
//! `poll_*` hand back SIP to send, RTP to send, media ports to open or close, and events.

use crate::assets::Assets;
use crate::call::{Call, CallId, Phase};
use sb_acd::{Acd, AgentId};
use sb_ivr::{Action, Input, Session};
use sb_media::dtmf::{DigitCollector, Rfc4733Receiver, Source};
use sb_media::goertzel::ToneDetector;
use sb_media::negotiate::{accept_answer, answer, offer, Codec, Direction, LocalMedia};
use sb_media::prompt::{Playlist, FRAME};
use sb_media::{RtpSession, SessionDescription};
use sb_sip::dialog::DialogId;
use sb_sip::timer::DeadlineQueue;
use sb_sip::transaction::TxId;
use sb_sip::{Endpoint, Event, Peer};

mod agents;
mod conference;
mod control;
mod idmap;
mod invariants;
mod overload;
mod rtp_out;
mod transfer;
use agents::AgentLeg;
pub use agents::LegId;
pub use conference::Mix;
pub use control::{AgentCommand, CallAction, Control, ControlError, FeatureCodes, LiveCall};
use idmap::IdMap;
use overload::LoadGuard;
pub use rtp_out::{RtpOut, RtpQueue, RTP_MAX};
use sb_sip_msg::{Message, Method, Request};
use sb_types::pii::Redacted;
pub use sb_types::vocab::Side;
use sb_types::vocab::{
    CallDirection, ConsultStep, EndReason, LegFailure, ServiceOutcome, TransferKind,
};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PTIME: Duration = Duration::from_millis(20);

/// Calls playing media the engine makes (prompts, music, a mix) tick every 20 ms, on one of
/// PHASES grids spaced PTIME / PHASES apart. Grids fill in order, PHASE_CALLS calls each:
/// a lightly loaded engine wakes once per 20 ms for all its calls, while thousands of calls
/// go out in short bursts spread over the period. (One burst of 3,000 packets lasts about
/// 12 ms, and its tail wandered by up to 4 ms from one tick to the next, as the cost of
/// each send varies: a stream late in the burst saw its packet gaps vary that much.)
const PHASES: usize = 10;
const PHASE_CALLS: u32 = 256;

/// The first point at or after `t` of media grid `phase`, the engine's grid (anchored at
/// `origin`) moved `phase` tenths of PTIME later.
fn grid_at_or_after(origin: Instant, phase: usize, t: Instant) -> Instant {
    let origin = origin + PTIME * (phase % PHASES) as u32 / PHASES as u32;
    let step = PTIME.as_micros();
    let slots = t
        .saturating_duration_since(origin)
        .as_micros()
        .div_ceil(step);
    origin + Duration::from_micros((slots * step) as u64)
}

/// The first point of media grid `phase` strictly after `t`.
fn grid_after(origin: Instant, phase: usize, t: Instant) -> Instant {
    grid_at_or_after(origin, phase, t + Duration::from_micros(1))
}
/// Why a re-offer was refused.
enum Refusal {
    /// 488 with this Warning (RFC 3261 §20.43).
    Unusable(&'static str),
    /// 400: the SDP does not parse.
    Malformed,
}

/// The offer/answer of a re-INVITE or UPDATE on one leg (RFC 3264 §8): our answer to its
/// offer, applied to the leg's media and remote address; or, when it carried none, a fresh
/// offer of ours (the answer then comes in the ACK).
fn renegotiate(
    now: Instant,
    req: &Request,
    local: &LocalMedia,
    media: &mut Option<sb_media::Negotiated>,
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

/// How long a patient has to press 1 after the callback offer ends.
const CALLBACK_ANSWER_TIME: Duration = Duration::from_secs(8);

/// How often a waiting patient hears their place in the queue.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(30);

/// The prompt that says how many patients are ahead.
pub(crate) fn position_prompt(ahead: usize) -> String {
    match ahead {
        0 => "position-next".to_string(),
        1..=9 => format!("position-{ahead}"),
        _ => "position-more".to_string(),
    }
}

/// The prompt that says about how long the wait will be, in whole minutes begun.
pub(crate) fn wait_prompt(wait: Duration) -> String {
    match wait.as_secs().div_ceil(60).max(1) {
        m @ 1..=10 => format!("wait-{m}"),
        _ => "wait-more".to_string(),
    }
}

static SILENCE_ULAW: [u8; FRAME] = [0xFF; FRAME];
static SILENCE_ALAW: [u8; FRAME] = [0xD5; FRAME];

fn silence(codec: Codec) -> &'static [u8; FRAME] {
    match codec {
        Codec::Pcmu => &SILENCE_ULAW,
        Codec::Pcma => &SILENCE_ALAW,
    }
}

/// A late runtime sends at most this many frames to catch up, then re-anchors the clock.
const MAX_CATCH_UP: u32 = 3;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The address put in SDP for our media.
    pub media_ip: IpAddr,
    pub default_language: String,
    pub codecs: Vec<Codec>,
    /// The Unix time at `origin`, so opening hours follow the wall clock (or a clock a test
    /// or a drill sets) while every timer runs on `Instant`s.
    pub origin: Instant,
    pub wall_at_origin: i64,
    /// A timer running this late means the engine is behind: new calls get 503 for a
    /// while (`sip.overload_lag_ms`; zero never refuses).
    pub overload_lag: Duration,
    /// The agents' in-call feature codes.
    pub features: FeatureCodes,
    /// How long a transfer or consultation target rings before it is given up.
    pub transfer_ring: Duration,
    /// Who is on duty, in order of preference, and the number that rings them.
    pub roster: Vec<String>,
    pub roster_number: Option<String>,
    /// (number, queue): agents transfer and consult to a queue by its number.
    pub queue_numbers: Vec<(String, String)>,
}

/// What happened, for the logs, the events stream and (later) the call records.
#[derive(Debug)]
pub enum EngineEvent {
    Sip(Event),
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

impl EngineEvent {
    fn media_quality(call: CallId, side: Side, rtp: &RtpSession) -> EngineEvent {
        EngineEvent::MediaQuality {
            call,
            side,
            loss: rtp.stats.loss_fraction(),
            jitter_ms: rtp.stats.jitter_ms(),
            strangers: rtp.strangers_dropped,
        }
    }

    /// The event for a refused packet, on the first refusal of the leg only.
    pub(super) fn refused(
        call: CallId,
        side: Side,
        from: SocketAddr,
        rtp: &RtpSession,
        why: sb_media::rtp::Drop,
    ) -> Option<EngineEvent> {
        (why == sb_media::rtp::Drop::Stranger && rtp.strangers_dropped == 1)
            .then_some(EngineEvent::MediaRefused { call, side, from })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaRequest {
    /// Bind an RTP port for this call and report it with `handle_media_opened`.
    Open(CallId),
    /// Bind an RTP port for an agent leg and report it with `handle_leg_media_opened`.
    OpenLeg(LegId),
    Close(u16),
}

/// Who owns an RTP port: a patient's call or an agent's leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortUse {
    Call(CallId),
    Leg(LegId),
}

pub struct Engine {
    sip: Endpoint,
    acd: Acd,
    legs: IdMap<LegId, AgentLeg>,
    leg_by_tx: IdMap<TxId, LegId>,
    leg_by_dialog: HashMap<DialogId, LegId>,
    bridged: IdMap<CallId, LegId>,
    /// Transfer and consultation legs ringing, by when they are given up.
    leg_due: DeadlineQueue<LegId>,
    next_leg: u64,
    assets: Arc<Assets>,
    cfg: EngineConfig,
    calls: IdMap<CallId, Call>,
    next_call: u64,
    by_tx: IdMap<TxId, CallId>,
    by_dialog: HashMap<DialogId, CallId>,
    ports: IdMap<u16, PortUse>,
    /// Calls per media grid (see PHASES).
    phase_load: [u32; PHASES],
    due: DeadlineQueue<CallId>,
    media: VecDeque<MediaRequest>,
    rtp_out: RtpQueue,
    events: VecDeque<EngineEvent>,
    seed: u64,
    scratch_digits: Vec<char>,
    load: LoadGuard,
    /// Stopping: new calls are refused while the calls in progress finish.
    draining: bool,
}

impl Engine {
    pub fn new(
        sip: Endpoint,
        assets: Arc<Assets>,
        cfg: EngineConfig,
        acd: Acd,
        seed: u64,
    ) -> Engine {
        let lag = cfg.overload_lag;
        Engine {
            sip,
            acd,
            legs: IdMap::default(),
            leg_by_tx: IdMap::default(),
            leg_by_dialog: HashMap::new(),
            bridged: IdMap::default(),
            leg_due: DeadlineQueue::default(),
            next_leg: 1,
            assets,
            cfg,
            calls: IdMap::default(),
            next_call: 1,
            by_tx: IdMap::default(),
            by_dialog: HashMap::new(),
            ports: IdMap::default(),
            phase_load: [0; PHASES],
            due: DeadlineQueue::default(),
            media: VecDeque::new(),
            rtp_out: RtpQueue::default(),
            events: VecDeque::new(),
            seed,
            scratch_digits: Vec::new(),
            load: LoadGuard::new(lag),
            draining: false,
        }
    }

    pub fn sip(&self) -> &Endpoint {
        &self.sip
    }

    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// The switchboard is stopping: from now on new calls are answered 503 with
    /// Retry-After, and the calls in progress go on (transfers and consultations
    /// included) until they end or [`Engine::end_all_calls`].
    pub fn stop_taking_calls(&mut self) {
        self.draining = true;
    }

    /// Ends every call now: a BYE to each answered one (its agent legs with it), a 503
    /// to each still being set up; each is recorded as ended by the engine.
    pub fn end_all_calls(&mut self, now: Instant) {
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            let answered = self.calls.get(&id).is_some_and(|c| c.dialog.is_some());
            if answered {
                self.hang_up(now, id, EndReason::SwitchboardStopping, Side::Engine);
            } else {
                self.end_call(now, id, 503, EndReason::SwitchboardStopping, Side::Engine);
            }
        }
    }

    /// The first grid (see PHASES) with room for another call; the last when all are full.
    fn take_phase(&mut self) -> usize {
        let p = self
            .phase_load
            .iter()
            .position(|&n| n < PHASE_CALLS)
            .unwrap_or(PHASES - 1);
        self.phase_load[p] += 1;
        p
    }

    /// Unix milliseconds at `now`, on the engine's wall clock (what call records carry).
    pub fn wall_ms(&self, now: Instant) -> i64 {
        self.cfg.wall_at_origin * 1000
            + now.saturating_duration_since(self.cfg.origin).as_millis() as i64
    }

    fn wall(&self, now: Instant) -> i64 {
        self.cfg.wall_at_origin + now.saturating_duration_since(self.cfg.origin).as_secs() as i64
    }

    // ---- inputs -------------------------------------------------------------------------

    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8], source: Peer) {
        self.sip.handle_datagram(now, bytes, source);
        self.drain_sip(now);
    }

    pub fn handle_message(&mut self, now: Instant, msg: Message, source: Peer) {
        self.sip.handle_message(now, msg, source);
        self.drain_sip(now);
    }

    pub fn handle_rejection(&mut self, now: Instant, rej: sb_sip_msg::Rejection, source: Peer) {
        self.sip.handle_rejection(now, rej, source);
        self.drain_sip(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(due) = self.poll_timeout().filter(|d| *d <= now) {
            self.load.on_timer(due, now);
        }
        self.sip.handle_timeout(now);
        self.drain_sip(now);
        self.acd.handle_timeout(now);
        self.run_acd(now);
        while let Some(leg) = self.leg_due.pop_due(now) {
            self.ring_timeout(now, leg);
        }
        while let Some(id) = self.due.pop_due(now) {
            self.run_call(now, id);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.sip.poll_timeout(),
            self.due.next(),
            self.leg_due.next(),
            self.acd.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn poll_transmit(&mut self) -> Option<(Peer, Vec<u8>)> {
        self.sip.poll_transmit()
    }

    pub fn poll_event(&mut self) -> Option<EngineEvent> {
        self.events.pop_front()
    }

    pub fn poll_media(&mut self) -> Option<MediaRequest> {
        self.media.pop_front()
    }

    /// Hands every RTP packet queued so far to `send`, in order.
    pub fn drain_rtp(&mut self, send: impl FnMut(RtpOut<'_>)) {
        self.rtp_out.drain(send)
    }

    /// Whether RTP waits for `drain_rtp`.
    pub fn has_rtp(&self) -> bool {
        !self.rtp_out.is_empty()
    }

    /// The runtime bound `port` for `call`: answer the call and start the IVR.
    pub fn handle_media_opened(&mut self, now: Instant, id: CallId, port: u16) {
        let Some(call) = self.calls.get_mut(&id) else {
            // The call ended meanwhile: give the port back.
            self.media.push_back(MediaRequest::Close(port));
            return;
        };
        call.local_port = Some(port);
        self.ports.insert(port, PortUse::Call(id));
        let local = LocalMedia {
            addr: self.cfg.media_ip,
            port,
            codecs: self.cfg.codecs.clone(),
            session_id: id.0,
            session_version: 1,
        };
        let sdp = match &call.offer {
            Some(o) => match answer(o, &local) {
                Ok((sdp, neg)) => {
                    call.media = Some(neg);
                    sdp
                }
                // Checked when the INVITE came; cannot change since.
                Err(_) => {
                    return self.end_call(now, id, 488, EndReason::NoCommonCodec, Side::Engine)
                }
            },
            None => offer(&local, Direction::SendRecv),
        };
        let seed = self.seed ^ id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let remote = call.media.as_ref().and_then(|m| m.remote);
        call.rtp = Some(RtpSession::new(now, seed, remote).with_sip_source(call.source.addr.ip()));
        call.tones = call
            .media
            .as_ref()
            .filter(|m| m.dtmf_pt.is_none())
            .map(|_| ToneDetector::default());
        call.our_sdp = Some(sdp);
        if let Some(callee) = call.callee.clone() {
            // A call between extensions is answered when the one dialled answers (the
            // on-duty number: the first person on duty with a phone).
            let tx = call.invite_tx;
            let target = self.resolve(now, &callee);
            let rung = target.and_then(|t| self.new_leg(now, id, &t, transfer::Purpose::Direct));
            return match rung {
                Some(_) => self.sip.respond(now, tx, 180, |b| b),
                None => self.end_call(
                    now,
                    id,
                    480,
                    EndReason::ExtensionNotRegistered,
                    Side::Engine,
                ),
            };
        }
        self.answer_call(now, id, port);
    }

    /// Sends the 200 OK with our SDP, forms the dialog and starts the IVR (if any).
    pub(super) fn answer_call(&mut self, now: Instant, id: CallId, port: u16) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(sdp) = call.our_sdp.clone() else {
            return;
        };
        let (tx, source) = (call.invite_tx, call.source);
        let dialog = self.sip.create_uas_dialog(tx, source);
        let contact = self.sip.local_contact().to_string();
        self.sip.respond(now, tx, 200, |b| {
            b.header("Contact", contact)
                .body("application/sdp", sdp.to_bytes())
        });
        let Some(dialog) = dialog else {
            return self.end_call(now, id, 0, EndReason::NoDialog, Side::Engine);
        };
        self.by_dialog.insert(dialog.clone(), id);
        let wall = self.wall(now);
        let origin = self.cfg.origin;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.dialog = Some(dialog);
        call.phase = Phase::Answered;
        call.next_tick = Some(grid_at_or_after(origin, call.tick_phase, now));
        let actions = call.ivr.as_mut().map(|s| s.start(wall)).unwrap_or_default();
        let service = call.service.take();
        self.events.push_back(EngineEvent::CallAnswered {
            call: id,
            rtp_port: port,
        });
        if let Some((agent, cmd)) = service {
            self.agent_service(now, id, &agent, cmd);
        }
        self.apply(now, id, actions);
        self.schedule(id);
    }

    /// No port could be bound: the call cannot be answered.
    pub fn handle_media_failed(&mut self, now: Instant, id: CallId) {
        self.end_call(now, id, 503, EndReason::NoMediaPort, Side::Engine);
    }

    pub fn handle_rtp(&mut self, now: Instant, port: u16, from: SocketAddr, bytes: &[u8]) {
        let id = match self.ports.get(&port) {
            Some(&PortUse::Leg(leg)) => return self.leg_rtp(now, leg, from, bytes),
            Some(&PortUse::Call(id)) => id,
            None => return,
        };
        if let Some(&leg) = self.bridged.get(&id) {
            return self.caller_rtp_to_agent(now, id, leg, from, bytes);
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let (Some(rtp), Some(media)) = (call.rtp.as_mut(), call.media.as_ref()) else {
            return;
        };
        let pkt = match rtp.on_packet(now, from, bytes) {
            Ok(p) => p,
            Err(why) => {
                self.events
                    .extend(EngineEvent::refused(id, Side::Caller, from, rtp, why));
                return;
            }
        };
        let mut found: Option<(char, Source)> = None;
        if Some(pkt.payload_type) == media.dtmf_pt {
            found = call
                .rfc4733
                .on_packet(pkt.timestamp, pkt.payload)
                .map(|d| (d, Source::Rfc4733));
        } else if pkt.payload_type == media.codec.payload_type() {
            if let Some(det) = call.tones.as_mut() {
                let mut pcm = [0i16; 2 * FRAME];
                let n = media.codec.decode(pkt.payload, &mut pcm);
                self.scratch_digits.clear();
                det.push(&pcm[..n], &mut self.scratch_digits);
                found = self.scratch_digits.first().map(|d| (*d, Source::InBand));
            }
        }
        if let Some((digit, source)) = found {
            self.on_digit(now, id, digit, source);
        }
    }

    // ---- SIP ----------------------------------------------------------------------------

    fn drain_sip(&mut self, now: Instant) {
        while let Some(ev) = self.sip.poll_event() {
            match ev {
                Event::Request {
                    tx,
                    req,
                    source,
                    user,
                } if req.method == Method::Invite => self.on_invite(now, tx, *req, source, &user),
                // INFO, UPDATE, REFER, NOTIFY outside a dialog: there is nothing they refer to.
                Event::Request { tx, .. } => self.sip.respond(now, tx, 481, |b| b),
                Event::DialogRequest { tx, dialog, req } => {
                    match self.by_dialog.get(&dialog).copied() {
                        Some(id) => self.on_dialog_request(now, id, tx, *req),
                        None if self.leg_by_dialog.contains_key(&dialog) => {
                            self.on_leg_request(now, &dialog, tx, *req)
                        }
                        None => {
                            if let Some(tx) = tx {
                                self.sip.respond(now, tx, 481, |b| b);
                            }
                        }
                    }
                }
                Event::Cancelled { tx } => {
                    if let Some(id) = self.by_tx.get(&tx).copied() {
                        self.end_call(now, id, 0, EndReason::CallerCancelled, Side::Caller);
                    }
                }
                Event::AckTimeout { tx } => match self.by_tx.get(&tx).copied() {
                    Some(id) if self.calls.get(&id).is_some_and(|c| c.phase != Phase::Setup) => {
                        self.hang_up(now, id, EndReason::NoAck, Side::Engine)
                    }
                    _ => self
                        .events
                        .push_back(EngineEvent::Sip(Event::AckTimeout { tx })),
                },
                Event::OutgoingProgress { .. } => {}
                Event::OutgoingAnswered { tx, dialog, resp } => {
                    self.on_leg_answered(now, tx, dialog, &resp)
                }
                Event::OutgoingFailed { tx, status } => self.on_leg_failed(now, tx, status),
                Event::Registered { ref user, .. }
                | Event::Unregistered { ref user, .. }
                | Event::Reachability { ref user, .. } => {
                    let reachable = !self.sip.location().lookup(user, now).is_empty();
                    self.acd
                        .handle_reachability(now, &AgentId(user.clone()), reachable);
                    self.events.push_back(EngineEvent::Sip(ev));
                    self.run_acd(now);
                }
                other => self.events.push_back(EngineEvent::Sip(other)),
            }
        }
    }

    fn on_invite(&mut self, now: Instant, tx: TxId, req: Request, source: Peer, user: &str) {
        let dialled = req
            .uri
            .as_sip()
            .and_then(|u| u.user_unescaped())
            .unwrap_or_default();
        let caller = req
            .core
            .from
            .uri
            .as_sip()
            .and_then(|u| u.user.clone())
            .unwrap_or_default();
        // Stopping, or behind on the calls already up: this one is better off trying again
        // later (RFC 3261 §21.5.4).
        let busy = if self.draining {
            Some(("30", "399 switchboard \"shutting down\""))
        } else if !self.load.admits(now) {
            Some(("2", "399 switchboard \"overloaded, try again\""))
        } else {
            None
        };
        if let Some((retry_after, warning)) = busy {
            self.sip.respond(now, tx, 503, |b| {
                b.header("Retry-After", retry_after)
                    .header("Warning", warning)
            });
            self.events.push_back(EngineEvent::Rejected {
                dialled,
                caller: Redacted(caller),
                status: 503,
            });
            return;
        }
        // A hospital number runs its IVR flow; an extension dialled by another rings
        // directly; an agent's service code is answered with a confirmation.
        let entry = self.assets.plans.entry(&dialled);
        let direct = entry.is_none()
            && (self.sip.has_user(&dialled) || self.is_roster(&dialled))
            && dialled != user;
        let service = control::service_command(&self.cfg.features, &dialled)
            .map(|cmd| (user.to_string(), cmd));
        if entry.is_none() && !direct && service.is_none() {
            self.sip.respond(now, tx, 404, |b| {
                b.header("Warning", "399 switchboard \"no such number\"")
            });
            self.events.push_back(EngineEvent::Rejected {
                dialled,
                caller: Redacted(caller),
                status: 404,
            });
            return;
        };
        let offer = if req.body.is_empty() {
            None
        } else {
            match SessionDescription::parse(&req.body) {
                Ok(sd) => Some(sd),
                Err(e) => {
                    let warning = format!(
                        "399 switchboard \"malformed SDP: {}\"",
                        e.to_string().replace('"', "'")
                    );
                    self.sip.respond(now, tx, 400, |b| {
                        b.reason("Malformed SDP").header("Warning", warning)
                    });
                    self.events.push_back(EngineEvent::Rejected {
                        dialled,
                        caller: Redacted(caller),
                        status: 400,
                    });
                    return;
                }
            }
        };
        if let Some(o) = &offer {
            let probe = LocalMedia {
                addr: self.cfg.media_ip,
                port: 9,
                codecs: self.cfg.codecs.clone(),
                session_id: 0,
                session_version: 0,
            };
            if let Err(e) = answer(o, &probe) {
                self.sip
                    .respond(now, tx, 488, |b| b.header("Warning", e.warning()));
                self.events.push_back(EngineEvent::Rejected {
                    dialled,
                    caller: Redacted(caller),
                    status: 488,
                });
                return;
            }
        }
        self.sip.respond(now, tx, 100, |b| b);
        let id = CallId(self.next_call);
        self.next_call += 1;
        let direction = match (&service, direct) {
            (Some(_), _) => CallDirection::Service,
            (None, true) => CallDirection::Internal,
            (None, false) => CallDirection::Inbound,
        };
        self.events.push_back(EngineEvent::CallStarted {
            direction,
            call: id,
            dialled: dialled.clone(),
            caller: Redacted(caller.clone()),
            sip_call_id: req.core.call_id.clone(),
        });
        let callee = direct.then(|| dialled.clone());
        if direct {
            // An agent calling a colleague is busy for the ACD until they hang up.
            self.acd
                .handle_other_call(now, &AgentId(caller.clone()), true);
        }
        let tick_phase = self.take_phase();
        let call = Call {
            id,
            caller,
            phase: Phase::Setup,
            invite_tx: tx,
            source,
            sip_call_id: req.core.call_id.clone(),
            dialled,
            dialog: None,
            offer,
            our_sdp: None,
            local_port: None,
            media: None,
            rtp: None,
            playlist: Playlist::default(),
            playing: false,
            next_tick: None,
            tick_phase,
            ivr: entry
                .map(|e| Session::new(self.assets.plans.clone(), e, &self.cfg.default_language)),
            callee,
            rfc4733: Rfc4733Receiver::default(),
            tones: None,
            digits: DigitCollector::default(),
            on_hold: false,
            announce_at: None,
            queue: None,
            callback_until: None,
            bye_after_prompt: None,
            service,
            held_by: None,
            muted: false,
            mix: None,
        };
        self.calls.insert(id, call);
        self.by_tx.insert(tx, id);
        self.media.push_back(MediaRequest::Open(id));
    }

    fn on_dialog_request(&mut self, now: Instant, id: CallId, tx: Option<TxId>, req: Request) {
        match (req.method.clone(), tx) {
            (Method::Bye, _) => self.end_call(now, id, 0, EndReason::CallerHungUp, Side::Caller),
            (Method::Ack, None) => {
                // A late offer's answer comes in the ACK (RFC 3264 §5, RFC 3261 §13.2.1).
                let Some(call) = self.calls.get_mut(&id) else {
                    return;
                };
                // Our 200 carried the offer: the ACK must bring a usable answer, or the
                // call has no media path and is ended at once with a BYE.
                if call.media.is_none() && call.our_sdp.is_some() {
                    let neg = SessionDescription::parse(&req.body)
                        .ok()
                        .zip(call.our_sdp.as_ref())
                        .and_then(|(ans, ours)| accept_answer(ours, &ans).ok());
                    match neg {
                        Some(neg) => {
                            if let Some(rtp) = call.rtp.as_mut() {
                                rtp.set_remote(now, neg.remote);
                            }
                            call.tones = neg.dtmf_pt.is_none().then(ToneDetector::default);
                            call.media = Some(neg);
                        }
                        None if req.body.is_empty() => {
                            self.hang_up(now, id, EndReason::NoSdpAnswer, Side::Engine)
                        }
                        None => self.hang_up(now, id, EndReason::UnusableSdpAnswer, Side::Engine),
                    }
                }
            }
            (Method::Info, Some(tx)) => {
                let ct = req
                    .headers
                    .get("Content-Type")
                    .unwrap_or_default()
                    .to_string();
                match sb_media::dtmf::digit_from_info(&ct, &req.body) {
                    Some(d) => {
                        self.sip.respond(now, tx, 200, |b| b);
                        self.on_digit(now, id, d, Source::Info);
                    }
                    None => self.sip.respond(now, tx, 415, |b| {
                        b.header("Accept", "application/dtmf-relay, application/dtmf")
                    }),
                }
            }
            (Method::Invite | Method::Update, Some(tx)) => self.on_reoffer(now, id, tx, &req),
            (_, Some(tx)) => self.sip.respond(now, tx, 501, |b| b),
            _ => {}
        }
    }

    /// A re-INVITE or UPDATE from the caller: session refresh, hold, a new address.
    fn on_reoffer(&mut self, now: Instant, id: CallId, tx: TxId, req: &Request) {
        let (media_ip, codecs) = (self.cfg.media_ip, self.cfg.codecs.clone());
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(port) = call.local_port else {
            return self.sip.respond(now, tx, 491, |b| b);
        };
        let version = call
            .our_sdp
            .as_ref()
            .map(|s| s.session_version + 1)
            .unwrap_or(2);
        let local = LocalMedia {
            addr: media_ip,
            port,
            codecs,
            session_id: id.0,
            session_version: version,
        };
        let outcome = renegotiate(now, req, &local, &mut call.media, call.rtp.as_mut());
        if let Ok(sdp) = &outcome {
            call.our_sdp = Some(sdp.clone());
        }
        self.answer_reoffer(now, tx, outcome);
    }

    /// Sends the outcome of [`renegotiate`]: 200 with our SDP, or the refusal.
    fn answer_reoffer(
        &mut self,
        now: Instant,
        tx: TxId,
        outcome: Result<SessionDescription, Refusal>,
    ) {
        match outcome {
            Ok(sdp) => {
                let contact = self.sip.local_contact().to_string();
                self.sip.respond(now, tx, 200, |b| {
                    b.header("Contact", contact)
                        .body("application/sdp", sdp.to_bytes())
                });
            }
            Err(Refusal::Unusable(warning)) => self
                .sip
                .respond(now, tx, 488, |b| b.header("Warning", warning)),
            Err(Refusal::Malformed) => self
                .sip
                .respond(now, tx, 400, |b| b.reason("Malformed SDP")),
        }
    }

    // ---- the call's clock: playout and IVR timers ----------------------------------------

    fn schedule(&mut self, id: CallId) {
        if let Some(c) = self.calls.get(&id) {
            if let Some(at) = [c.next_tick, c.ivr_timeout()].into_iter().flatten().min() {
                self.due.push(at, id);
            }
        }
    }

    fn run_call(&mut self, now: Instant, id: CallId) {
        let wall = self.wall(now);
        let (held, muted, mixing) = self.calls.get(&id).map_or((false, false, false), |c| {
            (c.held_by.is_some(), c.muted, c.mix.is_some())
        });
        if self.bridged.contains_key(&id) && !held && !muted && !mixing {
            // The caller hears the agent now: no prompts, no silence from us. (Held, they
            // hear music; muted, silence: their stream never stops.)
            if let Some(c) = self.calls.get_mut(&id) {
                c.next_tick = None;
            }
            return;
        }
        if self
            .calls
            .get(&id)
            .and_then(|c| c.callback_until)
            .is_some_and(|t| t <= now)
        {
            self.decline_callback(now, id);
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let due = [call.next_tick, call.ivr_timeout()]
            .into_iter()
            .flatten()
            .min();
        if due.is_none_or(|d| d > now) {
            // A stale heap entry: the call was rescheduled since.
            return;
        }
        let mut actions = Vec::new();
        if let Some(ivr) = call
            .ivr
            .as_mut()
            .filter(|s| s.poll_timeout().is_some_and(|d| d <= now))
        {
            actions.extend(ivr.handle_timeout(now, wall));
        }
        let mut frames = 0;
        let mut ticked = 0;
        let mut finished = None;
        while let Some(t) = call.next_tick.filter(|t| *t <= now) {
            frames += 1;
            if frames > MAX_CATCH_UP {
                call.next_tick = Some(grid_after(self.cfg.origin, call.tick_phase, now));
                break;
            }
            call.next_tick = Some(t + PTIME);
            let (Some(rtp), Some(media), Some(port)) =
                (call.rtp.as_mut(), call.media.as_ref(), call.local_port)
            else {
                continue;
            };
            let codec = media.codec;
            if call.held_by.is_some() && call.playlist.is_empty() {
                // Held by the agent: the music, round and round.
                // (The IVR's field, not `Call::language`: the RTP session is borrowed.)
                let lang = call
                    .ivr
                    .as_ref()
                    .map_or(self.cfg.default_language.as_str(), Session::language);
                if let Some(m) = self.assets.prompt(lang, "hold-music") {
                    call.playlist.push(m.clone());
                }
            }
            if call.on_hold {
                // Waiting for an agent: the position now and then, music in between.
                let lang = call
                    .ivr
                    .as_ref()
                    .map_or(self.cfg.default_language.as_str(), Session::language)
                    .to_string();
                if call.announce_at.is_some_and(|a| a <= t) {
                    call.announce_at = Some(t + ANNOUNCE_EVERY);
                    let ahead = self.acd.position(id);
                    if let Some(p) =
                        ahead.and_then(|n| self.assets.prompt(&lang, &position_prompt(n)))
                    {
                        call.playlist.clear();
                        call.playlist.push(p.clone());
                        // And the expected wait, when the queue has staff to estimate it by.
                        let wait = self.acd.estimated_wait(id);
                        if let Some(w) =
                            wait.and_then(|w| self.assets.prompt(&lang, &wait_prompt(w)))
                        {
                            call.playlist.push(w.clone());
                        }
                    }
                }
                if call.playlist.is_empty() {
                    if let Some(m) = self.assets.prompt(&lang, "hold-music") {
                        call.playlist.push(m.clone());
                    }
                }
            }
            // A three-way call: the patient hears the other two; so do they, each the
            // others.
            let mut mixed_frame = [0u8; FRAME];
            let mixed = call.mix.as_mut().map(|m| {
                let out = m.next(call.muted);
                codec.encode(&out[conference::PATIENT], &mut mixed_frame);
                agents::send_pcm(
                    &mut self.legs,
                    &mut self.rtp_out,
                    now,
                    m.agent,
                    &out[conference::AGENT],
                );
                agents::send_pcm(
                    &mut self.legs,
                    &mut self.rtp_out,
                    now,
                    m.colleague,
                    &out[conference::COLLEAGUE],
                );
            });
            // Between prompts the leg carries silence: the stream never stops while the
            // call is up, which keeps NAT bindings open and phones' RTP timeouts quiet.
            let next = match mixed {
                Some(()) => Ok(&mixed_frame),
                None => call.playlist.next_frame(codec).ok_or(()),
            };
            let (frame, marker) = match next {
                // The mix is no prompt: nothing for the IVR to hear the end of.
                Ok(frame) if mixed.is_some() => (frame, false),
                Ok(frame) => {
                    let marker = !call.playing;
                    call.playing = true;
                    (frame, marker)
                }
                Err(()) => {
                    if std::mem::take(&mut call.playing) {
                        finished = finished.or(call.bye_after_prompt);
                        if let Some(ivr) = call.ivr.as_mut() {
                            actions.extend(ivr.handle(now, wall, Input::PromptDone));
                        }
                    }
                    (silence(codec), false)
                }
            };
            // Symmetric RTP: where the caller's media comes from, once learned.
            match (rtp.remote(), media.direction.sends()) {
                (Some(to), true) => {
                    let locked = rtp.locked(now);
                    self.rtp_out.push(port, to, locked, |buf| {
                        rtp.write_packet(buf, codec.payload_type(), marker, frame, FRAME as u32)
                    });
                }
                _ => rtp.skip(FRAME as u32),
            }
            ticked += 1;
        }
        if held {
            // The agent of a held call hears silence, frame for frame with the music.
            if let Some(&leg) = self.bridged.get(&id) {
                for _ in 0..ticked {
                    self.leg_silence(now, leg);
                }
            }
        }
        if let Some(reason) = finished {
            return self.hang_up(now, id, reason, Side::Engine);
        }
        self.apply(now, id, actions);
        self.schedule(id);
    }

    fn on_digit(&mut self, now: Instant, id: CallId, digit: char, source: Source) {
        let wall = self.wall(now);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.digits.on_digit(now, digit, source).is_none() {
            return;
        }
        self.events.push_back(EngineEvent::Digit {
            call: id,
            digit,
            source,
        });
        if call.callback_until.is_some() && digit == '1' {
            return self.accept_callback(now, id);
        }
        let actions = call.ivr_input(now, wall, Input::Digit(digit));
        self.apply(now, id, actions);
        self.schedule(id);
    }

    fn apply(&mut self, now: Instant, id: CallId, actions: Vec<Action>) {
        for a in actions {
            let Some(call) = self.calls.get_mut(&id) else {
                return;
            };
            match a {
                Action::Play(list) => {
                    for p in list {
                        if let Some(prompt) = self.assets.prompt(&p.language, &p.name) {
                            call.playlist.push(prompt.clone());
                        }
                    }
                }
                Action::StopPlayback => {
                    call.playlist.clear();
                    call.playing = false;
                }
                Action::Entered(node) => self.events.push_back(EngineEvent::Ivr { call: id, node }),
                Action::Set { var, value } => self.events.push_back(EngineEvent::Tag {
                    call: id,
                    var,
                    value,
                }),
                Action::Queue(queue) => self.enqueue(now, id, queue),
                Action::Transfer(extension) => {
                    call.phase = Phase::Waiting;
                    self.events.push_back(EngineEvent::Transfer {
                        call: id,
                        from: "ivr".into(),
                        to: extension.clone(),
                        kind: TransferKind::Ivr,
                        by: Some(Control::Dialplan),
                    });
                    self.start_hold(now, id);
                    self.ring_for_transfer(now, id, &extension, Vec::new());
                }
                Action::Hangup => self.hang_up(now, id, EndReason::IvrEnded, Side::Engine),
            }
        }
    }

    /// The ACD takes the call over; a dialplan may have set `priority` (higher first).
    fn enqueue(&mut self, now: Instant, id: CallId, queue: String) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.phase = Phase::Waiting;
        let priority = call
            .ivr
            .as_ref()
            .and_then(|s| s.vars.get("priority"))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        call.queue = Some((queue.clone(), priority));
        self.acd.handle_enqueue(now, id, &queue, priority);
        self.events
            .push_back(EngineEvent::Queued { call: id, queue });
        self.run_acd(now);
        self.start_hold(now, id);
    }

    /// The call overflowed with nowhere to go (the operators' own queue is full or the wait
    /// too long): the patient may press 1 to be called back, keeping their place, or stay on
    /// the line.
    pub(super) fn offer_callback(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let lang = call.language(&self.cfg.default_language).to_string();
        call.playlist.clear();
        let mut offer_ms = 0;
        if let Some(p) = self.assets.prompt(&lang, "callback-offer") {
            offer_ms = p.duration_ms();
            call.playlist.push(p.clone());
        }
        call.callback_until = Some(now + Duration::from_millis(offer_ms) + CALLBACK_ANSWER_TIME);
        // The offer, not the place in a queue the call has left, is what they hear now.
        call.announce_at = None;
        self.events
            .push_back(EngineEvent::CallbackOffered { call: id });
    }

    fn accept_callback(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.callback_until = None;
        let queue = call.queue.clone().map(|(q, _)| q).unwrap_or_default();
        let lang = call.language(&self.cfg.default_language).to_string();
        call.playlist.clear();
        if let Some(p) = self.assets.prompt(&lang, "callback-confirmed") {
            call.playlist.push(p.clone());
        }
        call.bye_after_prompt = Some(EndReason::CallbackArranged);
        call.on_hold = false;
        self.acd.handle_callback(now, id, &queue);
        self.events
            .push_back(EngineEvent::CallbackRequested { call: id, queue });
        self.run_acd(now);
    }

    /// No key within the offer's time: the patient stays in the queue, overflow or not.
    fn decline_callback(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.callback_until = None;
        call.announce_at = Some(now);
        if let Some((queue, priority)) = call.queue.clone() {
            self.acd.handle_stay(now, id, &queue, priority);
            self.run_acd(now);
        }
    }

    /// The caller waits (for an agent, or a transfer): music, and their place in the queue
    /// right away and then every `ANNOUNCE_EVERY`.
    fn start_hold(&mut self, now: Instant, id: CallId) {
        if self.bridged.contains_key(&id) {
            return;
        }
        if let Some(c) = self.calls.get_mut(&id) {
            c.on_hold = true;
            // The place in the queue comes after the queue's own prompts, if any.
            c.announce_at = Some(now + Duration::from_millis(c.playlist.remaining_ms()));
        }
    }

    /// We end an answered call: BYE, then forget it.
    fn hang_up(&mut self, now: Instant, id: CallId, reason: EndReason, by: Side) {
        if let Some(d) = self.calls.get(&id).and_then(|c| c.dialog.clone()) {
            self.sip.send_in_dialog(now, &d, Method::Bye);
        }
        self.end_call(now, id, 0, reason, by);
    }

    /// Forgets a call; `status` answers the INVITE first if the call was still being set up.
    fn end_call(&mut self, now: Instant, id: CallId, status: u16, reason: EndReason, by: Side) {
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        if let Some(n) = self.phase_load.get_mut(call.tick_phase) {
            *n = n.saturating_sub(1);
        }
        if call.callee.is_some() {
            self.acd
                .handle_other_call(now, &AgentId(call.caller.clone()), false);
        }
        self.release_agents(now, id);
        if status != 0 && call.phase == Phase::Setup {
            self.sip.respond(now, call.invite_tx, status, |b| b);
        }
        self.by_tx.remove(&call.invite_tx);
        if let Some(d) = &call.dialog {
            self.by_dialog.remove(d);
        }
        if let Some(p) = call.local_port {
            self.ports.remove(&p);
            self.media.push_back(MediaRequest::Close(p));
        }
        if let Some(rtp) = &call.rtp {
            self.events
                .push_back(EngineEvent::media_quality(id, Side::Caller, rtp));
        }
        self.events.push_back(EngineEvent::CallEnded {
            call: id,
            reason,
            by,
        });
    }
}
