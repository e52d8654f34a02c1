//! The store's benchmark: how fast call records are committed, what they cost the engine's
//! thread, and how long the monthly reports take over a large database.
//!
//!   cargo run --release -p sb-records --example store_bench -- [CALLS] [RATE]
//!
//! CALLS (default 1,000,000) answered-or-abandoned calls spread over November 2026 go
//! through the recorder and the store exactly as the engine's events would (start, queue,
//! offer, answer or abandon, end, and the agent's four state changes: about eight
//! operations per answered call). With RATE
//! (calls per second) they are offered at that pace and the run reports whether the writer
//! kept up (nothing spilled); with RATE 0 as fast as the engine side can produce them.
//! Then every report grouping of the month runs three times; medians are printed.
#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark: it measures real time"
)]

use sb_acd::{AcdEvent, Activity, AgentId, CallId as AcdCall};
use sb_engine::{CallId, EngineEvent, Side};
use sb_records::{Recorder, RecorderConfig};
use sb_store::report::{self, GroupBy, Period, PeriodKind, ReportSettings};
use sb_store::{Store, StoreSettings};
use sb_types::pii::Redacted;
use sb_types::vocab::{CallDirection, EndReason};
use std::time::{Duration, Instant};

/// 2026-11-01T00:00+08:00.
const MONTH_START_MS: i64 = 1_793_462_400_000 - 8 * 3_600_000;
const MONTH_MS: i64 = 30 * 86_400_000;

fn events(n: u64, t0: i64, rng: &mut u64) -> Vec<(i64, EngineEvent)> {
    let mut r = || {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng
    };
    let queues = ["appointments", "consultation", "complaints", "operator"];
    let queue = queues[(r() % 4) as usize].to_string();
    let agent = format!("10{:02}", r() % 40);
    let wait = (r() % 40_000) as i64;
    let rang = (r() % 14_000) as i64;
    let caller = format!("139{:08}", r() % 100_000_000);
    let call = CallId(n);
    let mut v = vec![
        (
            t0,
            EngineEvent::CallStarted {
                direction: CallDirection::Inbound,
                outside: None,
                call,
                dialled: "8000".into(),
                caller: Redacted(caller),
                sip_call_id: String::new(),
            },
        ),
        (
            t0 + 20_000,
            EngineEvent::Queued {
                call,
                queue: queue.clone(),
            },
        ),
        (
            t0 + 20_000,
            EngineEvent::Acd(AcdEvent::Joined {
                call: AcdCall(n),
                queue: queue.clone(),
                position: 1,
            }),
        ),
    ];
    let q_at = t0 + 20_000;
    if r() % 10 == 0 {
        v.push((
            q_at + wait,
            EngineEvent::Acd(AcdEvent::Abandoned {
                call: AcdCall(n),
                queue,
                waited: Duration::from_millis(wait as u64),
            }),
        ));
        v.push((
            q_at + wait,
            EngineEvent::CallEnded {
                call,
                reason: EndReason::CallerHungUp,
                by: Side::Caller,
            },
        ));
        return v;
    }
    let offer_at = q_at + (wait - rang).max(0);
    v.push((
        offer_at,
        EngineEvent::Acd(AcdEvent::Offered {
            call: AcdCall(n),
            agent: AgentId(agent.clone()),
        }),
    ));
    v.push((
        q_at + wait,
        EngineEvent::Acd(AcdEvent::Answered {
            call: AcdCall(n),
            agent: AgentId(agent.clone()),
            rang: Duration::from_millis(rang as u64),
            within_rings: rang <= 15_000,
            waited: Duration::from_millis(wait as u64),
        }),
    ));
    v.push((
        q_at + wait,
        EngineEvent::Bridged {
            call,
            agent: agent.clone(),
        },
    ));
    let end = q_at + wait + 60_000 + (r() % 240_000) as i64;
    // The agent's day: ringing, on the call, wrap-up, available again.
    for (at, activity) in [
        (offer_at, Activity::Offered(AcdCall(n))),
        (q_at + wait, Activity::OnCall(AcdCall(n))),
        (end, Activity::WrapUp),
        (end + 10_000, Activity::Idle),
    ] {
        v.push((
            at,
            EngineEvent::Acd(AcdEvent::AgentState {
                agent: AgentId(agent.clone()),
                state: activity.state_name(false, true, false),
                activity,
                paused: None,
                available: true,
            }),
        ));
    }
    for side in [Side::Caller, Side::Agent] {
        v.push((
            end,
            EngineEvent::MediaQuality {
                call,
                side,
                loss: 0.0,
                jitter_ms: 1.0,
                strangers: 0,
                expected: 500,
                lost: 0,
            },
        ));
    }
    v.push((
        end,
        EngineEvent::CallEnded {
            call,
            reason: EndReason::CallerHungUp,
            by: Side::Caller,
        },
    ));
    v
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let calls: u64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rate: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("sb-store-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("bench.db");
    let mut store = Store::start(StoreSettings {
        path: path.clone(),
        journal: dir.join("journal"),
        capacity: 20_000,
        run: "bench".into(),
        thresholds: Default::default(),
    })
    .expect("store");
    let mut rec = Recorder::new(RecorderConfig {
        run: "bench".into(),
        regions: vec![("139".into(), "Mobile".into())],
        short_abandon_ms: 5_000,
        ring_cycle_ms: 5_000,
        wrap_up_ms: 10_000,
    });
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let step = MONTH_MS / calls.max(1) as i64;
    let started = Instant::now();
    let mut engine_side = Duration::ZERO;
    let mut ops = 0u64;
    for n in 0..calls {
        let evs = events(n + 1, MONTH_START_MS + n as i64 * step, &mut rng);
        let t = Instant::now();
        for (at, ev) in &evs {
            rec.handle(*at, ev);
            while let Some(op) = rec.poll_op() {
                store.record(op);
                ops += 1;
            }
        }
        // One engine turn per call: one journal write.
        store.end_turn();
        engine_side += t.elapsed();
        if rate > 0 {
            let due = started + Duration::from_secs_f64((n + 1) as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
    let offered = started.elapsed();
    let spilled = store.spilled();
    let counters = store.counters().clone();
    store.close().expect("close");
    let total = started.elapsed();
    let committed = counters
        .committed
        .load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{calls} calls ({ops} operations) offered in {:.2} s{}; all committed after {:.2} s: {:.0} call records/s sustained",
        offered.as_secs_f64(),
        if rate > 0 { format!(" at {rate}/s") } else { String::new() },
        total.as_secs_f64(),
        calls as f64 / total.as_secs_f64()
    );
    println!(
        "engine thread: {:.1} us per call record (recorder + journal + hand-off); {committed} operations through the channel, {spilled} spilled to the journal",
        engine_side.as_secs_f64() * 1e6 / calls as f64
    );
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("database: {:.0} MiB", size as f64 / 1048576.0);

    let settings = ReportSettings {
        utc_offset_min: 480,
        short_abandon_ms: 5_000,
        sla_ms: 15_000,
        shifts: vec![
            ("early".into(), 480, 960),
            ("middle".into(), 600, 1080),
            ("night".into(), 960, 1440),
        ],
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    for (name, by) in [
        ("total", GroupBy::Total),
        ("queue", GroupBy::Queue),
        ("agent", GroupBy::Agent),
        ("media", GroupBy::Media),
        ("region", GroupBy::Region),
        ("shift", GroupBy::Shift),
    ] {
        let mut times = Vec::new();
        let mut rows = 0;
        let mut total_calls = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let r = rt.block_on(async {
                let mut c = sb_store::db::open(&path, sb_store::db::Access::Read)
                    .await
                    .expect("open");
                let p = Period::containing(PeriodKind::Monthly, (2026, 11, 15), 480);
                report::run(&mut c, &path, p, by, &settings)
                    .await
                    .expect("report")
            });
            times.push(t.elapsed().as_secs_f64());
            rows = r.rows.len();
            total_calls = r.rows.last().map(|w| w.calls).unwrap_or(0);
        }
        println!(
            "monthly report by {name}: median {:.3} s of 3 ({rows} rows, {total_calls} calls)",
            median(times)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
