//! Dialplans and the IVR interpreter: one TOML file per flow, validated like the
//! configuration (every problem with file, line and a stable code), compiled into indices,
//! and run per call by a sans-IO interpreter.
//!
//! Driving a call's [`Session`]: `start(wall)` when the call is answered, then
//! `handle(now, wall, Input::Digit(d))` or `Input::PromptDone`, and `handle_timeout(now,
//! wall)` when `poll_timeout()` is due; each returns the [`Action`]s to carry out (play,
//! stop, tag, queue, transfer, hang up).

#![warn(missing_docs)]

pub mod clock;
pub mod interp;
pub mod model;

pub use interp::{Action, Input, PromptRef, Session};
pub use model::{Dialplans, FlowId, Node, NodeId, Schedule, Target};
