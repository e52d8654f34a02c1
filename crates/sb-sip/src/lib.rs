//! Sans-IO SIP for Switchboard: the RFC 3261 §17 transaction machines with their timer
//! table, dialogs (§12), digest authentication (RFC 7616/8760) and the registrar (§10).
//! Nothing here reads a clock, a socket or an RNG: every input comes with `now`.

pub mod dialog;
pub mod digest;
pub mod endpoint;
pub mod guard;
pub mod ids;
pub mod peer;
pub mod registrar;
pub mod timer;
pub mod transaction;

pub use endpoint::{Endpoint, EndpointConfig, Event, OutgoingCall, SecurityKind};
pub use peer::{Peer, TransportKind};
pub use timer::{TimerName, TimerSettings};
