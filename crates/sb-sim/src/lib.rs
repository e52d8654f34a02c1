//! Test support for deterministic simulation: a virtual clock, a seeded RNG and an emulated
//! datagram network that loses, duplicates, delays and reorders packets. Nothing here reads
//! the real clock after [`Clock::new`] takes its origin, and every run with the same seed
//! does exactly the same thing.

use sb_types::splitmix::SplitMix64;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The workspace's seeded generator (`sb_types::splitmix`), with what simulations ask of it:
/// good enough for choosing which packet to drop.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(SplitMix64::new(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0.unit()
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        out
    }
}

/// Virtual time: an origin taken once, advanced only by the test.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    now: Instant,
}

impl Clock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one real clock read of a simulation: an origin, never advanced by it"
    )]
    pub fn new() -> Clock {
        let origin = Instant::now();
        Clock {
            origin,
            now: origin,
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.origin
    }

    pub fn advance_to(&mut self, t: Instant) {
        if t > self.now {
            self.now = t;
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct LinkConfig {
    pub loss: f64,
    pub duplicate: f64,
    pub delay: Duration,
    /// Extra random delay up to this much; packets overtake each other within it.
    pub jitter: Duration,
}

impl LinkConfig {
    pub fn perfect() -> LinkConfig {
        LinkConfig {
            loss: 0.0,
            duplicate: 0.0,
            delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
        }
    }

    pub fn lossy(loss: f64) -> LinkConfig {
        LinkConfig {
            loss,
            duplicate: 0.1,
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(80),
        }
    }

    pub fn dead() -> LinkConfig {
        LinkConfig {
            loss: 1.0,
            ..LinkConfig::perfect()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// A datagram network between any addresses.
#[derive(Debug)]
pub struct Network {
    pub cfg: LinkConfig,
    rng: Rng,
    seq: u64,
    in_flight: BinaryHeap<Reverse<(Instant, u64)>>,
    packets: std::collections::HashMap<u64, Packet>,
    pub sent: u64,
    pub dropped: u64,
    pub duplicated: u64,
}

impl Network {
    pub fn new(cfg: LinkConfig, seed: u64) -> Network {
        Network {
            cfg,
            rng: Rng::new(seed),
            seq: 0,
            in_flight: BinaryHeap::new(),
            packets: Default::default(),
            sent: 0,
            dropped: 0,
            duplicated: 0,
        }
    }

    pub fn send(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        self.sent += 1;
        if self.rng.chance(self.cfg.loss) {
            self.dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.cfg.duplicate) {
            self.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter_us = self.rng.below(self.cfg.jitter.as_micros() as u64);
            let at = now + self.cfg.delay + Duration::from_micros(jitter_us);
            self.seq += 1;
            self.in_flight.push(Reverse((at, self.seq)));
            self.packets.insert(
                self.seq,
                Packet {
                    from,
                    to,
                    bytes: bytes.clone(),
                },
            );
        }
    }

    pub fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.peek().map(|Reverse((at, _))| *at)
    }

    pub fn pop_due(&mut self, now: Instant) -> Option<Packet> {
        match self.in_flight.peek() {
            Some(Reverse((at, _))) if *at <= now => {
                let Reverse((_, seq)) = self.in_flight.pop()?;
                self.packets.remove(&seq)
            }
            _ => None,
        }
    }

    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_fate() {
        let run = |seed| {
            let clock = Clock::new();
            let mut net = Network::new(LinkConfig::lossy(0.3), seed);
            let a: SocketAddr = "127.0.0.1:1".parse().expect("addr");
            for i in 0..100u8 {
                net.send(clock.now(), a, a, vec![i]);
            }
            let mut order = Vec::new();
            while let Some(p) = net.pop_due(clock.now() + Duration::from_secs(1)) {
                order.push(p.bytes[0]);
            }
            (order, net.dropped)
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let (order, dropped) = run(7);
        assert!(dropped > 10 && dropped < 50, "30% loss, got {dropped}");
        assert!(order.windows(2).any(|w| w[0] > w[1]), "jitter reorders");
    }
}
