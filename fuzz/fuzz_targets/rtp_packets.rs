#![no_main]
//! RTP and RFC 4733 handling on arbitrary datagrams from arbitrary sources over time: no
//! panic; the media never moves to an address whose IP is neither the leg's SIP source
//! nor its signalled one, never moves twice in a window, and never after it; the counters
//! only grow. (RTCP is not parsed: the engine neither reads nor sends it.)

use libfuzzer_sys::fuzz_target;
use sb_media::dtmf::{Event, Rfc4733Receiver};
use sb_media::rtp::LEARN_WINDOW;
use sb_media::RtpSession;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

const SOURCES: [&str; 4] = ["10.0.0.5:4000", "198.51.100.7:61000", "198.51.100.7:61002", "203.0.113.9:5004"];

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let signalled: SocketAddr = SOURCES[0].parse().expect("addr");
    let sip: IpAddr = "198.51.100.7".parse().expect("ip");
    let mut s = RtpSession::new(t0, 1, Some(signalled)).with_sip_source(sip);
    let mut events = Rfc4733Receiver::default();
    let (mut now, mut moves, mut last_dropped) = (t0, 0, 0);
    let mut rest = data;
    while rest.len() >= 3 {
        let (head, tail) = rest.split_at(3);
        let len = (head[2] as usize).min(tail.len());
        let (pkt, tail) = tail.split_at(len);
        rest = tail;
        now += Duration::from_millis(u64::from(head[0] & 0x3f));
        let from: SocketAddr = SOURCES[usize::from(head[1] % 4)].parse().expect("addr");
        let before = s.remote();
        if let Ok(p) = s.on_packet(now, from, pkt) {
            if p.payload_type == 101 {
                let _ = events.on_packet(p.timestamp, p.payload);
                let _ = Event::parse(p.payload);
            }
        }
        let after = s.remote();
        if after != before {
            moves += 1;
            let ip = after.map(|a| a.ip());
            assert!(ip == Some(sip) || ip == Some(signalled.ip()), "moved to a stranger: {after:?}");
            assert!(now < t0 + LEARN_WINDOW, "moved after the window");
            assert_eq!(moves, 1, "moved twice in one window");
        }
        assert!(s.strangers_dropped >= last_dropped);
        last_dropped = s.strangers_dropped;
    }
});
