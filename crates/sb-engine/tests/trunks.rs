//! Trunks on virtual time, with scripted carriers: carrier A (127.0.0.2) registers the
//! hospital's account and is tried first, carrier B (127.0.0.3) trusts our address. The
//! registration's challenge, refresh, back-off and removal; a carrier's call to a hospital
//! number; an operator's call out with failover on 503 and on silence, none after the far
//! end's own answer, early media relayed to the operator; a carrier found down by its health
//! check skipped; the trunk's and the extension's limits.

use sb_engine::EngineEvent;
use sb_sip::client_registration::RegistrationState;
use sb_sip::Event;
use sb_sip_msg::{Message, Method, Request, ResponseBuilder};
use sb_testkit::*;

const CARRIER_A: &str = "127.0.0.2:5060";
const CARRIER_B: &str = "127.0.0.3:5060";
/// Where the far end's media comes from (behind the carrier).
const FAR_RTP: &str = "127.0.0.9:40000";
const FAR_SDP: &str = "v=0\r\no=- 5 5 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
/// The operator (extension 1100) and its media.
const OPERATOR: &str = "127.0.0.1:6100";
const OPERATOR_RTP: &str = "127.0.0.1:7100";
const OPERATOR_SDP: &str = "v=0\r\no=- 3 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7100 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

const TRUNKS: &str = r#"
[outside]
per_extension = 1
setup_timeout_seconds = 4

[[trunks]]
name = "carrier-a"
address = "127.0.0.2:5060"
domain = "carrier-a.test"
numbers = "e164"
dids = { "+862088880000" = "8000" }
caller_id = "+862088880000"
priority = 1
max_calls = 1
options_seconds = 10

[trunks.register]
user = "hospital"
password = "secret-a"
expires = 120

[[trunks]]
name = "carrier-b"
address = "127.0.0.3:5060"
domain = "carrier-b.test"
numbers = "national"
caller_id = "02088880000"
priority = 2
options_seconds = 10

[[outbound]]
name = "local"
patterns = ["9NXXXXXXX"]
roles = ["operator", "agent"]
strip = 1
prepend = "020"
"#;

fn sim() -> Sim {
    let mut s = Sim::with_config(MONDAY + 10 * 3600, TRUNKS);
    s.advance(10);
    s
}

/// The requests of `method` the engine sent to `to`, in order (retransmissions once).
fn requests_to(s: &Sim, to: &str, method: Method) -> Vec<Request> {
    let mut seen = Vec::new();
    s.ladder
        .iter()
        .filter(|h| h.to == addr(to))
        .filter_map(|h| match &h.msg {
            Message::Request(r) if r.method == method => Some(r.clone()),
            _ => None,
        })
        .filter(|r| {
            let key = (r.core.call_id.clone(), r.core.cseq.seq);
            let new = !seen.contains(&key);
            seen.push(key);
            new
        })
        .collect()
}

fn last_to(s: &Sim, to: &str, method: Method) -> Request {
    requests_to(s, to, method).pop().expect("a request")
}

/// The carrier at `from` answers `req` with `status` (and `headers`, and `sdp`).
fn answer(
    s: &mut Sim,
    from: &str,
    req: &Request,
    status: u16,
    headers: &[(&str, &str)],
    sdp: Option<&str>,
) {
    let mut b = ResponseBuilder::new(req, status);
    if status > 100 {
        b = b.to_tag("far");
    }
    for (k, v) in headers {
        b = b.header(k, v.to_string());
    }
    if req.method == Method::Invite && status < 300 && status > 100 {
        b = b.header("Contact", format!("<sip:far@{from}>"));
    }
    if let Some(sdp) = sdp {
        b = b.body("application/sdp", sdp.as_bytes().to_vec());
    }
    let text = String::from_utf8(b.build().to_bytes()).expect("utf8");
    s.send_from(from, &text);
}

/// Carrier A answers every OPTIONS it was sent (so far) with 200.
fn probes_answered(s: &mut Sim) {
    for to in [CARRIER_A, CARRIER_B] {
        for o in requests_to(s, to, Method::Options) {
            answer(s, to, &o, 200, &[], None);
        }
    }
}

fn registration_of(s: &Sim, trunk: usize) -> Option<&'static str> {
    s.events.iter().rev().find_map(|e| match e {
        EngineEvent::Sip(Event::Trunk { trunk: t, view }) if *t == trunk => {
            view.registration.as_ref().map(RegistrationState::name)
        }
        _ => None,
    })
}

fn reachable(s: &Sim, trunk: usize) -> Option<bool> {
    s.events.iter().rev().find_map(|e| match e {
        EngineEvent::Sip(Event::Trunk { trunk: t, view }) if *t == trunk => view.reachable,
        _ => None,
    })
}

/// Carrier A's REGISTER is challenged and then accepted for `expires` seconds.
fn registered(s: &mut Sim) {
    let first = last_to(s, CARRIER_A, Method::Register);
    answer(
        s,
        CARRIER_A,
        &first,
        401,
        &[(
            "WWW-Authenticate",
            "Digest realm=\"carrier-a.test\", nonce=\"n1\", qop=\"auth\", algorithm=MD5",
        )],
        None,
    );
    let again = last_to(s, CARRIER_A, Method::Register);
    let auth = again.headers.get("Authorization").expect("credentials");
    assert!(auth.contains("username=\"hospital\""), "{auth}");
    assert!(auth.contains("realm=\"carrier-a.test\""), "{auth}");
    let contact = again.headers.get("Contact").expect("contact").to_string();
    answer(
        s,
        CARRIER_A,
        &again,
        200,
        &[("Contact", &format!("{contact};expires=120"))],
        None,
    );
}

#[test]
fn the_trunk_registers_with_digest_refreshes_backs_off_and_unregisters() {
    let mut s = sim();
    let first = last_to(&s, CARRIER_A, Method::Register);
    assert_eq!(first.uri.to_string(), "sip:carrier-a.test");
    assert_eq!(first.headers.get("Expires"), Some("120"));
    assert!(
        requests_to(&s, CARRIER_B, Method::Register).is_empty(),
        "carrier B trusts our address: nothing to register"
    );
    registered(&mut s);
    assert_eq!(registration_of(&s, 0), Some("registered"));
    let sent = requests_to(&s, CARRIER_A, Method::Register).len();

    // Refreshed before the 120 s are up (at half the lifetime), on the same Call-ID.
    s.advance(59_000);
    assert_eq!(requests_to(&s, CARRIER_A, Method::Register).len(), sent);
    s.advance(2_000);
    let refresh = last_to(&s, CARRIER_A, Method::Register);
    assert_eq!(requests_to(&s, CARRIER_A, Method::Register).len(), sent + 1);
    assert_eq!(refresh.core.call_id, first.core.call_id);

    // The carrier fails it: failing, with a wait before the next attempt.
    answer(&mut s, CARRIER_A, &refresh, 503, &[], None);
    assert_eq!(registration_of(&s, 0), Some("failing"));
    let failed_at = s.clock.now();
    let before = requests_to(&s, CARRIER_A, Method::Register).len();
    s.advance(5_000);
    assert_eq!(
        requests_to(&s, CARRIER_A, Method::Register).len(),
        before,
        "no retry at once"
    );
    while requests_to(&s, CARRIER_A, Method::Register).len() == before {
        s.advance(1_000);
    }
    let waited = s.clock.now() - failed_at;
    assert!(
        waited >= std::time::Duration::from_secs(15),
        "backed off {waited:?}"
    );
    let retry = last_to(&s, CARRIER_A, Method::Register);
    // 423: the carrier wants a longer interval; the next REGISTER asks for it.
    answer(
        &mut s,
        CARRIER_A,
        &retry,
        423,
        &[("Min-Expires", "300")],
        None,
    );
    let longer = last_to(&s, CARRIER_A, Method::Register);
    assert_eq!(longer.headers.get("Expires"), Some("300"));
    let contact = longer.headers.get("Contact").expect("contact").to_string();
    answer(
        &mut s,
        CARRIER_A,
        &longer,
        200,
        &[("Contact", &format!("{contact};expires=300"))],
        None,
    );
    assert_eq!(registration_of(&s, 0), Some("registered"));

    // At shutdown the binding is removed.
    assert_eq!(s.engine.unregister_trunks(s.clock.now()), 1);
    s.pump();
    let gone = last_to(&s, CARRIER_A, Method::Register);
    assert_eq!(gone.headers.get("Expires"), Some("0"));
}

#[test]
fn a_carrier_call_to_a_hospital_number_reaches_its_dialplan_unchallenged() {
    let mut s = sim();
    let invite = |number: &str, from: &str, id: &str| {
        let body = OFFER_PLAIN.replace("\r\n", "\n");
        format!("INVITE sip:{number}@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {from};branch=z9hG4bK{id}\nFrom: <sip:+8613912345678@carrier-a.test>;tag=c{id}\nTo: <sip:{number}@carrier-a.test>\nCall-ID: {id}\nCSeq: 1 INVITE\nContact: <sip:gw@{from}>\nMax-Forwards: 70\nContent-Type: application/sdp\nContent-Length: {}\n\n{body}", body.replace('\n', "\r\n").len())
    };
    s.send_from(CARRIER_A, &invite("+862088880000", CARRIER_A, "in-1"));
    assert_eq!(s.last_response().status, 200, "answered by the IVR");
    let started = s.events.iter().find_map(|e| match e {
        EngineEvent::CallStarted {
            outside: Some(o), ..
        } => Some(o.clone()),
        _ => None,
    });
    let o = started.expect("a call from the trunk");
    assert_eq!(o.trunk.as_deref(), Some("carrier-a"));
    assert_eq!(o.did.as_deref(), Some("02088880000"));
    assert!(!o.withheld);

    // A number that is not the hospital's: 404, and nothing goes out to a carrier.
    s.send_from(CARRIER_A, &invite("+862022345678", CARRIER_A, "in-2"));
    assert_eq!(s.last_response().status, 404);
    assert!(requests_to(&s, CARRIER_B, Method::Invite).is_empty());
    assert!(requests_to(&s, CARRIER_A, Method::Invite).is_empty());

    // The same INVITE from an address that is not the carrier's is challenged.
    s.send_from(
        "127.0.0.7:5060",
        &invite("+862088880000", "127.0.0.7:5060", "in-3"),
    );
    assert_eq!(s.last_response().status, 401);
}

/// The operator (1100) dials a local number; returns the final response so far.
fn operator_dials(s: &mut Sim, id: &str) -> u16 {
    register_agent(s, "1100", OPERATOR);
    dial_from(s, OPERATOR, "1100", "922345678", id, OPERATOR_SDP).status
}

fn attempts(s: &Sim) -> Vec<(String, u16, bool)> {
    s.events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::TrunkAttempt {
                trunk,
                status,
                failover,
                ..
            } => Some((trunk.clone(), *status, *failover)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_call_out_fails_over_on_503_plays_early_media_and_is_bridged() {
    let mut s = sim();
    registered(&mut s);
    probes_answered(&mut s);
    assert_eq!(operator_dials(&mut s, "out-1"), 180, "ringback meanwhile");
    let a = last_to(&s, CARRIER_A, Method::Invite);
    assert_eq!(a.uri.to_string(), "sip:+862022345678@carrier-a.test");
    assert_eq!(
        a.core.from.uri.to_string(),
        "sip:+862088880000@carrier-a.test"
    );
    answer(
        &mut s,
        CARRIER_A,
        &a,
        503,
        &[("Reason", "Q.850;cause=34")],
        None,
    );
    // Carrier B, which writes numbers nationally, gets it.
    let b = last_to(&s, CARRIER_B, Method::Invite);
    assert_eq!(b.uri.to_string(), "sip:02022345678@carrier-b.test");
    assert_eq!(
        b.core.from.uri.to_string(),
        "sip:02088880000@carrier-b.test"
    );
    assert_eq!(
        attempts(&s),
        vec![("carrier-a".to_string(), 503, true)],
        "{:?}",
        s.events
    );

    // The network rings and plays its ringback as early media: the operator hears it.
    answer(&mut s, CARRIER_B, &b, 183, &[], Some(FAR_SDP));
    let progress = s.last_response().clone();
    assert_eq!(progress.status, 183);
    assert_eq!(progress.core.call_id, "out-1");
    assert!(String::from_utf8_lossy(&progress.body).contains("m=audio 20002"));
    let tone = [0x55u8; 160];
    rtp_to_port(&mut s, leg_port(2), FAR_RTP, 0, 1, &tone);
    assert!(
        s.payloads_to(OPERATOR_RTP).contains(&0x55),
        "the operator hears the network's early media"
    );
    // ... but nothing of the operator reaches the far end before it answers.
    rtp_to_port(&mut s, 20_002, OPERATOR_RTP, 0, 1, &[0x33; 160]);
    assert!(!s.payloads_to(FAR_RTP).contains(&0x33));

    // The far end answers (the 200 repeats no SDP): answered, bridged both ways.
    answer(&mut s, CARRIER_B, &b, 200, &[], None);
    let ok = s.last_response().clone();
    assert_eq!((ok.status, ok.core.call_id.as_str()), (200, "out-1"));
    rtp_to_port(&mut s, 20_002, OPERATOR_RTP, 0, 2, &[0x44; 160]);
    assert!(s.payloads_to(FAR_RTP).contains(&0x44));
    assert_eq!(
        attempts(&s),
        vec![
            ("carrier-a".to_string(), 503, true),
            ("carrier-b".to_string(), 200, false)
        ]
    );
}

#[test]
fn a_silent_carrier_is_failed_over_but_a_far_end_busy_is_final() {
    let mut s = sim();
    registered(&mut s);
    probes_answered(&mut s);
    operator_dials(&mut s, "out-1");
    assert_eq!(requests_to(&s, CARRIER_A, Method::Invite).len(), 1);
    // Carrier A never answers: after the setup time carrier B is tried.
    s.advance(4_500);
    let b = last_to(&s, CARRIER_B, Method::Invite);
    assert_eq!(attempts(&s), vec![("carrier-a".to_string(), 408, true)]);
    // The far end is busy: the operator hears busy, no other carrier is tried.
    answer(&mut s, CARRIER_B, &b, 486, &[], None);
    assert_eq!(s.last_response().status, 486);
    assert_eq!(requests_to(&s, CARRIER_A, Method::Invite).len(), 1);
}

#[test]
fn a_failure_after_the_network_rang_is_the_far_ends_answer() {
    let mut s = sim();
    registered(&mut s);
    probes_answered(&mut s);
    operator_dials(&mut s, "out-1");
    let a = last_to(&s, CARRIER_A, Method::Invite);
    answer(&mut s, CARRIER_A, &a, 180, &[], None);
    answer(&mut s, CARRIER_A, &a, 503, &[], None);
    assert!(requests_to(&s, CARRIER_B, Method::Invite).is_empty());
    assert_eq!(s.last_response().status, 503);
    assert_eq!(attempts(&s), vec![("carrier-a".to_string(), 503, false)]);
}

#[test]
fn a_carrier_down_by_its_health_check_is_skipped_until_it_answers_again() {
    let mut s = sim();
    registered(&mut s);
    // Carrier A answers OPTIONS with 503: down. Carrier B answers.
    for o in requests_to(&s, CARRIER_A, Method::Options) {
        answer(&mut s, CARRIER_A, &o, 503, &[], None);
    }
    for o in requests_to(&s, CARRIER_B, Method::Options) {
        answer(&mut s, CARRIER_B, &o, 200, &[], None);
    }
    assert_eq!(reachable(&s, 0), Some(false));
    operator_dials(&mut s, "out-1");
    assert!(requests_to(&s, CARRIER_A, Method::Invite).is_empty());
    assert_eq!(requests_to(&s, CARRIER_B, Method::Invite).len(), 1);

    // The next probe finds it back: up, and registered again at once.
    let sent = requests_to(&s, CARRIER_A, Method::Register).len();
    s.advance(10_500);
    let probe = last_to(&s, CARRIER_A, Method::Options);
    answer(&mut s, CARRIER_A, &probe, 200, &[], None);
    assert_eq!(reachable(&s, 0), Some(true));
    s.advance(1);
    assert_eq!(requests_to(&s, CARRIER_A, Method::Register).len(), sent + 1);
    registered(&mut s);
    assert_eq!(registration_of(&s, 0), Some("registered"));

    // It stops answering altogether: down again once a probe goes unanswered.
    s.advance(16_000);
    assert_eq!(reachable(&s, 0), Some(false));
}

#[test]
fn limits_per_trunk_and_per_extension_hold() {
    let mut s = sim();
    registered(&mut s);
    probes_answered(&mut s);
    register_agent(&mut s, "1002", "127.0.0.1:6102");
    // 1100's call takes carrier A's one channel.
    operator_dials(&mut s, "out-1");
    assert_eq!(requests_to(&s, CARRIER_A, Method::Invite).len(), 1);
    // 1002's call finds carrier A full and goes to carrier B.
    let r = dial_from(
        &mut s,
        "127.0.0.1:6102",
        "1002",
        "922345679",
        "out-2",
        &OPERATOR_SDP.replace("7100", "7102"),
    );
    assert_eq!(r.status, 180);
    assert_eq!(requests_to(&s, CARRIER_A, Method::Invite).len(), 1);
    assert_eq!(requests_to(&s, CARRIER_B, Method::Invite).len(), 1);
    // 1100 may have one outside call at a time.
    let r = dial_from(&mut s, OPERATOR, "1100", "922345670", "out-3", OPERATOR_SDP);
    assert_eq!(r.status, 503);
    assert_eq!(requests_to(&s, CARRIER_B, Method::Invite).len(), 1);
}

/// Our RTP port for the n-th leg the engine called out on.
fn leg_port(n: u16) -> u16 {
    30_000 + 2 * n
}

/// One carrier that trusts our address, with no health check; agents may call local
/// numbers, nobody abroad.
const ONE_TRUNK: &str = r#"
[[trunks]]
name = "carrier-b"
address = "127.0.0.3:5060"
domain = "carrier-b.test"
numbers = "national"
caller_id = "02088880000"
options_seconds = 0

[[outbound]]
name = "local"
patterns = ["9NXXXXXXX"]
roles = ["operator", "agent"]
strip = 1
prepend = "020"

[[outbound]]
name = "international"
patterns = ["900."]
"#;

fn refused(s: &Sim) -> Vec<(String, &'static str, u16)> {
    s.events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::OutsideRefused {
                by, why, status, ..
            } => Some((by.clone(), *why, *status)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_agent_transfers_a_patient_to_an_outside_number_by_feature_code() {
    let mut s = Sim::with_config(MONDAY + 10 * 3600, ONE_TRUNK);
    let inv = bridged_to_1003(&mut s);
    let mut seq = 100u16;
    agent_keys(&mut s, &mut seq, "*4922345678#");
    assert_eq!(transfers(&s), [("1003".into(), "outside".into(), "blind")]);
    let out = last_to(&s, CARRIER_B, Method::Invite);
    assert_eq!(out.uri.to_string(), "sip:02022345678@carrier-b.test");
    assert_eq!(
        out.core.from.uri.to_string(),
        "sip:02088880000@carrier-b.test",
        "the hospital's number, not the patient's"
    );
    // The agent's phone is hung up; the far end answers and talks to the patient.
    assert!(s.inbox.iter().any(|m| matches!(
        m,
        Message::Request(r) if r.method == Method::Bye && r.core.call_id == inv.core.call_id
    )));
    answer(&mut s, CARRIER_B, &out, 200, &[], Some(FAR_SDP));
    let mark = s.rtp.len();
    rtp_to_port(&mut s, leg_port(2), FAR_RTP, 0, 1, &[0x5a; 160]);
    assert_eq!(
        sent_to(&s, mark, PHONE_RTP).len(),
        1,
        "the patient hears the far end"
    );
    let mark = s.rtp.len();
    from_patient(&mut s, 2, &[0x21; 160]);
    assert_eq!(
        sent_to(&s, mark, FAR_RTP).len(),
        1,
        "the far end hears the patient"
    );
    // The number never shows in events.
    assert!(!format!("{:?}", s.events).contains("22345678"));
}

#[test]
fn an_outside_transfer_not_answered_comes_back_to_the_agent() {
    let mut s = Sim::with_config(MONDAY + 10 * 3600, ONE_TRUNK);
    bridged_to_1003(&mut s);
    let call = s.engine.live_calls()[0].id;
    let done = s.engine.call_action(
        s.clock.now(),
        call,
        sb_engine::CallAction::Transfer("922345678".into()),
        sb_types::vocab::Control::Api,
    );
    s.pump();
    assert_eq!(done, Ok(()));
    let out = last_to(&s, CARRIER_B, Method::Invite);
    answer(&mut s, CARRIER_B, &out, 486, &[], None);
    assert_eq!(
        transfers(&s),
        [
            ("1003".into(), "outside".into(), "blind"),
            ("outside".into(), "1003".into(), "back")
        ]
    );
    let again = invite_to(&s, "1003").expect("the agent rings again");
    agent_answers(&mut s, &again, AGENT_SDP);
    assert_eq!(s.engine.live_calls()[0].agent.as_deref(), Some("1003"));
}

#[test]
fn transfers_abroad_are_refused_by_the_api_and_by_refer() {
    let mut s = Sim::with_config(MONDAY + 10 * 3600, ONE_TRUNK);
    let inv = bridged_to_1003(&mut s);
    let call = s.engine.live_calls()[0].id;
    let done = s.engine.call_action(
        s.clock.now(),
        call,
        sb_engine::CallAction::Transfer("9008521234567".into()),
        sb_types::vocab::Control::Api,
    );
    s.pump();
    assert_eq!(
        done,
        Err(sb_engine::ControlError::OutsideRefused(
            "number not allowed"
        ))
    );
    // The phone's own REFER to the same number: 403, the call stays with the agent.
    in_leg(
        &mut s,
        AGENT,
        "1003",
        &inv,
        "REFER",
        5,
        "Refer-To: <sip:9008521234567@127.0.0.1>\nReferred-By: <sip:1003@127.0.0.1>\n",
        "",
    );
    assert_eq!(s.last_response().status, 403);
    assert_eq!(
        refused(&s),
        [
            ("1003".into(), "number not allowed", 403),
            ("1003".into(), "number not allowed", 403)
        ]
    );
    assert!(requests_to(&s, CARRIER_B, Method::Invite).is_empty());
    assert_eq!(s.engine.live_calls()[0].agent.as_deref(), Some("1003"));
    // A REFER to a local number is accepted and goes out.
    in_leg(
        &mut s,
        AGENT,
        "1003",
        &inv,
        "REFER",
        6,
        "Refer-To: <sip:922345678@127.0.0.1>\nReferred-By: <sip:1003@127.0.0.1>\n",
        "",
    );
    assert_eq!(s.last_response().status, 202);
    assert_eq!(requests_to(&s, CARRIER_B, Method::Invite).len(), 1);
}

#[test]
fn an_agent_consults_an_outside_number_and_completes_the_transfer() {
    let mut s = Sim::with_config(MONDAY + 10 * 3600, ONE_TRUNK);
    bridged_to_1003(&mut s);
    let call = s.engine.live_calls()[0].id;
    let api = sb_types::vocab::Control::Api;
    let now = s.clock.now();
    assert_eq!(
        s.engine.call_action(
            now,
            call,
            sb_engine::CallAction::Consult("922345678".into()),
            api
        ),
        Ok(())
    );
    s.pump();
    assert!(s.engine.live_calls()[0].held, "the patient waits on hold");
    let out = last_to(&s, CARRIER_B, Method::Invite);
    answer(&mut s, CARRIER_B, &out, 200, &[], Some(FAR_SDP));
    // The agent and the far end talk.
    let mark = s.rtp.len();
    rtp_to_port(&mut s, leg_port(2), FAR_RTP, 0, 1, &[0x5a; 160]);
    assert_eq!(sent_to(&s, mark, AGENT_RTP).len(), 1);
    let now = s.clock.now();
    assert_eq!(
        s.engine
            .call_action(now, call, sb_engine::CallAction::Complete, api),
        Ok(())
    );
    s.pump();
    let mark = s.rtp.len();
    rtp_to_port(&mut s, leg_port(2), FAR_RTP, 0, 2, &[0x5b; 160]);
    assert_eq!(
        sent_to(&s, mark, PHONE_RTP).len(),
        1,
        "the patient has the far end"
    );
}

/// A carrier (A) whose gateway requires reliable provisional answers and session timers,
/// to a hospital number that rings extension 1003.
const GATEWAY: &str = r#"
[[trunks]]
name = "carrier-a"
address = "127.0.0.2:5060"
domain = "carrier-a.test"
numbers = "e164"
dids = { "+862088880000" = "8000", "+862088880009" = "1003" }
caller_id = "+862088880000"
options_seconds = 0
"#;

fn gateway_invite(id: &str, extra: &str) -> String {
    let body = OFFER_PLAIN.replace('\n', "\r\n");
    format!("INVITE sip:+862088880009@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {CARRIER_A};branch=z9hG4bK{id}\nFrom: <sip:+8613912345678@carrier-a.test>;tag=gw{id}\nTo: <sip:+862088880009@carrier-a.test>\nCall-ID: {id}\nCSeq: 1 INVITE\nContact: <sip:gw@{CARRIER_A}>\nMax-Forwards: 70\n{extra}Content-Type: application/sdp\nContent-Length: {}\n\n{body}", body.len())
}

/// A request from the gateway in the dialog of its call `id` (our tag `tag`).
fn gateway_in_dialog(s: &mut Sim, id: &str, tag: &str, method: &str, cseq: u32, extra: &str) {
    s.send_from(CARRIER_A, &format!("{method} sip:switchboard@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {CARRIER_A};branch=z9hG4bK{id}{method}{cseq}\nFrom: <sip:+8613912345678@carrier-a.test>;tag=gw{id}\nTo: <sip:+862088880009@carrier-a.test>;tag={tag}\nCall-ID: {id}\nCSeq: {cseq} {method}\nContact: <sip:gw@{CARRIER_A}>\nMax-Forwards: 70\n{extra}Content-Length: 0\n\n"));
}

fn responses_to(s: &Sim, call_id: &str, status: u16) -> Vec<sb_sip_msg::Response> {
    s.ladder
        .iter()
        .filter(|h| h.to == addr(CARRIER_A))
        .filter_map(|h| match &h.msg {
            Message::Response(r) if r.core.call_id == call_id && r.status == status => {
                Some(r.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_gateway_requiring_100rel_and_session_timers_is_served_and_a_dead_session_ended() {
    let mut s = Sim::with_config(MONDAY + 10 * 3600, GATEWAY);
    register_agent(&mut s, "1003", AGENT);
    s.send_from(
        CARRIER_A,
        &gateway_invite(
            "gw-1",
            "Require: 100rel\nSupported: timer\nSession-Expires: 120;refresher=uac\n",
        ),
    );
    // The 180 goes reliably, and again until PRACKed.
    let ringing = responses_to(&s, "gw-1", 180);
    assert_eq!(ringing.len(), 1, "{:?}", s.ladder.len());
    let r = &ringing[0];
    assert_eq!(r.headers.get("Require"), Some("100rel"));
    let rseq = r.headers.get("RSeq").expect("RSeq").to_string();
    let tag = r.core.to.tag().expect("tag").to_string();
    s.advance(600);
    assert_eq!(responses_to(&s, "gw-1", 180).len(), 2, "repeated after T1");
    gateway_in_dialog(
        &mut s,
        "gw-1",
        &tag,
        "PRACK",
        2,
        &format!("RAck: {rseq} 1 INVITE\n"),
    );
    assert_eq!(s.last_response().status, 200, "the PRACK is answered");
    s.advance(5_000);
    assert_eq!(
        responses_to(&s, "gw-1", 180).len(),
        2,
        "no more once PRACKed"
    );
    // A PRACK for nothing of ours: 481.
    gateway_in_dialog(&mut s, "gw-1", &tag, "PRACK", 3, "RAck: 999 1 INVITE\n");
    assert_eq!(s.last_response().status, 481);

    // 1003 answers: the gateway's 200 carries the session timer.
    let inv = invite_to(&s, "1003").expect("1003 rings");
    agent_answers(&mut s, &inv, AGENT_SDP);
    let ok = responses_to(&s, "gw-1", 200)
        .into_iter()
        .find(|r| r.core.cseq.method == Method::Invite)
        .expect("answered");
    assert_eq!(ok.headers.get("Session-Expires"), Some("120;refresher=uac"));
    assert!(ok.headers.list("Require").any(|t| t == "timer"));
    gateway_in_dialog(&mut s, "gw-1", &tag, "ACK", 1, "");

    // The gateway refreshes at half time with UPDATE: the session goes on.
    s.advance(60_000);
    gateway_in_dialog(
        &mut s,
        "gw-1",
        &tag,
        "UPDATE",
        4,
        "Supported: timer\nSession-Expires: 120;refresher=uac\n",
    );
    let refreshed = s.last_response().clone();
    assert_eq!(refreshed.status, 200);
    assert!(refreshed.body.is_empty(), "no offer, so no answer");
    assert_eq!(
        refreshed.headers.get("Session-Expires"),
        Some("120;refresher=uac")
    );
    s.advance(80_000);
    assert_eq!(s.engine.calls(), 1, "refreshed 80 s ago: still up");
    // Then it falls silent: the call is hung up 88 s after the last refresh.
    s.advance(10_000);
    assert_eq!(s.engine.calls(), 0);
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::CallEnded {
            reason: sb_types::vocab::EndReason::SessionExpired,
            ..
        }
    )));
    let byes = requests_to(&s, CARRIER_A, Method::Bye);
    assert_eq!(byes.len(), 1, "the gateway is told");
}

#[test]
fn a_session_interval_below_90_seconds_is_refused_with_422() {
    let mut s = Sim::with_config(MONDAY + 10 * 3600, GATEWAY);
    s.send_from(
        CARRIER_A,
        &gateway_invite("gw-2", "Supported: timer\nSession-Expires: 30\n"),
    );
    let r = s.last_response();
    assert_eq!(r.status, 422);
    assert_eq!(r.headers.get("Min-SE"), Some("90"));
}
