//! Full-path call load: patients' calls placed at a steady rate through everything a real
//! call goes through (INVITE through the digest challenge, the greeting, a menu digit sent
//! as RFC 4733, the queue, the offer to an agent who answers, RTP relayed both ways, BYE),
//! each checked end to end. A call counts as completed only if the caller heard the
//! greeting, the agent heard the caller's stream and the caller the agent's, and both BYEs
//! were answered; anything else is a failure with its reason.
//!
//!     cargo run --release --example call_load -- --engine 127.0.0.1:5060 --rate 1000 \
//!         --duration 10 --hold 200 --agents 2000 --first-agent 3000 --number 8100
//!
//! `bench/calls.sh` writes the configuration (agents, a queue, a menu flow) and runs it
//! pinned to one core against the engine pinned to the other.
#![allow(
    clippy::disallowed_methods,
    reason = "a load tool: it paces traffic and measures in real time"
)]

#[path = "common/mod.rs"]
mod common;

use common::{
    audio_port, big_buffers, call_index, drain, marked, proc_usage, quantile_ms, sdp, send_digit,
    send_tick, socket_drops, steal_report, steal_ticks, thread_split, Caller, Sip, Stream,
};
use sb_sip_msg::{parse_datagram, Message, Method};
use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Agents' stream ids start here; below are the callers' (the call's index).
const AGENT_IDS: u32 = 1_000_000;
/// RFC 3261 timers T1 and T2.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

struct Args {
    engine: SocketAddr,
    rate: u32,
    duration: u64,
    hold: u64,
    agents: u32,
    first_agent: u32,
    number: String,
    engine_pid: Option<u32>,
}

fn args() -> Args {
    let mut a = Args {
        engine: "127.0.0.1:5060".parse().expect("addr"),
        rate: 1000,
        duration: 10,
        hold: 200,
        agents: 2000,
        first_agent: 3000,
        number: "8100".into(),
        engine_pid: None,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    for w in v.chunks(2) {
        let val = w.get(1).map(String::as_str).unwrap_or_default();
        match w[0].as_str() {
            "--engine" => a.engine = val.parse().expect("--engine IP:PORT"),
            "--rate" => a.rate = val.parse().expect("--rate CALLS_PER_SECOND"),
            "--duration" => a.duration = val.parse().expect("--duration SECONDS"),
            "--hold" => a.hold = val.parse().expect("--hold MS"),
            "--agents" => a.agents = val.parse().expect("--agents N"),
            "--first-agent" => a.first_agent = val.parse().expect("--first-agent EXTENSION"),
            "--number" => a.number = val.to_string(),
            "--engine-pid" => a.engine_pid = Some(val.parse().expect("--engine-pid PID")),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// One patient's call as this side sees it.
#[derive(Default)]
struct Call {
    invited: Option<Instant>,
    with_credentials: Option<Instant>,
    /// The credentials of the second INVITE, to send it again.
    auth: String,
    /// The request awaiting a response: when to send it again and the interval after
    /// that (RFC 3261 §17.1: T1 doubling; a non-INVITE at most T2), as a phone would.
    retry: Option<(Instant, Duration)>,
    answered: Option<Instant>,
    to: String,
    greeted: Option<Instant>,
    digit: Option<Instant>,
    /// The agent's stream reached the caller.
    bridged: Option<Instant>,
    /// The caller's stream reached the agent.
    heard_by_agent: bool,
    bye: Option<Instant>,
    outcome: Option<Result<(), String>>,
}

fn main() {
    let a = args();
    let sip = Sip::bind(a.engine);
    let phone = Caller {
        sip: &sip,
        number: &a.number,
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
    let idle = a.engine_pid.and_then(proc_usage);

    let agents: Vec<String> = (0..a.agents)
        .map(|k| (a.first_agent + k).to_string())
        .collect();
    let t = Instant::now();
    let registered = sip.register_agents(&agents);
    println!(
        "agents registered     {registered} of {} in {:.1} s",
        agents.len(),
        t.elapsed().as_secs_f64()
    );
    sip.sock.set_nonblocking(true).expect("nonblocking sip");

    let total = (a.rate as u64 * a.duration) as usize;
    let mut calls: Vec<Call> = (0..total).map(|_| Call::default()).collect();
    // The callers' streams by call index; the agents' by leg.
    let mut callers: Vec<Stream> = Vec::with_capacity(total);
    let mut by_engine_port: HashMap<u16, usize> = HashMap::new();
    let mut agent_streams: Vec<Stream> = Vec::new();
    let mut legs: HashMap<String, usize> = HashMap::new();
    let (mut offers, mut agent_byes, mut retransmitted) = (0u64, 0u64, 0u64);
    let mut active: Vec<usize> = Vec::new();
    let interval = Duration::from_secs_f64(1.0 / a.rate.max(1) as f64);
    let mut buf = vec![0u8; 65_536];
    let start = Instant::now();
    let cpu0 = a.engine_pid.and_then(proc_usage);
    let split0 = a.engine_pid.and_then(thread_split);
    let steal0 = steal_ticks();
    let mut split1 = None;
    let give_up = start + Duration::from_secs(a.duration + 30);
    let mut placed = 0usize;
    let mut next_tick = start;
    let hold = Duration::from_millis(a.hold);
    let mut cpu1 = None;
    loop {
        let now = Instant::now();
        while placed < total && now >= start + interval * placed as u32 {
            calls[placed].invited = Some(now);
            calls[placed].retry = Some((now + T1, T1));
            phone.invite(placed, 1, cport, None);
            active.push(placed);
            placed += 1;
        }
        if placed == total && cpu1.is_none() {
            cpu1 = a.engine_pid.and_then(proc_usage);
            split1 = a.engine_pid.and_then(thread_split);
        }
        // SIP: the callers' responses, the engine's requests to the agents.
        while let Ok((n, _)) = sip.sock.recv_from(&mut buf) {
            match parse_datagram(&buf[..n]) {
                Ok(Some(Message::Response(r))) => {
                    let Some(i) = call_index(&r.core.call_id) else {
                        continue;
                    };
                    let Some(c) = calls.get_mut(i) else { continue };
                    let cseq = r.core.cseq.seq;
                    // Any response to what is outstanding stops its retransmission.
                    let outstanding = match (c.bye.is_some(), c.with_credentials.is_some()) {
                        (true, _) => 3,
                        (false, true) => 2,
                        (false, false) => 1,
                    };
                    if cseq == outstanding {
                        c.retry = None;
                    }
                    match (r.status, cseq) {
                        (100..=199, _) => {}
                        (401, 1) if c.with_credentials.is_none() => {
                            phone.ack(i, 1, &r.core.to.to_string());
                            let auth = phone
                                .credentials(r.headers.get("WWW-Authenticate").unwrap_or_default());
                            c.with_credentials = Some(Instant::now());
                            c.retry = Some((Instant::now() + T1, T1));
                            phone.invite(i, 2, cport, Some(&auth));
                            c.auth = auth;
                        }
                        (200, 2) if r.core.cseq.method == Method::Invite => {
                            c.to = r.core.to.to_string();
                            phone.ack(i, 2, &c.to);
                            if c.answered.is_none() {
                                c.answered = Some(Instant::now());
                                if let Some(port) = audio_port(&r.body) {
                                    by_engine_port.insert(port, i);
                                    while callers.len() <= i {
                                        let id = callers.len() as u32;
                                        let mut s =
                                            Stream::new(id, SocketAddr::from(([127, 0, 0, 1], 9)));
                                        s.live = false;
                                        callers.push(s);
                                    }
                                    callers[i].to = SocketAddr::from(([127, 0, 0, 1], port));
                                    callers[i].live = true;
                                }
                            }
                        }
                        (200, 3) if c.outcome.is_none() => {
                            c.outcome = Some(if c.bridged.is_some() && c.heard_by_agent {
                                Ok(())
                            } else if c.bridged.is_some() {
                                Err("the agent never heard the caller".into())
                            } else {
                                Err("hung up before the bridge".into())
                            });
                        }
                        // The 401 again (our ACK was late): ACK it again, nothing more.
                        (401, 1) => phone.ack(i, 1, &r.core.to.to_string()),
                        (s, 1 | 2) if s >= 300 => {
                            c.outcome.get_or_insert(Err(format!("refused with {s}")));
                        }
                        _ => {}
                    }
                }
                Ok(Some(Message::Request(req))) => match req.method {
                    Method::Invite => {
                        let Some(port) = audio_port(&req.body) else {
                            sip.respond(&req, 488, None);
                            continue;
                        };
                        sip.respond(&req, 200, Some(sdp(aport)));
                        if !legs.contains_key(&req.core.call_id) {
                            offers += 1;
                            let id = AGENT_IDS + agent_streams.len() as u32;
                            legs.insert(req.core.call_id.clone(), agent_streams.len());
                            agent_streams
                                .push(Stream::new(id, SocketAddr::from(([127, 0, 0, 1], port))));
                        }
                    }
                    Method::Ack => {}
                    Method::Bye => {
                        sip.respond(&req, 200, None);
                        if let Some(k) = legs.get(&req.core.call_id) {
                            if std::mem::replace(&mut agent_streams[*k].live, false) {
                                agent_byes += 1;
                            }
                        }
                    }
                    _ => sip.respond(&req, 200, None),
                },
                _ => {}
            }
        }
        // Media: the greeting and then the agent at the callers; the callers at the agents.
        let now = Instant::now();
        drain(&callers_rtp, |from, bytes, _| {
            let Some(&i) = by_engine_port.get(&from.port()) else {
                return;
            };
            let c = &mut calls[i];
            match marked(bytes) {
                Some((id, _, _)) if id >= AGENT_IDS => {
                    c.bridged.get_or_insert(now);
                }
                Some(_) => {}
                None => {
                    if c.greeted.is_none() {
                        c.greeted = Some(now);
                        c.digit = Some(now);
                        send_digit(&callers_rtp, &mut callers[i], 2);
                    }
                }
            }
        });
        drain(&agents_rtp, |_, bytes, _| {
            if let Some((id, _, _)) = marked(bytes) {
                if let Some(c) = calls.get_mut(id as usize) {
                    c.heard_by_agent = true;
                }
            }
        });
        if now >= next_tick {
            next_tick += Duration::from_millis(20);
            send_tick(&callers_rtp, &mut callers, false);
            send_tick(&agents_rtp, &mut agent_streams, false);
            // Each call's next step or its failure.
            active.retain(|&i| {
                let c = &mut calls[i];
                if c.outcome.is_none() {
                    let since = |t: Option<Instant>| t.map(|t| now.saturating_duration_since(t));
                    let late = |t: Option<Instant>, s: u64| {
                        since(t).is_some_and(|d| d > Duration::from_secs(s))
                    };
                    if c.answered.is_none() && late(c.invited, 8) {
                        c.outcome = Some(Err("no answer".into()));
                    } else if c.greeted.is_none() && late(c.answered, 4) {
                        c.outcome = Some(Err("no greeting".into()));
                    } else if c.bridged.is_none() && late(c.digit, 15) {
                        c.outcome = Some(Err("no agent within 15 s".into()));
                    } else if c.bye.is_some() && late(c.bye, 4) {
                        c.outcome = Some(Err("BYE unanswered".into()));
                    } else if c.bye.is_none() && since(c.bridged).is_some_and(|d| d >= hold) {
                        c.bye = Some(now);
                        c.retry = Some((now + T1, T1));
                        phone.bye(i, &c.to);
                    }
                    if c.outcome.is_some() && c.answered.is_some() && c.bye.is_none() {
                        c.bye = Some(now);
                        phone.bye(i, &c.to);
                    }
                    if let Some((at, every)) = c.retry.filter(|(at, _)| *at <= now) {
                        if c.bye.is_some() {
                            phone.bye(i, &c.to);
                            c.retry = Some((at + every, (every * 2).min(T2)));
                        } else if c.with_credentials.is_some() {
                            phone.invite(i, 2, cport, Some(&c.auth));
                            c.retry = Some((at + every, every * 2));
                        } else {
                            phone.invite(i, 1, cport, None);
                            c.retry = Some((at + every, every * 2));
                        }
                        retransmitted += 1;
                    }
                }
                if c.outcome.is_some() {
                    if let Some(s) = callers.get_mut(i) {
                        s.live = false;
                    }
                    false
                } else {
                    true
                }
            });
        }
        if placed == total && active.is_empty() || now >= give_up {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let stolen = steal_report(&steal0, &steal_ticks(), elapsed);

    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    let mut done = 0usize;
    let (mut setup, mut greet, mut to_agent, mut whole) = (vec![], vec![], vec![], vec![]);
    let us = |a: Option<Instant>, b: Option<Instant>| -> Option<u64> {
        Some(b?.saturating_duration_since(a?).as_micros() as u64)
    };
    for c in &calls {
        match &c.outcome {
            Some(Ok(())) => {
                done += 1;
                setup.extend(us(c.with_credentials, c.answered));
                greet.extend(us(c.answered, c.greeted));
                to_agent.extend(us(c.digit, c.bridged));
                whole.extend(us(c.invited, c.bridged));
            }
            Some(Err(why)) => *failures.entry(why.clone()).or_default() += 1,
            None => *failures.entry("unfinished".into()).or_default() += 1,
        }
    }
    for v in [&mut setup, &mut greet, &mut to_agent, &mut whole] {
        v.sort_unstable();
    }
    println!(
        "calls                 {total} placed at {} per second over {} s (hold {} ms bridged)",
        a.rate, a.duration, a.hold
    );
    println!(
        "completed             {done} ({:.0} per second of placing); failed {}: {failures:?}",
        done as f64 / a.duration.max(1) as f64,
        total - done
    );
    println!("agent offers          {offers} answered, {agent_byes} ended by the engine's BYE");
    println!("requests sent again   {retransmitted} (no response within T1, doubling)");
    println!("CPU the hypervisor took during the run: {stolen}");
    println!(
        "datagrams dropped by full sockets: engine's SIP {}; this tool's SIP {}, callers' RTP {}, agents' RTP {}",
        socket_drops(a.engine.port()),
        socket_drops(sip.local.port()),
        socket_drops(cport),
        socket_drops(aport)
    );
    let line = |name: &str, v: &[u64]| {
        println!(
            "{name:<22}p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            quantile_ms(v, 0.5),
            quantile_ms(v, 0.99),
            quantile_ms(v, 1.0)
        )
    };
    line("set-up (auth INVITE)", &setup);
    line("answer to greeting", &greet);
    line("digit to agent media", &to_agent);
    line("INVITE to agent media", &whole);
    if let (Some((t0, _)), Some((t1, rss)), Some((_, rss0))) = (cpu0, cpu1, idle) {
        let cpu = (t1 - t0) as f64 / common::ticks_per_second();
        let placing = (a.duration as f64).min(elapsed);
        println!(
            "engine process CPU while placing: {cpu:.2} s in {placing:.0} s ({:.0} % of one core); {} MiB resident ({} KiB above idle)",
            100.0 * cpu / placing,
            rss / 1024,
            rss.saturating_sub(rss0)
        );
    }
    if let (Some((m0, r0)), Some((m1, r1))) = (split0, split1) {
        let hz = common::ticks_per_second();
        let placing = a.duration as f64;
        println!(
            "  of which the engine's main thread (SIP, media, ACD) {:.0} %, the call-record writer and SQLite {:.0} %",
            100.0 * (m1 - m0) as f64 / hz / placing,
            100.0 * (r1 - r0) as f64 / hz / placing
        );
    }
}
