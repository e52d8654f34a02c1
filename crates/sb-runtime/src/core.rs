//! The core loop: one task owns the sans-IO engine; one clock read per turn, one timer.

use crate::media::MediaPorts;
use crate::records::Records;
use crate::{tcp, RuntimeError};
use sb_config::Model;
use sb_engine::{Engine, MediaRequest};
use sb_sip::{Peer, TransportKind};
use sb_sip_msg::{parse_datagram, Message};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

/// What the TCP tasks hand to the core (RTP does not come this way: the core reads the
/// media sockets itself, see `media`).
#[derive(Debug)]
pub(crate) enum Input {
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
    /// A connection we opened (to a carrier over TCP) could not be made.
    ConnectFailed {
        peer: SocketAddr,
    },
}

/// Datagrams of media handled per turn before the SIP sockets and the timers get a look in
/// (about 7 ms of relaying).
const MEDIA_BUDGET: usize = 1024;

pub struct Server {
    udp: UdpSocket,
    tcp: Option<TcpListener>,
    engine: Engine,
    local: SocketAddr,
    tcp_idle: Duration,
    conns: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    /// Connections being opened (to carriers over TCP), with what waits to go on them.
    dialing: HashMap<SocketAddr, Vec<Vec<u8>>>,
    /// The core's own input queue, for the tasks it starts once running.
    inputs: Option<mpsc::Sender<Input>>,
    media: MediaPorts,
    spin: Duration,
    /// `shutdown.grace_seconds`: how long calls in progress may go on after a stop signal.
    grace: Duration,
    records: Option<Records>,
    control: Option<sb_api::control::ControlReceiver>,
    /// The control API's event stream: events are turned into JSON only while someone
    /// listens.
    stream: Option<sb_api::events::EventSender>,
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

/// The address to put in SDP: the SIP address, or when SIP listens on every interface, the
/// one the system would route out of (a connected UDP socket sends nothing).
pub(crate) fn media_address(listen: IpAddr) -> IpAddr {
    if !listen.is_unspecified() {
        return listen;
    }
    let probe =
        std::net::UdpSocket::bind("0.0.0.0:0").and_then(|s| s.connect("192.0.2.1:9").map(|_| s));
    probe
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// When to wake for `deadline`: `spin` early while media flows (`rtp.timer_spin_ms`).
/// Waking a sleeping core is slow on virtual machines (4 ms at p99 here) and RTP must leave
/// every 20 ms within 1 ms. Until the deadline the loop keeps turning without sleeping,
/// still reading every socket, so the spin delays no input.
fn wake_at(deadline: Instant, spin: Duration) -> Instant {
    deadline.checked_sub(spin).unwrap_or(deadline)
}

/// Datagrams read per turn before the timers get a look in.
/// SIP must not starve behind media: with 64 a turn, a core busy relaying RTP let the SIP
/// socket overflow at 1,000 calls a second (BYEs and answers lost, calls failing).
const BATCH: usize = 256;

impl Server {
    /// Binds UDP and TCP on `addr` (the same port for both, RFC 3261 §18).
    pub(crate) async fn bind_sip(
        addr: SocketAddr,
    ) -> Result<(UdpSocket, TcpListener, SocketAddr), RuntimeError> {
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
        Ok((udp, tcp, local))
    }

    /// The loop around `engine`, on the sockets bound by [`Server::bind_sip`].
    pub(crate) fn new(
        (udp, tcp, local): (UdpSocket, TcpListener, SocketAddr),
        engine: Engine,
        media: MediaPorts,
        model: &Model,
    ) -> Server {
        Server {
            udp,
            tcp: Some(tcp),
            engine,
            local,
            tcp_idle: model.tcp_idle,
            conns: HashMap::new(),
            dialing: HashMap::new(),
            inputs: None,
            media,
            spin: model.rtp_timer_spin,
            grace: model.shutdown_grace,
            records: None,
            control: None,
            stream: None,
        }
    }

    /// Call records: every engine event goes through the recorder to the store from now on.
    /// Publishes the engine's events to the control API's stream.
    pub fn with_event_stream(mut self, stream: sb_api::events::EventSender) -> Server {
        self.stream = Some(stream);
        self
    }

    /// Requests from the control API, answered between turns.
    pub fn with_control(mut self, control: sb_api::control::ControlReceiver) -> Server {
        self.control = Some(control);
        self
    }

    pub fn with_records(mut self, records: Records) -> Server {
        self.records = Some(records);
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Runs until told to stop. The first message on `stops` (a SIGTERM or SIGINT) stops
    /// the taking of new calls (503 with Retry-After) and lets the calls in progress
    /// finish for up to `shutdown.grace_seconds`; then, or at a second message, the calls
    /// left are ended with a BYE and recorded, what is queued is sent, the records are
    /// flushed, and `run` returns.
    pub async fn run(mut self, mut stops: StopSignals) -> Result<(), RuntimeError> {
        let (tx, mut rx) = mpsc::channel::<Input>(4096);
        self.inputs = Some(tx.clone());
        let acceptor = self
            .tcp
            .take()
            .map(|l| tokio::spawn(tcp::accept_loop(l, tx.clone(), self.tcp_idle)));
        let mut buf = vec![0u8; 65_536];
        let mut stage = Stage::Running;
        loop {
            let now = Instant::now();
            if self.engine.poll_timeout().is_some_and(|d| d <= now) {
                self.engine.handle_timeout(now);
                self.flush(now);
            }
            match stage {
                Stage::Draining { until } if self.engine.calls() == 0 || now >= until => {
                    stage = self.end_calls(now);
                }
                Stage::Closing { until } if now >= until => break,
                Stage::Stopped => break,
                _ => {}
            }
            let deadline = self
                .engine
                .poll_timeout()
                .unwrap_or_else(|| now + Duration::from_secs(1))
                .min(stage.until().unwrap_or(now + Duration::from_secs(1)));
            // Media ticks: sleep until `spin` before the deadline, then keep turning (and
            // reading whatever arrives) without sleeping until it comes. Only a call's own
            // timer (its media, mostly) is worth it: SIP's and the ACD's timers, always near
            // with many calls up, are served by the plain sleep.
            let spin = if self.engine.next_call_wake().is_some_and(|t| t <= deadline) {
                self.spin
            } else {
                Duration::ZERO
            };
            let near = deadline <= now + spin;
            tokio::select! {
                stop = stops.recv(), if !matches!(stage, Stage::Closing { .. }) => {
                    let now = Instant::now();
                    stage = match (stop, stage) {
                        (Some(()), Stage::Running) if self.engine.calls() > 0 && !self.grace.is_zero() => {
                            self.engine.stop_taking_calls();
                            tracing::info!(
                                calls = self.engine.calls(),
                                grace_seconds = self.grace.as_secs(),
                                "stopping: new calls are refused, calls in progress may finish"
                            );
                            Stage::Draining { until: now + self.grace }
                        }
                        (Some(()), Stage::Running) => self.end_calls(now),
                        // A second signal (or the signals gone): stop at once.
                        _ => {
                            self.end_calls(now);
                            Stage::Stopped
                        }
                    };
                }
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
                    self.after_input(now);
                }
                r = self.media.readable() => {
                    let now = Instant::now();
                    match r {
                        Ok(mut guard) => {
                            let engine = &mut self.engine;
                            let more = self.media.read_ready(MEDIA_BUDGET, |port, from, bytes| {
                                engine.handle_rtp(now, port, from, bytes)
                            });
                            // Budget spent: stay ready and come back after the others.
                            if !more {
                                guard.clear_ready();
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "media readiness failed"),
                    }
                    self.after_input(now);
                }
                Some(req) = next_control(&mut self.control) => {
                    let now = Instant::now();
                    let store = self.records.as_ref().map(Records::figures).unwrap_or_default();
                    sb_api::control::serve(&mut self.engine, now, req, store);
                    self.after_input(now);
                }
                Some(input) = rx.recv() => {
                    let now = Instant::now();
                    self.on_input(now, input);
                    for _ in 1..BATCH {
                        match rx.try_recv() {
                            Ok(input) => self.on_input(now, input),
                            Err(_) => break,
                        }
                    }
                    self.after_input(now);
                }
                _ = tokio::time::sleep_until(wake_at(deadline, spin).into()), if !near => {}
                // One turn of the runtime: its I/O driver is polled before this is ready.
                _ = tokio::task::yield_now(), if near => {}
            }
        }
        if let Some(a) = acceptor {
            a.abort();
        }
        let now = Instant::now();
        self.flush(now);
        tracing::info!(calls = self.engine.calls(), "SIP stopped");
        if let Some(r) = self.records.take() {
            r.close(self.engine.wall_ms(now));
        }
        Ok(())
    }

    /// Ends every call left (BYE, recorded), removes the trunks' registrations and sends it
    /// all; the answers are awaited a moment, so a phone that lost a BYE gets its
    /// retransmission and a carrier's challenge to the un-REGISTER is answered.
    fn end_calls(&mut self, now: Instant) -> Stage {
        let left = self.engine.calls();
        if left > 0 {
            tracing::info!(calls = left, "stopping: ending the calls in progress");
            self.engine.stop_taking_calls();
            self.engine.end_all_calls(now);
        }
        let trunks = self.engine.unregister_trunks(now);
        if trunks > 0 {
            tracing::info!(trunks, "stopping: removing the trunks' registrations");
        }
        if left == 0 && trunks == 0 {
            return Stage::Stopped;
        }
        self.after_input(now);
        Stage::Closing {
            until: now + CLOSING,
        }
    }

    fn after_input(&mut self, now: Instant) {
        if self.engine.poll_timeout().is_some_and(|d| d <= now) {
            self.engine.handle_timeout(now);
        }
        self.flush(now);
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
                self.engine.handle_message(now, msg, peer);
            }
            Ok(None) => {}
            Err(rej) => self.engine.handle_rejection(now, rej, peer),
        }
    }

    fn on_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Connected { peer, tx } => {
                // A connection we opened: what waited for it goes now.
                for bytes in self.dialing.remove(&peer).unwrap_or_default() {
                    let _ = tx.try_send(bytes);
                }
                self.conns.insert(peer, tx);
            }
            Input::ConnectFailed { peer } => {
                // What waited is lost; the transactions time out and say so (408).
                let lost = self.dialing.remove(&peer).map_or(0, |q| q.len());
                tracing::warn!(%peer, lost, "could not open a TCP connection");
            }
            Input::Disconnected { peer } => {
                // What the engine owes this connection (answers to the requests that came
                // before its end, in this batch) goes out first; dropping the sender then
                // lets the writer finish its queue and close.
                self.flush(now);
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

    fn flush(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(req) = self.engine.poll_media() {
                progressed = true;
                match req {
                    MediaRequest::Open(leg) => match self.media.open(now) {
                        Ok(port) => self.engine.handle_port(now, leg, Some(port)),
                        Err(e) => {
                            tracing::warn!(call = %leg.call, leg = leg.leg.0, error = %e, "no RTP port for the leg");
                            self.engine.handle_port(now, leg, None);
                        }
                    },
                    MediaRequest::Close(port) => self.media.close(port, now),
                }
            }
            if self.engine.has_rtp() {
                progressed = true;
                let media = &mut self.media;
                self.engine.drain_rtp(|p| media.send(p));
            }
            while let Some(ev) = self.engine.poll_event() {
                progressed = true;
                if let Some(r) = self.records.as_mut() {
                    r.on_event(self.engine.wall_ms(now), &ev);
                }
                if let Some(tx) = self.stream.as_ref().filter(|t| t.receiver_count() > 0) {
                    if let Some(v) = sb_api::events::to_json(self.engine.wall_ms(now), &ev) {
                        let _ = tx.send(std::sync::Arc::from(v.to_string()));
                    }
                }
                crate::log::log_event(ev);
            }
            if let Some(r) = self.records.as_mut() {
                r.end_turn();
            }
            while let Some((peer, bytes)) = self.engine.poll_transmit() {
                progressed = true;
                self.send(peer, bytes);
            }
            if !progressed {
                break;
            }
        }
    }

    fn send(&mut self, peer: Peer, bytes: Vec<u8>) {
        match peer.transport {
            TransportKind::Udp => {
                // With 4 MiB of socket buffer a full one means the host is overwhelmed;
                // SIP over UDP retransmits, so the datagram is dropped rather than waited on.
                if let Err(e) = self.udp.try_send_to(&bytes, peer.addr) {
                    tracing::debug!(to = %peer.addr, error = %e, "UDP send failed");
                }
            }
            TransportKind::Tcp => match self.conns.get(&peer.addr) {
                Some(c) => {
                    if c.try_send(bytes).is_err() {
                        tracing::debug!(to = %peer.addr, "TCP connection gone or saturated; message dropped");
                    }
                }
                // None open: one is opened (a carrier reached over TCP), and the message
                // waits for it.
                None => match self.dialing.get_mut(&peer.addr) {
                    Some(waiting) if waiting.len() < DIAL_QUEUE => waiting.push(bytes),
                    Some(_) => {
                        tracing::debug!(to = %peer.addr, "TCP connection still opening; message dropped")
                    }
                    None => {
                        if let Some(inputs) = self.inputs.clone() {
                            self.dialing.insert(peer.addr, vec![bytes]);
                            tokio::spawn(tcp::connect(peer.addr, inputs, self.tcp_idle));
                        }
                    }
                },
            },
        }
    }
}

/// Stop requests for [`Server::run`]: one per signal.
pub type StopSignals = mpsc::UnboundedReceiver<()>;

/// Messages that may wait for a TCP connection being opened.
const DIAL_QUEUE: usize = 256;

/// How long the BYEs of a stop get for their answers.
const CLOSING: Duration = Duration::from_millis(500);

/// Where a run is on its way to stopping.
#[derive(Debug, Clone, Copy)]
enum Stage {
    Running,
    /// Asked to stop: no new calls; the calls in progress may finish until then.
    Draining {
        until: Instant,
    },
    /// The calls were ended; their BYEs get until then.
    Closing {
        until: Instant,
    },
    Stopped,
}

impl Stage {
    fn until(self) -> Option<Instant> {
        match self {
            Stage::Draining { until } | Stage::Closing { until } => Some(until),
            Stage::Running | Stage::Stopped => None,
        }
    }
}

/// The next control request, or never when there is no API.
async fn next_control(
    rx: &mut Option<sb_api::control::ControlReceiver>,
) -> Option<sb_api::control::ControlRequest> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}
