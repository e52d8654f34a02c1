//! The registrar and digest authentication through the sans-IO endpoint.

mod common;

use common::*;
use sb_sim::Clock;
use sb_sip::{Event, Peer, SecurityKind};
use std::time::Duration;

fn challenge_of(r: &sb_sip_msg::Response, algorithm: &str) -> String {
    r.headers
        .get_all("WWW-Authenticate")
        .find(|c| c.contains(&format!("algorithm={algorithm}")))
        .unwrap_or_else(|| panic!("no {algorithm} challenge"))
        .to_string()
}

#[test]
fn register_through_the_challenge_with_md5_and_sha256() {
    let mut clock = Clock::new();
    let mut ep = endpoint(clock.now());
    for (user, alg) in [("1001", "MD5"), ("1002", "SHA-256")] {
        let r = ask(
            &mut ep,
            clock.now(),
            &register(user, 1, &format!("a{user}"), None, 600),
        );
        assert_eq!(r.status, 401);
        let auth = authorization(
            &challenge_of(&r, alg),
            user,
            &format!("demo-{user}"),
            "REGISTER",
            "sip:127.0.0.1",
            1,
        );
        let ok = ask(
            &mut ep,
            clock.now(),
            &register(user, 2, &format!("b{user}"), Some(&auth), 600),
        );
        assert_eq!(ok.status, 200, "{alg}");
        let contact = ok.headers.get("Contact").expect("bindings listed");
        assert!(
            contact.contains(&format!("sip:{user}@127.0.0.1:6001"))
                && contact.contains("expires=600")
        );
        assert_eq!(ep.location().lookup(user, clock.now()).len(), 1);
    }
    assert!(events(&mut ep)
        .iter()
        .any(|e| matches!(e, Event::Registered { user, .. } if user == "1002")));
    // SHA-256 is offered first (RFC 8760 §2.4).
    let r = ask(&mut ep, clock.now(), &register("1003", 1, "c1", None, 600));
    let first = r.headers.get("WWW-Authenticate").expect("challenge");
    assert!(first.contains("algorithm=SHA-256") && first.contains("qop=\"auth\""));
    clock.advance(Duration::from_secs(1));
}

#[test]
fn wrong_password_and_unknown_user_get_the_same_answer_and_no_binding() {
    let clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let r = ask(&mut ep, clock.now(), &register("1001", 1, "w1", None, 600));
    let ch = challenge_of(&r, "MD5");
    let wrong = authorization(
        &ch,
        "1001",
        "not-the-password",
        "REGISTER",
        "sip:127.0.0.1",
        1,
    );
    let bad = ask(
        &mut ep,
        clock.now(),
        &register("1001", 2, "w2", Some(&wrong), 600),
    );
    let unknown = authorization(&ch, "1999", "demo-1999", "REGISTER", "sip:127.0.0.1", 1);
    let r2 = ask(
        &mut ep,
        clock.now(),
        &register("1999", 1, "w3", Some(&unknown), 600),
    );
    assert_eq!((bad.status, r2.status), (401, 401));
    let shape = |r: &sb_sip_msg::Response| {
        let mut names: Vec<String> = r.headers.0.iter().map(|h| h.name.to_string()).collect();
        names.sort();
        (r.status, r.reason.clone(), names)
    };
    assert_eq!(shape(&bad), shape(&r2), "no extension enumeration");
    assert!(ep.location().lookup("1001", clock.now()).is_empty());
    let security: Vec<_> = events(&mut ep)
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                Event::Security {
                    kind: SecurityKind::AuthFailed { .. },
                    ..
                }
            )
        })
        .collect();
    assert_eq!(security.len(), 2);
}

#[test]
fn stale_nonce_is_rechallenged_with_stale_true_and_replayed_nc_is_refused() {
    let mut clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let r = ask(&mut ep, clock.now(), &register("1004", 1, "s1", None, 600));
    let ch = challenge_of(&r, "MD5");
    let a1 = authorization(&ch, "1004", "demo-1004", "REGISTER", "sip:127.0.0.1", 1);
    assert_eq!(
        ask(
            &mut ep,
            clock.now(),
            &register("1004", 2, "s2", Some(&a1), 600)
        )
        .status,
        200
    );
    // The same nonce count again, in a new transaction: a replay.
    let replay = ask(
        &mut ep,
        clock.now(),
        &register("1004", 3, "s3", Some(&a1), 600),
    );
    assert_eq!(replay.status, 401);
    assert!(!replay
        .headers
        .get("WWW-Authenticate")
        .unwrap_or_default()
        .contains("stale=true"));
    let a2 = authorization(&ch, "1004", "demo-1004", "REGISTER", "sip:127.0.0.1", 2);
    assert_eq!(
        ask(
            &mut ep,
            clock.now(),
            &register("1004", 4, "s4", Some(&a2), 600)
        )
        .status,
        200
    );
    // Past the nonce lifetime the same credentials are stale.
    clock.advance(Duration::from_secs(121));
    ep.handle_timeout(clock.now());
    let a3 = authorization(&ch, "1004", "demo-1004", "REGISTER", "sip:127.0.0.1", 3);
    let stale = ask(
        &mut ep,
        clock.now(),
        &register("1004", 5, "s5", Some(&a3), 600),
    );
    assert_eq!(stale.status, 401);
    assert!(stale
        .headers
        .get("WWW-Authenticate")
        .expect("challenge")
        .contains("stale=true"));
}

#[test]
fn several_contacts_expiry_unregister_and_wildcard() {
    let mut clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let r = ask(&mut ep, clock.now(), &register("1005", 1, "m1", None, 600));
    let ch = challenge_of(&r, "SHA-256");
    let mut nc = 0;
    let mut auth = || {
        nc += 1;
        authorization(&ch, "1005", "demo-1005", "REGISTER", "sip:127.0.0.1", nc)
    };
    let second = String::from_utf8(register("1005", 2, "m2", Some(&auth()), 120))
        .expect("utf8")
        .replace(
            "Contact: <sip:1005@127.0.0.1:6001>",
            "Contact: <sip:1005@127.0.0.1:6001>, <sip:1005@127.0.0.1:6002>;expires=60",
        );
    let ok = ask(&mut ep, clock.now(), second.as_bytes());
    assert_eq!(ok.status, 200);
    assert_eq!(ok.headers.count("Contact"), 2);
    assert_eq!(ep.location().lookup("1005", clock.now()).len(), 2);
    // Too brief an expiry gets 423 with Min-Expires.
    let brief = ask(
        &mut ep,
        clock.now(),
        &register("1005", 3, "m3", Some(&auth()), 10),
    );
    assert_eq!(
        (brief.status, brief.headers.get("Min-Expires")),
        (423, Some("60"))
    );
    // The 60 s contact expires; the 120 s one stays.
    clock.advance(Duration::from_secs(61));
    ep.handle_timeout(clock.now());
    assert_eq!(ep.location().lookup("1005", clock.now()).len(), 1);
    // Expires: 0 removes a binding.
    let gone = ask(
        &mut ep,
        clock.now(),
        &register("1005", 4, "m4", Some(&auth()), 0),
    );
    assert_eq!(gone.status, 200);
    assert!(ep.location().lookup("1005", clock.now()).is_empty());
    // A wildcard needs Expires: 0.
    let again = ask(
        &mut ep,
        clock.now(),
        &register("1005", 5, "m5", Some(&auth()), 300),
    );
    assert_eq!(again.status, 200);
    let star = String::from_utf8(register("1005", 6, "m6", Some(&auth()), 0))
        .expect("utf8")
        .replace("Contact: <sip:1005@127.0.0.1:6001>", "Contact: *");
    assert_eq!(ask(&mut ep, clock.now(), star.as_bytes()).status, 200);
    assert!(ep.location().lookup("1005", clock.now()).is_empty());
    let star_bad = star
        .replace("Expires: 0", "Expires: 30")
        .replace("CSeq: 6", "CSeq: 7")
        .replace("z9hG4bKm6", "z9hG4bKm7");
    assert_eq!(ask(&mut ep, clock.now(), star_bad.as_bytes()).status, 400);
}

#[test]
fn credentials_for_another_extension_are_forbidden() {
    let clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let r = ask(&mut ep, clock.now(), &register("1001", 1, "f1", None, 600));
    let auth = authorization(
        &challenge_of(&r, "MD5"),
        "1002",
        "demo-1002",
        "REGISTER",
        "sip:127.0.0.1",
        1,
    );
    assert_eq!(
        ask(
            &mut ep,
            clock.now(),
            &register("1001", 2, "f2", Some(&auth), 600)
        )
        .status,
        403
    );
}

/// A REGISTER for `user` from `from` (a phone behind the same NAT address as others).
fn register_from(
    ep: &mut sb_sip::Endpoint,
    now: std::time::Instant,
    from: &str,
    user: &str,
    password: &str,
    tag: &str,
) -> Vec<sb_sip_msg::Response> {
    // Each registration of a user goes on in its Call-ID's CSeq order.
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let seq = SEQ.fetch_add(2, std::sync::atomic::Ordering::Relaxed);
    ep.handle_datagram(
        now,
        &register(user, seq, &format!("{tag}a"), None, 600),
        Peer::udp(addr(from)),
    );
    let r = responses(ep);
    let Some(challenge) = r.first() else {
        return r;
    };
    let auth = authorization(
        &challenge_of(challenge, "MD5"),
        user,
        password,
        "REGISTER",
        "sip:127.0.0.1",
        1,
    );
    ep.handle_datagram(
        now,
        &register(user, seq + 1, &format!("{tag}b"), Some(&auth), 600),
        Peer::udp(addr(from)),
    );
    responses(ep)
}

fn security(ep: &mut sb_sip::Endpoint) -> Vec<SecurityKind> {
    events(ep)
        .into_iter()
        .filter_map(|e| match e {
            Event::Security { kind, .. } => Some(kind),
            _ => None,
        })
        .collect()
}

#[test]
fn a_phone_failing_from_an_address_does_not_stop_its_neighbours() {
    let clock = Clock::new();
    let mut ep = endpoint(clock.now());
    // 1002 works from the hospital's NAT address.
    let ok = register_from(&mut ep, clock.now(), PHONE, "1002", "demo-1002", "n0");
    assert_eq!(ok[0].status, 200);
    // 1001 behind the same address has the wrong password: five failures throttle it.
    for i in 1..=5 {
        let r = register_from(
            &mut ep,
            clock.now(),
            PHONE,
            "1001",
            "guess",
            &format!("g{i}"),
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].status, 401);
    }
    let evs = security(&mut ep);
    assert!(evs.iter().any(
        |k| matches!(k, SecurityKind::UserThrottled { user, failures: 5, .. } if user == "1001")
    ));
    assert!(evs
        .iter()
        .any(|k| matches!(k, SecurityKind::AuthFailed { user, .. } if user == "1001")));
    assert!(evs
        .iter()
        .any(|k| matches!(k, SecurityKind::ChallengeSent { user, .. } if user == "1002")));
    assert!(evs
        .iter()
        .any(|k| matches!(k, SecurityKind::Authenticated { user } if user == "1002")));
    assert!(!evs.iter().any(|k| matches!(k, SecurityKind::Banned { .. })));
    // 1001 is now ignored from that address, even with its right password...
    assert!(register_from(&mut ep, clock.now(), PHONE, "1001", "demo-1001", "g6").is_empty());
    // ...while its neighbours register: one that already had, and one that never did.
    for (user, tag) in [("1002", "n1"), ("1003", "n2")] {
        let r = register_from(
            &mut ep,
            clock.now(),
            PHONE,
            user,
            &format!("demo-{user}"),
            tag,
        );
        assert_eq!(r.last().map(|r| r.status), Some(200), "{user}");
    }
    // ...and call: 1002's INVITE from the same address goes up to the engine.
    let invite = |auth: &str| {
        req(&format!(
            "INVITE sip:8000@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bKnb{}\nFrom: <sip:1002@127.0.0.1>;tag=nb\nTo: <sip:8000@127.0.0.1>\nCall-ID: neighbour-call\nCSeq: {} INVITE\nContact: <sip:1002@127.0.0.1:6001>\nMax-Forwards: 70\n{auth}Content-Length: 0\n\n",
            auth.len(),
            1 + auth.len().min(1)
        ))
    };
    let r = ask(&mut ep, clock.now(), &invite(""));
    assert_eq!(r.status, 401);
    let auth = authorization(
        &challenge_of(&r, "MD5"),
        "1002",
        "demo-1002",
        "INVITE",
        "sip:8000@127.0.0.1",
        1,
    );
    ep.handle_datagram(
        clock.now(),
        &invite(&format!("Authorization: {auth}\n")),
        Peer::udp(addr(PHONE)),
    );
    assert!(events(&mut ep)
        .iter()
        .any(|e| matches!(e, Event::Request { origin, .. } if origin.extension() == Some("1002"))));
}

#[test]
fn an_address_ban_spares_phones_that_authenticated_from_it() {
    let clock = Clock::new();
    let mut ep = endpoint(clock.now());
    assert_eq!(
        register_from(&mut ep, clock.now(), PHONE, "1002", "demo-1002", "k0")[0].status,
        200
    );
    // A scan across a hundred made-up users from the same address.
    for i in 0..100 {
        register_from(
            &mut ep,
            clock.now(),
            PHONE,
            &format!("7{i:03}"),
            "guess",
            &format!("s{i}"),
        );
    }
    assert!(security(&mut ep)
        .iter()
        .any(|k| matches!(k, SecurityKind::Banned { failures: 100, .. })));
    // Strangers from that address are ignored now, OPTIONS included...
    assert!(register_from(&mut ep, clock.now(), PHONE, "1004", "demo-1004", "k1").is_empty());
    ep.handle_datagram(
        clock.now(),
        &options("banned", "banned"),
        Peer::udp(addr(PHONE)),
    );
    assert!(responses(&mut ep).is_empty());
    // ...the phone that authenticated there keeps working...
    let r = register_from(&mut ep, clock.now(), PHONE, "1002", "demo-1002", "k2");
    assert_eq!(r.last().map(|r| r.status), Some(200));
    // ...and another address is served.
    ep.handle_datagram(
        clock.now(),
        &options("other", "other"),
        Peer::udp(addr("127.0.0.2:6001")),
    );
    assert_eq!(responses(&mut ep).len(), 1);
}

#[test]
fn a_digest_uri_that_is_not_the_request_uri_gets_400() {
    let clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let r = ask(&mut ep, clock.now(), &register("1001", 1, "u0", None, 600));
    // Right password, but computed for another resource.
    let auth = authorization(
        &challenge_of(&r, "MD5"),
        "1001",
        "demo-1001",
        "REGISTER",
        "sip:10.9.9.9",
        1,
    );
    let r = ask(
        &mut ep,
        clock.now(),
        &register("1001", 2, "u1", Some(&auth), 600),
    );
    assert_eq!(r.status, 400);
    assert!(ep.location().lookup("1001", clock.now()).is_empty());
    assert!(security(&mut ep)
        .iter()
        .any(|k| matches!(k, SecurityKind::AuthFailed { reason, .. } if reason.contains("uri"))));
    // An equivalent spelling of the Request-URI is the same resource.
    let r = ask(&mut ep, clock.now(), &register("1001", 3, "u2", None, 600));
    let auth = authorization(
        &challenge_of(&r, "MD5"),
        "1001",
        "demo-1001",
        "REGISTER",
        "sip:127.0.0.1;x=1",
        1,
    );
    let r = ask(
        &mut ep,
        clock.now(),
        &register("1001", 4, "u3", Some(&auth), 600),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn unauthenticated_requests_are_challenged_without_a_transaction() {
    let mut clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let invite = |i: u32| {
        req(&format!(
            "INVITE sip:8000@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKf{i}\nFrom: <sip:{i}@192.0.2.9>;tag=f{i}\nTo: <sip:8000@127.0.0.1>\nCall-ID: flood-{i}\nCSeq: 1 INVITE\nContact: <sip:{i}@192.0.2.9>\nMax-Forwards: 70\nContent-Length: 0\n\n"
        ))
    };
    let src = Peer::udp(addr("192.0.2.9:5060"));
    for i in 0..1000 {
        ep.handle_datagram(clock.now(), &invite(i), src);
        // A retransmission of the same INVITE gets the same kind of answer, once.
        if i % 10 == 0 {
            ep.handle_datagram(clock.now(), &invite(i), src);
        }
    }
    let r = responses(&mut ep);
    assert_eq!(r.len(), 1100, "one response per request received");
    assert!(r.iter().all(|r| r.status == 401));
    assert_eq!(ep.layer().live_transactions(), (0, 0), "no state kept");
    // Nothing is retransmitted later either.
    for _ in 0..40 {
        clock.advance(Duration::from_secs(1));
        ep.handle_timeout(clock.now());
    }
    assert!(responses(&mut ep).is_empty());
    // The ACK of a 401 that no transaction remembers is absorbed silently.
    ep.handle_datagram(
        clock.now(),
        &req("ACK sip:8000@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKf1\nFrom: <sip:1@192.0.2.9>;tag=f1\nTo: <sip:8000@127.0.0.1>;tag=x\nCall-ID: flood-1\nCSeq: 1 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n"),
        src,
    );
    assert!(responses(&mut ep).is_empty());
}

#[test]
fn qualify_marks_a_silent_phone_unreachable_and_a_live_one_reachable() {
    let mut clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let r = ask(&mut ep, clock.now(), &register("1006", 1, "q1", None, 3600));
    let auth = authorization(
        &challenge_of(&r, "MD5"),
        "1006",
        "demo-1006",
        "REGISTER",
        "sip:127.0.0.1",
        1,
    );
    assert_eq!(
        ask(
            &mut ep,
            clock.now(),
            &register("1006", 2, "q2", Some(&auth), 3600)
        )
        .status,
        200
    );
    events(&mut ep);
    // The first qualify goes out after the interval, to the flow the phone registered from.
    clock.advance(Duration::from_secs(30));
    ep.handle_timeout(clock.now());
    let sent = requests(&mut ep);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, Peer::udp(addr(PHONE)));
    assert_eq!(sent[0].1.method, sb_sip_msg::Method::Options);
    // The phone stays silent: after Timer F it is unreachable and no longer offered.
    for _ in 0..40 {
        clock.advance(Duration::from_secs(1));
        ep.handle_timeout(clock.now());
        let _ = requests(&mut ep);
    }
    assert!(events(&mut ep).iter().any(|e| matches!(
        e,
        Event::Reachability {
            reachable: false,
            ..
        }
    )));
    assert!(ep.location().lookup("1006", clock.now()).is_empty());
    // The next qualify is answered, even with an error status: reachable again.
    let mut answered = false;
    for _ in 0..40 {
        clock.advance(Duration::from_secs(1));
        ep.handle_timeout(clock.now());
        for (_, q) in requests(&mut ep) {
            let resp = sb_sip_msg::ResponseBuilder::new(&q, 405)
                .to_tag("ph")
                .build();
            ep.handle_datagram(clock.now(), &resp.to_bytes(), Peer::udp(addr(PHONE)));
            answered = true;
        }
    }
    assert!(answered);
    assert!(events(&mut ep).iter().any(|e| matches!(
        e,
        Event::Reachability {
            reachable: true,
            ..
        }
    )));
    assert_eq!(ep.location().lookup("1006", clock.now()).len(), 1);
}

#[test]
fn register_without_contact_queries_the_bindings() {
    let clock = Clock::new();
    let mut ep = endpoint(clock.now());
    let r = ask(&mut ep, clock.now(), &register("1003", 1, "y1", None, 600));
    let ch = challenge_of(&r, "MD5");
    let a1 = authorization(&ch, "1003", "demo-1003", "REGISTER", "sip:127.0.0.1", 1);
    assert_eq!(
        ask(
            &mut ep,
            clock.now(),
            &register("1003", 2, "y2", Some(&a1), 600)
        )
        .status,
        200
    );
    let a2 = authorization(&ch, "1003", "demo-1003", "REGISTER", "sip:127.0.0.1", 2);
    let query = String::from_utf8(register("1003", 3, "y3", Some(&a2), 600))
        .expect("utf8")
        .replace("Contact: <sip:1003@127.0.0.1:6001>\r\n", "")
        .replace("Expires: 600\r\n", "");
    let q = ask(&mut ep, clock.now(), query.as_bytes());
    assert_eq!(q.status, 200);
    assert!(q
        .headers
        .get("Contact")
        .is_some_and(|c| c.contains("sip:1003@127.0.0.1:6001")));
    assert_eq!(
        ep.location().lookup("1003", clock.now()).len(),
        1,
        "a query changes nothing"
    );
}
