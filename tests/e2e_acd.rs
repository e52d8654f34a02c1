//! The ACD end to end: a patient (baresip, saying 600 Hz) dials 8000 and presses 2; an
//! agent's softphone (baresip 1003, auto-answer, saying 1000 Hz) is offered the call within
//! the three-ring threshold and answers; each side hears the other's tone. When the agent
//! hangs up, the patient hears the satisfaction survey and the key they press is in the
//! call's record.
#![allow(
    clippy::disallowed_methods,
    reason = "an end-to-end test: it drives real processes in real time"
)]

mod common;

use common::*;
use std::time::Duration;

/// Seconds (of 1 s blocks) in which `f` clearly dominates `other`.
fn seconds_of(rec: &[i16], f: f64, other: f64) -> usize {
    rec.chunks(8000)
        .filter(|b| {
            b.len() == 8000
                && tone_power(b, f) > 20.0 * tone_power(b, other)
                && tone_power(b, f) > 1e9
        })
        .count()
}

/// Agent 1003's softphone (1000 Hz) registered; patient 1001 (600 Hz) dials 8000, presses 2
/// and is bridged to it. Returns both phones and the engine's log so far.
fn patient_with_agent(e: &Engine) -> (Phone, Phone, String) {
    let agent = Phone::start(e, "1003", Some(1000.0), None);
    e.registered("1003");
    let caller = Phone::start(e, "1001", Some(600.0), Some("8000"));
    let (ok, log) = e.wait_log(Duration::from_secs(20), |l| l.contains("node=main/menu"));
    assert!(ok, "{log}");
    caller.press('2');
    let (ok, log) = e.wait_log(Duration::from_secs(20), |l| {
        l.contains("caller and agent bridged")
    });
    assert!(ok, "no bridge: {log}");
    (agent, caller, log)
}

#[test]
fn a_patient_is_bridged_to_an_agent_within_three_rings_and_they_hear_each_other() {
    let e = media_engine("acd", &[]);
    let (agent, caller, log) = patient_with_agent(&e);
    assert!(
        log.contains("offered to agent") && log.contains("agent=1003"),
        "{log}"
    );
    let answered = log
        .lines()
        .find(|l| l.contains("agent answered"))
        .expect("answer logged");
    assert!(answered.contains("within_rings=true"), "{answered}");
    // Let them talk for a few seconds.
    std::thread::sleep(Duration::from_secs(4));
    let heard_by_caller = caller.finish();
    let heard_by_agent = agent.finish();
    assert!(
        seconds_of(&heard_by_caller, 1000.0, 600.0) >= 2,
        "the caller did not hear the agent"
    );
    assert!(
        seconds_of(&heard_by_agent, 600.0, 1000.0) >= 2,
        "the agent did not hear the caller"
    );
}

#[test]
fn when_the_agent_hangs_up_the_patient_rates_the_call_and_the_score_is_recorded() {
    let e = media_engine("survey", &[]);
    let (agent, caller, _) = patient_with_agent(&e);
    std::thread::sleep(Duration::from_secs(2));
    // The agent hangs up on the softphone: the patient hears the survey and keys 4.
    agent.command("hangup", "");
    let (ok, log) = e.wait_log(Duration::from_secs(10), |l| {
        l.contains("survey offered") && l.contains("agent=1003")
    });
    assert!(ok, "no survey: {log}");
    std::thread::sleep(Duration::from_secs(2));
    caller.press('4');
    let (ok, log) = e.wait_log(Duration::from_secs(10), |l| {
        l.contains("survey answered") && l.contains("score=4")
    });
    assert!(ok, "the key did not reach the survey: {log}");
    let (ok, log) = e.wait_log(Duration::from_secs(15), |l| {
        l.contains("call ended") && l.contains("reason=\"agent_hung_up\"")
    });
    assert!(ok, "the call did not end after the thanks: {log}");
    let db = e.dir.join("switchboard.db");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let record: (Option<i64>, Option<i64>, String) = loop {
        let ended = records(
            &db,
            "SELECT survey_score, survey_ms, coalesce(hangup_by, '') FROM calls \
             WHERE ended_ms IS NOT NULL AND direction = 'inbound'",
        );
        if let Some(r) = ended.into_iter().next() {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "no record written");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(record.0, Some(4), "the score in the call's record");
    assert!(record.1.is_some(), "when the survey began");
    assert_eq!(record.2, "agent", "the agent hung up first");
    // They talked before the agent left.
    let heard = caller.finish();
    assert!(
        seconds_of(&heard, 1000.0, 600.0) >= 1,
        "the agent was heard"
    );
    drop(agent);
}
