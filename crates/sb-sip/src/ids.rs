//! Tags, branches and nonces from a keyed hash over a counter: unpredictable to a peer
//! (the key is random per run, chosen by the runtime) yet deterministic in simulation.

use sha2::{Digest, Sha256};

/// Tags, branches and Call-IDs that cannot be guessed: a keyed hash of a counter.
#[derive(Debug, Clone)]
pub struct IdGen {
    key: [u8; 32],
    counter: u64,
}

impl IdGen {
    /// A generator keyed with `key`.
    pub fn new(key: [u8; 32]) -> IdGen {
        IdGen { key, counter: 0 }
    }

    /// 16 hex characters (64 bits).
    pub fn next_hex(&mut self) -> String {
        self.counter += 1;
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(self.counter.to_be_bytes());
        hex(&h.finalize()[..8])
    }

    /// A new tag.
    pub fn tag(&mut self) -> String {
        self.next_hex()
    }

    /// Our To tag for every request of one caller's leg (same Call-ID and From tag): the 401
    /// and the 200 to the retried INVITE carry the same tag, which clients that remember
    /// the first tag they saw (SIPp's `[peer_tag_param]`) rely on. Still unguessable.
    pub fn tag_for(&self, call_id: &str, from_tag: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(b"to-tag");
        h.update(call_id.as_bytes());
        h.update([0]);
        h.update(from_tag.as_bytes());
        hex(&h.finalize()[..8])
    }

    /// A Via branch with the RFC 3261 magic cookie (§8.1.1.7).
    pub fn branch(&mut self) -> String {
        format!("{}{}", sb_sip_msg::via::MAGIC_COOKIE, self.next_hex())
    }

    /// A new Call-ID at `host`.
    pub fn call_id(&mut self, host: &str) -> String {
        format!("{}@{host}", self.next_hex())
    }

    /// The key.
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }
}

/// `bytes` in lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}
