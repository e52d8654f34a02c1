//! Opening the database (created 0600, WAL, migrated, refused when foreign, corrupt or newer)
//! and applying operations to it in transactions.

use crate::model::{
    AgentStateRow, CallEvent, CallRecord, Disposition, OfferRow, Op, Party, TransferRow,
};
use crate::rollup::{Rollup, Thresholds};
use crate::StoreError;
use sb_types::vocab::{CallDirection, Named};
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

/// A connection to the records' database (what [`open`] gives).
pub type Db = SqliteConnection;

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

const CALL_COLUMNS: [&str; 39] = [
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
    "caller_strangers",
    "agent_strangers",
    "tags",
    "trunk",
    "did",
    "withheld",
    "purpose",
    "carrier_status",
    "carrier_cause",
    "survey_ms",
    "survey_score",
];

/// The column list of `calls`, for multi-row statements.
fn call_columns() -> String {
    format!("({}) ", CALL_COLUMNS.join(", "))
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

/// How the writer writes, and the thresholds calls are classified by for the interval
/// figures.
pub struct Statements {
    upsert_tail: String,
    thresholds: Thresholds,
}

impl Statements {
    pub fn new(thresholds: Thresholds) -> Statements {
        Statements {
            upsert_tail: upsert_tail(),
            thresholds,
        }
    }
}

impl Default for Statements {
    fn default() -> Self {
        Statements::new(Thresholds::default())
    }
}

/// Rows per multi-row statement: 37 columns stay well under SQLite's 32,766 variables.
const ROWS_PER_STATEMENT: usize = 500;

/// `INSERT <verb> INTO calls` of many records in one statement each few hundred.
async fn write_calls(
    conn: &mut SqliteConnection,
    verb: &str,
    tail: &str,
    records: &[&CallRecord],
) -> Result<(), sqlx::Error> {
    for chunk in records.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(format!("INSERT {verb} INTO calls "));
        q.push(call_columns());
        q.push_values(chunk, |mut b, r| {
            b.push_bind(&r.call_id)
                .push_bind(r.direction.name())
                .push_bind(&r.caller)
                .push_bind(&r.dialled)
                .push_bind(&r.media_source)
                .push_bind(&r.region)
                .push_bind(&r.language)
                .push_bind(&r.ivr_path)
                .push_bind(&r.queue)
                .push_bind(&r.agent)
                .push_bind(r.started_ms)
                .push_bind(r.queued_ms)
                .push_bind(r.first_offer_ms)
                .push_bind(r.answered_ms)
                .push_bind(r.ended_ms)
                .push_bind(r.wait_ms)
                .push_bind(r.ring_ms)
                .push_bind(r.rings)
                .push_bind(r.within_rings)
                .push_bind(r.disposition.as_str())
                .push_bind(r.hangup_by.map(|p| p.as_str()))
                .push_bind(r.hold_ms)
                .push_bind(r.mute_ms)
                .push_bind(r.wrapup_ms)
                .push_bind(r.caller_loss)
                .push_bind(r.caller_jitter_ms)
                .push_bind(r.agent_loss)
                .push_bind(r.agent_jitter_ms)
                .push_bind(r.caller_strangers)
                .push_bind(r.agent_strangers)
                .push_bind(&r.tags)
                .push_bind(&r.trunk)
                .push_bind(&r.did)
                .push_bind(r.withheld)
                .push_bind(&r.purpose)
                .push_bind(r.carrier_status)
                .push_bind(&r.carrier_cause)
                .push_bind(r.survey_ms)
                .push_bind(r.survey_score);
        });
        q.push(tail);
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Of these calls, the ones the database already has as ended (a replay).
async fn already_ended(
    conn: &mut SqliteConnection,
    ids: &[&str],
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    let mut out = std::collections::HashSet::new();
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT call_id FROM calls WHERE ended_ms IS NOT NULL AND call_id IN (",
        );
        let mut sep = q.separated(", ");
        for id in chunk {
            sep.push_bind(*id);
        }
        q.push(")");
        let found: Vec<String> = q.build_query_scalar().fetch_all(&mut *conn).await?;
        out.extend(found);
    }
    Ok(out)
}

/// An `Op::End`'s parts.
type Ended<'a> = (
    &'a CallRecord,
    &'a [CallEvent],
    &'a [OfferRow],
    &'a [TransferRow],
);

/// Ended calls: the records (replacing what the call's start and milestones left), their
/// events, offers, transfers and callback requests, and, for calls ending for the first
/// time, their part of the interval figures.
async fn write_ends(
    conn: &mut SqliteConnection,
    st: &Statements,
    ends: &[Ended<'_>],
    rollup: &mut Rollup,
) -> Result<(), sqlx::Error> {
    if ends.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = ends.iter().map(|e| e.0.call_id.as_str()).collect();
    let done = already_ended(conn, &ids).await?;
    for (r, _, offers, _) in ends {
        if !done.contains(&r.call_id) {
            rollup.add_call(r, offers, &st.thresholds);
        }
    }
    let records: Vec<&CallRecord> = ends.iter().map(|e| e.0).collect();
    write_calls(conn, "OR REPLACE", "", &records).await?;
    let events: Vec<(&str, &CallEvent)> = ends
        .iter()
        .flat_map(|(r, ev, _, _)| ev.iter().map(move |e| (r.call_id.as_str(), e)))
        .collect();
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO call_events (call_id, seq, at_ms, kind, agent, detail) ",
        );
        q.push_values(chunk, |mut b, (id, e)| {
            b.push_bind(*id)
                .push_bind(e.seq)
                .push_bind(e.at_ms)
                .push_bind(&e.kind)
                .push_bind(&e.agent)
                .push_bind(&e.detail);
        });
        q.build().execute(&mut *conn).await?;
    }
    let offers: Vec<(&CallRecord, &OfferRow)> = ends
        .iter()
        .flat_map(|(r, _, of, _)| of.iter().map(move |o| (*r, o)))
        .collect();
    for chunk in offers.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT OR REPLACE INTO offers (call_id, seq, agent, offered_ms, rang_ms, outcome, within_rings, call_disposition, call_wait_ms) ",
        );
        q.push_values(chunk, |mut b, (r, o)| {
            b.push_bind(&r.call_id)
                .push_bind(o.seq)
                .push_bind(&o.agent)
                .push_bind(o.offered_ms)
                .push_bind(o.rang_ms)
                .push_bind(&o.outcome)
                .push_bind(o.within_rings)
                .push_bind(r.disposition.as_str())
                .push_bind(r.wait_ms);
        });
        q.build().execute(&mut *conn).await?;
    }
    let transfers: Vec<(&str, &TransferRow)> = ends
        .iter()
        .flat_map(|(r, _, _, tr)| tr.iter().map(move |t| (r.call_id.as_str(), t)))
        .collect();
    for chunk in transfers.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO transfers (call_id, seq, at_ms, from_party, to_party, kind) ",
        );
        q.push_values(chunk, |mut b, (id, t)| {
            b.push_bind(*id)
                .push_bind(t.seq)
                .push_bind(t.at_ms)
                .push_bind(&t.from_party)
                .push_bind(&t.to_party)
                .push_bind(t.kind.name());
        });
        q.build().execute(&mut *conn).await?;
    }
    let callbacks: Vec<&CallRecord> = records
        .iter()
        .copied()
        .filter(|r| r.disposition == Disposition::CallbackRequested)
        .collect();
    for chunk in callbacks.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO callbacks (call_id, requested_ms, number, queue) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(&r.call_id)
                .push_bind(r.ended_ms.unwrap_or(r.started_ms))
                .push_bind(&r.caller)
                .push_bind(&r.queue);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts agents' state changes with one statement per few hundred, and adds the time of
/// the states they end to the interval figures, once: rows already there (a replay) are
/// skipped.
async fn insert_states(
    conn: &mut SqliteConnection,
    states: &[&AgentStateRow],
    rollup: &mut Rollup,
) -> Result<(), sqlx::Error> {
    use std::collections::HashSet;
    let mut by_run: Vec<(&str, i64, i64)> = Vec::new();
    for a in states {
        match by_run.iter_mut().find(|(r, _, _)| *r == a.run) {
            Some((_, lo, hi)) => {
                *lo = (*lo).min(a.seq);
                *hi = (*hi).max(a.seq);
            }
            None => by_run.push((&a.run, a.seq, a.seq)),
        }
    }
    let mut present: HashSet<(String, i64)> = HashSet::new();
    for (run, lo, hi) in by_run {
        let seqs: Vec<i64> = sqlx::query_scalar(
            "SELECT seq FROM agent_states WHERE run = ? AND seq BETWEEN ? AND ?",
        )
        .bind(run)
        .bind(lo)
        .bind(hi)
        .fetch_all(&mut *conn)
        .await?;
        present.extend(seqs.into_iter().map(|q| (run.to_string(), q)));
    }
    let fresh: Vec<&AgentStateRow> = states
        .iter()
        .copied()
        .filter(|a| present.insert((a.run.clone(), a.seq)))
        .collect();
    for chunk in fresh.chunks(500) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO agent_states (run, seq, agent, at_ms, state, reason) ",
        );
        q.push_values(chunk, |mut b, a| {
            b.push_bind(&a.run)
                .push_bind(a.seq)
                .push_bind(&a.agent)
                .push_bind(a.at_ms)
                .push_bind(&a.state)
                .push_bind(&a.reason);
        });
        q.build().execute(&mut *conn).await?;
        for a in chunk {
            if let (Some(state), Some(since)) = (&a.prev_state, a.prev_since_ms) {
                rollup.add_state(&a.agent, state, since, a.at_ms);
            }
        }
    }
    Ok(())
}

/// Applies `ops` in one `BEGIN IMMEDIATE` transaction: all of them or none. Each kind goes
/// in with a few multi-row statements (the cost per statement, not per row, is what limits
/// a SQLite writer behind sqlx's worker thread). Within a batch a call's operations come in
/// order begin, progress, end, and so are they applied.
pub async fn apply<'a>(
    conn: &mut SqliteConnection,
    st: &Statements,
    ops: impl IntoIterator<Item = &'a Op>,
) -> Result<(), sqlx::Error> {
    let mut begins = Vec::new();
    let mut progress = Vec::new();
    let mut ends = Vec::new();
    let mut states = Vec::new();
    let mut callbacks = Vec::new();
    for op in ops {
        match op {
            Op::Begin(r) => begins.push(r),
            Op::Progress(r) => progress.push(r),
            Op::End {
                record,
                events,
                offers,
                transfers,
            } => ends.push((record, &events[..], &offers[..], &transfers[..])),
            Op::AgentState(a) => states.push(a),
            Op::Callback(c) => callbacks.push(c),
        }
    }
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let mut rollup = Rollup::default();
    let result = async {
        write_calls(conn, "OR IGNORE", "", &begins).await?;
        write_calls(conn, "", &st.upsert_tail, &progress).await?;
        write_ends(conn, st, &ends, &mut rollup).await?;
        insert_states(conn, &states, &mut rollup).await?;
        for c in &callbacks {
            if let Some(number) = &c.number {
                sqlx::query(
                    "INSERT OR IGNORE INTO callbacks (call_id, requested_ms, number, queue) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .bind(&c.call_id)
                .bind(c.at_ms)
                .bind(number)
                .bind(&c.queue)
                .execute(&mut *conn)
                .await?;
            }
            sqlx::query(
                "UPDATE callbacks SET status = ?1, attempts = ?2, next_ms = ?3, \
                 reached_ms = coalesce(?4, reached_ms), updated_ms = ?5 WHERE call_id = ?6",
            )
            .bind(&c.status)
            .bind(c.attempts)
            .bind(c.next_ms)
            .bind(c.reached_ms)
            .bind(c.at_ms)
            .bind(&c.call_id)
            .execute(&mut *conn)
            .await?;
        }
        rollup.write(conn).await
    }
    .await;
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
        let direction: String = row.try_get("direction")?;
        r.direction = CallDirection::from_name(&direction).unwrap_or(CallDirection::Inbound);
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
