//! Receiver statistics (RFC 3550 §6.4.1, Appendix A.1, A.3 and A.8): packets received and
//! expected with sequence-number wrap, cumulative loss and interarrival jitter, for RTCP
//! receiver reports and the call record.

use std::time::Duration;

/// 8 kHz: the clock rate of every codec we carry.
const CLOCK_HZ: u64 = 8000;
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;

/// What a receiver measures of a stream (RFC 3550 §6.4.1, A.3, A.8).
#[derive(Debug, Clone, Default)]
pub struct ReceiverStats {
    started: bool,
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    bad_seq: Option<u16>,
    /// Packets received.
    pub received: u64,
    /// Packets received twice, or after later ones.
    pub duplicates_or_late: u64,
    last_transit: Option<i64>,
    /// Interarrival jitter in timestamp units, times 16 (RFC 3550 A.8 keeps it scaled).
    jitter_x16: u64,
}

impl ReceiverStats {
    /// A packet arrived at `arrival` (since the session began).
    pub fn on_packet(&mut self, seq: u16, timestamp: u32, arrival: Duration) {
        if !self.started {
            self.started = true;
            self.base_seq = seq as u32;
            self.max_seq = seq;
        } else {
            let delta = seq.wrapping_sub(self.max_seq);
            if delta == 0 {
                self.duplicates_or_late += 1;
                return;
            } else if delta < MAX_DROPOUT {
                if seq < self.max_seq {
                    self.cycles += 1 << 16;
                }
                self.max_seq = seq;
            } else if delta <= u16::MAX - MAX_MISORDER {
                // A big jump: accept only if the next packet confirms it (A.1).
                if self.bad_seq == Some(seq) {
                    *self = ReceiverStats {
                        started: true,
                        base_seq: seq as u32,
                        max_seq: seq,
                        ..ReceiverStats::default()
                    };
                } else {
                    self.bad_seq = Some(seq.wrapping_add(1));
                    return;
                }
            } else {
                self.duplicates_or_late += 1;
            }
        }
        self.received += 1;
        // A.8: transit = arrival (in timestamp units) - timestamp; J += (|D| - J) / 16.
        let arrival_ts = (arrival.as_micros() as u64 * CLOCK_HZ / 1_000_000) as i64;
        let transit = arrival_ts - timestamp as i64;
        if let Some(last) = self.last_transit {
            let d = (transit - last).unsigned_abs();
            // jitter_x16 += |D| - jitter_x16/16, kept in fixed point.
            self.jitter_x16 = self.jitter_x16 + d - ((self.jitter_x16 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// Packets expected, from the sequence numbers seen.
    pub fn expected(&self) -> u64 {
        if !self.started {
            return 0;
        }
        (self.cycles as u64 + self.max_seq as u64) + 1 - self.base_seq as u64
    }

    /// Packets lost: expected minus received, never negative (duplicates can exceed).
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    /// The fraction of the packets expected that never came.
    pub fn loss_fraction(&self) -> f64 {
        match self.expected() {
            0 => 0.0,
            e => self.lost() as f64 / e as f64,
        }
    }

    /// Interarrival jitter, in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        (self.jitter_x16 as f64 / 16.0) * 1000.0 / CLOCK_HZ as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_loss_across_wrap_and_measures_jitter() {
        let mut s = ReceiverStats::default();
        let mut seq: u16 = 65_500;
        for i in 0..200u32 {
            if i % 10 != 3 {
                s.on_packet(seq, i * 160, Duration::from_millis(20 * i as u64));
            }
            seq = seq.wrapping_add(1);
        }
        assert_eq!(s.expected(), 200);
        assert_eq!(s.lost(), 20);
        assert!(
            s.jitter_ms() < 0.01,
            "perfectly paced packets have no jitter"
        );
        // Every other packet 10 ms late: |D| is 10 ms each time, so the jitter settles at 10 ms.
        let mut j = ReceiverStats::default();
        for i in 0..500u32 {
            let wobble = if i % 2 == 0 { 0 } else { 10 };
            j.on_packet(
                i as u16,
                i * 160,
                Duration::from_millis(20 * i as u64 + wobble),
            );
        }
        assert!((j.jitter_ms() - 10.0).abs() < 1.0, "{}", j.jitter_ms());
        assert_eq!(j.lost(), 0);
    }
}
