//! A patient in the IVR presses 2, waits in the consultation queue, an agent's phone rings,
//! the agent answers and the two are bridged; then the agent hangs up.

use rtp_rs::RtpReader;
use sb_engine::EngineEvent;
use sb_media::g711;
use sb_sip_msg::{Message, Method};
use sb_testkit::*;
use sb_types::vocab::{EndReason, LiveState};

#[test]
fn a_waiting_patient_is_offered_bridged_to_the_agent_and_released_when_the_agent_hangs_up() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    // The agent answers with PCMA: the bridge transcodes.
    let inv = bridged_to_1003(&mut s);
    let sdp = AGENT_SDP;
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, EngineEvent::Bridged { agent, .. } if agent == "1003")));
    assert!(s.inbox.iter().any(|m| matches!(m, Message::Request(r) if r.method == Method::Ack && r.core.to.tag() == Some("ag"))));
    // The IVR stops talking to the caller; what the caller says reaches the agent in A-law.
    let before = s.rtp.len();
    s.advance(500);
    assert!(
        s.rtp[before..]
            .iter()
            .all(|(_, to, _)| *to != addr(PHONE_RTP)),
        "no prompts or silence to a bridged caller"
    );
    let voice: Vec<u8> = (0..160)
        .map(|i| g711::linear_to_ulaw(((i as f32 * 0.3).sin() * 8000.0) as i16))
        .collect();
    for i in 0..3u16 {
        s.engine.handle_rtp(
            s.clock.now(),
            20_002,
            addr(PHONE_RTP),
            &rtp_packet(0, 500 + i, 9_000 + 160 * i as u32, &voice),
        );
        s.pump();
    }
    let to_agent: Vec<&(std::time::Instant, std::net::SocketAddr, Vec<u8>)> = s
        .rtp
        .iter()
        .filter(|(_, to, _)| *to == addr(AGENT_RTP))
        .collect();
    assert_eq!(to_agent.len(), 3);
    let first = RtpReader::new(&to_agent[0].2).expect("rtp");
    assert_eq!(first.payload_type(), 8);
    let expect: Vec<u8> = voice.iter().map(|b| g711::ulaw_to_alaw(*b)).collect();
    assert_eq!(first.payload(), &expect[..]);
    let second = RtpReader::new(&to_agent[1].2).expect("rtp");
    assert_eq!(
        u16::from(second.sequence_number()),
        u16::from(first.sequence_number()).wrapping_add(1)
    );
    assert_eq!(second.timestamp(), first.timestamp().wrapping_add(160));
    // And the agent is heard by the caller, in mu-law, continuing the caller leg's stream.
    let agent_voice = vec![0xD5u8; 160];
    s.engine.handle_rtp(
        s.clock.now(),
        30_002,
        addr(AGENT_RTP),
        &rtp_packet(8, 1, 40_000, &agent_voice),
    );
    s.pump();
    let (_, to, pkt) = s.rtp.last().expect("relayed");
    assert_eq!(*to, addr(PHONE_RTP));
    let back = RtpReader::new(pkt).expect("rtp");
    assert_eq!(back.payload_type(), 0);
    assert!(back
        .payload()
        .iter()
        .all(|b| *b == g711::alaw_to_ulaw(0xD5)));
    // The agent's phone puts the call on hold with a re-INVITE: answered, still bridged.
    let hold_sdp = sdp.replace(
        "m=audio 7003 RTP/AVP 8 101\r\n",
        "m=audio 7003 RTP/AVP 8 101\r\na=sendonly\r\n",
    );
    agent_reinvite(&mut s, &inv, 2, &hold_sdp);
    let answer = s.last_response().clone();
    assert_eq!((answer.status, answer.core.cseq.seq), (200, 2));
    let body = String::from_utf8(answer.body.clone()).expect("sdp");
    assert!(
        body.contains("a=recvonly") && body.contains("RTP/AVP 8"),
        "an answer to the hold offer: {body}"
    );
    assert_eq!(s.engine.calls(), 1);
    // The agent hangs up: the patient hears the satisfaction survey and keys 4; the thanks
    // play, then the patient's leg gets a BYE and the call ends.
    agent_hangs_up(&mut s, &inv);
    assert!(s.events.iter().any(|e| matches!(e,
        EngineEvent::SurveyOffered { agent, .. } if agent.as_deref() == Some("1003"))));
    let mark = s.rtp.len();
    s.advance(1_000);
    let survey = &s.assets.prompt("zh-CN", "survey").expect("survey").ulaw;
    let heard: Vec<u8> = sent_to(&s, mark, PHONE_RTP)
        .iter()
        .flat_map(|p| rtp_rs::RtpReader::new(p).expect("rtp").payload().to_vec())
        .collect();
    assert_eq!(heard.len(), 50 * 160, "a second of it");
    assert!(
        survey.windows(160).any(|w| w == &heard[160..320]),
        "the survey prompt"
    );
    assert_eq!(s.engine.calls(), 1, "the patient is still on the line");
    s.rfc4733(4, 90_000);
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, EngineEvent::SurveyAnswered { score: Some(4), .. })));
    let thanks = s.assets.prompt("zh-CN", "survey-thanks").expect("thanks");
    s.advance(thanks.duration_ms() + 500);
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::CallEnded {
            reason: EndReason::AgentHungUp,
            ..
        }
    )));
    assert!(s.inbox.iter().any(|m| matches!(m, Message::Request(r) if r.method == Method::Bye && r.core.call_id == "ivr-call-1")), "the caller gets a BYE");
    assert_eq!(s.engine.calls(), 0);
}

#[test]
fn a_waiting_patient_hears_their_place_then_music() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    // No agent's phone is registered: the caller waits in the consultation queue.
    let tag = s.call("8000", OFFER_4733).expect("answered");
    past_the_menu(&mut s);
    s.in_dialog(&tag, "INFO", 3, "application/dtmf-relay", "Signal=2\r\n");
    let transferring = s
        .assets
        .prompt("zh-CN", "transferring")
        .expect("prompt")
        .duration_ms();
    s.advance(transferring + 100);
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, EngineEvent::Queued { .. })));
    let before = s.payloads_to(PHONE_RTP).len();
    let next = s
        .assets
        .prompt("zh-CN", "position-next")
        .expect("prompt")
        .clone();
    s.advance(next.duration_ms() + 2000);
    let heard = s.payloads_to(PHONE_RTP);
    // The announcement begins as the caller joins (just before `before`, while the last
    // tick of the transfer prompt's wait ran).
    let start = heard
        .windows(1600)
        .position(|w| w == &next.ulaw[..1600])
        .expect("first the place in the queue");
    assert!(
        start + 1600 >= before.saturating_sub(1600),
        "said as the caller joined"
    );
    let music = s
        .assets
        .prompt("zh-CN", "hold-music")
        .expect("music")
        .clone();
    let after = start + next.ulaw.len().div_ceil(160) * 160;
    assert_eq!(
        &heard[after..after + 1600],
        &music.ulaw[..1600],
        "then music"
    );
    // Thirty seconds on, the place is said again.
    let mark = s.payloads_to(PHONE_RTP).len();
    s.advance(30_000);
    let later = s.payloads_to(PHONE_RTP);
    assert!(
        later[mark..].windows(1600).any(|w| w == &next.ulaw[..1600]),
        "announced again"
    );
}

#[test]
fn a_waiting_patient_hears_the_expected_wait_after_their_place() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    // One agent staffs consultation; their phone rings but nobody picks up yet.
    register_agent(&mut s, "1003", AGENT);
    let tag = s.call("8000", OFFER_4733).expect("answered");
    past_the_menu(&mut s);
    s.in_dialog(&tag, "INFO", 3, "application/dtmf-relay", "Signal=2\r\n");
    let prompt = |name: &str| s.assets.prompt("zh-CN", name).expect(name).clone();
    let (transferring, next, wait) = (
        prompt("transferring"),
        prompt("position-next"),
        // One staffed agent at the initial 180 s handle time: about three minutes.
        prompt("wait-3"),
    );
    s.advance(transferring.duration_ms() + next.duration_ms() + wait.duration_ms() + 1000);
    let heard = s.payloads_to(PHONE_RTP);
    let at = |p: &sb_media::prompt::Prompt| {
        heard
            .windows(1600)
            .position(|w| w == &p.ulaw[..1600])
            .unwrap_or_else(|| panic!("{} not heard", p.name))
    };
    let (place, expected) = (at(&next), at(&wait));
    assert_eq!(
        expected,
        place + next.ulaw.len(),
        "the expected wait follows the place at once"
    );
}

/// A patient who pressed 0 and has waited past the operators' maximum wait: the operators
/// have nowhere to overflow to, so the patient is offered a callback.
fn overflowed_at_the_operators(s: &mut Sim) -> String {
    let tag = s.call("8000", OFFER_4733).expect("answered");
    past_the_menu(s);
    s.in_dialog(&tag, "INFO", 3, "application/dtmf-relay", "Signal=0\r\n");
    s.advance(125_000);
    assert!(
        s.events
            .iter()
            .any(|e| matches!(e, EngineEvent::CallbackOffered { .. })),
        "the callback is offered"
    );
    let offer = s
        .assets
        .prompt("zh-CN", "callback-offer")
        .expect("prompt")
        .clone();
    let heard = s.payloads_to(PHONE_RTP);
    assert!(
        heard.windows(1600).any(|w| w == &offer.ulaw[..1600]),
        "the offer is heard"
    );
    tag
}

#[test]
fn a_patient_who_presses_1_is_called_back_and_the_call_ends_politely() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let tag = overflowed_at_the_operators(&mut s);
    s.in_dialog(&tag, "INFO", 4, "application/dtmf-relay", "Signal=1\r\n");
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::CallbackRequested { queue, .. } if queue == "operator"
    )));
    let confirmed = s
        .assets
        .prompt("zh-CN", "callback-confirmed")
        .expect("prompt")
        .clone();
    s.advance(confirmed.duration_ms() + 500);
    let heard = s.payloads_to(PHONE_RTP);
    assert!(
        heard.windows(1600).any(|w| w == &confirmed.ulaw[..1600]),
        "the confirmation is heard"
    );
    assert!(
        s.inbox
            .iter()
            .any(|m| matches!(m, Message::Request(r) if r.method == Method::Bye)),
        "then the engine hangs up"
    );
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::CallEnded { reason, .. } if *reason == EndReason::CallbackArranged
    )));
}

#[test]
fn a_patient_who_stays_on_the_line_keeps_waiting_and_is_not_sent_away_again() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    overflowed_at_the_operators(&mut s);
    let offers = |s: &Sim| {
        s.events
            .iter()
            .filter(|e| matches!(e, EngineEvent::CallbackOffered { .. }))
            .count()
    };
    assert_eq!(offers(&s), 1);
    // No key: after the offer the patient is back in the queue, past any maximum wait.
    s.advance(300_000);
    assert_eq!(offers(&s), 1, "offered once");
    assert!(!s
        .inbox
        .iter()
        .any(|m| matches!(m, Message::Request(r) if r.method == Method::Bye)));
    let next = s
        .assets
        .prompt("zh-CN", "position-next")
        .expect("prompt")
        .clone();
    let mark = s.payloads_to(PHONE_RTP).len();
    s.advance(31_000);
    assert!(
        s.payloads_to(PHONE_RTP)[mark..]
            .windows(1600)
            .any(|w| w == &next.ulaw[..1600]),
        "their place is announced again: they are waiting in the queue"
    );
}

#[test]
fn the_agent_holds_and_mutes_by_feature_code_and_by_the_phones_own_hold() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let inv = bridged_to_1003(&mut s);
    let agent_voice = vec![0x55u8; 160];
    let patient_voice = vec![0x11u8; 160];
    let mut seq = 100u16;
    let hold_events = |s: &Sim| -> Vec<(bool, sb_engine::Control)> {
        s.events
            .iter()
            .filter_map(|e| match e {
                EngineEvent::Hold { on, by, .. } => Some((*on, *by)),
                _ => None,
            })
            .collect()
    };

    // *1: on hold. The patient hears the hold music; neither voice crosses.
    agent_keys(&mut s, &mut seq, "*1");
    assert_eq!(hold_events(&s), [(true, sb_engine::Control::FeatureCode)]);
    let mark = s.rtp.len();
    s.advance(200);
    from_patient(&mut s, 1, &patient_voice);
    seq += 1;
    from_agent(&mut s, 8, seq, &agent_voice);
    let to_agent = sent_to(&s, mark, AGENT_RTP);
    assert_eq!(to_agent.len(), 10, "a frame every 20 ms to the agent too");
    assert!(
        to_agent
            .iter()
            .all(|p| RtpReader::new(p).expect("rtp").payload() == [0xD5; 160]),
        "the agent hears silence (PCMA), nothing of the patient"
    );
    let heard: Vec<u8> = sent_to(&s, mark, PHONE_RTP)
        .iter()
        .flat_map(|p| RtpReader::new(p).expect("rtp").payload().to_vec())
        .collect();
    let music = &s.assets.prompt("zh-CN", "hold-music").expect("music").ulaw;
    assert_eq!(heard.len(), 10 * 160, "a frame every 20 ms");
    assert_eq!(
        &heard[..],
        &music[..heard.len()],
        "the hold music, from its start"
    );
    // *1 again: back; both directions flow, the patient's stream continuous.
    agent_keys(&mut s, &mut seq, "*1");
    let mark = s.rtp.len();
    s.advance(100);
    from_patient(&mut s, 2, &patient_voice);
    seq += 1;
    from_agent(&mut s, 8, seq, &agent_voice);
    assert_eq!(sent_to(&s, mark, AGENT_RTP).len(), 1);
    let back = sent_to(&s, mark, PHONE_RTP);
    assert_eq!(back.len(), 1, "the agent again, no more music");
    assert!(RtpReader::new(&back[0])
        .expect("rtp")
        .payload()
        .iter()
        .all(|b| *b == g711::alaw_to_ulaw(0x55)));

    // *2: muted. The agent still hears the patient; the patient no longer hears the agent.
    agent_keys(&mut s, &mut seq, "*2");
    let mark = s.rtp.len();
    from_patient(&mut s, 3, &patient_voice);
    seq += 1;
    from_agent(&mut s, 8, seq, &agent_voice);
    assert_eq!(sent_to(&s, mark, AGENT_RTP).len(), 1);
    assert!(sent_to(&s, mark, PHONE_RTP).is_empty());
    // Their stream goes on with silence, so the phone does not time the call out.
    let mark = s.rtp.len();
    s.advance(100);
    let quiet = sent_to(&s, mark, PHONE_RTP);
    assert_eq!(quiet.len(), 5);
    assert!(quiet
        .iter()
        .all(|p| RtpReader::new(p).expect("rtp").payload() == [0xFF; 160]));
    agent_keys(&mut s, &mut seq, "*2");
    let mark = s.rtp.len();
    seq += 1;
    from_agent(&mut s, 8, seq, &agent_voice);
    assert_eq!(sent_to(&s, mark, PHONE_RTP).len(), 1, "unmuted");
    let mutes: Vec<bool> = s
        .events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Mute { on, .. } => Some(*on),
            _ => None,
        })
        .collect();
    assert_eq!(mutes, [true, false]);
    // The agent's keys never reached the patient.
    assert!(s
        .rtp
        .iter()
        .filter(|(_, t, _)| *t == addr(PHONE_RTP))
        .all(|(_, _, p)| RtpReader::new(p).expect("rtp").payload_type() != 101));

    // The phone's own hold button: a re-INVITE with sendonly, then sendrecv again.
    let hold_sdp = AGENT_SDP.replace(
        "m=audio 7003 RTP/AVP 8 101\r\n",
        "m=audio 7003 RTP/AVP 8 101\r\na=sendonly\r\n",
    );
    agent_reinvite(&mut s, &inv, 2, &hold_sdp);
    assert_eq!(s.last_response().status, 200);
    agent_reinvite(&mut s, &inv, 3, AGENT_SDP);
    assert_eq!(s.last_response().status, 200);
    assert_eq!(
        hold_events(&s),
        [
            (true, sb_engine::Control::FeatureCode),
            (false, sb_engine::Control::FeatureCode),
            (true, sb_engine::Control::Phone),
            (false, sb_engine::Control::Phone),
        ]
    );
}

#[test]
fn an_agent_phone_answering_without_a_usable_answer_is_hung_up_and_the_patient_waits_on() {
    for answer in [
        String::new(),
        format!("{AGENT_SDP}m=video 7005 RTP/AVP 96\r\n"),
    ] {
        let mut s = Sim::new(MONDAY + 10 * 3600);
        register_agent(&mut s, "1003", AGENT);
        let tag = s.call("8000", OFFER_4733).expect("answered");
        past_the_menu(&mut s);
        s.in_dialog(&tag, "INFO", 3, "application/dtmf-relay", "Signal=2\r\n");
        s.advance(4000);
        let inv = invite_to_agent(&s).expect("the agent's phone is called");
        agent_rings(&mut s, &inv);
        agent_answers(&mut s, &inv, &answer);
        let byes = s
            .inbox
            .iter()
            .filter(|m| matches!(m, Message::Request(r) if r.method == Method::Bye && r.core.call_id == inv.core.call_id))
            .count();
        assert_eq!(
            byes, 1,
            "the phone that answered with {answer:?} is hung up"
        );
        assert!(
            !s.events
                .iter()
                .any(|e| matches!(e, EngineEvent::Bridged { .. })),
            "never bridged without a media path"
        );
        assert_eq!(s.engine.live_calls()[0].state, LiveState::Waiting);
    }
}

/// A stranger on the phones' own host (same IP as their SIP and SDP, another port) sprays
/// paced RTP with one SSRC and rising sequence numbers at `port` for three seconds, four
/// packets for each of the real phone's (`phone_sends`); returns how many it sent.
fn spray_during(
    s: &mut Sim,
    port: u16,
    stranger: &str,
    mut phone_sends: impl FnMut(&mut Sim, u16),
) -> u16 {
    let mut sent = 0u16;
    for i in 0..150u16 {
        for _ in 0..4 {
            let pkt = rtp_packet_from(0xBAD, 0, 5000 + sent, &[0x55; 160]);
            s.engine
                .handle_rtp(s.clock.now(), port, addr(stranger), &pkt);
            s.pump();
            sent += 1;
            s.advance(5);
        }
        phone_sends(s, i);
    }
    sent
}

fn rtp_packet_from(ssrc: u32, pt: u8, seq: u16, payload: &[u8]) -> Vec<u8> {
    rtp_rs::RtpPacketBuilder::new()
        .payload_type(pt)
        .sequence(rtp_rs::Seq::from(seq))
        .timestamp(160 * u32::from(seq))
        .ssrc(ssrc)
        .payload(payload)
        .build()
        .expect("rtp")
}

fn refusals(s: &Sim) -> Vec<sb_engine::Side> {
    s.events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::MediaRefused { side, .. } => Some(*side),
            _ => None,
        })
        .collect()
}

const STRANGER_RTP: &str = "127.0.0.1:7100";

#[test]
fn a_stranger_spraying_rtp_from_the_moment_of_answer_gets_nothing_and_the_patient_hears_the_prompt()
{
    let mut s = Sim::new(MONDAY + 10 * 3600);
    s.call("8000", OFFER_4733).expect("answered");
    let mark = s.rtp.len();
    let sent = spray_during(&mut s, 20_002, STRANGER_RTP, |s, i| {
        from_patient(s, 10 + i, &[0xFF; 160]);
    });
    assert!(
        sent_to(&s, 0, STRANGER_RTP).is_empty(),
        "the stranger got media"
    );
    // The greeting kept flowing to the phone, frame after frame.
    let greeting = &s.assets.prompt("zh-CN", "greeting").expect("greeting").ulaw;
    let heard = s.payloads_to(PHONE_RTP);
    assert!(
        sent_to(&s, mark, PHONE_RTP).len() >= 140,
        "three seconds of prompt"
    );
    let n = heard.len().min(greeting.len());
    assert_eq!(&heard[..n], &greeting[..n]);
    // Counted, and reported once.
    assert_eq!(refusals(&s), [sb_engine::Side::Caller]);
    let live = &s.engine.live_calls()[0];
    assert_eq!(live.strangers_caller, u64::from(sent));
}

#[test]
fn a_stranger_spraying_the_agent_leg_at_answer_cannot_take_the_agents_voice() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let _inv = bridged_to_1003(&mut s);
    let voice: Vec<u8> = (0..160u8).map(|i| i | 1).collect();
    let mark = s.rtp.len();
    let v = voice.clone();
    let sent = spray_during(&mut s, 30_002, "127.0.0.1:7103", move |s, i| {
        from_agent(s, 8, 10 + i, &v);
    });
    assert!(
        sent_to(&s, 0, "127.0.0.1:7103").is_empty(),
        "the stranger got media"
    );
    // Every frame of the agent reached the patient (transcoded A-law to mu-law).
    let expect: Vec<u8> = voice.iter().map(|b| g711::alaw_to_ulaw(*b)).collect();
    let to_patient = sent_to(&s, mark, PHONE_RTP);
    let agent_frames = to_patient
        .iter()
        .filter(|p| RtpReader::new(p).expect("rtp").payload() == &expect[..])
        .count();
    assert_eq!(agent_frames, 150, "the patient kept hearing the agent");
    assert_eq!(refusals(&s), [sb_engine::Side::Agent]);
    assert_eq!(s.engine.live_calls()[0].strangers_agents, u64::from(sent));
}
