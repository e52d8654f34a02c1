//! The ACD, sans-IO: queues of waiting patients, agents whose availability is derived from
//! the truth (registered and reachable, logged in, not paused, not on a call, not in
//! wrap-up), offers with a ring timer, ring-no-answer and auto-pause, wrap-up, overflow,
//! escalation before the three-ring threshold, and the figures the SLA is measured by.
//!
//! The engine tells it what happened (`handle_*`, with `now`); it answers with actions for
//! the engine (`poll_action`: offer this call to that agent, cancel an offer, overflow) and
//! typed events for the records (`poll_event`).

#![warn(missing_docs)]

mod acd;
mod model;

pub use acd::Acd;
pub use model::{
    AcdAction, AcdConfig, AcdEvent, Activity, AgentId, AgentView, CallId, OverflowReason,
    QueueSpec, QueueView, Strategy,
};
