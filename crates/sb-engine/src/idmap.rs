//! Maps keyed by the engine's own numbers (call and leg ids, transaction ids, RTP ports).
//! The keys are ours, never chosen by a peer, so the hash need not resist flooding (SipHash,
//! the default, is for that) and can be one multiplication: these maps are looked up for
//! every relayed RTP packet.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Folds the integers written into it; `finish` spreads them over all 64 bits, so the
/// table's bucket (low bits) and tag (high bits) both vary for keys such as even ports.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let m = u128::from(self.0) * u128::from(K);
        (m as u64) ^ ((m >> 64) as u64)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(K);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn even_ports_spread_over_buckets_and_tags() {
        let b = BuildHasherDefault::<IdHasher>::default();
        let hashes: Vec<u64> = (20000u16..30000)
            .step_by(2)
            .map(|p| b.hash_one(p))
            .collect();
        let low: std::collections::HashSet<u64> = hashes.iter().map(|h| h & 0xFFF).collect();
        let high: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        // 5,000 keys over 4,096 buckets and 128 tags: a fair hash fills most of both.
        assert!(low.len() > 2_500, "{} buckets used", low.len());
        assert_eq!(high.len(), 128);
    }

    #[test]
    fn a_map_works_as_a_map() {
        let mut m: IdMap<u64, &str> = IdMap::default();
        for i in 0..1000 {
            m.insert(i, "x");
        }
        assert_eq!(m.len(), 1000);
        assert_eq!(m.remove(&500), Some("x"));
        assert!(!m.contains_key(&500));
    }
}
