//! The control API: HTTP with JSON on `http.listen`, on a thread of its own so that nothing
//! it does (a report over a month, a slow client) touches the engine's loop.
//!
//! - [`http`]: the routes, bearer tokens and roles, the reports, the event stream (SSE).
//! - [`control`]: what the API asks of the engine (list and act on calls, agents, queues),
//!   sent over a channel and answered by the engine's loop between two turns
//!   ([`control::serve`]), so a request sees and changes the engine exactly as calls do.
//! - [`events`]: the engine's events as the stream's JSON, patients' numbers masked.
//!
//! Wiring it up, as the composition root does:
//!
//! ```text
//! let (control, control_rx) = sb_api::control::channel();
//! let events = sb_api::events::channel();
//! let addr = sb_api::http::spawn(ApiSettings { control: Some(control), events: Some(events.clone()), .. })?;
//! // the engine's loop: control::serve(&mut engine, now, request) for each request on
//! // control_rx; events::to_json(at_ms, &event) to `events` for each event
//! ```

pub mod access;
pub mod console;
pub mod control;
pub mod events;
pub mod http;
pub mod metrics;
pub mod session;
pub mod users;
