//! The engine's simulation harness, used by every engine-level test, the record-keeping
//! tests, the control API tests and the `engine_ops` fuzzer: the sans-IO [`Engine`] driven
//! on virtual time ([`Sim`]), SIP in and out as bytes, RTP in and out as packets, the
//! repository's own configuration, dialplans and prompts. Scripted patients and agents
//! are helper functions over a `Sim`; [`ops`] drives the engine from a seeded generator or
//! a fuzzer's bytes.
//!
//! ```no_run
//! use sb_testkit::{Sim, MONDAY};
//! let mut s = Sim::new(MONDAY + 10 * 3600);
//! s.call("8000", sb_testkit::OFFER_PLAIN);
//! s.advance(1_000);
//! assert!(!s.nodes().is_empty(), "the IVR started");
//! ```

use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};
use sb_config::assets::{load_assets, AssetSource};
use sb_config::Source;
use sb_engine::{Engine, EngineConfig, EngineEvent, MediaRequest};
use sb_media::dtmf::Event as TelEvent;
use sb_media::negotiate::Codec;
use sb_sim::Clock;
use sb_sip::digest::answer_challenge;
use sb_sip::{Endpoint, EndpointConfig, Peer};
use sb_sip_msg::{parse_datagram, Message, Method, Request, Response};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-11-23 (Monday) 00:00 in Shanghai, as Unix time.
pub mod ops;

pub const MONDAY: i64 = 1_795_363_200;
pub const PHONE: &str = "127.0.0.1:6001";
pub const PHONE_RTP: &str = "127.0.0.1:7000";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// The shipped configuration and its dialplans and prompts, loaded once per process.
fn shipped() -> &'static (sb_config::Model, Arc<sb_engine::Assets>) {
    static SHIPPED: std::sync::OnceLock<(sb_config::Model, Arc<sb_engine::Assets>)> =
        std::sync::OnceLock::new();
    SHIPPED.get_or_init(|| {
        let text = std::fs::read_to_string(root().join("config/switchboard.toml")).expect("config");
        let model = sb_config::load(
            Source {
                name: "c".into(),
                text,
            },
            &[],
        )
        .expect("config");
        let assets = Arc::new(
            load_assets(&model, AssetSource::Dir(&root().join("config"))).expect("assets"),
        );
        (model, assets)
    })
}

pub struct Sim {
    pub clock: Clock,
    pub engine: Engine,
    pub assets: Arc<sb_engine::Assets>,
    pub inbox: Vec<Message>,
    pub rtp: Vec<(Instant, SocketAddr, Vec<u8>)>,
    pub events: Vec<EngineEvent>,
    /// When each of `events` came out.
    pub event_times: Vec<Instant>,
    pub closed: Vec<u16>,
    pub answered_at: Option<Instant>,
    pub seq: u16,
    /// Digest nonce count of the last `try_call`.
    pub nc: u32,
    /// Every SIP message in either direction, in order: the call flow's ladder.
    pub ladder: Vec<Hop>,
    /// Ports opened so far for legs the engine calls out on.
    pub legs_opened: u16,
    /// Loss and duplication between the phones and the engine; perfect unless set.
    pub link: Option<Link>,
}

/// A seeded lossy link between the scripted phones and the engine: each SIP message and
/// RTP packet, either way, is lost with probability `loss`, else delivered twice with
/// probability `duplicate`. The engine's transactions must make up for it.
#[derive(Debug)]
pub struct Link {
    pub loss: f64,
    pub duplicate: f64,
    rng: sb_sim::Rng,
    /// Messages and packets lost so far, and delivered twice.
    pub lost: u64,
    pub duplicated: u64,
}

impl Link {
    pub fn new(loss: f64, duplicate: f64, seed: u64) -> Link {
        Link {
            loss,
            duplicate,
            rng: sb_sim::Rng::new(seed),
            lost: 0,
            duplicated: 0,
        }
    }

    /// How many times the next message arrives: 0, 1 or 2.
    fn copies(&mut self) -> usize {
        if self.rng.chance(self.loss) {
            self.lost += 1;
            0
        } else if self.rng.chance(self.duplicate) {
            self.duplicated += 1;
            2
        } else {
            1
        }
    }
}

/// How many copies a message gets over `link` (one over a perfect link).
fn copies(link: &mut Option<Link>) -> usize {
    link.as_mut().map_or(1, Link::copies)
}

/// One SIP message of the ladder.
#[derive(Debug, Clone)]
pub struct Hop {
    pub at: Instant,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub msg: Message,
}

/// The switchboard's own SIP address in the simulation.
pub const SWITCHBOARD: &str = "127.0.0.1:5060";

/// The repository's root: the first folder up from this crate with the shipped config (the
/// fuzz crate includes this module from elsewhere).
pub fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| d.join("config/switchboard.toml").is_file())
        .map(PathBuf::from)
        .unwrap_or(here)
}

impl Sim {
    pub fn new(wall_at_start: i64) -> Sim {
        let (model, assets) = shipped();
        Sim::build(wall_at_start, model, assets.clone())
    }

    /// A simulation on the shipped configuration with `extra` appended (trunks, the
    /// outbound dial plan, ...); the dialplans and prompts are the shipped ones.
    pub fn with_config(wall_at_start: i64, extra: &str) -> Sim {
        let text = std::fs::read_to_string(root().join("config/switchboard.toml")).expect("config");
        let model = sb_config::load(
            Source {
                name: "c".into(),
                text: text + extra,
            },
            &[],
        )
        .unwrap_or_else(|e| panic!("config: {e:?}"));
        Sim::build(wall_at_start, &model, shipped().1.clone())
    }

    fn build(wall_at_start: i64, model: &sb_config::Model, assets: Arc<sb_engine::Assets>) -> Sim {
        let clock = Clock::new();
        let mut cfg = EndpointConfig::new("switchboard", addr("127.0.0.1:5060"));
        cfg.users = model
            .extensions
            .iter()
            .map(|e| (e.number.clone(), e.password.clone()))
            .collect();
        cfg.trunks = model.outside.trunks.iter().map(|t| t.sip.clone()).collect();
        let sip = Endpoint::new(cfg, [3; 32], clock.now());
        let ecfg = EngineConfig {
            media_ip: "127.0.0.1".parse().expect("ip"),
            default_language: "zh-CN".into(),
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            origin: clock.now(),
            wall_at_origin: wall_at_start,
            overload_lag: Duration::from_millis(100),
            features: sb_engine::FeatureCodes::default(),
            transfer_ring: Duration::from_secs(20),
            roster: model.on_duty.clone(),
            roster_number: model.roster_number.clone(),
            queue_numbers: model.queue_numbers(),
            outside: sb_config::build::outside(model),
            callbacks: model.callbacks.clone(),
            survey_queues: model.survey_queues(),
        };
        let acd = sb_config::build::acd(model, clock.now());
        let engine = Engine::new(sip, assets.clone(), ecfg, acd, 99);
        Sim {
            clock,
            engine,
            assets,
            inbox: vec![],
            rtp: vec![],
            events: vec![],
            event_times: vec![],
            closed: vec![],
            answered_at: None,
            seq: 1,
            nc: 1,
            ladder: Vec::new(),
            legs_opened: 0,
            link: None,
        }
    }

    pub fn pump(&mut self) {
        loop {
            let mut any = false;
            while let Some((peer, bytes)) = self.engine.poll_transmit() {
                any = true;
                for _ in 0..copies(&mut self.link) {
                    self.deliver(peer, &bytes);
                }
            }
            while let Some(req) = self.engine.poll_media() {
                any = true;
                match req {
                    // The caller's leg of call n gets port 20000 + 2n; the legs the engine
                    // calls out on get 30002, 30004, ... in the order they are opened.
                    MediaRequest::Open(leg) => {
                        let port = if leg.leg == sb_engine::LegId::CALLER {
                            20_000 + 2 * leg.call.0 as u16
                        } else {
                            self.legs_opened += 1;
                            30_000 + 2 * self.legs_opened
                        };
                        self.engine.handle_port(self.clock.now(), leg, Some(port))
                    }
                    MediaRequest::Close(p) => self.closed.push(p),
                }
            }
            if self.engine.has_rtp() {
                any = true;
                let (now, rtp) = (self.clock.now(), &mut self.rtp);
                self.engine
                    .drain_rtp(|p| rtp.push((now, p.to, p.bytes.to_vec())));
            }
            while let Some(e) = self.engine.poll_event() {
                any = true;
                self.events.push(e);
                self.event_times.push(self.clock.now());
            }
            if !any {
                break;
            }
        }
    }

    /// A SIP message from the engine reaches the phone at `peer`.
    fn deliver(&mut self, peer: Peer, bytes: &[u8]) {
        if let Ok(Some(m)) = parse_datagram(bytes) {
            self.ladder.push(Hop {
                at: self.clock.now(),
                from: addr(SWITCHBOARD),
                to: peer.addr,
                msg: m.clone(),
            });
            if let Message::Response(r) = &m {
                if r.status == 200 && r.core.cseq.method == sb_sip_msg::Method::Invite {
                    self.answered_at.get_or_insert(self.clock.now());
                }
            }
            self.inbox.push(m);
        }
    }

    /// Sends a SIP message from another address (an agent's phone).
    pub fn send_from(&mut self, from: &str, text: &str) {
        let bytes = text.replace("\r\n", "\n").replace('\n', "\r\n");
        let msg = parse_datagram(bytes.as_bytes()).ok().flatten();
        if let Some(msg) = &msg {
            self.ladder.push(Hop {
                at: self.clock.now(),
                from: addr(from),
                to: addr(SWITCHBOARD),
                msg: msg.clone(),
            });
        }
        // Over a lossy link a phone sends a request again until it is answered, as RFC 3261
        // §17.1 has it (every 500 ms, doubling, seven times); an ACK or a response goes
        // once.
        let retransmit = match (&msg, &self.link) {
            (Some(Message::Request(r)), Some(_)) if r.method != Method::Ack => {
                Some((r.core.call_id.clone(), r.core.cseq.seq))
            }
            _ => None,
        };
        let mark = self.inbox.len();
        for k in 0..7u32 {
            for _ in 0..copies(&mut self.link) {
                self.engine.handle_datagram(
                    self.clock.now(),
                    bytes.as_bytes(),
                    Peer::udp(addr(from)),
                );
            }
            self.pump();
            let Some((call_id, cseq)) = &retransmit else {
                return;
            };
            let answered = self.inbox[mark..].iter().any(|m| {
                matches!(m, Message::Response(r) if r.core.call_id == *call_id && r.core.cseq.seq == *cseq)
            });
            if answered {
                return;
            }
            self.advance(500 << k);
        }
    }

    /// Sends a SIP message from the patient's phone.
    pub fn send(&mut self, text: &str) {
        self.send_from(PHONE, text);
    }

    pub fn advance(&mut self, ms: u64) {
        let end = self.clock.now() + Duration::from_millis(ms);
        while let Some(next) = self.engine.poll_timeout().filter(|t| *t <= end) {
            self.clock.advance_to(next);
            self.engine.handle_timeout(self.clock.now());
            self.pump();
        }
        self.clock.advance_to(end);
    }

    /// The loop was busy elsewhere for `ms`: timers due meanwhile run late, at once.
    pub fn stall(&mut self, ms: u64) {
        self.clock.advance(Duration::from_millis(ms));
        self.engine.handle_timeout(self.clock.now());
        self.pump();
    }

    pub fn last_response(&self) -> &Response {
        self.inbox
            .iter()
            .rev()
            .find_map(|m| match m {
                Message::Response(r) => Some(r),
                _ => None,
            })
            .expect("a response")
    }

    pub fn invite(&self, number: &str, cseq: u32, sdp: &str, auth: Option<&str>) -> String {
        let auth = auth
            .map(|a| format!("Authorization: {a}\n"))
            .unwrap_or_default();
        let body = sdp.replace("\r\n", "\n").replace('\n', "\r\n");
        format!(
            "INVITE sip:{number}@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKinv{cseq};rport\nFrom: <sip:1001@127.0.0.1>;tag=caller\nTo: <sip:{number}@127.0.0.1>\nCall-ID: ivr-call-1\nCSeq: {cseq} INVITE\nContact: <sip:1001@127.0.0.1:6001>\nMax-Forwards: 70\n{auth}Content-Type: application/sdp\nContent-Length: {}\n\n{body}",
            body.len()
        )
    }

    /// Sends a new call's INVITE (its own Call-ID) through the digest challenge; returns
    /// the final response.
    pub fn try_call(&mut self, call_id: &str, number: &str, sdp: &str) -> Response {
        // Its own Call-ID and branches: a new call, not a retransmission of another.
        let own = |text: String| {
            text.replace("ivr-call-1", call_id)
                .replace("z9hG4bKinv", &format!("z9hG4bK{call_id}-inv"))
        };
        self.send(&own(self.invite(number, 1, sdp, None)));
        let ch = self
            .last_response()
            .headers
            .get("WWW-Authenticate")
            .expect("challenge")
            .to_string();
        let uri = format!("sip:{number}@127.0.0.1");
        // A fresh nonce count each time: the same nonce may come back within its lifetime.
        self.nc += 1;
        let auth = answer_challenge(&ch, "1001", "demo-1001", "INVITE", &uri, self.nc, "c0ffee")
            .expect("digest");
        self.send(&own(self.invite(number, 2, sdp, Some(&auth))));
        self.last_response().clone()
    }

    /// Dials `number` through the digest challenge and ACKs the 200. Returns the To tag.
    pub fn call(&mut self, number: &str, sdp: &str) -> Option<String> {
        let resp = self.try_call("ivr-call-1", number, sdp);
        if resp.status != 200 {
            return None;
        }
        let tag = resp.core.to.tag().expect("tag").to_string();
        self.send(&format!("ACK sip:{number}@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKack;rport\nFrom: <sip:1001@127.0.0.1>;tag=caller\nTo: <sip:{number}@127.0.0.1>;tag={tag}\nCall-ID: ivr-call-1\nCSeq: 2 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n"));
        Some(tag)
    }

    pub fn in_dialog(&mut self, tag: &str, method: &str, cseq: u32, ct: &str, body: &str) {
        self.send(&format!("{method} sip:8000@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK{method}{cseq};rport\nFrom: <sip:1001@127.0.0.1>;tag=caller\nTo: <sip:8000@127.0.0.1>;tag={tag}\nCall-ID: ivr-call-1\nCSeq: {cseq} {method}\nMax-Forwards: 70\nContent-Type: {ct}\nContent-Length: {}\n\n{body}", body.len()));
    }

    pub fn rtp_from(&mut self, from: &str, pt: u8, ts: u32, payload: &[u8]) {
        let pkt = RtpPacketBuilder::new()
            .payload_type(pt)
            .sequence(Seq::from(self.seq))
            .timestamp(ts)
            .ssrc(0xCAFE)
            .payload(payload)
            .build()
            .expect("rtp");
        self.seq = self.seq.wrapping_add(1);
        // The engine's port for call 1.
        for _ in 0..copies(&mut self.link) {
            self.engine
                .handle_rtp(self.clock.now(), 20_002, addr(from), &pkt);
        }
        self.pump();
    }

    pub fn rfc4733(&mut self, digit_event: u8, ts: u32) {
        for (end, dur) in [
            (false, 160u16),
            (false, 320),
            (true, 800),
            (true, 800),
            (true, 800),
        ] {
            let mut b = [0u8; 4];
            TelEvent {
                code: digit_event,
                end,
                volume: 10,
                duration: dur,
            }
            .write(&mut b);
            self.rtp_from(PHONE_RTP, 101, ts, &b);
            self.advance(20);
        }
    }

    pub fn nodes(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                EngineEvent::Ivr { node, .. } => Some(node.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn payloads_to(&self, to: &str) -> Vec<u8> {
        self.rtp
            .iter()
            .filter(|(_, a, _)| *a == addr(to))
            .flat_map(|(_, _, p)| RtpReader::new(p).expect("rtp").payload().to_vec())
            .collect()
    }
}

/// The transfers so far: (from, to, kind).
pub fn transfers(s: &Sim) -> Vec<(String, String, &'static str)> {
    use sb_types::vocab::Named;
    s.events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Transfer { from, to, kind, .. } => {
                Some((from.clone(), to.clone(), kind.name()))
            }
            _ => None,
        })
        .collect()
}

/// Registers `agent`'s phone at `at` through the digest challenge.
pub fn register_agent(s: &mut Sim, agent: &str, at: &str) {
    let reg = |auth: &str, cseq: u32| {
        format!("REGISTER sip:127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {at};branch=z9hG4bKreg{cseq};rport\nFrom: <sip:{agent}@127.0.0.1>;tag=a3\nTo: <sip:{agent}@127.0.0.1>\nCall-ID: reg-{agent}\nCSeq: {cseq} REGISTER\nContact: <sip:{agent}@{at}>\nExpires: 600\nMax-Forwards: 70\n{auth}Content-Length: 0\n\n")
    };
    s.send_from(at, &reg("", 1));
    let ch = s
        .last_response()
        .headers
        .get("WWW-Authenticate")
        .expect("challenge")
        .to_string();
    let auth = format!(
        "Authorization: {}\n",
        answer_challenge(
            &ch,
            agent,
            &format!("demo-{agent}"),
            "REGISTER",
            "sip:127.0.0.1",
            1,
            "ab"
        )
        .expect("digest")
    );
    s.send_from(at, &reg(&auth, 2));
    assert_eq!(s.last_response().status, 200);
}

/// The last INVITE the engine sent (to an agent's phone).
pub fn invite_to_agent(s: &Sim) -> Option<Request> {
    last_invite(s, |_| true)
}

/// The last INVITE the engine sent to `user`'s phone.
pub fn invite_to(s: &Sim, user: &str) -> Option<Request> {
    last_invite(s, |r| {
        r.uri.as_sip().and_then(|u| u.user.as_deref()) == Some(user)
    })
}

fn last_invite(s: &Sim, which: impl Fn(&Request) -> bool) -> Option<Request> {
    s.inbox.iter().rev().find_map(|m| match m {
        Message::Request(r) if r.method == Method::Invite && which(r) => Some(r.clone()),
        _ => None,
    })
}

pub const AGENT: &str = "127.0.0.1:6003";

/// `user`'s phone at `at` dials `number` through the digest challenge.
pub fn dial_from(
    s: &mut Sim,
    at: &str,
    user: &str,
    number: &str,
    call_id: &str,
    sdp: &str,
) -> Response {
    let invite = |cseq: u32, auth: &str| {
        let body = sdp.replace("\r\n", "\n").replace('\n', "\r\n");
        format!("INVITE sip:{number}@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {at};branch=z9hG4bK{call_id}{cseq};rport\nFrom: <sip:{user}@127.0.0.1>;tag=from{user}\nTo: <sip:{number}@127.0.0.1>\nCall-ID: {call_id}\nCSeq: {cseq} INVITE\nContact: <sip:{user}@{at}>\nMax-Forwards: 70\n{auth}Content-Type: application/sdp\nContent-Length: {}\n\n{body}", body.len())
    };
    s.send_from(at, &invite(1, ""));
    let ch = s
        .last_response()
        .headers
        .get("WWW-Authenticate")
        .expect("challenge")
        .to_string();
    let uri = format!("sip:{number}@127.0.0.1");
    let auth = answer_challenge(&ch, user, &format!("demo-{user}"), "INVITE", &uri, 1, "b1")
        .expect("digest");
    s.send_from(at, &invite(2, &format!("Authorization: {auth}\n")));
    s.last_response().clone()
}

/// Agent 1003's phone at `AGENT` rings for `inv` (180 with its To tag).
pub fn agent_rings(s: &mut Sim, inv: &Request) {
    rings_at(s, AGENT, inv);
}

/// The phone at `at` rings for `inv`: 180 with the To tag `ag`.
pub fn rings_at(s: &mut Sim, at: &str, inv: &Request) {
    let ringing = sb_sip_msg::ResponseBuilder::new(inv, 180)
        .to_tag("ag")
        .build();
    s.send_from(at, &String::from_utf8(ringing.to_bytes()).expect("utf8"));
}

/// Agent 1003 picks up: 200 with `sdp`.
pub fn agent_answers(s: &mut Sim, inv: &Request, sdp: &str) {
    answers_at(s, AGENT, "1003", inv, sdp);
}

/// `user`'s phone at `at` picks up `inv`: 200 with `sdp`.
pub fn answers_at(s: &mut Sim, at: &str, user: &str, inv: &Request, sdp: &str) {
    let ok = sb_sip_msg::ResponseBuilder::new(inv, 200)
        .to_tag("ag")
        .header("Contact", format!("<sip:{user}@{at}>"))
        .body("application/sdp", sdp.as_bytes().to_vec())
        .build();
    s.send_from(at, &String::from_utf8(ok.to_bytes()).expect("utf8"));
}

/// Agent 1003 hangs up the call `inv` offered.
pub fn agent_hangs_up(s: &mut Sim, inv: &Request) {
    in_leg(s, AGENT, "1003", inv, "BYE", 3, "", "");
}

/// A request from `user`'s phone at `at` inside the dialog the engine's `inv` formed.
#[allow(clippy::too_many_arguments)]
pub fn in_leg(
    s: &mut Sim,
    at: &str,
    user: &str,
    inv: &Request,
    method: &str,
    cseq: u32,
    extra: &str,
    sdp: &str,
) {
    let ct = if sdp.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\n".to_string()
    };
    let text = format!("{method} sip:queue@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {at};branch=z9hG4bK{method}{cseq}{user};rport\nFrom: <sip:{user}@switchboard>;tag=ag\nTo: {}\nCall-ID: {}\nCSeq: {cseq} {method}\nContact: <sip:{user}@{at}>\nMax-Forwards: 70\n{extra}{ct}Content-Length: {}\n\n{sdp}", inv.core.from, inv.core.call_id, sdp.len());
    s.send_from(at, &text);
}

/// A re-INVITE from agent 1003's phone with `sdp`.
pub fn agent_reinvite(s: &mut Sim, inv: &Request, cseq: u32, sdp: &str) {
    in_leg(s, AGENT, "1003", inv, "INVITE", cseq, "", sdp);
}

pub const AGENT_RTP: &str = "127.0.0.1:7003";

pub fn rtp_packet(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    RtpPacketBuilder::new()
        .payload_type(pt)
        .sequence(Seq::from(seq))
        .timestamp(ts)
        .ssrc(77)
        .payload(payload)
        .build()
        .expect("rtp")
}

/// RTP from `from` arriving on our `port`.
pub fn rtp_to_port(s: &mut Sim, port: u16, from: &str, pt: u8, seq: u16, payload: &[u8]) {
    let pkt = rtp_packet(pt, seq, 40_000 + 160 * seq as u32, payload);
    for _ in 0..copies(&mut s.link) {
        s.engine.handle_rtp(s.clock.now(), port, addr(from), &pkt);
    }
    s.pump();
}

/// Agent 1003's phone sends `payload` with payload type `pt` on its leg (the first).
pub fn from_agent(s: &mut Sim, pt: u8, seq: u16, payload: &[u8]) {
    rtp_to_port(s, 30_002, AGENT_RTP, pt, seq, payload);
}

/// The patient's phone sends a frame of `voice`.
pub fn from_patient(s: &mut Sim, seq: u16, voice: &[u8]) {
    rtp_to_port(s, 20_002, PHONE_RTP, 0, seq, voice);
}

/// The agent keys `keys` (RFC 4733 end packets, the start lost).
pub fn agent_keys(s: &mut Sim, seq: &mut u16, keys: &str) {
    for k in keys.chars() {
        let event = match k {
            '*' => 10,
            '#' => 11,
            d => d.to_digit(10).expect("a key") as u8,
        };
        *seq += 1;
        from_agent(s, 101, *seq, &[event, 0x80 | 10, 0x03, 0x20]);
    }
}

/// The RTP sent to `to` since `s.rtp[from]`.
pub fn sent_to(s: &Sim, from: usize, to: &str) -> Vec<Vec<u8>> {
    s.rtp[from..]
        .iter()
        .filter(|(_, t, _)| *t == addr(to))
        .map(|(_, _, p)| p.clone())
        .collect()
}

pub const OFFER_4733: &str = "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 7000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n";
pub const OFFER_PLAIN: &str =
    "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 7000 RTP/AVP 0\n";

/// Lets the greeting and the menu play out, so the menu waits for a key.
pub fn past_the_menu(s: &mut Sim) {
    let ms = ["greeting", "menu"]
        .iter()
        .map(|n| s.assets.prompt("zh-CN", n).expect("prompt").duration_ms())
        .sum::<u64>();
    s.advance(ms + 200);
}

/// The agent's answer: PCMA and telephone-event at AGENT_RTP.
pub const AGENT_SDP: &str = "v=0\r\no=- 5 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7003 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";

/// A patient presses 2, waits, and agent 1003 answers with PCMA: returns the agent's INVITE.
pub fn bridged_to_1003(s: &mut Sim) -> Request {
    register_agent(s, "1003", AGENT);
    let tag = s.call("8000", OFFER_4733).expect("answered");
    past_the_menu(s);
    s.in_dialog(&tag, "INFO", 3, "application/dtmf-relay", "Signal=2\r\n");
    s.advance(4000);
    assert!(
        s.events
            .iter()
            .any(|e| matches!(e, EngineEvent::Offered { agent, .. } if agent == "1003")),
        "offered to the only registered agent"
    );
    let inv = invite_to_agent(s).expect("the agent's phone is called");
    assert_eq!(inv.uri.to_string(), format!("sip:1003@{AGENT}"));
    agent_rings(s, &inv);
    agent_answers(s, &inv, AGENT_SDP);
    inv
}
