//! Deterministic simulation of the RFC 3261 §17 transaction machines: exact retransmission
//! schedules on virtual time, absorption of retransmissions, and completion under loss,
//! duplication and reordering.

mod common;

use common::*;
use sb_sim::{Clock, LinkConfig, Network};
use sb_sip::transaction::{LayerEvent, TransactionLayer};
use sb_sip::{Endpoint, Event, Peer, TimerSettings};
use sb_sip_msg::{parse_datagram, Message, Request};
use std::time::Duration;

fn request(bytes: &[u8]) -> Request {
    match parse_datagram(bytes) {
        Ok(Some(Message::Request(r))) => r,
        other => panic!("not a request: {other:?}"),
    }
}

fn invite(call_id: &str, branch: &str) -> Vec<u8> {
    invite_as(call_id, branch, None)
}

/// An INVITE with the Authorization `auth`, if any.
fn invite_as(call_id: &str, branch: &str, auth: Option<&str>) -> Vec<u8> {
    let auth = auth
        .map(|a| format!("Authorization: {a}\n"))
        .unwrap_or_default();
    req(&format!(
        "INVITE sip:8000@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK{branch};rport\nFrom: <sip:caller@127.0.0.1>;tag=c{branch}\nTo: <sip:8000@127.0.0.1>\nCall-ID: {call_id}\nCSeq: 1 INVITE\nContact: <sip:caller@127.0.0.1:6001>\nMax-Forwards: 70\n{auth}Content-Length: 0\n\n"
    ))
}

/// An INVITE that authenticates as `user`, with a challenge of its own.
fn authed_invite(
    ep: &mut Endpoint,
    now: std::time::Instant,
    call_id: &str,
    branch: &str,
    user: &str,
) -> Vec<u8> {
    let ch = fresh_challenge(ep, now);
    let auth = authorization(
        &ch,
        user,
        &format!("demo-{user}"),
        "INVITE",
        "sip:8000@127.0.0.1",
        1,
    );
    invite_as(call_id, branch, Some(&auth))
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Runs a lone client transaction over a dead link and returns the send offsets and the
/// timeout offset, in milliseconds.
fn client_schedule(bytes: &[u8], peer: Peer) -> (Vec<u128>, u128) {
    let mut clock = Clock::new();
    let start = clock.now();
    let mut layer = TransactionLayer::new(TimerSettings::default());
    layer.send_request(clock.now(), &request(bytes), peer);
    let mut sends = Vec::new();
    loop {
        while layer.poll_transmit().is_some() {
            sends.push(ms(clock.now() - start));
        }
        if let Some(LayerEvent::ClientTimeout { .. }) = layer.poll_event() {
            return (sends, ms(clock.now() - start));
        }
        let next = layer
            .poll_timeout()
            .expect("a live transaction has a timer");
        clock.advance_to(next);
        layer.handle_timeout(clock.now());
    }
}

#[test]
fn non_invite_client_timer_e_doubles_to_t2_and_timer_f_fires_at_64_t1() {
    let (sends, timeout) = client_schedule(&options("e1", "e1"), Peer::udp(addr(ENGINE)));
    // Timer E: T1, 2T1, 4T1, then capped at T2 = 4 s (§17.1.2.2).
    assert_eq!(
        sends,
        [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(timeout, 32_000, "Timer F = 64*T1");
}

#[test]
fn invite_client_timer_a_doubles_without_cap_and_timer_b_fires_at_64_t1() {
    let (sends, timeout) = client_schedule(&invite("a1", "a1"), Peer::udp(addr(ENGINE)));
    assert_eq!(sends, [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(timeout, 32_000, "Timer B = 64*T1");
}

#[test]
fn reliable_transport_never_retransmits() {
    let (sends, timeout) = client_schedule(&options("t1", "t1"), Peer::tcp(addr(ENGINE)));
    assert_eq!(sends, [0]);
    assert_eq!(timeout, 32_000);
    let (sends, _) = client_schedule(&invite("t2", "t2"), Peer::tcp(addr(ENGINE)));
    assert_eq!(sends, [0]);
}

#[test]
fn invite_server_timer_g_caps_at_t2_and_timer_h_waits_64_t1_for_the_ack() {
    let mut clock = Clock::new();
    let start = clock.now();
    let mut ep = endpoint(clock.now());
    let phone = Peer::udp(addr(PHONE));
    let inv = authed_invite(&mut ep, clock.now(), "g1", "g1", "1001");
    ep.handle_datagram(clock.now(), &inv, phone);
    let tx = handed_up(&mut ep)[0];
    ep.respond(clock.now(), tx, 486, |b| b);
    let mut sends = Vec::new();
    let mut ack_timeout = None;
    while clock.now() - start < Duration::from_secs(40) {
        for r in responses(&mut ep) {
            assert_eq!(r.status, 486);
            sends.push(ms(clock.now() - start));
        }
        for e in events(&mut ep) {
            if let Event::AckTimeout { .. } = e {
                ack_timeout = Some(ms(clock.now() - start));
            }
        }
        let next = ep.poll_timeout().expect("housekeeping keeps a timer");
        clock.advance_to(next);
        ep.handle_timeout(clock.now());
    }
    // Timer G: T1, 2T1, 4T1, then T2 (§17.2.1); the last one before H at 32 s.
    assert_eq!(&sends[..6], [0, 500, 1500, 3500, 7500, 11500]);
    assert_eq!(sends.last(), Some(&31500));
    assert_eq!(ack_timeout, Some(32_000), "Timer H = 64*T1");
    assert_eq!(ep.layer().live_transactions(), (0, 0));
}

#[test]
fn invite_server_ack_stops_retransmissions_and_timer_i_absorbs_ack_copies() {
    let mut clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let phone = Peer::udp(addr(PHONE));
    let inv = authed_invite(&mut ep, clock.now(), "i1", "i1", "1001");
    ep.handle_datagram(clock.now(), &inv, phone);
    let tx = handed_up(&mut ep)[0];
    ep.respond(clock.now(), tx, 486, |b| b);
    let resp = responses(&mut ep).remove(0);
    let tag = resp
        .core
        .to
        .tag()
        .expect("final responses carry a To tag")
        .to_string();
    let ack = req(&format!(
        "ACK sip:8000@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKi1;rport\nFrom: <sip:caller@127.0.0.1>;tag=ci1\nTo: <sip:8000@127.0.0.1>;tag={tag}\nCall-ID: i1\nCSeq: 1 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n"
    ));
    clock.advance(Duration::from_millis(100));
    ep.handle_datagram(clock.now(), &ack, phone);
    ep.handle_datagram(clock.now(), &ack, phone);
    assert!(
        events(&mut ep).is_empty(),
        "an ACK for a non-2xx stays in the transaction layer"
    );
    clock.advance(Duration::from_secs(1));
    ep.handle_timeout(clock.now());
    assert!(
        responses(&mut ep).is_empty(),
        "no retransmission after the ACK"
    );
    assert_eq!(
        ep.layer().live_transactions(),
        (1, 0),
        "Timer I holds the transaction"
    );
    clock.advance(Duration::from_secs(5));
    ep.handle_timeout(clock.now());
    assert_eq!(ep.layer().live_transactions(), (0, 0), "Timer I = T4");
}

#[test]
fn non_invite_server_resends_its_final_response_until_timer_j() {
    let mut clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let ch = fresh_challenge(&mut ep, clock.now());
    let auth = authorization(&ch, "1002", "demo-1002", "REGISTER", "sip:127.0.0.1", 1);
    let reg = register("1002", 1, "j1", Some(&auth), 600);
    let first = ask(&mut ep, clock.now(), &reg);
    assert_eq!(first.status, 200);
    clock.advance(Duration::from_secs(10));
    ep.handle_timeout(clock.now());
    let again = ask(&mut ep, clock.now(), &reg);
    assert_eq!(
        again, first,
        "a retransmitted request gets the same response back"
    );
    assert_eq!(ep.layer().stats.retransmissions_absorbed, 1);
    clock.advance(Duration::from_secs(23));
    ep.handle_timeout(clock.now());
    assert_eq!(
        ep.layer().live_transactions().0,
        0,
        "Timer J = 64*T1 after the response (the client one is the phone's qualify)"
    );
}

#[test]
fn non_invite_client_timer_k_absorbs_retransmitted_responses() {
    let mut clock = Clock::new();
    let mut layer = TransactionLayer::new(TimerSettings::default());
    let mut ep = endpoint(clock.now());
    let phone = Peer::udp(addr(PHONE));
    layer.send_request(
        clock.now(),
        &request(&options("k1", "k1")),
        Peer::udp(addr(ENGINE)),
    );
    let (_, bytes) = layer.poll_transmit().expect("sent at once");
    ep.handle_datagram(clock.now(), &bytes, phone);
    let (_, resp) = ep.poll_transmit().expect("answered");
    for _ in 0..3 {
        let Ok(Some(Message::Response(r))) = parse_datagram(&resp) else {
            panic!("response")
        };
        layer.on_response(clock.now(), r, Peer::udp(addr(ENGINE)));
    }
    let delivered = std::iter::from_fn(|| layer.poll_event())
        .filter(|e| matches!(e, LayerEvent::Response { .. }))
        .count();
    assert_eq!(delivered, 1, "copies of the final response are absorbed");
    clock.advance(Duration::from_secs(5));
    layer.handle_timeout(clock.now());
    assert_eq!(layer.live_transactions(), (0, 0), "Timer K = T4");
}

/// Client transactions from one layer to the endpoint over a seeded lossy, duplicating,
/// reordering network: every one of them completes.
fn completes_under_loss(seed: u64, loss: f64) {
    let mut clock = Clock::new();
    let phone = Peer::udp(addr(PHONE));
    let engine = Peer::udp(addr(ENGINE));
    let mut net = Network::new(LinkConfig::lossy(loss), seed);
    let mut client = TransactionLayer::new(TimerSettings::default());
    let mut ep = endpoint(clock.now());
    let mut started = 0;
    // Unauthenticated requests are answered statelessly; authenticated ones open server
    // transactions, which the TU below answers (486), so both kinds cross the bad link.
    for i in 0..60 {
        let user = format!("{}", 1001 + i % 6);
        let bytes = match i % 4 {
            0 => options(&format!("o{seed}-{i}"), &format!("o{seed}x{i}")),
            1 => {
                let ch = fresh_challenge(&mut ep, clock.now());
                let auth = authorization(
                    &ch,
                    &user,
                    &format!("demo-{user}"),
                    "REGISTER",
                    "sip:127.0.0.1",
                    1,
                );
                register(&user, i, &format!("r{seed}x{i}"), Some(&auth), 600)
            }
            2 => authed_invite(
                &mut ep,
                clock.now(),
                &format!("a{seed}-{i}"),
                &format!("a{seed}x{i}"),
                &user,
            ),
            _ => invite(&format!("i{seed}-{i}"), &format!("i{seed}x{i}")),
        };
        client.send_request(clock.now(), &request(&bytes), engine);
        started += 1;
        clock.advance(Duration::from_millis(37));
    }
    let deadline = clock.now() + Duration::from_secs(70);
    let (mut finals, mut timeouts, mut ack_timeouts) = (0, 0, 0);
    loop {
        while let Some((_, b)) = client.poll_transmit() {
            net.send(clock.now(), addr(PHONE), addr(ENGINE), b);
        }
        while let Some((_, b)) = ep.poll_transmit() {
            net.send(clock.now(), addr(ENGINE), addr(PHONE), b);
        }
        while let Some(e) = client.poll_event() {
            match e {
                LayerEvent::Response { resp, .. } if resp.status >= 200 => finals += 1,
                LayerEvent::ClientTimeout { .. } => timeouts += 1,
                _ => {}
            }
        }
        for e in events(&mut ep) {
            match e {
                Event::AckTimeout { .. } => ack_timeouts += 1,
                Event::Request { tx, .. } => ep.respond(clock.now(), tx, 486, |b| b),
                _ => {}
            }
        }
        let next = [
            net.next_delivery(),
            client.poll_timeout(),
            ep.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("something is always scheduled");
        if next > deadline {
            break;
        }
        clock.advance_to(next);
        let now = clock.now();
        while let Some(p) = net.pop_due(now) {
            if p.to == addr(ENGINE) {
                ep.handle_datagram(now, &p.bytes, phone);
            } else if let Ok(Some(Message::Response(r))) = parse_datagram(&p.bytes) {
                client.on_response(now, r, engine);
            }
        }
        client.handle_timeout(now);
        ep.handle_timeout(now);
    }
    assert!(
        net.dropped > 0 && net.duplicated > 0,
        "the link really was bad"
    );
    assert_eq!(
        (finals, timeouts),
        (started, 0),
        "seed {seed}: every transaction completed"
    );
    assert_eq!(
        ack_timeouts, 0,
        "seed {seed}: every non-2xx final response was ACKed"
    );
    assert_eq!(client.live_transactions(), (0, 0));
    // The endpoint's own client transactions are the registered phones' qualify OPTIONS.
    assert_eq!(ep.layer().live_transactions().0, 0);
}

#[test]
fn transactions_complete_under_loss_duplication_and_reordering() {
    for seed in 1..=5 {
        completes_under_loss(seed, 0.2);
    }
}

#[test]
fn simulation_is_deterministic() {
    // Same seed, same endpoint key: byte-identical traffic.
    let run = || {
        let clock = Clock::new();
        let mut ep: Endpoint = endpoint(clock.now());
        ep.handle_datagram(
            clock.now(),
            &register("1002", 1, "d1", None, 600),
            Peer::udp(addr(PHONE)),
        );
        ep.poll_transmit().map(|(_, b)| b)
    };
    assert_eq!(run(), run());
}

#[test]
fn rfc2543_requests_match_without_a_branch() {
    // No magic cookie: the transaction is keyed by Request-URI, From tag, Call-ID, CSeq and
    // top Via (RFC 3261 §17.2.3), so a retransmission is still recognised and the ACK to
    // the final response still reaches its transaction.
    let mut clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let phone = Peer::udp(addr(PHONE));
    let ch = fresh_challenge(&mut ep, clock.now());
    let auth = authorization(&ch, "1003", "demo-1003", "INVITE", "sip:2001@127.0.0.1", 1);
    let old = req(&format!("INVITE sip:2001@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001\nFrom: <sip:old@127.0.0.1>;tag=o1\nTo: <sip:2001@127.0.0.1>\nCall-ID: rfc2543-1\nCSeq: 7 INVITE\nAuthorization: {auth}\nContent-Length: 0\n\n"));
    ep.handle_datagram(clock.now(), &old, phone);
    let tx = handed_up(&mut ep)[0];
    ep.respond(clock.now(), tx, 486, |b| b);
    let first = responses(&mut ep);
    assert_eq!(first.len(), 1);
    ep.handle_datagram(clock.now(), &old, phone);
    assert_eq!(
        responses(&mut ep),
        first,
        "the retransmission gets the same 486 back"
    );
    assert_eq!(ep.layer().live_transactions(), (1, 0));
    let tag = first[0].core.to.tag().expect("tag").to_string();
    let ack = req(&format!("ACK sip:2001@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001\nFrom: <sip:old@127.0.0.1>;tag=o1\nTo: <sip:2001@127.0.0.1>;tag={tag}\nCall-ID: rfc2543-1\nCSeq: 7 ACK\nContent-Length: 0\n\n"));
    ep.handle_datagram(clock.now(), &ack, phone);
    clock.advance(Duration::from_secs(2));
    ep.handle_timeout(clock.now());
    assert!(
        responses(&mut ep).is_empty(),
        "the ACK matched: Timer G stopped"
    );
    // A different CSeq is a different transaction.
    let auth2 = authorization(&ch, "1003", "demo-1003", "INVITE", "sip:2001@127.0.0.1", 2);
    let next = String::from_utf8(old)
        .expect("utf8")
        .replace("CSeq: 7", "CSeq: 8")
        .replace(&auth, &auth2);
    ep.handle_datagram(clock.now(), next.as_bytes(), phone);
    let tx2 = handed_up(&mut ep)[0];
    assert_ne!(tx2, tx);
    ep.respond(clock.now(), tx2, 486, |b| b);
    assert_eq!(responses(&mut ep).len(), 1);
    assert_eq!(ep.layer().live_transactions(), (2, 0));
}

#[test]
fn invite_server_after_a_2xx_absorbs_retransmissions_until_timer_l() {
    // RFC 6026 §7.1: the INVITE transaction outlives its 2xx in Accepted, so a late copy of
    // the INVITE is not taken for a new call; an ACK that reuses the INVITE's branch is the
    // dialog's; Timer L (64*T1) ends it.
    let mut clock = Clock::new();
    let mut layer = TransactionLayer::new(TimerSettings::default());
    let phone = Peer::udp(addr(PHONE));
    let inv = request(&invite("acc-1", "acc1"));
    layer.on_request(clock.now(), inv.clone(), phone, || "us".into());
    let Some(LayerEvent::Request { tx, .. }) = layer.poll_event() else {
        panic!("the INVITE reaches the TU")
    };
    let ok = sb_sip_msg::ResponseBuilder::new(&inv, 200)
        .to_tag("us")
        .build();
    layer.respond(clock.now(), tx, &ok);
    assert!(layer.poll_transmit().is_some(), "the 200 goes out");
    clock.advance(Duration::from_millis(700));
    layer.on_request(clock.now(), inv.clone(), phone, || "other".into());
    assert!(
        layer.poll_event().is_none(),
        "a retransmission is no new call"
    );
    assert!(
        layer.poll_transmit().is_none(),
        "the TU resends its 2xx, not the layer"
    );
    let same_branch_ack = String::from_utf8(invite("acc-1", "acc1"))
        .expect("utf8")
        .replace("INVITE sip:", "ACK sip:")
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
        .replace(
            "To: <sip:8000@127.0.0.1>",
            "To: <sip:8000@127.0.0.1>;tag=us",
        );
    layer.on_request(
        clock.now(),
        request(same_branch_ack.as_bytes()),
        phone,
        || "x".into(),
    );
    assert!(
        matches!(layer.poll_event(), Some(LayerEvent::Ack { .. })),
        "the ACK of the 2xx is the dialog's"
    );
    assert_eq!(layer.live_transactions(), (1, 0));
    let deadline = layer.poll_timeout().expect("Timer L");
    assert_eq!(ms(deadline - clock.now()), 64 * 500 - 700);
    clock.advance_to(deadline);
    layer.handle_timeout(clock.now());
    assert_eq!(layer.live_transactions(), (0, 0), "Timer L = 64*T1");
    // After it, the same INVITE would be new again (as RFC 3261 had it at once).
    layer.on_request(clock.now(), inv, phone, || "us2".into());
    assert!(matches!(
        layer.poll_event(),
        Some(LayerEvent::Request { .. })
    ));
}
