//! Sans-IO media for Switchboard: SDP offer/answer (RFC 3264, RFC 8866) and G.711.
//! Nothing here touches a socket or a clock.

pub mod g711;
pub mod negotiate;
pub mod sdp;

pub use negotiate::{answer, Codec, Direction, LocalMedia, Negotiated, OfferError};
pub use sdp::{Attribute, Connection, MediaDescription, SdpError, SessionDescription};
