//! Header names and the ordered header list. Compact forms are expanded once, at ingress
//! (RFC 3261 §7.3.3), so no layer above ever sees `v:` or `i:`.

use crate::params::split_list;
use std::fmt;

/// A header name in its canonical spelling for the headers we know, verbatim otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderName(std::borrow::Cow<'static, str>);

/// Known headers: canonical name and compact form (RFC 3261 §7.3.3, RFC 3515, RFC 3891,
/// RFC 4028, RFC 3265).
const KNOWN: &[(&str, Option<char>)] = &[
    ("Via", Some('v')),
    ("From", Some('f')),
    ("To", Some('t')),
    ("Call-ID", Some('i')),
    ("CSeq", None),
    ("Max-Forwards", None),
    ("Contact", Some('m')),
    ("Content-Length", Some('l')),
    ("Content-Type", Some('c')),
    ("Content-Encoding", Some('e')),
    ("Subject", Some('s')),
    ("Supported", Some('k')),
    ("Require", None),
    ("Proxy-Require", None),
    ("Unsupported", None),
    ("Expires", None),
    ("Min-Expires", None),
    ("Route", None),
    ("Record-Route", None),
    ("Authorization", None),
    ("Proxy-Authorization", None),
    ("WWW-Authenticate", None),
    ("Proxy-Authenticate", None),
    ("Authentication-Info", None),
    ("Allow", None),
    ("Accept", None),
    ("User-Agent", None),
    ("Server", None),
    ("Warning", None),
    ("Date", None),
    ("Event", Some('o')),
    ("Allow-Events", Some('u')),
    ("Refer-To", Some('r')),
    ("Referred-By", Some('b')),
    ("Replaces", None),
    ("Session-Expires", Some('x')),
    ("Min-SE", None),
    ("RSeq", None),
    ("RAck", None),
    ("P-Asserted-Identity", None),
    ("Reason", None),
    ("Subscription-State", None),
    ("Retry-After", None),
    ("Accept-Contact", Some('a')),
    ("Reject-Contact", Some('j')),
    ("Request-Disposition", Some('d')),
    ("Identity", Some('y')),
];

impl HeaderName {
    /// A header name as written; compact forms expanded.
    pub fn new(raw: &str) -> HeaderName {
        let mut chars = raw.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            let c = c.to_ascii_lowercase();
            if let Some((name, _)) = KNOWN.iter().find(|(_, compact)| *compact == Some(c)) {
                return HeaderName((*name).into());
            }
        }
        match KNOWN
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(raw))
        {
            Some((name, _)) => HeaderName((*name).into()),
            None => HeaderName(raw.to_string().into()),
        }
    }

    /// The name, as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is `name`, case-insensitively.
    pub fn is(&self, name: &str) -> bool {
        self.0.eq_ignore_ascii_case(name)
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Its name.
    pub name: HeaderName,
    /// Its value, unfolded.
    pub value: String,
}

/// The headers of a message other than the ones kept typed on the message itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// The first value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.is(name))
            .map(|h| h.value.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.is(name))
            .map(|h| h.value.as_str())
    }

    /// Every comma-separated element of every header called `name`.
    pub fn list<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name).flat_map(split_list)
    }

    /// Adds a header at the end.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push(Header {
            name: HeaderName::new(name),
            value: value.into(),
        });
    }

    /// Removes every header `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|h| !h.name.is(name));
    }

    /// How many headers `name` there are.
    pub fn count(&self, name: &str) -> usize {
        self.0.iter().filter(|h| h.name.is(name)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case() {
        assert_eq!(HeaderName::new("v").as_str(), "Via");
        assert_eq!(HeaderName::new("I").as_str(), "Call-ID");
        assert_eq!(HeaderName::new("MaX-fOrWaRdS").as_str(), "Max-Forwards");
        assert_eq!(HeaderName::new("X-Custom").as_str(), "X-Custom");
        assert_eq!(HeaderName::new("C%6Fntact").as_str(), "C%6Fntact");
    }
}
