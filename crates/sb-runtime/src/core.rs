//! The core loop: one task, one clock read per turn, one timer.

use crate::{endpoint_config, os_random_key, tcp, RuntimeError};
use sb_config::Model;
use sb_sip::{Endpoint, Event, Peer, SecurityKind, TransportKind};
use sb_sip_msg::pii::Redacted;
use sb_sip_msg::{parse_datagram, Message, Method};
use std::collections::HashMap;
use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

/// What the transport tasks hand to the core.
#[derive(Debug)]
pub enum Input {
    Connected {
        peer: SocketAddr,
        tx: mpsc::Sender<Vec<u8>>,
    },
    Stream {
        peer: SocketAddr,
        bytes: Vec<u8>,
    },
    Pong {
        peer: SocketAddr,
    },
    Disconnected {
        peer: SocketAddr,
    },
}

pub struct Server {
    udp: UdpSocket,
    tcp: Option<TcpListener>,
    endpoint: Endpoint,
    local: SocketAddr,
    tcp_idle: Duration,
    conns: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
}

/// Socket buffers for SIP over UDP: bursts (a carrier's retransmissions, phones
/// re-registering together after a power cut) must wait in the kernel, not be dropped. The
/// kernel caps the request at net.core.rmem_max / wmem_max.
const UDP_BUFFER: usize = 4 * 1024 * 1024;

fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a smaller buffer still works, it only drops earlier under bursts.
    let _ = sock.set_recv_buffer_size(UDP_BUFFER);
    let _ = sock.set_send_buffer_size(UDP_BUFFER);
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    UdpSocket::from_std(sock.into())
}

/// Datagrams read per turn before the timers get a look in.
const BATCH: usize = 64;

impl Server {
    /// Binds UDP and TCP on `sip.listen` (the same port for both, RFC 3261 §18).
    pub async fn bind(model: &Model) -> Result<Server, RuntimeError> {
        let addr = model.sip_listen;
        let udp = bind_udp(addr).map_err(|source| RuntimeError::Bind {
            addr,
            proto: "UDP",
            source,
        })?;
        let local = udp.local_addr()?;
        let tcp = TcpListener::bind(local)
            .await
            .map_err(|source| RuntimeError::Bind {
                addr: local,
                proto: "TCP",
                source,
            })?;
        let now = Instant::now();
        let endpoint = Endpoint::new(endpoint_config(model, local), os_random_key()?, now);
        Ok(Server {
            udp,
            tcp: Some(tcp),
            endpoint,
            local,
            tcp_idle: model.tcp_idle,
            conns: HashMap::new(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Runs until `shutdown` completes. New messages stop being read at once; what the
    /// endpoint already queued is sent before returning.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), RuntimeError> {
        let (tx, mut rx) = mpsc::channel::<Input>(4096);
        let acceptor = self
            .tcp
            .take()
            .map(|l| tokio::spawn(tcp::accept_loop(l, tx, self.tcp_idle)));
        tokio::pin!(shutdown);
        let mut buf = vec![0u8; 65_536];
        loop {
            let deadline = self
                .endpoint
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            tokio::select! {
                _ = &mut shutdown => break,
                r = self.udp.recv_from(&mut buf) => {
                    let now = Instant::now();
                    match r {
                        Ok((n, from)) => {
                            self.on_datagram(now, &buf[..n], from);
                            for _ in 1..BATCH {
                                match self.udp.try_recv_from(&mut buf) {
                                    Ok((n, from)) => self.on_datagram(now, &buf[..n], from),
                                    Err(_) => break,
                                }
                            }
                        }
                        // ICMP port unreachable from an earlier send surfaces here on Linux.
                        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                        Err(e) => tracing::warn!(error = %e, "UDP receive failed"),
                    }
                    self.after_input(now).await;
                }
                Some(input) = rx.recv() => {
                    let now = Instant::now();
                    self.on_input(now, input);
                    self.after_input(now).await;
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    self.endpoint.handle_timeout(now);
                    self.flush(now).await;
                }
            }
        }
        if let Some(a) = acceptor {
            a.abort();
        }
        self.flush(Instant::now()).await;
        tracing::info!("SIP stopped");
        Ok(())
    }

    async fn after_input(&mut self, now: Instant) {
        if self.endpoint.poll_timeout().is_some_and(|d| d <= now) {
            self.endpoint.handle_timeout(now);
        }
        self.flush(now).await;
    }

    fn on_datagram(&mut self, now: Instant, bytes: &[u8], from: SocketAddr) {
        self.on_bytes(now, parse_datagram(bytes), Peer::udp(from));
    }

    fn on_bytes(
        &mut self,
        now: Instant,
        parsed: Result<Option<Message>, sb_sip_msg::Rejection>,
        peer: Peer,
    ) {
        match parsed {
            Ok(Some(msg)) => {
                let span = tracing::debug_span!("sip", call = %msg.core().call_id);
                let _enter = span.enter();
                self.endpoint.handle_message(now, msg, peer);
            }
            Ok(None) => {}
            Err(rej) => self.endpoint.handle_rejection(now, rej, peer),
        }
    }

    fn on_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Connected { peer, tx } => {
                self.conns.insert(peer, tx);
            }
            Input::Disconnected { peer } => {
                self.conns.remove(&peer);
            }
            Input::Stream { peer, bytes } => {
                let parsed = Message::parse_framed(&bytes).map(Some);
                self.on_bytes(now, parsed, Peer::tcp(peer));
            }
            Input::Pong { peer } => {
                // RFC 5626 §3.5.1: a CRLFCRLF ping gets a CRLF pong.
                if let Some(c) = self.conns.get(&peer) {
                    let _ = c.try_send(b"\r\n".to_vec());
                }
            }
        }
    }

    async fn flush(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(ev) = self.endpoint.poll_event() {
                progressed = true;
                self.on_event(now, ev);
            }
            while let Some((peer, bytes)) = self.endpoint.poll_transmit() {
                progressed = true;
                self.send(peer, bytes).await;
            }
            if !progressed {
                break;
            }
        }
    }

    async fn send(&mut self, peer: Peer, bytes: Vec<u8>) {
        match peer.transport {
            TransportKind::Udp => match self.udp.try_send_to(&bytes, peer.addr) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if let Err(e) = self.udp.send_to(&bytes, peer.addr).await {
                        tracing::debug!(to = %peer.addr, error = %e, "UDP send failed");
                    }
                }
                Err(e) => tracing::debug!(to = %peer.addr, error = %e, "UDP send failed"),
            },
            TransportKind::Tcp => match self.conns.get(&peer.addr) {
                Some(c) => {
                    if c.try_send(bytes).is_err() {
                        tracing::debug!(to = %peer.addr, "TCP connection gone or saturated; message dropped");
                    }
                }
                None => {
                    tracing::debug!(to = %peer.addr, "no TCP connection to this peer; message dropped")
                }
            },
        }
    }

    fn on_event(&mut self, now: Instant, ev: Event) {
        match ev {
            Event::Registered {
                user,
                binding,
                flow,
            } => {
                tracing::info!(extension = %user, binding, from = %flow.addr, transport = ?flow.transport, "registered")
            }
            Event::Unregistered { user, binding } => {
                tracing::info!(extension = %user, binding, "unregistered")
            }
            Event::Reachability {
                user,
                binding,
                reachable,
            } => {
                if reachable {
                    tracing::info!(extension = %user, binding, "phone reachable again");
                } else {
                    tracing::warn!(extension = %user, binding, "phone does not answer OPTIONS: unavailable");
                }
            }
            Event::Security { source, kind } => match kind {
                SecurityKind::AuthFailed { user, reason } => {
                    tracing::warn!(target: "security", %source, claimed_extension = %user, reason, "authentication failed")
                }
                SecurityKind::Banned { failures, seconds } => {
                    tracing::warn!(target: "security", %source, failures, seconds, "too many authentication failures: address ignored")
                }
            },
            Event::Request {
                tx,
                req,
                source,
                user,
            } => {
                let span = tracing::info_span!("call", id = %req.core.call_id);
                let _enter = span.enter();
                let from = req
                    .core
                    .from
                    .uri
                    .as_sip()
                    .and_then(|u| u.user.clone())
                    .unwrap_or_default();
                if req.method == Method::Invite {
                    // Calls are routed by the engine (IVR and ACD issues); until a route
                    // exists for the target the caller is told it is unavailable.
                    tracing::info!(caller = %Redacted(from), authenticated_as = %user, from = %source.addr, "call attempt: no call routing configured");
                    self.endpoint.respond(now, tx, 480, |b| {
                        b.header("Warning", "399 switchboard \"no route for this number\"")
                    });
                } else {
                    self.endpoint.respond(now, tx, 481, |b| b);
                }
            }
            Event::DialogRequest { tx: Some(tx), .. } => self.endpoint.respond(now, tx, 501, |b| b),
            Event::DialogRequest { tx: None, .. }
            | Event::Cancelled { .. }
            | Event::AckTimeout { .. } => {}
            Event::Malformed { source, error } => {
                tracing::debug!(from = %source.addr, %error, "malformed SIP message")
            }
        }
    }
}
