//! The session description protocol (RFC 8866): parsed once into typed values, printed back
//! in the order the RFC fixes. Lines we do not interpret are kept so nothing is lost.

use std::fmt;
use std::net::IpAddr;
use thiserror::Error;

/// Why an SDP body could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SdpError {
    /// The body is not UTF-8.
    #[error("SDP is not UTF-8")]
    NotUtf8,
    /// A line that does not parse.
    #[error("line {line}: {why}")]
    Line {
        /// Its number, from 1.
        line: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// A line every description must have is not there.
    #[error("missing {0}= line")]
    Missing(char),
}

fn err(line: usize, why: &'static str) -> SdpError {
    SdpError::Line { line, why }
}

/// `c=IN IP4 192.0.2.1` (RFC 8866 §5.7). Multicast TTL suffixes are refused: a call centre
/// leg is unicast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The address.
    pub addr: IpAddr,
}

impl Connection {
    fn parse(v: &str, line: usize) -> Result<Connection, SdpError> {
        let mut it = v.split(' ');
        let (Some("IN"), Some(kind), Some(addr), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(err(line, "c= must be `IN IP4|IP6 address`"));
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| err(line, "c= address is not an IP address"))?;
        match (kind, addr) {
            ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Ok(Connection { addr }),
            _ => Err(err(line, "c= address type does not match the address")),
        }
    }

    /// RFC 3264 §8.4 (from RFC 2543): `c=IN IP4 0.0.0.0` means hold.
    pub fn is_hold(&self) -> bool {
        self.addr.is_unspecified()
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "IN IP4 {a}"),
            IpAddr::V6(a) => write!(f, "IN IP6 {a}"),
        }
    }
}

/// `a=name[:value]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute's name.
    pub name: String,
    /// Its value; `None` for a flag.
    pub value: Option<String>,
}

impl Attribute {
    /// A flag attribute (`a=sendrecv`).
    pub fn flag(name: &str) -> Attribute {
        Attribute {
            name: name.to_string(),
            value: None,
        }
    }

    /// An attribute with a value.
    pub fn new(name: &str, value: impl Into<String>) -> Attribute {
        Attribute {
            name: name.to_string(),
            value: Some(value.into()),
        }
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}:{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One m= section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// The media (`audio`).
    pub media: String,
    /// The port.
    pub port: u16,
    /// The number of ports, when given.
    pub port_count: Option<u16>,
    /// The transport (`RTP/AVP`).
    pub proto: String,
    /// The payload formats offered, in order of preference.
    pub formats: Vec<String>,
    /// Other lines of the section (i=, b=, k=), kept as they came.
    pub info: Vec<(char, String)>,
    /// Its c= line, if any.
    pub connection: Option<Connection>,
    /// Its a= lines.
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// The value of attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.value.as_deref())
    }

    /// Whether flag `name` is present.
    pub fn has_flag(&self, name: &str) -> bool {
        self.attributes.iter().any(|a| a.name == name)
    }

    /// `a=rtpmap:PT encoding/clock[/channels]` for `pt`.
    pub fn rtpmap(&self, pt: u8) -> Option<(String, u32)> {
        self.attributes
            .iter()
            .filter(|a| a.name == "rtpmap")
            .find_map(|a| {
                let v = a.value.as_deref()?;
                let (p, rest) = v.split_once(' ')?;
                if p.parse::<u8>().ok()? != pt {
                    return None;
                }
                let mut parts = rest.split('/');
                let enc = parts.next()?.to_string();
                let clock = parts.next()?.parse().ok()?;
                Some((enc, clock))
            })
    }

    /// The packet time asked for, in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attr("ptime").and_then(|p| p.trim().parse().ok())
    }
}

/// A session description (RFC 8866).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// The o= line's user.
    pub origin_user: String,
    /// The o= line's session id.
    pub session_id: u64,
    /// The o= line's version.
    pub session_version: u64,
    /// The o= address: an IP address or a host name, kept as text (never used to send).
    pub origin_addr: String,
    /// Whether the o= line's address is IPv6.
    pub origin_ipv6: bool,
    /// The s= line.
    pub session_name: String,
    /// i=, u=, e=, p=, b= lines of the session, kept verbatim in order.
    pub info: Vec<(char, String)>,
    /// The session's c= line, if any.
    pub connection: Option<Connection>,
    /// The t= lines.
    pub times: Vec<String>,
    /// The session's a= lines.
    pub attributes: Vec<Attribute>,
    /// The m= sections.
    pub media: Vec<MediaDescription>,
}

type Origin = (String, u64, u64, String, bool);

fn parse_origin(v: &str, line: usize) -> Result<Origin, SdpError> {
    let p: Vec<&str> = v.split(' ').collect();
    if p.len() != 6 || p[3] != "IN" || !(p[4] == "IP4" || p[4] == "IP6") {
        return Err(err(line, "o= must be `user id version IN IP4|IP6 address`"));
    }
    let id = p[1]
        .parse()
        .map_err(|_| err(line, "o= session id is not a number"))?;
    let ver = p[2]
        .parse()
        .map_err(|_| err(line, "o= session version is not a number"))?;
    if p[0].is_empty() || p[5].is_empty() {
        return Err(err(line, "o= has an empty field"));
    }
    Ok((p[0].to_string(), id, ver, p[5].to_string(), p[4] == "IP6"))
}

fn parse_media(v: &str, line: usize) -> Result<MediaDescription, SdpError> {
    let mut it = v.split(' ');
    let media = it
        .next()
        .filter(|m| !m.is_empty())
        .ok_or(err(line, "m= without media"))?;
    let port_s = it.next().ok_or(err(line, "m= without port"))?;
    let (port, count) = match port_s.split_once('/') {
        Some((p, c)) => (
            p,
            Some(c.parse().map_err(|_| err(line, "m= bad port count"))?),
        ),
        None => (port_s, None),
    };
    let port = port
        .parse()
        .map_err(|_| err(line, "m= port is not 0-65535"))?;
    let proto = it
        .next()
        .filter(|p| !p.is_empty())
        .ok_or(err(line, "m= without protocol"))?;
    let formats: Vec<String> = it.map(str::to_string).collect();
    if formats.is_empty() || formats.iter().any(|f| f.is_empty()) {
        return Err(err(line, "m= without formats"));
    }
    Ok(MediaDescription {
        media: media.to_string(),
        port,
        port_count: count,
        proto: proto.to_string(),
        formats,
        info: Vec::new(),
        connection: None,
        attributes: Vec::new(),
    })
}

fn parse_attr(v: &str) -> Attribute {
    match v.split_once(':') {
        Some((n, val)) => Attribute::new(n, val),
        None => Attribute::flag(v),
    }
}

impl SessionDescription {
    /// Reads an SDP body.
    pub fn parse(bytes: &[u8]) -> Result<SessionDescription, SdpError> {
        let text = std::str::from_utf8(bytes).map_err(|_| SdpError::NotUtf8)?;
        let mut origin = None;
        let mut name = None;
        let mut version_seen = false;
        let mut sd = SessionDescription {
            origin_user: String::new(),
            session_id: 0,
            session_version: 0,
            origin_addr: String::new(),
            origin_ipv6: false,
            session_name: String::new(),
            info: Vec::new(),
            connection: None,
            times: Vec::new(),
            attributes: Vec::new(),
            media: Vec::new(),
        };
        for (i, raw) in text.split('\n').enumerate() {
            let n = i + 1;
            let l = raw.strip_suffix('\r').unwrap_or(raw);
            if l.is_empty() {
                continue;
            }
            // RFC 8866 §9: no field may hold NUL, CR or LF.
            if l.contains(['\0', '\r']) {
                return Err(err(n, "control character in a line"));
            }
            let b = l.as_bytes();
            if b.len() < 2 || b[1] != b'=' || !b[0].is_ascii_lowercase() {
                return Err(err(n, "not a `x=value` line"));
            }
            let (kind, v) = (b[0] as char, &l[2..]);
            if n == 1 && kind != 'v' {
                return Err(err(n, "SDP must start with v=0"));
            }
            let in_media = !sd.media.is_empty();
            match kind {
                'v' if v == "0" && !version_seen => version_seen = true,
                'v' => return Err(err(n, "only one v=0 is allowed")),
                'o' if origin.is_none() && !in_media => origin = Some(parse_origin(v, n)?),
                's' if name.is_none() && !in_media => name = Some(v.to_string()),
                't' if !in_media => sd.times.push(v.to_string()),
                'r' | 'z' if !in_media => sd.times.push(format!("{kind}={v}")),
                'c' => {
                    let c = Connection::parse(v, n)?;
                    match sd.media.last_mut() {
                        Some(m) => m.connection = Some(c),
                        None => sd.connection = Some(c),
                    }
                }
                'm' => sd.media.push(parse_media(v, n)?),
                'a' => match sd.media.last_mut() {
                    Some(m) => m.attributes.push(parse_attr(v)),
                    None => sd.attributes.push(parse_attr(v)),
                },
                'i' | 'b' | 'k' if in_media => {
                    if let Some(m) = sd.media.last_mut() {
                        m.info.push((kind, v.to_string()));
                    }
                }
                'i' | 'u' | 'e' | 'p' | 'b' | 'k' if !in_media => {
                    sd.info.push((kind, v.to_string()))
                }
                _ => return Err(err(n, "line type not allowed here")),
            }
        }
        if !version_seen {
            return Err(SdpError::Missing('v'));
        }
        let (user, id, ver, addr, v6) = origin.ok_or(SdpError::Missing('o'))?;
        sd.origin_user = user;
        sd.session_id = id;
        sd.session_version = ver;
        sd.origin_addr = addr;
        sd.origin_ipv6 = v6;
        sd.session_name = name.ok_or(SdpError::Missing('s'))?;
        if sd
            .times
            .iter()
            .all(|t| t.starts_with("r=") || t.starts_with("z="))
        {
            return Err(SdpError::Missing('t'));
        }
        // Keep the RFC 8866 §5 order (i u e p, then b, then k) whatever order they came in,
        // so the description prints as it parsed.
        let rank = |k: char| "iuepbk".find(k).unwrap_or(6);
        sd.info.sort_by_key(|(k, _)| rank(*k));
        for m in &mut sd.media {
            m.info.sort_by_key(|(k, _)| rank(*k));
        }
        Ok(sd)
    }

    /// Writes the description, CRLF line ends.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// The connection address of media `m`, media-level first (RFC 8866 §5.7).
    pub fn connection_of(&self, m: &MediaDescription) -> Option<Connection> {
        m.connection.or(self.connection)
    }

    /// A session-level attribute, for the direction attributes that may sit there.
    pub fn has_flag(&self, name: &str) -> bool {
        self.attributes.iter().any(|a| a.name == name)
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.origin_ipv6 { "IP6" } else { "IP4" };
        write!(
            f,
            "v=0\r\no={} {} {} IN {kind} {}\r\n",
            self.origin_user, self.session_id, self.session_version, self.origin_addr
        )?;
        write!(f, "s={}\r\n", self.session_name)?;
        for (k, v) in self.info.iter().filter(|(k, _)| *k != 'b' && *k != 'k') {
            write!(f, "{k}={v}\r\n")?;
        }
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        for (k, v) in self.info.iter().filter(|(k, _)| *k == 'b') {
            write!(f, "{k}={v}\r\n")?;
        }
        for t in &self.times {
            if t.starts_with("r=") || t.starts_with("z=") {
                write!(f, "{t}\r\n")?;
            } else {
                write!(f, "t={t}\r\n")?;
            }
        }
        for (k, v) in self.info.iter().filter(|(k, _)| *k == 'k') {
            write!(f, "{k}={v}\r\n")?;
        }
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        for m in &self.media {
            write!(f, "m={} {}", m.media, m.port)?;
            if let Some(c) = m.port_count {
                write!(f, "/{c}")?;
            }
            write!(f, " {} {}\r\n", m.proto, m.formats.join(" "))?;
            for (k, v) in m.info.iter().filter(|(k, _)| *k == 'i') {
                write!(f, "{k}={v}\r\n")?;
            }
            if let Some(c) = &m.connection {
                write!(f, "c={c}\r\n")?;
            }
            for (k, v) in m.info.iter().filter(|(k, _)| *k != 'i') {
                write!(f, "{k}={v}\r\n")?;
            }
            for a in &m.attributes {
                write!(f, "a={a}\r\n")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3264 §10.1, the first offer of the examples (addresses as printed there).
    pub(super) const ALICE: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r\ns=\r\nc=IN IP4 host.atlanta.example.com\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 97\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:97 iLBC/8000\r\nm=video 51372 RTP/AVP 31 32\r\na=rtpmap:31 H261/90000\r\na=rtpmap:32 MPV/90000\r\n";

    #[test]
    fn parses_and_prints_back() {
        let text = ALICE.replace("host.atlanta.example.com", "192.0.2.10");
        let sd = SessionDescription::parse(text.as_bytes()).expect("valid");
        assert_eq!(sd.media.len(), 2);
        assert_eq!(sd.media[0].formats, ["0", "8", "97"]);
        assert_eq!(sd.media[0].rtpmap(97), Some(("iLBC".to_string(), 8000)));
        assert_eq!(
            sd.connection_of(&sd.media[1])
                .map(|c| c.addr.to_string())
                .as_deref(),
            Some("192.0.2.10")
        );
        let again = SessionDescription::parse(&sd.to_bytes()).expect("re-parses");
        assert_eq!(again, sd);
        assert_eq!(sd.to_string(), text);
    }

    #[test]
    fn rejects_what_is_malformed() {
        for bad in [
            "",
            "o=x 1 1 IN IP4 192.0.2.1\r\n",
            "v=0\r\no=x 1 1 IN IP4 192.0.2.1\r\ns=-\r\n",
            "v=0\r\no=x 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 99999 RTP/AVP 0\r\n",
            "v=0\r\no=x 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP\r\n",
            "v=0\r\no=x 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nc=IN IP6 192.0.2.1\r\n",
            "v=0\r\no=x 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nZ=1\r\n",
            "v=0\r\no=x 1 1 IN IP4 host.example\r\ns=-\r\nc=IN IP4 host.example\r\nt=0 0\r\n",
        ] {
            assert!(
                SessionDescription::parse(bad.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(
            SessionDescription::parse(&[0xff, 0xfe]),
            Err(SdpError::NotUtf8)
        );
        let nul = "v=0\r\no=x 1 1 IN IP4 192.0.2.1\r\ns=a\0b\r\nt=0 0\r\n";
        assert!(SessionDescription::parse(nul.as_bytes()).is_err());
    }

    #[test]
    fn lines_out_of_order_print_in_rfc_order_and_reparse_equal() {
        // Found by the fuzzer: b= before i= inside a media section.
        let text = "v=0\r\no=x 1 1 IN IP4 192.0.2.1\r\ns=-\r\nb=AS:64\r\ni=session\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nb=AS:64\r\ni=voice\r\n";
        let sd = SessionDescription::parse(text.as_bytes()).expect("lenient about order");
        assert_eq!(
            SessionDescription::parse(&sd.to_bytes()).expect("reparses"),
            sd
        );
        assert!(sd
            .to_string()
            .contains("m=audio 4000 RTP/AVP 0\r\ni=voice\r\nb=AS:64\r\n"));
    }
}
