//! Sans-IO media for Switchboard: SDP offer/answer (RFC 3264, RFC 8866), G.711, RTP
//! sessions with receiver statistics and the rules for learning a phone's address behind
//! NAT, DTMF from RFC 4733, SIP INFO and in-band tones, prompts and playlists. Nothing here
//! touches a socket or a clock: the engine owns one [`RtpSession`] per leg and hands it
//! each packet with `now` (`on_packet`), and asks it to write each packet it sends
//! (`write_packet`, `write_relayed`) into a buffer it provides.

#![warn(missing_docs)]

pub mod dtmf;
pub mod g711;
pub mod goertzel;
pub mod negotiate;
pub mod prompt;
pub mod rtp;
pub mod sdp;
pub mod stats;

pub use negotiate::{answer, Codec, Direction, LocalMedia, Negotiated, OfferError};
pub use rtp::RtpSession;
pub use sdp::{Attribute, Connection, MediaDescription, SdpError, SessionDescription};
