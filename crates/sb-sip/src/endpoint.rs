//! The SIP endpoint: the transaction user in front of the transaction layer. It answers
//! what the SIP layer owns by itself (OPTIONS, REGISTER, CANCEL, BYE, 481s, the checks of
//! RFC 3261 §8.2, digest challenges) and hands every other request up as an [`Event`].
//!
//! Sans-IO: `handle_*` take the time and an input, `poll_*` hand back what to send, what
//! happened and when to be called again.

use crate::dialog::{Dialog, DialogId};
use crate::digest::{AuthFailure, DigestAuth};
use crate::guard::{AuthGuard, GuardSettings};
use crate::ids::IdGen;
use crate::peer::{response_peer, stamp_via, Peer};
use crate::registrar::{
    Change, ContactRequest, Location, RegisterRequest, RegistrarSettings, Update,
};
use crate::reliable::{self, ReliableProvisionals};
use crate::session_timer::{self, SessionTimer};
use crate::timer::{DeadlineQueue, TimerSettings};
use crate::transaction::{LayerEvent, ServerState, TransactionLayer, TxId};
use crate::trunk::{Probe, TrunkLink, TrunkSettings, TrunkView};
use sb_sip_msg::message::Core;
use sb_sip_msg::{
    parse_datagram, AuthParams, CSeq, Headers, Message, Method, NameAddr, Request, Response,
    ResponseBuilder, Uri, Via,
};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The methods the switchboard answers (the Allow header).
pub const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, REFER, NOTIFY, PRACK";
/// Option tags we implement (RFC 3261 §19.2); anything else in Require gets a 420.
pub const SUPPORTED: &[&str] = &["100rel", "timer"];

/// What the endpoint is configured with.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The digest realm.
    pub realm: String,
    /// Our own address as the runtime bound it, for Via and Contact of requests we send.
    pub local_addr: SocketAddr,
    /// Extension -> digest password.
    pub users: HashMap<String, String>,
    /// How the registrar binds contacts.
    pub registrar: RegistrarSettings,
    /// T1, T2, T4 (RFC 3261 §17).
    pub timers: TimerSettings,
    /// How often registered phones are sent OPTIONS (0: never).
    pub qualify_interval: Duration,
    /// How long a nonce is good for.
    pub nonce_lifetime: Duration,
    /// When failed authentications get a user or an address ignored.
    pub guard: GuardSettings,
    /// The User-Agent and Server header value.
    pub user_agent: String,
    /// Digest algorithms to offer, most preferred first. MD5 alone by default: many phones
    /// give up on a 401 that names any algorithm they lack.
    pub digest_algorithms: Vec<crate::digest::Algorithm>,
    /// The carriers' trunks.
    pub trunks: Vec<TrunkSettings>,
}

impl EndpointConfig {
    /// The defaults for `realm`, listening on `local_addr`.
    pub fn new(realm: &str, local_addr: SocketAddr) -> EndpointConfig {
        EndpointConfig {
            realm: realm.to_string(),
            local_addr,
            users: HashMap::new(),
            registrar: RegistrarSettings::default(),
            timers: TimerSettings::default(),
            qualify_interval: Duration::from_secs(30),
            nonce_lifetime: Duration::from_secs(120),
            guard: GuardSettings::default(),
            user_agent: "Switchboard".to_string(),
            digest_algorithms: vec![crate::digest::Algorithm::Md5],
            trunks: Vec::new(),
        }
    }
}

/// The outcome of each challenge and check, as Asterisk's security events report them.
/// `user` is the extension the peer claimed (staff numbers, not patient data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityKind {
    /// A request without (valid, current) credentials was challenged.
    ChallengeSent {
        /// The user the request claimed.
        user: String,
        /// The nonce was stale, the credentials otherwise right.
        stale: bool,
    },
    /// Credentials checked and correct.
    Authenticated {
        /// The user.
        user: String,
    },
    /// Wrong password, unknown user, forged or replayed nonce, a digest `uri` that is not
    /// the Request-URI.
    AuthFailed {
        /// The user the request claimed.
        user: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// Too many failures for one user from one address: that user is ignored from that
    /// address until the ban ends; other users there are served.
    UserThrottled {
        /// The user.
        user: String,
        /// Failures in the window.
        failures: usize,
        /// How long the user is ignored from that address.
        seconds: u64,
    },
    /// Too many failures from one address across users: it is ignored until the ban ends,
    /// except for the users that authenticated correctly from it.
    Banned {
        /// Failures in the window.
        failures: usize,
        /// How long the address is ignored.
        seconds: u64,
    },
}

impl SecurityKind {
    /// The stable name on the event stream and in the log.
    pub fn name(&self) -> &'static str {
        match self {
            SecurityKind::ChallengeSent { .. } => "challenge_sent",
            SecurityKind::Authenticated { .. } => "authenticated",
            SecurityKind::AuthFailed { .. } => "auth_failed",
            SecurityKind::UserThrottled { .. } => "user_throttled",
            SecurityKind::Banned { .. } => "address_banned",
        }
    }
}

/// Why a request's credentials did not let it through.
enum Refusal {
    /// Challenge (again); `stale` when the nonce only expired.
    Challenge { stale: bool },
    /// The credentials do not describe this request (digest `uri`): 400.
    BadRequest(&'static str),
}

/// Who a request outside a dialog comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// One of our extensions, authenticated by digest.
    Extension(String),
    /// A carrier: the request came from an address its trunk trusts (the index into
    /// [`EndpointConfig::trunks`]).
    Trunk(usize),
}

impl Origin {
    /// The extension, when it is one.
    pub fn extension(&self) -> Option<&str> {
        match self {
            Origin::Extension(u) => Some(u),
            Origin::Trunk(_) => None,
        }
    }
}

/// Credentials for a carrier's challenge to a request we send (RFC 3261 §22.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user.
    pub user: String,
    /// The password.
    pub password: String,
}

/// What the endpoint reports to the engine.
#[derive(Debug)]
pub enum Event {
    /// A phone registered (a new binding, or one refreshed).
    Registered {
        /// The user.
        user: String,
        /// The binding.
        binding: u64,
        /// The flow it registered from.
        flow: Peer,
    },
    /// A binding is gone.
    Unregistered {
        /// The user.
        user: String,
        /// The binding.
        binding: u64,
    },
    /// A binding started or stopped answering keep-alives.
    Reachability {
        /// The user.
        user: String,
        /// The binding.
        binding: u64,
        /// Whether it answers keep-alives now.
        reachable: bool,
    },
    /// The outcome of a challenge or a check (the security log).
    Security {
        /// The address it came from.
        source: IpAddr,
        /// What happened.
        kind: SecurityKind,
    },
    /// An authenticated request outside any dialog that the layers above must answer with
    /// [`Endpoint::respond`].
    Request {
        /// The transaction.
        tx: TxId,
        /// The request.
        req: Box<Request>,
        /// Where it came from.
        source: Peer,
        /// Who sent it: an extension it authenticated as, or a carrier.
        origin: Origin,
    },
    /// A request inside a known dialog; `tx` is `None` for an ACK (no response).
    DialogRequest {
        /// The transaction; `None` for an ACK.
        tx: Option<TxId>,
        /// The dialog.
        dialog: DialogId,
        /// The request.
        req: Box<Request>,
    },
    /// A CANCEL ended INVITE transaction `tx` (487 already sent).
    Cancelled {
        /// The transaction.
        tx: TxId,
    },
    /// No ACK came for the final response of `tx` (Timer H).
    AckTimeout {
        /// The transaction.
        tx: TxId,
    },
    /// The caller stopped refreshing the session of `dialog` (RFC 4028): it is over; the
    /// TU hangs up.
    SessionExpired {
        /// The dialog.
        dialog: DialogId,
    },
    /// A message that could not be parsed, for the log.
    Malformed {
        /// Where it came from.
        source: Peer,
        /// What was wrong.
        error: String,
    },
    /// A provisional response to an INVITE we sent.
    OutgoingProgress {
        /// The transaction.
        tx: TxId,
        /// The status.
        status: u16,
        /// Its SDP answer (early media, RFC 3960), when it carried one.
        sdp: Option<Vec<u8>>,
    },
    /// A carrier challenged our INVITE and it went again with credentials, in a new
    /// transaction (same dialog identifiers, the next CSeq).
    OutgoingChallenged {
        /// The transaction that was challenged.
        tx: TxId,
        /// The transaction of the INVITE with credentials.
        again: TxId,
    },
    /// A trunk's registration or health changed.
    Trunk {
        /// The index into [`EndpointConfig::trunks`].
        trunk: usize,
        /// Where it stands now.
        view: TrunkView,
    },
    /// Our INVITE was answered: the dialog exists and the ACK is sent.
    OutgoingAnswered {
        /// The transaction.
        tx: TxId,
        /// The dialog.
        dialog: DialogId,
        /// The response.
        resp: Box<Response>,
    },
    /// Our INVITE failed (final non-2xx, or 408 when Timer B fired).
    OutgoingFailed {
        /// The transaction.
        tx: TxId,
        /// The status.
        status: u16,
        /// The Reason header of the answer (RFC 3326: a carrier's Q.850 cause).
        reason: Option<String>,
    },
}

/// An INVITE we send (to an agent's phone), with what the UAC core needs of it.
#[derive(Debug, Clone)]
pub struct OutgoingCall {
    /// Where the phone is: its registered contact.
    pub uri: Uri,
    /// The flow to send over: the one the phone registered from.
    pub peer: Peer,
    /// The From of the INVITE.
    pub from: NameAddr,
    /// The To of the INVITE.
    pub to: NameAddr,
    /// Our SDP offer.
    pub sdp: Vec<u8>,
    /// Headers beyond the core (P-Asserted-Identity, Privacy).
    pub headers: Vec<(&'static str, String)>,
    /// Credentials to answer a 401 or 407 with (a carrier's trunk).
    pub credentials: Option<Credentials>,
    /// The Call-ID, when the call's records name it already ([`Endpoint::new_call_id`]);
    /// otherwise a fresh one.
    pub call_id: Option<String>,
}

#[derive(Debug)]
struct Outgoing {
    req: Request,
    peer: Peer,
    credentials: Option<Credentials>,
    /// Challenges answered so far (a wrong password is not answered forever).
    challenges: u32,
    /// The ACK for the 2xx, kept to answer its retransmissions (RFC 3261 §13.2.2.4).
    ack: Option<(DialogId, Vec<u8>)>,
}

/// A 2xx to an INVITE that the UAS core retransmits until the ACK (RFC 3261 §13.3.1.4):
/// the INVITE server transaction ends with the 2xx, so the transaction layer does not.
#[derive(Debug)]
struct Unacked2xx {
    tx: TxId,
    bytes: Vec<u8>,
    peer: Peer,
    interval: Duration,
    next: Instant,
    give_up: Instant,
}

/// The SIP endpoint: transactions, dialogs, authentication and the registrar behind one
/// sans-IO interface.
#[derive(Debug)]
pub struct Endpoint {
    cfg: EndpointConfig,
    layer: TransactionLayer,
    auth: DigestAuth,
    location: Location,
    dialogs: HashMap<DialogId, Dialog>,
    ids: IdGen,
    epoch: Instant,
    /// Requests handed to the TU, kept until it sends a final response.
    pending: HashMap<TxId, Request>,
    qualify_due: DeadlineQueue<u64>,
    binding_owner: HashMap<u64, String>,
    qualifying: HashMap<TxId, (String, u64)>,
    guard: AuthGuard,
    /// The user a new server transaction's request authenticated as, until it is handed up.
    authed: HashMap<TxId, Origin>,
    unacked: HashMap<DialogId, Unacked2xx>,
    outgoing: HashMap<TxId, Outgoing>,
    trunks: Vec<TrunkLink>,
    /// Our REGISTERs and OPTIONS out to carriers: transaction -> trunk.
    trunk_tx: HashMap<TxId, usize>,
    /// A trunk has something to send at once (its first REGISTER and OPTIONS).
    trunks_due: bool,
    next_housekeeping: Instant,
    /// INVITEs whose provisional answers go reliably (RFC 3262).
    reliable: ReliableProvisionals,
    /// Sessions with a session timer (RFC 4028), and when each is due (an entry left by a
    /// refresh or an ended session is skipped when it comes up).
    session_timers: HashMap<DialogId, SessionTimer>,
    session_due: DeadlineQueue<DialogId>,
    transmits: VecDeque<(Peer, Vec<u8>)>,
    /// Messages each way, for the metrics.
    counters: crate::counters::SipCounters,
    events: VecDeque<Event>,
}

const HOUSEKEEPING: Duration = Duration::from_secs(1);

impl Endpoint {
    /// `key` seeds tags, branches and nonces: random per run in production, fixed in tests.
    pub fn new(cfg: EndpointConfig, key: [u8; 32], now: Instant) -> Endpoint {
        let mut auth_key = key;
        auth_key[0] ^= 0x5a;
        let mut ids = IdGen::new(key);
        let seed = u64::from_le_bytes(key[..8].try_into().unwrap_or_default());
        let trunks: Vec<TrunkLink> = cfg
            .trunks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let call_id = ids.call_id(&cfg.realm);
                let tag = ids.tag();
                TrunkLink::new(t.clone(), seed ^ (i as u64 + 1), call_id, tag, now)
            })
            .collect();
        Endpoint {
            trunks_due: !trunks.is_empty(),
            trunks,
            trunk_tx: HashMap::new(),
            layer: TransactionLayer::new(cfg.timers),
            auth: DigestAuth::new(&cfg.realm, auth_key, cfg.nonce_lifetime)
                .with_algorithms(&cfg.digest_algorithms),
            location: Location::default(),
            dialogs: HashMap::new(),
            ids,
            epoch: now,
            pending: HashMap::new(),
            qualify_due: DeadlineQueue::default(),
            binding_owner: HashMap::new(),
            qualifying: HashMap::new(),
            guard: AuthGuard::new(cfg.guard),
            authed: HashMap::new(),
            unacked: HashMap::new(),
            outgoing: HashMap::new(),
            next_housekeeping: now + HOUSEKEEPING,
            reliable: ReliableProvisionals::default(),
            session_timers: HashMap::new(),
            session_due: DeadlineQueue::default(),
            transmits: VecDeque::new(),
            counters: Default::default(),
            events: VecDeque::new(),
            cfg,
        }
    }

    /// Whether `user` is one of our extensions (has credentials), registered or not.
    pub fn has_user(&self, user: &str) -> bool {
        self.cfg.users.contains_key(user)
    }

    /// The digest realm.
    pub fn realm(&self) -> &str {
        &self.cfg.realm
    }

    /// Who is registered where.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The transaction layer (for its figures).
    pub fn layer(&self) -> &TransactionLayer {
        &self.layer
    }

    /// The dialogs now.
    pub fn dialogs(&self) -> &HashMap<DialogId, Dialog> {
        &self.dialogs
    }

    /// The next message to send, and to whom.
    pub fn poll_transmit(&mut self) -> Option<(Peer, Vec<u8>)> {
        let out = self
            .transmits
            .pop_front()
            .or_else(|| self.layer.poll_transmit())?;
        self.counters.sent(&out.1);
        Some(out)
    }

    /// The messages counted each way, for the metrics.
    pub fn counters(&self) -> &crate::counters::SipCounters {
        &self.counters
    }

    /// The next event for the engine.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] is needed next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.layer.poll_timeout(),
            self.qualify_due.next(),
            self.unacked.values().map(|u| u.next).min(),
            Some(self.next_housekeeping),
            self.trunks.iter().filter_map(TrunkLink::poll_timeout).min(),
            self.trunks_due.then_some(self.epoch),
            self.reliable.poll_timeout(),
            self.session_due.next(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn secs(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs()
    }

    /// One UDP datagram, parsed here. The runtime may parse itself (to open a span per
    /// call) and use [`Endpoint::handle_message`] and [`Endpoint::handle_rejection`].
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8], source: Peer) {
        match parse_datagram(bytes) {
            Ok(Some(msg)) => self.handle_message(now, msg, source),
            Ok(None) => {}
            Err(rej) => self.handle_rejection(now, rej, source),
        }
    }

    /// A message that failed to parse: answered with 400/505 where it can be addressed.
    pub fn handle_rejection(&mut self, now: Instant, rej: sb_sip_msg::Rejection, source: Peer) {
        self.counters.malformed += 1;
        if self.guard.address_banned(now, source.addr.ip()) {
            return;
        }
        let tag = self.ids.tag();
        if let Some(bytes) = rej.response_bytes(&tag) {
            self.transmits.push_back((source, bytes));
        }
        self.events.push_back(Event::Malformed {
            source,
            error: rej.error.to_string(),
        });
    }

    /// A message already parsed (a TCP frame) from `source`.
    pub fn handle_message(&mut self, now: Instant, msg: Message, source: Peer) {
        match &msg {
            Message::Request(req) => self.counters.received_request(&req.method),
            Message::Response(resp) => self.counters.received_response(resp.status),
        }
        match msg {
            Message::Request(mut req) => {
                stamp_via(req.top_via_mut(), &source);
                let tag = self
                    .ids
                    .tag_for(&req.core.call_id, req.core.from.tag().unwrap_or_default());
                let user = if self.layer.matches_server(&req) || req.method == Method::Ack {
                    None
                } else {
                    match self.front(now, &req, source, &tag) {
                        Front::Done => return,
                        Front::Stateful(u) => u,
                    }
                };
                if let Some(tx) = self.layer.on_request(now, req, source, || tag) {
                    if let Some(u) = user {
                        self.authed.insert(tx, u);
                    }
                }
            }
            Message::Response(resp) => self.layer.on_response(now, resp, source),
        }
        self.drain_layer(now);
    }

    /// The stateless front of a new request outside a dialog (RFC 3261 §8.2.7 allows a
    /// stateless UAS): what can be answered without keeping anything (a challenge, the
    /// checks of §8.2, OPTIONS, 405) is answered here with no transaction and no
    /// retransmission, so a flood of unauthenticated requests costs neither memory nor
    /// amplification (the client retransmits and gets the same answer). Only a request
    /// that authenticated, or a REGISTER on its way to the registrar's checks, goes on to
    /// the transaction layer.
    fn front(&mut self, now: Instant, req: &Request, source: Peer, tag: &str) -> Front {
        let ip = source.addr.ip();
        if req.method == Method::Cancel {
            // A CANCEL for an INVITE we hold goes on; anything else is answered 481 here.
            if self.layer.find_invite_for_cancel(req).is_some() {
                return Front::Stateful(None);
            }
            if !self.guard.address_banned(now, ip) {
                self.stateless(req, source, tag, 481, |b| b);
            }
            return Front::Done;
        }
        if req.core.to.tag().is_some() {
            // Inside a dialog: the dialog authenticated when it was made. One we do not
            // know gets its 481 here, but for a PRACK of an early one (RFC 3262).
            if DialogId::of_incoming(req).is_some_and(|id| self.dialogs.contains_key(&id)) {
                return Front::Stateful(None);
            }
            if req.method == Method::Prack && self.reliable.knows_call(&req.core.call_id) {
                return Front::Stateful(None);
            }
            if !self.guard.address_banned(now, ip) {
                self.stateless(req, source, tag, 481, |b| b);
            }
            return Front::Done;
        }
        let trunk = self.trunks.iter().position(|t| t.settings.trusts(ip));
        if let Some(t) = trunk.filter(|_| req.method != Method::Register) {
            // A carrier's request: its address is its credential.
            if let Some((status, extra)) = precheck(req) {
                self.stateless(req, source, tag, status, |b| match extra {
                    Some((name, value)) => b.header(name, value),
                    None => b,
                });
                return Front::Done;
            }
            return match req.method {
                Method::Options => {
                    self.stateless(req, source, tag, 200, |b| {
                        b.header("Allow", ALLOW).header("Accept", "application/sdp")
                    });
                    Front::Done
                }
                Method::Invite | Method::Info | Method::Update | Method::Refer | Method::Notify => {
                    Front::Stateful(Some(Origin::Trunk(t)))
                }
                _ => {
                    self.stateless(req, source, tag, 405, |b| b.header("Allow", ALLOW));
                    Front::Done
                }
            };
        }
        let claimed = claimed_user(req);
        if !self.guard.admits(now, ip, &claimed) {
            return Front::Done;
        }
        if let Some((status, extra)) = precheck(req) {
            self.stateless(req, source, tag, status, |b| match extra {
                Some((name, value)) => b.header(name, value),
                None => b,
            });
            return Front::Done;
        }
        match req.method {
            Method::Options => {
                self.stateless(req, source, tag, 200, |b| {
                    b.header("Allow", ALLOW)
                        .header("Accept", "application/sdp")
                        .header("Supported", SUPPORTED.join(", "))
                });
                Front::Done
            }
            Method::Register => {
                if let Err(why) = register_target(req, &self.cfg.registrar) {
                    self.stateless(req, source, tag, 400, |b| b.reason(why));
                    return Front::Done;
                }
                self.front_auth(now, req, source, tag)
            }
            Method::Invite | Method::Info | Method::Update | Method::Refer | Method::Notify => {
                self.front_auth(now, req, source, tag)
            }
            _ => {
                self.stateless(req, source, tag, 405, |b| b.header("Allow", ALLOW));
                Front::Done
            }
        }
    }

    fn front_auth(&mut self, now: Instant, req: &Request, source: Peer, tag: &str) -> Front {
        match self.authenticate(now, req, source) {
            Ok(user) => Front::Stateful(Some(Origin::Extension(user))),
            Err(Refusal::BadRequest(why)) => {
                self.stateless(req, source, tag, 400, |b| b.reason(why));
                Front::Done
            }
            Err(Refusal::Challenge { stale }) => {
                let challenges = self.auth.challenges(self.secs(now), stale);
                self.stateless(req, source, tag, 401, |mut b| {
                    for c in challenges {
                        b = b.header("WWW-Authenticate", c.to_string());
                    }
                    b
                });
                self.events.push_back(Event::Security {
                    source: source.addr.ip(),
                    kind: SecurityKind::ChallengeSent {
                        user: claimed_user(req),
                        stale,
                    },
                });
                Front::Done
            }
        }
    }

    /// A response sent without a transaction: built, queued once, forgotten.
    fn stateless(
        &mut self,
        req: &Request,
        source: Peer,
        tag: &str,
        status: u16,
        f: impl FnOnce(ResponseBuilder) -> ResponseBuilder,
    ) {
        let b = ResponseBuilder::new(req, status)
            .to_tag(tag)
            .header("Server", self.cfg.user_agent.clone());
        let peer = response_peer(req.top_via(), &source);
        self.transmits.push_back((peer, f(b).build().to_bytes()));
    }

    /// Runs the timers due at `now`: retransmissions, timeouts, qualify, expiries.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.layer.handle_timeout(now);
        self.drain_layer(now);
        while let Some(id) = self.qualify_due.pop_due(now) {
            self.qualify(now, id);
        }
        self.retransmit_2xx(now);
        self.reliable.handle_timeout(now, &mut self.transmits);
        self.session_timeouts(now);
        if now >= self.next_housekeeping {
            self.housekeeping(now);
            self.next_housekeeping = now + HOUSEKEEPING;
        }
        self.drive_trunks(now);
    }

    fn drain_layer(&mut self, now: Instant) {
        while let Some(ev) = self.layer.poll_event() {
            match ev {
                LayerEvent::Request { tx, req, source } => self.on_request(now, tx, req, source),
                LayerEvent::Ack { req, .. } => {
                    if let Some(id) = DialogId::of_incoming(&req) {
                        if let Some(d) = self.dialogs.get_mut(&id) {
                            let _ = d.on_remote_request(&req);
                            self.unacked.remove(&id);
                            self.events.push_back(Event::DialogRequest {
                                tx: None,
                                dialog: id,
                                req: Box::new(req),
                            });
                        }
                    }
                }
                LayerEvent::Response { tx, resp } => self.on_client_response(now, tx, &resp),
                LayerEvent::StrayResponse { resp, .. } => self.on_stray_response(&resp),
                LayerEvent::ClientTimeout { tx } => {
                    if let Some((user, id)) = self.qualifying.remove(&tx) {
                        self.set_reachable(&user, id, false);
                    }
                    if self.outgoing.remove(&tx).is_some() {
                        self.events.push_back(Event::OutgoingFailed {
                            tx,
                            status: 408,
                            reason: None,
                        });
                    }
                    if let Some(t) = self.trunk_tx.remove(&tx) {
                        self.trunk_no_answer(now, t, tx);
                    }
                }
                LayerEvent::AckTimeout { tx } => self.events.push_back(Event::AckTimeout { tx }),
            }
        }
    }

    /// Answers a request the endpoint handed up. Does nothing if `tx` is unknown or
    /// already answered finally.
    pub fn respond(
        &mut self,
        now: Instant,
        tx: TxId,
        status: u16,
        f: impl FnOnce(ResponseBuilder) -> ResponseBuilder,
    ) {
        let Some(req) = self.pending.get(&tx) else {
            return;
        };
        let tag = self.layer.server_to_tag(tx).unwrap_or_default().to_string();
        let mut b = f(ResponseBuilder::new(req, status).to_tag(&tag));
        let peer = self.layer.server_peer(tx);
        if (101..200).contains(&status) && reliable::required(req) {
            // RFC 3262: sent with an RSeq and repeated until PRACKed (or queued behind the
            // one outstanding).
            let first = (self.ids.key()[1] as u32) << 16 | u32::from(tx.0 as u16);
            let t1 = self.cfg.timers.t1;
            let mut resp = b.build();
            // It makes an early dialog, which the PRACK is sent in: it needs our Contact.
            if resp.headers.get("Contact").is_none() {
                resp.headers
                    .push("Contact", self.local_contact().to_string());
            }
            if let Some(r) = self.reliable.send(now, tx, req, resp, peer, t1, first) {
                self.layer.respond(now, tx, &r);
            }
            return;
        }
        if (200..300).contains(&status) && matches!(req.method, Method::Invite | Method::Update) {
            b = self.session_answer(now, tx, &tag, b);
        }
        let Some(req) = self.pending.get(&tx) else {
            return;
        };
        let resp = b.build();
        if req.method == Method::Invite && (200..300).contains(&status) {
            let id = DialogId {
                call_id: req.core.call_id.clone(),
                local_tag: tag.clone(),
                remote_tag: req.core.from.tag().unwrap_or_default().to_string(),
            };
            let unreliable = peer.filter(|p| !p.transport.is_reliable());
            if let (Some(peer), true) = (unreliable, self.dialogs.contains_key(&id)) {
                let t1 = self.cfg.timers.t1;
                self.unacked.insert(
                    id,
                    Unacked2xx {
                        tx,
                        bytes: resp.to_bytes(),
                        peer,
                        interval: t1,
                        next: now + t1,
                        give_up: now + self.cfg.timers.t1_x64(),
                    },
                );
            }
        }
        if status >= 200 {
            self.pending.remove(&tx);
            self.reliable.finished(tx);
        }
        self.layer.respond(now, tx, &resp);
    }

    /// The session timer of a 2xx to the INVITE or UPDATE in `tx` (RFC 4028): agreed for a
    /// new session, renewed (or dropped) by a refresh, and said in the answer.
    fn session_answer(
        &mut self,
        now: Instant,
        tx: TxId,
        tag: &str,
        b: ResponseBuilder,
    ) -> ResponseBuilder {
        let Some(req) = self.pending.get(&tx) else {
            return b;
        };
        let id = if req.core.to.tag().is_some() {
            DialogId::of_incoming(req)
        } else {
            Some(DialogId {
                call_id: req.core.call_id.clone(),
                local_tag: tag.to_string(),
                remote_tag: req.core.from.tag().unwrap_or_default().to_string(),
            })
        };
        let Some(id) = id else {
            return b;
        };
        // Refused (422) at the front already; a refresh with no Session-Expires ends it.
        match session_timer::negotiate(req).ok().flatten() {
            Some(agreed) => {
                let timer = SessionTimer::new(now, agreed);
                self.session_due.push(timer.due, id.clone());
                self.session_timers.insert(id, timer);
                b.header("Session-Expires", agreed.header())
                    .header("Require", "timer")
            }
            None => {
                self.session_timers.remove(&id);
                b
            }
        }
    }

    /// Session timers due: we refresh with an UPDATE, or a session the caller stopped
    /// refreshing is reported over.
    fn session_timeouts(&mut self, now: Instant) {
        while let Some(id) = self.session_due.pop_due(now) {
            if !self.dialogs.contains_key(&id) {
                self.session_timers.remove(&id);
                continue;
            }
            let Some(t) = self.session_timers.get_mut(&id).filter(|t| t.due <= now) else {
                // Refreshed since (its new entry comes later), or over.
                continue;
            };
            if t.agreed.we_refresh {
                let agreed = t.agreed;
                *t = SessionTimer::new(now, agreed);
                self.session_due.push(t.due, id.clone());
                self.send_in_dialog_with(now, &id, Method::Update, |r| {
                    r.headers.push("Session-Expires", agreed.header());
                    r.headers.push("Supported", "timer");
                });
            } else {
                self.session_timers.remove(&id);
                self.events.push_back(Event::SessionExpired { dialog: id });
            }
        }
    }

    /// A PRACK (RFC 3262) for one of our reliable provisional answers: 200, and the next
    /// one waiting goes; for anything else, 481.
    fn on_prack(&mut self, now: Instant, tx: TxId, req: &Request) {
        let rack = req.headers.get("RAck").unwrap_or_default();
        let t1 = self.cfg.timers.t1;
        let layer = &self.layer;
        let acked = self.reliable.on_prack(
            now,
            &req.core.call_id,
            rack,
            |inv| layer.server_peer(inv),
            t1,
        );
        match acked {
            Some((inv, next)) => {
                self.reply(now, tx, req, 200, |b| b);
                if let Some(next) = next {
                    self.layer.respond(now, inv, &next);
                }
            }
            None => self.reply(now, tx, req, 481, |b| b),
        }
    }

    fn reply(
        &mut self,
        now: Instant,
        tx: TxId,
        req: &Request,
        status: u16,
        f: impl FnOnce(ResponseBuilder) -> ResponseBuilder,
    ) {
        let tag = self.layer.server_to_tag(tx).unwrap_or_default().to_string();
        let b = ResponseBuilder::new(req, status)
            .to_tag(&tag)
            .header("Server", self.cfg.user_agent.clone());
        let resp = f(b).build();
        self.layer.respond(now, tx, &resp);
    }

    fn on_request(&mut self, now: Instant, tx: TxId, req: Request, source: Peer) {
        if req.method == Method::Cancel {
            return self.on_cancel(now, tx, &req);
        }
        if req.method == Method::Prack {
            return self.on_prack(now, tx, &req);
        }
        if req.core.to.tag().is_some() {
            return self.on_in_dialog(now, tx, req);
        }
        // Only requests that authenticated in `front` open a transaction outside a dialog.
        let Some(origin) = self.authed.remove(&tx) else {
            return self.reply(now, tx, &req, 500, |b| b);
        };
        match (req.method.clone(), origin) {
            (Method::Register, Origin::Extension(user)) => {
                self.on_register(now, tx, &req, source, user)
            }
            (Method::Register, Origin::Trunk(_)) => self.reply(now, tx, &req, 403, |b| b),
            (_, origin) => {
                self.pending.insert(tx, req.clone());
                self.events.push_back(Event::Request {
                    tx,
                    req: Box::new(req),
                    source,
                    origin,
                });
            }
        }
    }

    fn on_cancel(&mut self, now: Instant, tx: TxId, cancel: &Request) {
        let target = self.layer.find_invite_for_cancel(cancel);
        match target.filter(|t| self.layer.server_state(*t) == Some(ServerState::Proceeding)) {
            Some(inv_tx) => {
                self.reply(now, tx, cancel, 200, |b| b);
                if let Some(invite) = self.pending.remove(&inv_tx) {
                    self.reply(now, inv_tx, &invite, 487, |b| b);
                }
                self.events.push_back(Event::Cancelled { tx: inv_tx });
            }
            None => self.reply(now, tx, cancel, 481, |b| b),
        }
    }

    fn on_in_dialog(&mut self, now: Instant, tx: TxId, req: Request) {
        let Some(id) = DialogId::of_incoming(&req) else {
            return;
        };
        let Some(dialog) = self.dialogs.get_mut(&id) else {
            return self.reply(now, tx, &req, 481, |b| b);
        };
        if dialog.on_remote_request(&req).is_err() {
            return self.reply(now, tx, &req, 500, |b| b.reason("CSeq Out Of Order"));
        }
        match req.method {
            Method::Bye => {
                self.dialogs.remove(&id);
                self.reply(now, tx, &req, 200, |b| b);
                self.events.push_back(Event::DialogRequest {
                    tx: None,
                    dialog: id,
                    req: Box::new(req),
                });
            }
            Method::Options => self.reply(now, tx, &req, 200, |b| b.header("Allow", ALLOW)),
            Method::Invite | Method::Update | Method::Info | Method::Refer | Method::Notify => {
                self.pending.insert(tx, req.clone());
                self.events.push_back(Event::DialogRequest {
                    tx: Some(tx),
                    dialog: id,
                    req: Box::new(req),
                });
            }
            _ => self.reply(now, tx, &req, 405, |b| b.header("Allow", ALLOW)),
        }
    }

    /// Checks the request's digest credentials (Authorization, or Proxy-Authorization
    /// from a phone that answered as to a proxy), and reports the outcome as a security
    /// event.
    fn authenticate(
        &mut self,
        now: Instant,
        req: &Request,
        source: Peer,
    ) -> Result<String, Refusal> {
        let secs = self.secs(now);
        let creds = req
            .headers
            .get_all("Authorization")
            .chain(req.headers.get_all("Proxy-Authorization"))
            .filter_map(AuthParams::parse)
            .find(|c| c.is_digest() && c.get("realm") == Some(self.auth.realm()));
        let Some(creds) = creds else {
            return Err(Refusal::Challenge { stale: false });
        };
        let user = creds.get("username").unwrap_or_default().to_string();
        let ip = source.addr.ip();
        // RFC 7616 §3.4.6 (RFC 2617 §3.2.2.5): the credentials must be for this request's
        // resource, or a response captured for one URI could be replayed at another.
        let uri_ok = creds
            .get("uri")
            .and_then(|u| Uri::parse(u).ok())
            .is_some_and(|u| u.equivalent(&req.uri));
        if !uri_ok {
            self.record_failure(now, ip, user, "digest uri is not the Request-URI");
            return Err(Refusal::BadRequest("Digest URI Does Not Match Request-URI"));
        }
        let password = self.cfg.users.get(&user).map(String::as_str);
        match self
            .auth
            .verify(secs, &creds, req.method.as_str(), password)
        {
            Ok(a) => {
                self.guard.on_success(now, ip, &a.username);
                self.events.push_back(Event::Security {
                    source: ip,
                    kind: SecurityKind::Authenticated {
                        user: a.username.clone(),
                    },
                });
                Ok(a.username)
            }
            Err(AuthFailure::Stale) => Err(Refusal::Challenge { stale: true }),
            Err(AuthFailure::Missing) => Err(Refusal::Challenge { stale: false }),
            Err(AuthFailure::Invalid(reason)) => {
                self.record_failure(now, ip, user, reason);
                Err(Refusal::Challenge { stale: false })
            }
        }
    }

    fn record_failure(&mut self, now: Instant, ip: IpAddr, user: String, reason: &'static str) {
        self.counters.auth_failures += 1;
        let started = self.guard.on_failure(now, ip, &user);
        self.events.push_back(Event::Security {
            source: ip,
            kind: SecurityKind::AuthFailed { user, reason },
        });
        for kind in started {
            self.events.push_back(Event::Security { source: ip, kind });
        }
    }

    fn on_register(&mut self, now: Instant, tx: TxId, req: &Request, source: Peer, user: String) {
        let (aor, contacts) = match register_target(req, &self.cfg.registrar) {
            Ok(t) => t,
            Err(why) => return self.reply(now, tx, req, 400, |b| b.reason(why)),
        };
        if user != aor {
            return self.reply(now, tx, req, 403, |b| {
                b.reason("Credentials Do Not Match The Address Of Record")
            });
        }
        let (cid, seq) = (req.core.call_id.as_str(), req.core.cseq.seq);
        let (update, changes) = match &contacts {
            Contacts::Wildcard => self.location.remove_all(&aor, cid, seq),
            Contacts::List(list) => {
                let r = RegisterRequest {
                    user: &aor,
                    flow: source,
                    call_id: cid,
                    cseq: seq,
                    contacts: list,
                };
                self.location.update(now, &self.cfg.registrar, &r)
            }
        };
        match update {
            Update::Ok => {}
            Update::TooBrief(min) => {
                return self.reply(now, tx, req, 423, |b| {
                    b.header("Min-Expires", min.to_string())
                })
            }
            Update::TooMany => {
                return self.reply(now, tx, req, 403, |b| b.reason("Too Many Contacts"))
            }
            Update::OutOfOrder => {
                return self.reply(now, tx, req, 500, |b| b.reason("Out Of Order Registration"))
            }
        }
        for change in changes {
            match change {
                Change::Added { user, id } | Change::Refreshed { user, id } => {
                    self.binding_owner.insert(id, user.clone());
                    self.qualify_due.push(now + self.cfg.qualify_interval, id);
                    self.events.push_back(Event::Registered {
                        user,
                        binding: id,
                        flow: source,
                    });
                }
                Change::Removed { user, id } => {
                    self.binding_owner.remove(&id);
                    self.events
                        .push_back(Event::Unregistered { user, binding: id });
                }
            }
        }
        let current: Vec<String> = self
            .location
            .bindings(&aor)
            .iter()
            .map(|b| {
                let left = b.expires_at.saturating_duration_since(now).as_secs();
                format!("<{}>;expires={left}", b.contact.uri)
            })
            .collect();
        self.reply(now, tx, req, 200, |mut b| {
            for c in current {
                b = b.header("Contact", c);
            }
            b
        });
    }

    fn set_reachable(&mut self, user: &str, id: u64, reachable: bool) {
        if let Some(b) = self.location.binding_mut(user, id) {
            if b.reachable != reachable {
                b.reachable = reachable;
                self.events.push_back(Event::Reachability {
                    user: user.to_string(),
                    binding: id,
                    reachable,
                });
            }
        }
    }

    fn on_client_response(&mut self, now: Instant, tx: TxId, resp: &Response) {
        if self.outgoing.contains_key(&tx) {
            return self.on_invite_response(now, tx, resp);
        }
        if resp.status < 200 {
            return;
        }
        if let Some(t) = self.trunk_tx.remove(&tx) {
            return self.trunk_answer(now, t, tx, resp);
        }
        if let Some((user, id)) = self.qualifying.remove(&tx) {
            // Any final response proves the phone is alive (RFC 3261 §11: even 4xx/5xx).
            self.set_reachable(&user, id, true);
        }
    }

    /// Our own Via for a request over `flow`.
    pub fn local_via(&mut self, flow: Peer) -> Via {
        let mut via = Via {
            transport: flow.transport.via_transport(),
            host: sb_sip_msg::Host::from_ip(self.cfg.local_addr.ip()),
            port: Some(self.cfg.local_addr.port()),
            params: Default::default(),
        };
        via.params.set("branch", Some(self.ids.branch()));
        via.params.set("rport", None);
        via
    }

    /// Sends an OPTIONS to a registered contact over the flow it registered from (RFC 3261
    /// §11), so a phone that vanished is marked unavailable.
    fn qualify(&mut self, now: Instant, id: u64) {
        let Some(user) = self.binding_owner.get(&id).cloned() else {
            return;
        };
        let Some(binding) = self
            .location
            .bindings(&user)
            .iter()
            .find(|b| b.id == id)
            .cloned()
        else {
            self.binding_owner.remove(&id);
            return;
        };
        let via = self.local_via(binding.flow);
        let mut from = NameAddr::parse(&format!("<sip:switchboard@{}>", self.cfg.realm))
            .unwrap_or_else(|_| NameAddr::new(binding.contact.uri.clone()));
        from.params.set("tag", Some(self.ids.tag()));
        let host = self.cfg.realm.clone();
        let req = Request {
            method: Method::Options,
            uri: binding.contact.uri.clone(),
            core: Core {
                via: vec![via],
                from,
                to: NameAddr::new(binding.contact.uri.clone()),
                call_id: self.ids.call_id(&host),
                cseq: CSeq {
                    seq: 1,
                    method: Method::Options,
                },
                max_forwards: Some(70),
            },
            headers: Headers::default(),
            body: Vec::new(),
        };
        let tx = self.layer.send_request(now, &req, binding.flow);
        self.qualifying.insert(tx, (user, id));
        self.qualify_due.push(now + self.cfg.qualify_interval, id);
    }

    /// §13.3.1.4: the 2xx goes again at T1, doubling to T2, until the ACK; after 64*T1
    /// without one the TU is told (and should end the session with a BYE).
    fn retransmit_2xx(&mut self, now: Instant) {
        let t2 = self.cfg.timers.t2;
        let mut lost = Vec::new();
        for (id, u) in self.unacked.iter_mut().filter(|(_, u)| u.next <= now) {
            if now >= u.give_up {
                lost.push((id.clone(), u.tx));
                continue;
            }
            self.transmits.push_back((u.peer, u.bytes.clone()));
            u.interval = (u.interval * 2).min(t2);
            u.next = (now + u.interval).min(u.give_up);
        }
        for (id, tx) in lost {
            self.unacked.remove(&id);
            self.events.push_back(Event::AckTimeout { tx });
        }
    }

    fn housekeeping(&mut self, now: Instant) {
        for change in self.location.expire(now) {
            if let Change::Removed { user, id } = change {
                self.binding_owner.remove(&id);
                self.events
                    .push_back(Event::Unregistered { user, binding: id });
            }
        }
        let secs = self.secs(now);
        self.auth.prune(secs);
        self.guard.housekeeping(now);
    }

    /// A fresh Call-ID, for a call the switchboard places (its records name it before the
    /// INVITE goes).
    pub fn new_call_id(&mut self) -> String {
        let realm = self.cfg.realm.clone();
        self.ids.call_id(&realm)
    }

    /// Sends an INVITE (to an agent's phone). Responses come back as `Outgoing*` events.
    pub fn invite(&mut self, now: Instant, call: OutgoingCall) -> TxId {
        let via = self.local_via(call.peer);
        let mut from = call.from;
        from.params.set("tag", Some(self.ids.tag()));
        let realm = self.cfg.realm.clone();
        let mut headers = Headers::default();
        headers.push("Contact", self.local_contact().to_string());
        headers.push("Allow", ALLOW);
        for (name, value) in call.headers {
            headers.push(name, value);
        }
        headers.push("Content-Type", "application/sdp");
        let req = Request {
            method: Method::Invite,
            uri: call.uri,
            core: Core {
                via: vec![via],
                from,
                to: call.to,
                call_id: call.call_id.unwrap_or_else(|| self.ids.call_id(&realm)),
                cseq: CSeq {
                    seq: 1,
                    method: Method::Invite,
                },
                max_forwards: Some(70),
            },
            headers,
            body: call.sdp,
        };
        let tx = self.layer.send_request(now, &req, call.peer);
        self.outgoing.insert(
            tx,
            Outgoing {
                req,
                peer: call.peer,
                credentials: call.credentials,
                challenges: 0,
                ack: None,
            },
        );
        tx
    }

    /// Gives up on an INVITE that has not been answered (RFC 3261 §9.1): the CANCEL copies
    /// the INVITE's Request-URI, Call-ID, From, To, CSeq number and top Via.
    pub fn cancel(&mut self, now: Instant, tx: TxId) {
        let Some(o) = self.outgoing.get(&tx) else {
            return;
        };
        if o.ack.is_some() {
            return;
        }
        let mut core = o.req.core.clone();
        core.cseq.method = Method::Cancel;
        let cancel = Request {
            method: Method::Cancel,
            uri: o.req.uri.clone(),
            core,
            headers: Headers::default(),
            body: Vec::new(),
        };
        let peer = o.peer;
        self.layer.send_request(now, &cancel, peer);
    }

    fn on_invite_response(&mut self, now: Instant, tx: TxId, resp: &Response) {
        if resp.status < 200 {
            let sdp = (!resp.body.is_empty()
                && resp
                    .headers
                    .get("Content-Type")
                    .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/sdp")))
            .then(|| resp.body.to_vec());
            self.events.push_back(Event::OutgoingProgress {
                tx,
                status: resp.status,
                sdp,
            });
            return;
        }
        if (resp.status == 401 || resp.status == 407) && self.answer_challenge(now, tx, resp) {
            return;
        }
        if resp.status >= 300 {
            self.outgoing.remove(&tx);
            self.events.push_back(Event::OutgoingFailed {
                tx,
                status: resp.status,
                reason: resp.headers.get("Reason").map(str::to_string),
            });
            return;
        }
        let Some(o) = self.outgoing.get(&tx) else {
            return;
        };
        let (req, peer) = (o.req.clone(), o.peer);
        let Some(mut dialog) = Dialog::uac(&req, resp, peer) else {
            // A 2xx without a To tag or Contact cannot form a dialog: give up on the call.
            self.outgoing.remove(&tx);
            self.events.push_back(Event::OutgoingFailed {
                tx,
                status: 500,
                reason: None,
            });
            return;
        };
        // The ACK for a 2xx is sent by the UAC core in its own transaction (§13.2.2.4).
        let via = self.local_via(peer);
        let ack = dialog
            .new_request(Method::Ack, via, Some(req.core.cseq.seq))
            .to_bytes();
        let id = dialog.id.clone();
        self.dialogs.insert(id.clone(), dialog);
        self.transmits.push_back((peer, ack.clone()));
        if let Some(o) = self.outgoing.get_mut(&tx) {
            o.ack = Some((id.clone(), ack));
        }
        self.events.push_back(Event::OutgoingAnswered {
            tx,
            dialog: id,
            resp: Box::new(resp.clone()),
        });
    }

    /// A 2xx retransmitted after its transaction ended: ACK it again.
    fn on_stray_response(&mut self, resp: &Response) {
        if resp.core.cseq.method != Method::Invite || !(200..300).contains(&resp.status) {
            return;
        }
        let again = self.outgoing.values().find_map(|o| {
            let (id, bytes) = o.ack.as_ref()?;
            (id.call_id == resp.core.call_id && Some(id.remote_tag.as_str()) == resp.core.to.tag())
                .then(|| (o.peer, bytes.clone()))
        });
        if let Some(t) = again {
            self.transmits.push_back(t);
        }
    }

    /// A carrier's 401 or 407 to our INVITE: the INVITE goes again with credentials
    /// (RFC 3261 §22.2), in a new transaction with the next CSeq and the same Call-ID and
    /// From tag. Returns whether it did; a second challenge in a row is the answer.
    fn answer_challenge(&mut self, now: Instant, tx: TxId, resp: &Response) -> bool {
        let Some(o) = self.outgoing.get(&tx) else {
            return false;
        };
        let Some(creds) = o.credentials.clone().filter(|_| o.challenges < 2) else {
            return false;
        };
        let (asked, answer) = if resp.status == 401 {
            ("WWW-Authenticate", "Authorization")
        } else {
            ("Proxy-Authenticate", "Proxy-Authorization")
        };
        let Some(challenge) = resp.headers.get(asked) else {
            return false;
        };
        let cnonce = self.ids.tag();
        let uri = o.req.uri.to_string();
        let Some(value) = crate::digest::answer_challenge(
            challenge,
            &creds.user,
            &creds.password,
            "INVITE",
            &uri,
            1,
            &cnonce,
        ) else {
            return false;
        };
        let Some(mut o) = self.outgoing.remove(&tx) else {
            return false;
        };
        o.req.core.cseq.seq += 1;
        o.req.core.via = vec![self.local_via(o.peer)];
        o.req.headers.remove("Authorization");
        o.req.headers.remove("Proxy-Authorization");
        o.req.headers.push(answer, value);
        o.challenges += 1;
        let again = self.layer.send_request(now, &o.req, o.peer);
        self.outgoing.insert(again, o);
        self.events
            .push_back(Event::OutgoingChallenged { tx, again });
        true
    }

    // ---- trunks ---------------------------------------------------------------------------

    /// Where each trunk stands, in config order.
    pub fn trunks(&self) -> Vec<TrunkView> {
        self.trunks.iter().map(TrunkLink::view).collect()
    }

    /// Trunk `i`'s settings.
    pub fn trunk_settings(&self, i: usize) -> Option<&TrunkSettings> {
        self.trunks.get(i).map(|t| &t.settings)
    }

    /// Removes every trunk's registration with its carrier (at shutdown); says how many
    /// un-REGISTERs went out, so the caller can wait a moment for their answers.
    pub fn unregister_trunks(&mut self, now: Instant) -> usize {
        let mut sent = 0;
        for t in &mut self.trunks {
            if let Some(r) = t.registration.as_mut() {
                if matches!(
                    r.state(),
                    crate::client_registration::RegistrationState::Registered { .. }
                ) {
                    r.unregister();
                    sent += 1;
                }
            }
        }
        self.drive_trunks(now);
        sent
    }

    /// Sends what the trunks ask now: REGISTERs (first, refresh, retry), OPTIONS probes;
    /// and marks a carrier down when its probe went unanswered too long.
    fn drive_trunks(&mut self, now: Instant) {
        self.trunks_due = false;
        for i in 0..self.trunks.len() {
            if let Some(r) = self.trunks[i].registration.as_mut() {
                r.handle_timeout(now);
            }
            while let Some(reg) = self.trunks[i]
                .registration
                .as_mut()
                .and_then(|r| r.poll_register())
            {
                self.send_register(now, i, reg);
            }
            if let Some(p) = self.trunks[i].probe.filter(|p| p.deadline <= now) {
                self.trunk_tx.remove(&p.tx);
                self.probe_answered(now, i, 408);
            }
            let link = &self.trunks[i];
            if link.probe.is_none() && link.next_probe.is_some_and(|t| t <= now) {
                self.send_probe(now, i);
            }
        }
    }

    fn trunk_request(&mut self, i: usize, method: Method, cseq: u32) -> Request {
        let t = &self.trunks[i].settings;
        let user = t
            .account
            .as_ref()
            .map(|a| a.user.clone())
            .unwrap_or_else(|| "switchboard".to_string());
        let (peer, domain) = (t.carrier, t.domain.clone());
        let aor = Uri::parse(&format!("sip:{user}@{domain}"))
            .or_else(|_| Uri::parse(&format!("sip:{domain}")))
            .unwrap_or_else(|_| self.local_contact().uri);
        let target = Uri::parse(&format!("sip:{domain}")).unwrap_or_else(|_| aor.clone());
        let via = self.local_via(peer);
        let (call_id, tag) = if method == Method::Register {
            (
                self.trunks[i].reg_call_id.clone(),
                self.trunks[i].reg_from_tag.clone(),
            )
        } else {
            let realm = self.cfg.realm.clone();
            (self.ids.call_id(&realm), self.ids.tag())
        };
        let mut from = NameAddr::new(aor.clone());
        from.params.set("tag", Some(tag));
        Request {
            method: method.clone(),
            uri: target,
            core: Core {
                via: vec![via],
                from,
                to: NameAddr::new(aor),
                call_id,
                cseq: CSeq { seq: cseq, method },
                max_forwards: Some(70),
            },
            headers: Headers::default(),
            body: Vec::new(),
        }
    }

    fn send_register(&mut self, now: Instant, i: usize, reg: crate::client_registration::Register) {
        let mut req = self.trunk_request(i, Method::Register, reg.cseq);
        let t = &self.trunks[i].settings;
        let contact_user = t
            .account
            .as_ref()
            .map(|a| a.contact_user.clone())
            .unwrap_or_default();
        let peer = t.carrier;
        let transport = if peer.transport.is_reliable() {
            ";transport=tcp"
        } else {
            ""
        };
        let host = sb_sip_msg::Host::from_ip(self.cfg.local_addr.ip());
        req.headers.push(
            "Contact",
            format!(
                "<sip:{contact_user}@{host}:{}{transport}>",
                self.cfg.local_addr.port()
            ),
        );
        req.headers.push("Expires", reg.expires.to_string());
        req.headers.push("User-Agent", self.cfg.user_agent.clone());
        if let Some((name, value)) = reg.authorization {
            req.headers.push(name, value);
        }
        let tx = self.layer.send_request(now, &req, peer);
        self.trunk_tx.insert(tx, i);
        self.trunks[i].reg_tx = Some((tx, reg.cseq));
        self.trunk_changed(i);
    }

    fn send_probe(&mut self, now: Instant, i: usize) {
        let req = self.trunk_request(i, Method::Options, 1);
        let peer = self.trunks[i].settings.carrier;
        let tx = self.layer.send_request(now, &req, peer);
        self.trunk_tx.insert(tx, i);
        let timeout = self.trunks[i].settings.options_timeout;
        let link = &mut self.trunks[i];
        link.next_probe = None;
        link.probe = Some(Probe {
            tx,
            deadline: now + timeout,
        });
    }

    fn trunk_answer(&mut self, now: Instant, i: usize, tx: TxId, resp: &Response) {
        if self.trunks[i].probe.is_some_and(|p| p.tx == tx) {
            return self.probe_answered(now, i, resp.status);
        }
        let Some((_, cseq)) = self.trunks[i].reg_tx.filter(|(t, _)| *t == tx) else {
            return;
        };
        self.trunks[i].reg_tx = None;
        let contact_user = self.trunks[i]
            .settings
            .account
            .as_ref()
            .map(|a| a.contact_user.clone())
            .unwrap_or_default();
        // The expiry granted to our own contact, else the Expires header (§10.2.4).
        let granted = resp
            .headers
            .list("Contact")
            .filter_map(|c| NameAddr::parse(c).ok())
            .find(|c| {
                c.uri.as_sip().and_then(|u| u.user_unescaped()).as_deref()
                    == Some(contact_user.as_str())
            })
            .and_then(|c| {
                c.params
                    .value("expires")
                    .and_then(|v| v.trim().parse().ok())
            })
            .or_else(|| {
                resp.headers
                    .get("Expires")
                    .and_then(|v| v.trim().parse().ok())
            });
        let answer = crate::client_registration::RegisterAnswer {
            status: resp.status,
            www_authenticate: resp.headers.get("WWW-Authenticate"),
            proxy_authenticate: resp.headers.get("Proxy-Authenticate"),
            min_expires: resp
                .headers
                .get("Min-Expires")
                .and_then(|v| v.trim().parse().ok()),
            expires: granted,
        };
        if let Some(r) = self.trunks[i].registration.as_mut() {
            r.handle_response(now, cseq, &answer);
        }
        self.trunk_changed(i);
        self.drive_trunks(now);
    }

    /// No final answer came to a trunk's REGISTER or OPTIONS (Timer F).
    fn trunk_no_answer(&mut self, now: Instant, i: usize, tx: TxId) {
        if let Some((_, cseq)) = self.trunks[i].reg_tx.filter(|(t, _)| *t == tx) {
            self.trunks[i].reg_tx = None;
            if let Some(r) = self.trunks[i].registration.as_mut() {
                r.handle_no_response(now, cseq);
            }
            self.trunk_changed(i);
        }
    }

    fn probe_answered(&mut self, now: Instant, i: usize, status: u16) {
        let was_down = self.trunks[i].reachable == Some(false);
        if !self.trunks[i].on_probe_answer(now, status) {
            return;
        }
        let up = self.trunks[i].reachable == Some(true);
        if was_down && up {
            // The carrier is back, perhaps restarted without our binding: register again
            // now rather than at the next refresh.
            if let Some(r) = self.trunks[i].registration.as_mut() {
                r.start();
            }
            self.trunks_due = true;
        }
        self.trunk_changed(i);
    }

    /// Reports trunk `i` when what it shows changed (a REGISTER going out is not news).
    fn trunk_changed(&mut self, i: usize) {
        let view = self.trunks[i].view();
        let shown = self.trunks[i].shown.as_ref();
        if let Some(key) = view.key(shown).filter(|k| Some(k) != shown) {
            self.trunks[i].shown = Some(key);
            self.events.push_back(Event::Trunk { trunk: i, view });
        }
    }

    /// Forgets an outgoing INVITE once its call is over.
    pub fn forget_outgoing(&mut self, tx: TxId) {
        self.outgoing.remove(&tx);
    }

    /// Our Contact for dialogs we take part in: where the peer sends in-dialog requests.
    pub fn local_contact(&self) -> NameAddr {
        NameAddr::new(Uri::Sip(sb_sip_msg::uri::SipUri::new(
            None,
            sb_sip_msg::Host::from_ip(self.cfg.local_addr.ip()),
            Some(self.cfg.local_addr.port()),
        )))
    }

    /// Sends a request inside a dialog (a BYE ends the dialog at once, RFC 3261 §15.1.1).
    /// It goes over the flow the dialog's peer used, so phones behind NAT receive it.
    pub fn send_in_dialog(&mut self, now: Instant, id: &DialogId, method: Method) -> Option<TxId> {
        self.send_in_dialog_with(now, id, method, |_| {})
    }

    /// [`send_in_dialog`](Self::send_in_dialog), letting `fill` add headers and a body
    /// (a NOTIFY's event and sipfrag, RFC 3515 §2.4.5).
    pub fn send_in_dialog_with(
        &mut self,
        now: Instant,
        id: &DialogId,
        method: Method,
        fill: impl FnOnce(&mut Request),
    ) -> Option<TxId> {
        let peer = self.dialogs.get(id)?.peer;
        let via = self.local_via(peer);
        let mut req = self
            .dialogs
            .get_mut(id)?
            .new_request(method.clone(), via, None);
        fill(&mut req);
        if method == Method::Bye {
            self.dialogs.remove(id);
            self.unacked.remove(id);
        }
        Some(self.layer.send_request(now, &req, peer))
    }

    /// Creates the UAS dialog when the TU answers INVITE `tx` with a 2xx (RFC 3261 §12.1.1).
    pub fn create_uas_dialog(&mut self, tx: TxId, source: Peer) -> Option<DialogId> {
        let contact = self.local_contact();
        let req = self.pending.get(&tx)?;
        let tag = self.layer.server_to_tag(tx)?.to_string();
        let peer = response_peer(req.top_via(), &source);
        let d = Dialog::uas(req, &tag, contact, peer, 1)?;
        let id = d.id.clone();
        self.dialogs.insert(id.clone(), d);
        Some(id)
    }
}

enum Contacts {
    Wildcard,
    List(Vec<ContactRequest>),
}

/// What [`Endpoint::front`] decided about a new request.
enum Front {
    /// Answered (or ignored) without a transaction.
    Done,
    /// Goes on to the transaction layer, from whom it authenticated as.
    Stateful(Option<Origin>),
}

/// The user a request claims to be, before anything is checked: the digest `username`,
/// else the To user of a REGISTER or the From user of anything else.
fn claimed_user(req: &Request) -> String {
    let from_creds = req
        .headers
        .get_all("Authorization")
        .chain(req.headers.get_all("Proxy-Authorization"))
        .filter_map(AuthParams::parse)
        .find_map(|c| c.get("username").map(str::to_string));
    from_creds
        .or_else(|| {
            let who = if req.method == Method::Register {
                &req.core.to
            } else {
                &req.core.from
            };
            who.uri.as_sip().and_then(|u| u.user_unescaped())
        })
        .unwrap_or_default()
}

/// The address of record a REGISTER is for and its contacts, or why it is a bad request.
fn register_target(
    req: &Request,
    s: &RegistrarSettings,
) -> Result<(String, Contacts), &'static str> {
    let aor = req
        .core
        .to
        .uri
        .as_sip()
        .and_then(|u| u.user_unescaped())
        .ok_or("To Is Not A SIP Address Of Record")?;
    Ok((aor, parse_contacts(req, s)?))
}

fn parse_contacts(req: &Request, s: &RegistrarSettings) -> Result<Contacts, &'static str> {
    let expires_hdr = match req.headers.get("Expires") {
        None => None,
        Some(v) => Some(parse_expires(v).ok_or("Bad Expires")?),
    };
    let raw: Vec<&str> = req.headers.list("Contact").collect();
    if raw.contains(&"*") {
        if raw.len() != 1 || expires_hdr != Some(0) {
            return Err("Wildcard Contact Needs Expires 0");
        }
        return Ok(Contacts::Wildcard);
    }
    let mut out = Vec::with_capacity(raw.len());
    for c in raw {
        let contact = NameAddr::parse(c).map_err(|_| "Bad Contact")?;
        if contact.uri.as_sip().is_none() {
            return Err("Contact Must Be A SIP URI");
        }
        let expires = match contact.params.value("expires") {
            Some(v) => parse_expires(v).ok_or("Bad Contact Expires")?,
            None => expires_hdr.unwrap_or(s.default_expires),
        };
        out.push(ContactRequest { contact, expires });
    }
    Ok(Contacts::List(out))
}

/// delta-seconds; absurdly large values mean "as long as allowed" (RFC 3261 §20.19 and
/// RFC 4475 §3.1.2.4 scalar02).
fn parse_expires(v: &str) -> Option<u32> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.parse::<u32>().unwrap_or(u32::MAX))
}

/// The checks of RFC 3261 §8.2.2-§8.2.3 that need no state: URI scheme (416), extensions
/// (420), content type (415) and what the caller accepts (406). They run before
/// authentication: they reveal nothing and spare a challenge round trip.
fn precheck(req: &Request) -> Option<(u16, Option<(&'static str, String)>)> {
    if req.uri.as_sip().is_none() {
        return Some((416, None));
    }
    let unsupported: Vec<&str> = req
        .headers
        .list("Require")
        .filter(|t| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .collect();
    if !unsupported.is_empty() && !matches!(req.method, Method::Ack | Method::Cancel) {
        return Some((420, Some(("Unsupported", unsupported.join(", ")))));
    }
    if let Method::Extension(_) = req.method {
        return Some((501, None));
    }
    if matches!(req.method, Method::Invite | Method::Update) {
        if let Err(min) = session_timer::negotiate(req) {
            return Some((422, Some(("Min-SE", min.to_string()))));
        }
    }
    let wants_sdp = matches!(req.method, Method::Invite | Method::Update);
    if wants_sdp && !req.body.is_empty() {
        let ct = req.headers.get("Content-Type").unwrap_or_default();
        let base = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if base != "application/sdp" && base != "multipart/mixed" {
            return Some((415, Some(("Accept", "application/sdp".to_string()))));
        }
    }
    if wants_sdp {
        let mut accepts = req.headers.list("Accept").peekable();
        if accepts.peek().is_some()
            && !accepts.any(|a| {
                let a = a
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                a == "application/sdp" || a == "application/*" || a == "*/*"
            })
        {
            return Some((406, Some(("Accept", "application/sdp".to_string()))));
        }
    }
    None
}
