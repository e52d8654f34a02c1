//! HTTP Digest for SIP (RFC 3261 §22.4, RFC 7616 computations, RFC 8760 for SHA-256), with
//! `qop=auth`. Nonces are stateless: they carry their issue time and a keyed hash binding
//! that time to the realm, so a nonce from another realm or another run never validates.
//! Nonce counts are remembered per nonce so a replayed `nc` is refused.

use crate::ids::hex;
use md5::Md5;
use sb_sip_msg::{AuthParams, Challenge};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

/// A digest algorithm (RFC 7616, RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5.
    Md5,
    /// SHA-256.
    Sha256,
}

impl Algorithm {
    /// Its name in the algorithm parameter.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// The algorithm of a parameter value (absent: MD5).
    pub fn parse(s: Option<&str>) -> Option<Algorithm> {
        match s {
            None => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    /// The hex digest of `data`.
    pub fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex(&Sha256::digest(data.as_bytes())),
        }
    }
}

/// The inputs of one digest computation.
#[derive(Debug, Clone, Copy)]
pub struct DigestInput<'a> {
    /// The user.
    pub username: &'a str,
    /// The realm.
    pub realm: &'a str,
    /// The password.
    pub password: &'a str,
    /// The request method.
    pub method: &'a str,
    /// The digest URI.
    pub uri: &'a str,
    /// The nonce.
    pub nonce: &'a str,
    /// `(nc, cnonce)` with qop=auth; `None` for the RFC 2617 form without qop.
    pub qop: Option<(&'a str, &'a str)>,
}

/// The expected `response` value (RFC 7616 §3.4.1, qop=auth; RFC 2617 form without qop).
pub fn response(alg: Algorithm, d: &DigestInput<'_>) -> String {
    let DigestInput {
        username,
        realm,
        password,
        method,
        uri,
        nonce,
        qop,
    } = *d;
    let ha1 = alg.hash(&format!("{username}:{realm}:{password}"));
    let ha2 = alg.hash(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => alg.hash(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => alg.hash(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// The UAC side: the Authorization value that answers `challenge` (a WWW-Authenticate or
/// Proxy-Authenticate value) with qop=auth and nonce count `nc`. `None` when the challenge
/// is not a digest one we can answer.
pub fn answer_challenge(
    challenge: &str,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    nc: u32,
    cnonce: &str,
) -> Option<String> {
    let c = AuthParams::parse(challenge).filter(AuthParams::is_digest)?;
    let alg = Algorithm::parse(c.get("algorithm"))?;
    let nc = format!("{nc:08x}");
    let (realm, nonce) = (c.get("realm")?, c.get("nonce")?);
    let input = DigestInput {
        username: user,
        realm,
        password,
        method,
        uri,
        nonce,
        qop: Some((&nc, cnonce)),
    };
    let r = response(alg, &input);
    Some(format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{r}\", algorithm={}, cnonce=\"{cnonce}\", qop=auth, nc={nc}",
        alg.name()
    ))
}

/// Why credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No usable credentials at all: challenge, not a failure of the user's.
    Missing,
    /// The nonce was ours but has expired: challenge again with `stale=true`.
    Stale,
    /// Wrong password, unknown user, forged or replayed nonce, wrong realm.
    Invalid(&'static str),
}

/// Issues and checks digest challenges: nonces signed with the key, their lifetime, and
/// nonce counts (replays refused).
#[derive(Debug)]
pub struct DigestAuth {
    realm: String,
    key: [u8; 32],
    lifetime: Duration,
    /// Highest nonce count seen per nonce, pruned as nonces expire.
    nonce_counts: HashMap<String, (u32, u64)>,
    /// Nonces issued so far, the salt of the next one.
    issued: u64,
    /// Offered in this order, most preferred first (RFC 8760 §2.4).
    algorithms: Vec<Algorithm>,
}

/// The outcome of a successful check: who authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The authenticated user.
    pub username: String,
}

impl DigestAuth {
    /// A checker for `realm`, signing nonces with `key`, each good for `lifetime`.
    pub fn new(realm: &str, key: [u8; 32], lifetime: Duration) -> DigestAuth {
        DigestAuth {
            realm: realm.to_string(),
            key,
            lifetime,
            nonce_counts: HashMap::new(),
            issued: 0,
            algorithms: vec![Algorithm::Md5],
        }
    }

    /// Sets the algorithms to offer, most preferred first; answers with any other are
    /// refused. An empty list keeps the default (MD5 alone).
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> DigestAuth {
        if !algorithms.is_empty() {
            self.algorithms = algorithms.to_vec();
        }
        self
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn seal(&self, issued: u64, salt: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(issued.to_be_bytes());
        h.update(salt.as_bytes());
        h.update(self.realm.as_bytes());
        hex(&h.finalize()[..12])
    }

    /// A fresh nonce for time `now_s` (seconds on the endpoint's own clock). The salt makes
    /// every challenge's nonce unique, so nonce counts of two phones never collide.
    pub fn nonce(&mut self, now_s: u64) -> String {
        self.issued += 1;
        let salt = format!("{:x}", self.issued);
        format!("{now_s:x}.{salt}.{}", self.seal(now_s, &salt))
    }

    /// The challenges to send, SHA-256 first as RFC 8760 §2.4 asks, then MD5 for older
    /// phones.
    pub fn challenges(&mut self, now_s: u64, stale: bool) -> Vec<Challenge> {
        let nonce = self.nonce(now_s);
        self.algorithms
            .iter()
            .map(|a| Challenge {
                realm: self.realm.clone(),
                nonce: nonce.clone(),
                opaque: None,
                algorithm: a.name(),
                stale,
            })
            .collect()
    }

    /// Checks one Authorization header against the user's password (`None` for an unknown
    /// user: the same work is done so timing does not tell users apart).
    pub fn verify(
        &mut self,
        now_s: u64,
        creds: &AuthParams,
        method: &str,
        password: Option<&str>,
    ) -> Result<Authenticated, AuthFailure> {
        if !creds.is_digest() {
            return Err(AuthFailure::Missing);
        }
        let realm = creds.get("realm").ok_or(AuthFailure::Invalid("no realm"))?;
        if realm != self.realm {
            return Err(AuthFailure::Missing);
        }
        let alg =
            Algorithm::parse(creds.get("algorithm")).ok_or(AuthFailure::Invalid("algorithm"))?;
        let (username, nonce, uri, resp) = match (
            creds.get("username"),
            creds.get("nonce"),
            creds.get("uri"),
            creds.get("response"),
        ) {
            (Some(u), Some(n), Some(uri), Some(r)) => (u, n, uri, r),
            _ => return Err(AuthFailure::Invalid("missing digest parameters")),
        };
        let issued = self.check_nonce(nonce)?;
        if now_s.saturating_sub(issued) > self.lifetime.as_secs() {
            return Err(AuthFailure::Stale);
        }
        let qop = match creds.get("qop") {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc = creds.get("nc").ok_or(AuthFailure::Invalid("no nc"))?;
                let cnonce = creds
                    .get("cnonce")
                    .ok_or(AuthFailure::Invalid("no cnonce"))?;
                Some((nc, cnonce))
            }
            Some(_) => return Err(AuthFailure::Invalid("qop")),
            None => None,
        };
        let dummy = "\u{0}no-such-user";
        let input = DigestInput {
            username,
            realm,
            password: password.unwrap_or(dummy),
            method,
            uri,
            nonce,
            qop,
        };
        let expected = response(alg, &input);
        if password.is_none() || !constant_time_eq(expected.as_bytes(), resp.as_bytes()) {
            return Err(AuthFailure::Invalid("credentials"));
        }
        // Only a correct response advances the nonce count, so a guesser cannot burn it.
        if let Some((nc, _)) = qop {
            let nc = u32::from_str_radix(nc, 16).map_err(|_| AuthFailure::Invalid("nc"))?;
            let slot = self
                .nonce_counts
                .entry(nonce.to_string())
                .or_insert((0, issued));
            if nc <= slot.0 {
                return Err(AuthFailure::Invalid("nonce count replayed"));
            }
            slot.0 = nc;
        }
        Ok(Authenticated {
            username: username.to_string(),
        })
    }

    fn check_nonce(&self, nonce: &str) -> Result<u64, AuthFailure> {
        let mut parts = nonce.splitn(3, '.');
        let (Some(ts), Some(salt), Some(seal)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AuthFailure::Invalid("nonce"));
        };
        let issued = u64::from_str_radix(ts, 16).map_err(|_| AuthFailure::Invalid("nonce"))?;
        if !constant_time_eq(self.seal(issued, salt).as_bytes(), seal.as_bytes()) {
            return Err(AuthFailure::Invalid("nonce not ours"));
        }
        Ok(issued)
    }

    /// Forgets nonce counts of nonces that can no longer validate.
    pub fn prune(&mut self, now_s: u64) {
        let life = self.lifetime.as_secs();
        self.nonce_counts
            .retain(|_, (_, issued)| now_s.saturating_sub(*issued) <= life);
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 §3.9.1 example (qop=auth, MD5 and SHA-256).
    #[test]
    fn rfc7616_vectors() {
        let input = DigestInput {
            username: "Mufasa",
            realm: "http-auth@example.org",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            qop: Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
        };
        let md5 = response(Algorithm::Md5, &input);
        assert_eq!(md5, "8ca523f5e9506fed4657c9700eebdbec");
        let sha = response(Algorithm::Sha256, &input);
        assert_eq!(
            sha,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    fn creds(
        auth: &DigestAuth,
        nonce: &str,
        nc: &str,
        password: &str,
        alg: Algorithm,
    ) -> AuthParams {
        let input = DigestInput {
            username: "1001",
            realm: auth.realm(),
            password,
            method: "REGISTER",
            uri: "sip:h",
            nonce,
            qop: Some((nc, "c")),
        };
        let r = response(alg, &input);
        AuthParams::parse(&format!(
            "Digest username=\"1001\", realm=\"{}\", nonce=\"{nonce}\", uri=\"sip:h\", response=\"{r}\", qop=auth, nc={nc}, cnonce=\"c\", algorithm={}",
            auth.realm(),
            alg.name()
        ))
        .expect("well-formed")
    }

    #[test]
    fn nonce_life_cycle() {
        let mut a = DigestAuth::new("hospital", [7; 32], Duration::from_secs(300))
            .with_algorithms(&[Algorithm::Sha256, Algorithm::Md5]);
        let n = a.nonce(1000);
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let ok = creds(&a, &n, "00000001", "demo-1001", alg);
            let first = a.verify(1010, &ok, "REGISTER", Some("demo-1001"));
            if alg == Algorithm::Md5 {
                assert!(first.is_ok());
                // The same nc again is a replay.
                assert_eq!(
                    a.verify(1011, &ok, "REGISTER", Some("demo-1001")),
                    Err(AuthFailure::Invalid("nonce count replayed"))
                );
            }
        }
        let next = creds(&a, &n, "00000003", "demo-1001", Algorithm::Sha256);
        assert!(a.verify(1012, &next, "REGISTER", Some("demo-1001")).is_ok());
        let wrong = creds(&a, &n, "00000004", "guess", Algorithm::Md5);
        assert_eq!(
            a.verify(1013, &wrong, "REGISTER", Some("demo-1001")),
            Err(AuthFailure::Invalid("credentials"))
        );
        // Unknown users fail exactly like wrong passwords.
        assert_eq!(
            a.verify(1013, &wrong, "REGISTER", None),
            Err(AuthFailure::Invalid("credentials"))
        );
        let late = creds(&a, &n, "00000005", "demo-1001", Algorithm::Md5);
        assert_eq!(
            a.verify(1400, &late, "REGISTER", Some("demo-1001")),
            Err(AuthFailure::Stale)
        );
        let mut other = DigestAuth::new("hospital", [8; 32], Duration::from_secs(300));
        let forged = creds(
            &a,
            &other.nonce(1000),
            "00000001",
            "demo-1001",
            Algorithm::Md5,
        );
        assert_eq!(
            a.verify(1001, &forged, "REGISTER", Some("demo-1001")),
            Err(AuthFailure::Invalid("nonce not ours"))
        );
    }
}
