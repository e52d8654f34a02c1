#![no_main]
//! The SIP parser on arbitrary bytes: no panic, and whatever parses prints and re-parses to
//! the same message. The stream framer and the typed header parsers get the same bytes.

use libfuzzer_sys::fuzz_target;
use sb_sip_msg::extras::{parse_min_se, parse_p_asserted_identity, parse_rseq, RAck, Reason, Replaces, SessionExpires};
use sb_sip_msg::{parse_datagram, AuthParams, Framing, Message, StreamFramer};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(m)) = parse_datagram(data) {
        let printed = m.to_bytes();
        let again = Message::parse(&printed, true).expect("a printed message re-parses");
        assert_eq!(again, m, "round trip");
        let headers = match &m {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        };
        for h in &headers.0 {
            let v = h.value.as_str();
            let _ = (SessionExpires::parse(v), parse_min_se(v), parse_rseq(v), RAck::parse(v));
            let _ = (Replaces::parse(v), Reason::parse_list(v), parse_p_asserted_identity(v));
            let _ = AuthParams::parse(v);
        }
    } else if let Err(rej) = parse_datagram(data) {
        let _ = rej.response_bytes("t");
    }
    // The same bytes as a stream cut at an arbitrary point.
    let mut f = StreamFramer::default();
    let cut = data.first().map(|b| *b as usize % (data.len() + 1)).unwrap_or(0);
    f.push(&data[..cut]);
    drain(&mut f);
    f.push(&data[cut..]);
    drain(&mut f);
});

fn drain(f: &mut StreamFramer) {
    loop {
        match f.next_message() {
            Ok(Some(Framing::Message(bytes))) => {
                let _ = Message::parse_framed(&bytes);
            }
            Ok(Some(Framing::Ping)) => {}
            Ok(None) | Err(_) => break,
        }
    }
}
