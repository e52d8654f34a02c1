//! Errors of the facade. A [`Rejection`] carries what the endpoint needs to answer a malformed
//! request (RFC 3261 §8.2: a UAS answers 400 where it can) or to drop a malformed response.

use thiserror::Error;

/// Why a message could not be parsed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but whitespace.
    #[error("empty message")]
    Empty,
    /// The start line or the headers are not UTF-8.
    #[error("start line or headers are not UTF-8")]
    NotUtf8,
    /// The request or status line does not parse.
    #[error("malformed start line: {0}")]
    StartLine(&'static str),
    /// A SIP version other than 2.0.
    #[error("unsupported SIP version {0:?}")]
    Version(String),
    /// A header line without a colon (its number).
    #[error("malformed header line {0}")]
    HeaderLine(usize),
    /// A header whose value does not parse.
    #[error("bad {name} header: {why}")]
    BadHeader {
        /// The header.
        name: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// A mandatory header is missing.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// A header that must appear once appears more.
    #[error("more than one {0} header")]
    Duplicate(&'static str),
    /// The CSeq method is not the request method.
    #[error("CSeq method does not match the request method")]
    CSeqMismatch,
    /// Content-Length does not frame the message.
    #[error("framing error: {0}")]
    Framing(&'static str),
    /// The status code is not three digits from 100 to 699.
    #[error("bad status code")]
    Status,
    /// The Request-URI does not parse.
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
    /// Every Via value, in order.
    pub via: Vec<String>,
    /// The From value.
    pub from: Option<String>,
    /// The To value.
    pub to: Option<String>,
    /// The Call-ID value.
    pub call_id: Option<String>,
    /// The CSeq value.
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
    /// What was wrong.
    pub error: ParseError,
    /// Whether the message looked like a request: malformed responses are dropped silently
    /// (RFC 4475 §3.1.2.17, §3.1.2.19).
    pub is_request: bool,
    /// The status to answer with (400, or 505 for an unsupported version).
    pub status: u16,
    /// What a 400 needs to be addressed.
    pub echo: Box<Echo>,
}
