//! The Via header (RFC 3261 §20.42), with `received` and `rport` (RFC 3581).

use crate::error::ParseError;
use crate::method::is_token;
use crate::params::{is_gen_value_char, is_lws, split_outside, Params};
use crate::uri::{parse_hostport, Host};
use std::fmt;

/// The RFC 3261 branch prefix that marks a branch as globally unique (§8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// The transport of a Via.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS.
    Tls,
    /// SCTP.
    Sctp,
    /// WebSocket.
    Ws,
    /// Secure WebSocket.
    Wss,
    /// Any other token.
    Other(String),
}

impl Transport {
    /// Reads a transport token.
    pub fn parse(s: &str) -> Transport {
        match s.to_ascii_uppercase().as_str() {
            "UDP" => Transport::Udp,
            "TCP" => Transport::Tcp,
            "TLS" => Transport::Tls,
            "SCTP" => Transport::Sctp,
            "WS" => Transport::Ws,
            "WSS" => Transport::Wss,
            _ => Transport::Other(s.to_string()),
        }
    }

    /// The token, as written.
    pub fn as_str(&self) -> &str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Other(s) => s,
        }
    }

    /// Reliable transports switch off retransmissions (RFC 3261 §17.1.1.2).
    pub fn is_reliable(&self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

/// One Via value (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The transport.
    pub transport: Transport,
    /// The sent-by host.
    pub host: Host,
    /// The sent-by port, when given.
    pub port: Option<u16>,
    /// The parameters (`branch`, `received`, `rport`, ...).
    pub params: Params,
}

impl Via {
    /// Parses one via-parm. LWS may surround the slashes, the parameters' `;` and `=`.
    pub fn parse(s: &str) -> Result<Via, ParseError> {
        let bad = |why| ParseError::header("Via", why);
        let mut parts = s.splitn(3, '/');
        let proto = parts.next().unwrap_or_default().trim_matches(is_lws);
        let version = parts.next().ok_or(bad("no version"))?.trim_matches(is_lws);
        let rest = parts
            .next()
            .ok_or(bad("no transport"))?
            .trim_start_matches(is_lws);
        if !proto.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return Err(bad("not SIP/2.0"));
        }
        let t_end = rest.find(is_lws).ok_or(bad("no sent-by"))?;
        let transport = &rest[..t_end];
        if !is_token(transport) {
            return Err(bad("bad transport"));
        }
        let rest = rest[t_end..].trim_start_matches(is_lws);
        let mut items = split_outside(rest, ';').into_iter();
        let sent_by = items.next().unwrap_or_default().trim_matches(is_lws);
        // LWS may separate host and ':port' (RFC 3261 §25.1 sent-by uses COLON).
        let sent_by: String = sent_by.chars().filter(|c| !is_lws(*c)).collect();
        let (host, port) = parse_hostport(&sent_by).map_err(|_| bad("bad sent-by"))?;
        let params = Params::parse_items(items, is_gen_value_char).ok_or(bad("bad parameter"))?;
        Ok(Via {
            transport: Transport::parse(transport),
            host,
            port,
            params,
        })
    }

    /// Parses a header value that may hold several comma-separated via-parms.
    pub fn parse_list(s: &str) -> Result<Vec<Via>, ParseError> {
        split_outside(s, ',').into_iter().map(Via::parse).collect()
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch")
    }

    /// The branch if it is an RFC 3261 branch: the magic cookie followed by something
    /// (RFC 4475 §3.2.1: a bare cookie is not unique and falls back to RFC 2543 matching).
    pub fn rfc3261_branch(&self) -> Option<&str> {
        self.branch()
            .filter(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE))
    }

    /// The `received` parameter.
    pub fn received(&self) -> Option<&str> {
        self.params.value("received")
    }

    /// `Some(None)` for a bare `rport` asking to be filled in, `Some(Some(port))` once filled.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// The sent-by as `host:port` text, a transaction key part (RFC 3261 §17.2.3).
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport.as_str(), self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_vias() {
        let v = Via::parse_list(
            "SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8  , SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239",
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].branch(), Some("z9hG4bK9ikj8"));
        assert_eq!(v[1].transport, Transport::Udp);
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
        let r =
            Via::parse("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3")
                .unwrap();
        assert_eq!(r.received(), Some("2001:db8::9:255"));
        assert_eq!(Via::parse(&r.to_string()).unwrap(), r);
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK")
            .unwrap()
            .rfc3261_branch()
            .is_none());
    }
}
