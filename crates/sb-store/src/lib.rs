//! Call records in SQLite (`sb-store`): the records and operations ([`model`]), the schema
//! and its migrations ([`db`]), the single writer with its journal ([`writer`],
//! [`journal`]), and the reports ([`report`], [`rollup`]). It knows nothing of SIP, media,
//! the IVR or the engine: what becomes a record is decided by `sb-records`.
//!
//! ```text
//! let store = Store::start(StoreSettings { path, journal, capacity, run, thresholds })?;
//! store.record(op);       // each operation from the recorder, never waiting on SQLite
//! store.end_turn();       // before the turn's SIP goes out: the journal has it
//! store.close()?;         // at shutdown: everything committed
//! let report = report::run(&mut conn, &path, period, group_by, &settings).await?;
//! ```

pub mod db;
pub mod journal;
pub mod model;
pub mod report;
pub mod rollup;
pub mod worklist;
pub mod writer;

pub use model::{CallRecord, Disposition, Op, Party};
pub use writer::{Recovery, Store, StoreSettings};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no call record database here (the engine creates it on its first start)", path.display())]
    Missing { path: PathBuf },
    #[error("{}: not a SQLite database or damaged ({detail}); restore it from a backup or move it aside", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("{}: a SQLite database of another program, not Switchboard's call records; refusing to touch it", path.display())]
    Foreign { path: PathBuf },
    #[error("{}: schema version {found} was written by a newer Switchboard (this one knows up to {known}); upgrade Switchboard", path.display())]
    Newer {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{}: schema version {found} is older than this Switchboard's {known}; start the engine once to migrate it", path.display())]
    Older {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{}: migration failed: {detail}", path.display())]
    Migration { path: PathBuf, detail: String },
    #[error("{}: {detail}", path.display())]
    Sql { path: PathBuf, detail: String },
    #[error("the call record writer stopped unexpectedly")]
    WriterGone,
}
