//! Transfers and consultations on virtual time: a patient bridged to agent 1003 is
//! transferred blind (feature code, REFER), comes back when the target does not answer,
//! is consulted about (swap, back, complete), and handed over by the phone's own attended
//! transfer (REFER with Replaces naming a call between extensions).

use rtp_rs::RtpReader;
use sb_engine::{Control, EngineEvent};
use sb_sip_msg::{Message, Method, Request};
use sb_testkit::*;
use sb_types::vocab::{CallDirection, LegFailure, LiveState, Named, ServiceOutcome, TransferKind};

/// Department 2001's phone and its media.
const DEPT: &str = "127.0.0.1:6201";
const DEPT_RTP: &str = "127.0.0.1:7201";
const DEPT_SDP: &str = "v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7201 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
/// Agent 1005's phone (the colleague consulted) and its media.
const COLLEAGUE: &str = "127.0.0.1:6205";
const COLLEAGUE_RTP: &str = "127.0.0.1:7205";
const COLLEAGUE_SDP: &str = "v=0\r\no=- 9 9 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7205 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

/// Our RTP ports in the harness: call n has 20_000 + 2n, leg n 30_000 + 2n.
const PATIENT_PORT: u16 = 20_002;
fn leg_port(n: u16) -> u16 {
    30_000 + 2 * n
}

/// Requests of `method` the engine sent in the dialog with Call-ID `call_id`.
fn sent_in(s: &Sim, method: Method, call_id: &str) -> Vec<Request> {
    s.inbox
        .iter()
        .filter_map(|m| match m {
            Message::Request(r) if r.method == method && r.core.call_id == call_id => {
                Some(r.clone())
            }
            _ => None,
        })
        .collect()
}

fn consult_steps(s: &Sim) -> Vec<&'static str> {
    s.events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Consult { step, .. } => Some(step.name()),
            _ => None,
        })
        .collect()
}

fn bridged_to(s: &Sim) -> Vec<String> {
    s.events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Bridged { agent, .. } => Some(agent.clone()),
            _ => None,
        })
        .collect()
}

fn agent_state(s: &Sim, agent: &str) -> &'static str {
    s.engine
        .live_agents()
        .into_iter()
        .find(|a| a.id == agent)
        .expect("agent")
        .state
}

/// One frame of `byte` from `from` to our `port` (a speaker); returns what reached `to`
/// from it.
fn frame_reaches(
    s: &mut Sim,
    seq: &mut u16,
    (port, from, byte): (u16, &str, u8),
    to: &str,
) -> Vec<Vec<u8>> {
    let mark = s.rtp.len();
    *seq += 1;
    // Agent 1003's phone talks PCMA (AGENT_SDP), everyone else PCMU.
    let pt = if from == AGENT_RTP { 8 } else { 0 };
    rtp_to_port(s, port, from, pt, *seq, &[byte; 160]);
    sent_to(s, mark, to)
}

fn payload(p: &[u8]) -> Vec<u8> {
    RtpReader::new(p).expect("rtp").payload().to_vec()
}

/// Whether the patient hears the hold music now: 100 ms of it, frame by frame.
fn patient_hears_music(s: &mut Sim) -> bool {
    let mark = s.rtp.len();
    s.advance(100);
    let heard = sent_to(s, mark, PHONE_RTP);
    let music = &s.assets.prompt("zh-CN", "hold-music").expect("music").ulaw;
    heard.len() == 5
        && heard
            .iter()
            .all(|p| music.windows(160).any(|w| w == payload(p).as_slice()))
}

#[test]
fn a_blind_transfer_by_feature_code_hands_the_patient_to_the_department() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    register_agent(&mut s, "2001", DEPT);
    let inv = bridged_to_1003(&mut s);
    let mut seq = 100u16;

    agent_keys(&mut s, &mut seq, "*42001#");
    assert_eq!(
        transfers(&s),
        [("1003".into(), "2001".into(), "blind")],
        "one blind transfer"
    );
    assert_eq!(
        sent_in(&s, Method::Bye, &inv.core.call_id).len(),
        1,
        "the agent's phone is hung up"
    );
    assert!(patient_hears_music(&mut s), "the patient waits with music");
    assert_eq!(
        agent_state(&s, "1003"),
        "on_call",
        "no new offer while the call may come back"
    );

    let dept = invite_to(&s, "2001").expect("the department rings");
    rings_at(&mut s, DEPT, &dept);
    answers_at(&mut s, DEPT, "2001", &dept, DEPT_SDP);
    assert_eq!(bridged_to(&s), ["1003", "2001"]);
    assert_eq!(
        agent_state(&s, "1003"),
        "wrap_up",
        "the agent's part is done"
    );
    // Both ways between the patient and the department; the agent's old leg is silent.
    let heard = frame_reaches(&mut s, &mut seq, (leg_port(2), DEPT_RTP, 0x42), PHONE_RTP);
    assert_eq!(heard.len(), 1);
    assert!(payload(&heard[0]).iter().all(|b| *b == 0x42));
    assert_eq!(
        frame_reaches(&mut s, &mut seq, (PATIENT_PORT, PHONE_RTP, 0x24), DEPT_RTP).len(),
        1
    );
    assert!(frame_reaches(&mut s, &mut seq, (leg_port(1), AGENT_RTP, 0x55), PHONE_RTP).is_empty());
    // The department hangs up: the patient's call ends.
    in_leg(&mut s, DEPT, "2001", &dept, "BYE", 2, "", "");
    assert_eq!(s.engine.calls(), 0);
}

/// The agent's phone sends REFER to 2001 on the patient's dialog.
fn refer_to_2001(s: &mut Sim, inv: &Request) {
    in_leg(
        s,
        AGENT,
        "1003",
        inv,
        "REFER",
        4,
        "Refer-To: <sip:2001@127.0.0.1>\nReferred-By: <sip:1003@127.0.0.1>\n",
        "",
    );
    let accepted = s
        .inbox
        .iter()
        .find_map(|m| match m {
            Message::Response(r) if r.core.cseq.method == Method::Refer => Some(r.clone()),
            _ => None,
        })
        .expect("the REFER is answered");
    assert_eq!(accepted.status, 202);
}

/// The NOTIFYs sent in the dialog `call_id`: (sipfrag status line, subscription state).
fn notifies(s: &Sim, call_id: &str) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::new();
    sent_in(s, Method::Notify, call_id)
        .iter()
        // Once each: this phone never answers, so they are sent again.
        .filter(|n| seen.insert(n.core.cseq.seq))
        .map(|n| {
            assert_eq!(n.headers.get("Event"), Some("refer"));
            (
                String::from_utf8_lossy(&n.body).trim().to_string(),
                n.headers
                    .get("Subscription-State")
                    .unwrap_or_default()
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn a_refer_reports_progress_and_the_outcome_when_the_department_answers() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    register_agent(&mut s, "2001", DEPT);
    let inv = bridged_to_1003(&mut s);
    refer_to_2001(&mut s, &inv);
    assert_eq!(
        notifies(&s, &inv.core.call_id),
        [("SIP/2.0 100 Trying".to_string(), "active".to_string())]
    );
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::Transfer {
            kind: TransferKind::Blind,
            by: Some(Control::Refer),
            ..
        }
    )));
    assert!(
        sent_in(&s, Method::Bye, &inv.core.call_id).is_empty(),
        "the transferring phone stays on the line meanwhile"
    );
    let dept = invite_to(&s, "2001").expect("the department rings");
    rings_at(&mut s, DEPT, &dept);
    answers_at(&mut s, DEPT, "2001", &dept, DEPT_SDP);
    assert_eq!(
        notifies(&s, &inv.core.call_id)[1],
        ("SIP/2.0 200 OK".to_string(), "terminated".to_string())
    );
    assert_eq!(sent_in(&s, Method::Bye, &inv.core.call_id).len(), 1);
    assert_eq!(bridged_to(&s), ["1003", "2001"]);
}

#[test]
fn a_refer_to_a_department_that_does_not_answer_comes_back_on_the_same_line() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    register_agent(&mut s, "2001", DEPT);
    let inv = bridged_to_1003(&mut s);
    refer_to_2001(&mut s, &inv);
    let dept = invite_to(&s, "2001").expect("the department rings");
    rings_at(&mut s, DEPT, &dept);
    // Nobody picks up for the transfer's ring time (20 s here).
    s.advance(20_500);
    assert!(
        !sent_in(&s, Method::Cancel, &dept.core.call_id).is_empty(),
        "the department stops ringing"
    );
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::TransferFailed { to, reason: LegFailure::NoAnswer, .. } if to == "2001"
    )));
    assert_eq!(
        transfers(&s)[1],
        ("2001".into(), "1003".into(), "back"),
        "the call comes back to the agent"
    );
    assert_eq!(
        notifies(&s, &inv.core.call_id)[1],
        (
            "SIP/2.0 480 Temporarily Unavailable".to_string(),
            "terminated".to_string()
        )
    );
    assert_eq!(
        invite_to(&s, "1003").map(|i| i.core.call_id),
        Some(inv.core.call_id.clone()),
        "no second ringing: the phone never left"
    );
    assert_eq!(bridged_to(&s), ["1003", "1003"]);
    assert_eq!(agent_state(&s, "1003"), "on_call");
    let mut seq = 300u16;
    assert_eq!(
        frame_reaches(&mut s, &mut seq, (leg_port(1), AGENT_RTP, 0x55), PHONE_RTP).len(),
        1,
        "the agent and the patient talk again"
    );
}

#[test]
fn a_refer_whose_phone_hung_up_rings_the_agent_again_when_unanswered() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    register_agent(&mut s, "2001", DEPT);
    let inv = bridged_to_1003(&mut s);
    refer_to_2001(&mut s, &inv);
    // Many phones hang up as soon as the REFER is accepted (CSeq after the REFER's).
    in_leg(&mut s, AGENT, "1003", &inv, "BYE", 5, "", "");
    assert_eq!(s.engine.calls(), 1, "the patient stays");
    let dept = invite_to(&s, "2001").expect("the department rings");
    rings_at(&mut s, DEPT, &dept);
    s.advance(20_500);
    let back = invite_to(&s, "1003").expect("the agent's phone rings again");
    assert_ne!(
        back.core.call_id, inv.core.call_id,
        "a new call to the agent"
    );
    agent_rings(&mut s, &back);
    agent_answers(&mut s, &back, AGENT_SDP);
    assert_eq!(bridged_to(&s), ["1003", "1003"]);
    let mut seq = 300u16;
    assert_eq!(
        frame_reaches(&mut s, &mut seq, (leg_port(3), AGENT_RTP, 0x55), PHONE_RTP).len(),
        1
    );
}

#[test]
fn a_refer_to_a_number_that_is_no_extension_is_refused_and_the_call_stays() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let inv = bridged_to_1003(&mut s);
    in_leg(
        &mut s,
        AGENT,
        "1003",
        &inv,
        "REFER",
        4,
        "Refer-To: <sip:9999@127.0.0.1>\n",
        "",
    );
    assert_eq!(s.last_response().status, 404);
    in_leg(&mut s, AGENT, "1003", &inv, "REFER", 5, "", "");
    assert_eq!(s.last_response().status, 400, "no Refer-To");
    assert!(transfers(&s).is_empty());
    assert_eq!(bridged_to(&s), ["1003"]);
    let mut seq = 10u16;
    assert_eq!(
        frame_reaches(&mut s, &mut seq, (leg_port(1), AGENT_RTP, 0x55), PHONE_RTP).len(),
        1,
        "still talking"
    );
}

/// 1003 consults 1005 by feature code, who answers.
fn consulting_1005(s: &mut Sim, seq: &mut u16) -> (Request, Request) {
    register_agent(s, "1005", COLLEAGUE);
    let inv = bridged_to_1003(s);
    agent_keys(s, seq, "*31005#");
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::Hold {
            on: true,
            by: Control::FeatureCode,
            ..
        }
    )));
    let c = invite_to(s, "1005").expect("the colleague's phone rings");
    rings_at(s, COLLEAGUE, &c);
    answers_at(s, COLLEAGUE, "1005", &c, COLLEAGUE_SDP);
    assert_eq!(consult_steps(s), ["ringing", "answered"]);
    (inv, c)
}

#[test]
fn a_consultation_swaps_between_patient_and_colleague_then_completes_as_attended_transfer() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let mut seq = 100u16;
    let (inv, colleague) = consulting_1005(&mut s, &mut seq);

    // Agent and colleague hear each other; the patient hears music and neither of them.
    let c = leg_port(2);
    assert_eq!(
        frame_reaches(
            &mut s,
            &mut seq,
            (leg_port(1), AGENT_RTP, 0x55),
            COLLEAGUE_RTP
        )
        .len(),
        1
    );
    assert_eq!(
        frame_reaches(&mut s, &mut seq, (c, COLLEAGUE_RTP, 0x66), AGENT_RTP).len(),
        1
    );
    assert!(frame_reaches(&mut s, &mut seq, (PATIENT_PORT, PHONE_RTP, 0x11), AGENT_RTP).is_empty());
    assert!(frame_reaches(
        &mut s,
        &mut seq,
        (PATIENT_PORT, PHONE_RTP, 0x11),
        COLLEAGUE_RTP
    )
    .is_empty());
    assert!(patient_hears_music(&mut s));

    // Swap: back with the patient; the colleague waits and hears nobody.
    agent_keys(&mut s, &mut seq, "*5");
    assert_eq!(
        frame_reaches(&mut s, &mut seq, (leg_port(1), AGENT_RTP, 0x55), PHONE_RTP).len(),
        1
    );
    assert_eq!(
        frame_reaches(&mut s, &mut seq, (PATIENT_PORT, PHONE_RTP, 0x11), AGENT_RTP).len(),
        1
    );
    assert!(frame_reaches(&mut s, &mut seq, (c, COLLEAGUE_RTP, 0x66), AGENT_RTP).is_empty());
    assert!(frame_reaches(
        &mut s,
        &mut seq,
        (leg_port(1), AGENT_RTP, 0x55),
        COLLEAGUE_RTP
    )
    .is_empty());
    // And over to the colleague again.
    agent_keys(&mut s, &mut seq, "*5");
    assert_eq!(
        frame_reaches(&mut s, &mut seq, (c, COLLEAGUE_RTP, 0x66), AGENT_RTP).len(),
        1
    );
    assert_eq!(
        consult_steps(&s),
        [
            "ringing",
            "answered",
            "swapped_to_patient",
            "swapped_to_colleague"
        ]
    );

    // # completes: the colleague has the patient, the agent is hung up.
    agent_keys(&mut s, &mut seq, "#");
    assert_eq!(transfers(&s), [("1003".into(), "1005".into(), "attended")]);
    assert_eq!(sent_in(&s, Method::Bye, &inv.core.call_id).len(), 1);
    assert!(sent_in(&s, Method::Bye, &colleague.core.call_id).is_empty());
    assert_eq!(bridged_to(&s), ["1003", "1005"]);
    assert_eq!(agent_state(&s, "1003"), "wrap_up");
    let heard = frame_reaches(&mut s, &mut seq, (c, COLLEAGUE_RTP, 0x66), PHONE_RTP);
    assert_eq!(heard.len(), 1, "the patient hears the colleague");
    assert!(payload(&heard[0]).iter().all(|b| *b == 0x66));
    assert_eq!(
        frame_reaches(
            &mut s,
            &mut seq,
            (PATIENT_PORT, PHONE_RTP, 0x11),
            COLLEAGUE_RTP
        )
        .len(),
        1,
        "and the colleague the patient"
    );
    // The hold that the consultation began is over, for the record's hold time.
    let holds: Vec<bool> = s
        .events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Hold { on, .. } => Some(*on),
            _ => None,
        })
        .collect();
    assert_eq!(holds.last(), Some(&false));
}

#[test]
fn going_back_from_a_consultation_hangs_the_colleague_up() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let mut seq = 100u16;
    let (_inv, colleague) = consulting_1005(&mut s, &mut seq);
    assert_eq!(
        agent_state(&s, "1005"),
        "on_call",
        "a consulted agent gets no ACD offer"
    );
    agent_keys(&mut s, &mut seq, "*0");
    assert_eq!(agent_state(&s, "1005"), "available");
    assert_eq!(sent_in(&s, Method::Bye, &colleague.core.call_id).len(), 1);
    assert_eq!(consult_steps(&s).last(), Some(&"ended"));
    assert_eq!(
        frame_reaches(&mut s, &mut seq, (leg_port(1), AGENT_RTP, 0x55), PHONE_RTP).len(),
        1,
        "the agent talks to the patient again"
    );
    // A consultation to an extension with no phone registered fails at once.
    agent_keys(&mut s, &mut seq, "*32002#");
    assert_eq!(consult_steps(&s).last(), Some(&"failed"));
    assert_eq!(
        frame_reaches(&mut s, &mut seq, (PATIENT_PORT, PHONE_RTP, 0x11), AGENT_RTP).len(),
        1,
        "not left on hold"
    );
}

#[test]
fn the_colleague_keeps_the_patient_when_the_consulting_agent_hangs_up() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let mut seq = 100u16;
    let (inv, _colleague) = consulting_1005(&mut s, &mut seq);
    agent_hangs_up(&mut s, &inv);
    assert_eq!(transfers(&s), [("1003".into(), "1005".into(), "attended")]);
    assert_eq!(s.engine.calls(), 1, "the patient's call goes on");
    assert_eq!(
        frame_reaches(
            &mut s,
            &mut seq,
            (leg_port(2), COLLEAGUE_RTP, 0x66),
            PHONE_RTP
        )
        .len(),
        1
    );
}

#[test]
fn extensions_call_each_other_and_the_phones_attended_transfer_replaces_the_call() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    register_agent(&mut s, "1005", COLLEAGUE);
    let inv = bridged_to_1003(&mut s);
    // The agent's phone holds the patient with its own button ...
    let hold_sdp = AGENT_SDP.replace(
        "m=audio 7003 RTP/AVP 8 101\r\n",
        "m=audio 7003 RTP/AVP 8 101\r\na=sendonly\r\n",
    );
    agent_reinvite(&mut s, &inv, 2, &hold_sdp);
    assert!(patient_hears_music(&mut s));
    // ... and calls 1005 through us: ringing until 1005 answers, then answered.
    let agent_media = DEPT_SDP.replace("7201", "7013");
    let ringing = dial_from(&mut s, AGENT, "1003", "1005", "consult-1", &agent_media);
    assert_eq!(ringing.status, 180, "ringback while the extension rings");
    let c = invite_to(&s, "1005").expect("1005 rings");
    rings_at(&mut s, COLLEAGUE, &c);
    answers_at(&mut s, COLLEAGUE, "1005", &c, COLLEAGUE_SDP);
    let ok = s.last_response().clone();
    assert_eq!((ok.status, ok.core.call_id.as_str()), (200, "consult-1"));
    let our_tag = ok.core.to.tag().expect("tag").to_string();
    s.send_from(AGENT, &format!("ACK sip:1005@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {AGENT};branch=z9hG4bKackc;rport\nFrom: <sip:1003@127.0.0.1>;tag=from1003\nTo: <sip:1005@127.0.0.1>;tag={our_tag}\nCall-ID: consult-1\nCSeq: 2 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n"));
    let mut seq = 100u16;
    // The internal call carries media both ways (call 2 has port 20_004).
    assert_eq!(
        frame_reaches(
            &mut s,
            &mut seq,
            (20_004, "127.0.0.1:7013", 0x55),
            COLLEAGUE_RTP
        )
        .len(),
        1
    );
    assert_eq!(
        frame_reaches(
            &mut s,
            &mut seq,
            (leg_port(2), COLLEAGUE_RTP, 0x66),
            "127.0.0.1:7013"
        )
        .len(),
        1
    );

    // REFER on the patient's dialog, Replaces naming the call to 1005.
    let refer_to = format!(
        "Refer-To: <sip:1005@127.0.0.1?Replaces=consult-1%3Bto-tag%3D{our_tag}%3Bfrom-tag%3Dfrom1003>\n"
    );
    in_leg(&mut s, AGENT, "1003", &inv, "REFER", 5, &refer_to, "");
    let answered = s
        .inbox
        .iter()
        .rev()
        .find_map(|m| match m {
            Message::Response(r) if r.core.cseq.method == Method::Refer => Some(r.status),
            _ => None,
        })
        .expect("the REFER is answered");
    assert_eq!(answered, 202);
    assert_eq!(sent_in(&s, Method::Notify, &inv.core.call_id).len(), 1);
    assert_eq!(transfers(&s), [("1003".into(), "1005".into(), "attended")]);
    // Both of the agent's calls end; 1005 is not hung up.
    assert_eq!(sent_in(&s, Method::Bye, &inv.core.call_id).len(), 1);
    assert_eq!(sent_in(&s, Method::Bye, "consult-1").len(), 1);
    assert!(sent_in(&s, Method::Bye, &c.core.call_id).is_empty());
    assert_eq!(s.engine.calls(), 1);
    // The patient and 1005 talk.
    let heard = frame_reaches(
        &mut s,
        &mut seq,
        (leg_port(2), COLLEAGUE_RTP, 0x66),
        PHONE_RTP,
    );
    assert_eq!(heard.len(), 1);
    assert_eq!(
        frame_reaches(
            &mut s,
            &mut seq,
            (PATIENT_PORT, PHONE_RTP, 0x11),
            COLLEAGUE_RTP
        )
        .len(),
        1
    );
    assert!(!patient_hears_music(&mut s), "no more music");
    assert_eq!(agent_state(&s, "1003"), "wrap_up");
}

#[test]
fn a_call_to_an_extension_that_is_not_registered_or_does_not_answer_fails_cleanly() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    register_agent(&mut s, "1003", AGENT);
    let r = dial_from(&mut s, AGENT, "1003", "2002", "x-1", OFFER_PLAIN);
    assert_eq!(r.status, 480, "2002 has no phone registered");
    register_agent(&mut s, "2001", DEPT);
    let r = dial_from(&mut s, AGENT, "1003", "2001", "x-2", OFFER_PLAIN);
    assert_eq!(r.status, 180);
    s.advance(20_500);
    assert_eq!(
        s.last_response().status,
        480,
        "no answer within the ring time"
    );
    let r = dial_from(&mut s, AGENT, "1003", "1003", "x-3", OFFER_PLAIN);
    assert_eq!(r.status, 404, "calling yourself is no call");
    assert_eq!(s.engine.calls(), 0);
}

/// Every frame sent to `to`, as one stream of payload bytes.
fn heard_by(s: &Sim, to: &str) -> Vec<u8> {
    sent_to(s, 0, to).iter().flat_map(|p| payload(p)).collect()
}

/// `user`'s phone at `at` dials service code `code`: answered, the confirmation, hung up.
/// Returns the outcome the engine reports.
fn service_from(s: &mut Sim, at: &str, user: &str, code: &str, id: &str) -> ServiceOutcome {
    let ok = dial_from(
        s,
        at,
        user,
        code,
        id,
        DEPT_SDP.replace("7201", "7013").as_str(),
    );
    assert_eq!(ok.status, 200, "{code} is answered");
    let tag = ok.core.to.tag().expect("tag").to_string();
    s.send_from(at, &format!("ACK sip:{code}@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {at};branch=z9hG4bKack{id};rport\nFrom: <sip:{user}@127.0.0.1>;tag=from{user}\nTo: <sip:{code}@127.0.0.1>;tag={tag}\nCall-ID: {id}\nCSeq: 2 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n"));
    // The confirmation plays, then the engine hangs up (the BYE may be sent again: this
    // phone never answers it).
    s.advance(8_000);
    assert!(
        !sent_in(s, Method::Bye, id).is_empty(),
        "{code}: hung up after"
    );
    s.events
        .iter()
        .rev()
        .find_map(|e| match e {
            EngineEvent::AgentService { outcome, .. } => Some(*outcome),
            _ => None,
        })
        .expect("an outcome")
}

#[test]
fn agents_log_in_pause_and_log_out_by_dialling_service_codes() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    register_agent(&mut s, "1003", AGENT);
    assert_eq!(agent_state(&s, "1003"), "available");
    let service = |s: &mut Sim, code: &str, id: &str| service_from(s, AGENT, "1003", code, id);
    // *73 and reason code 3: paused for a meeting; the agent hears it confirmed.
    let mark = s.rtp.len();
    assert_eq!(service(&mut s, "*733", "svc-1"), ServiceOutcome::Paused);
    assert_eq!(agent_state(&s, "1003"), "paused");
    let paused = s
        .engine
        .live_agents()
        .into_iter()
        .find(|a| a.id == "1003")
        .and_then(|a| a.paused);
    assert_eq!(paused.as_deref(), Some("meeting"));
    let prompt = &s
        .assets
        .prompt("zh-CN", "agent-paused")
        .expect("prompt")
        .ulaw;
    let heard: Vec<u8> = sent_to(&s, mark, "127.0.0.1:7013")
        .iter()
        .flat_map(|p| payload(p))
        .collect();
    assert!(
        heard.windows(prompt.len()).any(|w| w == &prompt[..]),
        "the confirmation prompt, whole"
    );
    // No offers while paused: a patient waits.
    assert_eq!(service(&mut s, "*74", "svc-2"), ServiceOutcome::Unpaused);
    assert_eq!(agent_state(&s, "1003"), "available");
    assert_eq!(service(&mut s, "*72", "svc-3"), ServiceOutcome::LoggedOut);
    assert_eq!(agent_state(&s, "1003"), "unavailable");
    assert_eq!(service(&mut s, "*71", "svc-4"), ServiceOutcome::LoggedIn);
    assert_eq!(agent_state(&s, "1003"), "available");
    // An unknown reason, and a phone that is no agent's: refused, said so.
    assert_eq!(service(&mut s, "*739", "svc-5"), ServiceOutcome::Failed);
    assert_eq!(agent_state(&s, "1003"), "available");
    register_agent(&mut s, "2001", DEPT);
    assert_eq!(
        service_from(&mut s, DEPT, "2001", "*71", "svc-6"),
        ServiceOutcome::Failed,
        "2001 is no agent"
    );
    assert!(!heard_by(&s, "127.0.0.1:7013").is_empty());
    // None of these calls counts as a patient's.
    assert!(s.events.iter().all(|e| !matches!(
        e,
        EngineEvent::CallStarted { direction, .. } if *direction != CallDirection::Service
    )));
}

/// The level (mean absolute sample) of the last frame sent to `to` since `mark`, decoded
/// by its codec.
fn last_level(s: &Sim, mark: usize, to: &str, alaw: bool) -> f64 {
    let sent = sent_to(s, mark, to);
    let p = payload(sent.last().expect("a frame"));
    let decode = if alaw {
        sb_media::g711::alaw_to_linear
    } else {
        sb_media::g711::ulaw_to_linear
    };
    p.iter().map(|b| (decode(*b) as f64).abs()).sum::<f64>() / p.len() as f64
}

fn near(level: f64, want: f64) -> bool {
    (level - want).abs() <= want * 0.05
}

#[test]
fn joined_the_three_hear_each_other_mixed_and_back_ends_it() {
    use sb_media::g711::{linear_to_alaw, linear_to_ulaw};
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let mut seq = 100u16;
    let (_inv, colleague) = consulting_1005(&mut s, &mut seq);
    agent_keys(&mut s, &mut seq, "*6");
    assert_eq!(consult_steps(&s).last(), Some(&"joined"));
    // Each speaks one frame at its own level: patient 1000, colleague 2000, agent 4000.
    let frames = |s: &mut Sim, seq: &mut u16| {
        *seq += 1;
        rtp_to_port(
            s,
            PATIENT_PORT,
            PHONE_RTP,
            0,
            *seq,
            &[linear_to_ulaw(1000); 160],
        );
        rtp_to_port(
            s,
            leg_port(2),
            COLLEAGUE_RTP,
            0,
            *seq,
            &[linear_to_ulaw(2000); 160],
        );
        rtp_to_port(
            s,
            leg_port(1),
            AGENT_RTP,
            8,
            *seq,
            &[linear_to_alaw(4000); 160],
        );
    };
    let mark = s.rtp.len();
    frames(&mut s, &mut seq);
    assert!(
        sent_to(&s, mark, PHONE_RTP).is_empty(),
        "nothing is relayed: the mix goes out on the tick"
    );
    s.advance(20);
    assert!(
        near(last_level(&s, mark, PHONE_RTP, false), 6000.0),
        "patient: agent + colleague"
    );
    assert!(
        near(last_level(&s, mark, AGENT_RTP, true), 3000.0),
        "agent: patient + colleague"
    );
    assert!(
        near(last_level(&s, mark, COLLEAGUE_RTP, false), 5000.0),
        "colleague: patient + agent"
    );
    // Muted, the agent drops out of what the patient hears, not out of the colleague's.
    agent_keys(&mut s, &mut seq, "*2");
    let mark = s.rtp.len();
    frames(&mut s, &mut seq);
    s.advance(20);
    assert!(near(last_level(&s, mark, PHONE_RTP, false), 2000.0));
    assert!(near(last_level(&s, mark, COLLEAGUE_RTP, false), 5000.0));
    agent_keys(&mut s, &mut seq, "*2");
    // Swap makes no sense joined; back ends the three-way call and hangs the colleague up.
    agent_keys(&mut s, &mut seq, "*5");
    assert_eq!(consult_steps(&s).last(), Some(&"joined"));
    agent_keys(&mut s, &mut seq, "*0");
    assert_eq!(consult_steps(&s).last(), Some(&"ended"));
    assert!(!sent_in(&s, Method::Bye, &colleague.core.call_id).is_empty());
    let heard = frame_reaches(&mut s, &mut seq, (leg_port(1), AGENT_RTP, 0x55), PHONE_RTP);
    assert_eq!(heard.len(), 1, "agent and patient talk directly again");
}

#[test]
fn after_hours_the_dialplan_rings_the_roster_in_turn_then_the_operators() {
    // 22:00 on a Monday: consultation is closed.
    let mut s = Sim::new(MONDAY + 22 * 3600);
    // 2005 (first on duty) has no phone; 2003 has one and does not answer.
    register_agent(&mut s, "2003", "127.0.0.1:6203");
    let tag = s.call("8000", OFFER_4733).expect("answered");
    past_the_menu(&mut s);
    s.in_dialog(&tag, "INFO", 3, "application/dtmf-relay", "Signal=2\r\n");
    // The after-hours message (13 s) and "transferring", then the transfer.
    s.advance(20_000);
    let transfer = |s: &Sim| -> Vec<(String, String, &'static str)> { transfers(s) };
    assert_eq!(
        transfer(&s),
        [
            ("ivr".into(), "2000".into(), "ivr"),
            ("2005".into(), "2003".into(), "roster")
        ],
        "the on-duty number, 2005 skipped"
    );
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::TransferFailed { to, reason: LegFailure::NotRegistered, .. } if to == "2005"
    )));
    let inv = invite_to(&s, "2003").expect("2003 rings");
    rings_at(&mut s, "127.0.0.1:6203", &inv);
    s.advance(21_000);
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::TransferFailed { to, reason: LegFailure::NoAnswer, .. } if to == "2003"
    )));
    assert!(
        s.events
            .iter()
            .any(|e| matches!(e, EngineEvent::Queued { queue, .. } if queue == "operator")),
        "nobody on duty answered: the operators"
    );
    assert_eq!(s.engine.calls(), 1, "the patient is still on the line");
}

/// `action` on `call` through the control interface, at the harness's now.
fn act(
    s: &mut Sim,
    call: sb_engine::CallId,
    action: sb_engine::CallAction,
) -> Result<(), sb_engine::ControlError> {
    let now = s.clock.now();
    let done = s.engine.call_action(now, call, action, Control::Api);
    s.pump();
    done
}

#[test]
fn an_agent_consults_whoever_is_free_in_a_queue() {
    use sb_engine::{CallAction, ControlError};
    let mut s = Sim::new(MONDAY + 10 * 3600);
    register_agent(&mut s, "1005", COLLEAGUE);
    let _inv = bridged_to_1003(&mut s);
    let call = s.engine.live_calls()[0].id;
    assert_eq!(
        act(&mut s, call, CallAction::ConsultQueue("nope".into())),
        Err(ControlError::NoSuchQueue("nope".into()))
    );
    // 1003 (on this call) and 1005 are the consultation queue's registered members: 1005.
    act(
        &mut s,
        call,
        CallAction::ConsultQueue("consultation".into()),
    )
    .expect("a free member");
    let c = invite_to(&s, "1005").expect("1005 rings");
    rings_at(&mut s, COLLEAGUE, &c);
    answers_at(&mut s, COLLEAGUE, "1005", &c, COLLEAGUE_SDP);
    assert_eq!(consult_steps(&s), ["ringing", "answered"]);
    assert_eq!(agent_state(&s, "1005"), "on_call");
    // The operators' directory: both phones on the call, the agents without one offline.
    let presence = s.engine.live_presence(s.clock.now());
    let of = |ext: &str| presence.iter().find(|(n, _)| n == ext).map(|(_, p)| *p);
    assert_eq!(of("1003"), Some(sb_engine::Presence::OnCall));
    assert_eq!(of("1005"), Some(sb_engine::Presence::OnCall));
    assert_eq!(of("1004"), Some(sb_engine::Presence::Offline));
    // What the agent's console shows of the call.
    let live = &s.engine.live_calls()[0];
    assert_eq!(
        live.consult,
        Some(sb_engine::LiveConsult {
            colleague: "1005".into(),
            with_colleague: true,
            joined: false,
        })
    );
    let (queued, answered) = (
        live.queued_at.expect("queued"),
        live.answered_at.expect("answered"),
    );
    assert!(queued <= answered && answered <= s.clock.now());
    let mut tags: Vec<(String, String)> = s
        .events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Tag { var, value, .. } => Some((var.clone(), value.clone())),
            _ => None,
        })
        .collect();
    tags.sort();
    assert_eq!(live.vars, tags, "kept once the dialplan handed the call on");
    let path: Vec<&str> = s
        .events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Ivr { node, .. } => Some(node.as_str()),
            _ => None,
        })
        .collect();
    assert!(path.contains(&"main/consultation"), "{path:?}");
    assert_eq!(live.path, path, "the patient's way through the menu");
    act(&mut s, call, CallAction::Back).expect("back");
    // 1005 is free again once the consultation is over; 1006 has no phone.
    assert_eq!(agent_state(&s, "1005"), "available");
    act(&mut s, call, CallAction::ConsultQueue("complaints".into())).expect("1005 again");
    assert_eq!(act(&mut s, call, CallAction::Back), Ok(()));
    // One consultation at a time, whoever it is with.
    let mut seq = 500u16;
    agent_keys(&mut s, &mut seq, "*31005#");
    assert_eq!(
        act(&mut s, call, CallAction::ConsultQueue("complaints".into())),
        Err(ControlError::Consulting),
        "one consultation at a time"
    );
    agent_keys(&mut s, &mut seq, "*0");
    register_agent(&mut s, "2001", DEPT);
    // 2001 calls 1005 directly: 1005 is busy for the ACD, and so for a consultation.
    let r = dial_from(&mut s, DEPT, "2001", "1005", "busy-1", DEPT_SDP);
    assert_eq!(r.status, 180);
    assert_eq!(
        act(&mut s, call, CallAction::ConsultQueue("complaints".into())),
        Err(ControlError::NobodyFree("complaints".into()))
    );
}

#[test]
fn queue_numbers_take_transfers_and_consultations() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    register_agent(&mut s, "1005", COLLEAGUE);
    let inv = bridged_to_1003(&mut s);
    let mut seq = 100u16;
    // *3 6003 #: the complaints queue's free member (1005) is consulted.
    agent_keys(&mut s, &mut seq, "*36003#");
    let c = invite_to(&s, "1005").expect("1005 rings");
    assert_eq!(consult_steps(&s), ["ringing"]);
    agent_keys(&mut s, &mut seq, "*0");
    assert!(!sent_in(&s, Method::Cancel, &c.core.call_id).is_empty());
    // *4 6001 #: the patient goes into the appointments queue, the agent is free.
    agent_keys(&mut s, &mut seq, "*46001#");
    assert_eq!(
        transfers(&s),
        [("1003".into(), "appointments".into(), "queue")]
    );
    assert_eq!(sent_in(&s, Method::Bye, &inv.core.call_id).len(), 1);
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, EngineEvent::Queued { queue, .. } if queue == "appointments")));
    assert_eq!(s.engine.live_calls()[0].state, LiveState::Waiting);
    assert_eq!(
        s.engine.live_calls()[0].queue.as_deref(),
        Some("appointments")
    );
}

#[test]
fn a_transfer_target_answering_with_unusable_media_counts_as_not_answered() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    register_agent(&mut s, "2001", DEPT);
    let _inv = bridged_to_1003(&mut s);
    let mut seq = 100u16;
    agent_keys(&mut s, &mut seq, "*42001#");
    let dept = invite_to(&s, "2001").expect("the department rings");
    // G.729 only: nothing we can use.
    let g729 = DEPT_SDP.replace("RTP/AVP 0 101", "RTP/AVP 18");
    answers_at(&mut s, DEPT, "2001", &dept, &g729);
    assert_eq!(
        sent_in(&s, Method::Bye, &dept.core.call_id).len(),
        1,
        "that phone is hung up"
    );
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::TransferFailed {
            reason: LegFailure::UnusableAnswer,
            ..
        }
    )));
    assert_eq!(
        transfers(&s).last(),
        Some(&("2001".into(), "1003".into(), "back")),
        "back to the agent"
    );
    assert!(invite_to(&s, "1003").is_some_and(|i| i.core.call_id != dept.core.call_id));
}
