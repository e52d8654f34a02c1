//! RTP sockets: one per call leg, bound on demand from `rtp.port_range` (even ports, RFC 3550
//! §11), at an unpredictable place in the range (a stranger cannot guess the next call's
//! port from the last one's), and never a port closed less than `PORT_REST` ago, while the
//! previous call's packets may still arrive. All of them sit in one epoll set of our own (edge-triggered), and that set's
//! descriptor is what the core loop waits on: when any leg has media, the core reads every
//! ready socket dry in one go (`recvmmsg`, one system call per socket and turn) and hands
//! each datagram to the engine from a stack buffer. No task per socket, no channel, no copy
//! and no allocation per packet; sockets are found by port in a vector, not a hash map.
//!
//! Once the engine says a leg's peer is settled (`RtpOut::locked`: learning is over), the
//! socket is `connect`ed to it: the kernel then drops anyone else's packets before they
//! cost us a read, and each send skips a route lookup. A re-INVITE that moves the media
//! unsettles the leg and the socket is disconnected until it settles again.

use sb_engine::RtpOut;
use std::io::ErrorKind;
use std::mem::{size_of, zeroed, MaybeUninit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::ops::RangeInclusive;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The largest RTP datagram the media path carries (40 ms of G.711 is 332 bytes); longer
/// ones are cut here and then refused by the RTP parser or the codec length.
pub const RTP_DATAGRAM: usize = 512;

/// Ready sockets taken from the epoll set per call.
const EVENTS: usize = 256;

/// How long a closed port rests before it is handed out again: a phone that has not yet
/// taken in the BYE, or packets in flight, reach a closed port rather than the next call.
/// When every free port is resting, the one resting longest is taken.
pub const PORT_REST: Duration = Duration::from_secs(30);

/// Random probes for a free port before scanning from a random place.
const PROBES: usize = 16;

/// Datagrams taken from one socket per `recvmmsg`: a leg gets one every 20 ms, so more than
/// one means the loop fell behind; fewer than this many means the socket is dry.
const RECV_BATCH: usize = 8;

/// The epoll set's descriptor, for tokio to watch.
pub struct EpollFd(OwnedFd);

impl AsRawFd for EpollFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

struct Leg {
    sock: UdpSocket,
    /// The peer the socket is connected to.
    connected: Option<SocketAddr>,
}

pub struct MediaPorts {
    ip: IpAddr,
    /// The first even port of the range: slot `i` is port `first + 2 i`.
    first: u16,
    slots: Vec<Option<Leg>>,
    /// When each slot's port may be handed out again.
    rest_until: Vec<Option<Instant>>,
    /// Which port comes next is not for a stranger to guess.
    rng: sb_types::splitmix::SplitMix64,
    epoll: AsyncFd<EpollFd>,
    pub send_dropped: u64,
}

impl MediaPorts {
    /// Needs a tokio runtime with I/O enabled (the epoll set is registered with it). `seed`
    /// is random per run.
    pub fn new(ip: IpAddr, range: RangeInclusive<u16>, seed: u64) -> std::io::Result<MediaPorts> {
        // SAFETY: epoll_create1 has no preconditions; a non-negative result is a new fd
        // this function owns.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the AsyncFd owns the epoll descriptor, which stays open and the same
        // until the AsyncFd drops it.
        let epoll = unsafe { AsyncFd::register_with_interest(EpollFd(owned), Interest::READABLE) }?;
        let first = *range.start() + (*range.start() % 2);
        let count = if *range.end() >= first {
            usize::from((*range.end() - first) / 2) + 1
        } else {
            0
        };
        Ok(MediaPorts {
            ip,
            first,
            slots: (0..count).map(|_| None).collect(),
            rest_until: vec![None; count],
            rng: sb_types::splitmix::SplitMix64::new(seed),
            epoll,
            send_dropped: 0,
        })
    }

    fn slot(&self, port: u16) -> Option<usize> {
        let off = port.checked_sub(self.first)?;
        (off % 2 == 0)
            .then_some(usize::from(off / 2))
            .filter(|&i| i < self.slots.len())
    }

    fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    fn usable(&self, i: usize, now: Instant) -> bool {
        self.slots[i].is_none() && self.rest_until[i].is_none_or(|t| t <= now)
    }

    /// Binds a free even port at a random place in the range (one that has rested, if
    /// any has) and adds it to the epoll set.
    pub fn open(&mut self, now: Instant) -> std::io::Result<u16> {
        let n = self.slots.len();
        if n == 0 {
            return Err(std::io::Error::new(
                ErrorKind::AddrInUse,
                "rtp.port_range holds no even port",
            ));
        }
        let mut tried = Vec::new();
        for _ in 0..PROBES {
            let i = (self.random() % n as u64) as usize;
            if self.usable(i, now) && !tried.contains(&i) {
                tried.push(i);
                if let Some(port) = self.bind_slot(i)? {
                    return Ok(port);
                }
            }
        }
        // A crowded range: every usable slot from a random place, then the free slot that
        // has rested longest.
        let start = (self.random() % n as u64) as usize;
        for k in 0..n {
            let i = (start + k) % n;
            if self.usable(i, now) && !tried.contains(&i) {
                if let Some(port) = self.bind_slot(i)? {
                    return Ok(port);
                }
            }
        }
        let mut resting: Vec<usize> = (0..n).filter(|&i| self.slots[i].is_none()).collect();
        resting.sort_by_key(|&i| self.rest_until[i]);
        for i in resting {
            if let Some(port) = self.bind_slot(i)? {
                return Ok(port);
            }
        }
        Err(std::io::Error::new(
            ErrorKind::AddrInUse,
            "every port of rtp.port_range is in use",
        ))
    }

    /// Binds exactly `port` (a baseline that needs its ports in order); `None` when it is
    /// not ours or is taken.
    pub fn open_exact(&mut self, port: u16) -> std::io::Result<Option<u16>> {
        match self.slot(port) {
            Some(i) if self.slots[i].is_none() => self.bind_slot(i),
            _ => Ok(None),
        }
    }

    /// Binds slot `i`'s port; `None` when another process holds it.
    fn bind_slot(&mut self, i: usize) -> std::io::Result<Option<u16>> {
        let port = self.first + 2 * i as u16;
        let sock = match UdpSocket::bind(SocketAddr::new(self.ip, port)) {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::AddrInUse => return Ok(None),
            Err(e) => return Err(e),
        };
        sock.set_nonblocking(true)?;
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: port as u64,
        };
        // SAFETY: both descriptors are open; `ev` is a valid event for the call.
        let rc = unsafe {
            libc::epoll_ctl(
                self.epoll.get_ref().as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                sock.as_raw_fd(),
                &mut ev,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        self.slots[i] = Some(Leg {
            sock,
            connected: None,
        });
        self.rest_until[i] = None;
        Ok(Some(port))
    }

    /// Closing the socket takes it out of the epoll set; the port rests from `now`.
    pub fn close(&mut self, port: u16, now: Instant) {
        if let Some(i) = self.slot(port) {
            if self.slots[i].take().is_some() {
                self.rest_until[i] = Some(now + PORT_REST);
            }
        }
    }

    /// Sends without waiting: RTP that cannot leave now is late anyway.
    pub fn send(&mut self, p: RtpOut<'_>) {
        let Some(leg) = self.slot(p.port).and_then(|i| self.slots[i].as_mut()) else {
            self.send_dropped += 1;
            return;
        };
        if p.locked {
            if leg.connected != Some(p.to) && leg.sock.connect(p.to).is_ok() {
                leg.connected = Some(p.to);
            }
        } else if leg.connected.take().is_some() {
            disconnect(&leg.sock);
        }
        let to = (leg.connected != Some(p.to)).then_some(p.to);
        if !send_datagram(&leg.sock, p.bytes, to) {
            self.send_dropped += 1;
        }
    }

    /// Whether `port`'s socket is connected, and to whom.
    #[cfg(test)]
    fn connected(&self, port: u16) -> Option<SocketAddr> {
        self.slot(port)
            .and_then(|i| self.slots[i].as_ref())
            .and_then(|l| l.connected)
    }

    /// Waits until some leg has media.
    pub async fn readable(
        &self,
    ) -> std::io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, EpollFd>> {
        self.epoll.readable().await
    }

    /// Reads every ready socket dry, up to about `budget` datagrams, passing each to `each`.
    /// Returns whether the set may still hold ready sockets (the budget ran out).
    pub fn read_ready(&self, budget: usize, mut each: impl FnMut(u16, SocketAddr, &[u8])) -> bool {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        let mut batch = RecvBatch::new();
        let mut read = 0;
        loop {
            // SAFETY: a valid epoll descriptor and a buffer of EVENTS events. Made directly,
            // as `send_datagram` is (epoll_pwait with no signal mask is epoll_wait).
            let n = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait,
                    self.epoll.get_ref().as_raw_fd(),
                    events.as_mut_ptr(),
                    EVENTS as libc::c_int,
                    0,
                    std::ptr::null::<libc::sigset_t>(),
                    // The kernel's signal set is 8 bytes (and unread with no mask).
                    8usize,
                )
            };
            if n <= 0 {
                return false;
            }
            for ev in &events[..n as usize] {
                let port = ev.u64 as u16;
                let Some(leg) = self.slot(port).and_then(|i| self.slots[i].as_ref()) else {
                    continue;
                };
                // Edge-triggered: drain the socket, or it is not reported again.
                loop {
                    match batch.recv(&leg.sock) {
                        Ok(got) => {
                            for k in 0..got {
                                if let Some((from, bytes)) = batch.get(k) {
                                    each(port, from, bytes);
                                }
                            }
                            read += got;
                            if got < RECV_BATCH {
                                break;
                            }
                        }
                        // ICMP port unreachable from an earlier send: try again.
                        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                        Err(_) => break,
                    }
                }
            }
            if read >= budget {
                return true;
            }
        }
    }
}

/// One datagram, to `to` or (`None`) to the socket's connected peer. The system call is
/// made directly: libc's `send`/`sendto` wrap it in thread-cancellation bookkeeping that
/// showed as 2 % of the engine's time at 150,000 packets a second.
fn send_datagram(sock: &UdpSocket, bytes: &[u8], to: Option<SocketAddr>) -> bool {
    let mut name: libc::sockaddr_storage = unsafe_zeroed_storage();
    let name_len = to.map_or(0, |a| sockaddr_from(a, &mut name));
    let name_ptr: *const libc::sockaddr = if to.is_some() {
        (&name as *const libc::sockaddr_storage).cast()
    } else {
        std::ptr::null()
    };
    // SAFETY: the descriptor is open; `bytes` and `name` are live for the call and their
    // lengths are their true sizes.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            sock.as_raw_fd(),
            bytes.as_ptr(),
            bytes.len(),
            libc::MSG_DONTWAIT,
            name_ptr,
            name_len,
        )
    };
    rc >= 0
}

fn unsafe_zeroed_storage() -> libc::sockaddr_storage {
    // SAFETY: all-zero bytes are a valid sockaddr_storage.
    unsafe { zeroed() }
}

/// Writes `a` into `out` as a sockaddr_in or sockaddr_in6; returns its length.
fn sockaddr_from(a: SocketAddr, out: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match a {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is big enough and aligned for a sockaddr_in.
            let sin =
                unsafe { &mut *(out as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(v6) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { &mut *(out as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_flowinfo = v6.flowinfo();
            sin6.sin6_scope_id = v6.scope_id();
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Dissolves a UDP socket's association (connect to AF_UNSPEC, connect(2)).
fn disconnect(sock: &UdpSocket) {
    // SAFETY: a zeroed sockaddr with family AF_UNSPEC is the documented way to dissolve
    // the association; the descriptor is open.
    unsafe {
        let mut sa: libc::sockaddr = zeroed();
        sa.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
        libc::connect(
            sock.as_raw_fd(),
            &sa,
            size_of::<libc::sockaddr>() as libc::socklen_t,
        );
    }
}

/// Buffers for one `recvmmsg` of up to `RECV_BATCH` datagrams, on the stack.
struct RecvBatch {
    bufs: [[u8; RTP_DATAGRAM]; RECV_BATCH],
    names: [libc::sockaddr_storage; RECV_BATCH],
    iovs: [libc::iovec; RECV_BATCH],
    msgs: [libc::mmsghdr; RECV_BATCH],
}

impl RecvBatch {
    fn new() -> RecvBatch {
        // SAFETY: all four arrays are plain C data for which all-zero bytes are valid; the
        // pointers inside are set in `recv` before the kernel sees them.
        unsafe { MaybeUninit::<RecvBatch>::zeroed().assume_init() }
    }

    /// Reads up to `RECV_BATCH` datagrams without blocking; `Ok(0)` when there are none.
    fn recv(&mut self, sock: &UdpSocket) -> std::io::Result<usize> {
        for k in 0..RECV_BATCH {
            self.iovs[k] = libc::iovec {
                iov_base: self.bufs[k].as_mut_ptr().cast(),
                iov_len: RTP_DATAGRAM,
            };
            let h = &mut self.msgs[k].msg_hdr;
            h.msg_name = (&mut self.names[k] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[k];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.msgs[k].msg_len = 0;
        }
        // SAFETY: every header points at live buffers of this struct with their true sizes;
        // nothing else touches them during the call. Made directly, as `send_datagram` is.
        let n = unsafe {
            libc::syscall(
                libc::SYS_recvmmsg,
                sock.as_raw_fd(),
                self.msgs.as_mut_ptr(),
                RECV_BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut::<libc::timespec>(),
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() == ErrorKind::WouldBlock {
            Ok(0)
        } else {
            Err(e)
        }
    }

    /// The `k`th datagram of the last `recv` and where it came from.
    fn get(&self, k: usize) -> Option<(SocketAddr, &[u8])> {
        let len = (self.msgs[k].msg_len as usize).min(RTP_DATAGRAM);
        let from = sockaddr_to(&self.names[k])?;
        Some((from, &self.bufs[k][..len]))
    }
}

fn sockaddr_to(sa: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(sa.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is big
            // enough and aligned for.
            let a = unsafe { &*(sa as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(sa as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn out(port: u16, to: SocketAddr, locked: bool, bytes: &[u8]) -> RtpOut<'_> {
        RtpOut {
            port,
            to,
            locked,
            bytes,
        }
    }

    /// Reads until `want` datagrams came or a second passed.
    fn collect(m: &MediaPorts, want: usize) -> Vec<(u16, SocketAddr, Vec<u8>)> {
        let mut got = Vec::new();
        let until = Instant::now() + Duration::from_secs(1);
        while got.len() < want && Instant::now() < until {
            m.read_ready(64, |p, f, b| got.push((p, f, b.to_vec())));
        }
        got
    }

    #[tokio::test]
    async fn settled_peers_get_a_connected_socket_and_strangers_are_dropped() {
        let lo = IpAddr::from([127, 0, 0, 1]);
        let mut m = MediaPorts::new(lo, 41000..=41099, 1).expect("ports");
        let port = m.open(Instant::now()).expect("open");
        let ours = SocketAddr::new(lo, port);
        let phone = UdpSocket::bind("127.0.0.1:0").expect("phone");
        let stranger = UdpSocket::bind("127.0.0.1:0").expect("stranger");
        let phone_at = phone.local_addr().expect("addr");

        // Learning: both reach us, and we send with sendto.
        phone.send_to(b"p1", ours).expect("send");
        stranger.send_to(b"s1", ours).expect("send");
        let got = collect(&m, 2);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().any(|(_, f, b)| *f == phone_at && b == b"p1"));
        m.send(out(port, phone_at, false, b"to phone"));
        assert_eq!(m.connected(port), None);

        // Settled: the socket is connected to the phone and the stranger's packets no
        // longer arrive; the phone's still do, and ours still reach it.
        m.send(out(port, phone_at, true, b"to phone again"));
        assert_eq!(m.connected(port), Some(phone_at));
        stranger.send_to(b"s2", ours).expect("send");
        phone.send_to(b"p2", ours).expect("send");
        let got = collect(&m, 1);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].2, b"p2");
        let mut buf = [0u8; 64];
        phone
            .set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        let (n, _) = phone.recv_from(&mut buf).expect("first");
        assert_eq!(&buf[..n], b"to phone");
        let (n, from) = phone.recv_from(&mut buf).expect("second");
        assert_eq!((&buf[..n], from), (&b"to phone again"[..], ours));

        // The media moved (re-INVITE): disconnected, anyone may be heard again.
        m.send(out(port, phone_at, false, b"x"));
        assert_eq!(m.connected(port), None);
        stranger.send_to(b"s3", ours).expect("send");
        let got = collect(&m, 1);
        assert_eq!(got.first().map(|g| g.2.clone()), Some(b"s3".to_vec()));
        assert_eq!(m.send_dropped, 0);
    }

    #[test]
    fn socket_addresses_survive_the_round_trip_through_c() {
        for a in ["192.0.2.7:4000", "[2001:db8::5]:40002", "[fe80::1%3]:9"] {
            let a: SocketAddr = a.parse().expect("addr");
            let mut st = unsafe_zeroed_storage();
            let len = sockaddr_from(a, &mut st);
            assert!(len as usize <= size_of::<libc::sockaddr_storage>());
            assert_eq!(sockaddr_to(&st), Some(a));
        }
        assert_eq!(sockaddr_to(&unsafe_zeroed_storage()), None, "AF_UNSPEC");
    }

    #[tokio::test]
    async fn a_burst_is_read_whole_and_ports_come_back() {
        let lo = IpAddr::from([127, 0, 0, 1]);
        let mut m = MediaPorts::new(lo, 41101..=41106, 2).expect("ports");
        let t0 = Instant::now();
        let mut ports: Vec<u16> = (0..3).map(|_| m.open(t0).expect("open")).collect();
        ports.sort();
        assert_eq!(ports, vec![41102, 41104, 41106]);
        assert!(m.open(t0).is_err(), "the range is used up");
        let peer = UdpSocket::bind("127.0.0.1:0").expect("peer");
        // More than one recvmmsg's worth on one socket, one on another.
        for i in 0..(2 * RECV_BATCH + 3) {
            peer.send_to(&[i as u8], SocketAddr::new(lo, ports[0]))
                .expect("send");
        }
        peer.send_to(b"z", SocketAddr::new(lo, ports[2]))
            .expect("send");
        let got = collect(&m, 2 * RECV_BATCH + 4);
        assert_eq!(got.len(), 2 * RECV_BATCH + 4);
        let first: Vec<u8> = got
            .iter()
            .filter(|g| g.0 == ports[0])
            .map(|g| g.2[0])
            .collect();
        assert_eq!(first, (0..(2 * RECV_BATCH + 3) as u8).collect::<Vec<_>>());
        m.close(ports[1], t0);
        assert_eq!(
            m.open(t0).expect("reopen"),
            ports[1],
            "resting, but the only one free"
        );
        m.send(out(40000, peer.local_addr().expect("a"), false, b"?"));
        assert_eq!(m.send_dropped, 1, "a port that is not ours");
    }

    #[tokio::test]
    async fn ports_come_in_no_guessable_order_and_rest_after_closing() {
        let lo = IpAddr::from([127, 0, 0, 1]);
        let mut m = MediaPorts::new(lo, 42000..=42399, 7).expect("ports");
        let t0 = Instant::now();
        let ports: Vec<u16> = (0..40).map(|_| m.open(t0).expect("open")).collect();
        let steps: std::collections::HashSet<i32> = ports
            .windows(2)
            .map(|w| i32::from(w[1]) - i32::from(w[0]))
            .collect();
        assert!(steps.len() > 20, "no fixed stride between ports: {ports:?}");
        assert!(ports
            .iter()
            .all(|p| p % 2 == 0 && (42000..=42399).contains(p)));
        // Closed ports rest: 140 more opens never hand one out again within PORT_REST...
        for p in &ports {
            m.close(*p, t0);
        }
        let more: Vec<u16> = (0..160).map(|_| m.open(t0).expect("open")).collect();
        assert!(
            more.iter().all(|p| !ports.contains(p)),
            "a resting port was reused"
        );
        // ...but once rested, and the rest of the range is in use, they come back.
        let later = t0 + PORT_REST;
        let last: Vec<u16> = (0..40).map(|_| m.open(later).expect("open")).collect();
        assert!(last.iter().all(|p| ports.contains(p)));
        assert!(m.open(later).is_err());
    }
}
