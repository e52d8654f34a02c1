//! The composition root: from a validated configuration to a switchboard ready to run. This
//! is the one place that reads the clock and the operating system's randomness to start
//! with, binds the sockets, and wires the endpoint, the ACD, the engine, the call records
//! and the control API together; everything it builds is handed its time and seeds from
//! here.

use crate::core::{media_address, Server, StopSignals};
use crate::media::MediaPorts;
use crate::records::Records;
use crate::{os_random_key, RuntimeError};
use sb_config::Model;
use sb_engine::{Assets, Engine, EngineConfig};
use sb_media::negotiate::Codec;
use sb_sip::Endpoint;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Why the switchboard could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("call records: {0}")]
    Store(#[from] sb_store::StoreError),
    #[error("cannot bind the control API on {addr}: {source}")]
    Api {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A switchboard built and bound, not yet running.
pub struct Switchboard {
    server: Server,
    api: SocketAddr,
}

impl Switchboard {
    /// Where SIP listens (UDP and TCP).
    pub fn sip_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Where the control API listens.
    pub fn api_addr(&self) -> SocketAddr {
        self.api
    }

    /// Runs until stopped (see [`Server::run`]).
    pub async fn run(self, stops: StopSignals) -> Result<(), RuntimeError> {
        self.server.run(stops).await
    }
}

/// Builds the switchboard of `model` with its dialplans and prompts: binds SIP, opens the
/// call records (replaying what the journal kept), starts the control API.
pub async fn build(model: &Model, assets: Assets) -> Result<Switchboard, BuildError> {
    // The one read of each clock and of the RNG at start: everything downstream runs on
    // `Instant`s from `now`, with the wall clock at `now` for opening hours and records.
    let now = Instant::now();
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    // `ivr.clock_start` sets the dialplans' clock for a drill; records keep real time.
    let wall = model.clock_start.unwrap_or((unix_ms / 1000) as i64);
    let key = os_random_key().map_err(RuntimeError::Io)?;
    let seed = u64::from_le_bytes(key[..8].try_into().unwrap_or([7; 8])) ^ 0x5EED;

    let sockets = Server::bind_sip(model.sip_listen).await?;
    let local = sockets.2;
    let sip = Endpoint::new(sb_config::build::endpoint(model, local), key, now);
    let media_ip = media_address(local.ip());
    let cfg = EngineConfig {
        media_ip,
        default_language: model.default_language.clone(),
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        origin: now,
        wall_at_origin: wall,
        overload_lag: model.overload_lag,
        features: model.features.clone(),
        transfer_ring: model.transfer_ring,
        roster: model.on_duty.clone(),
        roster_number: model.roster_number.clone(),
        queue_numbers: model.queue_numbers(),
        outside: sb_config::build::outside(model),
        callbacks: model.callbacks.clone(),
        survey_queues: model.survey_queues(),
    };
    let acd = sb_config::build::acd(model, now);
    let engine = Engine::new(sip, Arc::new(assets), cfg, acd, seed);
    let bind_ip = if local.ip().is_unspecified() {
        local.ip()
    } else {
        media_ip
    };
    let media = MediaPorts::new(
        bind_ip,
        model.rtp_ports.clone(),
        seed.rotate_left(17) ^ 0x9047,
    )
    .map_err(RuntimeError::Io)?;

    // Call records: this run's name is its start in Unix milliseconds.
    let run = format!("{unix_ms:013}");
    let store = sb_store::Store::start(sb_store::StoreSettings {
        path: model.store_path.clone(),
        journal: model.store_journal.clone(),
        capacity: model.store_queue_capacity,
        run: run.clone(),
        thresholds: sb_store::rollup::Thresholds {
            short_abandon_ms: model.reports.short_abandon.as_millis() as i64,
            sla_ms: model.sla_threshold().as_millis() as i64,
        },
    })?;
    let rec = store.recovery();
    tracing::info!(
        path = %model.store_path.display(),
        replayed = rec.replayed,
        torn = rec.torn,
        interrupted = rec.interrupted,
        "call record store open"
    );
    let recorder = sb_records::Recorder::new(sb_config::build::recorder(model, &run));

    // The control API, on its own thread, and what links it to the engine's loop.
    let (control, control_rx) = sb_api::control::channel();
    let events = sb_api::events::channel();
    let api = sb_api::http::spawn(sb_api::http::ApiSettings {
        listen: model.http_listen,
        tokens: model.api_tokens.clone(),
        store_path: model.store_path.clone(),
        reports: sb_config::build::report_settings(model),
        control: Some(control),
        events: Some(events.clone()),
        console: sb_config::build::console_settings(model),
        metrics_token: model.metrics_token.clone(),
        metrics_listen: model.metrics_listen,
    })
    .map_err(|source| BuildError::Api {
        addr: model.http_listen,
        source,
    })?;
    tracing::info!(%api, tokens = model.api_tokens.len(), "control API listening");
    if !api.ip().is_loopback()
        && model
            .api_tokens
            .iter()
            .any(|t| t.token.starts_with("demo-"))
    {
        tracing::warn!(%api, "demo API tokens are in use on a non-loopback address: replace them");
    }
    if !api.ip().is_loopback() {
        let demo = model
            .console_users
            .iter()
            .filter(|u| u.verify(&format!("demo-{}", u.name)))
            .count();
        if demo > 0 {
            tracing::warn!(%api, users = demo, "console users with demo passwords on a non-loopback address: change them");
        }
    }

    let server = Server::new(sockets, engine, media, model)
        .with_records(Records::new(recorder, store))
        .with_control(control_rx)
        .with_event_stream(events);
    Ok(Switchboard { server, api })
}
