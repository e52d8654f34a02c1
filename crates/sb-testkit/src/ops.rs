//! Operation-sequence driving of the engine (as quinn fuzzes its endpoint): a source of
//! choices, seeded or a fuzzer's bytes, picks what happens next from what patients' and
//! agents' phones, strangers and the control API do, on virtual time; after every step the
//! engine's tables must agree with each other, and at the end every call that started
//! has ended (and so has its record).

use super::*;
use sb_engine::{CallAction, CallId, Control, EngineEvent};
use sb_sip::digest::answer_challenge;
use sb_sip_msg::{Message, Method, Request};

/// Where the choices come from.
pub trait Choices {
    /// The next choice, below `n` (n > 0); 0 once the source is spent.
    fn pick(&mut self, n: usize) -> usize;
    fn spent(&self) -> bool;
}

/// A seeded generator (splitmix64) giving `steps` choices' worth of operations.
pub struct Seeded {
    state: u64,
    left: usize,
}

impl Seeded {
    pub fn new(seed: u64, steps: usize) -> Seeded {
        Seeded {
            state: seed,
            left: steps,
        }
    }
}

impl Choices for Seeded {
    fn pick(&mut self, n: usize) -> usize {
        self.left = self.left.saturating_sub(1);
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }

    fn spent(&self) -> bool {
        self.left == 0
    }
}

/// A fuzzer's bytes, one or two per choice.
pub struct Bytes<'a>(pub &'a [u8]);

impl Choices for Bytes<'_> {
    fn pick(&mut self, n: usize) -> usize {
        let take = if n > 256 { 2 } else { 1 };
        let (head, rest) = self.0.split_at(take.min(self.0.len()));
        self.0 = rest;
        let v = head.iter().fold(0usize, |a, b| a << 8 | usize::from(*b));
        v % n
    }

    fn spent(&self) -> bool {
        self.0.is_empty()
    }
}

/// A patient's call as its phone knows it.
struct PatientCall {
    call_id: String,
    to_tag: Option<String>,
    cseq: u32,
    rtp_seq: u16,
}

const OFFERS: [&str; 5] = [
    OFFER_4733,
    OFFER_PLAIN,
    "",
    "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 7000 RTP/AVP 18\n",
    "not sdp at all",
];

const AGENTS: [(&str, &str); 3] = [
    ("1003", "127.0.0.1:6003"),
    ("1004", "127.0.0.1:6004"),
    ("2001", "127.0.0.1:6005"),
];

const NUMBERS: [&str; 8] = [
    "8000", "8000", "8000", "8001", "1003", "2000", "6002", "9999",
];

pub struct Driver {
    pub s: Sim,
    calls: Vec<PatientCall>,
    next: u32,
    nc: u32,
    registered: std::collections::HashSet<&'static str>,
}

impl Default for Driver {
    fn default() -> Self {
        Driver::new()
    }
}

impl Driver {
    pub fn new() -> Driver {
        Driver::over(None)
    }

    /// A driver whose phones reach the engine over `link` (lossy, duplicating).
    pub fn over(link: Option<Link>) -> Driver {
        let mut s = Sim::new(MONDAY + 10 * 3600);
        s.link = link;
        Driver {
            s,
            calls: Vec::new(),
            next: 0,
            nc: 100,
            registered: std::collections::HashSet::new(),
        }
    }

    /// Runs operations until the choices are spent, checking the invariants after each;
    /// then ends what is left and checks that every call ended.
    pub fn run(&mut self, c: &mut dyn Choices) -> Result<(), String> {
        let mut step = 0;
        while !c.spent() {
            let op = c.pick(24);
            self.step(op, c);
            step += 1;
            self.s
                .engine
                .check_invariants()
                .map_err(|e| format!("after step {step} (op {op}): {e}"))?;
        }
        self.finish()
    }

    fn step(&mut self, op: usize, c: &mut dyn Choices) {
        // Weighted towards what takes calls deep (menus, queues, answers, transfers).
        match op {
            0..=2 => self.new_call(c),
            3 => self.in_call(c, "ACK"),
            4 => self.in_call(c, "BYE"),
            5 => self.cancel(c),
            6..=8 => self.in_call(c, "INFO"),
            9 => self.in_call(c, "INVITE"),
            10 | 11 => self.patient_rtp(c),
            12 => self.stranger_rtp(c),
            13 | 14 => {
                let ms = [20, 100, 1000, 5000, 30_000][c.pick(5)];
                self.s.advance(ms);
            }
            15 => {
                let (user, at) = AGENTS[c.pick(AGENTS.len())];
                self.register(user, at);
            }
            16..=18 => self.agent_answers(c),
            19 | 20 => self.agent_in_leg(c),
            21 | 22 => self.control(c),
            _ => {
                // Bytes that may not be SIP at all.
                let junk: Vec<u8> = (0..c.pick(64)).map(|_| c.pick(256) as u8).collect();
                self.s
                    .engine
                    .handle_datagram(self.s.clock.now(), &junk, Peer::udp(addr(PHONE)));
                self.s.pump();
            }
        }
    }

    fn pick_call<'a>(&'a mut self, c: &mut dyn Choices) -> Option<&'a mut PatientCall> {
        if self.calls.is_empty() {
            return None;
        }
        let i = c.pick(self.calls.len());
        self.calls.get_mut(i)
    }

    fn new_call(&mut self, c: &mut dyn Choices) {
        self.next += 1;
        let call_id = format!("ops-{}", self.next);
        let number = NUMBERS[c.pick(NUMBERS.len())];
        let sdp = OFFERS[c.pick(OFFERS.len())];
        let invite = |auth: &str, cseq: u32| {
            let body = sdp.replace('\n', "\r\n");
            format!("INVITE sip:{number}@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {PHONE};branch=z9hG4bK{call_id}-{cseq};rport\nFrom: <sip:1001@127.0.0.1>;tag=p{call_id}\nTo: <sip:{number}@127.0.0.1>\nCall-ID: {call_id}\nCSeq: {cseq} INVITE\nContact: <sip:1001@{PHONE}>\nMax-Forwards: 70\n{auth}Content-Type: application/sdp\nContent-Length: {}\n\n{body}", body.len())
        };
        self.s.send(&invite("", 1));
        if c.pick(8) == 0 {
            return; // gave up at the challenge
        }
        let Some(ch) = self.s.inbox.iter().rev().find_map(|m| match m {
            Message::Response(r) if r.core.call_id == call_id && r.status == 401 => {
                r.headers.get("WWW-Authenticate").map(str::to_string)
            }
            _ => None,
        }) else {
            return;
        };
        self.nc += 1;
        let uri = format!("sip:{number}@127.0.0.1");
        let Some(auth) = answer_challenge(&ch, "1001", "demo-1001", "INVITE", &uri, self.nc, "c")
        else {
            return;
        };
        self.s.send(&invite(&format!("Authorization: {auth}\n"), 2));
        let to_tag = self.s.inbox.iter().rev().find_map(|m| match m {
            Message::Response(r) if r.core.call_id == call_id && r.status >= 200 => {
                r.core.to.tag().map(str::to_string)
            }
            _ => None,
        });
        self.calls.push(PatientCall {
            call_id,
            to_tag,
            cseq: 2,
            rtp_seq: 1,
        });
    }

    fn in_call(&mut self, c: &mut dyn Choices, method: &str) {
        let body_pick = c.pick(4);
        let digit = "2221100345*#".chars().nth(c.pick(12)).unwrap_or('1');
        let Some(call) = self.pick_call(c) else {
            return;
        };
        // A later response (a 200 after ringing) may have brought the tag.
        let Some(tag) = call.to_tag.clone() else {
            return;
        };
        let (ct, body) = match (method, body_pick) {
            ("INFO", _) => ("application/dtmf-relay", format!("Signal={digit}\r\n")),
            ("ACK" | "INVITE", 0) => ("application/sdp", OFFER_PLAIN.replace('\n', "\r\n")),
            ("ACK" | "INVITE", 1) => (
                "application/sdp",
                OFFER_PLAIN
                    .replace("sendrecv", "sendonly")
                    .replace('\n', "\r\n")
                    + "a=sendonly\r\n",
            ),
            ("ACK" | "INVITE", 2) => ("application/sdp", "garbage".to_string()),
            _ => ("application/sdp", String::new()),
        };
        let cseq = if method == "ACK" {
            2
        } else {
            call.cseq += 1;
            call.cseq
        };
        let text = format!("{method} sip:8000@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {PHONE};branch=z9hG4bK{}{method}{cseq};rport\nFrom: <sip:1001@127.0.0.1>;tag=p{}\nTo: <sip:8000@127.0.0.1>;tag={tag}\nCall-ID: {}\nCSeq: {cseq} {method}\nMax-Forwards: 70\nContent-Type: {ct}\nContent-Length: {}\n\n{body}", call.call_id, call.call_id, call.call_id, body.len());
        self.s.send(&text);
    }

    fn cancel(&mut self, c: &mut dyn Choices) {
        let Some(call) = self.pick_call(c) else {
            return;
        };
        let id = call.call_id.clone();
        let text = format!("CANCEL sip:8000@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {PHONE};branch=z9hG4bK{id}-2;rport\nFrom: <sip:1001@127.0.0.1>;tag=p{id}\nTo: <sip:8000@127.0.0.1>\nCall-ID: {id}\nCSeq: 2 CANCEL\nMax-Forwards: 70\nContent-Length: 0\n\n");
        self.s.send(&text);
    }

    fn patient_rtp(&mut self, c: &mut dyn Choices) {
        let kind = c.pick(4);
        let ports: Vec<u16> = self.s.engine.live_ports();
        if ports.is_empty() {
            return;
        }
        let port = ports[c.pick(ports.len())];
        let Some(call) = self.pick_call(c) else {
            return;
        };
        call.rtp_seq = call.rtp_seq.wrapping_add(1);
        let seq = call.rtp_seq;
        let pkt = match kind {
            0 => rtp_packet(101, seq, 1000, &[c.pick(16) as u8, 0x8a, 0x03, 0x20]),
            1 => vec![0x80, 0, 0, 1],
            _ => rtp_packet(0, seq, 160 * u32::from(seq), &[0xFF; 160]),
        };
        self.s
            .engine
            .handle_rtp(self.s.clock.now(), port, addr(PHONE_RTP), &pkt);
        self.s.pump();
    }

    fn stranger_rtp(&mut self, c: &mut dyn Choices) {
        let ports: Vec<u16> = self.s.engine.live_ports();
        if ports.is_empty() {
            return;
        }
        let port = ports[c.pick(ports.len())];
        let from = ["127.0.0.1:7100", "203.0.113.9:5004", "127.0.0.1:7003"][c.pick(3)];
        let pkt = rtp_packet(c.pick(128) as u8, c.pick(65536) as u16, 0, &[0x55; 160]);
        self.s
            .engine
            .handle_rtp(self.s.clock.now(), port, addr(from), &pkt);
        self.s.pump();
    }

    fn register(&mut self, user: &'static str, at: &str) {
        if self.registered.insert(user) {
            register_agent(&mut self.s, user, at);
        }
    }

    /// The INVITEs the engine sent to agents' phones that no phone answered yet.
    fn offers(&self) -> Vec<Request> {
        self.s
            .inbox
            .iter()
            .filter_map(|m| match m {
                Message::Request(r) if r.method == Method::Invite => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    fn agent_answers(&mut self, c: &mut dyn Choices) {
        let offers = self.offers();
        if offers.is_empty() {
            return;
        }
        // Mostly the latest offers: the ones still ringing.
        let recent = offers.len().min(3);
        let inv = &offers[offers.len() - 1 - c.pick(recent)];
        let Some((user, at)) = AGENTS
            .iter()
            .find(|(u, _)| inv.uri.as_sip().and_then(|s| s.user.as_deref()) == Some(*u))
        else {
            return;
        };
        match c.pick(5) {
            0 => rings_at(&mut self.s, at, inv),
            1 | 2 => answers_at(&mut self.s, at, user, inv, AGENT_SDP),
            3 => answers_at(&mut self.s, at, user, inv, ""),
            _ => {
                let busy = sb_sip_msg::ResponseBuilder::new(inv, 486)
                    .to_tag("ag")
                    .build();
                self.s
                    .send_from(at, &String::from_utf8(busy.to_bytes()).unwrap_or_default());
            }
        }
    }

    fn agent_in_leg(&mut self, c: &mut dyn Choices) {
        let offers = self.offers();
        if offers.is_empty() {
            return;
        }
        let inv = offers[c.pick(offers.len())].clone();
        let Some((user, at)) = AGENTS
            .iter()
            .find(|(u, _)| inv.uri.as_sip().and_then(|s| s.user.as_deref()) == Some(*u))
        else {
            return;
        };
        let cseq = 10 + c.pick(1000) as u32;
        match c.pick(4) {
            0 => in_leg(&mut self.s, at, user, &inv, "BYE", cseq, "", ""),
            1 => in_leg(&mut self.s, at, user, &inv, "INVITE", cseq, "", AGENT_SDP),
            2 => {
                let target = ["1004", "2001", "6002", "7777"][c.pick(4)];
                let refer = format!("Refer-To: <sip:{target}@127.0.0.1>\n");
                in_leg(&mut self.s, at, user, &inv, "REFER", cseq, &refer, "");
            }
            _ => {
                // Feature keys as RFC 4733 end packets on whatever port the leg may have.
                let ports = self.s.engine.live_ports();
                if let Some(port) = ports.get(c.pick(ports.len().max(1))) {
                    let key = [10u8, 1, 2, 3, 4, 11, 5, 6][c.pick(8)];
                    let pkt = rtp_packet(101, cseq as u16, 9000, &[key, 0x8a, 0x03, 0x20]);
                    self.s
                        .engine
                        .handle_rtp(self.s.clock.now(), *port, addr(at), &pkt);
                    self.s.pump();
                }
            }
        }
    }

    fn control(&mut self, c: &mut dyn Choices) {
        if c.pick(4) == 0 {
            // A call placed from an agent's phone (registered or not) to another, to
            // itself, or to no extension.
            let (from, _) = AGENTS[c.pick(AGENTS.len())];
            let to = ["2001", "1004", "1003", "6002"][c.pick(4)];
            let now = self.s.clock.now();
            let _ = self.s.engine.place_call(now, from, to);
            self.s.pump();
            return;
        }
        let live = self.s.engine.live_calls();
        if live.is_empty() {
            return;
        }
        let id: CallId = live[c.pick(live.len())].id;
        let action = match c.pick(11) {
            0 => CallAction::Hold(true),
            1 => CallAction::Hold(false),
            2 => CallAction::Mute(true),
            3 => CallAction::Transfer("2001".into()),
            4 => CallAction::Consult("1004".into()),
            5 => CallAction::ConsultQueue("consultation".into()),
            6 => CallAction::Back,
            7 => CallAction::Swap,
            8 => CallAction::Complete,
            9 => CallAction::Join,
            _ => CallAction::HangUp,
        };
        let now = self.s.clock.now();
        let _ = self.s.engine.call_action(now, id, action, Control::Api);
        self.s.pump();
    }

    /// Ends what is left and checks that every call that started ended, once.
    fn finish(&mut self) -> Result<(), String> {
        let now = self.s.clock.now();
        self.s.engine.end_all_calls(now);
        self.s.pump();
        self.s.advance(60_000);
        self.s
            .engine
            .check_invariants()
            .map_err(|e| format!("after ending every call: {e}"))?;
        if self.s.engine.calls() != 0 {
            return Err(format!(
                "{} calls left after ending all",
                self.s.engine.calls()
            ));
        }
        let mut started = std::collections::BTreeMap::new();
        for e in &self.s.events {
            match e {
                EngineEvent::CallStarted { call, .. } if started.insert(*call, 0u32).is_some() => {
                    return Err(format!("{call} started twice"));
                }
                EngineEvent::CallEnded { call, .. } => match started.get_mut(call) {
                    Some(n) => *n += 1,
                    None => return Err(format!("{call} ended without starting")),
                },
                _ => {}
            }
        }
        match started.iter().find(|(_, n)| **n != 1) {
            Some((call, n)) => Err(format!("{call} ended {n} times")),
            None => Ok(()),
        }
    }
}
