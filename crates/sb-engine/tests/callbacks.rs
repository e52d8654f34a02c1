//! Keep-my-place callbacks on virtual time: a patient offered a callback after waiting
//! presses 1 and hangs up; the callback keeps their place against patients who joined
//! before and after them; the agent it is offered to answers, the patient's phone rings and
//! the two are bridged with media both ways. A patient not reached is tried again until
//! the tries are spent; outside the callbacks' hours a callback waits for them to open.

use sb_engine::EngineEvent;
use sb_sip_msg::{Message, Method, Request, ResponseBuilder};
use sb_testkit::*;
use sb_types::vocab::CallbackOutcome;
use sb_types::CallId;

/// Department phones calling the hospital number as patients would (they are in no
/// queue, so never offered calls themselves).
const P1: (&str, &str, &str) = ("2001", "127.0.0.1:6301", "127.0.0.1:7301");
const P2: (&str, &str, &str) = ("2002", "127.0.0.1:6302", "127.0.0.1:7302");
const P3: (&str, &str, &str) = ("2003", "127.0.0.1:6303", "127.0.0.1:7303");

fn sdp(rtp: &str) -> String {
    let port = rtp.rsplit(':').next().expect("port");
    format!("v=0\r\no=- 4 4 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
}

/// A patient's call as their phone knows it.
struct Patient {
    user: &'static str,
    at: &'static str,
    call_id: String,
    tag: String,
}

impl Patient {
    /// `p` dials 8000, acknowledges the answer, waits out the greeting and the menu and
    /// presses 2 (consultation).
    fn dials(s: &mut Sim, p: (&'static str, &'static str, &'static str), id: &str) -> Patient {
        let r = dial_from(s, p.1, p.0, "8000", id, &sdp(p.2));
        assert_eq!(r.status, 200, "the IVR answers");
        let tag = r.core.to.tag().expect("tag").to_string();
        let patient = Patient {
            user: p.0,
            at: p.1,
            call_id: id.to_string(),
            tag,
        };
        patient.send(s, "ACK", 2, "");
        past_the_menu(s);
        patient.key(s, '2', 3);
        patient
    }

    fn send(&self, s: &mut Sim, method: &str, cseq: u32, body: &str) {
        let (user, at, id, tag) = (self.user, self.at, &self.call_id, &self.tag);
        let ct = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/dtmf-relay\n".to_string()
        };
        s.send_from(at, &format!("{method} sip:8000@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {at};branch=z9hG4bK{id}{method}{cseq};rport\nFrom: <sip:{user}@127.0.0.1>;tag=from{user}\nTo: <sip:8000@127.0.0.1>;tag={tag}\nCall-ID: {id}\nCSeq: {cseq} {method}\nMax-Forwards: 70\n{ct}Content-Length: {}\n\n{body}", body.len()));
    }

    fn key(&self, s: &mut Sim, key: char, cseq: u32) {
        self.send(s, "INFO", cseq, &format!("Signal={key}\r\n"));
    }
}

/// Advances `ms` in steps of a second, the phones answering the switchboard's keep-alive
/// OPTIONS as real phones do (unanswered, they would count as unreachable).
fn live(s: &mut Sim, ms: u64) {
    let mut seen = s.ladder.len();
    let mut left = ms;
    while left > 0 {
        let step = left.min(1_000);
        s.advance(step);
        left -= step;
        let probes: Vec<(std::net::SocketAddr, Request)> = s.ladder[seen..]
            .iter()
            .filter_map(|h| match &h.msg {
                Message::Request(r) if r.method == Method::Options => Some((h.to, r.clone())),
                _ => None,
            })
            .collect();
        seen = s.ladder.len();
        for (to, r) in probes {
            let ok = ResponseBuilder::new(&r, 200).build();
            s.send_from(
                &to.to_string(),
                &String::from_utf8(ok.to_bytes()).expect("utf8"),
            );
            seen = s.ladder.len();
        }
    }
}

/// The engine's id of the call with SIP Call-ID `sip`.
fn call_of(s: &Sim, sip: &str) -> CallId {
    s.events
        .iter()
        .find_map(|e| match e {
            EngineEvent::CallStarted {
                call, sip_call_id, ..
            } if sip_call_id == sip => Some(*call),
            _ => None,
        })
        .expect("the call started")
}

/// The calls offered to agent 1003, in order.
fn offered_to_1003(s: &Sim) -> Vec<CallId> {
    s.events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Offered { call, agent } if agent == "1003" => Some(*call),
            _ => None,
        })
        .collect()
}

fn closed(s: &Sim) -> Vec<(CallId, CallbackOutcome, u32)> {
    s.events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::CallbackClosed {
                item,
                outcome,
                tries,
            } => Some((*item, *outcome, *tries)),
            _ => None,
        })
        .collect()
}

/// The agent's phone (1003) rings for the call it was last offered and answers.
fn agent_takes_next(s: &mut Sim) -> Request {
    let inv = invite_to(s, "1003").expect("offered");
    agent_rings(s, &inv);
    agent_answers(s, &inv, AGENT_SDP);
    inv
}

/// Patient 2001 waits, is offered a callback after 20 s and presses 1: returns the call
/// they asked on and the callback call.
fn p1_asks_for_a_callback(s: &mut Sim) -> (Patient, CallId, CallId) {
    register_agent(s, P1.0, P1.1);
    let p1 = Patient::dials(s, P1, "p1");
    let asked = call_of(s, "p1");
    live(s, 20_500);
    assert!(
        s.events
            .iter()
            .any(|e| matches!(e, EngineEvent::CallbackOffered { call } if *call == asked)),
        "offered a callback after waiting 20 s"
    );
    p1.key(s, '1', 4);
    live(s, 8_000);
    assert!(
        s.inbox.iter().any(|m| matches!(m,
            Message::Request(r) if r.method == Method::Bye && r.core.call_id == "p1")),
        "the patient hears the confirmation and is hung up"
    );
    let cb = s
        .events
        .iter()
        .find_map(|e| match e {
            EngineEvent::CallbackStarted {
                call,
                item,
                attempt: 1,
            } if *item == asked => Some(*call),
            _ => None,
        })
        .expect("a callback call takes the place");
    assert_eq!(s.engine.callbacks_pending(), 1);
    (p1, asked, cb)
}

const CALLBACKS: &str = "\n[callbacks]\noffer_after_seconds = 20\nretry_minutes = 2\n";

#[test]
fn the_callback_keeps_the_patient_s_place_and_bridges_agent_and_patient() {
    let mut s = Sim::with_config(MONDAY + 10 * 3600, CALLBACKS);
    // Agent 1003 is busy with another patient while 2001 and then 2002 queue.
    let busy = bridged_to_1003(&mut s);
    let first_offer = offered_to_1003(&s);
    let (_, asked, cb) = {
        // 2002 joins a second after 2001.
        register_agent(&mut s, P1.0, P1.1);
        let p1 = Patient::dials(&mut s, P1, "p1");
        live(&mut s, 1_000);
        let _p2 = Patient::dials(&mut s, P2, "p2");
        let asked = call_of(&s, "p1");
        live(&mut s, 20_000);
        p1.key(&mut s, '1', 4);
        live(&mut s, 8_000);
        let cb = s
            .events
            .iter()
            .find_map(|e| match e {
                EngineEvent::CallbackStarted { call, item, .. } if *item == asked => Some(*call),
                _ => None,
            })
            .expect("a callback call takes the place");
        (p1, asked, cb)
    };
    // 2003 joins after the callback was asked for.
    let _p3 = Patient::dials(&mut s, P3, "p3");
    let (p2, p3) = (call_of(&s, "p2"), call_of(&s, "p3"));
    // The agent is done with the first patient; after wrap-up the callback is offered
    // first: it holds 2001's place, ahead of 2002 and 2003.
    agent_hangs_up(&mut s, &busy);
    live(&mut s, 10_500);
    assert_eq!(offered_to_1003(&s)[first_offer.len()..], [cb]);
    let offer = agent_takes_next(&mut s);
    assert!(
        offer
            .core
            .from
            .display
            .as_deref()
            .is_some_and(|d| d.contains("Callback") && !d.contains("2001")),
        "the phone shows a callback, the number masked: {:?}",
        offer.core.from.display
    );
    // Once the agent answers, the patient's phone rings with the hospital's name; the
    // agent hears ringback meanwhile (A-law, as the agent's phone asked).
    let ring = invite_to(&s, P1.0).expect("the patient's phone rings");
    assert_eq!(ring.core.from.display.as_deref(), Some("\"Hospital\""));
    rings_at(&mut s, P1.1, &ring);
    let mark = s.rtp.len();
    live(&mut s, 200);
    let ringback = &s.assets.prompt("zh-CN", "ringback").expect("ringback").alaw;
    let heard = sent_to(&s, mark, AGENT_RTP);
    assert!(heard.len() >= 9, "{} frames", heard.len());
    assert!(heard.iter().all(|p| {
        let payload = rtp_rs::RtpReader::new(p).expect("rtp").payload().to_vec();
        ringback.windows(160).any(|w| w == payload.as_slice())
    }));
    answers_at(&mut s, P1.1, P1.0, &ring, &sdp(P1.2));
    assert!(s.events.iter().any(|e| matches!(e,
        EngineEvent::CallbackReached { call, item, waited_ms } if *call == cb && *item == asked && *waited_ms > 30_000)));
    assert!(s.events.iter().any(
        |e| matches!(e, EngineEvent::Bridged { call, agent } if *call == cb && agent == "1003")
    ));
    // Media both ways: the patient's leg is the callback call's first (harness port
    // 20000 + 2n), the agent's the second leg the engine opened.
    let patient_port = 20_000 + 2 * cb.0 as u16;
    let mark = s.rtp.len();
    rtp_to_port(&mut s, patient_port, P1.2, 0, 5, &[0x11; 160]);
    assert_eq!(
        sent_to(&s, mark, AGENT_RTP).len(),
        1,
        "the agent hears 2001"
    );
    let mark = s.rtp.len();
    rtp_to_port(&mut s, 30_004, AGENT_RTP, 8, 5, &[0x22; 160]);
    assert_eq!(sent_to(&s, mark, P1.2).len(), 1, "2001 hears the agent");
    // The agent hangs up: 2001 hears the satisfaction survey; unanswered, the call ends
    // and the callback is closed, reached at the first try. 2002, who joined before the
    // request but after 2001, is next, then 2003.
    in_leg(&mut s, AGENT, "1003", &offer, "BYE", 7, "", "");
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, EngineEvent::SurveyOffered { call, .. } if *call == cb)));
    live(&mut s, 10_500);
    let next = agent_takes_next(&mut s);
    live(&mut s, 20_000);
    assert_eq!(closed(&s), [(asked, CallbackOutcome::Reached, 1)]);
    assert_eq!(s.engine.callbacks_pending(), 0);
    in_leg(&mut s, AGENT, "1003", &next, "BYE", 8, "", "");
    live(&mut s, 10_500);
    assert_eq!(offered_to_1003(&s)[first_offer.len()..], [cb, p2, p3]);
    s.engine.check_invariants().expect("index clean");
}

#[test]
fn a_patient_not_reached_is_tried_again_then_goes_to_the_worklist() {
    let mut s = Sim::with_config(MONDAY + 10 * 3600, CALLBACKS);
    let busy = bridged_to_1003(&mut s);
    let (_, asked, _) = p1_asks_for_a_callback(&mut s);
    agent_hangs_up(&mut s, &busy);
    live(&mut s, 10_500);
    for attempt in 1..=3u32 {
        let offer = agent_takes_next(&mut s);
        let ring = invite_to(&s, P1.0).expect("the patient's phone rings");
        // Busy: not reached; the agent's phone is hung up.
        let busy_here = ResponseBuilder::new(&ring, 486).to_tag("p1").build();
        s.send_from(
            P1.1,
            &String::from_utf8(busy_here.to_bytes()).expect("utf8"),
        );
        assert!(
            s.inbox.iter().any(|m| matches!(m,
                Message::Request(r) if r.method == Method::Bye && r.core.call_id == offer.core.call_id)),
            "try {attempt}: the agent is released"
        );
        let deferred = s.events.iter().rev().find_map(|e| match e {
            EngineEvent::CallbackDeferred { item, tries, .. } if *item == asked => Some(*tries),
            _ => None,
        });
        if attempt < 3 {
            assert_eq!(deferred, Some(attempt), "tried again later");
            assert!(closed(&s).is_empty());
            // Two minutes later it waits in the queue again and the agent is offered it.
            live(&mut s, 120_500);
        }
    }
    assert_eq!(
        closed(&s),
        [(asked, CallbackOutcome::Worklist, 3)],
        "three tries, then the worklist"
    );
    assert_eq!(s.engine.callbacks_pending(), 0);
    s.engine.check_invariants().expect("index clean");
}

#[test]
fn outside_the_callbacks_hours_the_request_waits_for_them_to_open() {
    let hours = "\n[callbacks]\noffer_after_seconds = 20\nopen = [\"mon-fri 08:00-09:00\"]\n";
    let mut s = Sim::with_config(MONDAY + 10 * 3600, hours);
    let busy = bridged_to_1003(&mut s);
    register_agent(&mut s, P1.0, P1.1);
    let p1 = Patient::dials(&mut s, P1, "p1");
    let asked = call_of(&s, "p1");
    live(&mut s, 20_500);
    p1.key(&mut s, '1', 4);
    live(&mut s, 8_000);
    // Monday 10:00: callbacks are placed from Tuesday 08:00.
    let tuesday_8 = (MONDAY + 86_400 + 8 * 3600) * 1000;
    assert!(s.events.iter().any(|e| matches!(e,
        EngineEvent::CallbackDeferred { item, at_ms, tries: 0 } if *item == asked && *at_ms == tuesday_8)));
    assert!(!s
        .events
        .iter()
        .any(|e| matches!(e, EngineEvent::CallbackStarted { .. })));
    agent_hangs_up(&mut s, &busy);
    // The registrations would lapse overnight: the phones register again before 08:00.
    let to_morning = (tuesday_8 - s.engine.wall_ms(s.clock.now())) as u64;
    s.advance(to_morning - 60_000);
    register_agent(&mut s, "1003", AGENT);
    register_agent(&mut s, P1.0, P1.1);
    let started = |s: &Sim| {
        s.events.iter().any(|e| {
            matches!(e, EngineEvent::CallbackStarted { item, attempt: 1, .. } if *item == asked)
        })
    };
    live(&mut s, 59_000);
    assert!(!started(&s), "not before 08:00");
    live(&mut s, 2_000);
    assert!(started(&s), "at 08:00");
    let before = s.inbox.len();
    agent_takes_next(&mut s);
    assert!(
        s.inbox[before..].iter().any(|m| matches!(m,
            Message::Request(r) if r.method == Method::Invite && r.uri.as_sip().and_then(|u| u.user.as_deref()) == Some(P1.0))),
        "the patient is dialled once the agent answers"
    );
}

#[test]
fn an_abandoned_patient_is_called_back_unless_they_call_again_and_get_through() {
    let mut s = Sim::with_config(MONDAY + 10 * 3600, "\n[callbacks]\nretry_minutes = 2\n");
    let busy = bridged_to_1003(&mut s);
    // 2001 and 2002 wait 30 s (past the short-abandon threshold) and hang up.
    register_agent(&mut s, P1.0, P1.1);
    register_agent(&mut s, P2.0, P2.1);
    let p1 = Patient::dials(&mut s, P1, "p1");
    let p2 = Patient::dials(&mut s, P2, "p2");
    live(&mut s, 30_000);
    p1.send(&mut s, "BYE", 5, "");
    p2.send(&mut s, "BYE", 5, "");
    let hung_up = s.clock.now();
    let (a1, a2) = (call_of(&s, "p1"), call_of(&s, "p2"));
    let recovered: Vec<CallId> = s
        .events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::CallbackRecovered { item, .. } => Some(*item),
            _ => None,
        })
        .collect();
    assert_eq!(recovered, [a1, a2]);
    assert_eq!(s.engine.callbacks_pending(), 2);
    // 2001 calls again at once and the agent, free again, answers: 2001's callback is no
    // longer needed.
    let _again = Patient::dials(&mut s, P1, "p1-again");
    agent_hangs_up(&mut s, &busy);
    live(&mut s, 10_500);
    let offer = agent_takes_next(&mut s);
    assert_eq!(offered_to_1003(&s).last(), Some(&call_of(&s, "p1-again")));
    assert_eq!(closed(&s), [(a1, CallbackOutcome::CalledAgain, 0)]);
    in_leg(&mut s, AGENT, "1003", &offer, "BYE", 9, "", "");
    // Two minutes after hanging up, 2002's callback waits in the queue and is offered.
    let started = |s: &Sim| {
        s.events.iter().any(
            |e| matches!(e, EngineEvent::CallbackStarted { item, attempt: 1, .. } if *item == a2),
        )
    };
    while !started(&s) {
        live(&mut s, 1_000);
        assert!(s.clock.now() - hung_up < std::time::Duration::from_secs(130));
    }
    assert!(s.clock.now() - hung_up >= std::time::Duration::from_secs(120));
    assert!(!s
        .events
        .iter()
        .any(|e| matches!(e, EngineEvent::CallbackStarted { item, .. } if *item == a1)));
    agent_takes_next(&mut s);
    let ring = invite_to(&s, P2.0).expect("2002's phone rings");
    answers_at(&mut s, P2.1, P2.0, &ring, &sdp(P2.2));
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, EngineEvent::CallbackReached { item, .. } if *item == a2)));
    s.engine.check_invariants().expect("index clean");
}

/// A carrier that trusts the hospital's address, the hospital number 8000 behind its DID,
/// and the rule that lets the switchboard's own callbacks out to national numbers.
const CARRIER: &str = "127.0.0.3:5060";
const FAR_RTP: &str = "127.0.0.9:40000";
const THROUGH_CARRIER: &str = r#"
[callbacks]
offer_after_seconds = 20

[[trunks]]
name = "carrier"
address = "127.0.0.3:5060"
domain = "carrier.test"
numbers = "e164"
dids = { "+862088880000" = "8000" }
caller_id = "+862088880000"
caller_name = "Demo Hospital"
options_seconds = 0

[[outbound]]
name = "callbacks"
patterns = ["0X.", "1XXXXXXXXXX"]
engine = true
"#;

/// A request from the carrier in the patient's call `id` (To tag `tag`).
fn from_carrier(s: &mut Sim, id: &str, tag: &str, method: &str, cseq: u32, body: &str) {
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/dtmf-relay\n".to_string()
    };
    s.send_from(CARRIER, &format!("{method} sip:8000@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bK{id}{method}{cseq}\nFrom: <sip:+8613912345678@carrier.test>;tag=c{id}\nTo: <sip:+862088880000@carrier.test>;tag={tag}\nCall-ID: {id}\nCSeq: {cseq} {method}\nMax-Forwards: 70\n{ct}Content-Length: {}\n\n{body}", body.len()));
}

#[test]
fn a_patient_of_the_phone_network_is_called_back_through_the_carrier_with_the_hospital_s_number() {
    let mut s = Sim::with_config(MONDAY + 10 * 3600, THROUGH_CARRIER);
    let busy = bridged_to_1003(&mut s);
    // The patient calls the hospital's DID through the carrier and presses 2.
    let body = OFFER_PLAIN.replace('\n', "\r\n");
    s.send_from(CARRIER, &format!("INVITE sip:+862088880000@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bKnet1\nFrom: <sip:+8613912345678@carrier.test>;tag=cnet1\nTo: <sip:+862088880000@carrier.test>\nCall-ID: net1\nCSeq: 1 INVITE\nContact: <sip:gw@{CARRIER}>\nMax-Forwards: 70\nContent-Type: application/sdp\nContent-Length: {}\n\n{body}", body.len()));
    let ok = s.last_response().clone();
    assert_eq!(ok.status, 200);
    let tag = ok.core.to.tag().expect("tag").to_string();
    from_carrier(&mut s, "net1", &tag, "ACK", 1, "");
    past_the_menu(&mut s);
    from_carrier(&mut s, "net1", &tag, "INFO", 2, "Signal=2\r\n");
    live(&mut s, 20_500);
    from_carrier(&mut s, "net1", &tag, "INFO", 3, "Signal=1\r\n");
    live(&mut s, 8_000);
    let asked = call_of(&s, "net1");
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, EngineEvent::CallbackStarted { item, .. } if *item == asked)));
    // The agent takes the callback; the switchboard dials the patient through the carrier
    // with the hospital's number.
    agent_hangs_up(&mut s, &busy);
    live(&mut s, 10_500);
    agent_takes_next(&mut s);
    let out = s
        .ladder
        .iter()
        .rev()
        .find_map(|h| match &h.msg {
            Message::Request(r) if r.method == Method::Invite && h.to == addr(CARRIER) => {
                Some(r.clone())
            }
            _ => None,
        })
        .expect("an INVITE to the carrier");
    assert_eq!(out.uri.to_string(), "sip:+8613912345678@carrier.test");
    assert_eq!(
        out.core.from.uri.to_string(),
        "sip:+862088880000@carrier.test",
        "the hospital's number as caller ID"
    );
    let far_sdp = "v=0\r\no=- 5 5 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
    let ring = ResponseBuilder::new(&out, 180).to_tag("far").build();
    s.send_from(CARRIER, &String::from_utf8(ring.to_bytes()).expect("utf8"));
    let answer = ResponseBuilder::new(&out, 200)
        .to_tag("far")
        .header("Contact", format!("<sip:far@{CARRIER}>"))
        .body("application/sdp", far_sdp.as_bytes().to_vec())
        .build();
    s.send_from(
        CARRIER,
        &String::from_utf8(answer.to_bytes()).expect("utf8"),
    );
    let cb = s
        .events
        .iter()
        .find_map(|e| match e {
            EngineEvent::CallbackReached { call, item, .. } if *item == asked => Some(*call),
            _ => None,
        })
        .expect("reached");
    assert!(s.events.iter().any(|e| matches!(e,
        EngineEvent::TrunkAttempt { call, status: 200, .. } if *call == cb)));
    let mark = s.rtp.len();
    rtp_to_port(
        &mut s,
        20_000 + 2 * cb.0 as u16,
        FAR_RTP,
        0,
        5,
        &[0x11; 160],
    );
    assert_eq!(
        sent_to(&s, mark, AGENT_RTP).len(),
        1,
        "the agent hears the patient"
    );
    let mark = s.rtp.len();
    rtp_to_port(&mut s, 30_004, AGENT_RTP, 8, 5, &[0x22; 160]);
    assert_eq!(
        sent_to(&s, mark, FAR_RTP).len(),
        1,
        "the patient hears the agent"
    );
    s.engine.check_invariants().expect("index clean");
}
