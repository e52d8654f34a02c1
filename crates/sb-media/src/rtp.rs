//! One RTP session per call leg (RFC 3550): our SSRC, sequence numbers and timestamps that
//! stay continuous whatever feeds the leg (prompts, another leg), symmetric RTP with a guarded
//! learning window, and receiver statistics for the call record.
//!
//! The remote address is the signalled one (SDP `c=`/`m=`), and it is never given up for a
//! stranger while it keeps sending. A phone behind NAT sends from elsewhere, so during a
//! short learning window after the session starts (or after a re-INVITE) the media may move,
//! once, to a source that
//! - has the IP address the leg's SIP came from or the one its SDP named (a stranger
//!   elsewhere on the network never qualifies),
//! - sent `LEARN_PACKETS` consecutive packets with one SSRC and increasing sequence numbers,
//!   with no packet from the signalled address among them,
//! - at a talking phone's pace: the run spans at least `LEARN_SPAN`, so a burst fired at
//!   the moment of answer, before the phone's first packet, does not qualify;
//! - from another port of the signalled host itself (a port remap, not a NAT in front of a
//!   private address) only while the signalled address has not sent at all in the window,
//!   and over `SAME_HOST_SPAN`: a phone that has begun talking keeps its media.
//!
//! After the window, or once the media moved, nothing can move it again: a third party
//! spraying packets at our port (the "RTP Bleed" class of attack, Asterisk AST-2017-005)
//! is ignored and counted.

use crate::stats::ReceiverStats;
use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Packets in a row, with one SSRC and rising sequence numbers, before the media may move
/// to a new source.
pub const LEARN_PACKETS: u32 = 5;
/// How long after the media starts a move may be learned at all.
pub const LEARN_WINDOW: Duration = Duration::from_secs(2);
/// The least time from a candidate's first packet to its `LEARN_PACKETS`th: four frames
/// of a phone sending every 20 ms take 80 ms; this leaves room for jitter.
pub const LEARN_SPAN: Duration = Duration::from_millis(60);
/// The least span of a run from another port of the signalled address's own IP.
pub const SAME_HOST_SPAN: Duration = Duration::from_millis(400);

/// An accepted incoming packet, borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incoming<'a> {
    /// The payload type.
    pub payload_type: u8,
    /// The sequence number.
    pub seq: u16,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The sender's SSRC.
    pub ssrc: u32,
    /// The marker bit.
    pub marker: bool,
    /// The payload.
    pub payload: &'a [u8],
}

/// Why a packet was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// Not an RTP packet, or not RTP version 2.
    Malformed,
    /// From an address that is not the leg's peer.
    Stranger,
}

#[derive(Debug, Clone)]
struct Candidate {
    from: SocketAddr,
    ssrc: u32,
    count: u32,
    last_seq: u16,
    first_at: Instant,
}

/// One leg's RTP: who its peer is (and the rules for learning it), what arrived, what was sent.
#[derive(Debug)]
pub struct RtpSession {
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    remote: Option<SocketAddr>,
    learn_until: Instant,
    candidate: Option<Candidate>,
    /// The media moved away from the signalled address in this window: never again.
    moved: bool,
    /// The current remote address has sent in this window.
    remote_heard: bool,
    /// The IP the leg's SIP came from, which a NAT'd phone's media also comes from.
    sip_source: Option<std::net::IpAddr>,
    epoch: Instant,
    relay_offset: Option<u32>,
    /// What the receiver measured (RFC 3550 §6.4.1).
    pub stats: ReceiverStats,
    /// Packets refused from sources that are not the leg's peer.
    pub strangers_dropped: u64,
    /// Packets sent.
    pub sent_packets: u64,
    /// Payload octets sent.
    pub sent_octets: u64,
}

impl RtpSession {
    /// `seed` gives the SSRC and the random starts of sequence number and timestamp
    /// (RFC 3550 §5.1): the runtime passes random bits, tests a fixed value.
    pub fn new(now: Instant, seed: u64, remote: Option<SocketAddr>) -> RtpSession {
        RtpSession {
            ssrc: (seed >> 32) as u32,
            seq: (seed >> 16) as u16,
            timestamp: (seed as u32).wrapping_mul(0x9E37_79B9),
            remote,
            learn_until: now + LEARN_WINDOW,
            candidate: None,
            moved: false,
            remote_heard: false,
            sip_source: None,
            epoch: now,
            relay_offset: None,
            stats: ReceiverStats::default(),
            strangers_dropped: 0,
            sent_packets: 0,
            sent_octets: 0,
        }
    }

    /// The IP the leg's signalling came from: learning may move the media to a source at
    /// this IP or at the signalled one, never anywhere else.
    pub fn with_sip_source(mut self, ip: std::net::IpAddr) -> RtpSession {
        self.sip_source = Some(ip);
        self
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Where packets go now: the peer, once known.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// Whether the peer is settled: an address is known and the learning window is over, so
    /// from now on only that address is accepted. The runtime may then `connect` the leg's
    /// socket to it, which lets the kernel drop strangers and skip a route lookup per send.
    pub fn locked(&self, now: Instant) -> bool {
        self.remote.is_some() && now >= self.learn_until
    }

    /// A new signalled address (re-INVITE): adopted at once, and the learning window opens
    /// again for the NAT case.
    pub fn set_remote(&mut self, now: Instant, remote: Option<SocketAddr>) {
        self.remote = remote;
        self.learn_until = now + LEARN_WINDOW;
        self.candidate = None;
        self.moved = false;
        self.remote_heard = false;
    }

    /// Checks and accepts an incoming datagram.
    pub fn on_packet<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &'a [u8],
    ) -> Result<Incoming<'a>, Drop> {
        let r = RtpReader::new(bytes).map_err(|_| Drop::Malformed)?;
        if r.version() != 2 {
            return Err(Drop::Malformed);
        }
        let pkt = Incoming {
            payload_type: r.payload_type(),
            seq: u16::from(r.sequence_number()),
            timestamp: r.timestamp(),
            ssrc: r.ssrc(),
            marker: r.mark(),
            payload: r.payload(),
        };
        if Some(from) == self.remote {
            // The signalled (or learnt) address is sending: no run of a stranger's is
            // consecutive across it.
            self.candidate = None;
            self.remote_heard = true;
        } else if !self.learn(now, from, pkt.ssrc, pkt.seq) {
            self.strangers_dropped += 1;
            return Err(Drop::Stranger);
        }
        let arrival = now.saturating_duration_since(self.epoch);
        self.stats.on_packet(pkt.seq, pkt.timestamp, arrival);
        Ok(pkt)
    }

    /// Whether `from` may ever be learnt: the IP of the leg's SIP or of its SDP. With
    /// neither known (no signalling at all), any source may.
    fn plausible(&self, from: SocketAddr) -> bool {
        let known = [self.sip_source, self.remote.map(|r| r.ip())];
        known.iter().all(Option::is_none) || known.contains(&Some(from.ip()))
    }

    fn learn(&mut self, now: Instant, from: SocketAddr, ssrc: u32, seq: u16) -> bool {
        if now >= self.learn_until || self.moved || !self.plausible(from) {
            return false;
        }
        let c = match &mut self.candidate {
            Some(c)
                if c.from == from
                    && c.ssrc == ssrc
                    && (1..=MAX_SEQ_STEP).contains(&seq.wrapping_sub(c.last_seq)) =>
            {
                c.last_seq = seq;
                c
            }
            slot => slot.insert(Candidate {
                from,
                ssrc,
                count: 0,
                last_seq: seq,
                first_at: now,
            }),
        };
        c.count += 1;
        let same_host = self.remote.is_some_and(|r| r.ip() == from.ip());
        if same_host && self.remote_heard {
            return false;
        }
        let span = if same_host {
            SAME_HOST_SPAN
        } else {
            LEARN_SPAN
        };
        if c.count >= LEARN_PACKETS && now.saturating_duration_since(c.first_at) >= span {
            self.remote = Some(from);
            self.candidate = None;
            self.moved = true;
            return true;
        }
        false
    }

    /// Writes the next packet into `out` and returns its length. `samples` is how far the
    /// media clock moves for this packet (160 for 20 ms of 8 kHz audio). No allocation.
    pub fn write_packet(
        &mut self,
        out: &mut [u8],
        payload_type: u8,
        marker: bool,
        payload: &[u8],
        samples: u32,
    ) -> Option<usize> {
        let n = RtpPacketBuilder::new()
            .payload_type(payload_type)
            .marked(marker)
            .sequence(Seq::from(self.seq))
            .ssrc(self.ssrc)
            .timestamp(self.timestamp)
            .payload(payload)
            .build_into(out)
            .ok()?;
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(samples);
        self.sent_packets += 1;
        self.sent_octets += payload.len() as u64;
        Some(n)
    }

    /// Moves the media clock without sending (silence suppressed, a gap in the feed).
    pub fn skip(&mut self, samples: u32) {
        self.timestamp = self.timestamp.wrapping_add(samples);
    }

    /// Relays a packet from another leg: our SSRC and sequence number, and its timestamp
    /// re-based once so our media clock runs on without a jump (RFC 3550 §5.1). Events
    /// (RFC 4733) keep their shared start timestamp because the offset is constant.
    pub fn write_relayed(
        &mut self,
        out: &mut [u8],
        payload_type: u8,
        marker: bool,
        in_ts: u32,
        payload: &[u8],
    ) -> Option<usize> {
        let offset = *self
            .relay_offset
            .get_or_insert(self.timestamp.wrapping_sub(in_ts));
        let ts = in_ts.wrapping_add(offset);
        let n = RtpPacketBuilder::new()
            .payload_type(payload_type)
            .marked(marker)
            .sequence(Seq::from(self.seq))
            .ssrc(self.ssrc)
            .timestamp(ts)
            .payload(payload)
            .build_into(out)
            .ok()?;
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = ts.wrapping_add(FRAME_SAMPLES);
        self.sent_packets += 1;
        self.sent_octets += payload.len() as u64;
        Some(n)
    }

    /// The relay stopped (the call left the bridge): the next relay re-bases again.
    pub fn end_relay(&mut self) {
        self.relay_offset = None;
    }
}

const FRAME_SAMPLES: u32 = 160;

/// The most a candidate's sequence number may advance between two of its packets (a few
/// lost on the way) and still count as consecutive.
const MAX_SEQ_STEP: u16 = 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    fn packet(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        RtpPacketBuilder::new()
            .payload_type(0)
            .sequence(Seq::from(seq))
            .timestamp(ts)
            .ssrc(ssrc)
            .payload(&[0xFF; 160])
            .build()
            .expect("valid")
    }

    #[test]
    fn sequence_and_timestamp_stay_continuous() {
        let now = sb_sim::Clock::new().now();
        let mut s = RtpSession::new(now, 0x1122_3344_5566_7788, Some(addr("192.0.2.1:4000")));
        let mut buf = [0u8; 1500];
        let mut last: Option<(u16, u32)> = None;
        for i in 0..100 {
            let n = s
                .write_packet(&mut buf, 0, i == 0, &[0xFF; 160], 160)
                .expect("fits");
            let r = RtpReader::new(&buf[..n]).expect("parses");
            assert_eq!(r.ssrc(), s.ssrc());
            if let Some((seq, ts)) = last {
                assert_eq!(u16::from(r.sequence_number()), seq.wrapping_add(1));
                assert_eq!(r.timestamp(), ts.wrapping_add(160));
            }
            last = Some((u16::from(r.sequence_number()), r.timestamp()));
        }
    }

    #[test]
    fn a_stranger_cannot_take_the_media_over() {
        let t0 = sb_sim::Clock::new().now();
        let phone = addr("192.0.2.1:4000");
        let mut s = RtpSession::new(t0, 1, Some(phone));
        assert!(s.on_packet(t0, phone, &packet(1, 160, 7)).is_ok());
        // Mid-call (after the learning window), a third party sends a burst.
        let later = t0 + Duration::from_secs(10);
        for i in 0..50 {
            assert_eq!(
                s.on_packet(
                    later,
                    addr("203.0.113.9:5555"),
                    &packet(i, i as u32 * 160, 99)
                ),
                Err(Drop::Stranger)
            );
        }
        assert_eq!(s.remote(), Some(phone));
        assert!(s.locked(later));
        assert_eq!(s.strangers_dropped, 50);
        assert!(s.on_packet(later, phone, &packet(2, 320, 7)).is_ok());
    }

    /// Sends `n` packets from `from` every 20 ms from `at` with SSRC `ssrc`, sequence
    /// numbers from `seq`; returns which were accepted.
    fn run(
        s: &mut RtpSession,
        at: Instant,
        from: SocketAddr,
        ssrc: u32,
        seq: u16,
        n: u16,
    ) -> Vec<bool> {
        (0..n)
            .map(|i| {
                let t = at + Duration::from_millis(20 * u64::from(i));
                s.on_packet(t, from, &packet(seq.wrapping_add(i), 0, ssrc))
                    .is_ok()
            })
            .collect()
    }

    #[test]
    fn nat_source_is_learned_only_early_from_the_sip_address_and_only_after_a_paced_run() {
        let t0 = sb_sim::Clock::new().now();
        let signalled = addr("10.0.0.5:4000");
        let natted = addr("198.51.100.7:61000");
        let sip_ip = natted.ip();
        let mut s = RtpSession::new(t0, 1, Some(signalled)).with_sip_source(sip_ip);
        assert!(!s.locked(t0), "still learning");
        // Interleaved sources never reach the count.
        for i in 0..12u16 {
            let from = if i % 2 == 0 {
                natted
            } else {
                addr("198.51.100.7:5555")
            };
            assert!(s.on_packet(t0, from, &packet(i, 0, 7)).is_err());
        }
        // A burst all at once is not a phone talking.
        assert!(run(&mut s, t0, natted, 7, 20, 1).iter().all(|ok| !ok));
        for i in 0..10u16 {
            assert!(s.on_packet(t0, natted, &packet(21 + i, 0, 7)).is_err());
        }
        // Sequence numbers that go backwards break the run.
        let t1 = t0 + Duration::from_millis(100);
        let back: Vec<bool> = (0..8u16)
            .map(|i| {
                let t = t1 + Duration::from_millis(20 * u64::from(i));
                s.on_packet(t, natted, &packet(100 - i, 0, 7)).is_ok()
            })
            .collect();
        assert!(back.iter().all(|ok| !ok));
        // A paced run with one SSRC and rising sequence numbers is adopted at its fifth.
        let got = run(&mut s, t0 + Duration::from_millis(400), natted, 7, 200, 6);
        assert_eq!(got, [false, false, false, false, true, true]);
        assert_eq!(s.remote(), Some(natted));
        assert!(s.locked(t0 + LEARN_WINDOW));
        // A re-INVITE moves the media and opens the window again.
        s.set_remote(t0 + LEARN_WINDOW, Some(signalled));
        assert!(!s.locked(t0 + LEARN_WINDOW));
    }

    #[test]
    fn the_signalled_address_keeps_the_media_while_it_sends() {
        let t0 = sb_sim::Clock::new().now();
        let phone = addr("127.0.0.1:4000");
        // A stranger on the same host (same IP as the SIP and the SDP), another port.
        let stranger = addr("127.0.0.1:4100");
        let mut s = RtpSession::new(t0, 1, Some(phone)).with_sip_source(phone.ip());
        for i in 0..90u16 {
            let t = t0 + Duration::from_millis(20 * u64::from(i));
            // The stranger sprays three paced packets for each of the phone's.
            for k in 0..3u16 {
                let p = packet(1000 + 3 * i + k, 0, 99);
                assert!(s
                    .on_packet(t + Duration::from_millis(5 * u64::from(k)), stranger, &p)
                    .is_err());
            }
            assert!(s
                .on_packet(t + Duration::from_millis(16), phone, &packet(i, 0, 7))
                .is_ok());
        }
        assert_eq!(s.remote(), Some(phone));
        assert_eq!(s.strangers_dropped, 270);
    }

    #[test]
    fn another_port_of_the_signalled_host_needs_a_long_run_and_a_silent_phone() {
        let t0 = sb_sim::Clock::new().now();
        let phone = addr("127.0.0.1:4000");
        let other = addr("127.0.0.1:4100");
        // Before the phone's first packet: a paced run of 60 ms is not enough...
        let mut s = RtpSession::new(t0, 1, Some(phone)).with_sip_source(phone.ip());
        assert!(run(&mut s, t0, other, 9, 1, 10).iter().all(|ok| !ok));
        // ...and once the phone has been heard, no run is.
        assert!(s
            .on_packet(t0 + Duration::from_millis(200), phone, &packet(1, 0, 7))
            .is_ok());
        let t = t0 + Duration::from_millis(210);
        assert!(run(&mut s, t, other, 9, 20, 80).iter().all(|ok| !ok));
        assert_eq!(s.remote(), Some(phone));
        // A port remap (the phone never sends from its signalled port) is followed after
        // 400 ms of paced packets.
        let mut s = RtpSession::new(t0, 1, Some(phone)).with_sip_source(phone.ip());
        let got = run(&mut s, t0, other, 9, 1, 25);
        assert_eq!(got.iter().position(|ok| *ok), Some(20));
        assert_eq!(s.remote(), Some(other));
    }

    #[test]
    fn a_stranger_at_another_ip_is_never_learnt_and_the_media_never_moves_back() {
        let t0 = sb_sim::Clock::new().now();
        let signalled = addr("10.0.0.5:4000");
        let natted = addr("198.51.100.7:61000");
        let mut s = RtpSession::new(t0, 1, Some(signalled)).with_sip_source(natted.ip());
        // The signalled phone is silent (NAT), but the stranger is at another IP.
        assert!(run(&mut s, t0, addr("203.0.113.9:5555"), 9, 1, 40)
            .iter()
            .all(|ok| !ok));
        assert_eq!(s.remote(), Some(signalled));
        // The NAT'd phone is learnt...
        assert!(run(&mut s, t0 + Duration::from_millis(900), natted, 7, 1, 5)[4]);
        // ...and then neither the signalled address nor another port at the SIP IP can
        // take the media back within the same window.
        let t = t0 + Duration::from_millis(1100);
        assert!(run(&mut s, t, signalled, 8, 1, 10).iter().all(|ok| !ok));
        assert!(run(&mut s, t, addr("198.51.100.7:61002"), 8, 1, 10)
            .iter()
            .all(|ok| !ok));
        assert_eq!(s.remote(), Some(natted));
    }

    #[test]
    fn garbage_is_refused() {
        let t0 = sb_sim::Clock::new().now();
        let mut s = RtpSession::new(t0, 1, None);
        assert_eq!(
            s.on_packet(t0, addr("192.0.2.1:4000"), &[1, 2, 3]),
            Err(Drop::Malformed)
        );
        let mut v1 = packet(1, 1, 1);
        v1[0] = (v1[0] & 0x3F) | 0x40;
        assert_eq!(
            s.on_packet(t0, addr("192.0.2.1:4000"), &v1),
            Err(Drop::Malformed)
        );
    }
}
