//! Server transactions: INVITE (RFC 3261 §17.2.1, Figure 7, with the Accepted state of RFC
//! 6026) and non-INVITE (§17.2.2, Figure 8).

use crate::peer::Peer;
use crate::timer::{TimerName, TimerSet, TimerSettings};
use std::time::{Duration, Instant};

/// The state of a server transaction (RFC 3261 §17.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// Non-INVITE only: nothing sent yet.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// A final response was sent; retransmitting it, absorbing the request.
    Completed,
    /// INVITE only: ACK received, absorbing ACK retransmissions (Timer I).
    Confirmed,
    /// INVITE only (RFC 6026 §7.1): a 2xx went out; retransmissions of the INVITE are
    /// absorbed rather than taken for a new call, and the ACK goes to the TU, until Timer L.
    Accepted,
    /// Over.
    Terminated,
}

/// What a server transaction asks of the layer around it.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerAction {
    /// Send these bytes (the response, again).
    Send(Vec<u8>),
    /// Timer H fired: the ACK never came (§17.2.1). The TU is told.
    AckTimeout,
}

/// A server transaction.
#[derive(Debug)]
pub struct ServerTx {
    /// An INVITE transaction (§17.2.1) or another (§17.2.2).
    pub invite: bool,
    /// Its state.
    pub state: ServerState,
    /// Where responses go.
    pub peer: Peer,
    /// Our To tag.
    pub to_tag: String,
    last_response: Option<Vec<u8>>,
    /// The final status sent, if any.
    pub final_status: Option<u16>,
    g_interval: Duration,
    timers: TimerSet,
}

impl ServerTx {
    /// A transaction for a request from `peer`, answering with `to_tag`.
    pub fn new(invite: bool, peer: Peer, to_tag: String) -> ServerTx {
        ServerTx {
            invite,
            // §17.2.1: an INVITE server transaction starts in Proceeding.
            state: if invite {
                ServerState::Proceeding
            } else {
                ServerState::Trying
            },
            peer,
            to_tag,
            last_response: None,
            final_status: None,
            g_interval: Duration::ZERO,
            timers: TimerSet::default(),
        }
    }

    fn reliable(&self) -> bool {
        self.peer.transport.is_reliable()
    }

    /// When its next timer fires.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Whether timer `name` runs.
    pub fn has_timer(&self, name: TimerName) -> bool {
        self.timers.has(name)
    }

    /// A retransmission of the request arrived: resend the last response, if any
    /// (§17.2.1 Proceeding/Completed, §17.2.2 Proceeding/Completed; dropped in Trying).
    pub fn on_request_retransmission(&self) -> Option<Vec<u8>> {
        match self.state {
            ServerState::Proceeding | ServerState::Completed => self.last_response.clone(),
            _ => None,
        }
    }

    /// The TU sends a response through this transaction.
    pub fn send_response(
        &mut self,
        now: Instant,
        t: &TimerSettings,
        status: u16,
        bytes: Vec<u8>,
    ) -> Option<ServerAction> {
        match self.state {
            ServerState::Trying | ServerState::Proceeding => {}
            _ => return None,
        }
        self.last_response = Some(bytes.clone());
        if status < 200 {
            self.state = ServerState::Proceeding;
            return Some(ServerAction::Send(bytes));
        }
        self.final_status = Some(status);
        if self.invite {
            if status < 300 {
                // The TU retransmits the 2xx itself (§13.3.1.4); the transaction stays to
                // absorb the INVITE's retransmissions (RFC 6026 §7.1, Timer L).
                self.state = ServerState::Accepted;
                self.last_response = None;
                self.timers.set(TimerName::L, now + t.t1_x64());
            } else {
                self.state = ServerState::Completed;
                if !self.reliable() {
                    self.g_interval = t.t1;
                    self.timers.set(TimerName::G, now + t.t1);
                }
                self.timers.set(TimerName::H, now + t.t1_x64());
            }
        } else {
            self.state = ServerState::Completed;
            let j = if self.reliable() {
                Duration::ZERO
            } else {
                t.t1_x64()
            };
            self.timers.set(TimerName::J, now + j);
        }
        Some(ServerAction::Send(bytes))
    }

    /// An ACK matched this INVITE transaction. Returns true when it was the first one.
    pub fn on_ack(&mut self, now: Instant, t: &TimerSettings) -> bool {
        if self.state != ServerState::Completed {
            return false;
        }
        self.state = ServerState::Confirmed;
        self.timers.clear_all();
        self.timers
            .set(TimerName::I, now + t.t4_or_zero(self.reliable()));
        true
    }

    /// Fires every timer due at `now`.
    pub fn on_timers(&mut self, now: Instant, t: &TimerSettings) -> Vec<ServerAction> {
        let mut out = Vec::new();
        let due = self.timers.take_due(now);
        for name in due {
            match name {
                TimerName::G if self.state == ServerState::Completed => {
                    // §17.2.1: the interval doubles and is capped at T2.
                    self.g_interval = (self.g_interval * 2).min(t.t2);
                    self.timers.set(TimerName::G, now + self.g_interval);
                    if let Some(r) = &self.last_response {
                        out.push(ServerAction::Send(r.clone()));
                    }
                }
                TimerName::H if self.state == ServerState::Completed => {
                    self.state = ServerState::Terminated;
                    self.timers.clear_all();
                    out.push(ServerAction::AckTimeout);
                }
                TimerName::I | TimerName::J | TimerName::L => {
                    self.state = ServerState::Terminated;
                    self.timers.clear_all();
                }
                _ => {}
            }
        }
        out
    }
}
