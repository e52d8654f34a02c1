//! Call records survive the engine being killed: SIPp places short calls, the engine gets
//! kill -9 in the middle, and after the next start every call SIPp saw completed has its
//! record; the calls that were up are closed as interrupted.
#![allow(
    clippy::disallowed_methods,
    reason = "an end-to-end test: it drives real processes in real time"
)]

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

const NO_SPIN: &str = "rtp.timer_spin_ms=0";

fn successful_calls(stat_csv: &std::path::Path) -> (u64, u64) {
    read_calls(stat_csv).expect("SIPp statistics")
}

/// (completed, placed) from SIPp's statistics file, once it has a row.
fn read_calls(stat_csv: &std::path::Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(stat_csv).ok()?;
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next()?.split(';').collect();
    let last: Vec<&str> = lines.last()?.split(';').collect();
    let col = |name: &str| -> Option<u64> {
        let i = head.iter().position(|h| *h == name)?;
        last.get(i)?.parse().ok()
    };
    Some((col("SuccessfulCall(C)")?, col("OutgoingCall(C)")?))
}

async fn dispositions(path: &std::path::Path) -> Vec<(String, i64)> {
    let mut c = sb_store::db::open(path, sb_store::db::Access::Read)
        .await
        .expect("open the records");
    sqlx::query_as(
        "SELECT disposition, count(*) FROM calls GROUP BY disposition ORDER BY disposition",
    )
    .fetch_all(&mut c)
    .await
    .expect("count")
}

#[test]
fn kill_9_under_load_loses_no_completed_call() {
    require_tool("sipp");
    let rtp = rtp_range(800);
    // This test is about durability under load, not overload: the debug build on a busy
    // machine may lag, and its overload protection would turn calls away (503).
    let mut e = Engine::start("kill9", &[&rtp, NO_SPIN, "sip.overload_lag_ms=0"]);
    let db = e.dir.join("switchboard.db");
    let dir = scratch("sipp-kill9");
    let scenario = std::fs::read_to_string(workspace().join("tests/sipp/short_call.xml"))
        .expect("scenario")
        .replace("HOLD_MS", "300");
    let path = dir.join("short_call.xml");
    std::fs::write(&path, scenario).expect("write scenario");
    let mut sipp = Command::new("sipp")
        .current_dir(&dir)
        .arg("-sf")
        .arg(&path)
        .args(["-s", "8000", "-au", "1001", "-ap", "demo-1001", "-auth_uri"])
        .arg(format!("8000@127.0.0.1:{}", e.port))
        .args([
            "-m",
            "3000",
            "-r",
            "60",
            "-l",
            "200",
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
        ])
        .arg("-p")
        .arg(free_port().to_string())
        .arg("-mp")
        .arg(free_media_port().to_string())
        .args(["-recv_timeout", "3000", "-timeout", "60s", "-nostdin"])
        .args(["-trace_stat", "-stf", "stat.csv", "-fd", "1"])
        .arg(e.addr().to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start sipp");
    // Let at least a hundred calls complete (SIPp writes its figures every second; a slow
    // machine takes longer), then kill the engine mid-stream.
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    std::thread::sleep(Duration::from_secs(3));
    while read_calls(&dir.join("stat.csv")).is_none_or(|(done, _)| done < 150)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(250));
    }
    e.child.kill().expect("kill -9");
    let _ = e.child.wait();
    // SIPp stops placing calls on SIGUSR1 and exits once those up have timed out, writing
    // its final figures.
    let _ = Command::new("kill")
        .args(["-USR1", &sipp.id().to_string()])
        .status();
    let _ = sipp.wait();
    let (completed, placed) = successful_calls(&dir.join("stat.csv"));
    assert!(
        completed >= 100,
        "only {completed} calls completed before the kill"
    );
    assert!(
        placed > completed,
        "the kill interrupted nothing: {placed} placed"
    );

    // The next start replays the journal and closes what was up.
    let mut again = Engine::start(
        "kill9-restart",
        &[&format!("store.path={}", db.display()), NO_SPIN],
    );
    again.signal("TERM");
    assert!(again.wait_exit(Duration::from_secs(10)).is_some());
    let log = again.log();
    assert!(log.contains("call record store open"), "{log}");
    let counts = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt")
        .block_on(dispositions(&db));
    let of = |d: &str| {
        counts
            .iter()
            .find(|(k, _)| k == d)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    // Every call SIPp completed hung up in the IVR: each is an IVR-only record.
    let recorded = of("ivr_only") as u64;
    eprintln!("SIPp placed {placed}, completed {completed}; records: {counts:?}");
    assert!(
        recorded >= completed,
        "{completed} calls completed but {recorded} recorded: {counts:?}"
    );
    assert!(
        recorded + of("interrupted") as u64 <= placed,
        "more records than calls: {counts:?}"
    );
    assert_eq!(of("in_progress"), 0, "{counts:?}");
}

/// The calls rows (disposition, hangup_by, ended) of the records at `db`.
fn calls_in(db: &std::path::Path) -> Vec<(String, Option<String>, Option<i64>)> {
    records(
        db,
        "SELECT disposition, hangup_by, ended_ms FROM calls ORDER BY started_ms",
    )
}

/// An engine with `grace_seconds`, a baresip caller in its IVR, and SIGTERM sent: the
/// engine has said it is stopping. Returns both.
fn stopping_with_a_call(name: &str, grace_seconds: u32) -> (Engine, Phone) {
    let grace = format!("shutdown.grace_seconds={grace_seconds}");
    let e = Engine::start(name, &[&grace, NO_SPIN, &rtp_range(100)]);
    let phone = Phone::dial(&e, "8000");
    let (ok, log) = e.wait_log(Duration::from_secs(20), |l| {
        l.contains("node=main/greeting")
    });
    assert!(ok, "{log}");
    e.signal("TERM");
    let (ok, log) = e.wait_log(Duration::from_secs(5), |l| {
        l.contains("stopping: new calls are refused")
    });
    assert!(ok, "{log}");
    (e, phone)
}

#[test]
fn sigterm_refuses_new_calls_lets_calls_finish_then_ends_and_records_them() {
    let (mut e, phone) = stopping_with_a_call("graceful", 3);
    // A new call is refused with 503 while the one in progress goes on.
    let late = Phone::start(&e, "1002", None, Some("8000"));
    let (ok, log) = e.wait_log(Duration::from_secs(10), |l| {
        l.contains("call refused") && l.contains("status=503")
    });
    assert!(ok, "{log}");
    assert!(
        e.child.try_wait().expect("status").is_none(),
        "still running within the grace"
    );
    assert!(
        !log.contains("call ended"),
        "the call in progress went on: {log}"
    );
    // After the grace the call is ended with a BYE, recorded, and the engine exits 0.
    let status = e
        .wait_exit(Duration::from_secs(10))
        .expect("exits after the grace");
    assert!(status.success(), "{status}");
    let log = e.log();
    assert!(
        log.contains("stopping: ending the calls in progress"),
        "{log}"
    );
    assert!(log.contains("reason=\"switchboard_stopping\""), "{log}");
    assert!(log.contains("shut down cleanly"), "{log}");
    let bye = phone.log();
    assert!(bye.contains("BYE sip:"), "the phone got a BYE: {bye}");
    drop(late);
    let calls = calls_in(&e.dir.join("switchboard.db"));
    assert_eq!(calls.len(), 2, "{calls:?}");
    let ended = calls
        .iter()
        .find(|c| c.0 != "blocked")
        .expect("the call that was up");
    assert_eq!(ended.1.as_deref(), Some("system"), "{calls:?}");
    assert!(ended.2.is_some(), "ended, not interrupted: {calls:?}");
}

#[test]
fn a_second_signal_stops_at_once() {
    let (mut e, _phone) = stopping_with_a_call("graceful-twice", 60);
    let t = std::time::Instant::now();
    e.signal("INT");
    let status = e
        .wait_exit(Duration::from_secs(10))
        .expect("exits at the second signal");
    assert!(status.success(), "{status}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "not after the 60 s grace"
    );
    let calls = calls_in(&e.dir.join("switchboard.db"));
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].1.as_deref(), Some("system"), "{calls:?}");
    assert!(calls[0].2.is_some());
}
