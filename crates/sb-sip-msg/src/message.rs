//! Requests and responses with their mandatory headers checked and typed (RFC 3261 §8.1.1,
//! §20). A `Message` that exists is well-formed enough for every layer above.

use crate::error::{Echo, ParseError, Rejection};
use crate::header::{Header, Headers};
use crate::method::{is_token, Method};
use crate::name_addr::NameAddr;
use crate::params::is_lws;
use crate::uri::Uri;
use crate::via::Via;
use crate::wire::{split, RawMessage};
use std::fmt::Write as _;

/// CSeq: a sequence number and the method (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number.
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Reads a CSeq value.
    pub fn parse(s: &str) -> Result<CSeq, ParseError> {
        let bad = |why| ParseError::header("CSeq", why);
        let mut it = s.split(is_lws).filter(|p| !p.is_empty());
        let num = it.next().ok_or(bad("empty"))?;
        let method = it.next().ok_or(bad("no method"))?;
        if it.next().is_some() {
            return Err(bad("junk after method"));
        }
        if num.len() > 10 || !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("bad sequence number"));
        }
        let seq: u64 = num.parse().map_err(|_| bad("bad sequence number"))?;
        // RFC 3261 §8.1.1.5: the sequence number MUST be less than 2**31.
        if seq >= 1 << 31 {
            return Err(bad("sequence number too large"));
        }
        let method = Method::parse(method).ok_or(bad("bad method"))?;
        Ok(CSeq {
            seq: seq as u32,
            method,
        })
    }
}

impl std::fmt::Display for CSeq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// The headers every transaction and dialog needs, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Core {
    /// The Via headers, top first.
    pub via: Vec<Via>,
    /// From.
    pub from: NameAddr,
    /// To.
    pub to: NameAddr,
    /// Call-ID.
    pub call_id: String,
    /// CSeq.
    pub cseq: CSeq,
    /// Max-Forwards, when present.
    pub max_forwards: Option<u32>,
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// The headers every layer needs, typed.
    pub core: Core,
    /// Every other header, in the order received; Content-Length is derived from the body.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The headers every layer needs, typed.
    pub core: Core,
    /// The other headers.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

enum Start<'a> {
    Request(Method, Uri),
    Response(u16, &'a str),
}

fn parse_start(line: &str) -> Result<Start<'_>, ParseError> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        let (version, rest) = rest
            .split_once(' ')
            .ok_or(ParseError::StartLine("no status"))?;
        if version != "2.0" {
            return Err(ParseError::Version(version.to_string()));
        }
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::Status);
        }
        let code: u16 = code.parse().map_err(|_| ParseError::Status)?;
        if !(100..=699).contains(&code) || reason.chars().any(|c| c.is_control() && c != '\t') {
            return Err(ParseError::Status);
        }
        return Ok(Start::Response(code, reason));
    }
    // Request-Line = Method SP Request-URI SP SIP-Version: single spaces, nothing around.
    let (method, rest) = line
        .split_once(' ')
        .ok_or(ParseError::StartLine("no Request-URI"))?;
    let (uri, version) = rest
        .rsplit_once(' ')
        .ok_or(ParseError::StartLine("no version"))?;
    let method = Method::parse(method).ok_or(ParseError::StartLine("bad method"))?;
    match version.strip_prefix("SIP/") {
        Some("2.0") => {}
        Some(v) if !v.is_empty() && !v.contains(is_lws) => {
            return Err(ParseError::Version(v.to_string()))
        }
        _ => return Err(ParseError::StartLine("bad version")),
    }
    if uri.is_empty() || uri.contains(char::is_whitespace) {
        return Err(ParseError::StartLine("whitespace in Request-URI"));
    }
    let uri = Uri::parse(uri)?;
    if uri.as_sip().is_some_and(|u| u.headers.is_some()) {
        // RFC 3261 §19.1.5: headers are not allowed in a Request-URI.
        return Err(ParseError::Uri("headers in Request-URI"));
    }
    Ok(Start::Request(method, uri))
}

fn once<T>(slot: &mut Option<T>, name: &'static str, v: T) -> Result<(), ParseError> {
    if slot.replace(v).is_some() {
        return Err(ParseError::Duplicate(name));
    }
    Ok(())
}

fn core_and_rest(raw: &RawMessage<'_>) -> Result<(Core, Headers), ParseError> {
    let mut via = Vec::new();
    let (mut from, mut to, mut call_id, mut cseq, mut mf) = (None, None, None, None, None);
    let mut rest = Headers(Vec::with_capacity(raw.headers.len()));
    for (name, value) in &raw.headers {
        match name.as_str() {
            "Via" => via.extend(Via::parse_list(value)?),
            "From" => once(&mut from, "From", NameAddr::parse(value)?)?,
            "To" => once(&mut to, "To", NameAddr::parse(value)?)?,
            "Call-ID" => {
                if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(ParseError::header("Call-ID", "bad value"));
                }
                once(&mut call_id, "Call-ID", value.to_string())?
            }
            "CSeq" => once(&mut cseq, "CSeq", CSeq::parse(value)?)?,
            "Max-Forwards" => {
                let n = (value.len() <= 9 && !value.is_empty())
                    .then(|| value.parse::<u32>().ok())
                    .flatten()
                    .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or(ParseError::header("Max-Forwards", "not a number"))?;
                once(&mut mf, "Max-Forwards", n)?
            }
            "Content-Length" => {}
            "Content-Type" if rest.get("Content-Type").is_some() => {
                return Err(ParseError::Duplicate("Content-Type"))
            }
            _ => rest.0.push(Header {
                name: name.clone(),
                value: value.to_string(),
            }),
        }
    }
    if via.is_empty() {
        return Err(ParseError::Missing("Via"));
    }
    let core = Core {
        via,
        from: from.ok_or(ParseError::Missing("From"))?,
        to: to.ok_or(ParseError::Missing("To"))?,
        call_id: call_id.ok_or(ParseError::Missing("Call-ID"))?,
        cseq: cseq.ok_or(ParseError::Missing("CSeq"))?,
        max_forwards: mf,
    };
    Ok((core, rest))
}

impl Message {
    /// Parses a datagram (`datagram = true`) or one message framed off a stream.
    pub fn parse(buf: &[u8], datagram: bool) -> Result<Message, Rejection> {
        Self::parse_inner(buf, datagram).map_err(|error| reject(buf, error))
    }

    /// Parses one message framed off a stream.
    pub fn parse_framed(buf: &[u8]) -> Result<Message, Rejection> {
        Self::parse(buf, false)
    }

    fn parse_inner(buf: &[u8], datagram: bool) -> Result<Message, ParseError> {
        let raw = split(buf, datagram)?;
        let start = parse_start(raw.start)?;
        let (core, headers) = core_and_rest(&raw)?;
        let body = raw.body.to_vec();
        Ok(match start {
            Start::Request(method, uri) => {
                if core.cseq.method != method {
                    return Err(ParseError::CSeqMismatch);
                }
                Message::Request(Request {
                    method,
                    uri,
                    core,
                    headers,
                    body,
                })
            }
            Start::Response(status, reason) => Message::Response(Response {
                status,
                reason: reason.to_string(),
                core,
                headers,
                body,
            }),
        })
    }

    /// Its typed core headers.
    pub fn core(&self) -> &Core {
        match self {
            Message::Request(r) => &r.core,
            Message::Response(r) => &r.core,
        }
    }

    /// The message on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}

/// A best-effort scan of the raw head for the headers a 400 must echo.
fn reject(buf: &[u8], error: ParseError) -> Rejection {
    let text = String::from_utf8_lossy(buf);
    let text = text.trim_start_matches(['\r', '\n']);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let is_request = !head.starts_with("SIP/");
    let mut echo = Echo::default();
    let mut lines: Vec<String> = Vec::new();
    for line in head.split("\r\n").skip(1) {
        match lines.last_mut() {
            Some(prev) if line.starts_with(is_lws) => {
                prev.push(' ');
                prev.push_str(line.trim_matches(is_lws));
            }
            _ => lines.push(line.to_string()),
        }
    }
    for line in &lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim_end_matches(is_lws);
        if !is_token(name) {
            continue;
        }
        let value = value.trim_matches(is_lws).to_string();
        match crate::header::HeaderName::new(name).as_str() {
            "Via" => echo.via.push(value),
            "From" => echo.from = echo.from.or(Some(value)),
            "To" => echo.to = echo.to.or(Some(value)),
            "Call-ID" => echo.call_id = echo.call_id.or(Some(value)),
            "CSeq" => echo.cseq = echo.cseq.or(Some(value)),
            _ => {}
        }
    }
    let status = if matches!(error, ParseError::Version(_)) {
        505
    } else {
        400
    };
    Rejection {
        error,
        is_request,
        status,
        echo: Box::new(echo),
    }
}

fn write_common(out: &mut String, core: &Core, headers: &Headers, body_len: usize) {
    // Writing to a String cannot fail.
    for v in &core.via {
        let _ = write!(out, "Via: {v}\r\n");
    }
    let _ = write!(out, "From: {}\r\nTo: {}\r\n", core.from, core.to);
    let _ = write!(out, "Call-ID: {}\r\nCSeq: {}\r\n", core.call_id, core.cseq);
    if let Some(mf) = core.max_forwards {
        let _ = write!(out, "Max-Forwards: {mf}\r\n");
    }
    for h in &headers.0 {
        let _ = write!(out, "{}: {}\r\n", h.name, h.value);
    }
    let _ = write!(out, "Content-Length: {body_len}\r\n\r\n");
}

impl Request {
    /// The request on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512 + self.headers.0.len() * 32);
        let _ = write!(out, "{} {} SIP/2.0\r\n", self.method, self.uri);
        write_common(&mut out, &self.core, &self.headers, self.body.len());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// The top Via (every request has one).
    pub fn top_via(&self) -> &Via {
        // A Request always has at least one Via: core_and_rest refuses it otherwise.
        &self.core.via[0]
    }

    /// The top Via, to change (received, rport).
    pub fn top_via_mut(&mut self) -> &mut Via {
        // As above: parsing guarantees a Via; builders always push one.
        &mut self.core.via[0]
    }
}

impl Response {
    /// The response on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512 + self.headers.0.len() * 32);
        let _ = write!(out, "SIP/2.0 {} {}\r\n", self.status, self.reason);
        write_common(&mut out, &self.core, &self.headers, self.body.len());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// The top Via (every response has one).
    pub fn top_via(&self) -> &Via {
        // A Response always has at least one Via: core_and_rest refuses it otherwise.
        &self.core.via[0]
    }
}
