//! The endpoint's answers: the RFC 4475/5118 verdicts that belong above the parser, 481 for
//! unknown dialogs, CANCEL, and the authentication gate for everything but REGISTER/OPTIONS.

mod common;

use common::*;
use sb_sim::Clock;
use sb_sip::{Event, Peer};
use std::path::PathBuf;

fn torture(rel: &str) -> Vec<u8> {
    let dir = std::env::var_os("SB_TORTURE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sip-torture")
        });
    std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Sends one torture file and returns the status of the answer, if any; then checks the
/// endpoint still answers a plain OPTIONS.
fn verdict(rel: &str) -> Option<u16> {
    let clock = Clock::new();
    let mut ep = endpoint(clock.now());
    ep.handle_datagram(clock.now(), &torture(rel), Peer::udp(addr(PHONE)));
    // A 400 echoes the broken headers it answers, so read only the status line.
    let status = std::iter::from_fn(|| ep.poll_transmit())
        .filter_map(|(_, b)| {
            let line = String::from_utf8_lossy(&b).lines().next()?.to_string();
            line.strip_prefix("SIP/2.0 ")?.get(..3)?.parse::<u16>().ok()
        })
        .find(|s| *s >= 200);
    let ok = ask(
        &mut ep,
        clock.now(),
        &options(&format!("after-{rel}"), "after"),
    );
    assert_eq!(ok.status, 200, "{rel}: still answers OPTIONS");
    status
}

#[test]
fn rfc4475_verdicts_at_the_endpoint() {
    let expect: &[(&str, &[u16])] = &[
        // §3.1.2 invalid requests.
        ("badinv01", &[400]),
        ("clerr", &[400]),
        ("ncl", &[400]),
        ("scalar02", &[400]),
        ("quotbal", &[400]),
        ("ltgtruri", &[400]),
        ("lwsruri", &[400]),
        ("lwsstart", &[400]),
        ("trws", &[400]),
        ("escruri", &[400]),
        ("regbadct", &[400]),
        ("badaspec", &[400]),
        ("baddn", &[400]),
        ("badvers", &[505]),
        ("mismatch01", &[400]),
        ("mismatch02", &[400, 501]),
        // §3.2 and §3.3.
        ("badbranch", &[200, 400]),
        ("insuf", &[400]),
        ("unkscm", &[416]),
        ("novelsc", &[416]),
        ("unksm2", &[400]),
        ("bext01", &[420]),
        ("invut", &[415]),
        ("regaut01", &[401]),
        ("multi01", &[400]),
        ("mcl01", &[400]),
        ("zeromf", &[200]),
        ("cparam01", &[401]),
        ("cparam02", &[401]),
        ("regescrt", &[401]),
        ("sdp01", &[406, 488, 400]),
        // §3.4: accepted, then challenged like any INVITE from an unknown source.
        ("inv2543", &[401]),
        // §3.1.1 valid ones get a real answer.
        ("intmeth", &[501]),
        ("esc02", &[501]),
        ("lwsdisp", &[200]),
        ("semiuri", &[200]),
        ("transports", &[200]),
        ("esc01", &[401]),
        ("escnull", &[401]),
        ("longreq", &[401]),
        ("dblreq", &[401]),
        ("mpart01", &[405]),
        ("wsinv", &[481]),
        ("baddate", &[401]),
    ];
    for (name, allowed) in expect {
        let got = verdict(&format!("rfc4475/{name}.dat"));
        assert!(
            got.is_some_and(|s| allowed.contains(&s)),
            "{name}: got {got:?}, want {allowed:?}"
        );
    }
    for name in [
        "scalarlg", "bigcode", "unreason", "noreason", "bcast", "test",
    ] {
        assert_eq!(
            verdict(&format!("rfc4475/{name}.dat")),
            None,
            "{name}: no answer"
        );
    }
    let regaut = torture("rfc4475/regaut01.dat");
    let clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let r = ask(&mut ep, clock.now(), &regaut);
    assert!(
        r.headers
            .get("WWW-Authenticate")
            .is_some_and(|c| c.contains("nonce=")),
        "fresh challenge"
    );
    let bext = ask(
        &mut endpoint(clock.now()),
        clock.now(),
        &torture("rfc4475/bext01.dat"),
    );
    assert_eq!(
        bext.headers.get("Unsupported"),
        Some("nothingSupportsThis, nothingSupportsThisEither")
    );
}

#[test]
fn rfc5118_verdicts_at_the_endpoint() {
    assert_eq!(verdict("rfc5118/ipv6-bad"), Some(400));
    for name in ["ipv6-good", "port-ambiguous", "port-unambiguous"] {
        assert_eq!(
            verdict(&format!("rfc5118/{name}")),
            Some(401),
            "{name}: REGISTER is challenged"
        );
    }
    for name in [
        "ipv6-bug-abnf-3-colons",
        "ipv6-correct-abnf-2-colons",
        "via-received-param-no-delim",
    ] {
        assert_eq!(verdict(&format!("rfc5118/{name}")), Some(200), "{name}");
    }
    for name in ["mult-ip-in-header", "via-received-param-with-delim"] {
        assert_eq!(
            verdict(&format!("rfc5118/{name}")),
            Some(481),
            "{name}: BYE outside a dialog"
        );
    }
    for name in ["ipv4-mapped-ipv6", "ipv6-in-sdp", "mult-ip-in-sdp"] {
        assert_eq!(
            verdict(&format!("rfc5118/{name}")),
            Some(401),
            "{name}: INVITE is challenged"
        );
    }
}

fn in_dialog(method: &str, to_tag: &str, cseq: u32) -> Vec<u8> {
    req(&format!(
        "{method} sip:8000@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK{method}{cseq}\nFrom: <sip:caller@127.0.0.1>;tag=ct\nTo: <sip:8000@127.0.0.1>;tag={to_tag}\nCall-ID: dlg-1\nCSeq: {cseq} {method}\nContact: <sip:caller@127.0.0.1:6001>\nMax-Forwards: 70\nContent-Length: 0\n\n"
    ))
}

#[test]
fn unknown_dialogs_get_481_for_every_method() {
    let clock = Clock::new();
    let mut ep = endpoint(clock.now());
    for m in [
        "BYE", "INVITE", "UPDATE", "INFO", "OPTIONS", "REFER", "NOTIFY",
    ] {
        assert_eq!(
            ask(&mut ep, clock.now(), &in_dialog(m, "nosuch", 5)).status,
            481,
            "{m}"
        );
    }
    // An ACK outside any dialog is dropped silently.
    ep.handle_datagram(
        clock.now(),
        &in_dialog("ACK", "nosuch", 5),
        Peer::udp(addr(PHONE)),
    );
    assert!(responses(&mut ep).is_empty());
}

fn authed_invite(ep: &mut sb_sip::Endpoint, clock: &Clock) -> (sb_sip::transaction::TxId, String) {
    let invite = |auth: Option<&str>, cseq: u32| {
        let auth = auth
            .map(|a| format!("Authorization: {a}\n"))
            .unwrap_or_default();
        req(&format!(
            "INVITE sip:2001@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKinv{cseq}\nFrom: <sip:1001@127.0.0.1>;tag=ct\nTo: <sip:2001@127.0.0.1>\nCall-ID: dlg-1\nCSeq: {cseq} INVITE\nContact: <sip:1001@127.0.0.1:6001>\nMax-Forwards: 70\n{auth}Content-Length: 0\n\n"
        ))
    };
    let r = ask(ep, clock.now(), &invite(None, 1));
    assert_eq!(
        r.status, 401,
        "INVITE from an unknown source needs authentication"
    );
    let ch = r
        .headers
        .get("WWW-Authenticate")
        .expect("challenge")
        .to_string();
    let auth = authorization(&ch, "1001", "demo-1001", "INVITE", "sip:2001@127.0.0.1", 1);
    ep.handle_datagram(clock.now(), &invite(Some(&auth), 2), Peer::udp(addr(PHONE)));
    let evs = events(ep);
    let tx = evs
        .iter()
        .find_map(|e| match e {
            Event::Request { tx, origin, .. } if origin.extension() == Some("1001") => Some(*tx),
            _ => None,
        })
        .expect("the authenticated INVITE goes up to the TU");
    (tx, ch)
}

#[test]
fn cancel_ends_a_pending_invite_with_487() {
    let clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let (tx, _) = authed_invite(&mut ep, &clock);
    ep.respond(clock.now(), tx, 180, |b| b);
    assert_eq!(responses(&mut ep)[0].status, 180);
    let cancel = req("CANCEL sip:2001@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKinv2\nFrom: <sip:1001@127.0.0.1>;tag=ct\nTo: <sip:2001@127.0.0.1>\nCall-ID: dlg-1\nCSeq: 2 CANCEL\nMax-Forwards: 70\nContent-Length: 0\n\n");
    ep.handle_datagram(clock.now(), &cancel, Peer::udp(addr(PHONE)));
    let mut got: Vec<(u16, String)> = responses(&mut ep)
        .iter()
        .map(|r| (r.status, r.core.cseq.method.to_string()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [(200, "CANCEL".to_string()), (487, "INVITE".to_string())]
    );
    assert!(events(&mut ep)
        .iter()
        .any(|e| matches!(e, Event::Cancelled { tx: t } if *t == tx)));
    // A CANCEL for nothing gets 481.
    let stray = String::from_utf8(cancel)
        .expect("utf8")
        .replace("z9hG4bKinv2", "z9hG4bKzzz");
    assert_eq!(ask(&mut ep, clock.now(), stray.as_bytes()).status, 481);
}

#[test]
fn in_dialog_requests_reach_the_dialog_and_bye_ends_it() {
    let clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let (tx, _) = authed_invite(&mut ep, &clock);
    let dialog = ep
        .create_uas_dialog(tx, Peer::udp(addr(PHONE)))
        .expect("dialog from the INVITE");
    ep.respond(clock.now(), tx, 200, |b| b);
    let ok = responses(&mut ep).remove(0);
    let tag = ok.core.to.tag().expect("to tag").to_string();
    assert_eq!(tag, dialog.local_tag);
    let indlg = |m: &str, cseq: u32| {
        String::from_utf8(in_dialog(m, &tag, cseq))
            .expect("utf8")
            .replace("sip:caller@", "sip:1001@")
            .replace("sip:8000@", "sip:2001@")
    };
    // OPTIONS inside the dialog is answered by the endpoint; INFO goes to the TU.
    assert_eq!(
        ask(&mut ep, clock.now(), indlg("OPTIONS", 3).as_bytes()).status,
        200
    );
    ep.handle_datagram(
        clock.now(),
        indlg("INFO", 4).as_bytes(),
        Peer::udp(addr(PHONE)),
    );
    assert!(events(&mut ep)
        .iter()
        .any(|e| matches!(e, Event::DialogRequest { tx: Some(_), .. })));
    // A lower CSeq is out of order (RFC 3261 §12.2.2).
    assert_eq!(
        ask(&mut ep, clock.now(), indlg("UPDATE", 3).as_bytes()).status,
        500
    );
    assert_eq!(
        ask(&mut ep, clock.now(), indlg("BYE", 6).as_bytes()).status,
        200
    );
    assert!(ep.dialogs().is_empty());
    assert_eq!(
        ask(&mut ep, clock.now(), indlg("BYE", 7).as_bytes()).status,
        481
    );
}

#[test]
fn only_register_and_options_pass_without_credentials() {
    let clock = Clock::new();
    let mut ep = endpoint(clock.now());
    for m in ["INVITE", "INFO", "UPDATE", "REFER", "NOTIFY"] {
        let r = String::from_utf8(options("gate", m))
            .expect("utf8")
            .replace("OPTIONS", m);
        assert_eq!(ask(&mut ep, clock.now(), r.as_bytes()).status, 401, "{m}");
    }
    let msg = String::from_utf8(options("gate", "MSG"))
        .expect("utf8")
        .replace("OPTIONS", "MESSAGE");
    assert_eq!(ask(&mut ep, clock.now(), msg.as_bytes()).status, 405);
    assert!(events(&mut ep)
        .iter()
        .all(|e| !matches!(e, Event::Request { .. })));
}

#[test]
fn a_2xx_to_invite_is_retransmitted_until_the_ack() {
    let mut clock = sb_sim::Clock::new();
    let start = clock.now();
    let mut ep = endpoint(clock.now());
    let (tx, _) = authed_invite(&mut ep, &clock);
    ep.create_uas_dialog(tx, Peer::udp(addr(PHONE)))
        .expect("dialog");
    ep.respond(clock.now(), tx, 200, |b| b);
    let ok = responses(&mut ep).remove(0);
    let tag = ok.core.to.tag().expect("to tag").to_string();
    let mut sends = Vec::new();
    while clock.now() - start < std::time::Duration::from_secs(4) {
        let next = ep.poll_timeout().expect("timer");
        clock.advance_to(next);
        ep.handle_timeout(clock.now());
        // (The unanswered 401 of the first, unauthenticated INVITE repeats too: Timer G.)
        for r in responses(&mut ep).into_iter().filter(|r| r.status == 200) {
            assert_eq!(r.core.to.tag(), Some(tag.as_str()));
            sends.push((clock.now() - start).as_millis());
        }
    }
    // RFC 3261 §13.3.1.4: T1, then doubling.
    assert_eq!(sends, [500, 1500, 3500]);
    let ack = String::from_utf8(in_dialog("ACK", &tag, 2))
        .expect("utf8")
        .replace("sip:caller@", "sip:1001@")
        .replace("sip:8000@", "sip:2001@");
    ep.handle_datagram(clock.now(), ack.as_bytes(), Peer::udp(addr(PHONE)));
    assert!(events(&mut ep)
        .iter()
        .any(|e| matches!(e, Event::DialogRequest { tx: None, .. })));
    for _ in 0..40 {
        clock.advance(std::time::Duration::from_secs(1));
        ep.handle_timeout(clock.now());
    }
    assert!(
        responses(&mut ep).iter().all(|r| r.status != 200),
        "the ACK stopped the retransmissions"
    );
    // (Timer H does fire for the unACKed 401 of the first INVITE, another transaction.)
    assert!(!events(&mut ep)
        .iter()
        .any(|e| matches!(e, Event::AckTimeout { tx: t } if *t == tx)));
}

#[test]
fn a_2xx_never_acked_is_given_up_after_64_t1() {
    let mut clock = sb_sim::Clock::new();
    let start = clock.now();
    let mut ep = endpoint(clock.now());
    let (tx, _) = authed_invite(&mut ep, &clock);
    ep.create_uas_dialog(tx, Peer::udp(addr(PHONE)))
        .expect("dialog");
    ep.respond(clock.now(), tx, 200, |b| b);
    let mut gave_up = None;
    while gave_up.is_none() && clock.now() - start < std::time::Duration::from_secs(40) {
        let next = ep.poll_timeout().expect("timer");
        clock.advance_to(next);
        ep.handle_timeout(clock.now());
        let _ = responses(&mut ep);
        if events(&mut ep)
            .iter()
            .any(|e| matches!(e, Event::AckTimeout { tx: t } if *t == tx))
        {
            gave_up = Some((clock.now() - start).as_millis());
        }
    }
    assert_eq!(gave_up, Some(32_000));
}
