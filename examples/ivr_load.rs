//! IVR load generator and RTP pacing meter: places N calls to the hospital number through
//! the digest challenge, keeps every caller listening to the IVR, and measures at the
//! receiving side how evenly each stream's packets arrive (deviation of each inter-arrival
//! gap from 20 ms) and how many packets are missing (sequence gaps).
//!
//!     cargo run --release --example ivr_load -- --engine 127.0.0.1:5060 --calls 3000
//!
//! `bench/ivr.sh` runs it pinned to one core against the engine pinned to the other.
#![allow(
    clippy::disallowed_methods,
    reason = "a load tool: it paces traffic and measures in real time"
)]

#[path = "common/mod.rs"]
mod common;

use common::{call_index, Answer, Caller, Sip};
use sb_sip_msg::{parse_datagram, Message};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

struct Args {
    engine: SocketAddr,
    calls: usize,
    rate: u32,
    measure: u64,
    base_port: u16,
}

fn args() -> Args {
    let mut a = Args {
        engine: "127.0.0.1:5060".parse().expect("addr"),
        calls: 3000,
        rate: 200,
        measure: 10,
        base_port: 40_000,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    for w in v.chunks(2) {
        let val = w.get(1).map(String::as_str).unwrap_or_default();
        match w[0].as_str() {
            "--engine" => a.engine = val.parse().expect("--engine IP:PORT"),
            "--calls" => a.calls = val.parse().expect("--calls N"),
            "--rate" => a.rate = val.parse().expect("--rate CALLS_PER_SECOND"),
            "--measure" => a.measure = val.parse().expect("--measure SECONDS"),
            "--base-port" => a.base_port = val.parse().expect("--base-port PORT"),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// Gap deviations in 10 µs buckets, up to 20 ms.
#[derive(Default)]
struct Stats {
    short: u64,
    long: u64,
    hist: Vec<u64>,
    packets: u64,
    lost: u64,
    max_dev_us: u64,
}

impl Stats {
    fn add_gap(&mut self, gap: Duration) {
        if gap < Duration::from_millis(10) {
            self.short += 1;
        } else if gap > Duration::from_millis(30) {
            self.long += 1;
        }
        let dev = (gap.as_micros() as i64 - 20_000).unsigned_abs();
        if self.hist.is_empty() {
            self.hist = vec![0; 2001];
        }
        self.hist[(dev / 10).min(2000) as usize] += 1;
        self.max_dev_us = self.max_dev_us.max(dev);
    }

    fn merge(&mut self, o: &Stats) {
        if self.hist.is_empty() {
            self.hist = vec![0; 2001];
        }
        for (a, b) in self.hist.iter_mut().zip(&o.hist) {
            *a += b;
        }
        self.packets += o.packets;
        self.short += o.short;
        self.long += o.long;
        self.lost += o.lost;
        self.max_dev_us = self.max_dev_us.max(o.max_dev_us);
    }

    fn quantile_us(&self, q: f64) -> u64 {
        let total: u64 = self.hist.iter().sum();
        let want = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, c) in self.hist.iter().enumerate() {
            seen += c;
            if seen >= want {
                return i as u64 * 10;
            }
        }
        self.max_dev_us
    }
}

/// One RTP receiver: a non-blocking socket with kernel receive timestamps, so the
/// measurement does not depend on when this program gets round to reading.
struct Receiver {
    sock: std::net::UdpSocket,
    last: Option<(i128, u16)>,
    stats: Stats,
}

impl Receiver {
    fn new(port: u16) -> Receiver {
        let sock = std::net::UdpSocket::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("RTP port {port}: {e}"));
        sock.set_nonblocking(true).expect("nonblocking");
        let one: libc::c_int = 1;
        // SAFETY: a valid socket, a valid pointer to an int option of the size given.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&sock),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                &one as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "SO_TIMESTAMPNS");
        Receiver {
            sock,
            last: None,
            stats: Stats::default(),
        }
    }

    /// Reads every queued packet; returns how many.
    fn drain(&mut self, measuring: bool) -> usize {
        let mut n = 0;
        while let Some((ns, seq)) = recv_stamped(&self.sock) {
            n += 1;
            if measuring {
                self.stats.packets += 1;
                if let Some((t, s)) = self.last {
                    let step = seq.wrapping_sub(s);
                    if step == 1 {
                        self.stats
                            .add_gap(Duration::from_nanos((ns - t).max(0) as u64));
                    } else if step > 1 && step < 1000 {
                        self.stats.lost += (step - 1) as u64;
                    }
                }
            }
            self.last = Some((ns, seq));
        }
        n
    }
}

/// One datagram with its kernel arrival time in nanoseconds, or `None` when none is queued.
fn recv_stamped(sock: &std::net::UdpSocket) -> Option<(i128, u16)> {
    let mut buf = [0u8; 512];
    let mut cmsg = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; every pointer set below outlives the recvmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&cmsg) as _;
    // SAFETY: a valid socket and a msghdr whose buffers are live and sized as declared.
    let n = unsafe {
        libc::recvmsg(
            std::os::fd::AsRawFd::as_raw_fd(sock),
            &mut msg,
            libc::MSG_DONTWAIT,
        )
    };
    if n < 12 {
        return None;
    }
    let seq = u16::from_be_bytes([buf[2], buf[3]]);
    let mut ns = None;
    // SAFETY: walking the control messages the kernel wrote into `cmsg`, as CMSG_* define.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                ns = Some(ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Some((ns?, seq))
}

fn main() {
    let a = args();
    // The media ports first: the SIP socket's ephemeral port could be one of them.
    let mut rx: Vec<Receiver> = (0..a.calls)
        .map(|i| Receiver::new(a.base_port + 2 * i as u16))
        .collect();
    let sip = Sip::bind(a.engine);
    let caller = Caller {
        sip: &sip,
        number: "8000",
    };
    let start = Instant::now();
    let (mut answered, mut failed, mut sent) = (0usize, 0usize, 0usize);
    let mut pending: HashMap<usize, u32> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    let mut last_drain = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / a.rate as f64);
    let setup_deadline = start + Duration::from_secs(a.calls as u64 / a.rate as u64 + 30);
    while answered + failed < a.calls && Instant::now() < setup_deadline {
        while sent < a.calls && Instant::now() >= start + interval * sent as u32 {
            caller.invite(sent, 1, a.base_port + 2 * sent as u16, None);
            pending.insert(sent, 1);
            sent += 1;
        }
        // Keep the RTP queues short while calls are being set up, but not at the cost of
        // the SIP answers: 3,000 sockets take milliseconds to go round.
        if last_drain.elapsed() >= Duration::from_millis(20) {
            for r in rx.iter_mut() {
                r.drain(false);
            }
            last_drain = Instant::now();
        }
        // Every answer waiting (up to a round's worth), not one per round: one per round
        // fell behind at 300 calls/s.
        for _ in 0..256 {
            let Ok((n, _)) = sip.sock.recv_from(&mut buf) else {
                break;
            };
            let Ok(Some(Message::Response(r))) = parse_datagram(&buf[..n]) else {
                continue;
            };
            let Some(i) = call_index(&r.core.call_id) else {
                continue;
            };
            match caller.on_answer(&r, i, &mut pending, a.base_port + 2 * i as u16) {
                Answer::Answered => answered += 1,
                Answer::Failed => failed += 1,
                Answer::Nothing => {}
            }
        }
    }
    println!(
        "calls answered        {answered} of {} ({failed} refused) in {:.1} s",
        a.calls,
        start.elapsed().as_secs_f64()
    );
    // Let the streams settle, then measure: poll every socket in turn; the kernel's
    // timestamps, not this loop, say when each packet arrived.
    let settle = Instant::now() + Duration::from_secs(2);
    while Instant::now() < settle {
        for r in rx.iter_mut() {
            r.drain(false);
        }
    }
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(a.measure) {
        for r in rx.iter_mut() {
            r.drain(true);
        }
    }
    let mut st = Stats::default();
    for r in &rx {
        st.merge(&r.stats);
    }
    let expected = answered as u64 * a.measure * 50;
    println!(
        "measured              {} s, {} streams",
        a.measure, answered
    );
    println!(
        "packets received      {} (a stream every 20 ms would be {expected})",
        st.packets
    );
    println!("packets lost          {} (sequence gaps)", st.lost);
    println!(
        "gaps under 10 ms      {}, over 30 ms: {}",
        st.short, st.long
    );
    println!(
        "gap deviation from 20 ms: p50 {} us, p99 {} us, p99.9 {} us, max {} us",
        st.quantile_us(0.5),
        st.quantile_us(0.99),
        st.quantile_us(0.999),
        st.max_dev_us
    );
}
