//! Opening the database (created 0600, WAL, migrated, refused when foreign, corrupt or newer)
//! and applying operations to it in transactions.

use crate::model::{CallRecord, Disposition, Op, Party};
use crate::rollup::{Rollup, Thresholds};
use crate::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};
use std::path::Path;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// `PRAGMA application_id` of a Switchboard database ("SWBD"), so another program's SQLite
/// file is told apart from an empty one.
const APPLICATION_ID: i64 = 0x5357_4244;

/// The newest schema this build knows.
pub fn schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// How a connection will be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The engine's writer: creates and migrates.
    Write,
    /// Reports: the file must exist and be current.
    Read,
}

fn sql_error(path: &Path, e: sqlx::Error) -> StoreError {
    let text = e.to_string();
    if text.contains("not a database") || text.contains("malformed") {
        StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: text,
        }
    } else {
        StoreError::Sql {
            path: path.to_path_buf(),
            detail: text,
        }
    }
}

/// Creates the file with owner-only permissions before SQLite does: call records hold
/// patients' numbers and the hospital's confidential volumes.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(|_| ())
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(StoreError::Io {
                path: path.to_path_buf(),
                source: e,
            }),
        })
}

/// Migrates an open database to exactly `version` (tests build databases of earlier
/// versions with it; the engine always runs every migration).
pub async fn migrate_to(conn: &mut SqliteConnection, version: i64) -> Result<(), sqlx::Error> {
    let upto: Vec<_> = MIGRATOR
        .iter()
        .filter(|m| m.version <= version)
        .cloned()
        .collect();
    let m = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(upto),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    m.run(&mut *conn).await?;
    sqlx::query(&format!("PRAGMA application_id = {APPLICATION_ID}"))
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn open(path: &Path, access: Access) -> Result<SqliteConnection, StoreError> {
    match access {
        Access::Write => create_private(path)?,
        Access::Read if !path.exists() => {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            })
        }
        Access::Read => {}
    }
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(5));
    // The writer puts the file in WAL mode (readers never block it, nor it them) with
    // NORMAL sync: a commit survives the process dying, the journal covers the rest.
    // Readers change nothing, not even the journal mode.
    let opts = match access {
        Access::Write => opts
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal),
        // Reports scan a month of the narrow report index: map it, cache it.
        Access::Read => opts
            .read_only(true)
            .pragma("cache_size", "-65536")
            .pragma("mmap_size", "1073741824"),
    };
    let mut conn = SqliteConnection::connect_with(&opts)
        .await
        .map_err(|e| sql_error(path, e))?;
    check_identity(&mut conn, path).await?;
    if access == Access::Write {
        MIGRATOR
            .run(&mut conn)
            .await
            .map_err(|e| StoreError::Migration {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?;
        sqlx::query(&format!("PRAGMA application_id = {APPLICATION_ID}"))
            .execute(&mut conn)
            .await
            .map_err(|e| sql_error(path, e))?;
    } else {
        let version = applied_version(&mut conn, path).await?;
        if version < schema_version() {
            return Err(StoreError::Older {
                path: path.to_path_buf(),
                found: version,
                known: schema_version(),
            });
        }
    }
    Ok(conn)
}

async fn applied_version(conn: &mut SqliteConnection, path: &Path) -> Result<i64, StoreError> {
    let has_table: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| sql_error(path, e))?;
    if has_table == 0 {
        return Ok(0);
    }
    let v: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| sql_error(path, e))?;
    Ok(v.unwrap_or(0))
}

/// Ours (or empty), not corrupt, not from a newer Switchboard.
async fn check_identity(conn: &mut SqliteConnection, path: &Path) -> Result<(), StoreError> {
    let app_id: i64 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| sql_error(path, e))?;
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| sql_error(path, e))?;
    let ours = app_id == APPLICATION_ID || (app_id == 0 && tables == 0);
    if !ours {
        return Err(StoreError::Foreign {
            path: path.to_path_buf(),
        });
    }
    let found = applied_version(conn, path).await?;
    if found > schema_version() {
        return Err(StoreError::Newer {
            path: path.to_path_buf(),
            found,
            known: schema_version(),
        });
    }
    Ok(())
}

const CALL_COLUMNS: [&str; 29] = [
    "call_id",
    "direction",
    "caller",
    "dialled",
    "media_source",
    "region",
    "language",
    "ivr_path",
    "queue",
    "agent",
    "started_ms",
    "queued_ms",
    "first_offer_ms",
    "answered_ms",
    "ended_ms",
    "wait_ms",
    "ring_ms",
    "rings",
    "within_rings",
    "disposition",
    "hangup_by",
    "hold_ms",
    "mute_ms",
    "wrapup_ms",
    "caller_loss",
    "caller_jitter_ms",
    "agent_loss",
    "agent_jitter_ms",
    "tags",
];

/// `INSERT <verb> INTO calls (...) VALUES (?...)` followed by `tail`.
fn call_statement(verb: &str, tail: &str) -> String {
    let marks = vec!["?"; CALL_COLUMNS.len()].join(", ");
    format!(
        "INSERT {verb} INTO calls ({}) VALUES ({marks}){tail}",
        CALL_COLUMNS.join(", ")
    )
}

fn upsert_tail() -> String {
    let sets: Vec<String> = CALL_COLUMNS[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        " ON CONFLICT (call_id) DO UPDATE SET {} WHERE calls.ended_ms IS NULL",
        sets.join(", ")
    )
}

/// The three statements on `calls`, built once per writer, and the thresholds calls are
/// classified by for the interval figures.
pub struct Statements {
    begin: String,
    progress: String,
    end: String,
    thresholds: Thresholds,
}

impl Statements {
    pub fn new(thresholds: Thresholds) -> Statements {
        Statements {
            begin: call_statement("OR IGNORE", ""),
            progress: call_statement("", &upsert_tail()),
            end: call_statement("OR REPLACE", ""),
            thresholds,
        }
    }
}

impl Default for Statements {
    fn default() -> Self {
        Statements::new(Thresholds::default())
    }
}

async fn write_call(
    conn: &mut SqliteConnection,
    sql: &str,
    r: &CallRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(sql)
        .bind(&r.call_id)
        .bind(&r.direction)
        .bind(&r.caller)
        .bind(&r.dialled)
        .bind(&r.media_source)
        .bind(&r.region)
        .bind(&r.language)
        .bind(&r.ivr_path)
        .bind(&r.queue)
        .bind(&r.agent)
        .bind(r.started_ms)
        .bind(r.queued_ms)
        .bind(r.first_offer_ms)
        .bind(r.answered_ms)
        .bind(r.ended_ms)
        .bind(r.wait_ms)
        .bind(r.ring_ms)
        .bind(r.rings)
        .bind(r.within_rings)
        .bind(r.disposition.as_str())
        .bind(r.hangup_by.map(|p| p.as_str()))
        .bind(r.hold_ms)
        .bind(r.mute_ms)
        .bind(r.wrapup_ms)
        .bind(r.caller_loss)
        .bind(r.caller_jitter_ms)
        .bind(r.agent_loss)
        .bind(r.agent_jitter_ms)
        .bind(&r.tags)
        .execute(conn)
        .await
        .map(|_| ())
}

async fn apply_one(
    conn: &mut SqliteConnection,
    st: &Statements,
    op: &Op,
    rollup: &mut Rollup,
) -> Result<(), sqlx::Error> {
    match op {
        Op::Begin(r) => write_call(conn, &st.begin, r).await,
        Op::Progress(r) => write_call(conn, &st.progress, r).await,
        Op::End {
            record,
            events,
            offers,
            transfers,
        } => {
            // Counted in the interval figures once: not when a replay ends it again.
            let open: Option<bool> =
                sqlx::query_scalar("SELECT ended_ms IS NULL FROM calls WHERE call_id = ?")
                    .bind(&record.call_id)
                    .fetch_optional(&mut *conn)
                    .await?;
            if open != Some(false) {
                rollup.add_call(record, offers, &st.thresholds);
            }
            write_call(conn, &st.end, record).await?;
            let id = &record.call_id;
            if record.disposition == Disposition::CallbackRequested {
                sqlx::query(
                    "INSERT OR IGNORE INTO callbacks (call_id, requested_ms, number, queue) VALUES (?, ?, ?, ?)",
                )
                .bind(id)
                .bind(record.ended_ms.unwrap_or(record.started_ms))
                .bind(&record.caller)
                .bind(&record.queue)
                .execute(&mut *conn)
                .await?;
            }
            if !events.is_empty() {
                let mut q = QueryBuilder::<Sqlite>::new(
                    "INSERT OR IGNORE INTO call_events (call_id, seq, at_ms, kind, agent, detail) ",
                );
                q.push_values(events, |mut b, e| {
                    b.push_bind(id)
                        .push_bind(e.seq)
                        .push_bind(e.at_ms)
                        .push_bind(&e.kind)
                        .push_bind(&e.agent)
                        .push_bind(&e.detail);
                });
                q.build().execute(&mut *conn).await?;
            }
            if !offers.is_empty() {
                let mut q = QueryBuilder::<Sqlite>::new(
                    "INSERT OR REPLACE INTO offers (call_id, seq, agent, offered_ms, rang_ms, outcome, within_rings, call_disposition, call_wait_ms) ",
                );
                q.push_values(offers, |mut b, o| {
                    b.push_bind(id)
                        .push_bind(o.seq)
                        .push_bind(&o.agent)
                        .push_bind(o.offered_ms)
                        .push_bind(o.rang_ms)
                        .push_bind(&o.outcome)
                        .push_bind(o.within_rings)
                        .push_bind(record.disposition.as_str())
                        .push_bind(record.wait_ms);
                });
                q.build().execute(&mut *conn).await?;
            }
            if !transfers.is_empty() {
                let mut q = QueryBuilder::<Sqlite>::new(
                    "INSERT OR IGNORE INTO transfers (call_id, seq, at_ms, from_party, to_party, kind) ",
                );
                q.push_values(transfers, |mut b, t| {
                    b.push_bind(id)
                        .push_bind(t.seq)
                        .push_bind(t.at_ms)
                        .push_bind(&t.from_party)
                        .push_bind(&t.to_party)
                        .push_bind(&t.kind);
                });
                q.build().execute(&mut *conn).await?;
            }
            Ok(())
        }
        Op::AgentState(a) => {
            let done = sqlx::query(
                "INSERT OR IGNORE INTO agent_states (run, seq, agent, at_ms, state, reason) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&a.run)
            .bind(a.seq)
            .bind(&a.agent)
            .bind(a.at_ms)
            .bind(&a.state)
            .bind(&a.reason)
            .execute(conn)
            .await?;
            if done.rows_affected() == 1 {
                if let (Some(state), Some(since)) = (&a.prev_state, a.prev_since_ms) {
                    rollup.add_state(&a.agent, state, since, a.at_ms);
                }
            }
            Ok(())
        }
    }
}

/// Applies `ops` in one `BEGIN IMMEDIATE` transaction: all of them or none.
pub async fn apply<'a>(
    conn: &mut SqliteConnection,
    st: &Statements,
    ops: impl IntoIterator<Item = &'a Op>,
) -> Result<(), sqlx::Error> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let mut rollup = Rollup::default();
    let mut result = Ok(());
    for op in ops {
        result = apply_one(conn, st, op, &mut rollup).await;
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = rollup.write(conn).await;
    }
    if let Err(e) = result {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(e);
    }
    sqlx::query("COMMIT").execute(&mut *conn).await.map(|_| ())
}

/// Calls left open by an engine that stopped without ending them (killed, power cut): closed
/// at their last known moment with disposition `interrupted`, and counted. Returns how many.
pub async fn close_interrupted(
    conn: &mut SqliteConnection,
    st: &Statements,
) -> Result<u64, sqlx::Error> {
    use sqlx::Row;
    let rows = sqlx::query("SELECT * FROM calls WHERE ended_ms IS NULL")
        .fetch_all(&mut *conn)
        .await?;
    let mut ops = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut r = CallRecord::new(row.try_get("call_id")?, row.try_get("started_ms")?);
        r.direction = row.try_get("direction")?;
        r.caller = row.try_get("caller")?;
        r.dialled = row.try_get("dialled")?;
        r.media_source = row.try_get("media_source")?;
        r.region = row.try_get("region")?;
        r.language = row.try_get("language")?;
        r.ivr_path = row.try_get("ivr_path")?;
        r.queue = row.try_get("queue")?;
        r.agent = row.try_get("agent")?;
        r.queued_ms = row.try_get("queued_ms")?;
        r.first_offer_ms = row.try_get("first_offer_ms")?;
        r.answered_ms = row.try_get("answered_ms")?;
        r.wait_ms = row.try_get("wait_ms")?;
        r.ring_ms = row.try_get("ring_ms")?;
        r.rings = row.try_get("rings")?;
        r.within_rings = row.try_get("within_rings")?;
        r.hold_ms = row.try_get("hold_ms")?;
        r.mute_ms = row.try_get("mute_ms")?;
        r.tags = row.try_get("tags")?;
        let last = [r.queued_ms, r.first_offer_ms, r.answered_ms]
            .into_iter()
            .flatten()
            .fold(r.started_ms, i64::max);
        r.ended_ms = Some(last);
        r.disposition = Disposition::Interrupted;
        r.hangup_by = Some(Party::System);
        ops.push(Op::End {
            record: r,
            events: Vec::new(),
            offers: Vec::new(),
            transfers: Vec::new(),
        });
    }
    apply(conn, st, &ops).await?;
    Ok(ops.len() as u64)
}
