//! The callback list as people work it: the keep-my-place callbacks and recovered abandons
//! still owed (pending), those every try failed to reach (worklist), and those done
//! (reached, called again), oldest request first.

use crate::report::sql_err;
use crate::StoreError;
use serde::Serialize;
use sqlx::{Row as _, SqliteConnection};
use std::path::Path;

/// The statuses a callback request can have.
pub const STATUSES: [&str; 4] = ["pending", "worklist", "reached", "called_again"];

/// One request on the callback list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallbackEntry {
    /// The call the patient asked on (or hung up on).
    pub call_id: String,
    pub requested_ms: i64,
    /// In full: whoever shows it decides whether to mask it.
    pub number: String,
    pub queue: Option<String>,
    pub status: String,
    /// Times the patient's phone was dialled.
    pub attempts: i64,
    pub next_ms: Option<i64>,
    pub reached_ms: Option<i64>,
}

/// The requests with `status` (all when `None`), oldest first, at most 1,000.
pub async fn callback_list(
    conn: &mut SqliteConnection,
    path: &Path,
    status: Option<&str>,
) -> Result<Vec<CallbackEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT call_id, requested_ms, number, queue, status, attempts, next_ms, reached_ms \
         FROM callbacks WHERE ?1 IS NULL OR status = ?1 ORDER BY requested_ms LIMIT 1000",
    )
    .bind(status)
    .fetch_all(&mut *conn)
    .await
    .map_err(sql_err(path))?;
    rows.into_iter()
        .map(|r| {
            Ok(CallbackEntry {
                call_id: r.try_get("call_id")?,
                requested_ms: r.try_get("requested_ms")?,
                number: r.try_get("number")?,
                queue: r.try_get("queue")?,
                status: r.try_get("status")?,
                attempts: r.try_get("attempts")?,
                next_ms: r.try_get("next_ms")?,
                reached_ms: r.try_get("reached_ms")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(sql_err(path))
}
