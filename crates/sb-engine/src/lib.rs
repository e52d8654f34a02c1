//! The engine: the B2BUA that ties calls, the IVR, the ACD and media together, sans-IO.
//!
//! [`Engine`] is a router over calls (like quinn's endpoint over its connections): it owns
//! the SIP endpoint, the ACD and the calls, finds the call each input belongs to, and
//! carries out what the call asks. A [`Call`] owns its legs (the caller's, and those the
//! switchboard calls out on: an offer to an agent, a transfer target, a consulted
//! colleague, the extension dialled) and all the behaviour of a call, as a state machine
//! whose states hold what is valid in them. Nothing here reads a clock, sleeps, draws
//! randomness or touches a socket: the runtime (`sb-runtime`) or a test (`sb-testkit`)
//! passes the time in and carries the outputs out.
//!
//! Driving it, as the runtime does each turn:
//!
//! ```text
//! engine.handle_datagram(now, bytes, peer);        // SIP in
//! engine.handle_rtp(now, port, from, bytes);       // RTP in
//! engine.handle_timeout(now);                      // when poll_timeout() is due
//! while let Some((peer, bytes)) = engine.poll_transmit() { /* send SIP */ }
//! while let Some(req) = engine.poll_media() { /* open or close a port, then handle_port */ }
//! engine.drain_rtp(|pkt| /* send RTP */ ());
//! while let Some(ev) = engine.poll_event() { /* log, stream, record */ }
//! ```

#![warn(missing_docs)]

pub mod assets;
mod call;
mod callbacks;
mod config;
mod control;
mod event;
mod idmap;
mod index;
pub mod metrics;
mod overload;
mod router;
mod rtp_out;
pub mod trunk;

pub use assets::{engine_prompts, Assets};
pub use call::features::FeatureCodes;
pub use call::leg::{LegId, LegRef};
pub use call::{Call, CallTimer};
pub use config::{CallbackRules, EngineConfig, OutsideConfig};
pub use control::{
    AgentCommand, CallAction, ControlError, LiveCall, LiveConsult, Presence, WallClock,
};
pub use event::{EngineEvent, Outside};
pub use router::{Engine, MediaRequest, Wake};
pub use rtp_out::{RtpOut, RtpQueue, RTP_MAX};
pub use sb_types::vocab::{Control, Side};
pub use sb_types::CallId;
