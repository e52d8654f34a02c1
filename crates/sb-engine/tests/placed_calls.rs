//! Calls the switchboard places itself (the operator's "call this extension") on virtual
//! time: the operator's phone rings first and hears ringback once answered, the one dialled
//! rings next and the two are bridged with media both ways; refusals before any phone
//! rings; the placing phone not answering, the one dialled not answering, and a hang-up
//! from the API while the first phone rings.

use sb_engine::{ControlError, EngineEvent, Presence};
use sb_sip_msg::{Message, Method, Request};
use sb_testkit::*;
use sb_types::vocab::{CallDirection, EndReason, LiveState};

/// The operator's phone (extension 1100) and its media.
const OPERATOR: &str = "127.0.0.1:6110";
const OPERATOR_RTP: &str = "127.0.0.1:7110";
const OPERATOR_SDP: &str = "v=0\r\no=- 3 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7110 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
/// Department 2001's phone and its media.
const DEPT: &str = "127.0.0.1:6201";
const DEPT_RTP: &str = "127.0.0.1:7201";
const DEPT_SDP: &str = "v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7201 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

fn ended(s: &Sim) -> Vec<EndReason> {
    s.events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::CallEnded { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

/// Requests of `method` the engine sent in Call-ID `call_id`, each once (retransmissions
/// share their transaction's branch).
fn sent(s: &Sim, method: Method, call_id: &str) -> usize {
    let branches: std::collections::HashSet<String> = s
        .inbox
        .iter()
        .filter_map(|m| match m {
            Message::Request(r) if r.method == method && r.core.call_id == call_id => {
                Some(r.core.via[0].branch().unwrap_or_default().to_string())
            }
            _ => None,
        })
        .collect();
    branches.len()
}

fn presence(s: &Sim, ext: &str) -> Presence {
    let now = s.clock.now();
    s.engine
        .live_presence(now)
        .into_iter()
        .find(|(n, _)| n == ext)
        .map(|(_, p)| p)
        .expect("in the directory")
}

/// The operator asks for 2001: returns the INVITE to the operator's phone.
fn place_to_2001(s: &mut Sim) -> Request {
    register_agent(s, "1100", OPERATOR);
    register_agent(s, "2001", DEPT);
    let now = s.clock.now();
    let id = s.engine.place_call(now, "1100", "2001").expect("placed");
    s.pump();
    let live = s.engine.live_call(id).expect("listed");
    assert!(live.placed);
    assert_eq!(
        (live.caller.as_str(), live.dialled.as_str()),
        ("1100", "2001")
    );
    let inv = invite_to(s, "1100").expect("the operator's phone rings first");
    assert!(
        invite_to(s, "2001").is_none(),
        "2001 waits for the operator"
    );
    assert_eq!(
        inv.core.from.display.as_deref(),
        Some("\"2001\""),
        "the phone shows whom it will call"
    );
    inv
}

#[test]
fn the_operator_s_phone_rings_then_the_one_dialled_and_the_two_talk() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let inv = place_to_2001(&mut s);
    assert!(s.events.iter().any(|e| matches!(e,
        EngineEvent::CallStarted { dialled, direction: CallDirection::Internal, sip_call_id, .. }
            if dialled == "2001" && *sip_call_id == inv.core.call_id)));
    assert_eq!(presence(&s, "1100"), Presence::Ringing);
    rings_at(&mut s, OPERATOR, &inv);
    answers_at(&mut s, OPERATOR, "1100", &inv, OPERATOR_SDP);
    assert_eq!(sent(&s, Method::Ack, &inv.core.call_id), 1);
    // Answered: ringback (450 Hz, then silence) while 2001 rings.
    let mark = s.rtp.len();
    s.advance(1_000);
    let heard = sent_to(&s, mark, OPERATOR_RTP);
    assert!(heard.len() >= 45, "a stream of ringback: {}", heard.len());
    let ringback = &s.assets.prompt("zh-CN", "ringback").expect("ringback").ulaw;
    let payload = |p: &[u8]| rtp_rs::RtpReader::new(p).expect("rtp").payload().to_vec();
    assert!(
        heard
            .iter()
            .take(20)
            .all(|p| ringback.windows(160).any(|w| w == payload(p).as_slice())),
        "what the operator hears is the ringback"
    );
    let c = invite_to(&s, "2001").expect("2001 rings once the operator answered");
    assert_eq!(presence(&s, "1100"), Presence::OnCall);
    assert_eq!(presence(&s, "2001"), Presence::Ringing);
    rings_at(&mut s, DEPT, &c);
    answers_at(&mut s, DEPT, "2001", &c, DEPT_SDP);
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, EngineEvent::Bridged { agent, .. } if agent == "2001")));
    let live = s.engine.live_calls();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].state, LiveState::Talking);
    assert_eq!(live[0].agent.as_deref(), Some("2001"));
    // Media both ways: the operator's leg is call 1's first (port 20_002), 2001's the
    // next leg opened (30_002).
    let mark = s.rtp.len();
    rtp_to_port(&mut s, 20_002, OPERATOR_RTP, 0, 10, &[0x11; 160]);
    assert_eq!(
        sent_to(&s, mark, DEPT_RTP).len(),
        1,
        "the operator is heard"
    );
    let mark = s.rtp.len();
    rtp_to_port(&mut s, 30_002, DEPT_RTP, 0, 10, &[0x22; 160]);
    let back = sent_to(&s, mark, OPERATOR_RTP);
    assert_eq!(back.len(), 1, "2001 is heard");
    assert_eq!(payload(&back[0]), vec![0x22; 160]);
    // 2001 hangs up: the operator's phone gets the BYE.
    in_leg(&mut s, DEPT, "2001", &c, "BYE", 3, "", "");
    assert_eq!(sent(&s, Method::Bye, &inv.core.call_id), 1);
    assert_eq!(s.engine.calls(), 0);
    assert_eq!(ended(&s), [EndReason::AgentHungUp]);
    s.engine.check_invariants().expect("index clean");
}

#[test]
fn nothing_rings_for_a_call_that_cannot_be_placed() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let now = s.clock.now();
    assert_eq!(
        s.engine.place_call(now, "1100", "2001"),
        Err(ControlError::PhoneOffline("1100".into()))
    );
    register_agent(&mut s, "1100", OPERATOR);
    let now = s.clock.now();
    assert_eq!(
        s.engine.place_call(now, "1100", "1100"),
        Err(ControlError::UnknownExtension("1100".into()))
    );
    assert_eq!(
        s.engine.place_call(now, "1100", "no-such"),
        Err(ControlError::UnknownExtension("no-such".into()))
    );
    s.pump();
    assert!(invite_to(&s, "1100").is_none());
    assert_eq!(s.engine.calls(), 0);
    s.engine.stop_taking_calls();
    let now = s.clock.now();
    assert_eq!(
        s.engine.place_call(now, "1100", "2001"),
        Err(ControlError::Stopping)
    );
}

#[test]
fn an_operator_who_does_not_answer_is_left_alone_and_2001_never_rings() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let inv = place_to_2001(&mut s);
    rings_at(&mut s, OPERATOR, &inv);
    s.advance(20_500);
    assert_eq!(sent(&s, Method::Cancel, &inv.core.call_id), 1);
    assert!(invite_to(&s, "2001").is_none());
    assert_eq!(s.engine.calls(), 0);
    assert_eq!(ended(&s), [EndReason::PlacerNotAnswered]);
    assert_eq!(presence(&s, "1100"), Presence::Registered);
    s.engine.check_invariants().expect("index clean");
}

#[test]
fn the_one_dialled_not_answering_hangs_the_operator_up() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let inv = place_to_2001(&mut s);
    answers_at(&mut s, OPERATOR, "1100", &inv, OPERATOR_SDP);
    let c = invite_to(&s, "2001").expect("2001 rings");
    rings_at(&mut s, DEPT, &c);
    s.advance(20_500);
    assert_eq!(sent(&s, Method::Cancel, &c.core.call_id), 1);
    assert_eq!(sent(&s, Method::Bye, &inv.core.call_id), 1);
    assert_eq!(ended(&s), [EndReason::CalleeNoAnswer]);
    assert_eq!(s.engine.calls(), 0);
}

#[test]
fn hanging_up_from_the_api_stops_the_operator_s_phone_ringing() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let inv = place_to_2001(&mut s);
    rings_at(&mut s, OPERATOR, &inv);
    let now = s.clock.now();
    let id = s.engine.live_calls()[0].id;
    s.engine
        .call_action(
            now,
            id,
            sb_engine::CallAction::HangUp,
            sb_engine::Control::Api,
        )
        .expect("hung up");
    s.pump();
    assert_eq!(sent(&s, Method::Cancel, &inv.core.call_id), 1);
    assert_eq!(ended(&s), [EndReason::ControlApi]);
    assert_eq!(s.engine.calls(), 0);
    s.engine.check_invariants().expect("index clean");
}
