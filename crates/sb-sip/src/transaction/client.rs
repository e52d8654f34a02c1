//! Client transactions: INVITE (RFC 3261 §17.1.1, Figure 5) and non-INVITE (§17.1.2,
//! Figure 6).

use crate::peer::Peer;
use crate::timer::{TimerName, TimerSet, TimerSettings};
use std::time::{Duration, Instant};

/// The state of a client transaction (RFC 3261 §17.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// INVITE: request sent, nothing received.
    Calling,
    /// Non-INVITE: request sent, nothing received.
    Trying,
    /// A provisional response came.
    Proceeding,
    /// A final response came; absorbing retransmissions.
    Completed,
    /// Over.
    Terminated,
}

/// What a client transaction asks of the layer.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientAction {
    /// Send these bytes (the request, again).
    Send(Vec<u8>),
    /// Pass the response to the TU.
    Deliver,
    /// Timer B or F fired (§17.1.1.2, §17.1.2.2): the TU sees a timeout.
    Timeout,
}

/// A client transaction.
#[derive(Debug)]
pub struct ClientTx {
    /// An INVITE transaction (§17.1.1) or another (§17.1.2).
    pub invite: bool,
    /// Its state.
    pub state: ClientState,
    /// Where the request goes.
    pub peer: Peer,
    request: Vec<u8>,
    /// The ACK for a non-2xx final response, built by the layer (§17.1.1.3).
    pub ack: Option<Vec<u8>>,
    interval: Duration,
    timers: TimerSet,
}

impl ClientTx {
    /// Creates the transaction; the caller sends `request` once right away.
    pub fn new(
        invite: bool,
        peer: Peer,
        request: Vec<u8>,
        now: Instant,
        t: &TimerSettings,
    ) -> ClientTx {
        let mut tx = ClientTx {
            invite,
            state: if invite {
                ClientState::Calling
            } else {
                ClientState::Trying
            },
            peer,
            request,
            ack: None,
            interval: t.t1,
            timers: TimerSet::default(),
        };
        let reliable = peer.transport.is_reliable();
        if invite {
            if !reliable {
                tx.timers.set(TimerName::A, now + t.t1);
            }
            tx.timers.set(TimerName::B, now + t.t1_x64());
        } else {
            if !reliable {
                tx.timers.set(TimerName::E, now + t.t1);
            }
            tx.timers.set(TimerName::F, now + t.t1_x64());
        }
        tx
    }

    /// The request, as sent.
    pub fn request_bytes(&self) -> &[u8] {
        &self.request
    }

    fn reliable(&self) -> bool {
        self.peer.transport.is_reliable()
    }

    /// When its next timer fires.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// A response matched this transaction.
    pub fn on_response(
        &mut self,
        now: Instant,
        t: &TimerSettings,
        status: u16,
    ) -> Vec<ClientAction> {
        use ClientState::*;
        let mut out = Vec::new();
        match (self.invite, self.state, status) {
            (true, Calling | Proceeding, 100..=199) => {
                self.state = Proceeding;
                self.timers.clear(TimerName::A);
                self.timers.clear(TimerName::B);
                out.push(ClientAction::Deliver);
            }
            (true, Calling | Proceeding, 200..=299) => {
                self.state = Terminated;
                self.timers.clear_all();
                out.push(ClientAction::Deliver);
            }
            (true, Calling | Proceeding, _) => {
                self.state = Completed;
                self.timers.clear_all();
                self.timers
                    .set(TimerName::D, now + t.timer_d(self.reliable()));
                if let Some(ack) = &self.ack {
                    out.push(ClientAction::Send(ack.clone()));
                }
                out.push(ClientAction::Deliver);
            }
            (true, Completed, 300..) => {
                // A retransmitted final response: re-ACK, do not pass up (§17.1.1.2).
                if let Some(ack) = &self.ack {
                    out.push(ClientAction::Send(ack.clone()));
                }
            }
            (false, Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                out.push(ClientAction::Deliver);
            }
            (false, Trying | Proceeding, _) => {
                self.state = Completed;
                self.timers.clear_all();
                self.timers
                    .set(TimerName::K, now + t.t4_or_zero(self.reliable()));
                out.push(ClientAction::Deliver);
            }
            // Timer K absorbs retransmitted responses in Completed (§17.1.2.2).
            _ => {}
        }
        out
    }

    /// Runs its timers due at `now`.
    pub fn on_timers(&mut self, now: Instant, t: &TimerSettings) -> Vec<ClientAction> {
        let mut out = Vec::new();
        let due = self.timers.take_due(now);
        for name in due {
            match name {
                TimerName::A if self.state == ClientState::Calling => {
                    // §17.1.1.2: Timer A doubles each time, with no cap.
                    self.interval *= 2;
                    self.timers.set(TimerName::A, now + self.interval);
                    out.push(ClientAction::Send(self.request.clone()));
                }
                TimerName::E
                    if matches!(self.state, ClientState::Trying | ClientState::Proceeding) =>
                {
                    // §17.1.2.2: doubling capped at T2 in Trying; T2 flat in Proceeding.
                    self.interval = if self.state == ClientState::Trying {
                        (self.interval * 2).min(t.t2)
                    } else {
                        t.t2
                    };
                    self.timers.set(TimerName::E, now + self.interval);
                    out.push(ClientAction::Send(self.request.clone()));
                }
                TimerName::B | TimerName::F => {
                    if matches!(
                        self.state,
                        ClientState::Calling | ClientState::Trying | ClientState::Proceeding
                    ) {
                        self.state = ClientState::Terminated;
                        self.timers.clear_all();
                        out.push(ClientAction::Timeout);
                    }
                }
                TimerName::D | TimerName::K => {
                    self.state = ClientState::Terminated;
                    self.timers.clear_all();
                }
                _ => {}
            }
        }
        out
    }
}
