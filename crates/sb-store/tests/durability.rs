//! The database file's life: created private, migrated from empty and from the previous
//! version, refused when corrupt, foreign or newer; records that spill to the journal or
//! that a dead engine left there are not lost.

use sb_store::db::{self, Access};
use sb_store::model::{CallRecord, Disposition, Op, Party};
use sb_store::{Store, StoreError, StoreSettings};
use sqlx::Connection;
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sb-durable-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    dir
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt")
        .block_on(f)
}

fn settings(dir: &Path, run: &str, capacity: usize) -> StoreSettings {
    StoreSettings {
        path: dir.join("records.db"),
        journal: dir.join("journal"),
        capacity,
        run: run.into(),
        thresholds: Default::default(),
    }
}

fn ended(id: &str, disposition: Disposition) -> Op {
    let mut r = CallRecord::new(id.into(), 1_000);
    r.caller = "13900000000".into();
    r.dialled = "8000".into();
    r.ended_ms = Some(2_000);
    r.disposition = disposition;
    r.hangup_by = Some(Party::Caller);
    Op::End {
        record: r,
        events: Vec::new(),
        offers: Vec::new(),
        transfers: Vec::new(),
    }
}

async fn count(path: &Path, sql: &str) -> i64 {
    let mut c = db::open(path, Access::Read).await.expect("open");
    sqlx::query_scalar(sql)
        .fetch_one(&mut c)
        .await
        .expect("count")
}

#[test]
fn a_new_database_is_private_and_current() {
    let dir = scratch("new");
    let path = dir.join("records.db");
    block(async {
        let c = db::open(&path, Access::Write).await.expect("create");
        c.close().await.expect("close");
    });
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // An empty file someone touched first is migrated too.
    let empty = dir.join("empty.db");
    std::fs::write(&empty, b"").expect("touch");
    let v = block(async {
        let mut c = db::open(&empty, Access::Write)
            .await
            .expect("migrate empty");
        sqlx::query_scalar::<_, i64>("SELECT max(version) FROM _sqlx_migrations")
            .fetch_one(&mut c)
            .await
            .expect("version")
    });
    assert_eq!(v, db::schema_version());
    assert!(v >= 2);
}

#[test]
fn a_version_one_database_migrates_and_keeps_its_records() {
    let dir = scratch("v1");
    let path = dir.join("records.db");
    block(async {
        // A database as version 1 of Switchboard left it, with a callback request in it.
        std::fs::write(&path, b"").expect("touch");
        let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
        let mut c = sqlx::SqliteConnection::connect_with(&opts)
            .await
            .expect("raw");
        db::migrate_to(&mut c, 1).await.expect("v1");
        let has_callbacks: i64 =
            sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name = 'callbacks'")
                .fetch_one(&mut c)
                .await
                .expect("q");
        assert_eq!(has_callbacks, 0, "version 1 has no callback list");
        sqlx::query(
            "INSERT INTO calls (call_id, direction, caller, dialled, started_ms, ended_ms, disposition) \
             VALUES ('old-1', 'inbound', '13800000001', '8000', 5, 9, 'callback_requested')",
        )
        .execute(&mut c)
        .await
        .expect("old row");
        c.close().await.expect("close");
        // Reports refuse it until the engine has migrated it.
        match db::open(&path, Access::Read).await {
            Err(StoreError::Older { found: 1, .. }) => {}
            other => panic!("expected Older, got {:?}", other.err()),
        }
    });
    let store = Store::start(settings(&dir, "r", 16)).expect("migrating start");
    store.close().expect("close");
    block(async {
        assert_eq!(count(&path, "SELECT count(*) FROM calls").await, 1);
        assert_eq!(
            count(
                &path,
                "SELECT count(*) FROM callbacks WHERE call_id = 'old-1'"
            )
            .await,
            1,
            "the migration put the old request on the callback list"
        );
    });
}

#[test]
fn corrupt_foreign_and_newer_files_are_refused_with_a_clear_error() {
    let dir = scratch("refuse");
    let corrupt = dir.join("corrupt.db");
    std::fs::write(&corrupt, vec![0x42u8; 8192]).expect("write");
    let foreign = dir.join("foreign.db");
    let newer = dir.join("newer.db");
    block(async {
        let e = db::open(&corrupt, Access::Write)
            .await
            .expect_err("refused");
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("not a SQLite database"), "{e}");

        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&foreign)
            .create_if_missing(true);
        let mut c = sqlx::SqliteConnection::connect_with(&opts)
            .await
            .expect("foreign");
        sqlx::query("CREATE TABLE patients (name TEXT)")
            .execute(&mut c)
            .await
            .expect("table");
        c.close().await.expect("close");
        let e = db::open(&foreign, Access::Write)
            .await
            .expect_err("refused");
        assert!(matches!(e, StoreError::Foreign { .. }), "{e}");
        let tables: i64 = {
            let mut c = sqlx::SqliteConnection::connect_with(
                &sqlx::sqlite::SqliteConnectOptions::new().filename(&foreign),
            )
            .await
            .expect("reopen");
            sqlx::query_scalar("SELECT count(*) FROM sqlite_master")
                .fetch_one(&mut c)
                .await
                .expect("q")
        };
        assert_eq!(tables, 1, "nothing was added to the other program's file");

        let mut c = db::open(&newer, Access::Write).await.expect("create");
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (999, 'from the future', 1, x'00', 0)",
        )
        .execute(&mut c)
        .await
        .expect("future");
        c.close().await.expect("close");
        let e = db::open(&newer, Access::Write).await.expect_err("refused");
        assert!(matches!(e, StoreError::Newer { found: 999, .. }), "{e}");
        assert!(e.to_string().contains("newer Switchboard"), "{e}");
    });
    // The engine refuses to start on them too.
    let mut s = settings(&dir, "r", 4);
    s.path = corrupt;
    assert!(matches!(Store::start(s), Err(StoreError::Corrupt { .. })));
}

#[test]
fn records_that_find_the_writer_busy_wait_in_the_journal_and_all_arrive() {
    let dir = scratch("spill");
    // Room for one operation in memory: nearly everything spills.
    let mut store = Store::start(settings(&dir, "r", 1)).expect("start");
    for i in 0..3000 {
        store.record(ended(&format!("c{i}"), Disposition::Answered));
        if i % 50 == 0 {
            store.end_turn();
        }
    }
    store.end_turn();
    let spilled = store.spilled();
    assert!(
        spilled > 0,
        "nothing spilled: the test did not test the spill"
    );
    store.close().expect("close");
    block(async {
        assert_eq!(
            count(&dir.join("records.db"), "SELECT count(*) FROM calls").await,
            3000,
            "{spilled} spilled"
        );
    });
    let left = std::fs::read_dir(dir.join("journal")).expect("dir").count();
    assert_eq!(left, 0, "journal segments are removed once committed");
}

#[test]
fn a_dead_engines_journal_is_replayed_and_its_open_calls_closed() {
    let dir = scratch("crash");
    // What a killed engine leaves: a call that started and one that ended, only in the
    // journal, and a line torn by the crash.
    let journal = dir.join("journal");
    std::fs::create_dir_all(&journal).expect("dir");
    let mut begun = CallRecord::new("dead-1".into(), 10_000);
    begun.queue = Some("consultation".into());
    begun.queued_ms = Some(12_000);
    let mut text = String::new();
    for op in [Op::Begin(begun), ended("dead-2", Disposition::Answered)] {
        text.push_str(&serde_json::to_string(&op).expect("json"));
        text.push('\n');
    }
    text.push_str("{\"op\":\"end\",\"record\":{\"call_id\":\"dea");
    std::fs::write(journal.join("seg-0000000000001-000000.jsonl"), text).expect("segment");

    let store = Store::start(settings(&dir, "r2", 16)).expect("start");
    let rec = store.recovery().clone();
    store.close().expect("close");
    assert_eq!((rec.replayed, rec.torn, rec.interrupted), (2, 1, 1));
    block(async {
        let path = dir.join("records.db");
        let mut c = db::open(&path, Access::Read).await.expect("open");
        let (d, ended, by): (String, i64, String) = sqlx::query_as(
            "SELECT disposition, ended_ms, hangup_by FROM calls WHERE call_id = 'dead-1'",
        )
        .fetch_one(&mut c)
        .await
        .expect("dead-1");
        assert_eq!(d, "interrupted");
        assert_eq!(ended, 12_000, "closed at its last known moment");
        assert_eq!(by, "system");
        let d: String =
            sqlx::query_scalar("SELECT disposition FROM calls WHERE call_id = 'dead-2'")
                .fetch_one(&mut c)
                .await
                .expect("dead-2");
        assert_eq!(d, "answered");
    });
    assert_eq!(std::fs::read_dir(&journal).expect("dir").count(), 0);
}

#[test]
fn replaying_an_operation_twice_changes_nothing() {
    let dir = scratch("idem");
    let path = dir.join("records.db");
    let mut begin = CallRecord::new("x".into(), 1);
    begin.queue = Some("q".into());
    let end = ended("x", Disposition::Abandoned);
    let mut late = begin.clone();
    late.agent = Some("1001".into());
    block(async {
        let mut c = db::open(&path, Access::Write).await.expect("open");
        let st = db::Statements::default();
        // The end first, then a stale begin and a stale progress (a journal replay order).
        for ops in [
            vec![end.clone()],
            vec![Op::Begin(begin.clone()), Op::Progress(late.clone())],
            vec![end.clone()],
        ] {
            db::apply(&mut c, &st, &ops).await.expect("apply");
        }
        let (d, agent): (String, Option<String>) =
            sqlx::query_as("SELECT disposition, agent FROM calls WHERE call_id = 'x'")
                .fetch_one(&mut c)
                .await
                .expect("row");
        assert_eq!((d.as_str(), agent), ("abandoned", None));
        let counted: i64 =
            sqlx::query_scalar("SELECT calls FROM interval_stats WHERE dim = 'total'")
                .fetch_one(&mut c)
                .await
                .expect("figures");
        assert_eq!(counted, 1, "the report figures count the call once");
    });
}
