//! The transaction layer: routes each incoming message to its transaction or up to the TU,
//! runs the timers, and queues what must be sent.

use super::client::{ClientAction, ClientState, ClientTx};
use super::key::{ClientKey, ServerKey};
use super::server::{ServerAction, ServerState, ServerTx};
use crate::peer::{response_peer, Peer};
use crate::timer::{DeadlineQueue, TimerSettings};
use sb_sip_msg::{Method, Request, Response};
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// A transaction, numbered by the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub u64);

/// What the layer hands to the transaction user.
#[derive(Debug)]
pub enum LayerEvent {
    /// A new request created server transaction `tx` (never an ACK).
    Request {
        /// The transaction.
        tx: TxId,
        /// The request.
        req: Request,
        /// Where it came from.
        source: Peer,
    },
    /// An ACK that matched no INVITE server transaction: the ACK for a 2xx, for the dialog.
    Ack {
        /// The ACK.
        req: Request,
        /// Where it came from.
        source: Peer,
    },
    /// A response for client transaction `tx`.
    Response {
        /// The transaction.
        tx: TxId,
        /// The response.
        resp: Response,
    },
    /// A response that matched no client transaction (a 2xx retransmission for the UAC core).
    StrayResponse {
        /// The response.
        resp: Response,
        /// Where it came from.
        source: Peer,
    },
    /// Timer B or F fired.
    ClientTimeout {
        /// The transaction.
        tx: TxId,
    },
    /// Timer H fired: no ACK for a non-2xx final response.
    AckTimeout {
        /// The transaction.
        tx: TxId,
    },
}

#[derive(Debug)]
struct ServerEntry {
    key: ServerKey,
    tx: ServerTx,
}

#[derive(Debug)]
struct ClientEntry {
    key: ClientKey,
    tx: ClientTx,
    /// For an INVITE: the ACK to send for a non-2xx final response, less its To tag.
    ack_template: Option<Request>,
}

/// What the layer counts.
#[derive(Debug, Default)]
pub struct Stats {
    /// Retransmissions received and absorbed.
    pub retransmissions_absorbed: u64,
    /// Retransmissions sent.
    pub retransmissions_sent: u64,
}

/// The transaction layer: every client and server transaction, their timers, matching.
#[derive(Debug)]
pub struct TransactionLayer {
    /// T1, T2, T4.
    pub timers: TimerSettings,
    next_id: u64,
    servers: HashMap<TxId, ServerEntry>,
    server_keys: HashMap<ServerKey, TxId>,
    clients: HashMap<TxId, ClientEntry>,
    client_keys: HashMap<ClientKey, TxId>,
    deadlines: DeadlineQueue<TxId>,
    transmits: VecDeque<(Peer, Vec<u8>)>,
    events: VecDeque<LayerEvent>,
    /// Its counts.
    pub stats: Stats,
}

impl TransactionLayer {
    /// A layer with these timers.
    pub fn new(timers: TimerSettings) -> TransactionLayer {
        TransactionLayer {
            timers,
            next_id: 1,
            servers: HashMap::new(),
            server_keys: HashMap::new(),
            clients: HashMap::new(),
            client_keys: HashMap::new(),
            deadlines: DeadlineQueue::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    fn alloc(&mut self) -> TxId {
        let id = TxId(self.next_id);
        self.next_id += 1;
        id
    }

    /// The next message to send, and to whom.
    pub fn poll_transmit(&mut self) -> Option<(Peer, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// The next event for the endpoint.
    pub fn poll_event(&mut self) -> Option<LayerEvent> {
        self.events.pop_front()
    }

    /// When [`TransactionLayer::handle_timeout`] is needed next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// (client, server) transactions alive.
    pub fn live_transactions(&self) -> (usize, usize) {
        (self.servers.len(), self.clients.len())
    }

    /// Takes a request from the transport (Via already stamped with received/rport).
    /// `to_tag` is the tag this endpoint will put in its responses if it answers.
    pub fn on_request(
        &mut self,
        now: Instant,
        req: Request,
        source: Peer,
        to_tag: impl FnOnce() -> String,
    ) -> Option<TxId> {
        let key = ServerKey::of(&req);
        if let Some(id) = self.server_keys.get(&key).copied() {
            let accepted = self
                .servers
                .get(&id)
                .is_some_and(|e| e.tx.state == ServerState::Accepted);
            if accepted && req.method == Method::Ack {
                // An ACK for the 2xx that reused the INVITE's branch: the dialog's (RFC 6026).
                self.events.push_back(LayerEvent::Ack { req, source });
                return None;
            }
            self.on_matched_request(now, id, &req);
            return None;
        }
        if req.method == Method::Ack {
            self.events.push_back(LayerEvent::Ack { req, source });
            return None;
        }
        let id = self.alloc();
        let peer = response_peer(req.top_via(), &source);
        let tx = ServerTx::new(req.method == Method::Invite, peer, to_tag());
        self.server_keys.insert(key.clone(), id);
        self.servers.insert(id, ServerEntry { key, tx });
        self.events.push_back(LayerEvent::Request {
            tx: id,
            req,
            source,
        });
        Some(id)
    }

    /// Whether `req` belongs to a server transaction already open (a retransmission, or
    /// the ACK of a non-2xx).
    pub fn matches_server(&self, req: &Request) -> bool {
        self.server_keys.contains_key(&ServerKey::of(req))
    }

    fn on_matched_request(&mut self, now: Instant, id: TxId, req: &Request) {
        let timers = self.timers;
        // The key map and the entry map change together.
        let Some(entry) = self.servers.get_mut(&id) else {
            return;
        };
        if req.method == Method::Ack {
            // RFC 2543 matching also needs the ACK's To tag to be ours (§17.2.3).
            let ours = req.core.to.tag() == Some(entry.tx.to_tag.as_str());
            if matches!(entry.key, ServerKey::Rfc3261 { .. }) || ours {
                if entry.tx.on_ack(now, &timers) {
                    self.reschedule_server(id);
                } else {
                    self.stats.retransmissions_absorbed += 1;
                }
            }
            return;
        }
        self.stats.retransmissions_absorbed += 1;
        if let Some(bytes) = entry.tx.on_request_retransmission() {
            let peer = entry.tx.peer;
            self.stats.retransmissions_sent += 1;
            self.transmits.push_back((peer, bytes));
        }
    }

    /// The TU answers server transaction `tx`.
    pub fn respond(&mut self, now: Instant, tx: TxId, resp: &Response) {
        let timers = self.timers;
        let Some(entry) = self.servers.get_mut(&tx) else {
            return;
        };
        if let Some(ServerAction::Send(bytes)) =
            entry
                .tx
                .send_response(now, &timers, resp.status, resp.to_bytes())
        {
            self.transmits.push_back((entry.tx.peer, bytes));
        }
        self.reschedule_server(tx);
    }

    /// Our To tag for server transaction `tx`.
    pub fn server_to_tag(&self, tx: TxId) -> Option<&str> {
        self.servers.get(&tx).map(|e| e.tx.to_tag.as_str())
    }

    /// Where server transaction `tx` answers.
    pub fn server_peer(&self, tx: TxId) -> Option<Peer> {
        self.servers.get(&tx).map(|e| e.tx.peer)
    }

    /// The state of server transaction `tx`.
    pub fn server_state(&self, tx: TxId) -> Option<ServerState> {
        self.servers.get(&tx).map(|e| e.tx.state)
    }

    /// The INVITE server transaction a CANCEL refers to (RFC 3261 §9.2).
    pub fn find_invite_for_cancel(&self, cancel: &Request) -> Option<TxId> {
        self.server_keys
            .get(&ServerKey::invite_for_cancel(cancel))
            .copied()
    }

    /// Starts a client transaction and sends the request. For an INVITE the layer itself
    /// ACKs a non-2xx final response (§17.1.1.3).
    pub fn send_request(&mut self, now: Instant, req: &Request, peer: Peer) -> TxId {
        let id = self.alloc();
        let bytes = req.to_bytes();
        let key = ClientKey {
            branch: req.top_via().branch().unwrap_or_default().to_string(),
            method: if req.method == Method::Ack {
                Method::Invite
            } else {
                req.method.clone()
            },
        };
        let invite = req.method == Method::Invite;
        let tx = ClientTx::new(invite, peer, bytes.clone(), now, &self.timers);
        let ack_template = invite.then(|| error_ack(req));
        self.transmits.push_back((peer, bytes));
        self.client_keys.insert(key.clone(), id);
        self.clients.insert(
            id,
            ClientEntry {
                key,
                tx,
                ack_template,
            },
        );
        self.reschedule_client(id);
        id
    }

    /// A response from `source`: to its client transaction, or stray.
    pub fn on_response(&mut self, now: Instant, resp: Response, source: Peer) {
        let timers = self.timers;
        let id = ClientKey::of_response(&resp).and_then(|k| self.client_keys.get(&k).copied());
        let Some((id, entry)) = id.and_then(|id| self.clients.get_mut(&id).map(|e| (id, e))) else {
            self.events
                .push_back(LayerEvent::StrayResponse { resp, source });
            return;
        };
        // Fill the ACK's To tag from the response it acknowledges (§17.1.1.3).
        if resp.status >= 300 && entry.tx.ack.is_none() {
            if let Some(mut ack) = entry.ack_template.take() {
                ack.core.to = resp.core.to.clone();
                entry.tx.ack = Some(ack.to_bytes());
            }
        }
        let peer = entry.tx.peer;
        for action in entry.tx.on_response(now, &timers, resp.status) {
            match action {
                ClientAction::Send(b) => self.transmits.push_back((peer, b)),
                ClientAction::Deliver => self.events.push_back(LayerEvent::Response {
                    tx: id,
                    resp: resp.clone(),
                }),
                ClientAction::Timeout => {}
            }
        }
        self.reschedule_client(id);
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let timers = self.timers;
        while let Some(id) = self.deadlines.pop_due(now) {
            if let Some(entry) = self.servers.get_mut(&id) {
                if entry.tx.next_deadline().is_some_and(|d| d <= now) {
                    for action in entry.tx.on_timers(now, &timers) {
                        match action {
                            ServerAction::Send(b) => {
                                self.stats.retransmissions_sent += 1;
                                self.transmits.push_back((entry.tx.peer, b))
                            }
                            ServerAction::AckTimeout => {
                                self.events.push_back(LayerEvent::AckTimeout { tx: id })
                            }
                        }
                    }
                    self.reschedule_server(id);
                }
            } else if let Some(entry) = self.clients.get_mut(&id) {
                if entry.tx.next_deadline().is_some_and(|d| d <= now) {
                    let peer = entry.tx.peer;
                    for action in entry.tx.on_timers(now, &timers) {
                        match action {
                            ClientAction::Send(b) => {
                                self.stats.retransmissions_sent += 1;
                                self.transmits.push_back((peer, b))
                            }
                            ClientAction::Timeout => {
                                self.events.push_back(LayerEvent::ClientTimeout { tx: id })
                            }
                            ClientAction::Deliver => {}
                        }
                    }
                    self.reschedule_client(id);
                }
            }
        }
    }

    fn reschedule_server(&mut self, id: TxId) {
        let Some(entry) = self.servers.get(&id) else {
            return;
        };
        if entry.tx.state == ServerState::Terminated {
            let key = entry.key.clone();
            self.servers.remove(&id);
            if self.server_keys.get(&key) == Some(&id) {
                self.server_keys.remove(&key);
            }
            return;
        }
        if let Some(at) = entry.tx.next_deadline() {
            self.deadlines.push(at, id);
        }
    }

    fn reschedule_client(&mut self, id: TxId) {
        let Some(entry) = self.clients.get(&id) else {
            return;
        };
        if entry.tx.state == ClientState::Terminated {
            self.remove_client(id);
            return;
        }
        if let Some(at) = entry.tx.next_deadline() {
            self.deadlines.push(at, id);
        }
    }

    fn remove_client(&mut self, id: TxId) {
        if let Some(entry) = self.clients.remove(&id) {
            if self.client_keys.get(&entry.key) == Some(&id) {
                self.client_keys.remove(&entry.key);
            }
        }
    }

    /// The state of client transaction `tx`.
    pub fn client_state(&self, tx: TxId) -> Option<ClientState> {
        self.clients.get(&tx).map(|e| e.tx.state)
    }
}

/// The ACK for a non-2xx final response: same Request-URI, Call-ID, From, top Via and CSeq
/// number, method ACK (RFC 3261 §17.1.1.3). The To tag is filled from the response.
fn error_ack(invite: &Request) -> Request {
    let mut core = invite.core.clone();
    core.via.truncate(1);
    core.cseq.method = Method::Ack;
    let mut headers = sb_sip_msg::Headers::default();
    for route in invite.headers.get_all("Route") {
        headers.push("Route", route);
    }
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        core,
        headers,
        body: Vec::new(),
    }
}
