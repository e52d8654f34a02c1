//! The transaction layer (RFC 3261 §17): the four machines, matching, and a deadline queue.

pub mod client;
pub mod key;
pub mod layer;
pub mod server;

pub use client::{ClientState, ClientTx};
pub use key::{ClientKey, ServerKey};
pub use layer::{LayerEvent, TransactionLayer, TxId};
pub use server::{ServerState, ServerTx};
