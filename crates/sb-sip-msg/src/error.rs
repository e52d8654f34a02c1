//! Errors of the facade. A [`Rejection`] carries what the endpoint needs to answer a malformed
//! request (RFC 3261 §8.2: a UAS answers 400 where it can) or to drop a malformed response.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    #[error("empty message")]
    Empty,
    #[error("start line or headers are not UTF-8")]
    NotUtf8,
    #[error("malformed start line: {0}")]
    StartLine(&'static str),
    #[error("unsupported SIP version {0:?}")]
    Version(String),
    #[error("malformed header line {0}")]
    HeaderLine(usize),
    #[error("bad {name} header: {why}")]
    BadHeader {
        name: &'static str,
        why: &'static str,
    },
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("more than one {0} header")]
    Duplicate(&'static str),
    #[error("CSeq method does not match the request method")]
    CSeqMismatch,
    #[error("framing error: {0}")]
    Framing(&'static str),
    #[error("bad status code")]
    Status,
    #[error("bad URI: {0}")]
    Uri(&'static str),
}

impl ParseError {
    pub(crate) fn header(name: &'static str, why: &'static str) -> Self {
        ParseError::BadHeader { name, why }
    }
}

/// The raw text of the headers a response must echo (RFC 3261 §8.2.6.2), kept when the
/// message as a whole failed to parse so a 400 can still be addressed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Echo {
    pub via: Vec<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub call_id: Option<String>,
    pub cseq: Option<String>,
}

impl Echo {
    /// A response can be routed only along a Via; the other headers are copied when present
    /// (RFC 4475 §3.1.2.1 asks for a 400 even when From, To and Call-ID are missing).
    pub fn is_answerable(&self) -> bool {
        !self.via.is_empty()
    }
}

/// Why a message was not accepted and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{error}")]
pub struct Rejection {
    pub error: ParseError,
    /// Whether the message looked like a request: malformed responses are dropped silently
    /// (RFC 4475 §3.1.2.17, §3.1.2.19).
    pub is_request: bool,
    /// The status to answer with (400, or 505 for an unsupported version).
    pub status: u16,
    pub echo: Box<Echo>,
}
