//! The queue engine on virtual time: every strategy, ring-no-answer and auto-pause,
//! wrap-up, overflow at the fourth waiting patient, escalation before the threshold, an
//! agent whose phone drops mid-offer, priorities, and a seeded property test that no agent
//! is ever left stuck.

use sb_acd::*;
use sb_sim::{Clock, Rng};
use std::time::Duration;

fn ag(s: &str) -> AgentId {
    AgentId(s.to_string())
}

struct H {
    clock: Clock,
    acd: Acd,
    actions: Vec<AcdAction>,
    events: Vec<AcdEvent>,
}

impl H {
    fn new(strategy: Strategy, members: &[(&str, u8)], cfg: AcdConfig) -> H {
        let clock = Clock::new();
        let queues = vec![
            QueueSpec {
                name: "consultation".into(),
                strategy,
                members: members.iter().map(|(a, l)| (ag(a), *l)).collect(),
                overflow_to: Some("operator".into()),
                limits: None,
            },
            QueueSpec {
                name: "operator".into(),
                strategy: Strategy::LongestIdle,
                members: vec![(ag("1100"), 1)],
                overflow_to: None,
                limits: None,
            },
        ];
        let acd = Acd::new(cfg, queues, clock.now());
        H {
            clock,
            acd,
            actions: vec![],
            events: vec![],
        }
    }

    fn drain(&mut self) {
        self.actions
            .extend(std::iter::from_fn(|| self.acd.poll_action()));
        self.events
            .extend(std::iter::from_fn(|| self.acd.poll_event()));
    }

    /// Registers and logs in the agents, one second apart (so idle times differ).
    fn staff(&mut self, agents: &[&str]) {
        for a in agents {
            self.acd.handle_reachability(self.clock.now(), &ag(a), true);
            self.acd
                .handle_login(self.clock.now(), &ag(a), &["consultation", "operator"]);
            self.advance(1000);
        }
        self.drain();
        self.actions.clear();
        self.events.clear();
    }

    fn advance(&mut self, ms: u64) {
        let end = self.clock.now() + Duration::from_millis(ms);
        while let Some(t) = self.acd.poll_timeout().filter(|t| *t <= end) {
            self.clock.advance_to(t);
            self.acd.handle_timeout(self.clock.now());
        }
        self.clock.advance_to(end);
        self.drain();
    }

    fn call(&mut self, id: u64, priority: i32) {
        self.acd
            .handle_enqueue(self.clock.now(), CallId(id), "consultation", priority);
        self.drain();
    }

    fn offers(&self) -> Vec<(u64, String)> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                AcdAction::Offer { call, agent } => Some((call.0, agent.0.clone())),
                _ => None,
            })
            .collect()
    }

    fn answer(&mut self, call: u64, agent: &str) -> bool {
        let ok = self
            .acd
            .handle_answered(self.clock.now(), CallId(call), &ag(agent));
        self.drain();
        ok
    }

    fn end(&mut self, call: u64) {
        self.acd.handle_call_ended(self.clock.now(), CallId(call));
        self.drain();
    }
}

#[test]
fn longest_idle_gets_the_call_and_the_answer_is_measured_in_rings() {
    let mut h = H::new(
        Strategy::LongestIdle,
        &[("1001", 1), ("1002", 1), ("1003", 1)],
        AcdConfig::default(),
    );
    h.staff(&["1002", "1001", "1003"]);
    h.call(1, 0);
    assert_eq!(h.offers(), [(1, "1002".into())], "idle the longest");
    h.advance(4000);
    assert!(h.answer(1, "1002"));
    assert!(h.actions.contains(&AcdAction::Connect {
        call: CallId(1),
        agent: ag("1002")
    }));
    let answered = h.events.iter().find_map(|e| match e {
        AcdEvent::Answered {
            rang,
            within_rings,
            waited,
            ..
        } => Some((*rang, *within_rings, *waited)),
        _ => None,
    });
    assert_eq!(
        answered,
        Some((Duration::from_secs(4), true, Duration::from_secs(4)))
    );
    assert_eq!(
        h.acd.agent(&ag("1002")),
        Some((Activity::OnCall(CallId(1)), false))
    );
}

#[test]
fn round_robin_rotates_through_the_members() {
    let mut h = H::new(
        Strategy::RoundRobin,
        &[("1001", 1), ("1002", 1), ("1003", 1)],
        AcdConfig {
            wrap_up: Duration::ZERO,
            ..Default::default()
        },
    );
    h.staff(&["1001", "1002", "1003"]);
    let mut who = Vec::new();
    for c in 1..=4 {
        h.actions.clear();
        h.call(c, 0);
        let (_, a) = h.offers()[0].clone();
        assert!(h.answer(c, &a));
        h.end(c);
        who.push(a);
    }
    assert_eq!(who, ["1001", "1002", "1003", "1001"]);
}

#[test]
fn ring_all_rings_everyone_and_the_first_answer_wins() {
    let mut h = H::new(
        Strategy::RingAll,
        &[("1001", 1), ("1002", 1), ("1003", 1)],
        AcdConfig::default(),
    );
    h.staff(&["1001", "1002", "1003"]);
    h.call(1, 0);
    assert_eq!(h.offers().len(), 3);
    h.advance(2000);
    assert!(h.answer(1, "1003"));
    let cancelled: Vec<String> = h
        .actions
        .iter()
        .filter_map(|a| match a {
            AcdAction::CancelOffer { agent, .. } => Some(agent.0.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled.len(), 2);
    assert!(!h.answer(1, "1001"), "a late answer does not take the call");
    assert_eq!(h.acd.agent(&ag("1001")), Some((Activity::Idle, true)));
}

#[test]
fn fewest_calls_balances_the_load() {
    let mut h = H::new(
        Strategy::FewestCalls,
        &[("1001", 1), ("1002", 1)],
        AcdConfig {
            wrap_up: Duration::ZERO,
            ..Default::default()
        },
    );
    h.staff(&["1001", "1002"]);
    h.call(1, 0);
    let (_, first) = h.offers()[0].clone();
    h.answer(1, &first);
    h.end(1);
    h.actions.clear();
    h.call(2, 0);
    let (_, second) = h.offers()[0].clone();
    assert_ne!(
        first, second,
        "the agent with fewer calls takes the next one"
    );
}

#[test]
fn skills_widen_to_lower_levels_while_the_caller_keeps_their_place() {
    let widen = Duration::from_secs(20);
    let cfg = AcdConfig {
        escalate_at: 100.0,
        max_wait: Duration::from_secs(600),
        ..Default::default()
    };
    let mut h = H::new(
        Strategy::Skills { widen_every: widen },
        &[("1001", 1), ("1005", 2)],
        cfg,
    );
    h.staff(&["1001", "1005"]);
    // The level-1 agent is busy with another call.
    h.call(1, 0);
    assert_eq!(h.offers(), [(1, "1001".into())]);
    h.answer(1, "1001");
    h.actions.clear();
    h.call(2, 0);
    assert!(h.offers().is_empty(), "level 2 is not offered at first");
    h.advance(19_000);
    assert!(h.offers().is_empty());
    h.advance(1_000);
    assert_eq!(
        h.offers(),
        [(2, "1005".into())],
        "after the widening time the pool includes level 2"
    );
}

#[test]
fn ring_no_answer_moves_on_and_pauses_after_repeated_misses() {
    let cfg = AcdConfig {
        max_misses: 2,
        escalate_at: 100.0,
        ..Default::default()
    };
    let mut h = H::new(Strategy::LongestIdle, &[("1001", 1), ("1002", 1)], cfg);
    h.staff(&["1001", "1002"]);
    h.call(1, 0);
    assert_eq!(h.offers(), [(1, "1001".into())]);
    h.advance(15_000);
    assert!(h.events.iter().any(|e| matches!(e, AcdEvent::RingNoAnswer { agent, rang, .. } if agent.0 == "1001" && *rang == Duration::from_secs(15))));
    assert_eq!(
        h.offers().last(),
        Some(&(1, "1002".into())),
        "the next agent rings"
    );
    assert!(h.answer(1, "1002"));
    // 1001 misses a second call in a row: paused.
    h.actions.clear();
    h.call(2, 0);
    assert_eq!(h.offers(), [(2, "1001".into())]);
    h.advance(15_000);
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, AcdEvent::AutoPaused { agent, misses: 2 } if agent.0 == "1001")));
    assert_eq!(h.acd.paused(&ag("1001")).as_deref(), Some("no answer"));
    assert_eq!(h.acd.agent(&ag("1001")), Some((Activity::Idle, false)));
}

#[test]
fn wrap_up_keeps_the_agent_free_of_calls_until_it_ends() {
    let cfg = AcdConfig {
        wrap_up: Duration::from_secs(10),
        ..Default::default()
    };
    let mut h = H::new(Strategy::LongestIdle, &[("1001", 1)], cfg);
    h.staff(&["1001"]);
    h.call(1, 0);
    h.answer(1, "1001");
    h.advance(60_000);
    h.end(1);
    assert_eq!(h.acd.agent(&ag("1001")), Some((Activity::WrapUp, false)));
    h.actions.clear();
    h.call(2, 0);
    assert!(h.offers().is_empty());
    h.advance(9_999);
    assert!(h.offers().is_empty());
    h.advance(1);
    assert_eq!(
        h.offers(),
        [(2, "1001".into())],
        "offered the moment wrap-up ends"
    );
}

#[test]
fn the_fourth_waiting_patient_overflows_to_the_operator() {
    let mut h = H::new(Strategy::LongestIdle, &[("1001", 1)], AcdConfig::default());
    h.staff(&["1001"]);
    h.call(1, 0);
    h.answer(1, "1001");
    for c in 2..=4 {
        h.call(c, 0);
    }
    assert_eq!(h.acd.waiting("consultation"), 3);
    h.call(5, 0);
    assert!(h.actions.contains(&AcdAction::Overflow {
        call: CallId(5),
        queue: "consultation".into(),
        to: Some("operator".into()),
        reason: OverflowReason::TooManyWaiting
    }));
    assert_eq!(h.acd.waiting("consultation"), 3);
}

#[test]
fn a_queue_with_nobody_logged_in_overflows_at_once_and_max_wait_overflows_later() {
    let mut h = H::new(Strategy::LongestIdle, &[("1001", 1)], AcdConfig::default());
    h.call(1, 0);
    assert!(matches!(
        h.actions.last(),
        Some(AcdAction::Overflow {
            reason: OverflowReason::NoAgents,
            ..
        })
    ));
    h.staff(&["1001"]);
    h.acd.handle_pause(h.clock.now(), &ag("1001"), "meeting");
    h.call(2, 0);
    assert!(
        h.acd.is_waiting(CallId(2)),
        "logged in but paused: the call waits"
    );
    h.advance(120_000);
    assert!(h.actions.contains(&AcdAction::Overflow {
        call: CallId(2),
        queue: "consultation".into(),
        to: Some("operator".into()),
        reason: OverflowReason::MaxWait
    }));
}

#[test]
fn a_call_is_escalated_to_every_free_agent_before_the_threshold() {
    let mut h = H::new(
        Strategy::LongestIdle,
        &[("1001", 1), ("1002", 1), ("1003", 1)],
        AcdConfig::default(),
    );
    h.staff(&["1001", "1002", "1003"]);
    h.call(1, 0);
    assert_eq!(h.offers().len(), 1);
    // 70 % of the 15 s threshold: everybody free rings too.
    h.advance(10_499);
    assert_eq!(h.offers().len(), 1);
    h.advance(1);
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, AcdEvent::Escalated { .. })));
    assert_eq!(h.offers().len(), 3);
    assert!(h.answer(1, "1003"));
}

#[test]
fn a_phone_that_drops_mid_offer_releases_the_call_to_the_next_agent() {
    let cfg = AcdConfig {
        escalate_at: 100.0,
        ..Default::default()
    };
    let mut h = H::new(Strategy::LongestIdle, &[("1001", 1), ("1002", 1)], cfg);
    h.staff(&["1001", "1002"]);
    h.call(1, 0);
    assert_eq!(h.offers(), [(1, "1001".into())]);
    h.advance(3000);
    h.acd.handle_reachability(h.clock.now(), &ag("1001"), false);
    h.drain();
    assert!(h.actions.contains(&AcdAction::CancelOffer {
        call: CallId(1),
        agent: ag("1001")
    }));
    assert_eq!(h.offers().last(), Some(&(1, "1002".into())));
    assert_eq!(
        h.acd.agent(&ag("1001")),
        Some((Activity::Idle, false)),
        "not stuck ringing"
    );
}

#[test]
fn higher_priority_is_served_first() {
    let mut h = H::new(
        Strategy::LongestIdle,
        &[("1001", 1)],
        AcdConfig {
            wrap_up: Duration::ZERO,
            ..Default::default()
        },
    );
    h.staff(&["1001"]);
    h.call(1, 0);
    h.answer(1, "1001");
    h.call(2, 0);
    h.advance(1000);
    h.call(3, 5);
    h.actions.clear();
    h.end(1);
    assert_eq!(h.offers(), [(3, "1001".into())]);
}

/// Random sequences of everything that can happen; after each step the agents' states
/// agree with the calls, and once things calm down nobody is ringing, on a call or in
/// wrap-up for no reason.
#[test]
fn no_agent_is_ever_stuck() {
    let agents = ["1001", "1002", "1003", "1004"];
    for seed in 1..=40u64 {
        let mut rng = Rng::new(seed);
        let cfg = AcdConfig {
            wrap_up: Duration::from_secs(5),
            ..Default::default()
        };
        let strategy = match seed % 5 {
            0 => Strategy::LongestIdle,
            1 => Strategy::RoundRobin,
            2 => Strategy::RingAll,
            3 => Strategy::FewestCalls,
            _ => Strategy::Skills {
                widen_every: Duration::from_secs(10),
            },
        };
        let members: Vec<(&str, u8)> = agents
            .iter()
            .enumerate()
            .map(|(i, a)| (*a, 1 + (i % 2) as u8))
            .collect();
        let mut h = H::new(strategy, &members, cfg.clone());
        let mut next_call = 1u64;
        let mut live: Vec<u64> = Vec::new();
        // Calls each agent's phone has outside the ACD (transfers, calls between extensions).
        let mut other = [0u32; 4];
        for _ in 0..400 {
            let i = rng.below(4) as usize;
            let a = agents[i];
            let now = h.clock.now();
            match rng.below(13) {
                11 => {
                    let busy = other[i] == 0 || rng.chance(0.4);
                    if busy {
                        other[i] += 1;
                    } else {
                        other[i] -= 1;
                    }
                    h.acd.handle_other_call(now, &ag(a), busy);
                }
                0 => h.acd.handle_reachability(now, &ag(a), rng.chance(0.7)),
                1 => h.acd.handle_login(now, &ag(a), &["consultation"]),
                2 => h.acd.handle_logout(now, &ag(a)),
                3 => h.acd.handle_pause(now, &ag(a), "break"),
                4 => h.acd.handle_unpause(now, &ag(a)),
                5 | 6 => {
                    // Now and then a patient who declined a callback and stays.
                    if rng.chance(0.2) {
                        h.acd.handle_stay(now, CallId(next_call), "consultation", 0);
                    } else {
                        h.acd.handle_enqueue(
                            now,
                            CallId(next_call),
                            "consultation",
                            rng.below(3) as i32,
                        );
                    }
                    live.push(next_call);
                    next_call += 1;
                }
                7 => {
                    if let Some(c) = live
                        .get(rng.below(live.len().max(1) as u64) as usize)
                        .copied()
                    {
                        if rng.chance(0.3) {
                            // The callback call takes the patient's place.
                            h.acd.handle_callback(
                                now,
                                CallId(c),
                                "consultation",
                                Some(CallId(next_call)),
                                0,
                            );
                            live.push(next_call);
                            next_call += 1;
                        } else {
                            h.acd.handle_abandon(now, CallId(c));
                        }
                    }
                }
                8 => {
                    // Some ringing agent answers.
                    if let Some((c, who)) = agents.iter().find_map(|x| match h.acd.agent(&ag(x)) {
                        Some((Activity::Offered(c), _)) => Some((c, *x)),
                        _ => None,
                    }) {
                        h.acd.handle_answered(now, c, &ag(who));
                    }
                }
                9 => {
                    if let Some((c, who)) = agents.iter().find_map(|x| match h.acd.agent(&ag(x)) {
                        Some((Activity::Offered(c), _)) => Some((c, *x)),
                        _ => None,
                    }) {
                        h.acd.handle_offer_failed(now, c, &ag(who));
                    }
                }
                10 => {
                    if let Some(c) = live
                        .iter()
                        .find(|c| h.acd.connected_to(CallId(**c)).is_some())
                        .copied()
                    {
                        h.acd.handle_call_ended(now, CallId(c));
                    }
                }
                _ => h.advance(rng.below(20_000)),
            }
            h.drain();
            // Invariants: an agent rings only for a waiting call, talks only on a connected one,
            // and is offered nothing while their phone has another call.
            for (n, x) in agents.iter().enumerate() {
                match h.acd.agent(&ag(x)) {
                    Some((Activity::Offered(c), _)) => {
                        assert!(
                            h.acd.is_waiting(c),
                            "seed {seed}: {x} rings for a call that is not waiting"
                        );
                        assert_eq!(other[n], 0, "seed {seed}: {x} offered while busy");
                    }
                    Some((Activity::OnCall(c), _)) => {
                        assert_eq!(h.acd.connected_to(c), Some(&ag(x)), "seed {seed}")
                    }
                    _ => {}
                }
            }
        }
        // Calm down: every caller leaves, every call ends, time passes.
        for (n, x) in agents.iter().enumerate() {
            for _ in 0..other[n] {
                h.acd.handle_other_call(h.clock.now(), &ag(x), false);
            }
        }
        for c in live {
            h.acd.handle_abandon(h.clock.now(), CallId(c));
            h.acd.handle_call_ended(h.clock.now(), CallId(c));
        }
        h.advance(60_000);
        for x in &agents {
            let (activity, _) = h.acd.agent(&ag(x)).expect("agent");
            assert_eq!(activity, Activity::Idle, "seed {seed}: {x} is stuck");
        }
    }
}

#[test]
fn the_estimated_wait_follows_the_queue_and_its_recent_handle_times() {
    let cfg = AcdConfig {
        initial_handle_time: Duration::from_secs(120),
        wrap_up: Duration::from_secs(10),
        max_waiting: 10,
        max_wait: Duration::from_secs(3600),
        ..AcdConfig::default()
    };
    let mut h = H::new(Strategy::LongestIdle, &[("1001", 1), ("1002", 1)], cfg);
    assert_eq!(h.acd.estimated_wait(CallId(9)), None, "not waiting");
    h.staff(&["1001", "1002"]);
    // Both agents take a call; two more patients wait behind them.
    h.call(1, 0);
    h.call(2, 0);
    assert!(h.answer(1, "1001"));
    assert!(h.answer(2, "1002"));
    h.call(3, 0);
    h.call(4, 0);
    // Two staffed agents at 120 s: the first waiting patient 60 s, the second 120 s.
    assert_eq!(
        h.acd.estimated_wait(CallId(3)),
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        h.acd.estimated_wait(CallId(4)),
        Some(Duration::from_secs(120))
    );
    // A call of 290 s (+10 s wrap-up) moves the average a fifth of the way to 300 s: 156 s.
    h.advance(290_000);
    h.end(1);
    assert_eq!(
        h.acd.estimated_wait(CallId(4)),
        Some(Duration::from_secs(156))
    );
    // Nobody staffing the queue: no estimate rather than a wrong one.
    h.acd.handle_reachability(h.clock.now(), &ag("1001"), false);
    h.acd.handle_reachability(h.clock.now(), &ag("1002"), false);
    assert_eq!(h.acd.estimated_wait(CallId(4)), None);
}

#[test]
fn the_agents_view_tells_the_consoles_time_in_state_the_ringing_offer_and_wrap_up() {
    let cfg = AcdConfig {
        wrap_up: Duration::from_secs(10),
        ..Default::default()
    };
    let mut h = H::new(Strategy::LongestIdle, &[("1001", 1)], cfg);
    h.staff(&["1001"]);
    let view = |h: &H| {
        h.acd
            .agents_view()
            .into_iter()
            .find(|a| a.id == "1001")
            .expect("1001")
    };
    let idle_from = h.clock.now() - Duration::from_secs(1);
    let v = view(&h);
    assert_eq!((v.state, v.since), ("available", idle_from));
    assert_eq!((v.call, v.ringing_since, v.wrap_until), (None, None, None));

    h.advance(5_000);
    let offered_at = h.clock.now();
    h.call(1, 0);
    h.advance(2_000);
    let v = view(&h);
    assert_eq!(v.state, "offered");
    assert_eq!(v.since, offered_at);
    assert_eq!(v.call, Some(CallId(1)));
    assert_eq!(v.ringing_since, Some(offered_at), "the countdown's start");

    h.answer(1, "1001");
    let answered_at = h.clock.now();
    assert_eq!(h.acd.answered_at(CallId(1)), Some(answered_at));
    let v = view(&h);
    assert_eq!(
        (v.state, v.since, v.ringing_since),
        ("on_call", answered_at, None)
    );

    h.advance(30_000);
    h.end(1);
    let v = view(&h);
    assert_eq!(v.state, "wrap_up");
    assert_eq!(v.wrap_until, Some(h.clock.now() + Duration::from_secs(10)));
    assert_eq!(h.acd.answered_at(CallId(1)), None);
}

#[test]
fn a_callback_keeps_the_patient_s_very_place_and_is_served_in_it() {
    let cfg = AcdConfig {
        max_waiting: 10,
        max_wait: Duration::from_secs(3600),
        wrap_up: Duration::ZERO,
        ..AcdConfig::default()
    };
    let mut h = H::new(Strategy::LongestIdle, &[("1001", 1)], cfg);
    h.staff(&["1001"]);
    // 1001 is busy with call 1; patients 2, 3, 4 wait in that order.
    h.call(1, 0);
    assert!(h.answer(1, "1001"));
    for c in [2, 3, 4] {
        h.advance(1000);
        h.call(c, 0);
    }
    // Patient 3 asks to be called back: callback 100 takes their place, a patient who
    // comes after waits behind it.
    let now = h.clock.now();
    h.acd
        .handle_callback(now, CallId(3), "consultation", Some(CallId(100)), 0);
    h.drain();
    h.call(5, 0);
    assert!(!h.acd.is_waiting(CallId(3)));
    assert_eq!(
        h.acd.position(CallId(100)),
        Some(1),
        "behind patient 2 only"
    );
    assert_eq!(h.acd.position(CallId(5)), Some(3));
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, AcdEvent::CallbackRequested { call, .. } if *call == CallId(3))));
    // The agent serves them in that order.
    let mut served = Vec::new();
    let mut current = 1;
    for _ in 0..4 {
        h.actions.clear();
        h.end(current);
        let (next, _) = h.offers().first().cloned().expect("an offer");
        assert!(h.answer(next, "1001"));
        served.push(next);
        current = next;
    }
    assert_eq!(served, [2, 100, 4, 5]);
    // A callback chosen after an overflow (no longer waiting) goes to the back.
    h.call(6, 0);
    let now = h.clock.now();
    h.acd
        .handle_callback(now, CallId(7), "consultation", Some(CallId(101)), 0);
    h.drain();
    assert_eq!(h.acd.position(CallId(101)), Some(1), "behind patient 6");
}
