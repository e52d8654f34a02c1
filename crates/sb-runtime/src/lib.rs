//! The runtime: the only place that touches sockets, the clock and the OS's randomness.
//! [`build`] (the composition root) makes a [`Switchboard`] from a validated configuration:
//! it reads the clocks and the RNG once, binds the sockets, and wires the endpoint, the ACD,
//! the engine, the call records and the control API together. [`Switchboard::run`] then
//! turns the loop: one task owns the sans-IO engine, reads the clock once per turn, feeds
//! it what arrived, sends what it asks for and sleeps until its next deadline.
//!
//! ```text
//! let switchboard = sb_runtime::build(&model, assets).await?;
//! switchboard.run(stop_signals).await?;    // returns after a graceful stop
//! ```
#![allow(
    clippy::disallowed_methods,
    reason = "the runtime is where the clock, sleeps and the OS's randomness enter"
)]

mod build;
mod core;
mod log;
/// The media sockets; public for the bridged-call benchmark's bare relay
/// (`examples/bare_relay.rs`), which runs them with no engine behind.
pub mod media;
mod records;
mod tcp;

pub use crate::build::{build, BuildError, Switchboard};
pub use crate::core::{Server, StopSignals};
pub use crate::records::Records;

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot bind SIP on {addr} ({proto}): {source}")]
    Bind {
        addr: SocketAddr,
        proto: &'static str,
        source: std::io::Error,
    },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// 32 bytes from the operating system's RNG, the key of tags, branches and nonces.
pub fn os_random_key() -> std::io::Result<[u8; 32]> {
    use std::io::Read;
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    Ok(key)
}
