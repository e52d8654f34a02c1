//! The engine: a router over calls, like quinn's endpoint over its connections. It owns
//! the SIP endpoint, the ACD, the calls, one index from transaction, dialog and media port
//! to the leg of the call they belong to, and one deadline queue of calls. Its `handle_*`
//! find the call an input is for and hand it on with a read-only [`Ctx`]; it then carries
//! out what the call asked ([`Output`]) and drains the ACD's decisions into the calls they
//! concern. Its `poll_*` hand the runtime SIP to send, media ports to open and close,
//! events; RTP is drained in place ([`Engine::drain_rtp`]).

use crate::assets::Assets;
use crate::call::leg::{LegId, LegRef};
use crate::call::playout::{PHASES, PHASE_CALLS};
use crate::call::{
    features, AcdInput, Call, CallTimer, CallbackCall, Callee, Ctx, InDialog, NewCall, OutIntent,
    OutRoute, Output, PatientRoute, PlaceCall, RouteRefusal, SipInput,
};
use crate::callbacks::{next_open, Callbacks, Item, Next};
use crate::config::EngineConfig;
use crate::control::{
    apply_agent_command, check_agent_command, AgentCommand, CallAction, ControlError, LiveCall,
};
use crate::event::EngineEvent;
use crate::event::Outside;
use crate::idmap::IdMap;
use crate::index::Index;
use crate::overload::LoadGuard;
use crate::rtp_out::{RtpOut, RtpQueue};
use crate::trunk::{read_inbound, route, Dialler, Route};
use sb_acd::{Acd, AcdAction, AgentId};
use sb_ivr::Session;
use sb_media::negotiate::answer;
use sb_media::SessionDescription;
use sb_sip::timer::DeadlineQueue;
use sb_sip::transaction::TxId;
use sb_sip::{Endpoint, Event, Origin, Peer};
use sb_sip_msg::{Message, Method, Request};
use sb_types::pii::Redacted;
use sb_types::vocab::{CallbackOutcome, Control, EndReason, Side};
use sb_types::CallId;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A media port the runtime is asked to open or close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaRequest {
    /// Bind an RTP port for this leg and report it with [`Engine::handle_port`].
    Open(LegRef),
    /// The port is no longer used: close it (it rests before it is used again).
    Close(u16),
}

/// An INVITE already answered (refused): nothing more to do with it.
struct Answered;

/// What wakes the engine next, and why (the runtime's one timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// SIP retransmissions and timeouts, registrations, qualify.
    Sip,
    /// The ACD's ring timeouts, escalations, wrap-ups.
    Acd,
    /// One of a call's timers.
    Call(CallId, CallTimer),
    /// A callback's try is due.
    Callback,
}

/// The engine. See the crate's documentation for how it is driven.
pub struct Engine {
    sip: Endpoint,
    acd: Acd,
    assets: Arc<Assets>,
    cfg: EngineConfig,
    calls: IdMap<CallId, Call>,
    next_call: u64,
    index: Index,
    /// Calls by when they next need the engine (stale entries are skipped).
    due: DeadlineQueue<CallId>,
    /// Keep-my-place callbacks under way.
    callbacks: Callbacks,
    /// Calls per media grid.
    phase_load: [u32; PHASES],
    media: VecDeque<MediaRequest>,
    rtp_out: RtpQueue,
    events: VecDeque<EngineEvent>,
    /// What the metrics count.
    counters: crate::metrics::Counters,
    seed: u64,
    load: LoadGuard,
    /// Stopping: new calls are refused while the calls in progress finish.
    draining: bool,
}

/// The read-only context a call handler gets, from the engine's fields (a macro so the
/// borrows stay field by field while a call is borrowed mutably).
macro_rules! ctx {
    ($e:ident) => {
        Ctx {
            cfg: &$e.cfg,
            assets: &$e.assets,
            sip: &$e.sip,
            acd: &$e.acd,
            seed: $e.seed,
        }
    };
}

/// Why the dial plan refused a call out.
struct OutRefusal {
    /// The number, as dialled or as it would have gone out.
    number: String,
    why: &'static str,
    status: u16,
}

impl OutRefusal {
    fn new(number: &str, why: &'static str, status: u16) -> OutRefusal {
        OutRefusal {
            number: number.to_string(),
            why,
            status,
        }
    }
}

impl Engine {
    /// The engine over `sip` and `acd`, playing `assets`; `seed` makes its RTP sessions'
    /// SSRCs and sequence numbers.
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
            assets,
            cfg,
            calls: IdMap::default(),
            next_call: 1,
            index: Index::default(),
            due: DeadlineQueue::default(),
            callbacks: Callbacks::default(),
            phase_load: [0; PHASES],
            media: VecDeque::new(),
            rtp_out: RtpQueue::default(),
            events: VecDeque::new(),
            counters: Default::default(),
            seed,
            load: LoadGuard::new(lag),
            draining: false,
        }
    }

    /// The SIP endpoint (registrations, for the control API and tests).
    pub fn sip(&self) -> &Endpoint {
        &self.sip
    }

    /// Calls in progress.
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
            if let Some(c) = self.calls.get_mut(&id) {
                c.stop();
            }
            self.flush(now, id);
        }
    }

    /// Unix milliseconds at `now`, on the engine's wall clock (what call records carry).
    pub fn wall_ms(&self, now: Instant) -> i64 {
        self.wall_clock().ms(now)
    }

    /// The mapping `wall_ms` uses, to take outside the engine.
    pub fn wall_clock(&self) -> crate::control::WallClock {
        self.cfg.wall_clock()
    }

    // ---- inputs -------------------------------------------------------------------------

    /// A datagram from `source` (UDP), or a frame cut from a TCP stream.
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8], source: Peer) {
        self.sip.handle_datagram(now, bytes, source);
        self.drain_sip(now);
    }

    /// A parsed SIP message from `source`.
    pub fn handle_message(&mut self, now: Instant, msg: Message, source: Peer) {
        self.sip.handle_message(now, msg, source);
        self.drain_sip(now);
    }

    /// A message the parser refused (answered 400 where it can be).
    pub fn handle_rejection(&mut self, now: Instant, rej: sb_sip_msg::Rejection, source: Peer) {
        self.sip.handle_rejection(now, rej, source);
        self.drain_sip(now);
    }

    /// Runs every timer due at `now`: SIP's, the ACD's, the calls'.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(due) = self.poll_timeout().filter(|d| *d <= now) {
            self.load.on_timer(due, now);
            self.counters.timer_ran(now.saturating_duration_since(due));
        }
        self.sip.handle_timeout(now);
        self.drain_sip(now);
        self.acd.handle_timeout(now);
        self.run_acd(now);
        self.callbacks_due(now);
        while let Some(id) = self.due.pop_due(now) {
            let ctx = ctx!(self);
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            if !call.woken(now) {
                continue;
            }
            call.handle_timeout(now, &ctx, &mut self.rtp_out);
            self.flush(now, id);
        }
    }

    /// The runtime bound `port` for `leg` (`None`: it could not).
    pub fn handle_port(&mut self, now: Instant, leg: LegRef, port: Option<u16>) {
        let ctx = ctx!(self);
        let Some(call) = self.calls.get_mut(&leg.call) else {
            // The call ended meanwhile: give the port back.
            if let Some(p) = port {
                self.media.push_back(MediaRequest::Close(p));
            }
            return;
        };
        if call.legs().iter().all(|l| l.id != leg.leg) {
            if let Some(p) = port {
                self.media.push_back(MediaRequest::Close(p));
            }
            return;
        }
        if let Some(p) = port {
            self.index.by_port.insert(p, leg);
        }
        call.on_port(now, &ctx, leg.leg, port);
        self.flush(now, leg.call);
    }

    /// An RTP packet from `from` on our `port`.
    pub fn handle_rtp(&mut self, now: Instant, port: u16, from: SocketAddr, bytes: &[u8]) {
        let Some(&leg) = self.index.by_port.get(&port) else {
            return;
        };
        self.counters.rtp_in += 1;
        let ctx = ctx!(self);
        let Some(call) = self.calls.get_mut(&leg.call) else {
            return;
        };
        call.handle_rtp(now, &ctx, leg.leg, from, bytes, &mut self.rtp_out);
        // A packet changes a call's timers only through what it makes the call do (a key
        // for the dialplan), which always comes with an output: most packets cost no more.
        if call.has_output() {
            self.flush(now, leg.call);
        }
    }

    // ---- outputs ------------------------------------------------------------------------

    /// When the engine needs [`Engine::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.sip.poll_timeout(),
            self.due.next(),
            self.acd.poll_timeout(),
            self.callbacks.next_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// When a call's own timer (its media ticks, a ring given up, the dialplan's timer) is
    /// due next; SIP's and the ACD's timers are left out.
    pub fn next_call_wake(&self) -> Option<Instant> {
        self.due.next()
    }

    /// Which timer wakes the engine next, and when (for the logs and tests: it looks at
    /// every call).
    pub fn next_wake(&self) -> Option<(Instant, Wake)> {
        let call = self
            .calls
            .iter()
            .filter_map(|(id, c)| c.poll_timeout().map(|(at, why)| (at, Wake::Call(*id, why))))
            .min_by_key(|(at, _)| *at);
        [
            self.sip.poll_timeout().map(|t| (t, Wake::Sip)),
            call,
            self.acd.poll_timeout().map(|t| (t, Wake::Acd)),
            self.callbacks.next_due().map(|t| (t, Wake::Callback)),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|(t, _)| *t)
    }

    /// The next SIP message to send, and to whom.
    pub fn poll_transmit(&mut self) -> Option<(Peer, Vec<u8>)> {
        self.sip.poll_transmit()
    }

    /// The next event, for the logs, the event stream and the records.
    pub fn poll_event(&mut self) -> Option<EngineEvent> {
        let e = self.events.pop_front()?;
        let calls = &self.calls;
        self.counters.tally(&e, self.acd.sla_threshold(), |id| {
            calls.get(&id)?.queue_name()
        });
        Some(e)
    }

    /// The SIP messages counted each way, for the metrics.
    pub fn sip_counters(&self) -> &sb_sip::counters::SipCounters {
        self.sip.counters()
    }

    /// The figures counted since the start, for the metrics; the timers' lag starts over.
    pub fn take_counters(&mut self) -> crate::metrics::Counters {
        let out = self.counters.clone();
        self.counters.timer_lag_max = std::time::Duration::ZERO;
        out
    }

    /// The next media port to open or close.
    pub fn poll_media(&mut self) -> Option<MediaRequest> {
        self.media.pop_front()
    }

    /// Hands every RTP packet queued so far to `send`, in order.
    pub fn drain_rtp(&mut self, mut send: impl FnMut(RtpOut<'_>)) {
        let sent = &mut self.counters.rtp_out;
        self.rtp_out.drain(|p| {
            *sent += 1;
            send(p)
        })
    }

    /// Whether RTP waits for `drain_rtp`.
    pub fn has_rtp(&self) -> bool {
        !self.rtp_out.is_empty()
    }

    // ---- carrying out what calls ask ------------------------------------------------------

    /// Carries out everything call `id` queued, then what the ACD decided meanwhile, and
    /// puts the call back on the deadline queue if its next timer changed.
    fn flush(&mut self, now: Instant, id: CallId) {
        let mut acd = false;
        while let Some(out) = self.calls.get_mut(&id).and_then(Call::poll_output) {
            acd |= matches!(out, Output::Acd(_));
            self.carry_out(now, id, out);
        }
        if let Some(t) = self.calls.get_mut(&id).and_then(Call::reschedule) {
            self.due.push(t, id);
        }
        if acd {
            self.run_acd(now);
        }
    }

    fn carry_out(&mut self, now: Instant, id: CallId, out: Output) {
        match out {
            Output::Respond { tx, reply } => {
                let contact = reply
                    .sdp
                    .as_ref()
                    .map(|_| self.sip.local_contact().to_string());
                self.sip.respond(now, tx, reply.status, |mut b| {
                    if let Some(r) = reply.reason {
                        b = b.reason(r);
                    }
                    for (k, v) in reply.headers {
                        b = b.header(k, v);
                    }
                    if let (Some(sdp), Some(c)) = (reply.sdp, contact) {
                        b = b.header("Contact", c).body("application/sdp", sdp);
                    }
                    b
                });
            }
            Output::Answer { sdp } => self.answer(now, id, sdp),
            Output::Invite { leg, call } => {
                let tx = self.sip.invite(now, *call);
                self.index.by_tx.insert(tx, LegRef { call: id, leg });
                if let Some(c) = self.calls.get_mut(&id) {
                    c.on_invite_sent(leg, tx);
                }
            }
            Output::Cancel { tx } => self.sip.cancel(now, tx),
            Output::InDialog { dialog, request } => match request {
                InDialog::Bye => {
                    self.sip.send_in_dialog(now, &dialog, Method::Bye);
                }
                InDialog::Notify { frag, last } => {
                    // The implicit subscription's NOTIFY (RFC 3515 §2.4.4): `frag` as
                    // message/sipfrag, the subscription terminated with the last.
                    let body = format!("{frag}\r\n").into_bytes();
                    let state = if last {
                        "terminated;reason=noresource"
                    } else {
                        "active;expires=120"
                    };
                    self.sip
                        .send_in_dialog_with(now, &dialog, Method::Notify, |r| {
                            r.headers.push("Event", "refer");
                            r.headers.push("Subscription-State", state);
                            r.headers
                                .push("Content-Type", "message/sipfrag;version=2.0");
                            r.body = body;
                        });
                }
            },
            Output::OpenPort { leg } => self
                .media
                .push_back(MediaRequest::Open(LegRef { call: id, leg })),
            Output::LegGone { tx, dialog, port } => {
                self.index.forget(tx, dialog.as_ref(), port);
                if let Some(p) = port {
                    self.media.push_back(MediaRequest::Close(p));
                }
            }
            Output::Acd(input) => self.apply_acd(now, id, input),
            Output::Event(e) => self.events.push_back(e),
            Output::ReferReplaces { leg, tx, replaces } => {
                self.refer_replaces(now, id, leg, tx, &replaces)
            }
            Output::RouteOut {
                user,
                number,
                intent,
            } => {
                let _ = self.route_out(now, id, &user, &number, intent);
            }
            Output::CallPatient { number } => self.route_callback(now, id, &number),
            Output::CallbackDone {
                item,
                dialled,
                reached,
            } => self.callback_done(now, item, dialled, reached),
            Output::Ended => {
                if let Some(c) = self.calls.remove(&id) {
                    if let Some(n) = self.phase_load.get_mut(c.tick_phase()) {
                        *n = n.saturating_sub(1);
                    }
                }
            }
        }
    }

    /// The caller's 200 OK with our SDP, forming the dialog.
    fn answer(&mut self, now: Instant, id: CallId, sdp: Vec<u8>) {
        let Some((tx, source)) = self.calls.get(&id).and_then(Call::caller_invite) else {
            return;
        };
        let dialog = self.sip.create_uas_dialog(tx, source);
        let contact = self.sip.local_contact().to_string();
        self.sip.respond(now, tx, 200, |b| {
            b.header("Contact", contact).body("application/sdp", sdp)
        });
        if let Some(d) = &dialog {
            self.index.by_dialog.insert(
                d.clone(),
                LegRef {
                    call: id,
                    leg: LegId::CALLER,
                },
            );
        }
        let ctx = ctx!(self);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        match dialog {
            Some(d) => call.on_answered(now, &ctx, d),
            None => call.on_no_dialog(),
        }
    }

    /// Tells the ACD what call `id` asked.
    fn apply_acd(&mut self, now: Instant, id: CallId, input: AcdInput) {
        match input {
            AcdInput::Enqueue { queue, priority } => {
                self.acd.handle_enqueue(now, id, &queue, priority)
            }
            AcdInput::Stay { queue, priority } => self.acd.handle_stay(now, id, &queue, priority),
            AcdInput::Callback { queue } => self.callback_requested(now, id, queue),
            AcdInput::Answered { agent, leg } => {
                if !self.acd.handle_answered(now, id, &agent) {
                    // The offer was withdrawn meanwhile (the caller left, another agent
                    // was faster).
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.offer_gone(leg);
                    }
                }
            }
            AcdInput::OfferFailed { agent } => self.acd.handle_offer_failed(now, id, &agent),
            AcdInput::CallEnded => {
                if self.acd.connected_to(id).is_some() {
                    self.acd.handle_call_ended(now, id);
                }
            }
            AcdInput::Abandon => {
                if let Some(waited) = self.acd.waited(id, now) {
                    self.acd.handle_abandon(now, id);
                    self.abandoned(now, id, waited);
                }
            }
            AcdInput::OtherCall { agent, busy } => self.acd.handle_other_call(now, &agent, busy),
            AcdInput::Command { agent, cmd } => {
                apply_agent_command(&mut self.acd, now, &agent, cmd)
            }
        }
    }

    /// Carries out what the ACD decided: events, and actions into the calls.
    fn run_acd(&mut self, now: Instant) {
        while let Some(e) = self.acd.poll_event() {
            self.events.push_back(EngineEvent::Acd(e));
        }
        while let Some(a) = self.acd.poll_action() {
            let id = match &a {
                AcdAction::Offer { call, .. }
                | AcdAction::CancelOffer { call, .. }
                | AcdAction::Connect { call, .. }
                | AcdAction::Overflow { call, .. } => *call,
            };
            if matches!(a, AcdAction::Connect { .. }) {
                self.answered_again(now, id);
            }
            let ctx = ctx!(self);
            match self.calls.get_mut(&id) {
                Some(c) => {
                    c.handle_acd(now, &ctx, a);
                    self.flush(now, id);
                }
                None => {
                    if let AcdAction::Offer { agent, .. } = a {
                        self.acd.handle_offer_failed(now, id, &agent);
                    }
                }
            }
            while let Some(e) = self.acd.poll_event() {
                self.events.push_back(EngineEvent::Acd(e));
            }
        }
    }

    /// REFER with Replaces from the agent on `leg` of call `id`: the agent's phone holds
    /// the patient here and talks to a colleague on a call of its own through us, named
    /// by the Replaces header (RFC 3891). The colleague takes the patient; both of the
    /// agent's calls end.
    fn refer_replaces(&mut self, now: Instant, id: CallId, leg: LegId, tx: TxId, replaces: &str) {
        let named = sb_sip_msg::extras::Replaces::parse(replaces).ok();
        let agent = self
            .calls
            .get(&id)
            .and_then(|c| c.legs().iter().find(|l| l.id == leg))
            .map(|l| l.party.clone());
        // The agent's own call between extensions, named by Call-ID and both tags.
        // The tags may come either way round: whose is whose depends on which side of the
        // dialog the phone saw.
        let other = agent.as_ref().zip(named.as_ref()).and_then(|(agent, r)| {
            self.calls.iter().find_map(|(oid, c)| {
                let d = c.caller_dialog()?;
                let tags = [r.to_tag.as_str(), r.from_tag.as_str()];
                let is_it = d.call_id == r.call_id
                    && tags.contains(&d.local_tag.as_str())
                    && tags.contains(&d.remote_tag.as_str());
                let colleague = c.direct_call_of(agent)?;
                (is_it && *oid != id).then_some((*oid, colleague))
            })
        });
        let Some((other, colleague)) = other else {
            if let Some(c) = self.calls.get_mut(&id) {
                c.refuse_replaces(tx);
            }
            return self.flush(now, id);
        };
        if let Some(c) = self.calls.get_mut(&id) {
            c.accept_replaces(leg, tx);
        }
        self.flush(now, id);
        // The colleague's leg moves to the patient's call; the agent's call to them ends.
        let Some(moved) = self
            .calls
            .get_mut(&other)
            .and_then(|c| c.take_leg(colleague))
        else {
            return;
        };
        self.index
            .forget(moved.tx, moved.dialog.as_ref(), moved.port);
        let (tx2, dialog2, port2) = (moved.tx, moved.dialog.clone(), moved.port);
        if let Some(c) = self.calls.get_mut(&other) {
            c.hang_up(EndReason::ReplacedByTransfer, Side::Agent);
        }
        self.flush(now, other);
        let ctx = ctx!(self);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let new = call.adopt_replacing(now, &ctx, leg, moved);
        let r = LegRef { call: id, leg: new };
        if let Some(t) = tx2 {
            self.index.by_tx.insert(t, r);
        }
        if let Some(d) = dialog2 {
            self.index.by_dialog.insert(d, r);
        }
        if let Some(p) = port2 {
            self.index.by_port.insert(p, r);
        }
        self.flush(now, id);
    }

    // ---- SIP ----------------------------------------------------------------------------

    fn drain_sip(&mut self, now: Instant) {
        while let Some(ev) = self.sip.poll_event() {
            match ev {
                Event::Request {
                    tx,
                    req,
                    source,
                    origin,
                } if req.method == Method::Invite => self.on_invite(now, tx, *req, source, origin),
                // INFO, UPDATE, REFER, NOTIFY outside a dialog: there is nothing they refer to.
                Event::Request { tx, .. } => self.sip.respond(now, tx, 481, |b| b),
                Event::DialogRequest { tx, dialog, req } => {
                    match self.index.by_dialog.get(&dialog).copied() {
                        Some(r) => self.deliver(
                            now,
                            r.call,
                            SipInput::Request {
                                leg: r.leg,
                                tx,
                                req: &req,
                            },
                        ),
                        None => {
                            if let Some(tx) = tx {
                                self.sip.respond(now, tx, 481, |b| b);
                            }
                        }
                    }
                }
                Event::Cancelled { tx } => {
                    if let Some(r) = self.index.by_tx.get(&tx).copied() {
                        if r.leg == LegId::CALLER {
                            self.deliver(now, r.call, SipInput::Cancelled);
                        }
                    }
                }
                Event::AckTimeout { tx } => {
                    let answered = self
                        .index
                        .by_tx
                        .get(&tx)
                        .copied()
                        .filter(|r| r.leg == LegId::CALLER)
                        .filter(|r| {
                            self.calls
                                .get(&r.call)
                                .is_some_and(|c| !c.is_waiting_for_answer())
                        });
                    match answered {
                        Some(r) => self.deliver(now, r.call, SipInput::AckTimeout),
                        None => self
                            .events
                            .push_back(EngineEvent::Sip(Event::AckTimeout { tx })),
                    }
                }
                Event::SessionExpired { dialog } => {
                    match self.index.by_dialog.get(&dialog).copied() {
                        Some(r) => {
                            self.deliver(now, r.call, SipInput::SessionExpired { leg: r.leg })
                        }
                        None => self
                            .events
                            .push_back(EngineEvent::Sip(Event::SessionExpired { dialog })),
                    }
                }
                Event::OutgoingProgress { tx, status, sdp } => {
                    if let Some(r) = self.index.by_tx.get(&tx).copied() {
                        self.deliver(
                            now,
                            r.call,
                            SipInput::Progress {
                                leg: r.leg,
                                status,
                                sdp: sdp.as_deref(),
                            },
                        );
                    }
                }
                Event::OutgoingChallenged { tx, again } => {
                    // The INVITE went again with credentials: the leg follows it.
                    if let Some(r) = self.index.by_tx.remove(&tx) {
                        self.index.by_tx.insert(again, r);
                        if let Some(c) = self.calls.get_mut(&r.call) {
                            c.on_invite_sent(r.leg, again);
                        }
                    }
                }
                Event::OutgoingAnswered { tx, dialog, resp } => {
                    match self.index.by_tx.get(&tx).copied() {
                        Some(r) => {
                            self.index.by_dialog.insert(dialog.clone(), r);
                            self.deliver(
                                now,
                                r.call,
                                SipInput::Answered {
                                    leg: r.leg,
                                    dialog,
                                    resp: &resp,
                                },
                            )
                        }
                        None => {
                            // Answered after we gave up (a CANCEL crossed the 200): hang
                            // that phone up.
                            self.sip.send_in_dialog(now, &dialog, Method::Bye);
                            self.sip.forget_outgoing(tx);
                        }
                    }
                }
                Event::OutgoingFailed { tx, status, reason } => {
                    if let Some(r) = self.index.by_tx.remove(&tx) {
                        self.deliver(
                            now,
                            r.call,
                            SipInput::Failed {
                                leg: r.leg,
                                status,
                                reason,
                            },
                        );
                    }
                }
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

    /// Hands SIP to call `id`, then carries out what it asked.
    fn deliver(&mut self, now: Instant, id: CallId, input: SipInput<'_>) {
        let ctx = ctx!(self);
        if let Some(c) = self.calls.get_mut(&id) {
            c.handle_sip(now, &ctx, input);
            self.flush(now, id);
        }
    }

    /// The first grid with room for another call; the last when all are full.
    fn take_phase(&mut self) -> usize {
        let p = self
            .phase_load
            .iter()
            .position(|&n| n < PHASE_CALLS)
            .unwrap_or(PHASES - 1);
        self.phase_load[p] += 1;
        p
    }

    /// A new call: a hospital number runs its dialplan; an extension dialled by another
    /// rings directly; an agent's service code is answered with a confirmation. Anything
    /// else, or a call while stopping or behind, is refused before a call exists.
    fn on_invite(&mut self, now: Instant, tx: TxId, req: Request, source: Peer, origin: Origin) {
        let mut dialled = req
            .uri
            .as_sip()
            .and_then(|u| u.user_unescaped())
            .unwrap_or_default();
        let mut caller = req
            .core
            .from
            .uri
            .as_sip()
            .and_then(|u| u.user.clone())
            .unwrap_or_default();
        let user = origin.extension().unwrap_or_default().to_string();
        let user = user.as_str();
        let refuse = |e: &mut Engine, status: u16, dialled: String, caller: String| {
            e.events.push_back(EngineEvent::Rejected {
                dialled,
                caller: Redacted(caller),
                status,
            });
        };
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
            return refuse(self, 503, dialled, caller);
        }
        let mut outside = None;
        let mut trunk_in = None;
        if let Origin::Trunk(t) = origin {
            // A carrier's call: the DID says which hospital number it is for; anything else
            // is refused (never relayed back out).
            match self.carrier_call(now, tx, &req, t) {
                Some((internal, number, side)) => {
                    dialled = internal;
                    caller = number;
                    outside = Some(Box::new(side));
                    trunk_in = Some(t);
                }
                None => return,
            }
        }
        let entry = self.assets.plans.entry(&dialled);
        let is_roster = ctx!(self).is_roster(&dialled);
        let direct =
            entry.is_none() && (self.sip.has_user(&dialled) || is_roster) && dialled != user;
        let service = features::service_command(&self.cfg.features, &dialled)
            .filter(|_| trunk_in.is_none())
            .map(|cmd| (user.to_string(), cmd));
        let mut callee = direct.then(|| Callee::Extension(dialled.clone()));
        if entry.is_none() && !direct && service.is_none() && trunk_in.is_none() {
            match self.dial_plan(now, tx, user, &dialled) {
                Ok(Some((route, side))) => {
                    caller = user.to_string();
                    dialled = route.number.clone();
                    callee = Some(Callee::Outside(route));
                    outside = Some(Box::new(side));
                }
                // No rule covers it: no such number, below.
                Ok(None) => {}
                Err(Answered) => return,
            }
        }
        if entry.is_none() && callee.is_none() && service.is_none() {
            self.sip.respond(now, tx, 404, |b| {
                b.header("Warning", "399 switchboard \"no such number\"")
            });
            return refuse(self, 404, dialled, caller);
        }
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
                    return refuse(self, 400, dialled, caller);
                }
            }
        };
        if let Some(o) = &offer {
            let ctx = ctx!(self);
            let probe = ctx.local_media(9, 0, 0);
            if let Err(e) = answer(o, &probe) {
                self.sip
                    .respond(now, tx, 488, |b| b.header("Warning", e.warning()));
                return refuse(self, 488, dialled, caller);
            }
        }
        let id = CallId(self.next_call);
        self.next_call += 1;
        let ivr =
            entry.map(|e| Session::new(self.assets.plans.clone(), e, &self.cfg.default_language));
        let tick_phase = self.take_phase();
        let call = Call::new(
            NewCall {
                id,
                caller,
                ivr,
                callee,
                dialled,
                sip_call_id: req.core.call_id.clone(),
                tx,
                source,
                offer,
                service,
                tick_phase,
                outside,
                trunk_in,
            },
            &self.cfg.default_language,
        );
        self.calls.insert(id, call);
        self.index.by_tx.insert(
            tx,
            LegRef {
                call: id,
                leg: LegId::CALLER,
            },
        );
        self.flush(now, id);
    }

    /// Calls on trunk `t` now, both ways.
    fn trunk_load(&self, t: usize) -> u32 {
        self.calls
            .values()
            .flat_map(|c| c.legs())
            .filter(|l| l.trunk.as_ref().is_some_and(|x| x.trunk == t))
            .count() as u32
    }

    /// Whether trunk `t` may take another call now.
    fn trunk_free(&self, t: usize) -> bool {
        let max = self.cfg.outside.trunks.get(t).map_or(0, |p| p.max_calls);
        max == 0 || self.trunk_load(t) < max
    }

    /// A carrier's INVITE on trunk `t`: the internal number its DID stands for, the
    /// caller's normalised number ("" when withheld) and what the record keeps of it; or
    /// `None` once it has been refused (404 for a number that is not ours, 503 when the
    /// trunk is full).
    fn carrier_call(
        &mut self,
        now: Instant,
        tx: TxId,
        req: &Request,
        t: usize,
    ) -> Option<(String, String, Outside)> {
        let plan = self.cfg.outside.trunks.get(t)?.clone();
        let contact_user = self
            .sip
            .trunk_settings(t)
            .and_then(|s| s.account.as_ref())
            .map(|a| a.contact_user.clone());
        let inbound = read_inbound(
            req,
            &plan,
            &self.cfg.outside.numbering,
            contact_user.as_deref(),
        );
        let did = inbound.did.clone().unwrap_or_default();
        let Some(internal) = plan.did(&did).map(str::to_string) else {
            let r = OutRefusal::new(&did, "not a number of this trunk", 404);
            self.refuse_outside(now, tx, &plan.name, r);
            return None;
        };
        if !self.trunk_free(t) {
            let r = OutRefusal::new(&did, "trunk full", 503);
            self.refuse_outside(now, tx, &plan.name, r);
            return None;
        }
        let side = Outside {
            trunk: Some(plan.name.clone()),
            did: Some(did),
            withheld: inbound.withheld,
            purpose: None,
        };
        Some((internal, inbound.caller.unwrap_or_default(), side))
    }

    /// An extension dialled `dialled`, which is no internal number: the outbound dial plan
    /// decides. `None` when no rule covers it; `Answered` once the call has been refused
    /// (403 not allowed, 503 no trunk free or over the extension's limit).
    fn dial_plan(
        &mut self,
        now: Instant,
        tx: TxId,
        user: &str,
        dialled: &str,
    ) -> Result<Option<(OutRoute, Outside)>, Answered> {
        match self.outside_route(Some(user), dialled, true) {
            Ok(None) => Ok(None),
            Err(r) => {
                self.refuse_outside(now, tx, user, r);
                Err(Answered)
            }
            Ok(Some(route)) => {
                let side = Outside {
                    trunk: None,
                    did: None,
                    withheld: false,
                    purpose: Some(sb_types::vocab::OutboundPurpose::Dialled),
                };
                Ok(Some((route, side)))
            }
        }
    }

    /// The outbound dial plan's decision for extension `user` calling `dialled` out:
    /// `None` when no rule covers it; refused when no rule lets `user` dial it, when they
    /// have their limit of outside calls already (`limited`: they stay on the call), or
    /// when no trunk that may carry it is up and has room. No `user` is the switchboard
    /// itself (a callback), which only the rules for the engine let out.
    fn outside_route(
        &self,
        user: Option<&str>,
        dialled: &str,
        limited: bool,
    ) -> Result<Option<OutRoute>, OutRefusal> {
        let o = &self.cfg.outside;
        let who = match user {
            Some(number) => Dialler::Extension {
                number,
                role: o.kind_of(number).unwrap_or_default(),
            },
            None => Dialler::Engine,
        };
        let user = user.unwrap_or_default();
        let refusal = OutRefusal::new;
        match route(&o.rules, &o.trunks, who, dialled) {
            Route::NoRule => Ok(None),
            Route::Refused { .. } => Err(refusal(dialled, "number not allowed", 403)),
            Route::Out { number, trunks, .. } => {
                let limit = o.per_extension;
                let mine = self
                    .calls
                    .values()
                    .filter(|c| c.is_outside_call_of(user))
                    .count() as u32;
                if limited && limit > 0 && mine >= limit {
                    return Err(refusal(&number, "too many outside calls", 503));
                }
                let views = self.sip.trunks();
                let trunks: Vec<usize> = trunks
                    .into_iter()
                    .filter(|t| views.get(*t).is_some_and(|v| v.usable()))
                    .filter(|t| self.trunk_free(*t))
                    .collect();
                if trunks.is_empty() {
                    return Err(refusal(&number, "no trunk available", 503));
                }
                Ok(Some(OutRoute { number, trunks }))
            }
        }
    }

    /// Answers the INVITE in `tx` with the refusal, a security event.
    fn refuse_outside(&mut self, now: Instant, tx: TxId, by: &str, r: OutRefusal) {
        self.sip.respond(now, tx, r.status, |b| {
            b.header("Warning", format!("399 switchboard \"{}\"", r.why))
        });
        self.refused_outside(by, r);
    }

    /// A call out refused to `by`: a security event.
    fn refused_outside(&mut self, by: &str, r: OutRefusal) {
        self.events.push_back(EngineEvent::OutsideRefused {
            by: by.to_string(),
            dialled: Redacted(r.number),
            why: r.why,
            status: r.status,
        });
    }

    /// An agent's transfer or consultation on call `id` to `number`, which is no internal
    /// number: routed by the dial plan as if the agent dialled it, and handed back to the
    /// call.
    fn route_out(
        &mut self,
        now: Instant,
        id: CallId,
        user: &str,
        number: &str,
        intent: OutIntent,
    ) -> Result<(), ControlError> {
        // A blind transfer leaves the agent free: it is not one of their outside calls.
        let limited = !matches!(intent, OutIntent::Transfer(_) | OutIntent::Refer(_));
        let result = self.decide_out(Some(user), number, limited);
        let ctx = ctx!(self);
        let Some(call) = self.calls.get_mut(&id) else {
            return Err(ControlError::NoSuchCall);
        };
        call.routed_out(now, &ctx, intent, result)
    }

    /// The dial plan's way out for `user` (none: the switchboard itself, for a callback)
    /// to `number`, or the refusal, which is a security event.
    fn decide_out(
        &mut self,
        user: Option<&str>,
        number: &str,
        limited: bool,
    ) -> Result<OutRoute, RouteRefusal> {
        match self.outside_route(user, number, limited) {
            Ok(Some(route)) => Ok(route),
            Ok(None) => Err(RouteRefusal {
                status: 404,
                why: "no such extension or number",
                error: ControlError::UnknownExtension(number.to_string()),
            }),
            Err(r) => {
                let refused = RouteRefusal {
                    status: r.status,
                    why: r.why,
                    error: ControlError::OutsideRefused(r.why),
                };
                self.refused_outside(user.unwrap_or("callback"), r);
                Err(refused)
            }
        }
    }

    /// The callback call `id` reached its patient's turn: the patient is dialled, on their
    /// extension when they called from one, else through a carrier as the engine's rules
    /// allow.
    fn route_callback(&mut self, now: Instant, id: CallId, number: &str) {
        let way = match self.sip.location().lookup(number, now).first() {
            Some(b) => Ok(PatientRoute::Extension(b.contact.uri.clone(), b.flow)),
            None => self
                .decide_out(None, number, false)
                .map(PatientRoute::Trunk),
        };
        let ctx = ctx!(self);
        if let Some(call) = self.calls.get_mut(&id) {
            call.patient_routed(now, &ctx, way);
        }
    }

    /// The first instant from `t` on inside the callbacks' hours.
    fn callbacks_open(&self, t: Instant) -> Option<Instant> {
        let clock = self.cfg.wall_clock();
        next_open(&self.cfg.callbacks, t, |x| clock.ms(x))
    }

    /// The patient on call `id` pressed 1 to be called back from `queue`: inside the
    /// callbacks' hours a callback call takes their place in the queue at once; outside
    /// them it waits for the hours to open.
    fn callback_requested(&mut self, now: Instant, id: CallId, queue: String) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        let item = Item::asked_on(c, queue.clone(), now);
        let priority = c.priority();
        let open_now = self.callbacks_open(now) == Some(now);
        if open_now && !self.draining {
            let cb = self.start_callback(now, id, &item);
            self.callbacks.add(id, item, None);
            self.callbacks.working(id, cb);
            self.acd
                .handle_callback(now, id, &queue, Some(cb), priority);
            return;
        }
        self.acd.handle_callback(now, id, &queue, None, priority);
        match self.callbacks_open(now) {
            Some(at) => {
                self.callbacks.add(id, item, Some(at));
                self.events.push_back(EngineEvent::CallbackDeferred {
                    item: id,
                    at_ms: self.cfg.wall_clock().ms(at),
                    tries: 0,
                });
            }
            None => self.events.push_back(EngineEvent::CallbackClosed {
                item: id,
                outcome: CallbackOutcome::Worklist,
                tries: 0,
            }),
        }
    }

    /// A patient on call `id` hung up after waiting `waited`: past the short-abandon
    /// threshold (and not already to be called back) they become a callback item, due one
    /// retry interval later (inside the callbacks' hours) at the back of the queue they
    /// left; calling again and getting through meanwhile closes it.
    fn abandoned(&mut self, now: Instant, id: CallId, waited: Duration) {
        let Some(threshold) = self.cfg.callbacks.recover_after else {
            return;
        };
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        let (Some(queue), false) = (c.queue_name(), c.callback_of().is_some()) else {
            return;
        };
        if waited < threshold || self.callbacks.has_number(c.caller_number()) {
            return;
        }
        let item = Item::asked_on(c, queue.clone(), now);
        self.events.push_back(EngineEvent::CallbackRecovered {
            item: id,
            queue,
            waited_ms: waited.as_millis() as u64,
        });
        let at = self
            .callbacks_open(now + self.cfg.callbacks.retry)
            .filter(|_| !self.draining);
        self.callbacks.add(id, item, at);
        if let Some(at) = at {
            self.events.push_back(EngineEvent::CallbackDeferred {
                item: id,
                at_ms: self.cfg.wall_clock().ms(at),
                tries: 0,
            });
        }
    }

    /// Call `id` was answered by an agent: a callback still owed to the same number is no
    /// longer needed (the patient called again and got through); one waiting in a queue is
    /// withdrawn, one ringing the patient already goes on.
    fn answered_again(&mut self, now: Instant, id: CallId) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        if c.callback_of().is_some() {
            return;
        }
        let number = c.caller_number().to_string();
        let calls = &self.calls;
        let dialled = |cb: CallId| {
            calls
                .get(&cb)
                .and_then(Call::callback_of)
                .is_some_and(|k| k.dialled)
        };
        for (item, waiting) in self.callbacks.close_for_number(&number, dialled) {
            if let Some(cb) = waiting {
                if let Some(call) = self.calls.get_mut(&cb) {
                    call.end(0, EndReason::CallbackNotNeeded, Side::Engine);
                }
                self.flush(now, cb);
            }
            self.events.push_back(EngineEvent::CallbackClosed {
                item,
                outcome: CallbackOutcome::CalledAgain,
                tries: 0,
            });
        }
    }

    /// A callback call for the item asked on call `asked`, its events out; the caller puts
    /// it in the queue.
    fn start_callback(&mut self, now: Instant, asked: CallId, item: &Item) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        let tick_phase = self.take_phase();
        let call = Call::callback(CallbackCall {
            id,
            item: asked,
            number: item.number.clone(),
            queue: item.queue.clone(),
            requested: item.requested,
            sip_call_id: self.sip.new_call_id(),
            tick_phase,
            language: item.language.clone(),
        });
        self.calls.insert(id, call);
        self.flush(now, id);
        self.events.push_back(EngineEvent::CallbackStarted {
            call: id,
            item: asked,
            attempt: item.tries + 1,
        });
        id
    }

    /// Callbacks whose time has come: each takes the back of its queue (outside the
    /// callbacks' hours, it waits on).
    fn callbacks_due(&mut self, now: Instant) {
        while let Some((asked, item)) = self.callbacks.pop_due(now) {
            if self.draining {
                continue;
            }
            match self.callbacks_open(now) {
                Some(t) if t == now => {}
                Some(later) => {
                    self.callbacks.defer(asked, later);
                    continue;
                }
                None => continue,
            }
            let cb = self.start_callback(now, asked, &item);
            self.callbacks.working(asked, cb);
            self.acd.handle_callback_retry(now, cb, &item.queue);
            self.run_acd(now);
        }
    }

    /// A callback call ended: the item closes (reached, or out of tries) or waits for its
    /// next try.
    fn callback_done(&mut self, now: Instant, item: CallId, dialled: bool, reached: bool) {
        let rules = self.cfg.callbacks.clone();
        let clock = self.cfg.wall_clock();
        let next = self
            .callbacks
            .done(now, item, dialled, reached, &rules, |t| {
                next_open(&rules, t, |x| clock.ms(x))
            });
        let event = match next {
            Some(Next::Reached { tries }) => EngineEvent::CallbackClosed {
                item,
                outcome: CallbackOutcome::Reached,
                tries,
            },
            Some(Next::Retry { at, tries }) => EngineEvent::CallbackDeferred {
                item,
                at_ms: clock.ms(at),
                tries,
            },
            Some(Next::GaveUp { tries }) => EngineEvent::CallbackClosed {
                item,
                outcome: CallbackOutcome::Worklist,
                tries,
            },
            None => return,
        };
        self.events.push_back(event);
    }

    /// Where each trunk stands, with its calls now.
    pub fn live_trunks(&self) -> Vec<(sb_sip::trunk::TrunkView, u32)> {
        self.sip
            .trunks()
            .into_iter()
            .enumerate()
            .map(|(i, v)| (v, self.trunk_load(i)))
            .collect()
    }

    /// Removes the trunks' registrations with their carriers (at shutdown); says how many
    /// un-REGISTERs went out.
    pub fn unregister_trunks(&mut self, now: Instant) -> usize {
        self.sip.unregister_trunks(now)
    }

    // ---- the control API ------------------------------------------------------------------

    /// Keep-my-place callbacks not yet closed (waiting in a queue, ringing, or due later).
    pub fn callbacks_pending(&self) -> usize {
        self.callbacks.len()
    }

    /// Every call now, for the control API.
    pub fn live_calls(&self) -> Vec<LiveCall> {
        let mut out: Vec<LiveCall> = self.calls.values().map(|c| self.live_of(c)).collect();
        out.sort_by_key(|c| c.id);
        out
    }

    /// One call now.
    pub fn live_call(&self, id: CallId) -> Option<LiveCall> {
        self.calls.get(&id).map(|c| self.live_of(c))
    }

    fn live_of(&self, call: &Call) -> LiveCall {
        let mut live = call.live();
        live.answered_at = self.acd.answered_at(live.id);
        live
    }

    /// Carries out `action` on call `id`, asked from outside the call (the control API).
    pub fn call_action(
        &mut self,
        now: Instant,
        id: CallId,
        action: CallAction,
        by: Control,
    ) -> Result<(), ControlError> {
        // A transfer or consultation to an outside number: the dial plan decides first,
        // so the caller of the API hears a refusal.
        let outside = match &action {
            CallAction::Transfer(to) => Some((to, OutIntent::Transfer(by))),
            CallAction::Consult(to) => Some((to, OutIntent::Consult(by))),
            _ => None,
        }
        .filter(|(to, _)| !ctx!(self).is_internal(to));
        if let Some((to, intent)) = outside {
            let call = self.calls.get(&id).ok_or(ControlError::NoSuchCall)?;
            let user = call.live().agent.ok_or(ControlError::NotBridged)?;
            let result = self.route_out(now, id, &user, to, intent);
            self.flush(now, id);
            return result;
        }
        let ctx = ctx!(self);
        let Some(call) = self.calls.get_mut(&id) else {
            return Err(ControlError::NoSuchCall);
        };
        let result = call.handle_command(now, &ctx, action, by);
        self.flush(now, id);
        result
    }

    /// Places a call from extension `from` to `to` (an extension, the on-duty number, or
    /// an outside number `from` may dial): `from`'s phone rings first, then `to`, and the
    /// two are bridged. Refused when `from` has no phone, `to` is no number it may call,
    /// or the switchboard is stopping.
    pub fn place_call(
        &mut self,
        now: Instant,
        from: &str,
        to: &str,
    ) -> Result<CallId, ControlError> {
        if self.draining {
            return Err(ControlError::Stopping);
        }
        let Some((contact, flow)) = self
            .sip
            .location()
            .lookup(from, now)
            .first()
            .map(|b| (b.contact.uri.clone(), b.flow))
        else {
            return Err(ControlError::PhoneOffline(from.to_string()));
        };
        if to == from {
            return Err(ControlError::UnknownExtension(to.to_string()));
        }
        let (callee, dialled, outside) = if self.sip.has_user(to) || ctx!(self).is_roster(to) {
            (Callee::Extension(to.to_string()), to.to_string(), None)
        } else {
            let route = match self.outside_route(Some(from), to, true) {
                Ok(Some(route)) => route,
                Ok(None) => return Err(ControlError::UnknownExtension(to.to_string())),
                Err(r) => {
                    let why = r.why;
                    self.refused_outside(from, r);
                    return Err(ControlError::OutsideRefused(why));
                }
            };
            let side = Outside {
                trunk: None,
                did: None,
                withheld: false,
                purpose: Some(sb_types::vocab::OutboundPurpose::Dialled),
            };
            let number = route.number.clone();
            (Callee::Outside(route), number, Some(Box::new(side)))
        };
        let id = CallId(self.next_call);
        self.next_call += 1;
        let tick_phase = self.take_phase();
        let call = Call::place(
            PlaceCall {
                id,
                from: from.to_string(),
                contact,
                flow,
                callee,
                dialled,
                sip_call_id: self.sip.new_call_id(),
                tick_phase,
                outside,
                ring: self.cfg.transfer_ring,
            },
            now,
            &self.cfg.default_language,
        );
        self.calls.insert(id, call);
        self.flush(now, id);
        Ok(id)
    }

    /// Every extension's phone now: on a call, ringing, registered or offline.
    pub fn live_presence(&self, now: Instant) -> Vec<(String, crate::control::Presence)> {
        use crate::call::leg::Role;
        use crate::control::Presence;
        let mut busy: std::collections::HashMap<&str, Presence> = Default::default();
        for call in self.calls.values() {
            for leg in call.legs() {
                if leg.trunk.is_some() {
                    continue;
                }
                let p = match leg.role {
                    // The phone placing a call rings until it answers.
                    Role::Caller if call.is_placed() && leg.dialog.is_none() => Presence::Ringing,
                    // A phone that dialled is busy from its first INVITE.
                    Role::Caller => Presence::OnCall,
                    _ if leg.connected => Presence::OnCall,
                    _ => Presence::Ringing,
                };
                let e = busy.entry(leg.party.as_str()).or_insert(p);
                *e = (*e).max(p);
            }
        }
        self.cfg
            .outside
            .extension_kinds
            .iter()
            .map(|(number, _)| {
                let p = busy.get(number.as_str()).copied().unwrap_or_else(|| {
                    if self.sip.location().lookup(number, now).is_empty() {
                        Presence::Offline
                    } else {
                        Presence::Registered
                    }
                });
                (number.clone(), p)
            })
            .collect()
    }

    /// Every agent now.
    pub fn live_agents(&self) -> Vec<sb_acd::AgentView> {
        self.acd.agents_view()
    }

    /// Every queue now.
    pub fn live_queues(&self, now: Instant) -> Vec<sb_acd::QueueView> {
        self.acd.queues_view(now)
    }

    /// Logs an agent in or out, pauses or unpauses them (the control API; the service codes
    /// dialled from the phone take the same way).
    pub fn agent_command(
        &mut self,
        now: Instant,
        agent: &str,
        cmd: AgentCommand,
    ) -> Result<(), ControlError> {
        let id = AgentId(agent.to_string());
        check_agent_command(&self.acd, &id, &cmd)?;
        apply_agent_command(&mut self.acd, now, &id, cmd);
        self.run_acd(now);
        Ok(())
    }

    // ---- checks ---------------------------------------------------------------------------

    /// The media ports calls and legs hold now, in order (for tests aiming packets).
    pub fn live_ports(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self.index.by_port.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Checks the index against the calls; the first inconsistency found.
    pub fn check_invariants(&self) -> Result<(), String> {
        for (id, call) in &self.calls {
            for leg in call.legs() {
                let r = LegRef {
                    call: *id,
                    leg: leg.id,
                };
                if let Some(p) = leg.port {
                    if self.index.by_port.get(&p) != Some(&r) {
                        return Err(format!(
                            "{id} leg {:?}'s port {p} is not indexed to it",
                            leg.id
                        ));
                    }
                }
                if let Some(d) = &leg.dialog {
                    if self.index.by_dialog.get(d) != Some(&r) {
                        return Err(format!(
                            "{id} leg {:?}'s dialog is not indexed to it",
                            leg.id
                        ));
                    }
                }
                if let Some(tx) = leg.tx {
                    let indexed = self.index.by_tx.get(&tx);
                    // A failed INVITE's transaction is forgotten before the leg goes.
                    if indexed.is_some_and(|x| *x != r) {
                        return Err(format!(
                            "{id} leg {:?}'s transaction points elsewhere",
                            leg.id
                        ));
                    }
                }
            }
            if let Some(a) = call.agent_leg() {
                if call.legs().iter().all(|l| l.id != a) {
                    return Err(format!("{id} talks to leg {a:?}, which it does not have"));
                }
            }
        }
        let holds = |r: &LegRef, f: &dyn Fn(&crate::call::leg::Leg) -> bool| {
            self.calls
                .get(&r.call)
                .is_some_and(|c| c.legs().iter().any(|l| l.id == r.leg && f(l)))
        };
        for (port, r) in &self.index.by_port {
            if !holds(r, &|l| l.port == Some(*port)) {
                return Err(format!(
                    "port {port} is indexed to {r:?}, which does not hold it"
                ));
            }
        }
        for (dialog, r) in &self.index.by_dialog {
            if !holds(r, &|l| l.dialog.as_ref() == Some(dialog)) {
                return Err(format!(
                    "a dialog is indexed to {r:?}, which does not hold it"
                ));
            }
        }
        for (tx, r) in &self.index.by_tx {
            if !holds(r, &|l| l.tx == Some(*tx)) {
                return Err(format!("transaction {tx:?} points at {r:?}, which is gone"));
            }
        }
        Ok(())
    }
}
