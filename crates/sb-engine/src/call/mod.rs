//! One call and all of its behaviour: its legs, its state, its timers, its media. The
//! router hands it what concerns it ([`Call::handle_sip`], [`Call::handle_rtp`],
//! [`Call::handle_acd`], [`Call::handle_command`], [`Call::handle_timeout`], each with the
//! time and a read-only [`Ctx`]), and carries out the [`Output`]s it queues: SIP to send,
//! media ports to open and close, inputs for the ACD, events. A call never touches the SIP
//! endpoint, the ACD or another call itself, so it can be driven alone in a unit test.

mod callback;
mod caller;
pub(crate) mod conference;
mod consult;
pub(crate) mod features;
mod ivr;
pub(crate) mod leg;
mod legs;
mod outside;
mod placed;
pub(crate) mod playout;
mod queue;
mod relay;
pub(crate) mod state;
mod survey;
mod talk;
#[cfg(test)]
mod tests;
mod transfer;

use crate::assets::Assets;
use crate::config::EngineConfig;
use crate::control::{AgentCommand, CallAction, ControlError, LiveCall};
use crate::event::EngineEvent;
use leg::{Leg, LegId, TrunkLeg};
use playout::Playout;
use sb_acd::{Acd, AcdAction, AgentId};
use sb_media::dtmf::DigitCollector;
use sb_media::negotiate::LocalMedia;
use sb_media::prompt::Prompt;
use sb_media::SessionDescription;
use sb_sip::dialog::DialogId;
use sb_sip::transaction::TxId;
use sb_sip::{Endpoint, OutgoingCall, Peer};
use sb_sip_msg::{Request, Response};
use sb_types::vocab::{CallDirection, Control, EndReason, Side};
use sb_types::CallId;
use state::CallState;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use crate::rtp_out::RtpQueue;
pub(crate) use callback::{CallbackCall, PatientRoute};
pub(crate) use placed::PlaceCall;
pub(crate) use playout::{position_prompt, wait_prompt};

/// What a call may read of the world around it while it handles an input.
pub(crate) struct Ctx<'a> {
    pub(crate) cfg: &'a EngineConfig,
    pub(crate) assets: &'a Assets,
    /// The SIP endpoint: who is registered where, the realm, our contact.
    pub(crate) sip: &'a Endpoint,
    /// The ACD: places in queues, who is connected, who is free.
    pub(crate) acd: &'a Acd,
    /// The engine's seed, for the RTP sessions' SSRCs and sequence numbers.
    pub(crate) seed: u64,
}

/// What a dialplan session noted (its variables, by name) and the nodes it went through.
fn notes(s: &sb_ivr::Session) -> (Vec<(String, String)>, Vec<String>) {
    (
        s.vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        s.path.clone(),
    )
}

impl Ctx<'_> {
    /// Unix seconds at `now` on the engine's wall clock (opening hours).
    pub(crate) fn wall(&self, now: Instant) -> i64 {
        self.cfg.wall_clock().ms(now).div_euclid(1000)
    }

    pub(crate) fn prompt(&self, language: &str, name: &str) -> Option<&Arc<Prompt>> {
        self.assets.prompt(language, name)
    }

    /// Whether `to` is a number of the switchboard's own: an extension, the on-duty
    /// number or a queue's number.
    pub(crate) fn is_internal(&self, to: &str) -> bool {
        self.sip.has_user(to) || self.is_roster(to) || self.queue_by_number(to).is_some()
    }

    /// Whether `number` is the on-duty number (`roster.number`).
    pub(crate) fn is_roster(&self, number: &str) -> bool {
        !self.cfg.roster.is_empty() && self.cfg.roster_number.as_deref() == Some(number)
    }

    /// Who `to` stands for now: the on-duty number is the first person on the roster with
    /// a phone registered; any other number is itself.
    pub(crate) fn resolve(&self, now: Instant, to: &str) -> Option<String> {
        if !self.is_roster(to) {
            return Some(to.to_string());
        }
        self.cfg
            .roster
            .iter()
            .find(|p| !self.sip.location().lookup(p, now).is_empty())
            .cloned()
    }

    /// The queue dialled by `number`, if it is a queue's number.
    pub(crate) fn queue_by_number(&self, number: &str) -> Option<String> {
        self.cfg
            .queue_numbers
            .iter()
            .find(|(n, _)| n == number)
            .map(|(_, q)| q.clone())
    }

    /// Our media on `port`, for an offer or an answer.
    pub(crate) fn local_media(&self, port: u16, session_id: u64, version: u64) -> LocalMedia {
        LocalMedia {
            addr: self.cfg.media_ip,
            port,
            codecs: self.cfg.codecs.clone(),
            session_id,
            session_version: version,
        }
    }
}

/// A response the router sends on a transaction.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) reason: Option<&'static str>,
    pub(crate) headers: Vec<(&'static str, String)>,
    /// An SDP body; a response that carries one also carries our Contact.
    pub(crate) sdp: Option<Vec<u8>>,
}

impl Reply {
    pub(crate) fn status(status: u16) -> Reply {
        Reply {
            status,
            ..Reply::default()
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn reason(mut self, reason: &'static str) -> Reply {
        self.reason = Some(reason);
        self
    }

    /// 200 with our SDP (and Contact).
    pub(crate) fn sdp(status: u16, sdp: &SessionDescription) -> Reply {
        Reply {
            status,
            sdp: Some(sdp.to_bytes()),
            ..Reply::default()
        }
    }
}

/// What the ACD is told about this call (or one of its agents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AcdInput {
    Enqueue {
        queue: String,
        priority: i32,
    },
    /// Declined the callback offer: stays in the queue it overflowed from.
    Stay {
        queue: String,
        priority: i32,
    },
    /// Pressed 1: keeps their place for a callback.
    Callback {
        queue: String,
    },
    /// The agent on `leg` answered the offer; the router tells the call if the offer was
    /// withdrawn meanwhile.
    Answered {
        agent: AgentId,
        leg: LegId,
    },
    OfferFailed {
        agent: AgentId,
    },
    /// The agent who had the call is done with it.
    CallEnded,
    /// The patient left the queue.
    Abandon,
    /// The agent is on (or off) a call the ACD does not route: no offers meanwhile.
    OtherCall {
        agent: AgentId,
        busy: bool,
    },
    /// An agent's service code, checked already.
    Command {
        agent: AgentId,
        cmd: AgentCommand,
    },
}

/// What a call asks the router to carry out.
#[derive(Debug)]
pub(crate) enum Output {
    Respond {
        tx: TxId,
        reply: Reply,
    },
    /// Answer the caller's INVITE with 200 and our SDP, forming the dialog; the router
    /// reports it back with [`Call::on_answered`] (or [`Call::on_no_dialog`]).
    Answer {
        sdp: Vec<u8>,
    },
    /// Call a phone on `leg`; the router reports the transaction with
    /// [`Call::on_invite_sent`].
    Invite {
        leg: LegId,
        call: Box<OutgoingCall>,
    },
    Cancel {
        tx: TxId,
    },
    /// A request in a dialog (BYE, or NOTIFY with its headers and body).
    InDialog {
        dialog: DialogId,
        request: InDialog,
    },
    /// Bind a media port for `leg`; reported with [`Call::on_port`].
    OpenPort {
        leg: LegId,
    },
    /// A leg is gone: its transaction, dialog and port are forgotten, the port closed.
    LegGone {
        tx: Option<TxId>,
        dialog: Option<DialogId>,
        port: Option<u16>,
    },
    Acd(AcdInput),
    Event(EngineEvent),
    /// REFER with Replaces from the agent on `leg`: the router finds the call named and
    /// hands its colleague over ([`Call::adopt_replacing`]).
    ReferReplaces {
        leg: LegId,
        tx: TxId,
        replaces: String,
    },
    /// The agent `user` transfers or consults to `number`, which is no internal number:
    /// the router asks the dial plan and answers with [`Call::routed_out`].
    RouteOut {
        user: String,
        number: String,
        intent: OutIntent,
    },
    /// A callback's agent answered: the router finds the way to the patient at `number`
    /// and answers with [`Call::patient_routed`].
    CallPatient {
        number: String,
    },
    /// A callback call is over: whether the patient's phone was dialled and whether they
    /// answered (the router tries again, or closes the item).
    CallbackDone {
        item: CallId,
        dialled: bool,
        reached: bool,
    },
    /// The call is over; the router forgets it.
    Ended,
}

/// What an agent wants of an outside number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutIntent {
    Transfer(Control),
    Consult(Control),
    /// The agent's phone sent REFER in this transaction: answered once decided.
    Refer(TxId),
}

/// Why the dial plan would not route an agent's transfer or consultation out.
#[derive(Debug)]
pub(crate) struct RouteRefusal {
    /// For a REFER's answer.
    pub(crate) status: u16,
    pub(crate) why: &'static str,
    /// For the control API's answer.
    pub(crate) error: ControlError,
}

/// A request the call sends in one of its dialogs.
#[derive(Debug)]
pub(crate) enum InDialog {
    Bye,
    /// RFC 3515's NOTIFY of a REFER's outcome: `frag` as message/sipfrag; `last` ends the
    /// implicit subscription.
    Notify {
        frag: &'static str,
        last: bool,
    },
}

/// What SIP brings a call.
#[derive(Debug)]
pub(crate) enum SipInput<'a> {
    /// A request in the dialog of `leg`; `tx` is `None` for an ACK.
    Request {
        leg: LegId,
        tx: Option<TxId>,
        req: &'a Request,
    },
    /// The caller cancelled the INVITE (487 sent already).
    Cancelled,
    /// No ACK came for our 200 OK.
    AckTimeout,
    /// The other end of `leg` stopped refreshing its session (RFC 4028): it is gone.
    SessionExpired { leg: LegId },
    /// Our INVITE on `leg` was answered (the dialog exists, the ACK is sent).
    Answered {
        leg: LegId,
        dialog: DialogId,
        resp: &'a Response,
    },
    /// Our INVITE on `leg` failed with `status` (and the Reason the far end gave).
    Failed {
        leg: LegId,
        status: u16,
        reason: Option<String>,
    },
    /// A provisional answer to our INVITE on `leg`, with its SDP (early media) if any.
    Progress {
        leg: LegId,
        status: u16,
        sdp: Option<&'a [u8]>,
    },
}

/// Who a call between the switchboard's users goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Callee {
    /// An extension (or the on-duty number).
    Extension(String),
    /// A number in the phone network, through a carrier.
    Outside(OutRoute),
}

/// A call out: the number and the trunks to try, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutRoute {
    /// The number, normalised.
    pub(crate) number: String,
    /// Indices of the trunks, in order (the router left out those down or full).
    pub(crate) trunks: Vec<usize>,
}

/// Which of a call's timers is due next, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallTimer {
    /// The next 20 ms of media the engine makes (prompts, music, silence, a mix).
    Media,
    /// The dialplan's own timer (a menu's wait for a key, opening hours).
    Ivr,
    /// The time to press 1 for a callback is up.
    CallbackOffer,
    /// A transfer or consultation leg rang too long.
    Ring(LegId),
}

impl fmt::Display for CallTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallTimer::Media => f.write_str("media"),
            CallTimer::Ivr => f.write_str("ivr"),
            CallTimer::CallbackOffer => f.write_str("callback offer"),
            CallTimer::Ring(l) => write!(f, "ring of leg {}", l.0),
        }
    }
}

/// One call.
#[derive(Debug)]
pub struct Call {
    id: CallId,
    /// The caller's number (personal data: never logged unredacted).
    caller: String,
    dialled: String,
    /// The legs, the caller's first.
    legs: Vec<Leg>,
    /// The number the next leg called out on gets.
    next_leg: u64,
    state: CallState,
    /// The language prompts are played in: the dialplan's choice.
    language: String,
    /// The queue the call waits in or last waited in, and its priority there.
    last_queue: Option<(String, i32)>,
    /// When the call joined `last_queue`.
    queued_at: Option<Instant>,
    /// What the dialplan set (media source, tags) and the nodes it went through, kept once
    /// it hands the call on.
    vars: Vec<(String, String)>,
    path: Vec<String>,
    /// A call between extensions (or out to the network): the one dialled.
    callee: Option<Callee>,
    /// An agent's service code to carry out once answered (`None` inside: not valid).
    service: Option<Option<AgentCommand>>,
    /// The switchboard placed the call: its first leg is a phone it rings (see
    /// [`placed`]).
    placed: Option<placed::Placed>,
    playout: Playout,
    digits: DigitCollector,
    /// In-band keys heard in one packet (kept to avoid allocating per packet).
    scratch_digits: Vec<char>,
    out: VecDeque<Output>,
    /// The wake-up last handed to the router's deadline queue.
    scheduled: Option<Instant>,
    /// Over: the router forgets the call once it has carried out its last outputs.
    ended: bool,
}

/// What the router knows of a call it creates.
pub(crate) struct NewCall {
    pub(crate) id: CallId,
    pub(crate) caller: String,
    pub(crate) dialled: String,
    pub(crate) sip_call_id: String,
    pub(crate) tx: TxId,
    pub(crate) source: Peer,
    pub(crate) offer: Option<SessionDescription>,
    /// The dialplan to run; `None` for a call between extensions or a service code.
    pub(crate) ivr: Option<sb_ivr::Session>,
    /// A call between extensions (or out to the network): the one dialled.
    pub(crate) callee: Option<Callee>,
    pub(crate) service: Option<(String, Option<AgentCommand>)>,
    pub(crate) tick_phase: usize,
    /// A call from or to the phone network.
    pub(crate) outside: Option<Box<crate::event::Outside>>,
    /// The trunk a carrier's call came in on.
    pub(crate) trunk_in: Option<usize>,
}

impl Call {
    /// A call whose INVITE was accepted: 100 Trying, a port for the caller's leg.
    pub(crate) fn new(n: NewCall, default_language: &str) -> Call {
        let language = n
            .ivr
            .as_ref()
            .map_or(default_language, sb_ivr::Session::language)
            .to_string();
        let direction = match (&n.service, &n.callee) {
            (Some(_), _) => CallDirection::Service,
            (None, Some(Callee::Outside(_))) => CallDirection::Outbound,
            (None, Some(Callee::Extension(_))) => CallDirection::Internal,
            (None, None) => CallDirection::Inbound,
        };
        let mut caller = Leg::caller(&n.caller, n.tx, n.source, n.offer);
        caller.trunk = n.trunk_in.map(|trunk| {
            Box::new(TrunkLeg {
                trunk,
                number: n.caller.clone(),
                rest: Vec::new(),
                progressed: true,
            })
        });
        let mut call = Call::with_first_leg(
            n.id,
            &n.caller,
            &n.dialled,
            caller,
            CallState::Setup {
                ivr: n.ivr.map(Box::new),
            },
            language,
            n.tick_phase,
        );
        call.callee = n.callee.clone();
        call.service = n.service.map(|(_, cmd)| cmd);
        call.respond(n.tx, Reply::status(100));
        call.event(EngineEvent::CallStarted {
            call: n.id,
            dialled: n.dialled,
            caller: sb_types::pii::Redacted(n.caller.clone()),
            sip_call_id: n.sip_call_id,
            direction,
            outside: n.outside,
        });
        if n.callee.is_some() {
            // An agent calling a colleague is busy for the ACD until they hang up.
            call.acd(AcdInput::OtherCall {
                agent: AgentId(n.caller),
                busy: true,
            });
        }
        call.out.push_back(Output::OpenPort { leg: LegId::CALLER });
        call
    }

    /// A call with its first leg (the caller's, or the phone a placed call rings first),
    /// nothing queued yet.
    fn with_first_leg(
        id: CallId,
        caller: &str,
        dialled: &str,
        first: Leg,
        state: CallState,
        language: String,
        tick_phase: usize,
    ) -> Call {
        // Room for the caller and one agent from the start: a vector of one would grow to
        // room for four at the first offer, two of them never used by most calls.
        let mut legs = Vec::with_capacity(2);
        legs.push(first);
        Call {
            id,
            caller: caller.to_string(),
            dialled: dialled.to_string(),
            legs,
            next_leg: 1,
            state,
            language,
            last_queue: None,
            queued_at: None,
            vars: Vec::new(),
            path: Vec::new(),
            callee: None,
            service: None,
            placed: None,
            playout: Playout::new(tick_phase),
            digits: DigitCollector::default(),
            scratch_digits: Vec::new(),
            out: VecDeque::new(),
            scheduled: None,
            ended: false,
        }
    }

    /// The call's id.
    pub fn id(&self) -> CallId {
        self.id
    }

    /// The next thing for the router to carry out.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// The caller's number (personal data: never logged unredacted).
    pub(crate) fn caller_number(&self) -> &str {
        &self.caller
    }

    /// The language the call's prompts are in now.
    pub(crate) fn language_now(&self) -> &str {
        self.language()
    }

    /// The priority the call waits (or last waited) with.
    pub(crate) fn priority(&self) -> i32 {
        self.last_queue.as_ref().map_or(0, |(_, p)| *p)
    }

    /// The queue the call waits in or last waited in.
    pub(crate) fn queue_name(&self) -> Option<String> {
        self.last_queue.as_ref().map(|(q, _)| q.clone())
    }

    /// The legs, for the router's index and its checks.
    pub(crate) fn legs(&self) -> &[Leg] {
        &self.legs
    }

    /// Whether the caller's INVITE has been answered.
    pub(crate) fn is_answered(&self) -> bool {
        self.caller_leg().dialog.is_some()
    }

    pub(crate) fn is_waiting_for_answer(&self) -> bool {
        matches!(
            self.state,
            CallState::Setup { .. } | CallState::Dialling { .. }
        )
    }

    /// The leg the patient talks to, if any.
    pub(crate) fn agent_leg(&self) -> Option<LegId> {
        self.state.agent_leg()
    }

    /// The caller's leg's dialog, to match a Replaces header against.
    pub(crate) fn caller_dialog(&self) -> Option<&DialogId> {
        self.caller_leg().dialog.as_ref()
    }

    /// Whether this is a call out to the network placed by extension `user`.
    pub(crate) fn is_outside_call_of(&self, user: &str) -> bool {
        matches!(self.callee, Some(Callee::Outside(_))) && self.caller == user
    }

    /// A call between extensions placed by `user`, and the leg the one dialled answered on.
    pub(crate) fn direct_call_of(&self, user: &str) -> Option<LegId> {
        if self.callee.is_none() || self.caller != user {
            return None;
        }
        match self.state {
            CallState::Bridged { agent, .. } => Some(agent),
            _ => None,
        }
    }

    // ---- small helpers used across the call's files ---------------------------------------

    /// The language prompts are played in: the dialplan's, while it runs.
    fn language(&self) -> &str {
        match &self.state {
            CallState::Ivr(s) => s.language(),
            _ => &self.language,
        }
    }

    /// Moves to `next`, keeping the dialplan's language when it is left.
    fn set_state(&mut self, next: CallState) -> CallState {
        let old = std::mem::replace(&mut self.state, next);
        if let CallState::Ivr(s) = &old {
            self.language = s.language().to_string();
            (self.vars, self.path) = notes(s);
        }
        old
    }

    /// The timer the router should wake the call at, when it changed since last asked.
    pub(crate) fn reschedule(&mut self) -> Option<Instant> {
        let next = self.poll_timeout().map(|(t, _)| t);
        if next == self.scheduled {
            return None;
        }
        self.scheduled = next;
        next
    }

    /// The router's deadline queue woke the call at `now`: false for an entry left from
    /// an earlier schedule (the call's wake-up is later now).
    pub(crate) fn woken(&mut self, now: Instant) -> bool {
        if self.scheduled.is_some_and(|t| t > now) {
            return false;
        }
        self.scheduled = None;
        true
    }

    /// The caller's INVITE transaction and the flow it came over, to answer it.
    pub(crate) fn caller_invite(&self) -> Option<(TxId, Peer)> {
        let l = self.caller_leg();
        Some((l.tx?, l.flow))
    }

    fn respond(&mut self, tx: TxId, reply: Reply) {
        self.out.push_back(Output::Respond { tx, reply });
    }

    fn event(&mut self, e: EngineEvent) {
        self.out.push_back(Output::Event(e));
    }

    fn acd(&mut self, input: AcdInput) {
        self.out.push_back(Output::Acd(input));
    }

    fn bye(&mut self, dialog: &DialogId) {
        self.out.push_back(Output::InDialog {
            dialog: dialog.clone(),
            request: InDialog::Bye,
        });
    }

    fn caller_leg(&self) -> &Leg {
        &self.legs[0]
    }

    fn caller_leg_mut(&mut self) -> &mut Leg {
        &mut self.legs[0]
    }

    fn leg(&self, id: LegId) -> Option<&Leg> {
        self.legs.iter().find(|l| l.id == id)
    }

    fn leg_mut(&mut self, id: LegId) -> Option<&mut Leg> {
        self.legs.iter_mut().find(|l| l.id == id)
    }

    /// Re-bases what leg `id` relays to its phone (see [`Leg::rebase`]).
    fn rebase_leg(&mut self, id: LegId) {
        if let Some(l) = self.leg_mut(id) {
            l.rebase();
        }
    }

    /// The extension an agent leg rings.
    fn party(&self, id: LegId) -> String {
        self.leg(id).map(|l| l.party.clone()).unwrap_or_default()
    }

    // ---- inputs ---------------------------------------------------------------------------

    /// The router bound `port` for `leg` (or could not: `None`).
    pub(crate) fn on_port(&mut self, now: Instant, ctx: &Ctx<'_>, leg: LegId, port: Option<u16>) {
        match (leg == LegId::CALLER && !self.is_placed(), port) {
            (true, Some(p)) => self.caller_port(now, ctx, p),
            (true, None) => self.end(503, EndReason::NoMediaPort, Side::Engine),
            (false, Some(p)) => self.leg_port(ctx, leg, p),
            (false, None) => {
                self.leg_failed(now, ctx, leg, 503, sb_types::vocab::LegFailure::NoMediaPort)
            }
        }
    }

    /// The router sent our INVITE on `leg` in transaction `tx`.
    pub(crate) fn on_invite_sent(&mut self, leg: LegId, tx: TxId) {
        if let Some(l) = self.leg_mut(leg) {
            l.tx = Some(tx);
        }
    }

    pub(crate) fn handle_sip(&mut self, now: Instant, ctx: &Ctx<'_>, input: SipInput<'_>) {
        match input {
            SipInput::Request { leg, tx, req } if leg == LegId::CALLER => {
                self.caller_request(now, ctx, tx, req)
            }
            SipInput::Request { leg, tx, req } => self.leg_request(now, ctx, leg, tx, req),
            SipInput::Cancelled => self.end(0, EndReason::CallerCancelled, Side::Caller),
            SipInput::AckTimeout => self.hang_up(EndReason::NoAck, Side::Engine),
            SipInput::SessionExpired { leg } if leg == LegId::CALLER => {
                self.hang_up(EndReason::SessionExpired, Side::Engine)
            }
            SipInput::SessionExpired { leg } => self.leg_expired(now, ctx, leg),
            SipInput::Answered { leg, dialog, resp } => {
                self.leg_answered(now, ctx, leg, dialog, resp)
            }
            SipInput::Failed {
                leg,
                status,
                reason,
            } => self.leg_refused(now, ctx, leg, status, reason),
            SipInput::Progress { leg, status, sdp } => {
                self.leg_progress(now, ctx, leg, status, sdp)
            }
        }
    }

    /// What the ACD decided for this call.
    pub(crate) fn handle_acd(&mut self, now: Instant, ctx: &Ctx<'_>, action: AcdAction) {
        match action {
            AcdAction::Offer { agent, .. } => self.offer_to(now, ctx, agent),
            AcdAction::CancelOffer { agent, .. } => self.withdraw(&agent),
            AcdAction::Connect { agent, .. } => self.connect(now, ctx, &agent),
            AcdAction::Overflow { queue, to, .. } => self.overflowed(now, ctx, queue, to),
        }
    }

    /// The ACD withdrew the offer the agent on `leg` answered (the caller left, another
    /// agent was faster): that phone is hung up.
    pub(crate) fn offer_gone(&mut self, leg: LegId) {
        self.drop_leg(leg, true);
    }

    /// An action asked from outside the call (the control API).
    pub(crate) fn handle_command(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        action: CallAction,
        by: Control,
    ) -> Result<(), ControlError> {
        match action {
            CallAction::HangUp => {
                self.hang_up(EndReason::ControlApi, Side::Engine);
                return Ok(());
            }
            _ if self.state.agent_leg().is_none() => return Err(ControlError::NotBridged),
            _ => {}
        }
        match action {
            CallAction::HangUp => Ok(()),
            CallAction::Hold(on) => {
                if self.state.consult().is_some() {
                    // The patient's hold follows the consultation (swap, back).
                    return Err(ControlError::Consulting);
                }
                self.set_hold(now, ctx, on, by);
                Ok(())
            }
            CallAction::Mute(on) => {
                self.set_mute(now, ctx, on, by);
                Ok(())
            }
            CallAction::Transfer(to) => self.transfer(now, ctx, &to, by),
            CallAction::Consult(to) => self.consult(now, ctx, &to, by),
            CallAction::ConsultQueue(q) => self.consult_queue(now, ctx, &q, by),
            CallAction::Back => self.consult_back(now, ctx, by),
            CallAction::Swap => self.consult_swap(now, ctx, by),
            CallAction::Complete => self.consult_complete(now, ctx, by),
            CallAction::Join => self.consult_join(now, ctx, by),
            CallAction::Survey => self.send_to_survey(now, ctx),
        }
    }

    /// The switchboard stops: the call ends now.
    pub(crate) fn stop(&mut self) {
        if self.is_answered() {
            self.hang_up(EndReason::SwitchboardStopping, Side::Engine);
        } else {
            self.cancel_placing();
            self.end(503, EndReason::SwitchboardStopping, Side::Engine);
        }
    }

    /// The call as the control API lists it.
    pub(crate) fn live(&self) -> LiveCall {
        let agent_leg = match self.state {
            // A callback's agent, on the line while the patient's phone rings.
            CallState::CallingBack { agent } => Some(agent),
            _ => self.state.agent_leg(),
        };
        let agent = agent_leg.and_then(|l| self.leg(l)).map(|l| l.party.clone());
        let talk = self.state.talk().unwrap_or_default();
        let (vars, path) = match &self.state {
            CallState::Ivr(s) => notes(s),
            _ => (self.vars.clone(), self.path.clone()),
        };
        let state = match &self.state {
            CallState::Closing {
                reason: EndReason::CallbackArranged,
                ..
            } => sb_types::vocab::LiveState::Waiting,
            s => s.live(),
        };
        LiveCall {
            id: self.id,
            dialled: self.dialled.clone(),
            caller: self.caller.clone(),
            state,
            queue: self.last_queue.as_ref().map(|(q, _)| q.clone()),
            agent,
            held: talk.hold.is_some(),
            muted: talk.muted,
            strangers_caller: self.caller_leg().strangers(),
            strangers_agents: self.legs[1..].iter().map(Leg::strangers).sum(),
            vars,
            path,
            queued_at: self.queued_at,
            answered_at: None,
            placed: self.is_placed() && self.callback_of().is_none(),
            callback_requested: self.callback_of().map(|c| c.requested),
            consult: self.state.consult().and_then(|c| {
                Some(crate::control::LiveConsult {
                    colleague: self.leg(c.colleague)?.shown().to_string(),
                    with_colleague: c.with_colleague,
                    joined: matches!(self.state, CallState::Conference { .. }),
                })
            }),
        }
    }

    // ---- ending ---------------------------------------------------------------------------

    /// We end an answered call: BYE, then forget it.
    pub(crate) fn hang_up(&mut self, reason: EndReason, by: Side) {
        self.cancel_placing();
        if let Some(d) = self.caller_leg().dialog.clone() {
            self.bye(&d);
        }
        self.end(0, reason, by);
    }

    /// Ends the call; `status` answers the INVITE first if it is still unanswered.
    pub(crate) fn end(&mut self, status: u16, reason: EndReason, by: Side) {
        if self.ended {
            return;
        }
        self.ended = true;
        if self.callee.is_some() {
            self.acd(AcdInput::OtherCall {
                agent: AgentId(self.caller.clone()),
                busy: false,
            });
        }
        self.release_agents();
        self.playout.next_tick = None;
        let caller = &self.legs[0];
        let (tx, dialog, port) = (caller.tx, caller.dialog.clone(), caller.port);
        let quality = caller.quality(self.id);
        // (A placed call's first INVITE is ours: nothing to answer.)
        if status != 0 && self.is_waiting_for_answer() && !self.is_placed() {
            if let Some(tx) = tx {
                self.respond(tx, Reply::status(status));
            }
        }
        self.out.push_back(Output::LegGone { tx, dialog, port });
        if let Some(q) = quality {
            self.event(q);
        }
        self.event(EngineEvent::CallEnded {
            call: self.id,
            reason,
            by,
        });
        self.callback_over();
        self.out.push_back(Output::Ended);
    }

    /// The caller's call ended: whatever agent legs it had go too.
    fn release_agents(&mut self) {
        // The ACD's view: out of the queue, or done with the agent.
        self.acd(AcdInput::Abandon);
        self.acd(AcdInput::CallEnded);
        let legs: Vec<LegId> = self.legs[1..].iter().map(|l| l.id).collect();
        for id in legs {
            self.hang_up_leg(id);
        }
    }

    /// Which timer is due next, and when.
    pub(crate) fn poll_timeout(&self) -> Option<(Instant, CallTimer)> {
        if self.ended {
            return None;
        }
        let ivr = match &self.state {
            CallState::Ivr(s) => s.poll_timeout(),
            _ => None,
        };
        let callback = match &self.state {
            CallState::Queued(q) => q.callback_until.or(q.callback_at),
            CallState::Survey { until } => Some(*until),
            _ => None,
        };
        let rings = self
            .legs
            .iter()
            .filter(|l| l.dialog.is_none())
            .filter_map(|l| l.ring_until.map(|t| (t, CallTimer::Ring(l.id))));
        [
            self.playout.next_tick.map(|t| (t, CallTimer::Media)),
            ivr.map(|t| (t, CallTimer::Ivr)),
            callback.map(|t| (t, CallTimer::CallbackOffer)),
        ]
        .into_iter()
        .flatten()
        .chain(rings)
        .min_by_key(|(t, _)| *t)
    }

    /// Runs every timer due at `now`: a ring given up, a callback offer declined, the
    /// dialplan's timer, the media ticks.
    pub(crate) fn handle_timeout(&mut self, now: Instant, ctx: &Ctx<'_>, rtp: &mut RtpQueue) {
        let rung_out: Vec<LegId> = self
            .legs
            .iter()
            .filter(|l| l.dialog.is_none() && l.ring_until.is_some_and(|t| t <= now))
            .map(|l| l.id)
            .collect();
        for leg in rung_out {
            self.ring_timeout(now, ctx, leg);
        }
        self.run_media(now, ctx, rtp);
    }
}
