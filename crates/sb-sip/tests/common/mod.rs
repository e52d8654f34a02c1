//! Shared helpers for the sans-IO tests of sb-sip.
#![allow(dead_code)]

use sb_sip::digest::{answer_challenge, Algorithm};
use sb_sip::{Endpoint, EndpointConfig, Event, Peer};
use sb_sip_msg::{parse_datagram, Message, Request, Response};
use std::net::SocketAddr;
use std::time::Instant;

pub(crate) const ENGINE: &str = "127.0.0.1:5060";
pub(crate) const PHONE: &str = "127.0.0.1:6001";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

pub(crate) fn endpoint(now: Instant) -> Endpoint {
    let mut cfg = EndpointConfig::new("switchboard", addr(ENGINE));
    for ext in 1001..=1006 {
        cfg.users.insert(ext.to_string(), format!("demo-{ext}"));
    }
    cfg.digest_algorithms = vec![Algorithm::Sha256, Algorithm::Md5];
    Endpoint::new(cfg, [42; 32], now)
}

pub(crate) fn req(text: &str) -> Vec<u8> {
    let t = text.replace("\r\n", "\n").replace('\n', "\r\n");
    t.into_bytes()
}

pub(crate) fn options(call_id: &str, branch: &str) -> Vec<u8> {
    req(&format!(
        "OPTIONS sip:8000@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK{branch};rport\nFrom: <sip:probe@127.0.0.1>;tag=p1\nTo: <sip:8000@127.0.0.1>\nCall-ID: {call_id}\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n"
    ))
}

pub(crate) fn register(
    user: &str,
    cseq: u32,
    branch: &str,
    auth: Option<&str>,
    expires: u32,
) -> Vec<u8> {
    let auth = auth
        .map(|a| format!("Authorization: {a}\n"))
        .unwrap_or_default();
    req(&format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK{branch};rport\nFrom: <sip:{user}@127.0.0.1>;tag=r{user}\nTo: <sip:{user}@127.0.0.1>\nCall-ID: reg-{user}\nCSeq: {cseq} REGISTER\nContact: <sip:{user}@127.0.0.1:6001>\nExpires: {expires}\nMax-Forwards: 70\n{auth}Content-Length: 0\n\n"
    ))
}

/// The Authorization value answering `challenge` (a WWW-Authenticate value).
pub(crate) fn authorization(
    challenge: &str,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    nc: u32,
) -> String {
    answer_challenge(challenge, user, password, method, uri, nc, "0a4f113b")
        .expect("a digest challenge")
}

/// Drains what the endpoint sent, parsed.
pub(crate) fn sent(ep: &mut Endpoint) -> Vec<(Peer, Message)> {
    let mut out = Vec::new();
    while let Some((peer, bytes)) = ep.poll_transmit() {
        let msg = parse_datagram(&bytes)
            .expect("we send valid SIP")
            .expect("not a keep-alive");
        out.push((peer, msg));
    }
    out
}

pub(crate) fn responses(ep: &mut Endpoint) -> Vec<Response> {
    sent(ep)
        .into_iter()
        .filter_map(|(_, m)| match m {
            Message::Response(r) => Some(r),
            Message::Request(_) => None,
        })
        .collect()
}

pub(crate) fn requests(ep: &mut Endpoint) -> Vec<(Peer, Request)> {
    sent(ep)
        .into_iter()
        .filter_map(|(p, m)| match m {
            Message::Request(r) => Some((p, r)),
            Message::Response(_) => None,
        })
        .collect()
}

pub(crate) fn events(ep: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

/// Sends `bytes` from the phone and returns the single response.
pub(crate) fn ask(ep: &mut Endpoint, now: Instant, bytes: &[u8]) -> Response {
    ep.handle_datagram(now, bytes, Peer::udp(addr(PHONE)));
    let mut r = responses(ep);
    assert_eq!(r.len(), 1, "exactly one response expected");
    r.remove(0)
}

/// A fresh MD5 challenge, fetched with a REGISTER from an address of its own (the
/// endpoint keeps nothing for it).
pub(crate) fn fresh_challenge(ep: &mut Endpoint, now: Instant) -> String {
    ep.handle_datagram(
        now,
        &register("1006", 1, "fetch", None, 600),
        Peer::udp(addr("127.0.0.9:6009")),
    );
    let r = responses(ep);
    let challenge = r[0]
        .headers
        .get_all("WWW-Authenticate")
        .find(|c| c.contains("algorithm=MD5"))
        .expect("an MD5 challenge")
        .to_string();
    challenge
}

/// The TU's view of the requests handed up: their transactions.
pub(crate) fn handed_up(ep: &mut Endpoint) -> Vec<sb_sip::transaction::TxId> {
    events(ep)
        .into_iter()
        .filter_map(|e| match e {
            Event::Request { tx, .. } => Some(tx),
            _ => None,
        })
        .collect()
}
