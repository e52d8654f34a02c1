#![no_main]
//! The SDP parser and the offer/answer logic on arbitrary bytes: no panic, whatever parses
//! prints and re-parses to the same description, and every answer we produce parses too.

use libfuzzer_sys::fuzz_target;
use sb_media::negotiate::{accept_answer, answer, Codec, LocalMedia};
use sb_media::SessionDescription;

fuzz_target!(|data: &[u8]| {
    let Ok(sd) = SessionDescription::parse(data) else { return };
    let again = SessionDescription::parse(&sd.to_bytes()).expect("printed SDP re-parses");
    assert_eq!(again, sd);
    let local = LocalMedia {
        addr: "127.0.0.1".parse().expect("ip"),
        port: 10_000,
        codecs: vec![Codec::Pcma, Codec::Pcmu],
        session_id: 1,
        session_version: 1,
    };
    if let Ok((ans, _)) = answer(&sd, &local) {
        let parsed = SessionDescription::parse(&ans.to_bytes()).expect("our answer parses");
        assert_eq!(parsed.media.len(), sd.media.len(), "one m-line per offered stream");
    }
    let _ = accept_answer(&sd, &sd);
});
