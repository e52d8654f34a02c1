//! The ACD end to end: a patient (baresip, saying 600 Hz) dials 8000 and presses 2; an
//! agent's softphone (baresip 1003, auto-answer, saying 1000 Hz) is offered the call within
//! the three-ring threshold and answers; each side hears the other's tone.
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

#[test]
fn a_patient_is_bridged_to_an_agent_within_three_rings_and_they_hear_each_other() {
    let e = media_engine("acd", &[]);
    let agent = Phone::start(&e, "1003", Some(1000.0), None);
    let (ok, log) = e.wait_log(Duration::from_secs(10), |l| {
        l.contains("registered extension=1003")
    });
    assert!(ok, "the agent's phone did not register: {log}");
    let caller = Phone::start(&e, "1001", Some(600.0), Some("8000"));
    let (ok, log) = e.wait_log(Duration::from_secs(20), |l| l.contains("node=main/menu"));
    assert!(ok, "{log}");
    caller.press('2');
    let (ok, log) = e.wait_log(Duration::from_secs(20), |l| {
        l.contains("caller and agent bridged")
    });
    assert!(ok, "no bridge: {log}");
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
