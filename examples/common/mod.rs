//! What the load generators share: RTP streams sent in `sendmmsg` batches and read back with
//! `recvmmsg` and kernel receive timestamps, marked payloads that carry a stream id, an
//! index and a send time, agent registration through the digest challenge, and the
//! engine's CPU time and memory from /proc.

#![allow(dead_code)]

pub(crate) mod flood;

use sb_sip::digest::answer_challenge;
use sb_sip_msg::{parse_datagram, Message, Request, Response, ResponseBuilder};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) const MAGIC: u32 = 0x5357_4C44;
pub(crate) const FRAME: usize = 160;
pub(crate) const BATCH: usize = 256;
/// Datagrams per `sendmmsg`. Every frame of one call carries the same send time, taken just
/// before it, while the last leaves some 2 us per datagram after the first (on loopback
/// the send also delivers); 32 keeps that error near 0.1 ms, where 256 could make it 0.7 ms
/// of what the analysers report as added jitter.
pub(crate) const SEND_BATCH: usize = 32;
/// The telephone-event payload type in our SDP.
pub(crate) const EVENT_PT: u8 = 101;

pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// 32 MiB socket buffers (past `net.core.rmem_max` when run as root) and kernel receive
/// timestamps: the tool must not be what drops packets.
pub(crate) fn big_buffers(s: &UdpSocket) {
    let size: libc::c_int = 32 << 20;
    for (forced, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        for opt in [forced, plain] {
            // SAFETY: a valid socket and a pointer to an int option of the size given.
            let rc = unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    &size as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                break;
            }
        }
    }
    let one: libc::c_int = 1;
    // SAFETY: as above.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_TIMESTAMPNS");
}

/// One outgoing RTP stream: where the engine listens for it, and its counters.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    pub id: u32,
    pub to: SocketAddr,
    pub seq: u16,
    pub ts: u32,
    pub index: u32,
    /// Sent every tick while true.
    pub live: bool,
}

impl Stream {
    pub(crate) fn new(id: u32, to: SocketAddr) -> Stream {
        Stream {
            id,
            to,
            seq: 1,
            ts: 0,
            index: 0,
            live: true,
        }
    }
}

/// A marked payload: (stream id, index or u32::MAX outside the measurement, send time).
pub(crate) fn marked(b: &[u8]) -> Option<(u32, u32, u64)> {
    if b.len() < 32 || u32::from_be_bytes([b[12], b[13], b[14], b[15]]) != MAGIC {
        return None;
    }
    let id = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
    let index = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
    let sent = u64::from_be_bytes([b[24], b[25], b[26], b[27], b[28], b[29], b[30], b[31]]);
    Some((id, index, sent))
}

pub(crate) fn sockaddr(a: SocketAddr) -> libc::sockaddr_in {
    let SocketAddr::V4(v4) = a else {
        panic!("IPv4 only")
    };
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(v4.ip().octets()),
        },
        sin_zero: [0; 8],
    }
}

/// Sends one frame of every live stream through `sock`, `SEND_BATCH` datagrams per system
/// call.
/// Returns how many went out.
pub(crate) fn send_tick(sock: &UdpSocket, streams: &mut [Stream], measuring: bool) -> usize {
    send_frames(sock, streams.iter_mut(), measuring)
}

/// Sends one frame of each of `streams` that is live, as `send_tick` does.
pub(crate) fn send_frames<'a>(
    sock: &UdpSocket,
    streams: impl Iterator<Item = &'a mut Stream>,
    measuring: bool,
) -> usize {
    let mut sent = 0;
    let mut live: Vec<&mut Stream> = streams.filter(|s| s.live).collect();
    for chunk in live.chunks_mut(SEND_BATCH) {
        let mut bufs = vec![[0u8; 12 + FRAME]; chunk.len()];
        let mut addrs = Vec::with_capacity(chunk.len());
        let mut iovs = Vec::with_capacity(chunk.len());
        let stamp = now_ns();
        for (s, b) in chunk.iter_mut().zip(bufs.iter_mut()) {
            b[0] = 0x80;
            b[1] = 0;
            b[2..4].copy_from_slice(&s.seq.to_be_bytes());
            b[4..8].copy_from_slice(&s.ts.to_be_bytes());
            b[8..12].copy_from_slice(&s.id.to_be_bytes());
            b[12..16].copy_from_slice(&MAGIC.to_be_bytes());
            b[16..20].copy_from_slice(&s.id.to_be_bytes());
            b[20..24].copy_from_slice(&(if measuring { s.index } else { u32::MAX }).to_be_bytes());
            b[24..32].copy_from_slice(&stamp.to_be_bytes());
            s.seq = s.seq.wrapping_add(1);
            s.ts = s.ts.wrapping_add(FRAME as u32);
            if measuring {
                s.index += 1;
            }
            addrs.push(sockaddr(s.to));
        }
        for b in bufs.iter_mut() {
            iovs.push(libc::iovec {
                iov_base: b.as_mut_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            });
        }
        let mut msgs: Vec<libc::mmsghdr> = (0..chunk.len())
            .map(|i| {
                // SAFETY: plain data; the pointers set below outlive the sendmmsg call.
                let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
                h.msg_name = &mut addrs[i] as *mut libc::sockaddr_in as *mut libc::c_void;
                h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                h.msg_iov = &mut iovs[i];
                h.msg_iovlen = 1;
                libc::mmsghdr {
                    msg_hdr: h,
                    msg_len: 0,
                }
            })
            .collect();
        let mut off = 0;
        while off < msgs.len() {
            // SAFETY: a valid socket and `msgs[off..]`, each pointing at live buffers.
            let n = unsafe {
                libc::sendmmsg(
                    sock.as_raw_fd(),
                    msgs[off..].as_mut_ptr(),
                    (msgs.len() - off) as libc::c_uint,
                    0,
                )
            };
            if n <= 0 {
                break;
            }
            off += n as usize;
        }
        sent += off;
    }
    sent
}

/// An RFC 4733 key press on `s` (start, then the end packet three times), sent at once: the
/// receiver must count it once.
pub(crate) fn send_digit(sock: &UdpSocket, s: &mut Stream, digit: u8) {
    for (k, end) in [(0, false), (1, true), (2, true), (3, true)] {
        let mut b = [0u8; 16];
        b[0] = 0x80;
        b[1] = EVENT_PT | if k == 0 { 0x80 } else { 0 };
        b[2..4].copy_from_slice(&s.seq.to_be_bytes());
        b[4..8].copy_from_slice(&s.ts.to_be_bytes());
        b[8..12].copy_from_slice(&s.id.to_be_bytes());
        b[12] = digit;
        b[13] = if end { 0x80 | 10 } else { 10 };
        b[14..16].copy_from_slice(&(if end { 800u16 } else { 160u16 }).to_be_bytes());
        s.seq = s.seq.wrapping_add(1);
        let _ = sock.send_to(&b, s.to);
    }
}

/// Datagram buffers and their control-message buffers for one `recvmmsg`.
type RecvBufs = (Vec<[u8; 512]>, Vec<[u64; 8]>, Vec<libc::sockaddr_in>);

/// Reads every queued datagram of `sock` (up to `BATCH` per system call) and hands each to
/// `each` with its source and its kernel arrival time (ns since the epoch).
pub(crate) fn drain(sock: &UdpSocket, each: impl FnMut(SocketAddr, &[u8], u64)) -> usize {
    drain_up_to(sock, usize::MAX, each)
}

/// `drain`, stopping once about `max` datagrams were read (so that a tool that also sends
/// on a schedule gets back to it).
pub(crate) fn drain_up_to(
    sock: &UdpSocket,
    max: usize,
    mut each: impl FnMut(SocketAddr, &[u8], u64),
) -> usize {
    thread_local! {
        // Reused for every call: zeroing 150 KiB per read was most of this tool's time.
        static BUFS: std::cell::RefCell<RecvBufs> = std::cell::RefCell::new((
            vec![[0u8; 512]; BATCH],
            vec![[0u64; 8]; BATCH],
            // SAFETY: all-zero bytes are a valid sockaddr_in.
            vec![unsafe { std::mem::zeroed() }; BATCH],
        ));
    }
    BUFS.with(|b| {
        let (bufs, ctrl, names) = &mut *b.borrow_mut();
        let mut total = 0;
        loop {
            let mut iovs: Vec<libc::iovec> = bufs
                .iter_mut()
                .map(|b| libc::iovec {
                    iov_base: b.as_mut_ptr() as *mut libc::c_void,
                    iov_len: b.len(),
                })
                .collect();
            let mut msgs: Vec<libc::mmsghdr> = (0..BATCH)
                .map(|i| {
                    // SAFETY: plain data; the pointers set below outlive the recvmmsg call.
                    let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
                    h.msg_name = &mut names[i] as *mut libc::sockaddr_in as *mut libc::c_void;
                    h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                    h.msg_iov = &mut iovs[i];
                    h.msg_iovlen = 1;
                    h.msg_control = ctrl[i].as_mut_ptr() as *mut libc::c_void;
                    h.msg_controllen = std::mem::size_of_val(&ctrl[i]) as _;
                    libc::mmsghdr {
                        msg_hdr: h,
                        msg_len: 0,
                    }
                })
                .collect();
            // SAFETY: a valid socket and BATCH headers pointing at live buffers.
            let n = unsafe {
                libc::recvmmsg(
                    sock.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n <= 0 {
                return total;
            }
            for (i, m) in msgs.iter().enumerate().take(n as usize) {
                let mut arrived = 0;
                // SAFETY: walking the control messages the kernel wrote for this datagram.
                unsafe {
                    let h = &m.msg_hdr;
                    let mut c = libc::CMSG_FIRSTHDR(h);
                    while !c.is_null() {
                        if (*c).cmsg_level == libc::SOL_SOCKET
                            && (*c).cmsg_type == libc::SCM_TIMESTAMPNS
                        {
                            let ts: libc::timespec = std::ptr::read_unaligned(
                                libc::CMSG_DATA(c) as *const libc::timespec
                            );
                            arrived = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
                        }
                        c = libc::CMSG_NXTHDR(h, c);
                    }
                }
                let from = SocketAddr::from((
                    u32::from_be(names[i].sin_addr.s_addr).to_be_bytes(),
                    u16::from_be(names[i].sin_port),
                ));
                let len = (m.msg_len as usize).min(512);
                each(from, &bufs[i][..len], arrived);
                total += 1;
            }
            if total >= max {
                return total;
            }
        }
    })
}

/// The process's CPU time (user + system) in clock ticks, and its resident memory in KiB.
pub(crate) fn proc_usage(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((ticks, rss))
}

/// CPU time (clock ticks) of the process's main thread, where SIP, media and the ACD run,
/// and of all its other threads together (the call-record writer and SQLite's worker, the
/// control API).
pub(crate) fn thread_split(pid: u32) -> Option<(u64, u64)> {
    let (mut main, mut rest) = (0, 0);
    for e in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let Some((_, after)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        if e.file_name().to_str() == Some(&pid.to_string()) {
            main += ticks;
        } else {
            rest += ticks;
        }
    }
    Some((main, rest))
}

/// Datagrams the kernel dropped because the socket bound to `port` was full
/// (/proc/net/udp), for telling the tool's losses from the engine's.
pub(crate) fn socket_drops(port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local = f.get(1)?;
            let p = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            (p == port).then(|| f.last()?.parse::<u64>().ok())?
        })
        .sum()
}

/// Clock ticks the hypervisor took from each CPU (/proc/stat `steal`), by CPU number: on a
/// shared virtual machine this is the noise the figures carry.
pub(crate) fn steal_ticks() -> Vec<u64> {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .nth(8)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

/// The share of each CPU stolen between two `steal_ticks` readings `secs` apart, as text.
pub(crate) fn steal_report(before: &[u64], after: &[u64], secs: f64) -> String {
    let hz = ticks_per_second();
    before
        .iter()
        .zip(after)
        .enumerate()
        .map(|(cpu, (b, a))| {
            format!(
                "cpu{cpu} {:.1} %",
                100.0 * a.saturating_sub(*b) as f64 / hz / secs.max(1e-3)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Clock ticks per second for `proc_usage`.
pub(crate) fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
}

/// PCMU with telephone-event, as the hospital's softphones offer.
pub(crate) fn sdp(port: u16) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 {EVENT_PT}\r\na=rtpmap:{EVENT_PT} telephone-event/8000\r\n")
}

pub(crate) fn audio_port(body: &[u8]) -> Option<u16> {
    let sd = sb_media::SessionDescription::parse(body).ok()?;
    sd.media.first().map(|m| m.port)
}

/// The `p`-quantile of sorted microsecond figures, in milliseconds.
pub(crate) fn quantile_ms(v: &[u64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

pub(crate) struct Sip {
    pub sock: UdpSocket,
    pub engine: SocketAddr,
    pub local: SocketAddr,
}

impl Sip {
    pub(crate) fn bind(engine: SocketAddr) -> Sip {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("sip socket");
        sock.set_read_timeout(Some(Duration::from_millis(1)))
            .expect("timeout");
        big_buffers(&sock);
        Sip {
            local: sock.local_addr().expect("addr"),
            sock,
            engine,
        }
    }

    pub(crate) fn send(&self, text: &str) {
        let _ = self.sock.send_to(text.as_bytes(), self.engine);
    }

    pub(crate) fn register(&self, user: &str, cseq: u32, auth: Option<&str>) {
        let (e, l) = (self.engine, self.local);
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        self.send(&format!("REGISTER sip:{e} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKreg{user}x{cseq};rport\r\nFrom: <sip:{user}@{e}>;tag=r{user}\r\nTo: <sip:{user}@{e}>\r\nCall-ID: reg-{user}@bench\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{l}>\r\nExpires: 3600\r\nMax-Forwards: 70\r\n{auth}Content-Length: 0\r\n\r\n"));
    }

    /// A response to `req` from one of our phones (an agent answering, a 200 to BYE).
    pub(crate) fn respond(&self, req: &Request, status: u16, body: Option<String>) {
        let mut b = ResponseBuilder::new(req, status)
            .to_tag("agent")
            .header("Contact", format!("<sip:agent@{}>", self.local));
        if let Some(body) = body {
            b = b.body("application/sdp", body.into_bytes());
        }
        let _ = self.sock.send_to(&b.build().to_bytes(), self.engine);
    }

    /// Registers every agent (password `bench-EXT-pass`) through the digest challenge,
    /// asking again for any the engine has not confirmed after 2 s. Returns how many
    /// registered within 30 s.
    pub(crate) fn register_agents(&self, agents: &[String]) -> usize {
        let mut buf = vec![0u8; 65_536];
        for (k, user) in agents.iter().enumerate() {
            self.register(user, 1, None);
            if k % 50 == 49 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let mut done: std::collections::HashSet<String> = std::collections::HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut retry_at = Instant::now() + Duration::from_secs(2);
        while done.len() < agents.len() && Instant::now() < deadline {
            if Instant::now() >= retry_at {
                // Lost on the way (a burst the kernel dropped): ask again.
                for user in agents.iter().filter(|u| !done.contains(*u)) {
                    self.register(user, 1, None);
                }
                retry_at = Instant::now() + Duration::from_secs(2);
            }
            let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                continue;
            };
            let Ok(Some(Message::Response(r))) = parse_datagram(&buf[..n]) else {
                continue;
            };
            let user = r
                .core
                .call_id
                .trim_start_matches("reg-")
                .trim_end_matches("@bench");
            match r.status {
                401 if r.core.cseq.seq == 1 => {
                    let ch = r.headers.get("WWW-Authenticate").unwrap_or_default();
                    let auth = answer_challenge(
                        ch,
                        user,
                        &format!("bench-{user}-pass"),
                        "REGISTER",
                        &format!("sip:{}", self.engine),
                        1,
                        "c1",
                    )
                    .unwrap_or_default();
                    self.register(user, 2, Some(&auth));
                }
                200 if r.core.cseq.seq == 2 => {
                    done.insert(user.to_string());
                }
                _ => {}
            }
        }
        done.len()
    }
}

/// A patient's phone (extension 1001) placing numbered calls to `number`: call `i` has
/// Call-ID `cl-I@bench` and From tag `clI`.
pub(crate) struct Caller<'a> {
    pub sip: &'a Sip,
    pub number: &'a str,
}

/// The call index in one of `Caller`'s Call-IDs.
pub(crate) fn call_index(call_id: &str) -> Option<usize> {
    call_id.strip_prefix("cl-")?.split('@').next()?.parse().ok()
}

/// What an answer to one of `Caller`'s INVITEs means for the count of calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The call was answered (and the 200 acknowledged).
    Answered,
    /// The call was refused.
    Failed,
    /// Nothing to count: progress, the challenge answered, a retransmission.
    Nothing,
}

impl Caller<'_> {
    /// Handles the answer `r` to call `i`'s INVITE: the digest challenge is answered once
    /// (a retransmitted 401 carries the same nonce) with a new INVITE offering `port`, a
    /// 200 is acknowledged. `pending` holds the CSeq of each call's INVITE until its final
    /// answer.
    pub(crate) fn on_answer(
        &self,
        r: &Response,
        i: usize,
        pending: &mut HashMap<usize, u32>,
        port: u16,
    ) -> Answer {
        let cseq = r.core.cseq.seq;
        match r.status {
            100..=199 => Answer::Nothing,
            401 if cseq == 1 && pending.get(&i) == Some(&1) => {
                self.ack(i, 1, &r.core.to.to_string());
                let auth = self.credentials(r.headers.get("WWW-Authenticate").unwrap_or_default());
                self.invite(i, 2, port, Some(&auth));
                pending.insert(i, 2);
                Answer::Nothing
            }
            200 if cseq == 2 && pending.remove(&i).is_some() => {
                self.ack(i, 2, &r.core.to.to_string());
                Answer::Answered
            }
            200 | 401 => Answer::Nothing,
            _ if pending.remove(&i).is_some() => Answer::Failed,
            _ => Answer::Nothing,
        }
    }

    /// INVITE `cseq` of call `i`, offering PCMU at `port`.
    pub(crate) fn invite(&self, i: usize, cseq: u32, port: u16, auth: Option<&str>) {
        let (e, l, number) = (self.sip.engine, self.sip.local, self.number);
        let body = sdp(port);
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        self.sip.send(&format!("INVITE sip:{number}@{e} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKcl{i}x{cseq};rport\r\nFrom: <sip:1001@{e}>;tag=cl{i}\r\nTo: <sip:{number}@{e}>\r\nCall-ID: cl-{i}@bench\r\nCSeq: {cseq} INVITE\r\nContact: <sip:1001@{l}>\r\nMax-Forwards: 70\r\n{auth}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    }

    /// The Authorization for the INVITE with credentials, from the 401's challenge.
    pub(crate) fn credentials(&self, challenge: &str) -> String {
        let uri = format!("sip:{}@{}", self.number, self.sip.engine);
        answer_challenge(challenge, "1001", "demo-1001", "INVITE", &uri, 1, "b1")
            .unwrap_or_default()
    }

    /// ACK of a 401 (same branch as its INVITE, RFC 3261 §17.1.1.3) or of a 200 (new one).
    pub(crate) fn ack(&self, i: usize, cseq: u32, to: &str) {
        let (e, l, number) = (self.sip.engine, self.sip.local, self.number);
        let branch = if cseq == 1 {
            format!("z9hG4bKcl{i}x1")
        } else {
            format!("z9hG4bKclack{i}x{cseq}")
        };
        self.sip.send(&format!("ACK sip:{number}@{e} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={branch};rport\r\nFrom: <sip:1001@{e}>;tag=cl{i}\r\nTo: {to}\r\nCall-ID: cl-{i}@bench\r\nCSeq: {cseq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"));
    }

    pub(crate) fn bye(&self, i: usize, to: &str) {
        let (e, l, number) = (self.sip.engine, self.sip.local, self.number);
        self.sip.send(&format!("BYE sip:{number}@{e} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKclbye{i};rport\r\nFrom: <sip:1001@{e}>;tag=cl{i}\r\nTo: {to}\r\nCall-ID: cl-{i}@bench\r\nCSeq: 3 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"));
    }
}
