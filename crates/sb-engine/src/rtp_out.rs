//! Outgoing RTP of one engine turn, packed back to back in one byte buffer that is reused
//! turn after turn: no allocation, and each packet is written once, in place, and read once
//! by the runtime that sends it. The buffer is not cleared between packets or turns (that
//! was a 332-byte memset per packet): a writer gets earlier packets' bytes and must write
//! every byte it counts.

use std::net::SocketAddr;

/// The largest packet the engine writes: a header and 40 ms of G.711.
pub const RTP_MAX: usize = 12 + 2 * sb_media::prompt::FRAME;

/// One outgoing packet, borrowed from the queue.
#[derive(Debug, Clone, Copy)]
pub struct RtpOut<'a> {
    /// Our port: the leg's socket.
    pub port: u16,
    /// The phone it goes to.
    pub to: SocketAddr,
    /// The leg's peer is settled (`RtpSession::locked`): only `to` may send to `port`.
    pub locked: bool,
    /// The whole packet.
    pub bytes: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
struct Head {
    port: u16,
    to: SocketAddr,
    locked: bool,
    end: usize,
}

/// The RTP packets of one engine turn, written in place (see the module's documentation).
#[derive(Debug, Default)]
pub struct RtpQueue {
    heads: Vec<Head>,
    /// Grows to the longest turn's size and stays there; `used` bytes of it are this
    /// turn's packets.
    bytes: Vec<u8>,
    used: usize,
}

impl RtpQueue {
    /// Appends the packet `write` puts into a buffer of `RTP_MAX` bytes and measures
    /// (`None`: it wrote nothing).
    pub fn push(
        &mut self,
        port: u16,
        to: SocketAddr,
        locked: bool,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) {
        let start = self.used;
        if self.bytes.len() < start + RTP_MAX {
            self.bytes.resize(start + RTP_MAX, 0);
        }
        if let Some(n) = write(&mut self.bytes[start..start + RTP_MAX]).filter(|&n| n <= RTP_MAX) {
            self.used = start + n;
            self.heads.push(Head {
                port,
                to,
                locked,
                end: start + n,
            });
        }
    }

    /// Whether no packet waits.
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// Hands every packet to `each` in order and empties the queue.
    pub fn drain(&mut self, mut each: impl FnMut(RtpOut<'_>)) {
        let mut start = 0;
        for h in &self.heads {
            each(RtpOut {
                port: h.port,
                to: h.to,
                locked: h.locked,
                bytes: &self.bytes[start..h.end],
            });
            start = h.end;
        }
        self.heads.clear();
        self.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_come_out_whole_and_in_order() {
        let to: SocketAddr = "192.0.2.1:4000".parse().expect("addr");
        let mut q = RtpQueue::default();
        q.push(20000, to, false, |b| {
            b[..3].copy_from_slice(b"abc");
            Some(3)
        });
        q.push(20002, to, true, |_| None);
        q.push(20004, to, true, |b| {
            b.fill(7);
            Some(RTP_MAX)
        });
        let mut seen = Vec::new();
        q.drain(|p| seen.push((p.port, p.locked, p.bytes.to_vec())));
        assert_eq!(
            seen,
            vec![
                (20000, false, b"abc".to_vec()),
                (20004, true, vec![7; RTP_MAX])
            ]
        );
        assert!(q.is_empty());
        let mut again = 0;
        q.drain(|_| again += 1);
        assert_eq!(again, 0);
        // The next turn reuses the buffer: only what each writer counted comes out.
        q.push(20006, to, false, |b| {
            b[..2].copy_from_slice(b"xy");
            Some(2)
        });
        q.push(20008, to, false, |b| {
            assert_eq!(
                b.len(),
                RTP_MAX,
                "a whole packet's room, wherever it starts"
            );
            b[0] = b'z';
            Some(1)
        });
        let mut seen = Vec::new();
        q.drain(|p| seen.push((p.port, p.bytes.to_vec())));
        assert_eq!(seen, vec![(20006, b"xy".to_vec()), (20008, b"z".to_vec())]);
    }
}
