//! Calls into the IVR through the sans-IO engine on virtual time.

use rtp_rs::RtpReader;
use sb_engine::EngineEvent;
use sb_media::dtmf::{Event as TelEvent, Source as DigitSource};
use sb_media::g711;
use sb_media::goertzel::synthesize;
use sb_testkit::*;
use sb_types::vocab::EndReason;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

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
            reason: EndReason::CallerHungUp,
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

#[test]
fn a_lagging_engine_refuses_new_calls_for_a_second_and_keeps_the_calls_it_has() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    s.call("8000", OFFER_4733).expect("answered");
    s.advance(200);
    assert_eq!(
        s.try_call("load-2", "8000", OFFER_4733).status,
        200,
        "on time"
    );
    // One stall of the machine is not a backlog.
    s.stall(300);
    s.advance(100);
    assert_eq!(s.try_call("load-2b", "8000", OFFER_4733).status, 200);
    // Held up again and again: its media ticks keep running late.
    s.stall(300);
    s.stall(150);
    let refused = s.try_call("load-3", "8000", OFFER_4733);
    assert_eq!(refused.status, 503);
    assert_eq!(refused.headers.get("Retry-After"), Some("2"));
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, EngineEvent::Rejected { status: 503, .. })));
    // The two calls already up keep their audio, a frame every 20 ms each.
    let before = s.payloads_to(PHONE_RTP).len();
    s.advance(500);
    assert_eq!(s.payloads_to(PHONE_RTP).len() - before, 3 * 25 * 160);
    assert_eq!(
        s.try_call("load-4", "8000", OFFER_4733).status,
        503,
        "still within the second"
    );
    // A second of timers on time: calls are taken again.
    s.advance(600);
    assert_eq!(s.try_call("load-5", "8000", OFFER_4733).status, 200);
}

/// Each stream's send times, by SSRC, in the order sent.
fn send_times_by_stream(s: &Sim) -> BTreeMap<u32, Vec<Instant>> {
    let mut by: BTreeMap<u32, Vec<Instant>> = Default::default();
    for (at, _, bytes) in &s.rtp {
        let ssrc = RtpReader::new(bytes).expect("rtp").ssrc();
        by.entry(ssrc).or_default().push(*at);
    }
    by
}

/// A stream's place in the 20 ms period, in microseconds after the engine's origin grid.
fn phase_us(origin: Instant, t: Instant) -> u128 {
    (t - origin).as_micros() % 20_000
}

#[test]
fn many_calls_spread_over_media_grids_and_a_freed_place_is_taken_again() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let origin = s.clock.now();
    let mut tags = Vec::new();
    for k in 0..600 {
        let r = s.try_call(&format!("c-{k}"), "8000", OFFER_4733);
        assert_eq!(r.status, 200, "call {k}");
        tags.push(r.core.to.tag().expect("tag").to_string());
    }
    s.advance(200);
    let by = send_times_by_stream(&s);
    assert_eq!(by.len(), 600);
    let mut per_phase: BTreeMap<u128, usize> = Default::default();
    for times in by.values() {
        // Every stream keeps its own grid: a packet every 20 ms exactly.
        for w in times.windows(2) {
            assert_eq!(w[1] - w[0], Duration::from_millis(20));
        }
        *per_phase.entry(phase_us(origin, times[0])).or_default() += 1;
    }
    // The first 256 on the engine's grid, the next 256 two milliseconds later, the rest
    // two more: three short bursts instead of one long one.
    assert_eq!(
        per_phase.into_iter().collect::<Vec<_>>(),
        vec![(0, 256), (2000, 256), (4000, 88)]
    );
    // The first call hangs up; the next call takes its place on the first grid.
    s.send(&format!(
        "BYE sip:8000@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKbye-c-0;rport\nFrom: <sip:1001@127.0.0.1>;tag=caller\nTo: <sip:8000@127.0.0.1>;tag={}\nCall-ID: c-0\nCSeq: 3 BYE\nMax-Forwards: 70\nContent-Length: 0\n\n",
        tags[0]
    ));
    assert_eq!(s.last_response().status, 200);
    s.rtp.clear();
    assert_eq!(s.try_call("c-new", "8000", OFFER_4733).status, 200);
    s.advance(100);
    let before: BTreeSet<u32> = by.keys().copied().collect();
    let by = send_times_by_stream(&s);
    let new: Vec<_> = by.iter().filter(|(k, _)| !before.contains(k)).collect();
    assert_eq!(new.len(), 1, "one new stream");
    assert_eq!(phase_us(origin, new[0].1[0]), 0);
}

/// A late-offer call (an INVITE without SDP, so our 200 carries the offer) whose ACK
/// brings `ack_body`; returns the requests the engine sent afterwards.
fn late_offer_acked_with(ack_body: &str) -> (Sim, Vec<sb_sip_msg::Method>) {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let resp = s.try_call("late-1", "8000", "");
    assert_eq!(resp.status, 200);
    assert!(
        String::from_utf8_lossy(&resp.body).contains("m=audio"),
        "our 200 carries the offer"
    );
    let tag = resp.core.to.tag().expect("tag").to_string();
    let before = s.inbox.len();
    let body = ack_body.replace("\r\n", "\n").replace('\n', "\r\n");
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\n".to_string()
    };
    s.send(&format!("ACK sip:8000@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKlateack;rport\nFrom: <sip:1001@127.0.0.1>;tag=caller\nTo: <sip:8000@127.0.0.1>;tag={tag}\nCall-ID: late-1\nCSeq: 2 ACK\nMax-Forwards: 70\n{ct}Content-Length: {}\n\n{body}", body.len()));
    s.advance(1000);
    let sent = s.inbox[before..]
        .iter()
        .filter_map(|m| match m {
            sb_sip_msg::Message::Request(r) => Some(r.method.clone()),
            _ => None,
        })
        .collect();
    (s, sent)
}

fn ended(s: &Sim) -> Option<EndReason> {
    s.events.iter().find_map(|e| match e {
        EngineEvent::CallEnded { reason, .. } => Some(*reason),
        _ => None,
    })
}

#[test]
fn a_late_offer_whose_ack_brings_no_usable_answer_is_ended_with_a_bye() {
    // No answer at all.
    let (s, sent) = late_offer_acked_with("");
    let bye_only = |sent: &[sb_sip_msg::Method]| {
        // The BYE, and its retransmission while the phone does not answer it.
        !sent.is_empty() && sent.iter().all(|m| *m == sb_sip_msg::Method::Bye)
    };
    assert!(bye_only(&sent), "a BYE within a second: {sent:?}");
    assert!(ended(&s) == Some(EndReason::NoSdpAnswer), "{:?}", ended(&s));
    assert_eq!(s.engine.calls(), 0);
    // Another number of m-lines than offered (RFC 3264 §6).
    let two = format!("{OFFER_PLAIN}m=video 7002 RTP/AVP 96\n");
    let (s, sent) = late_offer_acked_with(&two);
    assert!(bye_only(&sent), "{sent:?}");
    assert_eq!(ended(&s), Some(EndReason::UnusableSdpAnswer));
    // No codec in common.
    let g729 = OFFER_PLAIN.replace("RTP/AVP 0", "RTP/AVP 18");
    let (_, sent) = late_offer_acked_with(&g729);
    assert!(bye_only(&sent), "{sent:?}");
    // A usable answer keeps the call, and the greeting reaches the phone.
    let (s, sent) = late_offer_acked_with(OFFER_PLAIN);
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(s.engine.calls(), 1);
    assert!(!s.payloads_to(PHONE_RTP).is_empty());
}

#[test]
fn stopping_refuses_new_calls_lets_calls_go_on_then_ends_them_with_a_bye() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let tag = s.call("8000", OFFER_4733).expect("answered");
    s.engine.stop_taking_calls();
    // A new call: 503 with Retry-After.
    let resp = s.try_call("late-comer", "8000", OFFER_PLAIN);
    assert_eq!(resp.status, 503);
    assert!(resp.headers.get("Retry-After").is_some());
    // The call in progress goes on: the IVR keeps talking and takes keys.
    let before = s.rtp.len();
    s.advance(1000);
    assert!(sent_to(&s, before, PHONE_RTP).len() >= 45);
    s.in_dialog(&tag, "INFO", 3, "application/dtmf-relay", "Signal=9\r\n");
    assert_eq!(s.engine.calls(), 1);
    // Then it is ended: a BYE, recorded as the engine's doing.
    let mark = s.inbox.len();
    let now = s.clock.now();
    s.engine.end_all_calls(now);
    s.pump();
    assert!(s.inbox[mark..].iter().any(
        |m| matches!(m, sb_sip_msg::Message::Request(r) if r.method == sb_sip_msg::Method::Bye)
    ));
    assert_eq!(s.engine.calls(), 0);
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::CallEnded {
            reason: EndReason::SwitchboardStopping,
            by: sb_engine::Side::Engine,
            ..
        }
    )));
}
