//! Outgoing RTP of one engine turn, packed back to back in one byte buffer that is reused
//! turn after turn: no allocation, and each packet is written once, in place, and read once
//! by the runtime that sends it.

use std::net::SocketAddr;

/// The largest packet the engine writes: a header and 40 ms of G.711.
pub const RTP_MAX: usize = 12 + 2 * crate::engine::FRAME;

/// One outgoing packet, borrowed from the queue.
#[derive(Debug, Clone, Copy)]
pub struct RtpOut<'a> {
    /// Our port: the leg's socket.
    pub port: u16,
    pub to: SocketAddr,
    /// The leg's peer is settled (`RtpSession::locked`): only `to` may send to `port`.
    pub locked: bool,
    pub bytes: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
struct Head {
    port: u16,
    to: SocketAddr,
    locked: bool,
    end: usize,
}

#[derive(Debug, Default)]
pub struct RtpQueue {
    heads: Vec<Head>,
    bytes: Vec<u8>,
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
        let start = self.bytes.len();
        self.bytes.resize(start + RTP_MAX, 0);
        match write(&mut self.bytes[start..]) {
            Some(n) if n <= RTP_MAX => {
                self.bytes.truncate(start + n);
                self.heads.push(Head {
                    port,
                    to,
                    locked,
                    end: start + n,
                });
            }
            _ => self.bytes.truncate(start),
        }
    }

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
        self.bytes.clear();
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
    }
}
