//! SIP and other URIs (RFC 3261 §19.1, §25.1; IPv6 references per RFC 5118).
//!
//! Escapes are kept as received so a message prints back exactly; comparisons that need the
//! unescaped form use [`unescape`].

use crate::error::ParseError;
use crate::params::Params;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The host of a URI or a Via.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name.
    Domain(String),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// The text between the brackets. RFC 5118 §4.3 asks receivers to accept references
    /// that stray from the ABNF (three colons), so the text is kept even when
    /// `Ipv6Addr` rejects it.
    V6(String),
}

impl Host {
    /// Reads a host (a bracketed IPv6 reference included).
    pub fn parse(s: &str) -> Result<Host, ParseError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or(ParseError::Uri("unclosed IPv6 reference"))?;
            if inner.is_empty()
                || !inner.contains(':')
                || !inner
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            {
                return Err(ParseError::Uri("bad IPv6 reference"));
            }
            return Ok(Host::V6(inner.to_string()));
        }
        if s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(ParseError::Uri("bad host"));
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            if let Ok(v4) = s.parse() {
                return Ok(Host::V4(v4));
            }
        }
        Ok(Host::Domain(s.to_string()))
    }

    /// The address, when the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(s) => s.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
            Host::Domain(_) => None,
        }
    }

    /// The host of an address.
    pub fn from_ip(ip: IpAddr) -> Host {
        match ip {
            IpAddr::V4(a) => Host::V4(a),
            IpAddr::V6(a) => Host::V6(a.to_string()),
        }
    }

    /// Hosts compare case-insensitively (RFC 3261 §19.1.4).
    pub fn same(&self, other: &Host) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            (Host::V6(a), Host::V6(b)) => match (a.parse::<Ipv6Addr>(), b.parse::<Ipv6Addr>()) {
                (Ok(x), Ok(y)) => x == y,
                _ => a.eq_ignore_ascii_case(b),
            },
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(s) => write!(f, "[{s}]"),
        }
    }
}

/// `host[:port]`, as in a URI or the sent-by of a Via.
pub(crate) fn parse_hostport(s: &str) -> Result<(Host, Option<u16>), ParseError> {
    let (host, port) = if s.starts_with('[') {
        let end = s
            .find(']')
            .ok_or(ParseError::Uri("unclosed IPv6 reference"))?;
        let rest = &s[end + 1..];
        match rest.strip_prefix(':') {
            Some(p) => (&s[..=end], Some(p)),
            None if rest.is_empty() => (&s[..=end], None),
            None => return Err(ParseError::Uri("junk after IPv6 reference")),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => Some(
            p.parse::<u16>()
                .map_err(|_| ParseError::Uri("port out of range"))?,
        ),
        Some(_) => return Err(ParseError::Uri("bad port")),
    };
    Ok((Host::parse(host)?, port))
}

/// sip or sips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// sip:
    Sip,
    /// sips:
    Sips,
}

/// A SIP or SIPS URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// sip or sips.
    pub scheme: Scheme,
    /// The user part, escaped as on the wire.
    pub user: Option<String>,
    /// The password part (deprecated, RFC 3261 §19.1.1).
    pub password: Option<String>,
    /// The host.
    pub host: Host,
    /// The port, when given.
    pub port: Option<u16>,
    /// The URI parameters.
    pub params: Params,
    /// The `?hname=hvalue&...` part, without the `?`.
    pub headers: Option<String>,
}

/// Any URI a SIP message may carry. Schemes other than sip/sips are kept opaque: the layer
/// above decides whether it can use them (416, RFC 3261 §8.2.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    /// A sip: or sips: URI.
    Sip(SipUri),
    /// Any other scheme (tel:, mailto:...): kept as written.
    Other {
        /// The scheme.
        scheme: String,
        /// Everything after the colon.
        opaque: String,
    },
}

fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c)
}

/// Checks that every `%` starts a two-digit hex escape and every other char passes `ok`.
fn escaped_ok(s: &str, ok: fn(char) -> bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if i + 2 >= b.len() || !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit() {
                return false;
            }
            i += 3;
            continue;
        }
        if !b[i].is_ascii() || !ok(b[i] as char) {
            return false;
        }
        i += 1;
    }
    true
}

fn user_char(c: char) -> bool {
    is_unreserved(c) || "&=+$,;?/".contains(c)
}

fn password_char(c: char) -> bool {
    is_unreserved(c) || "&=+$,".contains(c)
}

fn param_char(c: char) -> bool {
    is_unreserved(c) || "[]/:&+$".contains(c)
}

fn header_char(c: char) -> bool {
    is_unreserved(c) || "[]/?:+$=&".contains(c)
}

/// Resolves `%XX` escapes; invalid UTF-8 after unescaping is replaced.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Uri {
    /// Reads a URI.
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        let (scheme, rest) = s.split_once(':').ok_or(ParseError::Uri("no scheme"))?;
        let mut sc = scheme.chars();
        if !sc.next().is_some_and(|c| c.is_ascii_alphabetic())
            || !sc.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(ParseError::Uri("bad scheme"));
        }
        let scheme_kind = if scheme.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else {
            // absoluteURI (RFC 3261 §25.1): uric characters only, so '<', '>', quotes and
            // spaces can never leak out of a name-addr when the URI is printed back.
            if rest.is_empty()
                || !escaped_ok(rest, |c| is_unreserved(c) || ";/?:@&=+$,[]".contains(c))
            {
                return Err(ParseError::Uri("bad opaque URI"));
            }
            return Ok(Uri::Other {
                scheme: scheme.to_string(),
                opaque: rest.to_string(),
            });
        };
        Ok(Uri::Sip(SipUri::parse_rest(scheme_kind, rest)?))
    }

    /// The SIP URI, when it is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Other { .. } => None,
        }
    }

    /// The SIP URI, to change, when it is one.
    pub fn as_sip_mut(&mut self) -> Option<&mut SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Other { .. } => None,
        }
    }
}

impl SipUri {
    fn parse_rest(scheme: Scheme, rest: &str) -> Result<SipUri, ParseError> {
        // '@' may appear nowhere but at the end of the userinfo: params and headers must
        // escape it. The user part itself may hold ';' and '?' (RFC 4475 §3.1.1.4, §3.1.1.13).
        let (userinfo, hostpart) = match rest.find('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (ui, None),
                };
                if u.is_empty() || !escaped_ok(u, user_char) {
                    return Err(ParseError::Uri("bad user"));
                }
                if let Some(p) = p {
                    if !escaped_ok(p, password_char) {
                        return Err(ParseError::Uri("bad password"));
                    }
                }
                (Some(u.to_string()), p.map(str::to_string))
            }
        };
        let (before_headers, headers) = match hostpart.split_once('?') {
            Some((a, h)) => (a, Some(h)),
            None => (hostpart, None),
        };
        if let Some(h) = headers {
            if h.is_empty() || !escaped_ok(h, header_char) {
                return Err(ParseError::Uri("bad headers"));
            }
        }
        let mut parts = before_headers.split(';');
        // split always yields a first item.
        let hostport = parts.next().unwrap_or_default();
        let (host, port) = parse_hostport(hostport)?;
        let mut params = Vec::new();
        for p in parts {
            let (n, v) = match p.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (p, None),
            };
            if n.is_empty() || !escaped_ok(n, param_char) {
                return Err(ParseError::Uri("bad parameter"));
            }
            if let Some(v) = v {
                if v.is_empty() || !escaped_ok(v, param_char) {
                    return Err(ParseError::Uri("bad parameter value"));
                }
            }
            params.push((n.to_string(), v.map(str::to_string)));
        }
        Ok(SipUri {
            scheme,
            user,
            password,
            host,
            port,
            params: Params(params),
            headers: headers.map(str::to_string),
        })
    }

    /// A URI with no parameters.
    pub fn new(user: Option<&str>, host: Host, port: Option<u16>) -> SipUri {
        SipUri {
            scheme: Scheme::Sip,
            user: user.map(str::to_string),
            password: None,
            host,
            port,
            params: Params::default(),
            headers: None,
        }
    }

    /// The user part with escapes resolved, the form extensions are looked up by.
    pub fn user_unescaped(&self) -> Option<String> {
        self.user.as_deref().map(unescape)
    }

    /// A header embedded in the URI (`?Replaces=...`, RFC 3261 §19.1.1), unescaped; the
    /// name is matched without regard to case.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.as_deref()?.split('&').find_map(|h| {
            let (n, v) = h.split_once('=')?;
            n.eq_ignore_ascii_case(name).then(|| unescape(v))
        })
    }

    /// The `transport` parameter.
    pub fn transport(&self) -> Option<&str> {
        self.params.value("transport")
    }

    /// Equivalence for the purposes of registrar bindings (RFC 3261 §19.1.4, simplified to
    /// the parts a phone varies: scheme, user, host, port, transport).
    pub fn same_binding(&self, other: &SipUri) -> bool {
        self.scheme == other.scheme
            && self.user_unescaped() == other.user_unescaped()
            && self.host.same(&other.host)
            && self.port == other.port
            && match (self.transport(), other.transport()) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                (None, None) => true,
                _ => false,
            }
    }
}

impl Uri {
    /// URI equivalence (RFC 3261 §19.1.4) as far as a digest `uri` needs it: the same
    /// scheme, user and password (case-sensitive, after unescaping), host (case-insensitive),
    /// port, and the same value of `user`, `ttl`, `method`, `maddr` and `transport` where
    /// either has one, other parameters where both have them, and the same headers.
    /// Non-SIP URIs compare as text.
    pub fn equivalent(&self, other: &Uri) -> bool {
        let (Uri::Sip(a), Uri::Sip(b)) = (self, other) else {
            return self.to_string().eq_ignore_ascii_case(&other.to_string());
        };
        let same = |x: Option<&str>, y: Option<&str>| match (x, y) {
            (Some(x), Some(y)) => unescape(x).eq_ignore_ascii_case(&unescape(y)),
            (None, None) => true,
            _ => false,
        };
        let must_match = ["user", "ttl", "method", "maddr", "transport"];
        let params_agree = must_match.iter().all(|n| {
            same(a.params.value(n), b.params.value(n)) && a.params.has(n) == b.params.has(n)
        }) && a.params.0.iter().all(|(n, v)| {
            must_match.iter().any(|m| m.eq_ignore_ascii_case(n))
                || b.params.get(n).is_none_or(|w| same(v.as_deref(), w))
        });
        a.scheme == b.scheme
            && a.user_unescaped() == b.user_unescaped()
            && a.password.as_deref().map(unescape) == b.password.as_deref().map(unescape)
            && a.host.same(&b.host)
            && a.port == b.port
            && params_agree
            && a.headers.as_deref().map(unescape) == b.headers.as_deref().map(unescape)
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.scheme {
            Scheme::Sip => "sip:",
            Scheme::Sips => "sips:",
        })?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => write!(f, "{u}"),
            Uri::Other { scheme, opaque } => write!(f, "{scheme}:{opaque}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unusual_users_and_ipv6() {
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        let s = u.as_sip().unwrap();
        assert_eq!(s.user.as_deref(), Some("user;par=u%40example.net"));
        assert_eq!(s.host, Host::Domain("example.com".into()));
        let v6 = Uri::parse("sip:[2001:db8::10]:5070").unwrap();
        assert_eq!(v6.as_sip().unwrap().port, Some(5070));
        assert!(Uri::parse("sip:2001:db8::10").is_err());
        assert!(Uri::parse("sip:[2001:db8::10").is_err());
        assert_eq!(unescape("%75se%72"), "user");
        assert!(Uri::parse("sip:a%4@b").is_err());
        // Found by the fuzzer: an opaque URI holding '>' printed as a name-addr that did
        // not re-parse.
        assert!(Uri::parse("Fsip:kumiko@example.org>").is_err());
        assert!(Uri::parse("tel:+86-10-1234;phone-context=example.org").is_ok());
        assert!(Uri::parse("soap.beep://192.0.2.103:3002").is_ok());
    }

    #[test]
    fn equivalence_follows_rfc_3261() {
        let eq = |a: &str, b: &str| Uri::parse(a).unwrap().equivalent(&Uri::parse(b).unwrap());
        assert!(eq("sip:8000@127.0.0.1:5060", "sip:8000@127.0.0.1:5060"));
        assert!(eq(
            "sip:%38000@EXAMPLE.com;transport=TCP",
            "sip:8000@example.com;transport=tcp"
        ));
        assert!(
            eq("sip:8000@h;foo=1", "sip:8000@h"),
            "a parameter on one side only"
        );
        assert!(!eq("sip:8000@h", "sip:8001@h"));
        assert!(
            !eq("sip:8000@h", "sip:8000@h:5060"),
            "an explicit default port differs"
        );
        assert!(!eq("sip:8000@h", "sips:8000@h"));
        assert!(!eq("sip:8000@h;transport=tcp", "sip:8000@h"));
        assert!(!eq("sip:8000@h;foo=1", "sip:8000@h;foo=2"));
        assert!(!eq("sip:8000@h?Subject=a", "sip:8000@h"));
    }
}
