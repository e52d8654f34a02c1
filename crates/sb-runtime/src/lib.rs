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

use sb_config::Model;
use sb_sip::registrar::RegistrarSettings;
use sb_sip::{EndpointConfig, TimerSettings};
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

/// The endpoint's settings from the validated configuration.
pub fn endpoint_config(m: &Model, local_addr: SocketAddr) -> EndpointConfig {
    let mut cfg = EndpointConfig::new(&m.realm, local_addr);
    cfg.users = m
        .extensions
        .iter()
        .map(|e| (e.number.clone(), e.password.clone()))
        .collect();
    cfg.registrar = RegistrarSettings {
        default_expires: m.registrar.default_expires,
        min_expires: m.registrar.min_expires,
        max_expires: m.registrar.max_expires,
        max_contacts: m.registrar.max_contacts,
    };
    cfg.timers = TimerSettings {
        t1: m.t1,
        t2: m.t2,
        t4: m.t4,
    };
    cfg.qualify_interval = m.qualify_interval;
    cfg.nonce_lifetime = m.nonce_lifetime;
    cfg.guard = sb_sip::guard::GuardSettings {
        user_failures: m.security.max_user_failures,
        address_failures: m.security.max_address_failures,
        window: m.security.failure_window,
        ban: m.security.ban,
    };
    cfg.digest_algorithms = m
        .digest_algorithms
        .iter()
        .filter_map(|a| sb_sip::digest::Algorithm::parse(Some(a)))
        .collect();
    cfg.user_agent = format!("Switchboard/{}", env!("CARGO_PKG_VERSION"));
    cfg
}

/// 32 bytes from the operating system's RNG, the key of tags, branches and nonces.
pub fn os_random_key() -> std::io::Result<[u8; 32]> {
    use std::io::Read;
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    Ok(key)
}
