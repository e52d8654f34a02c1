//! Records of simulated calls of every disposition, written through the recorder and the
//! store's writer to a real SQLite file, come out of the reports with figures computed by
//! hand below.

use sb_acd::{AcdEvent, Activity, AgentId, CallId as AcdCall, OverflowReason};
use sb_engine::{CallId, EngineEvent, Side};
use sb_records::{Recorder, RecorderConfig};
use sb_store::report::{self, GroupBy, Period, PeriodKind, ReportSettings, Row};
use sb_store::{Store, StoreSettings};
use sb_types::pii::Redacted;
use sb_types::vocab::{CallDirection, EndReason, TransferKind};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Unix ms of 2026-11-20 (a Friday) at h:m:s in Shanghai (UTC+8).
fn at(h: i64, m: i64, s: i64) -> i64 {
    let midnight_utc = 1_795_132_800_000 - 8 * 3_600_000; // 2026-11-20T00:00+08:00
    midnight_utc + ((h * 60 + m) * 60 + s) * 1000
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sb-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    dir
}

fn settings(dir: &Path, run: &str, capacity: usize) -> StoreSettings {
    StoreSettings {
        path: dir.join("records.db"),
        journal: dir.join("records.db.journal"),
        capacity,
        run: run.into(),
        thresholds: Default::default(),
    }
}

struct World {
    rec: Recorder,
    store: Store,
}

impl World {
    fn emit(&mut self, t: i64, ev: EngineEvent) {
        self.rec.handle(t, &ev);
        while let Some(op) = self.rec.poll_op() {
            self.store.record(op);
        }
        self.store.end_turn();
    }

    fn start(&mut self, n: u64, t: i64, dialled: &str, caller: &str) {
        self.start_from(n, t, dialled, caller, None);
    }

    /// A patient's call; `trunk` when it came from the phone network.
    fn start_from(&mut self, n: u64, t: i64, dialled: &str, caller: &str, trunk: Option<&str>) {
        self.emit(
            t,
            EngineEvent::CallStarted {
                direction: CallDirection::Inbound,
                outside: trunk.map(|trunk| {
                    Box::new(sb_engine::Outside {
                        trunk: Some(trunk.into()),
                        did: Some(dialled.into()),
                        withheld: false,
                        purpose: None,
                    })
                }),
                call: CallId(n),
                dialled: dialled.into(),
                caller: Redacted(caller.into()),
                sip_call_id: format!("sip-{n}"),
            },
        );
        self.emit(
            t,
            EngineEvent::CallAnswered {
                call: CallId(n),
                rtp_port: 10_000,
            },
        );
        for node in ["greeting", "menu"] {
            self.emit(
                t,
                EngineEvent::Ivr {
                    call: CallId(n),
                    node: node.into(),
                },
            );
        }
    }

    fn queue(&mut self, n: u64, t: i64, queue: &str) {
        self.emit(
            t,
            EngineEvent::Queued {
                call: CallId(n),
                queue: queue.into(),
            },
        );
        self.emit(
            t,
            EngineEvent::Acd(AcdEvent::Joined {
                call: AcdCall(n),
                queue: queue.into(),
                position: 1,
            }),
        );
    }

    fn offer(&mut self, n: u64, t: i64, agent: &str) {
        self.emit(
            t,
            EngineEvent::Acd(AcdEvent::Offered {
                call: AcdCall(n),
                agent: AgentId(agent.into()),
            }),
        );
    }

    fn answer(&mut self, n: u64, t: i64, agent: &str, rang_s: u64, waited_s: u64) {
        self.emit(
            t,
            EngineEvent::Acd(AcdEvent::Answered {
                call: AcdCall(n),
                agent: AgentId(agent.into()),
                rang: Duration::from_secs(rang_s),
                within_rings: rang_s <= 15,
                waited: Duration::from_secs(waited_s),
            }),
        );
        self.emit(
            t,
            EngineEvent::Bridged {
                call: CallId(n),
                agent: agent.into(),
            },
        );
    }

    fn end(&mut self, n: u64, t: i64, by: Side) {
        self.emit(
            t,
            EngineEvent::MediaQuality {
                call: CallId(n),
                side: Side::Caller,
                loss: 0.01,
                jitter_ms: 2.5,
                strangers: 3,
                expected: 1000,
                lost: 10,
            },
        );
        // Two agent legs (an offer rung out, then the one answered) each refused some.
        for strangers in [4, 5] {
            self.emit(
                t,
                EngineEvent::MediaQuality {
                    call: CallId(n),
                    side: Side::Agent,
                    loss: 0.0,
                    jitter_ms: 1.0,
                    strangers,
                    expected: 500,
                    lost: 0,
                },
            );
        }
        self.emit(
            t,
            EngineEvent::CallEnded {
                call: CallId(n),
                reason: EndReason::CallerHungUp,
                by,
            },
        );
    }

    fn abandon(&mut self, n: u64, t: i64, queue: &str, waited_s: u64) {
        self.emit(
            t,
            EngineEvent::Acd(AcdEvent::Abandoned {
                call: AcdCall(n),
                queue: queue.into(),
                waited: Duration::from_secs(waited_s),
            }),
        );
        self.end(n, t, Side::Caller);
    }

    fn tag(&mut self, n: u64, t: i64, var: &str, value: &str) {
        self.emit(
            t,
            EngineEvent::Tag {
                call: CallId(n),
                var: var.into(),
                value: value.into(),
            },
        );
    }

    fn agent_state(&mut self, t: i64, agent: &str, activity: Activity, available: bool) {
        self.emit(
            t,
            EngineEvent::Acd(AcdEvent::AgentState {
                agent: AgentId(agent.into()),
                state: activity.state_name(false, available, false),
                activity,
                paused: None,
                available,
            }),
        );
    }
}

fn recorder(run: &str) -> Recorder {
    Recorder::new(RecorderConfig {
        run: run.into(),
        regions: vec![
            ("0755".into(), "Shenzhen".into()),
            ("010".into(), "Beijing".into()),
            ("021".into(), "Shanghai".into()),
        ],
        short_abandon_ms: 5_000,
        ring_cycle_ms: 5_000,
        wrap_up_ms: 10_000,
    })
}

/// The day described in the module comment: eleven calls, every disposition.
fn simulate_day(dir: &Path) {
    let store = Store::start(settings(dir, "run1", 64)).expect("store");
    let mut w = World {
        rec: recorder("run1"),
        store,
    };
    let q = "consultation";
    w.agent_state(at(9, 0, 0), "1003", Activity::Idle, true);
    // A: network ad, Beijing; waits 8 s, 1003's phone rings 4 s; 60 s of talk.
    w.start(1, at(9, 59, 40), "8001", "01012345678");
    w.tag(1, at(9, 59, 40), "media_source", "network");
    w.queue(1, at(10, 0, 0), q);
    w.offer(1, at(10, 0, 4), "1003");
    w.answer(1, at(10, 0, 8), "1003", 4, 8);
    w.agent_state(at(10, 0, 8), "1003", Activity::OnCall(AcdCall(1)), true);
    w.end(1, at(10, 1, 8), Side::Caller);
    w.agent_state(at(10, 1, 8), "1003", Activity::WrapUp, true);
    w.agent_state(at(10, 1, 18), "1003", Activity::Idle, true);
    // B: Shanghai; waits 20 s (past the threshold), rings 12 s at 1004; 120 s; agent ends.
    w.start(2, at(10, 4, 40), "8000", "02187654321");
    w.queue(2, at(10, 5, 0), q);
    w.offer(2, at(10, 5, 8), "1004");
    w.answer(2, at(10, 5, 20), "1004", 12, 20);
    w.end(2, at(10, 7, 20), Side::Agent);
    // C: abandons after 30 s, while 1004's phone rings.
    w.start(3, at(10, 9, 40), "8000", "13900000003");
    w.queue(3, at(10, 10, 0), q);
    w.offer(3, at(10, 10, 20), "1004");
    w.abandon(3, at(10, 10, 30), q, 30);
    // D: a short abandon after 3 s.
    w.start(4, at(10, 14, 40), "8000", "13900000004");
    w.queue(4, at(10, 15, 0), q);
    w.abandon(4, at(10, 15, 3), q, 3);
    // E: the fourth waiting patient overflows at once to the operators; 1100 answers
    // after 6 s; 30 s of talk.
    w.start(5, at(10, 19, 40), "8000", "13900000005");
    w.queue(5, at(10, 20, 0), q);
    w.emit(
        at(10, 20, 0),
        EngineEvent::Acd(AcdEvent::Overflowed {
            call: AcdCall(5),
            queue: q.into(),
            reason: OverflowReason::TooManyWaiting,
            waited: Duration::ZERO,
        }),
    );
    w.emit(
        at(10, 20, 0),
        EngineEvent::Overflowed {
            call: CallId(5),
            queue: q.into(),
            to: Some("operator".into()),
        },
    );
    w.offer(5, at(10, 20, 2), "1100");
    w.answer(5, at(10, 20, 6), "1100", 4, 6);
    w.end(5, at(10, 20, 36), Side::Caller);
    // F: waits 40 s, then chooses a callback.
    w.start(6, at(10, 24, 40), "8000", "13812345678");
    w.queue(6, at(10, 25, 0), q);
    w.emit(
        at(10, 25, 40),
        EngineEvent::Acd(AcdEvent::Overflowed {
            call: AcdCall(6),
            queue: q.into(),
            reason: OverflowReason::MaxWait,
            waited: Duration::from_secs(40),
        }),
    );
    w.emit(
        at(10, 25, 40),
        EngineEvent::Overflowed {
            call: CallId(6),
            queue: q.into(),
            to: None,
        },
    );
    w.emit(
        at(10, 25, 40),
        EngineEvent::CallbackOffered { call: CallId(6) },
    );
    w.emit(
        at(10, 25, 45),
        EngineEvent::CallbackRequested {
            call: CallId(6),
            queue: q.into(),
        },
    );
    w.end(6, at(10, 25, 50), Side::Engine);
    // G: after hours at 21:00, no queue.
    w.start(7, at(21, 0, 0), "8000", "13900000007");
    w.tag(7, at(21, 0, 5), "tag", "after_hours");
    w.end(7, at(21, 0, 30), Side::Caller);
    // H: sent to the on-duty extension.
    w.start(8, at(11, 0, 0), "8000", "13900000008");
    w.emit(
        at(11, 0, 10),
        EngineEvent::Transfer {
            call: CallId(8),
            from: "ivr".into(),
            to: "2005".into(),
            kind: TransferKind::Ivr,
            by: Some(sb_engine::Control::Dialplan),
        },
    );
    w.end(8, at(11, 0, 40), Side::Caller);
    // I: refused (a number with no flow).
    w.emit(
        at(11, 30, 0),
        EngineEvent::Rejected {
            dialled: "8999".into(),
            caller: Redacted("13900000009".into()),
            status: 404,
        },
    );
    // J: hangs up in the menu at 07:00.
    w.start(10, at(7, 0, 0), "8000", "13900000010");
    w.end(10, at(7, 0, 15), Side::Caller);
    // K: appointments; 1002 lets it ring 15 s, 1001 picks up after 2 s; 17 s of waiting.
    w.start(11, at(16, 59, 40), "8000", "075512345678");
    w.queue(11, at(17, 0, 0), "appointments");
    w.offer(11, at(17, 0, 0), "1002");
    w.emit(
        at(17, 0, 15),
        EngineEvent::Acd(AcdEvent::RingNoAnswer {
            call: AcdCall(11),
            agent: AgentId("1002".into()),
            rang: Duration::from_secs(15),
        }),
    );
    w.offer(11, at(17, 0, 15), "1001");
    w.answer(11, at(17, 0, 17), "1001", 2, 17);
    w.end(11, at(17, 1, 17), Side::Caller);
    w.agent_state(at(11, 0, 0), "1003", Activity::Idle, false);
    assert_eq!(w.rec.open_calls(), 0);
    w.store.close().expect("close");
}

fn report_settings() -> ReportSettings {
    ReportSettings {
        utc_offset_min: 480,
        short_abandon_ms: 5_000,
        sla_ms: 15_000,
        shifts: vec![
            ("early".into(), 8 * 60, 16 * 60),
            ("middle".into(), 10 * 60, 18 * 60),
            ("night".into(), 16 * 60, 24 * 60),
        ],
    }
}

fn run_report(dir: &Path, kind: PeriodKind, by: GroupBy) -> report::Report {
    let path = dir.join("records.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    rt.block_on(async {
        let mut conn = sb_store::db::open(&path, sb_store::db::Access::Read)
            .await
            .expect("open for reading");
        let p = Period::containing(kind, (2026, 11, 20), 480);
        report::run(&mut conn, &path, p, by, &report_settings())
            .await
            .expect("report")
    })
}

fn row<'a>(r: &'a report::Report, key: &str) -> &'a Row {
    r.rows
        .iter()
        .find(|w| w.key == key)
        .unwrap_or_else(|| panic!("no row {key} in {:#?}", r.rows))
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn every_disposition_comes_out_of_the_reports_as_computed_by_hand() {
    let dir = scratch("day");
    simulate_day(&dir);

    let r = run_report(&dir, PeriodKind::Daily, GroupBy::Queue);
    let c = row(&r, "consultation");
    // A..F joined consultation: A and B answered, C abandoned, D short, E overflowed, F
    // asked for a callback.
    assert_eq!(
        (
            c.calls,
            c.offered,
            c.answered,
            c.abandoned,
            c.short_abandoned
        ),
        (6, 6, 2, 1, 1)
    );
    assert_eq!((c.callbacks, c.overflowed), (1, 1));
    // Only A was answered within 15 s of waiting: 1 / (2 answered + 1 abandoned).
    assert!(close(c.service_level, 1.0 / 3.0), "{c:?}");
    assert!(close(c.asa_s, 14.0), "(8 + 20) / 2: {c:?}");
    assert!(close(c.aht_s, 100.0), "((60 + 10) + (120 + 10)) / 2: {c:?}");
    assert!(close(c.longest_wait_s, 40.0), "{c:?}");
    assert!(close(c.three_ring_rate, 1.0), "{c:?}");
    let a = row(&r, "appointments");
    assert_eq!((a.calls, a.answered), (1, 1));
    assert!(close(a.service_level, 0.0), "waited 17 s: {a:?}");
    assert!(close(a.asa_s, 17.0));
    let none = row(&r, "(no queue)");
    // G (after hours), H (transferred), I (refused), J (IVR only).
    assert_eq!((none.calls, none.offered), (4, 0));
    let t = row(&r, "total");
    assert_eq!((t.calls, t.offered, t.answered, t.abandoned), (11, 7, 3, 1));
    assert!(close(t.service_level, 0.25), "1 / (3 + 1): {t:?}");

    let r = run_report(&dir, PeriodKind::Daily, GroupBy::Agent);
    let a1003 = row(&r, "1003");
    assert_eq!((a1003.offered, a1003.answered), (1, 1));
    assert!(close(a1003.three_ring_rate, 1.0));
    assert!(close(a1003.aht_s, 70.0));
    // 09:00-11:00 staffed (7,200 s); 60 s on the call and 10 s of wrap-up.
    assert!(close(a1003.occupancy, 70.0 / 7200.0), "{a1003:?}");
    let a1004 = row(&r, "1004");
    // B answered, C rang 1004 and was abandoned: service level 0 / (1 + 1).
    assert_eq!((a1004.offered, a1004.answered, a1004.abandoned), (2, 1, 1));
    assert!(close(a1004.service_level, 0.0));
    let a1002 = row(&r, "1002");
    assert_eq!((a1002.offered, a1002.answered), (1, 0));
    assert!(close(a1002.three_ring_rate, 0.0), "rang out: {a1002:?}");
    let op = row(&r, "1100");
    assert_eq!((op.offered, op.answered), (1, 1));
    assert!(close(op.asa_s, 6.0));

    let r = run_report(&dir, PeriodKind::Daily, GroupBy::Media);
    assert_eq!(row(&r, "network").calls, 1);
    assert_eq!(row(&r, "direct").calls, 10);
    let r = run_report(&dir, PeriodKind::Daily, GroupBy::Region);
    assert_eq!(row(&r, "Beijing").calls, 1);
    assert_eq!(row(&r, "Shanghai").calls, 1);
    assert_eq!(row(&r, "Shenzhen").calls, 1, "0755 beats nothing else");
    assert_eq!(row(&r, "unknown").calls, 8);
    let r = run_report(&dir, PeriodKind::Daily, GroupBy::Shift);
    // Starts: J 07:00, A-F 09:59-10:24, H 11:00, I 11:30, K 16:59, G 21:00.
    assert_eq!(row(&r, "early").calls, 8, "A-F, H, I");
    assert_eq!(
        row(&r, "middle").calls,
        8,
        "B-F, H, I, K (A started 09:59:40)"
    );
    assert_eq!(row(&r, "night").calls, 2, "K, G");

    // The week and the month hold the same day.
    for kind in [PeriodKind::Weekly, PeriodKind::Monthly] {
        let r = run_report(&dir, kind, GroupBy::Total);
        assert_eq!(row(&r, "total").calls, 11);
    }
    // The callback list: F (callback) and C (abandoned), masked unless asked.
    let r = run_report(&dir, PeriodKind::Daily, GroupBy::Total);
    let dispositions: Vec<&str> = r.callbacks.iter().map(|c| c.disposition.as_str()).collect();
    assert_eq!(dispositions, ["abandoned", "callback_requested"]);
    let table = report::render(
        &r,
        report::Format::Table,
        &report_settings(),
        "total",
        false,
    );
    assert!(
        table.contains("138*****678") || table.contains("138****5678"),
        "{table}"
    );
    assert!(!table.contains("13812345678"), "{table}");
    assert!(
        table.contains("service level = answered within 15 s"),
        "{table}"
    );
    let shown = report::render(&r, report::Format::Table, &report_settings(), "total", true);
    assert!(shown.contains("13812345678"));
    let json: serde_json::Value = serde_json::from_str(&report::render(
        &r,
        report::Format::Json,
        &report_settings(),
        "total",
        false,
    ))
    .expect("json");
    let first = &json.as_array().expect("a list of rows")[0];
    for k in [
        "key",
        "offered",
        "answered",
        "abandoned",
        "service_level",
        "asa_s",
        "aht_s",
    ] {
        assert!(first.get(k).is_some(), "{k} missing in {first}");
    }
    let csv = report::render(&r, report::Format::Csv, &report_settings(), "total", false);
    assert!(csv.starts_with("key,calls,offered,answered,abandoned"));
    assert!(
        csv.lines()
            .nth(1)
            .expect("row")
            .starts_with("total,11,7,3,1,1,1,1,0.2500,"),
        "{csv}"
    );
}

#[test]
fn call_rows_carry_the_details() {
    let dir = scratch("details");
    simulate_day(&dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    rt.block_on(async {
        use sqlx::Row;
        let path = dir.join("records.db");
        let mut conn = sb_store::db::open(&path, sb_store::db::Access::Read)
            .await
            .expect("open");
        let a = sqlx::query("SELECT * FROM calls WHERE call_id = 'run1-1'")
            .fetch_one(&mut conn)
            .await
            .expect("A");
        assert_eq!(a.get::<String, _>("disposition"), "answered");
        assert_eq!(a.get::<String, _>("caller"), "01012345678", "stored in full");
        assert_eq!(a.get::<Option<String>, _>("media_source").as_deref(), Some("network"));
        assert_eq!(a.get::<String, _>("ivr_path"), "greeting>menu");
        assert_eq!(a.get::<i64, _>("rings"), 1);
        assert_eq!(a.get::<i64, _>("ring_ms"), 4000);
        assert_eq!(a.get::<String, _>("hangup_by"), "caller");
        assert_eq!(a.get::<Option<f64>, _>("caller_loss"), Some(0.01));
        assert_eq!(a.get::<i64, _>("caller_strangers"), 3);
        assert_eq!(a.get::<i64, _>("agent_strangers"), 9, "summed over the agent legs");
        let b = sqlx::query("SELECT rings, hangup_by FROM calls WHERE call_id = 'run1-2'")
            .fetch_one(&mut conn)
            .await
            .expect("B");
        assert_eq!(b.get::<i64, _>("rings"), 3, "12 s of ringing is the third ring");
        assert_eq!(b.get::<String, _>("hangup_by"), "agent");
        let kinds: Vec<String> =
            sqlx::query_scalar("SELECT kind FROM call_events WHERE call_id = 'run1-11' ORDER BY seq")
                .fetch_all(&mut conn)
                .await
                .expect("events");
        assert_eq!(
            kinds,
            ["started", "answered_ivr", "joined", "offered", "ring_no_answer", "offered", "answered", "bridged", "ended"]
        );
        let offers: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT agent, outcome, rang_ms FROM offers WHERE call_id = 'run1-11' ORDER BY seq",
        )
        .fetch_all(&mut conn)
        .await
        .expect("offers");
        assert_eq!(
            offers,
            [
                ("1002".to_string(), "no_answer".to_string(), 15_000),
                ("1001".to_string(), "answered".to_string(), 2_000)
            ]
        );
        let callbacks: Vec<(String, String)> =
            sqlx::query_as("SELECT call_id, number FROM callbacks")
                .fetch_all(&mut conn)
                .await
                .expect("callbacks");
        assert_eq!(callbacks, [("run1-6".to_string(), "13812345678".to_string())]);
        let blocked: String =
            sqlx::query_scalar("SELECT disposition FROM calls WHERE dialled = '8999'")
                .fetch_one(&mut conn)
                .await
                .expect("I");
        assert_eq!(blocked, "blocked");
        let after: String = sqlx::query_scalar("SELECT disposition FROM calls WHERE call_id = 'run1-7'")
            .fetch_one(&mut conn)
            .await
            .expect("G");
        assert_eq!(after, "after_hours");
        let transferred: (String, String) = sqlx::query_as(
            "SELECT c.disposition, t.to_party FROM calls c JOIN transfers t USING (call_id) WHERE call_id = 'run1-8'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("H");
        assert_eq!(transferred, ("transferred_out".to_string(), "2005".to_string()));
    });
}

#[test]
fn trunk_calls_are_reported_by_trunk_and_hospital_number() {
    let dir = scratch("trunks");
    let store = Store::start(settings(&dir, "run1", 64)).expect("store");
    let mut w = World {
        rec: recorder("run1"),
        store,
    };
    let q = "consultation";
    w.agent_state(at(9, 0, 0), "1003", Activity::Idle, true);
    // A patient through carrier A to the main number: answered, then transferred out on
    // carrier B (the record keeps carrier A).
    w.start_from(
        1,
        at(10, 0, 0),
        "02088880000",
        "13900000001",
        Some("carrier-a"),
    );
    w.queue(1, at(10, 0, 5), q);
    w.offer(1, at(10, 0, 6), "1003");
    w.answer(1, at(10, 0, 8), "1003", 2, 3);
    w.emit(
        at(10, 1, 0),
        EngineEvent::TrunkAttempt {
            call: CallId(1),
            trunk: "carrier-b".into(),
            status: 200,
            cause: None,
            failover: false,
        },
    );
    w.end(1, at(10, 2, 0), Side::Caller);
    // Another to the appointments number, abandoned after 20 s.
    w.start_from(
        2,
        at(10, 5, 0),
        "02088880001",
        "13900000002",
        Some("carrier-a"),
    );
    w.queue(2, at(10, 5, 5), q);
    w.abandon(2, at(10, 5, 25), q, 20);
    // The operator calls out: carrier A fails (503, its cause), carrier B carries it.
    w.emit(
        at(11, 0, 0),
        EngineEvent::CallStarted {
            direction: CallDirection::Outbound,
            outside: Some(Box::new(sb_engine::Outside {
                trunk: None,
                did: None,
                withheld: false,
                purpose: Some(sb_types::vocab::OutboundPurpose::Dialled),
            })),
            call: CallId(3),
            dialled: "02022345678".into(),
            caller: Redacted("1100".into()),
            sip_call_id: "sip-3".into(),
        },
    );
    for (trunk, status, cause) in [
        ("carrier-a", 503, Some("Q.850;cause=34")),
        ("carrier-b", 200, None),
    ] {
        w.emit(
            at(11, 0, 2),
            EngineEvent::TrunkAttempt {
                call: CallId(3),
                trunk: trunk.into(),
                status,
                cause: cause.map(String::from),
                failover: status != 200,
            },
        );
    }
    w.emit(
        at(11, 0, 3),
        EngineEvent::CallAnswered {
            call: CallId(3),
            rtp_port: 10_002,
        },
    );
    w.end(3, at(11, 1, 0), Side::Caller);
    w.store.close().expect("close");

    let r = run_report(&dir, PeriodKind::Daily, GroupBy::Trunk);
    let a = row(&r, "carrier-a");
    assert_eq!((a.calls, a.answered, a.abandoned), (2, 1, 1));
    let out = row(&r, "carrier-b (out)");
    assert_eq!((out.calls, out.answered), (1, 1));
    assert!(
        r.rows.iter().all(|w| w.key != "carrier-b"),
        "the transfer out does not move the patient's call: {:?}",
        r.rows
    );
    let r = run_report(&dir, PeriodKind::Daily, GroupBy::Did);
    assert_eq!(row(&r, "02088880000").answered, 1);
    assert_eq!(row(&r, "02088880001").abandoned, 1);
    assert_eq!(
        row(&r, "total").calls,
        2,
        "calls out are not patients' figures"
    );
}

#[test]
fn callback_progress_reaches_the_callback_list() {
    let dir = scratch("callbacks");
    let store = Store::start(settings(&dir, "run1", 64)).expect("store");
    let mut w = World {
        rec: recorder("run1"),
        store,
    };
    let q = "consultation";
    // Two patients ask for callbacks; the first outside the callbacks' hours: its next
    // try is known before its own call has ended, and waits for the call's record.
    for (n, number) in [(1, "13812345001"), (2, "13812345002")] {
        w.start(n, at(10, 0, 0), "8000", number);
        w.queue(n, at(10, 0, 5), q);
        w.emit(
            at(10, 0, 30),
            EngineEvent::CallbackRequested {
                call: CallId(n),
                queue: q.into(),
            },
        );
    }
    w.emit(
        at(10, 0, 30),
        EngineEvent::CallbackDeferred {
            item: CallId(1),
            at_ms: at(14, 0, 0),
            tries: 0,
        },
    );
    w.end(1, at(10, 0, 35), Side::Engine);
    w.end(2, at(10, 0, 35), Side::Engine);
    // The first is reached at its first try; the second never is.
    w.emit(
        at(14, 1, 0),
        EngineEvent::CallbackReached {
            call: CallId(3),
            item: CallId(1),
            waited_ms: 14_430_000,
        },
    );
    w.emit(
        at(14, 3, 0),
        EngineEvent::CallbackClosed {
            item: CallId(1),
            outcome: sb_types::vocab::CallbackOutcome::Reached,
            tries: 1,
        },
    );
    w.emit(
        at(10, 20, 0),
        EngineEvent::CallbackDeferred {
            item: CallId(2),
            at_ms: at(10, 35, 0),
            tries: 1,
        },
    );
    w.emit(
        at(11, 0, 0),
        EngineEvent::CallbackClosed {
            item: CallId(2),
            outcome: sb_types::vocab::CallbackOutcome::Worklist,
            tries: 3,
        },
    );
    // A third hangs up after 40 s in the queue: the abandoned call joins the list.
    w.start(4, at(11, 0, 0), "8000", "13812345004");
    w.queue(4, at(11, 0, 5), q);
    w.emit(
        at(11, 0, 45),
        EngineEvent::CallbackRecovered {
            item: CallId(4),
            queue: q.into(),
            waited_ms: 40_000,
        },
    );
    w.end(4, at(11, 0, 45), Side::Caller);
    assert_eq!(w.rec.open_calls(), 0);
    w.store.close().expect("close");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    rt.block_on(async {
        let mut conn = sb_store::db::open(&dir.join("records.db"), sb_store::db::Access::Read)
            .await
            .expect("open");
        type Progress = (String, String, i64, Option<i64>, Option<i64>);
        let rows: Vec<Progress> = sqlx::query_as(
            "SELECT call_id, status, attempts, next_ms, reached_ms FROM callbacks ORDER BY call_id",
        )
        .fetch_all(&mut conn)
        .await
        .expect("callbacks");
        assert_eq!(
            rows,
            [
                (
                    "run1-1".into(),
                    "reached".into(),
                    1,
                    None,
                    Some(at(14, 1, 0))
                ),
                ("run1-2".into(), "worklist".into(), 3, None, None),
                ("run1-4".into(), "pending".into(), 0, None, None),
            ]
        );
        let number: String =
            sqlx::query_scalar("SELECT number FROM callbacks WHERE call_id = 'run1-4'")
                .fetch_one(&mut conn)
                .await
                .expect("recovered");
        assert_eq!(number, "13812345004", "in full, to dial");
        // The list as people work it: by status, oldest request first.
        let path = dir.join("records.db");
        let owed = sb_store::worklist::callback_list(&mut conn, &path, Some("worklist"))
            .await
            .expect("worklist");
        assert_eq!(owed.len(), 1);
        assert_eq!((owed[0].call_id.as_str(), owed[0].attempts), ("run1-2", 3));
        let all = sb_store::worklist::callback_list(&mut conn, &path, None)
            .await
            .expect("all");
        let ids: Vec<&str> = all.iter().map(|c| c.call_id.as_str()).collect();
        assert_eq!(ids, ["run1-1", "run1-2", "run1-4"]);
    });
}

#[test]
fn surveys_are_reported_by_queue_and_agent_and_the_talk_ends_when_the_agent_leaves() {
    let dir = scratch("surveys");
    let store = Store::start(settings(&dir, "run1", 64)).expect("store");
    let mut w = World {
        rec: recorder("run1"),
        store,
    };
    let q = "consultation";
    // Four calls answered by 1003 after 60 s of talk: rated 5, rated 3, asked but not
    // answered, not asked.
    for (n, score) in [
        (1, Some(Some(5))),
        (2, Some(Some(3))),
        (3, Some(None)),
        (4, None),
    ] {
        let t0 = at(10, n as i64 * 5, 0);
        w.start(n, t0, "8000", "13800000000");
        w.queue(n, t0 + 1_000, q);
        w.offer(n, t0 + 2_000, "1003");
        w.answer(n, t0 + 4_000, "1003", 2, 3);
        let left = t0 + 64_000;
        if let Some(answer) = score {
            w.emit(
                left,
                EngineEvent::SurveyOffered {
                    call: CallId(n),
                    agent: Some("1003".into()),
                },
            );
            w.emit(
                left + 15_000,
                EngineEvent::SurveyAnswered {
                    call: CallId(n),
                    score: answer,
                },
            );
            w.end(n, left + 20_000, Side::Agent);
        } else {
            w.end(n, left, Side::Agent);
        }
    }
    w.store.close().expect("close");
    for by in [GroupBy::Queue, GroupBy::Agent] {
        let r = run_report(&dir, PeriodKind::Daily, by);
        let key = if by == GroupBy::Queue { q } else { "1003" };
        let w = row(&r, key);
        assert_eq!(w.surveys, 3, "{by:?}");
        assert!(
            close(w.survey_rate, 2.0 / 3.0),
            "{by:?}: {:?}",
            w.survey_rate
        );
        assert!(close(w.survey_avg, 4.0), "{by:?}: {:?}", w.survey_avg);
        // 60 s of talk and the recorder's 10 s of wrap-up: the survey is not handle time.
        assert!(close(w.aht_s, 70.0), "{by:?}: {:?}", w.aht_s);
    }
}
