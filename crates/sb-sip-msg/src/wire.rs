//! The wire pre-pass: message framing on datagrams and streams, line splitting, header
//! unfolding and compact-name expansion. Nothing here understands header grammar.

use crate::error::{ParseError, Rejection};
use crate::header::HeaderName;
use crate::message::Message;
use crate::method::is_token;
use crate::params::is_lws;
use std::borrow::Cow;

/// Upper bound on the start line plus headers of one message.
pub const MAX_HEAD: usize = 64 * 1024;
/// Upper bound on one message body on a stream (a datagram is bounded by its own size).
pub const MAX_BODY: usize = 1024 * 1024;

type RawHeaders<'a> = Vec<(HeaderName, Cow<'a, str>)>;

/// A message split into its parts, headers unfolded and names canonical.
pub(crate) struct RawMessage<'a> {
    pub start: &'a str,
    pub headers: RawHeaders<'a>,
    pub body: &'a [u8],
}

/// Position of the blank line ending the head: (end of head, start of body).
fn head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    let lf = buf
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn skip_leading_crlf(buf: &[u8]) -> &[u8] {
    let n = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    &buf[n..]
}

/// Parses the head (start line and header lines) of a message.
fn split_head(head: &str) -> Result<(&str, RawHeaders<'_>), ParseError> {
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = lines.next().ok_or(ParseError::Empty)?;
    let mut headers: RawHeaders<'_> = Vec::with_capacity(16);
    for (n, line) in lines.enumerate() {
        if line.starts_with(is_lws) {
            // A continuation line (RFC 3261 §7.3.1): its LWS folds into one space.
            let (_, value) = headers.last_mut().ok_or(ParseError::HeaderLine(n + 2))?;
            let v = value.to_mut();
            v.push(' ');
            v.push_str(line.trim_matches(is_lws));
            continue;
        }
        let (name, value) = line.split_once(':').ok_or(ParseError::HeaderLine(n + 2))?;
        let name = name.trim_end_matches(is_lws);
        if !is_token(name) {
            return Err(ParseError::HeaderLine(n + 2));
        }
        headers.push((
            HeaderName::new(name),
            Cow::Borrowed(value.trim_matches(is_lws)),
        ));
    }
    for (_, v) in headers.iter_mut() {
        if let Cow::Owned(s) = v {
            let trimmed = s.trim_matches(is_lws);
            if trimmed.len() != s.len() {
                *s = trimmed.to_string();
            }
        }
    }
    Ok((start, headers))
}

fn content_length(headers: &[(HeaderName, Cow<'_, str>)]) -> Result<Option<usize>, ParseError> {
    let mut found = None;
    for (name, value) in headers {
        if name.is("Content-Length") {
            if found.is_some() {
                return Err(ParseError::Framing("more than one Content-Length"));
            }
            if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::Framing("bad Content-Length"));
            }
            // Ten digits or fewer always fit in u64; the bound below keeps it in usize.
            let n: u64 = value
                .parse()
                .map_err(|_| ParseError::Framing("bad Content-Length"))?;
            found =
                Some(usize::try_from(n).map_err(|_| ParseError::Framing("bad Content-Length"))?);
        }
    }
    Ok(found)
}

/// Splits one message out of `buf`. On a datagram a missing Content-Length means the rest of
/// the datagram, and bytes past Content-Length are ignored (RFC 3261 §18.3, RFC 4475 §3.1.1.12).
pub(crate) fn split(buf: &[u8], datagram: bool) -> Result<RawMessage<'_>, ParseError> {
    let buf = skip_leading_crlf(buf);
    if buf.is_empty() {
        return Err(ParseError::Empty);
    }
    let (end, body_start) = head_end(buf).unwrap_or((buf.len(), buf.len()));
    if end > MAX_HEAD {
        return Err(ParseError::Framing("headers too large"));
    }
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| ParseError::NotUtf8)?;
    let (start, headers) = split_head(head)?;
    let rest = &buf[body_start..];
    let body = match content_length(&headers)? {
        Some(n) if n <= rest.len() => &rest[..n],
        Some(_) => return Err(ParseError::Framing("Content-Length exceeds the message")),
        None if datagram => rest,
        None => return Err(ParseError::Framing("no Content-Length on a stream")),
    };
    Ok(RawMessage {
        start,
        headers,
        body,
    })
}

/// Parses one UDP datagram. `Ok(None)` is a keep-alive (only CRLFs, RFC 5626 §3.5.1).
pub fn parse_datagram(buf: &[u8]) -> Result<Option<Message>, Rejection> {
    if skip_leading_crlf(buf).is_empty() {
        return Ok(None);
    }
    Message::parse(buf, true).map(Some)
}

/// What a stream transport yields.
#[derive(Debug, PartialEq, Eq)]
pub enum Framing {
    /// One complete message's bytes, to be handed to [`Message::parse_framed`].
    Message(Vec<u8>),
    /// A CRLFCRLF ping (RFC 5626 §3.5.1): answer with a CRLF pong.
    Ping,
}

/// Cuts a TCP byte stream into messages by Content-Length (RFC 3261 §18.3). A framing error
/// is fatal for the connection: the stream cannot be resynchronised.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
}

impl StreamFramer {
    /// Bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes not yet framed into a message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next message (or keep-alive) in the stream, if it is all there.
    pub fn next_message(&mut self) -> Result<Option<Framing>, ParseError> {
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.drain(..4);
            return Ok(Some(Framing::Ping));
        }
        let lead = self
            .buf
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        if lead == self.buf.len() {
            // Only line ends so far: wait to see whether a ping completes.
            if lead > 4 {
                self.buf.drain(..lead - 4);
            }
            return Ok(None);
        }
        if lead > 0 {
            self.buf.drain(..lead);
        }
        let Some((end, body_start)) = head_end(&self.buf) else {
            if self.buf.len() > MAX_HEAD {
                return Err(ParseError::Framing("headers too large"));
            }
            return Ok(None);
        };
        if end > MAX_HEAD {
            return Err(ParseError::Framing("headers too large"));
        }
        let head = std::str::from_utf8(&self.buf[..end]).map_err(|_| ParseError::NotUtf8)?;
        let (_, headers) = split_head(head)?;
        let len = content_length(&headers)?
            .ok_or(ParseError::Framing("no Content-Length on a stream"))?;
        if len > MAX_BODY {
            return Err(ParseError::Framing("body too large"));
        }
        if self.buf.len() < body_start + len {
            return Ok(None);
        }
        let msg: Vec<u8> = self.buf.drain(..body_start + len).collect();
        Ok(Some(Framing::Message(msg)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_framing() {
        let mut f = StreamFramer::default();
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabc";
        f.push(b"\r\n\r\n");
        f.push(&msg[..10]);
        assert_eq!(f.next_message().unwrap(), Some(Framing::Ping));
        assert_eq!(f.next_message().unwrap(), None);
        f.push(&msg[10..]);
        f.push(msg);
        assert_eq!(
            f.next_message().unwrap(),
            Some(Framing::Message(msg.to_vec()))
        );
        assert_eq!(
            f.next_message().unwrap(),
            Some(Framing::Message(msg.to_vec()))
        );
        assert_eq!(f.next_message().unwrap(), None);
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n");
        assert!(f.next_message().is_err());
    }
}
