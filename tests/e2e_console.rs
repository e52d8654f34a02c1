//! The web consoles end to end: the real binary, real baresip phones for the calls, and
//! Debian's Chromium (headless, through chromedriver) clicking as people do. Each test saves
//! screenshots of the consoles it drives (`target/tmp/console-screenshots/`).
#![allow(
    clippy::disallowed_methods,
    reason = "an end-to-end test: it drives real processes in real time"
)]

mod browser;
mod common;

use browser::Browser;
use common::*;
use std::time::Duration;

/// The patient's tone and the agent's.
const PATIENT: f64 = 600.0;
const AGENT: f64 = 1000.0;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn base(e: &Engine) -> String {
    format!("http://{}", e.api())
}

/// A patient (extension `from`, saying 600 Hz) dials 8000 and presses `key` at the menu.
fn patient(e: &Engine, from: &str, key: char) -> Phone {
    let p = Phone::start(e, from, Some(PATIENT as f32), Some("8000"));
    let menus = e.log().matches("node=main/menu").count();
    let (ok, log) = e.wait_log(Duration::from_secs(20), |l| {
        l.matches("node=main/menu").count() > menus
    });
    assert!(ok, "{from} never reached the menu: {log}");
    p.press(key);
    p
}

#[test]
fn the_wallboard_shows_patients_joining_at_once_and_highlights_the_fourth() {
    // Consultation may hold eight waiting here, so the fourth waits and is seen; its agents
    // are logged in but have no phone, so patients wait.
    let cfg = config_file("console-wallboard", |t| {
        t.replace(
            "name = \"consultation\"\nnumber = \"6002\"",
            "name = \"consultation\"\nnumber = \"6002\"\nmax_waiting = 8",
        )
    });
    let rtp = rtp_range(200);
    let e = Engine::start_with(
        "console-wallboard",
        Some(&cfg),
        &[
            "ivr.clock_start=2026-11-23T10:00:00+08:00",
            rtp.as_str(),
            "rtp.timer_spin_ms=0",
        ],
    );
    rt().block_on(async {
        let b = Browser::open("wallboard", &base(&e)).await;
        b.sign_in("supervisor", "demo-supervisor").await;
        b.find("#queue-consultation").await;
        assert!(b.url().await.ends_with("/console/wallboard"));
        b.wait_text(
            "#queue-consultation .waiting",
            Duration::from_secs(5),
            |t| t == "0",
        )
        .await;
        b.shot("wallboard-empty").await;

        let mut patients = Vec::new();
        for (n, from) in ["1001", "1002", "1003", "1004"].into_iter().enumerate() {
            patients.push(patient(&e, from, '2'));
            let (ok, log) = e.wait_log(Duration::from_secs(10), |l| {
                l.matches("joined queue").count() > n
            });
            assert!(ok, "patient {from} never joined the queue: {log}");
            // The test saw the engine log it; the wallboard follows (pushed over SSE).
            let want = (n + 1).to_string();
            let (_, took) = b
                .wait_text(
                    "#queue-consultation .waiting",
                    Duration::from_secs(5),
                    |t| t == want,
                )
                .await;
            println!(
                "patient {} on the wallboard {} ms after the engine logged it",
                n + 1,
                took.as_millis()
            );
            let crowded = b.attr("#queue-consultation", "class").await;
            assert_eq!(
                crowded.contains("crowded"),
                n + 1 > 3,
                "the queue is highlighted from the fourth waiting patient: {crowded}"
            );
        }
        b.shot("wallboard-four-waiting").await;
        // The longest wait's clock turns amber a ring before the threshold and red after.
        b.wait_for("#queue-consultation.over", true, Duration::from_secs(20))
            .await;
        let clock = b.text("#queue-consultation .longest .clock").await;
        assert!(
            clock.starts_with("0:1") || clock.starts_with("0:2"),
            "{clock}"
        );
        b.shot("wallboard-over-threshold").await;
        // Agents' states with time in state.
        let row = b.text("#agent-1003").await;
        assert!(row.contains("1003"), "{row}");
        b.close().await;
    });
}

#[test]
fn an_agent_sees_the_offer_answers_and_holds_from_the_console() {
    let e = media_engine("console-agent", &[]);
    // The agent's phone rings until picked up by hand.
    let agent = Phone::start_with(&e, "1001", Some(AGENT as f32), None, false);
    e.registered("1001");
    rt().block_on(async {
        let b = Browser::open("agent", &base(&e)).await;
        b.sign_in("agent1001", "demo-agent1001").await;
        b.wait_text("#state", Duration::from_secs(5), |t| t == "空闲").await;
        assert!(b.url().await.ends_with("/console/agent"), "{}", b.url().await);
        b.shot("agent-available").await;

        // A patient presses 1 (appointments): the console rings with the three-ring
        // countdown and the masked number.
        let patient = patient(&e, "1002", '1');
        b.wait_for("#offer", true, Duration::from_secs(20)).await;
        let (left, _) = b
            .wait_text("#countdown", Duration::from_secs(2), |t| t.starts_with("0:"))
            .await;
        let secs: u32 = left[2..].parse().expect("seconds");
        assert!((1..=15).contains(&secs), "three rings count down from 15 s: {left}");
        let offer = b.text("#offer").await;
        assert!(
            offer.contains("****") && !offer.contains("1002"),
            "the number masked: {offer}"
        );
        b.shot("agent-ringing").await;

        agent.command("accept", "");
        b.wait_for("#caller", true, Duration::from_secs(10)).await;
        assert!(!b.has("#offer").await, "no offer once answered");
        let call = b.text("#call").await;
        assert!(call.contains("8000") && call.contains("appointments"), "{call}");
        b.shot("agent-on-call").await;
        std::thread::sleep(Duration::from_secs(4));

        // Hold by clicking: the patient hears music, the agent nothing.
        b.click("#hold").await;
        b.wait_for("#held", true, Duration::from_secs(5)).await;
        assert_eq!(b.attr("#hold", "aria-pressed").await, "true");
        b.shot("agent-holding").await;
        std::thread::sleep(Duration::from_secs(4));
        b.click("#hold").await;
        b.wait_for("#held", false, Duration::from_secs(5)).await;
        std::thread::sleep(Duration::from_secs(4));

        // Another agent's session may not touch this call.
        let other = Browser::open("agent-other", &base(&e)).await;
        // (in English: that user's language)
        other.sign_in("agent1002", "demo-agent1002").await;
        other
            .wait_text("#my-state h2", Duration::from_secs(5), |t| t == "My state")
            .await;
        let nav = other.text("header.top").await;
        assert!(nav.contains("Agent console") && nav.contains("Sign out"), "{nav}");
        other.shot("agent-english").await;
        let id = b.attr("form:has(> #hold)", "hx-post").await;
        let answer = other
            .run(&format!(
                "const csrf = document.querySelector('input[name=csrf]').value;
                 const r = await fetch('{id}', {{method: 'POST', headers: {{'X-CSRF-Token': csrf, 'Content-Type': 'application/x-www-form-urlencoded'}}, body: 'on=true'}});
                 return r.status + ' ' + await r.text();"
            ))
            .await;
        assert_eq!(answer, serde_json::json!("403 This call is not yours."));
        other.close().await;

        let heard_by_patient = tone_runs(&patient.finish(), &[AGENT, PATIENT]);
        let heard_by_agent = tone_runs(&agent.finish(), &[PATIENT, AGENT]);
        assert!(
            runs_follow(&heard_by_patient, &[('a', 2), ('o', 2), ('a', 2)]),
            "the patient heard {heard_by_patient:?}"
        );
        assert!(
            runs_follow(&heard_by_agent, &[('a', 2), ('q', 2), ('a', 2)]),
            "the agent heard {heard_by_agent:?}"
        );
        // The call over, it counts in the agent's figures of the day...
        b.wait_text("#answered", Duration::from_secs(15), |t| t == "1")
            .await;
        b.shot("agent-after-call").await;
        b.close().await;

        // ... and in the supervisor's report of that day, chart, table and CSV.
        let sup = Browser::open("reports", &base(&e)).await;
        sup.sign_in("supervisor", "demo-supervisor").await;
        sup.find("#queues").await;
        let row = "#report tr[data-key=appointments] .answered";
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            sup.goto("/console/reports?period=daily&date=2026-11-23&by=queue")
                .await;
            sup.find("#period-label").await;
            if sup.has(row).await {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the call never reached the report");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_eq!(sup.text(row).await, "1");
        sup.find("#chart canvas").await;
        sup.shot("reports-daily-by-queue").await;
        let csv = sup
            .run("const r = await fetch(document.getElementById('csv').href); return r.headers.get('content-type') + '\\n' + await r.text();")
            .await;
        let csv = csv.as_str().expect("text").to_string();
        assert!(csv.starts_with("text/csv"), "{csv}");
        assert!(csv.contains("\nkey,calls,offered,answered"), "{csv}");
        assert!(csv.lines().any(|l| l.starts_with("appointments,")), "{csv}");
        sup.close().await;
    });
}

#[test]
fn roles_csrf_and_wrong_passwords_are_enforced_in_the_browser() {
    let e = Engine::start("console-rules", &["rtp.timer_spin_ms=0"]);
    rt().block_on(async {
        let b = Browser::open("rules", &base(&e)).await;
        // Not signed in: every console page leads to the sign-in page.
        b.goto("/console/wallboard").await;
        b.find("#sign-in").await;
        assert!(b.url().await.ends_with("/signin"));

        b.sign_in("agent1001", "demo-agent1001").await;
        b.find("#my-state").await;
        // An agent's session cannot open the supervisors' pages.
        b.goto("/console/wallboard").await;
        b.find("#forbidden").await;
        b.shot("agent-forbidden").await;
        let status = b
            .run("const r = await fetch('/console/wallboard'); return r.status;")
            .await;
        assert_eq!(status, serde_json::json!(403));
        // Nor act for another agent, even with its own CSRF token.
        b.goto("/console/agent").await;
        b.find("#my-state").await;
        let post = |path: &str, token: bool| {
            format!(
                "const csrf = document.querySelector('input[name=csrf]').value;
                 const h = {{'Content-Type': 'application/x-www-form-urlencoded'}};
                 if ({token}) h['X-CSRF-Token'] = csrf;
                 const r = await fetch('{path}', {{method: 'POST', headers: h, body: 'reason=x'}});
                 return r.status;"
            )
        };
        assert_eq!(
            b.run(&post("/console/agents/1002/pause", true)).await,
            serde_json::json!(403)
        );
        // A form without its CSRF token is refused and changes nothing...
        assert_eq!(
            b.run(&post("/console/agents/1001/pause", false)).await,
            serde_json::json!(403)
        );
        b.wait_text("#state", Duration::from_secs(3), |t| t != "暂停")
            .await;
        // ... with it, the pause button works.
        b.click("button.pause").await;
        b.wait_text("#state", Duration::from_secs(5), |t| t == "暂停")
            .await;
        b.shot("agent-paused").await;
        b.click("#unpause").await;
        b.wait_text("#state", Duration::from_secs(5), |t| t != "暂停")
            .await;

        // Signing out ends the session: the console asks to sign in again.
        b.click(".signout button").await;
        b.find("#sign-in").await;
        b.goto("/console/agent").await;
        b.find("#sign-in").await;

        // Wrong passwords: three are told so, then the name is locked for a while, the
        // right password included.
        for _ in 0..3 {
            b.sign_in("operator", "not-the-password").await;
            b.wait_text("#error", Duration::from_secs(5), |t| t.contains("不正确"))
                .await;
        }
        b.sign_in("operator", "not-the-password").await;
        b.wait_text("#error", Duration::from_secs(5), |t| t.contains("秒"))
            .await;
        b.sign_in("operator", "demo-operator").await;
        let (text, _) = b
            .wait_text("#error", Duration::from_secs(5), |t| t.contains("秒"))
            .await;
        assert!(text.contains("过多"), "{text}");
        b.shot("sign-in-throttled").await;
        b.close().await;
    });
    let log = e.log();
    assert!(
        log.contains("console sign-in refused: throttled"),
        "the lock is logged: {log}"
    );
}

#[test]
fn an_operator_finds_a_department_and_transfers_the_call_by_clicking() {
    const OPERATOR: f64 = 1000.0;
    const DEPARTMENT: f64 = 1500.0;
    let e = media_engine("console-operator", &["features.transfer_ring_seconds=5"]);
    let operator = Phone::start(&e, "1100", Some(OPERATOR as f32), None);
    let department = Phone::start(&e, "2001", Some(DEPARTMENT as f32), None);
    let silent = Phone::ringing_only(&e, "2002");
    for ext in ["1100", "2001", "2002"] {
        e.registered(ext);
    }
    rt().block_on(async {
        let b = Browser::open("operator", &base(&e)).await;
        b.sign_in("operator", "demo-operator").await;
        b.find("#directory").await;
        assert!(
            b.url().await.ends_with("/console/operator"),
            "{}",
            b.url().await
        );
        // Presence: the registered phones are free, the others offline.
        b.wait_text("#dir-2001 .presence", Duration::from_secs(5), |t| {
            t == "空闲"
        })
        .await;
        b.wait_text("#dir-2003 .presence", Duration::from_secs(5), |t| {
            t == "离线"
        })
        .await;
        // Search as you type: only the entries holding the text stay.
        b.type_into("#search", "2001").await;
        assert!(b.shown("#dir-2001").await);
        assert!(!b.shown("#dir-1001").await);
        b.shot("operator-search").await;

        // A patient presses 0: the operator's phone answers; the console shows the call.
        let patient = patient(&e, "1001", '0');
        let (ok, log) = e.wait_log(Duration::from_secs(20), |l| {
            l.contains("caller and agent bridged") && l.contains("agent=1100")
        });
        assert!(ok, "{log}");
        b.wait_for("#dir-2002 .transfer-to", true, Duration::from_secs(5))
            .await;
        b.shot("operator-on-call").await;
        std::thread::sleep(Duration::from_secs(3));

        // First to 2002, which rings and is never answered: the call comes back.
        b.type_into("#search", "2002").await;
        b.click("#dir-2002 .transfer-to").await;
        b.wait_text("#dir-2002 .presence", Duration::from_secs(5), |t| {
            t == "振铃中"
        })
        .await;
        b.wait_for("#came-back", true, Duration::from_secs(15))
            .await;
        let back = b.text("#came-back").await;
        assert!(back.contains("2002"), "{back}");
        b.shot("operator-transfer-came-back").await;
        let (ok, log) = e.wait_log(Duration::from_secs(20), |l| {
            l.matches("caller and agent bridged").count() >= 2
        });
        assert!(ok, "the call is back with the operator: {log}");

        // Then to the department 2001, which answers: the patient talks to it.
        b.type_into("#search", "2001").await;
        b.click("#dir-2001 .transfer-to").await;
        let (ok, log) = e.wait_log(Duration::from_secs(20), |l| {
            l.contains("caller and agent bridged") && l.contains("agent=2001")
        });
        assert!(ok, "the department is bridged: {log}");
        b.wait_text("#dir-2001 .presence", Duration::from_secs(5), |t| {
            t == "通话中"
        })
        .await;
        b.shot("operator-transferred").await;
        std::thread::sleep(Duration::from_secs(4));
        let heard = tone_runs(&patient.finish(), &[OPERATOR, DEPARTMENT]);
        assert!(
            runs_follow(&heard, &[('a', 2), ('b', 2)]),
            "the patient heard the operator, then the department: {heard:?}"
        );
        b.close().await;
    });
    drop((operator, department, silent));
}

#[test]
fn an_operator_calls_a_department_by_clicking_and_hangs_up_from_the_console() {
    const OPERATOR: f64 = 1000.0;
    const DEPARTMENT: f64 = 1500.0;
    let e = media_engine("console-dial", &[]);
    let operator = Phone::start(&e, "1100", Some(OPERATOR as f32), None);
    let department = Phone::start(&e, "2001", Some(DEPARTMENT as f32), None);
    for ext in ["1100", "2001"] {
        e.registered(ext);
    }
    rt().block_on(async {
        let b = Browser::open("operator-dial", &base(&e)).await;
        b.sign_in("operator", "demo-operator").await;
        b.wait_text("#dir-2001 .presence", Duration::from_secs(5), |t| {
            t == "空闲"
        })
        .await;
        // Call 2001 from the directory: the operator's phone rings (and answers), then
        // 2001's, and the two are bridged.
        b.type_into("#search", "2001").await;
        b.click("#dir-2001 .dial-to").await;
        let (ok, log) = e.wait_log(Duration::from_secs(20), |l| {
            l.contains("caller and agent bridged") && l.contains("agent=2001")
        });
        assert!(ok, "the operator and 2001 are bridged: {log}");
        let started = log
            .lines()
            .find(|l| l.contains("call started"))
            .expect("started");
        assert!(
            started.contains("dialled=2001") && started.contains("direction=\"internal\""),
            "an internal call to 2001: {started}"
        );
        b.wait_text("#placing", Duration::from_secs(5), |t| t.contains("2001"))
            .await;
        b.wait_text("#dir-2001 .presence", Duration::from_secs(5), |t| {
            t == "通话中"
        })
        .await;
        assert!(
            !b.has("#dir-2002 .dial-to").await,
            "no second call while one is placed"
        );
        b.shot("operator-dialled").await;
        std::thread::sleep(Duration::from_secs(4));
        // Hang up from the console: both phones are released.
        b.click("#hangup").await;
        let (ok, log) = e.wait_log(Duration::from_secs(10), |l| {
            l.contains("call ended") && l.contains("reason=\"control_api\"")
        });
        assert!(ok, "{log}");
        b.wait_for("#no-call", true, Duration::from_secs(5)).await;
        b.wait_for("#dir-2002 .dial-to", true, Duration::from_secs(5))
            .await;
        b.close().await;
    });
    let heard = tone_runs(&operator.finish(), &[DEPARTMENT]);
    assert!(
        runs_follow(&heard, &[('a', 3)]),
        "the operator heard 2001: {heard:?}"
    );
    let heard = tone_runs(&department.finish(), &[OPERATOR]);
    assert!(
        runs_follow(&heard, &[('a', 3)]),
        "2001 heard the operator: {heard:?}"
    );
}
