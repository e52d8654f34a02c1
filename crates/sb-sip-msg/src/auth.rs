//! The grammar of authentication headers (RFC 3261 §25.1 `credentials`, `challenge`;
//! RFC 7616 for the digest parameters). The digest arithmetic lives in sb-sip.

use crate::method::is_token;
use crate::params::{is_lws, split_list, unquote};
use std::fmt;

/// `scheme param=value, param="value", ...` of Authorization or Proxy-Authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams {
    /// The scheme (`Digest`).
    pub scheme: String,
    /// The parameters, names in lower case, values unquoted.
    pub params: Vec<(String, String)>,
}

impl AuthParams {
    /// Reads an Authorization or WWW-Authenticate value.
    pub fn parse(s: &str) -> Option<AuthParams> {
        let s = s.trim_matches(is_lws);
        let (scheme, rest) = s.split_once(is_lws).unwrap_or((s, ""));
        if !is_token(scheme) {
            return None;
        }
        let mut params = Vec::new();
        for item in split_list(rest) {
            let (n, v) = item.split_once('=')?;
            let (n, v) = (n.trim_matches(is_lws), v.trim_matches(is_lws));
            if !is_token(n) {
                return None;
            }
            let v = if v.starts_with('"') {
                unquote(v)?
            } else {
                v.to_string()
            };
            params.push((n.to_ascii_lowercase(), v));
        }
        Some(AuthParams {
            scheme: scheme.to_string(),
            params,
        })
    }

    /// The value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the scheme is Digest.
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }
}

/// A digest challenge for WWW-Authenticate or Proxy-Authenticate (RFC 7616 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The realm.
    pub realm: String,
    /// The nonce.
    pub nonce: String,
    /// The opaque value, echoed by the client.
    pub opaque: Option<String>,
    /// The algorithm (`MD5`, `SHA-256`).
    pub algorithm: &'static str,
    /// The nonce was stale: the client may retry without asking the user.
    pub stale: bool,
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest realm={}, nonce={}, algorithm={}, qop=\"auth\"",
            quote(&self.realm),
            quote(&self.nonce),
            self.algorithm
        )?;
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", quote(o))?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_credentials() {
        let a = AuthParams::parse(
            r#"Digest username="1001", realm="hospital", nonce="abc", uri="sip:h", response="00", qop=auth, nc=00000001, cnonce="x,y""#,
        )
        .unwrap();
        assert!(a.is_digest());
        assert_eq!(a.get("cnonce"), Some("x,y"));
        assert_eq!(a.get("nc"), Some("00000001"));
        assert!(AuthParams::parse("NoOneKnowsThisScheme opaque-data=here").is_some());
        assert!(AuthParams::parse("Digest =x").is_none());
    }
}
