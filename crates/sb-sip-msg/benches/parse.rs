//! How many SIP messages per second one core parses and validates: a mix of the messages a
//! registrar and a call centre see most (REGISTER with credentials, INVITE with SDP, 200 OK,
//! OPTIONS), plus the valid RFC 4475 torture messages of testdata/.
//! Prints the median of several rounds. Run: `cargo bench -p sb-sip-msg --bench parse`.
#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark: it measures real time"
)]

use sb_sip_msg::{parse_datagram, Message};
use std::time::Instant;

const REGISTER: &str = "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1-2;rport\r\nFrom: <sip:1001@127.0.0.1:5060>;tag=1234SIPpTag001\r\nTo: <sip:1001@127.0.0.1:5060>\r\nCall-ID: 1-1234@127.0.0.1\r\nCSeq: 2 REGISTER\r\nContact: <sip:1001@127.0.0.1:5061;transport=UDP>\r\nExpires: 300\r\nAuthorization: Digest username=\"1001\",realm=\"switchboard\",cnonce=\"6b8b4567\",nc=00000001,qop=auth,uri=\"sip:127.0.0.1:5060\",nonce=\"6553f1a2.1f.0c3b5e2a7d9f11aa22bb33cc\",response=\"4d2a5c3a1d2b9e8f7a6b5c4d3e2f1a0b\",algorithm=MD5\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

const INVITE: &str = "INVITE sip:8000@hospital.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\nMax-Forwards: 70\r\nTo: <sip:8000@hospital.example>\r\nFrom: \"Caller\" <sip:13800000000@carrier.example>;tag=1928301774\r\nCall-ID: a84b4c76e66710@pc33.carrier.example\r\nCSeq: 314159 INVITE\r\nContact: <sip:13800000000@192.0.2.10:5060>\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE\r\nSupported: timer\r\nSession-Expires: 1800;refresher=uac\r\nContent-Type: application/sdp\r\nContent-Length: 142\r\n\r\nv=0\r\no=- 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";

const OK: &str = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1-2;rport=5061;received=127.0.0.1\r\nFrom: <sip:1001@127.0.0.1:5060>;tag=1234SIPpTag001\r\nTo: <sip:1001@127.0.0.1:5060>;tag=8f3c2a1b0d9e7f6a\r\nCall-ID: 1-1234@127.0.0.1\r\nCSeq: 2 REGISTER\r\nServer: Switchboard/0.1.0\r\nContact: <sip:1001@127.0.0.1:5061;transport=UDP>;expires=300\r\nContent-Length: 0\r\n\r\n";

const OPTIONS: &str = "OPTIONS sip:8000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKprobe;rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:8000@127.0.0.1>\r\nCall-ID: probe-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

fn corpus() -> Vec<Vec<u8>> {
    let mut msgs: Vec<Vec<u8>> = [REGISTER, INVITE, OK, OPTIONS]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sip-torture/rfc4475");
    for name in [
        "wsinv",
        "intmeth",
        "esc01",
        "lwsdisp",
        "longreq",
        "semiuri",
        "transports",
        "unreason",
    ] {
        if let Ok(b) = std::fs::read(dir.join(format!("{name}.dat"))) {
            msgs.push(b);
        }
    }
    msgs
}

fn round(msgs: &[Vec<u8>], reps: usize) -> (f64, usize) {
    let start = Instant::now();
    let mut ok = 0;
    for _ in 0..reps {
        for m in msgs {
            if let Ok(Some(msg)) = parse_datagram(m) {
                ok += matches!(msg, Message::Request(_) | Message::Response(_)) as usize;
            }
        }
    }
    let n = reps * msgs.len();
    (n as f64 / start.elapsed().as_secs_f64(), ok)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mix = corpus();
    let common: Vec<Vec<u8>> = mix[..4].to_vec();
    println!("SIP parse + validate, one core, median of 7 rounds");
    for (name, msgs, reps) in [
        ("registrar/call mix (4 messages)", &common, 50_000),
        ("mix + RFC 4475 valid torture", &mix, 10_000),
    ] {
        let _ = round(msgs, reps / 10);
        let mut rates = Vec::new();
        for _ in 0..7 {
            let (rate, ok) = round(msgs, reps);
            assert_eq!(ok, reps * msgs.len(), "every benchmark message parses");
            rates.push(rate);
        }
        let bytes: usize = msgs.iter().map(Vec::len).sum();
        println!(
            "  {name:34} {:>10.0} msg/s  (avg {} bytes/msg)",
            median(rates),
            bytes / msgs.len()
        );
    }
}
