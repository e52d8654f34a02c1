//! Call control end to end, with real softphones (baresip) each saying its own tone and
//! recording what it hears: hold and mute by the agent's feature codes, a consultation and
//! back, a blind transfer by the phone's REFER, and an operator's transfer to a department
//! that does not answer coming back to the operator.
#![allow(
    clippy::disallowed_methods,
    reason = "an end-to-end test: it drives real processes in real time"
)]

mod common;

use common::*;
use std::time::Duration;

/// The patient's tone, and the ones of the agent, the colleague and the department.
const PATIENT: f64 = 600.0;
const AGENT: f64 = 1000.0;
const COLLEAGUE: f64 = 1200.0;
const DEPARTMENT: f64 = 1500.0;

/// An engine named `name`, agent 1003 and colleague 1005 registered, and a patient who
/// pressed 2 and reached 1003: (engine, agent, colleague, patient).
fn patient_with_agent_and_colleague(name: &str) -> (Engine, Phone, Phone, Phone) {
    let e = media_engine(name, &[]);
    let agent = Phone::start(&e, "1003", Some(AGENT as f32), None);
    let colleague = Phone::start(&e, "1005", Some(COLLEAGUE as f32), None);
    e.registered("1003");
    e.registered("1005");
    let patient = patient_reaches(&e, '2', "1003");
    (e, agent, colleague, patient)
}

/// The patient (1001, saying 600 Hz) dials 8000 and presses `key`; waits for the bridge.
fn patient_reaches(e: &Engine, key: char, agent: &str) -> Phone {
    let patient = Phone::start(e, "1001", Some(PATIENT as f32), Some("8000"));
    let (ok, log) = e.wait_log(Duration::from_secs(20), |l| l.contains("node=main/menu"));
    assert!(ok, "{log}");
    patient.press(key);
    let (ok, log) = e.wait_log(Duration::from_secs(30), |l| {
        l.contains("caller and agent bridged") && l.contains(&format!("agent={agent}"))
    });
    assert!(ok, "no bridge to {agent}: {log}");
    patient
}

/// Waits for a log line holding every one of `what`.
fn wait_for(e: &Engine, what: &[&str], secs: u64) -> String {
    let (ok, log) = e.wait_log(Duration::from_secs(secs), |l| {
        what.iter().all(|w| l.contains(w))
    });
    assert!(ok, "no line with {what:?}: {log}");
    log
}

#[test]
fn the_agent_holds_and_mutes_and_each_side_hears_what_it_should() {
    let e = media_engine("xfer-hold", &[]);
    let agent = Phone::start(&e, "1003", Some(AGENT as f32), None);
    e.registered("1003");
    let patient = patient_reaches(&e, '2', "1003");
    std::thread::sleep(Duration::from_secs(4));
    agent.keys("*1");
    wait_for(&e, &["hold", "on=true"], 5);
    std::thread::sleep(Duration::from_secs(4));
    agent.keys("*1");
    wait_for(&e, &["hold", "on=false"], 5);
    std::thread::sleep(Duration::from_secs(4));
    agent.keys("*2");
    wait_for(&e, &["mute", "on=true"], 5);
    std::thread::sleep(Duration::from_secs(4));
    agent.keys("*2");
    wait_for(&e, &["mute", "on=false"], 5);
    std::thread::sleep(Duration::from_secs(4));
    let heard_by_patient = tone_runs(&patient.finish(), &[AGENT, PATIENT]);
    let heard_by_agent = tone_runs(&agent.finish(), &[PATIENT, AGENT]);
    // The patient: the agent, the hold music (anything but the agent), the agent again,
    // silence while muted, the agent once more.
    assert!(
        runs_follow(
            &heard_by_patient,
            &[('a', 2), ('o', 2), ('a', 2), ('q', 2), ('a', 2)]
        ),
        "the patient heard {heard_by_patient:?}"
    );
    // The agent: the patient, nothing while holding, then the patient all along, muted or
    // not (mute and unmute are 8 s together).
    assert!(
        runs_follow(&heard_by_agent, &[('a', 2), ('q', 2), ('a', 10)]),
        "the agent heard {heard_by_agent:?}"
    );
}

#[test]
fn the_agent_consults_a_colleague_returns_then_transfers_blind_by_refer() {
    let e = media_engine("xfer-refer", &[]);
    let agent = Phone::start(&e, "1003", Some(AGENT as f32), None);
    let colleague = Phone::start(&e, "1005", Some(COLLEAGUE as f32), None);
    let department = Phone::start(&e, "2001", Some(DEPARTMENT as f32), None);
    for user in ["1003", "1005", "2001"] {
        e.registered(user);
    }
    // 1005 belongs to the consultation queue too: keep it out of the ACD's way.
    let patient = patient_reaches(&e, '2', "1003");
    std::thread::sleep(Duration::from_secs(3));
    agent.keys("*31005#");
    wait_for(&e, &["consultation", "step=\"answered\""], 10);
    std::thread::sleep(Duration::from_secs(4));
    agent.keys("*0");
    wait_for(&e, &["consultation", "step=\"ended\""], 5);
    std::thread::sleep(Duration::from_secs(3));
    // The softphone's own transfer: REFER to 2001.
    agent.command("transfer", &format!("sip:2001@127.0.0.1:{}", e.port));
    wait_for(&e, &["transfer", "kind=\"blind\"", "by=\"refer\""], 10);
    wait_for(&e, &["caller and agent bridged", "agent=2001"], 15);
    std::thread::sleep(Duration::from_secs(4));
    let heard_by_patient = tone_runs(&patient.finish(), &[AGENT, DEPARTMENT, COLLEAGUE]);
    let heard_by_agent = tone_runs(&agent.finish(), &[PATIENT, COLLEAGUE]);
    let heard_by_colleague = tone_runs(&colleague.finish(), &[AGENT, PATIENT]);
    let heard_by_department = tone_runs(&department.finish(), &[PATIENT]);
    // The patient: the agent, music while the agent consults, the agent, then the
    // department; never the colleague.
    assert!(
        runs_follow(&heard_by_patient, &[('a', 2), ('o', 2), ('a', 2), ('b', 2)]),
        "the patient heard {heard_by_patient:?}"
    );
    assert!(
        heard_by_patient.iter().all(|(l, _)| *l != 'c'),
        "the patient heard the colleague: {heard_by_patient:?}"
    );
    // The agent: the patient, the colleague, the patient again.
    assert!(
        runs_follow(&heard_by_agent, &[('a', 2), ('b', 2), ('a', 2)]),
        "the agent heard {heard_by_agent:?}"
    );
    // The colleague heard the agent and never the patient.
    assert!(
        runs_follow(&heard_by_colleague, &[('a', 2)])
            && heard_by_colleague.iter().all(|(l, _)| *l != 'b'),
        "the colleague heard {heard_by_colleague:?}"
    );
    assert!(
        runs_follow(&heard_by_department, &[('a', 2)]),
        "the department heard {heard_by_department:?}"
    );
}

#[test]
fn an_operators_transfer_that_is_not_answered_comes_back_to_the_operator() {
    let e = media_engine("xfer-operator", &["features.transfer_ring_seconds=5"]);
    let operator = Phone::start(&e, "1100", Some(AGENT as f32), None);
    let department = Phone::ringing_only(&e, "2002");
    e.registered("1100");
    e.registered("2002");
    // 0 at the menu: the operators.
    let patient = patient_reaches(&e, '0', "1100");
    std::thread::sleep(Duration::from_secs(3));
    operator.keys("*42002#");
    wait_for(&e, &["transfer", "to=2002", "kind=\"blind\""], 10);
    wait_for(&e, &["transfer not answered", "to=2002"], 15);
    wait_for(&e, &["transfer", "to=1100", "kind=\"back\""], 5);
    // The operator's phone rings again and (auto-answering) has the patient back.
    let bridges = |log: &str| {
        log.lines()
            .filter(|l| l.contains("caller and agent bridged") && l.contains("agent=1100"))
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while bridges(&e.log()) < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        bridges(&e.log()),
        2,
        "bridged to the operator twice: {}",
        e.log()
    );
    std::thread::sleep(Duration::from_secs(4));
    let heard_by_patient = tone_runs(&patient.finish(), &[AGENT]);
    drop(department);
    drop(operator);
    // The operator, music while 2002 rang, the operator again.
    assert!(
        runs_follow(&heard_by_patient, &[('a', 2), ('o', 3), ('a', 2)]),
        "the patient heard {heard_by_patient:?}"
    );
}

#[test]
fn the_agents_softphone_transfers_attended_with_refer_and_replaces() {
    let (e, agent, colleague, patient) = patient_with_agent_and_colleague("xfer-attended");
    std::thread::sleep(Duration::from_secs(3));
    // The agent's own phone: hold the patient, call 1005 through the switchboard, ...
    agent.command("hold", "");
    wait_for(&e, &["hold", "on=true", "by=\"phone\""], 5);
    agent.command("dial", &format!("sip:1005@127.0.0.1:{}", e.port));
    wait_for(&e, &["caller and agent bridged", "agent=1005"], 10);
    std::thread::sleep(Duration::from_secs(3));
    let (call_id, from_tag, to_tag) = agent
        .answered_dialog("1005")
        .expect("the phone's call to 1005 in its trace");
    // ... then back on line 1 (the patient) transfer it, replacing the call to 1005.
    agent.command("line", "1");
    std::thread::sleep(Duration::from_millis(300));
    agent.command(
        "transfer",
        &format!(
            "<sip:1005@127.0.0.1:{}?Replaces={call_id}%3Bto-tag%3D{to_tag}%3Bfrom-tag%3D{from_tag}>",
            e.port
        ),
    );
    wait_for(
        &e,
        &["transfer", "to=1005", "kind=\"attended\"", "by=\"refer\""],
        10,
    );
    wait_for(&e, &["call ended", "reason=\"replaced_by_transfer\""], 5);
    std::thread::sleep(Duration::from_secs(4));
    let heard_by_patient = tone_runs(&patient.finish(), &[AGENT, COLLEAGUE]);
    drop(agent);
    drop(colleague);
    // The patient: the agent, music while held and consulting, then the colleague.
    assert!(
        runs_follow(&heard_by_patient, &[('a', 2), ('o', 3), ('b', 2)]),
        "the patient heard {heard_by_patient:?}"
    );
}

#[test]
fn an_agent_pauses_and_unpauses_by_dialling_service_codes() {
    let e = media_engine("xfer-service", &[]);
    let pause = Phone::start(&e, "1003", None, Some("*733"));
    let log = wait_for(&e, &["agent service code", "agent=1003"], 15);
    assert!(log.contains("outcome=\"paused\""), "{log}");
    wait_for(&e, &["call ended", "reason=\"service_code_done\""], 15);
    let heard = pause.finish();
    let prompt = read_wav(&workspace().join("prompts/zh-CN/agent-paused.wav"));
    // Its first and last 0.2 s may be lost to the phone starting and stopping its audio.
    let score = best_match(&heard, &prompt[1600..prompt.len() - 1600]);
    assert!(
        score > 0.8,
        "the confirmation was not heard (match {score:.2})"
    );
    let state = |e: &Engine| {
        let log = e.log();
        log.lines()
            .rev()
            .find(|l| l.contains("agent state") && l.contains("agent=1003"))
            .map(str::to_string)
            .unwrap_or_default()
    };
    assert!(state(&e).contains("meeting"), "{}", state(&e));
    let unpause = Phone::start(&e, "1003", None, Some("*74"));
    wait_for(&e, &["agent service code", "outcome=\"unpaused\""], 15);
    drop(unpause);
}

/// Whether each of `tones` carries a good share of `secs` seconds at the end of `rec`
/// (a mix: no one tone dominates alone).
fn all_heard_at_end(rec: &[i16], secs: usize, tones: &[f64]) -> bool {
    let tail = &rec[rec.len().saturating_sub(secs * 8000)..];
    tail.len() == secs * 8000
        && tail.chunks_exact(8000).all(|b| {
            let energy: f64 = b.iter().map(|x| (*x as f64) * (*x as f64)).sum();
            energy > 0.0
                && tones
                    .iter()
                    .all(|f| tone_power(b, *f) / (8000.0 * energy) > 0.1)
        })
}

#[test]
fn joined_the_patient_hears_agent_and_colleague_together() {
    let (e, agent, colleague, patient) = patient_with_agent_and_colleague("xfer-join");
    std::thread::sleep(Duration::from_secs(2));
    agent.keys("*31005#");
    wait_for(&e, &["consultation", "step=\"answered\""], 10);
    std::thread::sleep(Duration::from_secs(1));
    agent.keys("*6");
    wait_for(&e, &["consultation", "step=\"joined\""], 5);
    std::thread::sleep(Duration::from_secs(5));
    let heard_by_patient = patient.finish();
    let heard_by_colleague = colleague.finish();
    drop(agent);
    assert!(
        all_heard_at_end(
            &heard_by_patient[..heard_by_patient.len().saturating_sub(8000)],
            3,
            &[AGENT, COLLEAGUE]
        ),
        "the patient does not hear agent and colleague together: {:?}",
        tone_runs(&heard_by_patient, &[AGENT, COLLEAGUE])
    );
    assert!(
        all_heard_at_end(
            &heard_by_colleague[..heard_by_colleague.len().saturating_sub(8000)],
            3,
            &[AGENT, PATIENT]
        ),
        "the colleague does not hear agent and patient together"
    );
}
