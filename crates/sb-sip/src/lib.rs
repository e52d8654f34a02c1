//! Sans-IO SIP for Switchboard: the RFC 3261 §17 transaction machines with their timer
//! table, dialogs (§12), digest authentication (RFC 7616/8760), the registrar (§10) and the
//! guard against password guessing, tied together by the [`Endpoint`]. Nothing here reads
//! a clock, a socket or an RNG: every input comes with `now`, and the key for tags,
//! branches and nonces is given at construction.
//!
//! Driving it:
//!
//! ```text
//! let mut ep = Endpoint::new(EndpointConfig::new("hospital", local_addr), key, now);
//! ep.handle_datagram(now, bytes, Peer::udp(from));    // or handle_message, handle_timeout
//! while let Some((peer, bytes)) = ep.poll_transmit() { /* send */ }
//! while let Some(event) = ep.poll_event() { /* Request, DialogRequest, Registered, ... */ }
//! let wake = ep.poll_timeout();                        // when to call handle_timeout
//! ```

#![warn(missing_docs)]

pub mod client_registration;
pub mod counters;
pub mod dialog;
pub mod digest;
pub mod endpoint;
pub mod guard;
pub mod ids;
pub mod peer;
pub mod registrar;
mod reliable;
pub mod session_timer;
pub mod timer;
pub mod transaction;
pub mod trunk;

pub use endpoint::{
    Credentials, Endpoint, EndpointConfig, Event, Origin, OutgoingCall, SecurityKind,
};
pub use peer::{Peer, TransportKind};
pub use timer::{TimerName, TimerSettings};
