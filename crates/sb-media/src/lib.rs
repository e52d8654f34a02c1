//! Sans-IO media for Switchboard: SDP offer/answer (RFC 3264, RFC 8866), G.711, RTP
//! sessions with receiver statistics. Nothing here touches a socket or a clock.

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
