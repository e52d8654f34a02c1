//! The UAC side: INVITEs the engine sends to agents' phones.

mod common;

use common::*;
use sb_sim::Clock;
use sb_sip::{Event, OutgoingCall, Peer};
use sb_sip_msg::{Method, NameAddr, Request, ResponseBuilder, Uri};
use std::time::Duration;

fn call() -> OutgoingCall {
    OutgoingCall {
        uri: Uri::parse("sip:1001@127.0.0.1:6001").expect("uri"),
        peer: Peer::udp(addr(PHONE)),
        from: NameAddr::parse("\"Hospital\" <sip:8000@switchboard>").expect("from"),
        to: NameAddr::parse("<sip:1001@switchboard>").expect("to"),
        sdp: b"v=0\r\n".to_vec(),
        headers: Vec::new(),
        credentials: None,
        call_id: None,
    }
}

fn only_request(ep: &mut sb_sip::Endpoint) -> Request {
    let mut r = requests(ep);
    assert_eq!(r.len(), 1, "one request sent");
    r.remove(0).1
}

fn reply(ep: &mut sb_sip::Endpoint, clock: &Clock, req: &Request, status: u16) {
    let mut b = ResponseBuilder::new(req, status).to_tag("ph");
    if status == 200 {
        b = b
            .header("Contact", "<sip:1001@127.0.0.1:6001>")
            .body("application/sdp", b"v=0\r\n".to_vec());
    }
    ep.handle_datagram(clock.now(), &b.build().to_bytes(), Peer::udp(addr(PHONE)));
}

#[test]
fn invite_answered_is_acked_and_can_be_hung_up() {
    let clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let tx = ep.invite(clock.now(), call());
    let inv = only_request(&mut ep);
    assert_eq!(inv.method, Method::Invite);
    assert!(inv.core.from.tag().is_some() && inv.core.to.tag().is_none());
    assert_eq!(inv.headers.get("Content-Type"), Some("application/sdp"));
    reply(&mut ep, &clock, &inv, 180);
    assert!(events(&mut ep)
        .iter()
        .any(|e| matches!(e, Event::OutgoingProgress { tx: t, status: 180, .. } if *t == tx)));
    reply(&mut ep, &clock, &inv, 200);
    let evs = events(&mut ep);
    let Some(Event::OutgoingAnswered { dialog, .. }) = evs
        .into_iter()
        .find(|e| matches!(e, Event::OutgoingAnswered { .. }))
    else {
        panic!("answered")
    };
    let ack = only_request(&mut ep);
    assert_eq!((ack.method.clone(), ack.core.cseq.seq), (Method::Ack, 1));
    assert_eq!(ack.core.to.tag(), Some("ph"));
    assert_ne!(
        ack.top_via().branch(),
        inv.top_via().branch(),
        "the 2xx ACK is a new transaction"
    );
    // A retransmitted 200 is ACKed again.
    reply(&mut ep, &clock, &inv, 200);
    assert_eq!(only_request(&mut ep).method, Method::Ack);
    ep.send_in_dialog(clock.now(), &dialog, Method::Bye)
        .expect("dialog exists");
    let bye = only_request(&mut ep);
    assert_eq!(
        (bye.method, bye.core.cseq.seq, bye.core.to.tag()),
        (Method::Bye, 2, Some("ph"))
    );
}

#[test]
fn cancel_of_a_ringing_invite_ends_in_487() {
    let clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let tx = ep.invite(clock.now(), call());
    let inv = only_request(&mut ep);
    reply(&mut ep, &clock, &inv, 180);
    ep.cancel(clock.now(), tx);
    let cancel = only_request(&mut ep);
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(
        cancel.top_via().branch(),
        inv.top_via().branch(),
        "RFC 3261 §9.1"
    );
    assert_eq!(
        (cancel.core.cseq.seq, cancel.core.call_id.clone()),
        (1, inv.core.call_id.clone())
    );
    let ok = ResponseBuilder::new(&cancel, 200).to_tag("ph").build();
    ep.handle_datagram(clock.now(), &ok.to_bytes(), Peer::udp(addr(PHONE)));
    reply(&mut ep, &clock, &inv, 487);
    assert!(events(&mut ep)
        .iter()
        .any(|e| matches!(e, Event::OutgoingFailed { tx: t, status: 487, .. } if *t == tx)));
    let ack = only_request(&mut ep);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(
        ack.top_via().branch(),
        inv.top_via().branch(),
        "the error ACK stays in the transaction"
    );
}

#[test]
fn an_unanswered_invite_times_out_with_408() {
    let mut clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let tx = ep.invite(clock.now(), call());
    let mut failed = false;
    for _ in 0..40 {
        clock.advance(Duration::from_secs(1));
        ep.handle_timeout(clock.now());
        let _ = sent(&mut ep);
        failed |= events(&mut ep)
            .iter()
            .any(|e| matches!(e, Event::OutgoingFailed { tx: t, status: 408, .. } if *t == tx));
    }
    assert!(failed, "Timer B");
}
