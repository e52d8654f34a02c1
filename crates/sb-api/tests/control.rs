//! The control API's requests as the engine's loop serves them, on the real engine in
//! virtual time: listing calls, hold, mute and hang-up, and an agent's token limited to its
//! own calls.

use sb_api::control::{serve, Command, ControlRequest, Reply};
use sb_engine::{CallAction, Control, ControlError, EngineEvent};
use sb_testkit::*;
use sb_types::vocab::{EndReason, LiveState};

fn ask(s: &mut Sim, command: Command, agent: Option<&str>) -> Reply {
    let (reply, mut answer) = tokio::sync::oneshot::channel();
    let now = s.clock.now();
    serve(
        &mut s.engine,
        now,
        ControlRequest {
            command,
            agent: agent.map(String::from),
            reply,
        },
        sb_api::control::StoreFigures {
            queue_depth: 2,
            spilled: 1,
            committed: 40,
        },
    );
    s.pump();
    answer.try_recv().expect("answered at once")
}

#[test]
fn calls_are_listed_held_muted_and_hung_up_by_request() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    bridged_to_1003(&mut s);
    let Reply::Calls(all) = ask(&mut s, Command::ListCalls, None) else {
        panic!("a list")
    };
    assert_eq!(all.len(), 1);
    let call = all[0].id.0;
    assert_eq!(
        (
            all[0].state,
            all[0].agent.as_deref(),
            all[0].caller.as_str()
        ),
        (LiveState::Talking, Some("1003"), "1001")
    );
    assert_eq!(all[0].queue.as_deref(), Some("consultation"));
    // Another agent sees nothing and may do nothing.
    assert_eq!(
        ask(&mut s, Command::ListCalls, Some("1001")),
        Reply::Calls(vec![])
    );
    let hold = |on| Command::Call {
        call,
        action: CallAction::Hold(on),
    };
    assert_eq!(ask(&mut s, hold(true), Some("1001")), Reply::NotYours);
    // Its own agent may.
    assert_eq!(ask(&mut s, hold(true), Some("1003")), Reply::Done);
    let mute = Command::Call {
        call,
        action: CallAction::Mute(true),
    };
    assert_eq!(ask(&mut s, mute, None), Reply::Done);
    let Reply::Calls(now) = ask(&mut s, Command::ListCalls, Some("1003")) else {
        panic!("a list")
    };
    assert!(now[0].held && now[0].muted);
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::Hold {
            on: true,
            by: Control::Api,
            ..
        }
    )));
    assert_eq!(
        ask(
            &mut s,
            Command::Call {
                call: 999,
                action: CallAction::HangUp
            },
            None
        ),
        Reply::Failed(ControlError::NoSuchCall)
    );
    let hang_up = Command::Call {
        call,
        action: CallAction::HangUp,
    };
    assert_eq!(ask(&mut s, hang_up, None), Reply::Done);
    assert_eq!(s.engine.calls(), 0);
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::CallEnded {
            reason: EndReason::ControlApi,
            ..
        }
    )));
}

#[test]
fn hold_needs_a_call_with_an_agent() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    s.call("8000", OFFER_4733).expect("answered");
    let Reply::Calls(all) = ask(&mut s, Command::ListCalls, None) else {
        panic!("a list")
    };
    assert_eq!(all[0].state, LiveState::Ivr);
    let cmd = Command::Call {
        call: all[0].id.0,
        action: CallAction::Hold(true),
    };
    assert_eq!(
        ask(&mut s, cmd, None),
        Reply::Failed(ControlError::NotBridged)
    );
}

#[test]
fn agents_log_in_out_and_pause_by_request() {
    use sb_engine::AgentCommand;
    let mut s = Sim::new(MONDAY + 10 * 3600);
    register_agent(&mut s, "1003", AGENT);
    let view = |s: &mut Sim, who: Option<&str>| match ask(s, Command::ListAgents, who) {
        Reply::Agents(a) => a,
        other => panic!("{other:?}"),
    };
    let me = view(&mut s, Some("1003"));
    assert_eq!(me.len(), 1, "an agent sees itself");
    assert_eq!(me[0].state, "available");
    assert_eq!(me[0].logged_in, ["appointments", "consultation"]);
    assert_eq!(me[0].member_of, ["appointments", "consultation"]);
    assert!(view(&mut s, None).len() >= 6);
    let agent = |command| Command::Agent {
        agent: "1003".into(),
        command,
    };
    assert_eq!(
        ask(
            &mut s,
            agent(AgentCommand::Pause("lunch".into())),
            Some("1001")
        ),
        Reply::NotYours
    );
    assert_eq!(
        ask(
            &mut s,
            agent(AgentCommand::Pause("lunch".into())),
            Some("1003")
        ),
        Reply::Done
    );
    let me = view(&mut s, Some("1003"));
    assert_eq!(
        (me[0].state, me[0].paused.as_deref()),
        ("paused", Some("lunch"))
    );
    let Reply::Queues(qs) = ask(&mut s, Command::ListQueues, None) else {
        panic!("queues")
    };
    let consult = qs.iter().find(|q| q.name == "consultation").expect("queue");
    assert_eq!(consult.agents.get("paused"), Some(&1));
    assert_eq!(consult.waiting, 0);
    assert_eq!(ask(&mut s, agent(AgentCommand::Unpause), None), Reply::Done);
    assert_eq!(ask(&mut s, agent(AgentCommand::Logout), None), Reply::Done);
    let me = view(&mut s, Some("1003"));
    assert!(me[0].logged_in.is_empty());
    assert_eq!(
        ask(
            &mut s,
            agent(AgentCommand::Login(vec!["complaints".into()])),
            None
        ),
        Reply::Failed(ControlError::NotAMember("complaints".into()))
    );
    assert_eq!(
        ask(
            &mut s,
            agent(AgentCommand::Login(vec!["consultation".into()])),
            None
        ),
        Reply::Done
    );
    assert_eq!(view(&mut s, Some("1003"))[0].logged_in, ["consultation"]);
    let nobody = Command::Agent {
        agent: "9999".into(),
        command: AgentCommand::Logout,
    };
    assert_eq!(
        ask(&mut s, nobody, None),
        Reply::Failed(ControlError::NoSuchAgent)
    );
    // The ACD's own record of it: the agent's states went through paused.
    assert!(s.events.iter().any(|e| matches!(
        e,
        EngineEvent::Acd(sb_acd::AcdEvent::AgentState { paused: Some(r), .. }) if r == "lunch"
    )));
}

#[test]
fn the_metrics_read_the_engine_s_counters_in_one_turn() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    bridged_to_1003(&mut s);
    // The events go through the engine's tally as the runtime drains them.
    let Reply::Metrics(m) = ask(&mut s, Command::Metrics, None) else {
        panic!("metrics")
    };
    assert_eq!(m.calls.len(), 1);
    assert_eq!(m.calls[0].state, LiveState::Talking);
    let q = m.counters.queues["consultation"];
    assert_eq!((q.joined, q.answered, q.answered_in_threshold), (1, 1, 1));
    assert_eq!(m.counters.calls_started, 1);
    let invite = sb_sip::counters::METHODS
        .iter()
        .position(|x| *x == "INVITE")
        .expect("INVITE");
    assert!(m.sip.inbound.requests[invite] >= 1, "{:?}", m.sip);
    assert!(
        m.sip.outbound.responses[1] >= 1,
        "a 200 went out: {:?}",
        m.sip
    );
    assert!(m.sip.outbound.requests[invite] >= 1, "the agent was called");
    assert_eq!(m.store.spilled, 1, "the runtime's own figures ride along");
    assert!(m
        .agents
        .iter()
        .any(|a| a.id == "1003" && a.state == "on_call"));
}
