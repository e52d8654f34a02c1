//! The RFC 4475 and RFC 5118 torture messages, read from `testdata/sip-torture`,
//! get the parser verdict its ORIGIN.md gives. The verdicts that belong to the layers
//! above the parser (416, 420, 415, 401...) are checked in sb-sip's endpoint tests.

use sb_sip_msg::{parse_datagram, Message};
use std::path::PathBuf;

fn torture_dir() -> PathBuf {
    match std::env::var_os("SB_TORTURE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sip-torture"),
    }
}

fn read(rel: &str) -> Vec<u8> {
    let p = torture_dir().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn must_parse(rel: &str) -> Message {
    match parse_datagram(&read(rel)) {
        Ok(Some(m)) => m,
        other => panic!("{rel} must parse, got {other:?}"),
    }
}

fn must_reject(rel: &str, is_request: bool, statuses: &[u16]) {
    match parse_datagram(&read(rel)) {
        Err(r) => {
            assert_eq!(r.is_request, is_request, "{rel}: request/response");
            if is_request {
                assert!(
                    statuses.contains(&r.status),
                    "{rel}: status {} ({})",
                    r.status,
                    r.error
                );
                assert!(
                    r.response_bytes("t").is_some(),
                    "{rel}: a rejected request gets an answer"
                );
            }
        }
        Ok(m) => panic!("{rel} must be rejected, parsed as {m:?}"),
    }
}

const VALID: &[&str] = &[
    "wsinv",
    "intmeth",
    "esc01",
    "escnull",
    "esc02",
    "lwsdisp",
    "longreq",
    "dblreq",
    "semiuri",
    "transports",
    "mpart01",
    "unreason",
    "noreason",
];

#[test]
fn rfc4475_valid_messages_parse_and_round_trip() {
    for name in VALID {
        let m = must_parse(&format!("rfc4475/{name}.dat"));
        let printed = m.to_bytes();
        let again = Message::parse(&printed, true).unwrap_or_else(|e| {
            panic!(
                "{name}: printed form does not re-parse: {e}\n{}",
                String::from_utf8_lossy(&printed)
            )
        });
        assert_eq!(again, m, "{name}: round trip");
    }
}

#[test]
fn rfc4475_specific_values() {
    let Message::Request(wsinv) = must_parse("rfc4475/wsinv.dat") else {
        panic!("request")
    };
    assert_eq!(wsinv.core.max_forwards, Some(68));
    assert_eq!(wsinv.core.cseq.seq, 9);
    assert_eq!(wsinv.core.via.len(), 3);
    assert_eq!(wsinv.core.to.tag(), Some("1918181833n"));
    assert_eq!(wsinv.body.len(), 150);
    let Message::Request(esc02) = must_parse("rfc4475/esc02.dat") else {
        panic!("request")
    };
    assert_eq!(esc02.method.as_str(), "RE%47IST%45R");
    // The escaped header name is a different, unknown header (RFC 4475 §3.1.1.6).
    assert_eq!(esc02.headers.count("Contact"), 2);
    let Message::Request(dbl) = must_parse("rfc4475/dblreq.dat") else {
        panic!("request")
    };
    assert!(
        dbl.body.is_empty(),
        "bytes after Content-Length on a datagram are ignored"
    );
    let Message::Request(longreq) = must_parse("rfc4475/longreq.dat") else {
        panic!("request")
    };
    assert!(longreq.core.via.len() > 20);
    let Message::Response(noreason) = must_parse("rfc4475/noreason.dat") else {
        panic!("response")
    };
    assert_eq!((noreason.status, noreason.reason.as_str()), (100, ""));
    let Message::Request(mpart) = must_parse("rfc4475/mpart01.dat") else {
        panic!("request")
    };
    assert!(
        std::str::from_utf8(&mpart.body).is_err(),
        "binary body kept as bytes"
    );
}

#[test]
fn rfc4475_invalid_requests_are_rejected_with_400() {
    for name in [
        "badinv01",
        "clerr",
        "ncl",
        "scalar02",
        "quotbal",
        "ltgtruri",
        "lwsruri",
        "lwsstart",
        "trws",
        "escruri",
        "badaspec",
        "baddn",
        "mismatch01",
        "mismatch02",
        "insuf",
        "multi01",
        "mcl01",
    ] {
        must_reject(&format!("rfc4475/{name}.dat"), true, &[400]);
    }
    must_reject("rfc4475/badvers.dat", true, &[505]);
}

#[test]
fn rfc4475_invalid_responses_are_dropped() {
    for name in ["scalarlg", "bigcode"] {
        must_reject(&format!("rfc4475/{name}.dat"), false, &[]);
    }
}

#[test]
fn rfc4475_application_layer_messages_parse() {
    for name in [
        "badbranch",
        "unkscm",
        "novelsc",
        "unksm2",
        "bext01",
        "invut",
        "regaut01",
        "bcast",
        "zeromf",
        "cparam01",
        "cparam02",
        "regescrt",
        "sdp01",
        "inv2543",
        "baddate",
        "regbadct",
    ] {
        must_parse(&format!("rfc4475/{name}.dat"));
    }
    let Message::Request(inv) = must_parse("rfc4475/inv2543.dat") else {
        panic!("request")
    };
    assert!(inv.core.from.tag().is_none() && inv.core.max_forwards.is_none());
    assert!(inv.core.via[0].branch().is_none());
}

#[test]
fn rfc4475_test_dat_is_malformed() {
    assert!(parse_datagram(&read("rfc4475/test.dat")).is_err());
}

#[test]
fn every_rfc4475_file_has_a_verdict() {
    let mut n = 0;
    for e in std::fs::read_dir(torture_dir().join("rfc4475")).expect("torture dir") {
        let bytes = std::fs::read(e.expect("entry").path()).expect("read");
        // Whatever the verdict, parsing returns (no panic) and its result prints.
        if let Ok(Some(m)) = parse_datagram(&bytes) {
            let _ = m.to_bytes();
        }
        n += 1;
    }
    assert_eq!(n, 50);
}

#[test]
fn rfc5118_ipv6_messages() {
    let mut n = 0;
    for e in std::fs::read_dir(torture_dir().join("rfc5118")).expect("rfc5118 dir") {
        let path = e.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        n += 1;
        if name == "ipv6-bad" {
            must_reject(&format!("rfc5118/{name}"), true, &[400]);
            continue;
        }
        let m = must_parse(&format!("rfc5118/{name}"));
        let again = Message::parse(&m.to_bytes(), true).expect("re-parse");
        assert_eq!(again, m, "{name}: round trip");
    }
    assert_eq!(n, 12);
    let Message::Request(r) = must_parse("rfc5118/port-ambiguous") else {
        panic!("request")
    };
    let u = r.uri.as_sip().expect("sip uri");
    assert_eq!(
        (u.host.to_string().as_str(), u.port),
        ("[2001:db8::10:5070]", None)
    );
    let Message::Request(r) = must_parse("rfc5118/via-received-param-with-delim") else {
        panic!()
    };
    assert_eq!(r.core.via[0].received(), Some("[2001:db8::9:255]"));
}

/// rsip as a differential oracle: where it parses a torture message at all, it must agree
/// with our parser on the headers that key transactions.
#[test]
fn agrees_with_rsip_where_rsip_parses() {
    use rsip::prelude::*;
    let mut compared = 0;
    for sub in ["rfc4475", "rfc5118"] {
        for e in std::fs::read_dir(torture_dir().join(sub)).expect("dir") {
            let bytes = std::fs::read(e.expect("entry").path()).expect("read");
            let (Ok(theirs), Ok(Some(ours))) = (
                rsip::SipMessage::try_from(&bytes[..]),
                parse_datagram(&bytes),
            ) else {
                continue;
            };
            let core = ours.core();
            if let Ok(cid) = theirs.call_id_header() {
                assert_eq!(cid.value(), core.call_id);
            }
            if let Ok(Ok(seq)) = theirs.cseq_header().map(|c| c.seq()) {
                assert_eq!(seq, core.cseq.seq);
            }
            compared += 1;
        }
    }
    assert!(compared >= 20, "only {compared} messages compared");
}
