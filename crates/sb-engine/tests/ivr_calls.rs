//! Calls into the IVR through the sans-IO engine on virtual time: SIP in and out as bytes,
//! RTP in and out as packets, the real dialplans and prompts of the repository.

use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};
use sb_config::Source;
use sb_engine::{load_assets, AssetSource, Engine, EngineConfig, EngineEvent, MediaRequest};
use sb_media::dtmf::{Event as TelEvent, Source as DigitSource};
use sb_media::g711;
use sb_media::goertzel::synthesize;
use sb_media::negotiate::Codec;
use sb_sim::Clock;
use sb_sip::digest::{response, Algorithm, DigestInput};
use sb_sip::{Endpoint, EndpointConfig, Peer};
use sb_sip_msg::{parse_datagram, AuthParams, Message, Response};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-11-23 (Monday) 00:00 in Shanghai, as Unix time.
const MONDAY: i64 = 1_795_363_200;
const PHONE: &str = "127.0.0.1:6001";
const PHONE_RTP: &str = "127.0.0.1:7000";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

struct Sim {
    clock: Clock,
    engine: Engine,
    assets: Arc<sb_engine::Assets>,
    inbox: Vec<Message>,
    rtp: Vec<(Instant, SocketAddr, Vec<u8>)>,
    events: Vec<EngineEvent>,
    closed: Vec<u16>,
    answered_at: Option<Instant>,
    seq: u16,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Sim {
    fn new(wall_at_start: i64) -> Sim {
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
        let clock = Clock::new();
        let mut cfg = EndpointConfig::new("switchboard", addr("127.0.0.1:5060"));
        cfg.users = model
            .extensions
            .iter()
            .map(|e| (e.number.clone(), e.password.clone()))
            .collect();
        let sip = Endpoint::new(cfg, [3; 32], clock.now());
        let ecfg = EngineConfig {
            media_ip: "127.0.0.1".parse().expect("ip"),
            default_language: "zh-CN".into(),
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            origin: clock.now(),
            wall_at_origin: wall_at_start,
        };
        let engine = Engine::new(sip, assets.clone(), ecfg, 99);
        Sim {
            clock,
            engine,
            assets,
            inbox: vec![],
            rtp: vec![],
            events: vec![],
            closed: vec![],
            answered_at: None,
            seq: 1,
        }
    }

    fn pump(&mut self) {
        loop {
            let mut any = false;
            while let Some((_, bytes)) = self.engine.poll_transmit() {
                any = true;
                if let Ok(Some(m)) = parse_datagram(&bytes) {
                    if let Message::Response(r) = &m {
                        if r.status == 200 && r.core.cseq.method == sb_sip_msg::Method::Invite {
                            self.answered_at.get_or_insert(self.clock.now());
                        }
                    }
                    self.inbox.push(m);
                }
            }
            while let Some(req) = self.engine.poll_media() {
                any = true;
                match req {
                    MediaRequest::Open(id) => self.engine.handle_media_opened(
                        self.clock.now(),
                        id,
                        20_000 + 2 * id.0 as u16,
                    ),
                    MediaRequest::Close(p) => self.closed.push(p),
                }
            }
            while let Some(p) = self.engine.poll_rtp() {
                any = true;
                self.rtp
                    .push((self.clock.now(), p.to, p.buf[..p.len].to_vec()));
            }
            while let Some(e) = self.engine.poll_event() {
                any = true;
                self.events.push(e);
            }
            if !any {
                break;
            }
        }
    }

    fn send(&mut self, text: &str) {
        let bytes = text.replace("\r\n", "\n").replace('\n', "\r\n");
        self.engine
            .handle_datagram(self.clock.now(), bytes.as_bytes(), Peer::udp(addr(PHONE)));
        self.pump();
    }

    fn advance(&mut self, ms: u64) {
        let end = self.clock.now() + Duration::from_millis(ms);
        while let Some(next) = self.engine.poll_timeout().filter(|t| *t <= end) {
            self.clock.advance_to(next);
            self.engine.handle_timeout(self.clock.now());
            self.pump();
        }
        self.clock.advance_to(end);
    }

    fn last_response(&self) -> &Response {
        self.inbox
            .iter()
            .rev()
            .find_map(|m| match m {
                Message::Response(r) => Some(r),
                _ => None,
            })
            .expect("a response")
    }

    fn invite(&self, number: &str, cseq: u32, sdp: &str, auth: Option<&str>) -> String {
        let auth = auth
            .map(|a| format!("Authorization: {a}\n"))
            .unwrap_or_default();
        let body = sdp.replace("\r\n", "\n").replace('\n', "\r\n");
        format!(
            "INVITE sip:{number}@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKinv{cseq};rport\nFrom: <sip:1001@127.0.0.1>;tag=caller\nTo: <sip:{number}@127.0.0.1>\nCall-ID: ivr-call-1\nCSeq: {cseq} INVITE\nContact: <sip:1001@127.0.0.1:6001>\nMax-Forwards: 70\n{auth}Content-Type: application/sdp\nContent-Length: {}\n\n{body}",
            body.len()
        )
    }

    /// Dials `number` through the digest challenge and ACKs the 200. Returns the To tag.
    fn call(&mut self, number: &str, sdp: &str) -> Option<String> {
        self.send(&self.invite(number, 1, sdp, None));
        let ch = self
            .last_response()
            .headers
            .get("WWW-Authenticate")
            .expect("challenge")
            .to_string();
        let c = AuthParams::parse(&ch).expect("challenge parses");
        let nonce = c.get("nonce").expect("nonce").to_string();
        let uri = format!("sip:{number}@127.0.0.1");
        let input = DigestInput {
            username: "1001",
            realm: "switchboard",
            password: "demo-1001",
            method: "INVITE",
            uri: &uri,
            nonce: &nonce,
            qop: Some(("00000001", "c0ffee")),
        };
        let r = response(Algorithm::Md5, &input);
        let auth = format!("Digest username=\"1001\", realm=\"switchboard\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{r}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c0ffee\"");
        self.send(&self.invite(number, 2, sdp, Some(&auth)));
        let resp = self.last_response().clone();
        if resp.status != 200 {
            return None;
        }
        let tag = resp.core.to.tag().expect("tag").to_string();
        self.send(&format!("ACK sip:{number}@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKack;rport\nFrom: <sip:1001@127.0.0.1>;tag=caller\nTo: <sip:{number}@127.0.0.1>;tag={tag}\nCall-ID: ivr-call-1\nCSeq: 2 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n"));
        Some(tag)
    }

    fn in_dialog(&mut self, tag: &str, method: &str, cseq: u32, ct: &str, body: &str) {
        self.send(&format!("{method} sip:8000@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK{method}{cseq};rport\nFrom: <sip:1001@127.0.0.1>;tag=caller\nTo: <sip:8000@127.0.0.1>;tag={tag}\nCall-ID: ivr-call-1\nCSeq: {cseq} {method}\nMax-Forwards: 70\nContent-Type: {ct}\nContent-Length: {}\n\n{body}", body.len()));
    }

    fn rtp_from(&mut self, from: &str, pt: u8, ts: u32, payload: &[u8]) {
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
        self.engine
            .handle_rtp(self.clock.now(), 20_002, addr(from), &pkt);
        self.pump();
    }

    fn rfc4733(&mut self, digit_event: u8, ts: u32) {
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

    fn nodes(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                EngineEvent::Ivr { node, .. } => Some(node.clone()),
                _ => None,
            })
            .collect()
    }

    fn payloads_to(&self, to: &str) -> Vec<u8> {
        self.rtp
            .iter()
            .filter(|(_, a, _)| *a == addr(to))
            .flat_map(|(_, _, p)| RtpReader::new(p).expect("rtp").payload().to_vec())
            .collect()
    }
}

const OFFER_4733: &str = "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 7000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n";
const OFFER_PLAIN: &str =
    "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 7000 RTP/AVP 0\n";

/// Lets the greeting and the menu play out, so the menu waits for a key.
fn past_the_menu(s: &mut Sim) {
    let ms = ["greeting", "menu"]
        .iter()
        .map(|n| s.assets.prompt("zh-CN", n).expect("prompt").duration_ms())
        .sum::<u64>();
    s.advance(ms + 200);
}

#[test]
fn the_greeting_starts_within_a_second_and_is_the_prompt() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    s.call("8000", OFFER_4733).expect("answered");
    let answered = s.answered_at.expect("200 sent");
    s.advance(1000);
    let (first_at, _, _) = s.rtp.first().expect("audio flows");
    assert!(*first_at - answered < Duration::from_secs(1));
    let greeting = &s.assets.prompt("zh-CN", "greeting").expect("greeting").ulaw;
    let heard = s.payloads_to(PHONE_RTP);
    assert!(heard.len() >= 40 * 160, "a second of audio");
    assert_eq!(
        &heard[..heard.len().min(greeting.len())],
        &greeting[..heard.len().min(greeting.len())],
        "exactly the greeting, frame after frame"
    );
    // RTP is paced every 20 ms with continuous sequence numbers and timestamps.
    for w in s.rtp.windows(2) {
        let (a, b) = (
            RtpReader::new(&w[0].2).expect("rtp"),
            RtpReader::new(&w[1].2).expect("rtp"),
        );
        assert_eq!(w[1].0 - w[0].0, Duration::from_millis(20));
        assert_eq!(
            u16::from(b.sequence_number()),
            u16::from(a.sequence_number()).wrapping_add(1)
        );
        assert_eq!(b.timestamp(), a.timestamp().wrapping_add(160));
    }
}

#[test]
fn digit_two_by_rfc4733_reaches_consultation_in_opening_hours() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    s.call("8000", OFFER_4733).expect("answered");
    past_the_menu(&mut s);
    s.rfc4733(2, 50_000);
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::Digit {
            digit: '2',
            source: DigitSource::Rfc4733,
            ..
        }
    )));
    assert!(
        s.nodes().contains(&"main/consultation".to_string()),
        "{:?}",
        s.nodes()
    );
    s.advance(5000);
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, EngineEvent::Queued { queue, .. } if queue == "consultation")));
}

#[test]
fn digit_two_by_sip_info_and_by_inband_tone() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let tag = s.call("8000", OFFER_4733).expect("answered");
    past_the_menu(&mut s);
    s.in_dialog(
        &tag,
        "INFO",
        3,
        "application/dtmf-relay",
        "Signal=2\r\nDuration=160\r\n",
    );
    assert_eq!(s.last_response().status, 200);
    assert!(s.nodes().contains(&"main/consultation".to_string()));

    let mut s = Sim::new(MONDAY + 10 * 3600);
    s.call("8000", OFFER_PLAIN).expect("answered");
    past_the_menu(&mut s);
    let tone = synthesize('2', 100, 0.3);
    let mut ts = 10_000;
    for frame in tone
        .chunks(160)
        .chain(std::iter::repeat_n(&[0i16; 160][..], 5))
    {
        let ulaw: Vec<u8> = frame.iter().map(|x| g711::linear_to_ulaw(*x)).collect();
        s.rtp_from(PHONE_RTP, 0, ts, &ulaw);
        ts += 160;
        s.advance(20);
    }
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::Digit {
            digit: '2',
            source: DigitSource::InBand,
            ..
        }
    )));
    assert!(s.nodes().contains(&"main/consultation".to_string()));
}

#[test]
fn after_hours_the_caller_hears_the_after_hours_message() {
    let mut s = Sim::new(MONDAY + 21 * 3600);
    s.call("8000", OFFER_4733).expect("answered");
    past_the_menu(&mut s);
    let before = s.payloads_to(PHONE_RTP).len();
    s.rfc4733(2, 50_000);
    s.advance(2000);
    let heard = s.payloads_to(PHONE_RTP);
    let msg = &s
        .assets
        .prompt("zh-CN", "after-hours-consultation")
        .expect("prompt")
        .ulaw;
    assert_eq!(
        &heard[before..before + 1600],
        &msg[..1600],
        "the after-hours message plays"
    );
    assert!(s.nodes().contains(&"main/consultation-closed".to_string()));
}

#[test]
fn a_third_party_cannot_take_the_media_or_press_keys() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    s.call("8000", OFFER_4733).expect("answered");
    past_the_menu(&mut s);
    // Well after the learning window, an attacker sprays RTP (with a key press) at our port.
    for i in 0..20 {
        let mut b = [0u8; 4];
        TelEvent {
            code: 0,
            end: i > 10,
            volume: 10,
            duration: 160 * (i + 1),
        }
        .write(&mut b);
        s.rtp_from("203.0.113.66:4444", 101, 777, &b);
    }
    s.advance(200);
    assert!(
        !s.events
            .iter()
            .any(|e| matches!(e, EngineEvent::Digit { .. })),
        "no key from the stranger"
    );
    assert!(
        s.rtp.iter().all(|(_, to, _)| *to == addr(PHONE_RTP)),
        "media still goes to the caller"
    );
    s.rfc4733(2, 60_000);
    assert!(
        s.nodes().contains(&"main/consultation".to_string()),
        "the caller still drives the IVR"
    );
}

#[test]
fn caller_bye_ends_the_call_and_frees_the_port() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let tag = s.call("8000", OFFER_4733).expect("answered");
    s.advance(500);
    s.in_dialog(&tag, "BYE", 3, "text/plain", "");
    assert_eq!(s.last_response().status, 200);
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::CallEnded {
            reason: "caller hung up",
            ..
        }
    )));
    assert_eq!(s.closed, [20_002]);
    assert_eq!(s.engine.calls(), 0);
    let sent = s.rtp.len();
    s.advance(1000);
    assert_eq!(s.rtp.len(), sent, "no media after the BYE");
}

#[test]
fn unusable_offers_and_unknown_numbers_are_refused() {
    let mut s = Sim::new(MONDAY);
    assert!(s.call("8000", "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 7000 RTP/AVP 18\n").is_none());
    assert_eq!(s.last_response().status, 488);
    assert!(s
        .last_response()
        .headers
        .get("Warning")
        .is_some_and(|w| w.starts_with("305")));
    let mut s = Sim::new(MONDAY);
    assert!(s.call("8000", "v=0\nthis is not sdp\n").is_none());
    assert_eq!(s.last_response().status, 400);
    let mut s = Sim::new(MONDAY);
    assert!(s.call("7777", OFFER_4733).is_none());
    assert_eq!(s.last_response().status, 404);
    assert_eq!(s.engine.calls(), 0);
}
