//! Bridged-call load generator and RTP analyser. Registers AGENTS agent phones (digest),
//! answers the engine's INVITEs to them, places CALLS patient calls to a queue number, and
//! once the calls are bridged sends RTP both ways (20 ms G.711 frames) and measures at each
//! receiver: packets lost, one-way delay through the engine, and the delay's variation
//! (added jitter). All callers share one RTP socket and all agents another, so every 20 ms
//! tick leaves in a few `sendmmsg` batches and arrives through `recvmmsg` with kernel
//! receive timestamps (SO_TIMESTAMPNS): the tool's own scheduling does not colour the
//! figures. Each payload carries a marker, its stream, its index and its send time; the
//! engine relays PCMU to PCMU untouched.
//!
//!     cargo run --release --example bridge_load -- --engine 127.0.0.1:5060 --calls 1500 \
//!         --first-agent 3000 --number 8100
//!
//! `bench/bridge.sh` writes the configuration (agents, a queue, a flow) and runs it pinned
//! to one core against the engine pinned to the other.

use sb_sip::digest::answer_challenge;
use sb_sip_msg::{parse_datagram, Message, Method, Request, ResponseBuilder};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MAGIC: u32 = 0x5357_4C44;
const FRAME: usize = 160;
const BATCH: usize = 256;

struct Args {
    engine: SocketAddr,
    calls: usize,
    rate: u32,
    measure: u64,
    first_agent: u32,
    number: String,
    /// The engine's process, to read its CPU time and memory around the measurement.
    engine_pid: Option<u32>,
}

fn args() -> Args {
    let mut a = Args {
        engine: "127.0.0.1:5060".parse().expect("addr"),
        calls: 1500,
        rate: 100,
        measure: 10,
        first_agent: 3000,
        number: "8100".into(),
        engine_pid: None,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    for w in v.chunks(2) {
        let val = w.get(1).map(String::as_str).unwrap_or_default();
        match w[0].as_str() {
            "--engine" => a.engine = val.parse().expect("--engine IP:PORT"),
            "--calls" => a.calls = val.parse().expect("--calls N"),
            "--rate" => a.rate = val.parse().expect("--rate CALLS_PER_SECOND"),
            "--measure" => a.measure = val.parse().expect("--measure SECONDS"),
            "--first-agent" => a.first_agent = val.parse().expect("--first-agent EXTENSION"),
            "--number" => a.number = val.to_string(),
            "--engine-pid" => a.engine_pid = Some(val.parse().expect("--engine-pid PID")),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn big_buffers(s: &UdpSocket) {
    let size: libc::c_int = 32 << 20;
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: a valid socket and a pointer to an int option of the size given.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                &size as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
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
struct Stream {
    to: SocketAddr,
    seq: u16,
    ts: u32,
    index: u32,
}

/// What a receiver saw of one stream.
#[derive(Default, Clone)]
struct Seen {
    received: u64,
    min_delay_ns: u64,
    delays: Vec<u32>,
}

fn sockaddr(a: SocketAddr) -> libc::sockaddr_in {
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

/// Sends one frame of every stream through `sock`, `BATCH` datagrams per system call.
/// Returns how many went out.
fn send_tick(sock: &UdpSocket, streams: &mut [Stream], first_id: u32, measuring: bool) -> usize {
    let mut sent = 0;
    for (c, chunk) in streams.chunks_mut(BATCH).enumerate() {
        let mut bufs = vec![[0u8; 12 + FRAME]; chunk.len()];
        let mut addrs = Vec::with_capacity(chunk.len());
        let mut iovs = Vec::with_capacity(chunk.len());
        let stamp = now_ns();
        for (i, (s, b)) in chunk.iter_mut().zip(bufs.iter_mut()).enumerate() {
            let id = first_id + (c * BATCH + i) as u32;
            b[0] = 0x80;
            b[1] = 0;
            b[2..4].copy_from_slice(&s.seq.to_be_bytes());
            b[4..8].copy_from_slice(&s.ts.to_be_bytes());
            b[8..12].copy_from_slice(&id.to_be_bytes());
            b[12..16].copy_from_slice(&MAGIC.to_be_bytes());
            b[16..20].copy_from_slice(&id.to_be_bytes());
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

/// Datagram buffers and their control-message buffers for one `recvmmsg`.
type RecvBufs = (Vec<[u8; 512]>, Vec<[u64; 8]>);

/// Reads every queued datagram of `sock` (up to `BATCH` per system call) and files the
/// marked ones under their stream with their kernel arrival time.
fn drain(sock: &UdpSocket, seen: &mut HashMap<u32, Seen>, measuring: bool) -> usize {
    thread_local! {
        // Reused for every call: zeroing 150 KiB per read was most of this tool's time.
        static BUFS: std::cell::RefCell<RecvBufs> =
            std::cell::RefCell::new((vec![[0u8; 512]; BATCH], vec![[0u64; 8]; BATCH]));
    }
    BUFS.with(|b| {
        let (bufs, ctrl) = &mut *b.borrow_mut();
        drain_into(sock, seen, measuring, bufs, ctrl)
    })
}

fn drain_into(
    sock: &UdpSocket,
    seen: &mut HashMap<u32, Seen>,
    measuring: bool,
    bufs: &mut [[u8; 512]],
    ctrl: &mut [[u64; 8]],
) -> usize {
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
            let len = m.msg_len as usize;
            let b = &bufs[i];
            if len < 32 || u32::from_be_bytes([b[12], b[13], b[14], b[15]]) != MAGIC {
                continue;
            }
            let id = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
            let index = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
            let sent = u64::from_be_bytes([b[24], b[25], b[26], b[27], b[28], b[29], b[30], b[31]]);
            if !measuring || index == u32::MAX {
                continue;
            }
            let mut arrived = None;
            // SAFETY: walking the control messages the kernel wrote for this datagram.
            unsafe {
                let h = &m.msg_hdr;
                let mut c = libc::CMSG_FIRSTHDR(h);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_SOCKET
                        && (*c).cmsg_type == libc::SCM_TIMESTAMPNS
                    {
                        let ts: libc::timespec =
                            std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                        arrived = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
                    }
                    c = libc::CMSG_NXTHDR(h, c);
                }
            }
            let Some(arrived) = arrived else { continue };
            let delay = arrived.saturating_sub(sent);
            let s = seen.entry(id).or_default();
            s.received += 1;
            if s.received == 1 || delay < s.min_delay_ns {
                s.min_delay_ns = delay;
            }
            s.delays.push(delay.min(u32::MAX as u64) as u32);
            total += 1;
        }
    }
}

/// The process's CPU time (user + system) in clock ticks, and its resident memory in KiB.
fn proc_usage(pid: u32) -> Option<(u64, u64)> {
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

/// PCMU with telephone-event, as the hospital's softphones offer.
fn sdp(port: u16) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
}

fn audio_port(body: &[u8]) -> Option<u16> {
    let sd = sb_media::SessionDescription::parse(body).ok()?;
    sd.media.first().map(|m| m.port)
}

struct Sip {
    sock: UdpSocket,
    engine: SocketAddr,
    local: SocketAddr,
}

impl Sip {
    fn send(&self, text: &str) {
        let _ = self.sock.send_to(text.as_bytes(), self.engine);
    }

    fn register(&self, user: &str, cseq: u32, auth: Option<&str>) {
        let (e, l) = (self.engine, self.local);
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        self.send(&format!("REGISTER sip:{e} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKreg{user}x{cseq};rport\r\nFrom: <sip:{user}@{e}>;tag=r{user}\r\nTo: <sip:{user}@{e}>\r\nCall-ID: reg-{user}@bench\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{l}>\r\nExpires: 3600\r\nMax-Forwards: 70\r\n{auth}Content-Length: 0\r\n\r\n"));
    }

    fn invite(&self, number: &str, i: usize, cseq: u32, port: u16, auth: Option<&str>) {
        let (e, l) = (self.engine, self.local);
        let body = sdp(port);
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        self.send(&format!("INVITE sip:{number}@{e} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKbr{i}x{cseq};rport\r\nFrom: <sip:1001@{e}>;tag=br{i}\r\nTo: <sip:{number}@{e}>\r\nCall-ID: br-{i}@bench\r\nCSeq: {cseq} INVITE\r\nContact: <sip:1001@{l}>\r\nMax-Forwards: 70\r\n{auth}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    }

    fn ack(&self, number: &str, i: usize, cseq: u32, to: &str) {
        let (e, l) = (self.engine, self.local);
        let branch = if cseq == 1 {
            format!("z9hG4bKbr{i}x1")
        } else {
            format!("z9hG4bKbrack{i}x{cseq}")
        };
        self.send(&format!("ACK sip:{number}@{e} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch={branch};rport\r\nFrom: <sip:1001@{e}>;tag=br{i}\r\nTo: {to}\r\nCall-ID: br-{i}@bench\r\nCSeq: {cseq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"));
    }

    fn respond(&self, req: &Request, status: u16, body: Option<String>) {
        let mut b = ResponseBuilder::new(req, status)
            .to_tag("agent")
            .header("Contact", format!("<sip:agent@{}>", self.local));
        if let Some(body) = body {
            b = b.body("application/sdp", body.into_bytes());
        }
        let _ = self.sock.send_to(&b.build().to_bytes(), self.engine);
    }
}

fn main() {
    let a = args();
    let sip_sock = UdpSocket::bind("127.0.0.1:0").expect("sip socket");
    sip_sock
        .set_read_timeout(Some(Duration::from_millis(1)))
        .expect("timeout");
    big_buffers(&sip_sock);
    let sip = Sip {
        local: sip_sock.local_addr().expect("addr"),
        sock: sip_sock,
        engine: a.engine,
    };
    let callers_rtp = UdpSocket::bind("127.0.0.1:0").expect("caller rtp");
    let agents_rtp = UdpSocket::bind("127.0.0.1:0").expect("agent rtp");
    for s in [&callers_rtp, &agents_rtp] {
        big_buffers(s);
        s.set_nonblocking(true).expect("nonblocking");
    }
    let (cport, aport) = (
        callers_rtp.local_addr().expect("a").port(),
        agents_rtp.local_addr().expect("a").port(),
    );
    let mut buf = vec![0u8; 65_536];
    let idle = a.engine_pid.and_then(proc_usage);

    // 1. Agents register (through the challenge).
    let agents: Vec<String> = (0..a.calls as u32)
        .map(|k| (a.first_agent + k).to_string())
        .collect();
    let start = Instant::now();
    for (k, user) in agents.iter().enumerate() {
        sip.register(user, 1, None);
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
                sip.register(user, 1, None);
            }
            retry_at = Instant::now() + Duration::from_secs(2);
        }
        let Ok((n, _)) = sip.sock.recv_from(&mut buf) else {
            continue;
        };
        if let Ok(Some(Message::Response(r))) = parse_datagram(&buf[..n]) {
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
                        &format!("sip:{}", a.engine),
                        1,
                        "c1",
                    )
                    .unwrap_or_default();
                    sip.register(user, 2, Some(&auth));
                }
                200 if r.core.cseq.seq == 2 => {
                    done.insert(user.to_string());
                }
                _ => {}
            }
        }
    }
    println!(
        "agents registered     {} of {} in {:.1} s",
        done.len(),
        agents.len(),
        start.elapsed().as_secs_f64()
    );

    // 2. Calls: each patient dials the queue, an agent is offered the call and answers.
    let mut caller_streams: Vec<Option<Stream>> = (0..a.calls).map(|_| None).collect();
    let mut agent_streams: Vec<Stream> = Vec::new();
    let mut pending: HashMap<usize, u32> = HashMap::new();
    let (mut sent, mut answered, mut failed) = (0usize, 0usize, 0usize);
    let interval = Duration::from_secs_f64(1.0 / a.rate.max(1) as f64);
    let setup_start = Instant::now();
    let setup_deadline =
        setup_start + Duration::from_secs(a.calls as u64 / a.rate.max(1) as u64 + 30);
    let mut seen_c: HashMap<u32, Seen> = HashMap::new();
    let mut seen_a: HashMap<u32, Seen> = HashMap::new();
    while (answered + failed < a.calls || agent_streams.len() < answered)
        && Instant::now() < setup_deadline
    {
        while sent < a.calls && Instant::now() >= setup_start + interval * sent as u32 {
            sip.invite(&a.number, sent, 1, cport, None);
            pending.insert(sent, 1);
            sent += 1;
        }
        drain(&callers_rtp, &mut seen_c, false);
        drain(&agents_rtp, &mut seen_a, false);
        let Ok((n, _)) = sip.sock.recv_from(&mut buf) else {
            continue;
        };
        match parse_datagram(&buf[..n]) {
            Ok(Some(Message::Request(req))) => match req.method {
                Method::Invite => {
                    let Some(port) = audio_port(&req.body) else {
                        sip.respond(&req, 488, None);
                        continue;
                    };
                    sip.respond(&req, 200, Some(sdp(aport)));
                    agent_streams.push(Stream {
                        to: SocketAddr::from(([127, 0, 0, 1], port)),
                        seq: 1,
                        ts: 0,
                        index: 0,
                    });
                }
                Method::Ack => {}
                _ => sip.respond(&req, 200, None),
            },
            Ok(Some(Message::Response(r))) => {
                let Some(i) = r
                    .core
                    .call_id
                    .strip_prefix("br-")
                    .and_then(|s| s.split('@').next())
                    .and_then(|s| s.parse::<usize>().ok())
                else {
                    continue;
                };
                let cseq = r.core.cseq.seq;
                match r.status {
                    100..=199 => {}
                    401 if cseq == 1 && pending.get(&i) == Some(&1) => {
                        sip.ack(&a.number, i, 1, &r.core.to.to_string());
                        let ch = r.headers.get("WWW-Authenticate").unwrap_or_default();
                        let uri = format!("sip:{}@{}", a.number, a.engine);
                        let auth =
                            answer_challenge(ch, "1001", "demo-1001", "INVITE", &uri, 1, "b1")
                                .unwrap_or_default();
                        sip.invite(&a.number, i, 2, cport, Some(&auth));
                        pending.insert(i, 2);
                    }
                    200 if cseq == 2 && pending.remove(&i).is_some() => {
                        sip.ack(&a.number, i, 2, &r.core.to.to_string());
                        if let Some(port) = audio_port(&r.body) {
                            caller_streams[i] = Some(Stream {
                                to: SocketAddr::from(([127, 0, 0, 1], port)),
                                seq: 1,
                                ts: 0,
                                index: 0,
                            });
                        }
                        answered += 1;
                    }
                    200 | 401 => {}
                    _ if pending.remove(&i).is_some() => failed += 1,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let mut callers: Vec<Stream> = caller_streams.into_iter().flatten().collect();
    println!(
        "calls answered        {answered} of {} ({failed} refused), agents answered {} in {:.1} s",
        a.calls,
        agent_streams.len(),
        setup_start.elapsed().as_secs_f64()
    );

    // 3. Media both ways: 2 s to settle (symmetric RTP learning, the bridge), then measure.
    let tick = Duration::from_millis(20);
    let mut next = Instant::now();
    let settle_until = Instant::now() + Duration::from_secs(2);
    let measure_until = settle_until + Duration::from_secs(a.measure);
    let mut ticks_measured = 0u64;
    let mut cpu_at_start = None;
    let mut usage_at_end = None;
    let mut sip_buf = vec![0u8; 65_536];
    sip.sock.set_nonblocking(true).expect("nonblocking sip");
    while Instant::now() < measure_until + Duration::from_millis(500) {
        let now = Instant::now();
        let measuring = now >= settle_until && now < measure_until;
        if measuring && cpu_at_start.is_none() {
            cpu_at_start = a.engine_pid.and_then(proc_usage);
        }
        if now >= measure_until && usage_at_end.is_none() {
            usage_at_end = a.engine_pid.and_then(proc_usage);
        }
        if now >= next && now < measure_until {
            send_tick(&callers_rtp, &mut callers, 0, measuring);
            send_tick(&agents_rtp, &mut agent_streams, 1_000_000, measuring);
            ticks_measured += measuring as u64;
            next += tick;
        }
        drain(&callers_rtp, &mut seen_c, true);
        drain(&agents_rtp, &mut seen_a, true);
        // Keep-alives and the like from the engine.
        while let Ok((n, _)) = sip.sock.recv_from(&mut sip_buf) {
            if let Ok(Some(Message::Request(req))) = parse_datagram(&sip_buf[..n]) {
                if req.method != Method::Ack {
                    sip.respond(&req, 200, None);
                }
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let mut received = 0u64;
    let mut added: Vec<u32> = Vec::new();
    let mut delays: Vec<u32> = Vec::new();
    for s in seen_c.values().chain(seen_a.values()) {
        received += s.received;
        for d in &s.delays {
            delays.push(*d);
            added.push(d.saturating_sub(s.min_delay_ns as u32));
        }
    }
    delays.sort_unstable();
    added.sort_unstable();
    let q = |v: &[u32], p: f64| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        v[((v.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
    };
    println!(
        "bridged streams       {} caller->agent, {} agent->caller, measured {} s",
        seen_a.len(),
        seen_c.len(),
        a.measure
    );
    // Loss over the streams that were bridged (a caller whose call found no agent hears
    // the queue, not a relay): every one of them was sent every measured tick.
    let sent_measured = ticks_measured * (seen_a.len() + seen_c.len()) as u64;
    println!("packets sent          {sent_measured} on the bridged streams");
    println!(
        "packets received      {received} (lost {}: {:.2e})",
        sent_measured.saturating_sub(received),
        sent_measured.saturating_sub(received) as f64 / sent_measured.max(1) as f64
    );
    println!(
        "one-way delay through the engine: p50 {:.0} us, p99 {:.0} us, max {:.0} us",
        q(&delays, 0.5),
        q(&delays, 0.99),
        q(&delays, 1.0)
    );
    println!(
        "added jitter (delay above each stream's minimum): p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us",
        q(&added, 0.5),
        q(&added, 0.99),
        q(&added, 0.999)
    );
    if let (Some((t0, _)), Some((t1, rss)), Some((_, rss0))) = (cpu_at_start, usage_at_end, idle) {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let cpu = (t1 - t0) as f64 / hz;
        println!(
            "engine CPU while measuring: {:.2} s of {} s ({:.0} % of its core), {:.2} us per forwarded packet",
            cpu,
            a.measure,
            100.0 * cpu / a.measure as f64,
            cpu * 1e6 / received.max(1) as f64
        );
        println!(
            "engine memory: {} MiB resident, {} KiB more than idle: {:.1} KiB per bridged call",
            rss / 1024,
            rss.saturating_sub(rss0),
            rss.saturating_sub(rss0) as f64 / seen_a.len().max(1) as f64
        );
    }
}
