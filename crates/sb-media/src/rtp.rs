//! One RTP session per call leg (RFC 3550): our SSRC, sequence numbers and timestamps that
//! stay continuous whatever feeds the leg (prompts, another leg), symmetric RTP with a guarded
//! learning window, and receiver statistics for the call record.
//!
//! The remote address is the signalled one (SDP `c=`/`m=`). A phone behind NAT sends from
//! elsewhere, so during a short learning window after the session starts (or after a
//! re-INVITE), a new source is adopted once it has sent `LEARN_PACKETS` consecutive packets
//! with one SSRC. After the window nothing can move the media: a third party spraying
//! packets at our port mid-call (the "RTP Bleed" class of attack) is ignored.

use crate::stats::ReceiverStats;
use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub const LEARN_PACKETS: u32 = 3;
pub const LEARN_WINDOW: Duration = Duration::from_secs(2);

/// An accepted incoming packet, borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incoming<'a> {
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub marker: bool,
    pub payload: &'a [u8],
}

/// Why a packet was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    Malformed,
    /// From an address that is not the leg's peer.
    Stranger,
}

#[derive(Debug, Clone)]
struct Candidate {
    from: SocketAddr,
    ssrc: u32,
    count: u32,
}

#[derive(Debug)]
pub struct RtpSession {
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    remote: Option<SocketAddr>,
    learn_until: Instant,
    candidate: Option<Candidate>,
    epoch: Instant,
    relay_offset: Option<u32>,
    pub stats: ReceiverStats,
    pub strangers_dropped: u64,
    pub sent_packets: u64,
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
            epoch: now,
            relay_offset: None,
            stats: ReceiverStats::default(),
            strangers_dropped: 0,
            sent_packets: 0,
            sent_octets: 0,
        }
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

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
        if Some(from) != self.remote && !self.learn(now, from, pkt.ssrc) {
            self.strangers_dropped += 1;
            return Err(Drop::Stranger);
        }
        let arrival = now.saturating_duration_since(self.epoch);
        self.stats.on_packet(pkt.seq, pkt.timestamp, arrival);
        Ok(pkt)
    }

    fn learn(&mut self, now: Instant, from: SocketAddr, ssrc: u32) -> bool {
        if now >= self.learn_until {
            return false;
        }
        let c = match &mut self.candidate {
            Some(c) if c.from == from && c.ssrc == ssrc => c,
            slot => slot.insert(Candidate {
                from,
                ssrc,
                count: 0,
            }),
        };
        c.count += 1;
        if c.count >= LEARN_PACKETS {
            self.remote = Some(from);
            self.candidate = None;
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

    #[test]
    fn nat_source_is_learned_only_early_and_only_after_consecutive_packets() {
        let t0 = sb_sim::Clock::new().now();
        let signalled = addr("10.0.0.5:4000");
        let natted = addr("198.51.100.7:61000");
        let mut s = RtpSession::new(t0, 1, Some(signalled));
        assert!(!s.locked(t0), "still learning");
        // Interleaved sources never reach the count.
        for i in 0..6u16 {
            let from = if i % 2 == 0 {
                natted
            } else {
                addr("203.0.113.9:5555")
            };
            assert!(s.on_packet(t0, from, &packet(i, 0, 7)).is_err());
        }
        for i in 0..LEARN_PACKETS as u16 {
            let p = packet(10 + i, 0, 7);
            let r = s.on_packet(t0 + Duration::from_millis(20 * i as u64), natted, &p);
            assert_eq!(r.is_ok(), i + 1 == LEARN_PACKETS as u16);
        }
        assert_eq!(s.remote(), Some(natted));
        assert!(s.locked(t0 + LEARN_WINDOW));
        // A re-INVITE moves the media and opens the window again.
        s.set_remote(t0 + LEARN_WINDOW, Some(signalled));
        assert!(!s.locked(t0 + LEARN_WINDOW));
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
