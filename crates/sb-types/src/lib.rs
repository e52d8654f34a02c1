//! The words every crate of the switchboard shares, and nothing else: the ids of calls and
//! agents ([`CallId`], [`AgentId`]), the vocabulary of call events with the stable names
//! the store, the API and the logs use ([`vocab`]), and the helpers that keep patients'
//! personal data out of logs and screens ([`pii`]). No I/O, no clock, no dependencies.
//!
//! ```
//! use sb_types::{pii, vocab::{Named, TransferKind}, CallId};
//! assert_eq!(CallId(7).to_string(), "call-7");
//! assert_eq!(TransferKind::Attended.name(), "attended");
//! assert_eq!(TransferKind::from_name("back"), Some(TransferKind::Back));
//! assert_eq!(pii::mask_number("13812345678"), "138****5678");
//! ```

#![warn(missing_docs)]

pub mod civil;
pub mod ids;
pub mod pii;
pub mod splitmix;
pub mod vocab;

pub use ids::{AgentId, CallId};
pub use vocab::Named;
