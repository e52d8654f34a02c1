//! Bridged-call load generator and RTP analyser. Registers AGENTS agent phones (digest),
//! answers the engine's INVITEs to them, places CALLS patient calls to a queue number, and
//! once the calls are bridged sends RTP both ways (20 ms G.711 frames) and measures at each
//! receiver: packets lost, one-way delay through the engine, and the delay's variation
//! (added jitter). All callers share one RTP socket and all agents another; each phone
//! sends at its own phase of the 20 ms period (`sendmmsg` for the frames due together), and
//! frames arrive through `recvmmsg` with kernel receive timestamps (SO_TIMESTAMPNS), so the
//! tool's own scheduling does not colour the figures. Each payload carries a marker, its
//! stream, its index and its send time; the engine relays PCMU to PCMU untouched.
//!
//!     cargo run --release --example bridge_load -- --engine 127.0.0.1:5060 --calls 1500 \
//!         --first-agent 3000 --number 8100
//!
//! `bench/bridge.sh` writes the configuration (agents, a queue, a flow) and runs it pinned
//! to one core against the engine pinned to the other. With `--bare-relay FIRST_PORT` there
//! is no signalling: the streams go straight to `examples/bare_relay`'s port pairs, the
//! baseline the engine is compared with (`BARE=1 bench/bridge.sh`).
#![allow(
    clippy::disallowed_methods,
    reason = "a load tool: it paces traffic and measures in real time"
)]

#[path = "common/mod.rs"]
mod common;

use common::{
    audio_port, big_buffers, call_index, drain_up_to, marked, proc_usage, sdp, send_frames, Answer,
    Caller, Sip, Stream,
};
use sb_sip_msg::{parse_datagram, Message, Method};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

struct Args {
    engine: SocketAddr,
    calls: usize,
    rate: u32,
    measure: u64,
    first_agent: u32,
    number: String,
    /// The engine's process, to read its CPU time and memory around the measurement.
    engine_pid: Option<u32>,
    /// No engine: `examples/bare_relay` joins port pairs from this port (the baseline).
    bare_relay: Option<u16>,
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
        bare_relay: None,
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
            "--bare-relay" => a.bare_relay = Some(val.parse().expect("--bare-relay FIRST_PORT")),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// What a receiver saw of one stream.
#[derive(Default, Clone)]
struct Seen {
    received: u64,
    min_delay_ns: u64,
    delays: Vec<u32>,
}

/// Files the marked datagrams of `sock` under their stream with their one-way delay.
fn collect(sock: &UdpSocket, seen: &mut HashMap<u32, Seen>, measuring: bool) {
    collect_up_to(sock, seen, measuring, usize::MAX);
}

/// Datagrams read from each socket between two looks at the send schedule.
const RECV_SLICE: usize = 128;

/// `collect`, reading about `max` datagrams at most; returns how many it read.
fn collect_up_to(
    sock: &UdpSocket,
    seen: &mut HashMap<u32, Seen>,
    measuring: bool,
    max: usize,
) -> usize {
    drain_up_to(sock, max, |_, bytes, arrived| {
        let Some((id, index, sent)) = marked(bytes) else {
            return;
        };
        if !measuring || index == u32::MAX || arrived == 0 {
            return;
        }
        let delay = arrived.saturating_sub(sent);
        let s = seen.entry(id).or_default();
        s.received += 1;
        if s.received == 1 || delay < s.min_delay_ns {
            s.min_delay_ns = delay;
        }
        s.delays.push(delay.min(u32::MAX as u64) as u32);
    })
}

/// Which of `n` streams, spread evenly over each 20 ms period from `start`, are due.
struct Phases {
    start: Instant,
    n: usize,
    /// The next stream of this period.
    pos: usize,
    /// Whether this period's frames are measured.
    measuring: bool,
    /// Periods measured, each one frame of every stream.
    measured: u64,
    /// Measured frames that left more than 1 ms after their time (this tool fell behind
    /// and sent them in a burst, which the relay then queues), and the latest.
    late: u64,
    latest: Duration,
}

impl Phases {
    const PERIOD: Duration = Duration::from_millis(20);

    fn new(start: Instant, n: usize) -> Phases {
        Phases {
            start,
            n,
            pos: 0,
            measuring: false,
            measured: 0,
            late: 0,
            latest: Duration::ZERO,
        }
    }

    /// The streams due by `now`, as a range of indices; none once `stop` has passed.
    fn due(
        &mut self,
        now: Instant,
        measure_from: Instant,
        stop: Instant,
    ) -> std::ops::Range<usize> {
        if self.pos == self.n && now >= self.start + Self::PERIOD {
            self.start += Self::PERIOD;
            self.pos = 0;
        }
        if self.pos == 0 {
            if now < self.start || self.start >= stop {
                return 0..0;
            }
            self.measuring = self.start >= measure_from;
            self.measured += self.measuring as u64;
        }
        let into = now.saturating_duration_since(self.start).as_nanos();
        let end = ((into * self.n as u128 / Self::PERIOD.as_nanos()) as usize + 1).min(self.n);
        let due = self.pos..end.max(self.pos);
        if self.measuring {
            for k in due.clone() {
                let at = self.start + Self::PERIOD * k as u32 / self.n as u32;
                let late = now.saturating_duration_since(at);
                self.late += (late > Duration::from_millis(1)) as u64;
                self.latest = self.latest.max(late);
            }
        }
        self.pos = due.end;
        due
    }
}

/// Steps 1 and 2 against the engine: the agents register, the patients call, and each agent
/// answers the call it is offered. Returns the callers' streams and the agents'.
fn by_sip(
    a: &Args,
    sip: &Sip,
    callers_rtp: &UdpSocket,
    agents_rtp: &UdpSocket,
) -> (Vec<Stream>, Vec<Stream>) {
    let caller = Caller {
        sip,
        number: &a.number,
    };
    let (cport, aport) = (
        callers_rtp.local_addr().expect("a").port(),
        agents_rtp.local_addr().expect("a").port(),
    );
    let mut buf = vec![0u8; 65_536];

    // 1. Agents register (through the challenge).
    let agents: Vec<String> = (0..a.calls as u32)
        .map(|k| (a.first_agent + k).to_string())
        .collect();
    let start = Instant::now();
    let registered = sip.register_agents(&agents);
    println!(
        "agents registered     {} of {} in {:.1} s",
        registered,
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
            caller.invite(sent, 1, cport, None);
            pending.insert(sent, 1);
            sent += 1;
        }
        collect(callers_rtp, &mut seen_c, false);
        collect(agents_rtp, &mut seen_a, false);
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
                    let id = 1_000_000 + agent_streams.len() as u32;
                    agent_streams.push(Stream::new(id, SocketAddr::from(([127, 0, 0, 1], port))));
                }
                Method::Ack => {}
                _ => sip.respond(&req, 200, None),
            },
            Ok(Some(Message::Response(r))) => {
                let Some(i) = call_index(&r.core.call_id) else {
                    continue;
                };
                match caller.on_answer(&r, i, &mut pending, cport) {
                    Answer::Answered => {
                        if let Some(port) = audio_port(&r.body) {
                            caller_streams[i] = Some(Stream::new(
                                i as u32,
                                SocketAddr::from(([127, 0, 0, 1], port)),
                            ));
                        }
                        answered += 1;
                    }
                    Answer::Failed => failed += 1,
                    Answer::Nothing => {}
                }
            }
            _ => {}
        }
    }
    let callers: Vec<Stream> = caller_streams.into_iter().flatten().collect();
    println!(
        "calls answered        {answered} of {} ({failed} refused), agents answered {} in {:.1} s",
        a.calls,
        agent_streams.len(),
        setup_start.elapsed().as_secs_f64()
    );
    (callers, agent_streams)
}

/// Steps 1 and 2 against `bare_relay`: caller `i` sends to port `first + 4 i` and its
/// agent to the port after, the pair the relay joins.
fn bare_streams(ip: std::net::IpAddr, first: u16, calls: usize) -> (Vec<Stream>, Vec<Stream>) {
    let at = |k: usize| SocketAddr::new(ip, first + 2 * k as u16);
    let callers = (0..calls)
        .map(|i| Stream::new(i as u32, at(2 * i)))
        .collect();
    let agents = (0..calls)
        .map(|i| Stream::new(1_000_000 + i as u32, at(2 * i + 1)))
        .collect();
    println!("bare relay            {calls} pairs from port {first}, no signalling");
    (callers, agents)
}

fn main() {
    let a = args();
    let sip = Sip::bind(a.engine);
    let callers_rtp = UdpSocket::bind("127.0.0.1:0").expect("caller rtp");
    let agents_rtp = UdpSocket::bind("127.0.0.1:0").expect("agent rtp");
    for s in [&callers_rtp, &agents_rtp] {
        big_buffers(s);
        s.set_nonblocking(true).expect("nonblocking");
    }
    let idle = a.engine_pid.and_then(proc_usage);
    let mut steal_at_start = None;
    let (mut callers, mut agent_streams) = match a.bare_relay {
        Some(first) => bare_streams(a.engine.ip(), first, a.calls),
        None => by_sip(&a, &sip, &callers_rtp, &agents_rtp),
    };
    let mut seen_c: HashMap<u32, Seen> = HashMap::new();
    let mut seen_a: HashMap<u32, Seen> = HashMap::new();

    // 3. Media both ways: 2 s to settle (symmetric RTP learning, the bridge), then measure.
    // Each phone sends at its own phase of the 20 ms period, as independent phones do: the
    // callers' frames are spread evenly over it, the agents' too, half a period apart. (All
    // of them at one instant would measure how long a 3,000-packet burst takes to relay,
    // which real calls never send.)
    let tick = Duration::from_millis(20);
    let settle_until = Instant::now() + Duration::from_secs(2);
    let measure_until = settle_until + Duration::from_secs(a.measure);
    let mut caller_phases = Phases::new(Instant::now(), callers.len());
    let mut agent_phases = Phases::new(Instant::now() + tick / 2, agent_streams.len());
    let mut cpu_at_start = None;
    let mut own_at_start = None;
    let mut usage_at_end = None;
    let mut sip_buf = vec![0u8; 65_536];
    sip.sock.set_nonblocking(true).expect("nonblocking sip");
    while Instant::now() < measure_until + Duration::from_millis(500) {
        let now = Instant::now();
        let measuring = now >= settle_until && now < measure_until;
        if measuring && cpu_at_start.is_none() {
            cpu_at_start = a.engine_pid.and_then(proc_usage);
            own_at_start = proc_usage(std::process::id());
            steal_at_start = Some(common::steal_ticks());
        }
        if now >= measure_until && usage_at_end.is_none() {
            if let Some(s0) = &steal_at_start {
                println!(
                    "CPU the hypervisor took while measuring: {}",
                    common::steal_report(s0, &common::steal_ticks(), a.measure as f64)
                );
            }
        }
        if now >= measure_until && usage_at_end.is_none() {
            usage_at_end = a.engine_pid.and_then(proc_usage);
        }
        let due = caller_phases.due(now, settle_until, measure_until);
        send_frames(
            &callers_rtp,
            callers[due].iter_mut(),
            caller_phases.measuring,
        );
        let due = agent_phases.due(now, settle_until, measure_until);
        send_frames(
            &agents_rtp,
            agent_streams[due].iter_mut(),
            agent_phases.measuring,
        );
        // A little of each at a time, so that the sends above stay on schedule.
        let got = collect_up_to(&callers_rtp, &mut seen_c, true, RECV_SLICE)
            + collect_up_to(&agents_rtp, &mut seen_a, true, RECV_SLICE);
        // Keep-alives and the like from the engine.
        while let Ok((n, _)) = sip.sock.recv_from(&mut sip_buf) {
            if let Ok(Some(Message::Request(req))) = parse_datagram(&sip_buf[..n]) {
                if req.method != Method::Ack {
                    sip.respond(&req, 200, None);
                }
            }
        }
        if got == 0 {
            std::thread::sleep(Duration::from_micros(20));
        }
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
    let sent_measured =
        caller_phases.measured * seen_a.len() as u64 + agent_phases.measured * seen_c.len() as u64;
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
    println!(
        "this tool's lateness  {} of {} frames sent more than 1 ms late (latest {:.1} ms); its CPU {:.0} % of its core",
        caller_phases.late + agent_phases.late,
        sent_measured,
        caller_phases.latest.max(agent_phases.latest).as_secs_f64() * 1e3,
        match (own_at_start, proc_usage(std::process::id())) {
            (Some((t0, _)), Some((t1, _))) =>
                100.0 * (t1 - t0) as f64 / common::ticks_per_second() / a.measure as f64,
            _ => f64::NAN,
        }
    );
    if let (Some((t0, _)), Some((t1, rss)), Some((_, rss0))) = (cpu_at_start, usage_at_end, idle) {
        let cpu = (t1 - t0) as f64 / common::ticks_per_second();
        let who = if a.bare_relay.is_some() {
            "bare relay"
        } else {
            "engine"
        };
        println!(
            "{who} CPU while measuring: {:.2} s of {} s ({:.0} % of its core), {:.2} us per forwarded packet",
            cpu,
            a.measure,
            100.0 * cpu / a.measure as f64,
            cpu * 1e6 / received.max(1) as f64
        );
        println!(
            "{who} memory: {} MiB resident, {} KiB more than idle: {:.1} KiB per bridged call",
            rss / 1024,
            rss.saturating_sub(rss0),
            rss.saturating_sub(rss0) as f64 / seen_a.len().max(1) as f64
        );
    }
}
