//! The ACD state machine.

use crate::model::*;
use sb_sip::timer::DeadlineQueue;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Agent {
    id: AgentId,
    /// Registered and answering keep-alives: the phone can ring.
    reachable: bool,
    /// Queues (indices) the agent is logged in to.
    queues: BTreeSet<usize>,
    paused: Option<String>,
    activity: Activity,
    idle_since: Instant,
    wrap_until: Option<Instant>,
    misses: u32,
    calls_taken: u32,
    /// Calls the agent's phone has that the ACD did not give it (a transfer rung to them,
    /// a consultation, a call between extensions): no offer meanwhile.
    other_calls: u32,
    /// The state last reported and since when: the consoles' time in state.
    shown: &'static str,
    since: Instant,
}

impl Agent {
    fn available(&self) -> bool {
        self.reachable
            && !self.queues.is_empty()
            && self.paused.is_none()
            && self.activity == Activity::Idle
            && self.other_calls == 0
    }

    fn state(&self) -> &'static str {
        self.activity.state_name(
            self.paused.is_some(),
            self.available(),
            self.other_calls > 0,
        )
    }
}

#[derive(Debug)]
struct Waiting {
    queue: usize,
    priority: i32,
    joined: Instant,
    order: u64,
    /// Agent index -> when its phone started ringing.
    offers: BTreeMap<usize, Instant>,
    escalated: bool,
    /// Skills strategy: when the next skill level joins the pool.
    next_widen: Option<Instant>,
    /// Declined a callback and chose to wait: never overflowed again.
    stays: bool,
}

/// The ACD: queues, agents, offers and their timers. See the crate documentation.
#[derive(Debug)]
pub struct Acd {
    cfg: AcdConfig,
    queues: Vec<QueueSpec>,
    by_name: HashMap<String, usize>,
    cursor: Vec<usize>,
    agents: Vec<Agent>,
    by_agent: HashMap<AgentId, usize>,
    /// Each queue's members as indices into `agents`, with their skill level: picking an
    /// agent walks these, not names (a queue of 1,000 agents was 1,000 string hashes).
    members: Vec<Vec<(usize, u8)>>,
    waiting: BTreeMap<CallId, Waiting>,
    connected: HashMap<CallId, usize>,
    call_timers: DeadlineQueue<CallId>,
    agent_timers: DeadlineQueue<usize>,
    next_order: u64,
    actions: VecDeque<AcdAction>,
    events: VecDeque<AcdEvent>,
    /// Each queue's recent handle time, a moving average in milliseconds.
    handle_ms: Vec<f64>,
    /// Connected calls: their queue and when they were answered.
    talking: HashMap<CallId, (usize, Instant)>,
}

impl Acd {
    /// Agents are every member of every queue; none is logged in until told.
    pub fn new(cfg: AcdConfig, queues: Vec<QueueSpec>, now: Instant) -> Acd {
        let initial_ms = cfg.initial_handle_time.as_millis() as f64;
        let mut acd = Acd {
            cfg,
            by_name: queues
                .iter()
                .enumerate()
                .map(|(i, q)| (q.name.clone(), i))
                .collect(),
            cursor: vec![usize::MAX; queues.len()],
            handle_ms: vec![initial_ms; queues.len()],
            talking: HashMap::new(),
            queues,
            agents: Vec::new(),
            by_agent: HashMap::new(),
            members: Vec::new(),
            waiting: BTreeMap::new(),
            connected: HashMap::new(),
            call_timers: DeadlineQueue::default(),
            agent_timers: DeadlineQueue::default(),
            next_order: 0,
            actions: VecDeque::new(),
            events: VecDeque::new(),
        };
        let ids: Vec<AgentId> = acd
            .queues
            .iter()
            .flat_map(|q| q.members.iter().map(|(a, _)| a.clone()))
            .collect();
        for id in ids {
            if !acd.by_agent.contains_key(&id) {
                acd.by_agent.insert(id.clone(), acd.agents.len());
                acd.agents.push(Agent {
                    id,
                    reachable: false,
                    queues: BTreeSet::new(),
                    paused: None,
                    activity: Activity::Idle,
                    idle_since: now,
                    wrap_until: None,
                    misses: 0,
                    calls_taken: 0,
                    other_calls: 0,
                    shown: "unavailable",
                    since: now,
                });
            }
        }
        acd.members = acd
            .queues
            .iter()
            .map(|q| {
                q.members
                    .iter()
                    .filter_map(|(id, level)| acd.by_agent.get(id).map(|&a| (a, *level)))
                    .collect()
            })
            .collect();
        acd
    }

    /// The next thing the engine must do.
    pub fn poll_action(&mut self) -> Option<AcdAction> {
        self.actions.pop_front()
    }

    /// The next event, for the records and the live figures.
    pub fn poll_event(&mut self) -> Option<AcdEvent> {
        self.events.pop_front()
    }

    /// When [`Acd::handle_timeout`] is needed next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.call_timers.next(), self.agent_timers.next()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The agent's activity and whether calls may be offered to them.
    pub fn agent(&self, id: &AgentId) -> Option<(Activity, bool)> {
        self.by_agent
            .get(id)
            .map(|&i| (self.agents[i].activity.clone(), self.agents[i].available()))
    }

    /// Every agent the ACD knows.
    pub fn agent_ids(&self) -> impl Iterator<Item = &AgentId> {
        self.agents.iter().map(|a| &a.id)
    }

    /// Every agent now, for the control API.
    pub fn agents_view(&self) -> Vec<AgentView> {
        let names = |qs: &mut dyn Iterator<Item = usize>| -> Vec<String> {
            qs.map(|q| self.queues[q].name.clone()).collect()
        };
        // Each agent's queues, from one walk over the members (not a search per agent).
        let mut member_of: Vec<Vec<usize>> = vec![Vec::new(); self.agents.len()];
        for (q, members) in self.members.iter().enumerate() {
            for &(a, _) in members {
                member_of[a].push(q);
            }
        }
        self.agents
            .iter()
            .enumerate()
            .map(|(i, a)| AgentView {
                id: a.id.0.clone(),
                state: a.state(),
                paused: a.paused.clone(),
                reachable: a.reachable,
                since: a.since,
                call: match &a.activity {
                    Activity::Offered(c) | Activity::OnCall(c) => Some(*c),
                    _ => None,
                },
                ringing_since: match &a.activity {
                    Activity::Offered(c) => {
                        self.waiting.get(c).and_then(|w| w.offers.get(&i).copied())
                    }
                    _ => None,
                },
                wrap_until: a.wrap_until,
                logged_in: names(&mut a.queues.iter().copied()),
                member_of: names(&mut member_of[i].iter().copied()),
            })
            .collect()
    }

    /// Every queue now: patients waiting, the longest wait, logged-in agents by state.
    pub fn queues_view(&self, now: Instant) -> Vec<QueueView> {
        self.queues
            .iter()
            .enumerate()
            .map(|(q, spec)| {
                let mut agents = std::collections::BTreeMap::new();
                for &(a, _) in &self.members[q] {
                    let ag = &self.agents[a];
                    if ag.queues.contains(&q) {
                        let st = ag.state();
                        *agents.entry(st).or_insert(0) += 1;
                    }
                }
                QueueView {
                    name: spec.name.clone(),
                    waiting: self.waiting(&spec.name),
                    longest_wait: self.longest_wait(&spec.name, now),
                    oldest: self.oldest(&spec.name),
                    agents,
                }
            })
            .collect()
    }

    /// The queues `agent` belongs to.
    pub fn member_queues(&self, agent: &AgentId) -> Vec<String> {
        let Some(&a) = self.by_agent.get(agent) else {
            return Vec::new();
        };
        (0..self.queues.len())
            .filter(|&q| self.members[q].iter().any(|(m, _)| *m == a))
            .map(|q| self.queues[q].name.clone())
            .collect()
    }

    /// The agent's pause reason, while paused.
    pub fn paused(&self, id: &AgentId) -> Option<String> {
        self.by_agent
            .get(id)
            .and_then(|&i| self.agents[i].paused.clone())
    }

    /// Patients waiting in `queue` now.
    pub fn waiting(&self, queue: &str) -> usize {
        let Some(&q) = self.by_name.get(queue) else {
            return 0;
        };
        self.waiting.values().filter(|w| w.queue == q).count()
    }

    /// How long the patient waiting longest in `queue` has waited at `now`.
    pub fn longest_wait(&self, queue: &str, now: Instant) -> Duration {
        self.oldest(queue)
            .map(|joined| now.saturating_duration_since(joined))
            .unwrap_or_default()
    }

    /// When the patient waiting longest in `queue` joined it.
    pub fn oldest(&self, queue: &str) -> Option<Instant> {
        let &q = self.by_name.get(queue)?;
        self.waiting
            .values()
            .filter(|w| w.queue == q)
            .map(|w| w.joined)
            .min()
    }

    /// How many patients are ahead of `call` in its queue (by priority, then arrival).
    pub fn position(&self, call: CallId) -> Option<usize> {
        let w = self.waiting.get(&call)?;
        let key = (-w.priority, w.order);
        Some(
            self.waiting
                .values()
                .filter(|o| o.queue == w.queue && (-o.priority, o.order) < key)
                .count(),
        )
    }

    /// How long `call` has waited in its queue, if it is waiting.
    pub fn waited(&self, call: CallId, now: Instant) -> Option<Duration> {
        self.waiting
            .get(&call)
            .map(|w| now.saturating_duration_since(w.joined))
    }

    /// How long `call` can expect to wait: the patients ahead and itself, served by the
    /// queue's staffed agents (logged in, reachable, not paused) at the queue's recent
    /// handle time. `None` when nobody staffs the queue.
    pub fn estimated_wait(&self, call: CallId) -> Option<Duration> {
        let ahead = self.position(call)?;
        let q = self.waiting.get(&call)?.queue;
        let staffed = self
            .agents
            .iter()
            .filter(|a| a.queues.contains(&q) && a.reachable && a.paused.is_none())
            .count();
        if staffed == 0 {
            return None;
        }
        let ms = (ahead + 1) as f64 * self.handle_ms[q] / staffed as f64;
        Some(Duration::from_millis(ms as u64))
    }

    /// The member of `queue` who is free and has been idle longest, for a colleague's
    /// question (a consultation, outside the queue's own offers).
    pub fn free_member(&self, queue: &str) -> Option<&AgentId> {
        let q = *self.by_name.get(queue)?;
        self.members[q]
            .iter()
            .map(|(a, _)| *a)
            .filter(|&a| self.agents[a].available() && self.agents[a].queues.contains(&q))
            .min_by_key(|&a| self.agents[a].idle_since)
            .map(|a| &self.agents[a].id)
    }

    /// Whether a queue of that name exists.
    pub fn has_queue(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Whether `call` waits in a queue.
    pub fn is_waiting(&self, call: CallId) -> bool {
        self.waiting.contains_key(&call)
    }

    /// The answer threshold (three rings).
    pub fn sla_threshold(&self) -> Duration {
        self.cfg.sla_threshold
    }

    /// When an agent answered `call` from its queue, while they talk.
    pub fn answered_at(&self, call: CallId) -> Option<Instant> {
        self.talking.get(&call).map(|&(_, at)| at)
    }

    /// The agent `call` is connected to, if any.
    pub fn connected_to(&self, call: CallId) -> Option<&AgentId> {
        self.connected.get(&call).map(|&i| &self.agents[i].id)
    }

    fn report(&mut self, a: usize, now: Instant) {
        let ag = &mut self.agents[a];
        let state = ag.state();
        if state != ag.shown {
            ag.shown = state;
            ag.since = now;
        }
        let ag = &self.agents[a];
        self.events.push_back(AcdEvent::AgentState {
            agent: ag.id.clone(),
            activity: ag.activity.clone(),
            paused: ag.paused.clone(),
            available: ag.available(),
            state: ag.state(),
        });
    }

    fn set_idle(&mut self, a: usize, now: Instant) {
        let ag = &mut self.agents[a];
        ag.activity = Activity::Idle;
        ag.idle_since = now;
        ag.wrap_until = None;
        self.report(a, now);
    }

    // ---- the truth about agents ---------------------------------------------------------

    /// The registrar's view: the phone is registered and answers keep-alives, or not.
    pub fn handle_reachability(&mut self, now: Instant, agent: &AgentId, reachable: bool) {
        let Some(&a) = self.by_agent.get(agent) else {
            return;
        };
        if self.agents[a].reachable == reachable {
            return;
        }
        self.agents[a].reachable = reachable;
        if !reachable {
            // A phone that vanished mid-offer cannot answer: the call goes back in line.
            if let Activity::Offered(call) = self.agents[a].activity {
                self.withdraw_offer(now, call, a, false);
            }
        }
        self.report(a, now);
        self.dispatch(now);
    }

    /// The agent's phone took (`busy`) or ended a call the ACD did not give it.
    pub fn handle_other_call(&mut self, now: Instant, agent: &AgentId, busy: bool) {
        let Some(&a) = self.by_agent.get(agent) else {
            return;
        };
        if busy {
            // One call at a time: an offer still ringing goes to the next agent.
            if let Activity::Offered(call) = self.agents[a].activity {
                self.withdraw_offer(now, call, a, false);
            }
        }
        let ag = &mut self.agents[a];
        if busy {
            ag.other_calls += 1;
        } else if ag.other_calls > 0 {
            ag.other_calls -= 1;
            if ag.other_calls == 0 {
                ag.idle_since = now;
            }
        } else {
            return;
        }
        self.report(a, now);
        self.dispatch(now);
    }

    /// Logs the agent in to the named queues they are a member of.
    pub fn handle_login(&mut self, now: Instant, agent: &AgentId, queues: &[&str]) {
        let Some(&a) = self.by_agent.get(agent) else {
            return;
        };
        for name in queues {
            if let Some(&q) = self.by_name.get(*name) {
                if self.queues[q].members.iter().any(|(m, _)| m == agent) {
                    self.agents[a].queues.insert(q);
                }
            }
        }
        self.agents[a].idle_since = now;
        self.report(a, now);
        self.dispatch(now);
    }

    /// The agent logs out of every queue.
    pub fn handle_logout(&mut self, now: Instant, agent: &AgentId) {
        let Some(&a) = self.by_agent.get(agent) else {
            return;
        };
        if let Activity::Offered(call) = self.agents[a].activity {
            self.withdraw_offer(now, call, a, false);
        }
        self.agents[a].queues.clear();
        self.report(a, now);
        self.dispatch(now);
    }

    /// The agent pauses, for `reason`: no offers until unpaused.
    pub fn handle_pause(&mut self, now: Instant, agent: &AgentId, reason: &str) {
        let Some(&a) = self.by_agent.get(agent) else {
            return;
        };
        if let Activity::Offered(call) = self.agents[a].activity {
            self.withdraw_offer(now, call, a, false);
        }
        self.agents[a].paused = Some(reason.to_string());
        self.report(a, now);
        self.dispatch(now);
    }

    /// The agent is available again.
    pub fn handle_unpause(&mut self, now: Instant, agent: &AgentId) {
        let Some(&a) = self.by_agent.get(agent) else {
            return;
        };
        self.agents[a].paused = None;
        self.agents[a].misses = 0;
        self.agents[a].idle_since = now;
        self.report(a, now);
        self.dispatch(now);
    }

    // ---- calls --------------------------------------------------------------------------

    /// A patient joins `queue`. Higher `priority` is served first.
    pub fn handle_enqueue(&mut self, now: Instant, call: CallId, queue: &str, priority: i32) {
        self.enqueue(now, call, queue, priority, false);
    }

    /// A patient who was offered a callback and chose to stay on the line waits in `queue`
    /// until answered or gone: the overflow rules do not send them away again.
    pub fn handle_stay(&mut self, now: Instant, call: CallId, queue: &str, priority: i32) {
        self.enqueue(now, call, queue, priority, true);
    }

    /// The patient chose to be called back: they leave, and `callback` (the call that will
    /// ring them back; none outside the callbacks' hours) takes their place in `queue`: the
    /// very place when they were still waiting in it, else (after an overflow) the back of
    /// the queue. It is offered to an agent as any waiting call, and never overflows.
    pub fn handle_callback(
        &mut self,
        now: Instant,
        call: CallId,
        queue: &str,
        callback: Option<CallId>,
        priority: i32,
    ) {
        let Some(callback) = callback else {
            if let Some(w) = self.waiting.remove(&call) {
                for &a in w.offers.keys() {
                    self.actions.push_back(AcdAction::CancelOffer {
                        call,
                        agent: self.agents[a].id.clone(),
                    });
                    self.set_idle(a, now);
                }
                self.dispatch(now);
            }
            self.events.push_back(AcdEvent::CallbackRequested {
                call,
                queue: queue.to_string(),
            });
            return;
        };
        match self.waiting.remove(&call) {
            Some(mut w) => {
                for &a in w.offers.keys() {
                    self.actions.push_back(AcdAction::CancelOffer {
                        call,
                        agent: self.agents[a].id.clone(),
                    });
                    self.set_idle(a, now);
                }
                w.offers.clear();
                w.stays = true;
                let q = w.queue;
                self.waiting.insert(callback, w);
                let position = self.position(callback).map_or(1, |p| p + 1);
                self.events.push_back(AcdEvent::Joined {
                    call: callback,
                    queue: self.queues[q].name.clone(),
                    position,
                });
                self.schedule_call(callback);
                self.events.push_back(AcdEvent::CallbackRequested {
                    call,
                    queue: queue.to_string(),
                });
                self.dispatch(now);
            }
            None => {
                self.events.push_back(AcdEvent::CallbackRequested {
                    call,
                    queue: queue.to_string(),
                });
                self.enqueue(now, callback, queue, priority, true);
            }
        }
    }

    /// A callback whose time has come again (a retry, or the callbacks' hours opened): it
    /// waits in `queue` at the back, and never overflows.
    pub fn handle_callback_retry(&mut self, now: Instant, callback: CallId, queue: &str) {
        self.enqueue(now, callback, queue, 0, true);
    }

    fn enqueue(&mut self, now: Instant, call: CallId, queue: &str, priority: i32, stays: bool) {
        let Some(&q) = self.by_name.get(queue) else {
            self.overflow_now(call, queue, None, OverflowReason::NoAgents, Duration::ZERO);
            return;
        };
        let to = self.queues[q].overflow_to.clone();
        let staffed = self.agents.iter().any(|a| a.queues.contains(&q));
        if !staffed && !stays {
            return self.overflow_now(call, queue, to, OverflowReason::NoAgents, Duration::ZERO);
        }
        let waiting = self.waiting.values().filter(|w| w.queue == q).count();
        if waiting >= self.max_waiting(q) && !stays {
            return self.overflow_now(
                call,
                queue,
                to,
                OverflowReason::TooManyWaiting,
                Duration::ZERO,
            );
        }
        self.next_order += 1;
        let next_widen = match self.queues[q].strategy {
            Strategy::Skills { widen_every } if !widen_every.is_zero() => Some(now + widen_every),
            _ => None,
        };
        self.waiting.insert(
            call,
            Waiting {
                queue: q,
                priority,
                joined: now,
                order: self.next_order,
                offers: BTreeMap::new(),
                escalated: false,
                stays,
                next_widen,
            },
        );
        self.events.push_back(AcdEvent::Joined {
            call,
            queue: queue.to_string(),
            position: waiting + 1,
        });
        self.schedule_call(call);
        self.dispatch(now);
    }

    fn overflow_now(
        &mut self,
        call: CallId,
        queue: &str,
        to: Option<String>,
        reason: OverflowReason,
        waited: Duration,
    ) {
        self.events.push_back(AcdEvent::Overflowed {
            call,
            queue: queue.to_string(),
            reason: reason.clone(),
            waited,
        });
        self.actions.push_back(AcdAction::Overflow {
            call,
            queue: queue.to_string(),
            to,
            reason,
        });
    }

    /// The patient hung up while waiting.
    pub fn handle_abandon(&mut self, now: Instant, call: CallId) {
        let Some(w) = self.waiting.remove(&call) else {
            return;
        };
        let queue = self.queues[w.queue].name.clone();
        for &a in w.offers.keys() {
            self.actions.push_back(AcdAction::CancelOffer {
                call,
                agent: self.agents[a].id.clone(),
            });
            self.set_idle(a, now);
        }
        self.events.push_back(AcdEvent::Abandoned {
            call,
            queue,
            waited: now - w.joined,
        });
        self.dispatch(now);
    }

    /// An agent picked up. Returns false when the offer was no longer open (the engine
    /// then drops that agent's leg).
    pub fn handle_answered(&mut self, now: Instant, call: CallId, agent: &AgentId) -> bool {
        let Some(&a) = self.by_agent.get(agent) else {
            return false;
        };
        let open = self
            .waiting
            .get(&call)
            .and_then(|w| w.offers.get(&a).copied());
        let Some(rang_since) = open else { return false };
        let Some(w) = self.waiting.remove(&call) else {
            return false;
        };
        for (&other, _) in w.offers.iter().filter(|(o, _)| **o != a) {
            self.actions.push_back(AcdAction::CancelOffer {
                call,
                agent: self.agents[other].id.clone(),
            });
            self.set_idle(other, now);
        }
        let rang = now - rang_since;
        let waited = now - w.joined;
        self.agents[a].activity = Activity::OnCall(call);
        self.agents[a].misses = 0;
        self.connected.insert(call, a);
        self.talking.insert(call, (w.queue, now));
        self.actions.push_back(AcdAction::Connect {
            call,
            agent: agent.clone(),
        });
        self.events.push_back(AcdEvent::Answered {
            call,
            agent: agent.clone(),
            rang,
            within_rings: rang <= self.cfg.sla_threshold,
            waited,
        });
        self.report(a, now);
        self.dispatch(now);
        true
    }

    /// The agent's phone refused or could not take the offer (busy, error, gone).
    pub fn handle_offer_failed(&mut self, now: Instant, call: CallId, agent: &AgentId) {
        let Some(&a) = self.by_agent.get(agent) else {
            return;
        };
        if self.agents[a].activity == Activity::Offered(call) {
            self.withdraw_offer(now, call, a, false);
            self.dispatch(now);
        }
    }

    /// A connected call ended: the agent wraps up, then is free again.
    pub fn handle_call_ended(&mut self, now: Instant, call: CallId) {
        let Some(a) = self.connected.remove(&call) else {
            return;
        };
        if let Some((q, since)) = self.talking.remove(&call) {
            // Recent calls count most: a fifth of the weight goes to the newest.
            let handle = (now - since + self.cfg.wrap_up).as_millis() as f64;
            self.handle_ms[q] = 0.8 * self.handle_ms[q] + 0.2 * handle;
        }
        let ag = &mut self.agents[a];
        ag.calls_taken += 1;
        if self.cfg.wrap_up.is_zero() {
            self.set_idle(a, now);
        } else {
            ag.activity = Activity::WrapUp;
            ag.wrap_until = Some(now + self.cfg.wrap_up);
            self.agent_timers.push(now + self.cfg.wrap_up, a);
            self.report(a, now);
        }
        self.dispatch(now);
    }

    /// Runs the timers due at `now`: ring timeouts, escalations, wrap-ups, waits.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(a) = self.agent_timers.pop_due(now) {
            let ag = &self.agents[a];
            if ag.activity == Activity::WrapUp && ag.wrap_until.is_some_and(|t| t <= now) {
                self.set_idle(a, now);
            }
        }
        while let Some(call) = self.call_timers.pop_due(now) {
            self.check_call(now, call);
        }
        self.dispatch(now);
    }

    /// Takes an offer back: the agent is free again (or paused after too many misses) and
    /// the call waits for the next agent.
    fn withdraw_offer(&mut self, now: Instant, call: CallId, a: usize, missed: bool) {
        let rang_since = self
            .waiting
            .get_mut(&call)
            .and_then(|w| w.offers.remove(&a));
        self.actions.push_back(AcdAction::CancelOffer {
            call,
            agent: self.agents[a].id.clone(),
        });
        if missed {
            let rang = rang_since.map(|t| now - t).unwrap_or_default();
            self.events.push_back(AcdEvent::RingNoAnswer {
                call,
                agent: self.agents[a].id.clone(),
                rang,
            });
            self.agents[a].misses += 1;
            if self.agents[a].misses >= self.cfg.max_misses {
                let misses = self.agents[a].misses;
                self.agents[a].paused = Some("no answer".into());
                self.events.push_back(AcdEvent::AutoPaused {
                    agent: self.agents[a].id.clone(),
                    misses,
                });
            }
        }
        self.set_idle(a, now);
        self.schedule_call(call);
    }

    fn check_call(&mut self, now: Instant, call: CallId) {
        let Some(w) = self.waiting.get(&call) else {
            return;
        };
        let expired: Vec<usize> = w
            .offers
            .iter()
            .filter(|(_, t)| **t + self.cfg.ring_timeout <= now)
            .map(|(a, _)| *a)
            .collect();
        for a in expired {
            self.withdraw_offer(now, call, a, true);
        }
        let escalate_after = self.escalate_after();
        let Some(max_wait) = self.waiting.get(&call).map(|w| self.max_wait(w.queue)) else {
            return;
        };
        let Some(w) = self.waiting.get_mut(&call) else {
            return;
        };
        let waited = now - w.joined;
        if waited >= max_wait && !w.stays {
            let w = self
                .waiting
                .remove(&call)
                .expect("present: looked up above");
            for &a in w.offers.keys() {
                self.actions.push_back(AcdAction::CancelOffer {
                    call,
                    agent: self.agents[a].id.clone(),
                });
                self.set_idle(a, now);
            }
            let q = &self.queues[w.queue];
            let (name, to) = (q.name.clone(), q.overflow_to.clone());
            self.overflow_now(call, &name, to, OverflowReason::MaxWait, waited);
            return;
        }
        if let (Some(t), Strategy::Skills { widen_every }) =
            (w.next_widen, self.queues[w.queue].strategy)
        {
            // dispatch() after the timers sees the wider pool; the next widening is later.
            if t <= now {
                w.next_widen = Some(now + widen_every);
            }
        }
        if !w.escalated && waited >= escalate_after {
            w.escalated = true;
            self.events.push_back(AcdEvent::Escalated { call, waited });
        }
        self.schedule_call(call);
    }

    fn max_waiting(&self, q: usize) -> usize {
        self.queues[q]
            .limits
            .map_or(self.cfg.max_waiting, |(n, _)| n)
    }

    fn max_wait(&self, q: usize) -> Duration {
        self.queues[q].limits.map_or(self.cfg.max_wait, |(_, d)| d)
    }

    fn escalate_after(&self) -> Duration {
        self.cfg.sla_threshold.mul_f64(self.cfg.escalate_at)
    }

    fn schedule_call(&mut self, call: CallId) {
        let Some(w) = self.waiting.get(&call) else {
            return;
        };
        // A patient who chose to stay has no maximum wait: no timer for it (a past one
        // would fire again and again).
        let next = [
            (!w.stays).then(|| w.joined + self.max_wait(w.queue)),
            (!w.escalated).then(|| w.joined + self.escalate_after()),
            w.offers.values().min().map(|t| *t + self.cfg.ring_timeout),
            w.next_widen,
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(next) = next {
            self.call_timers.push(next, call);
        }
    }

    /// Offers waiting calls to free agents: higher priority first, then first come.
    fn dispatch(&mut self, now: Instant) {
        let mut order: Vec<(i32, u64, CallId)> = self
            .waiting
            .iter()
            .map(|(c, w)| (-w.priority, w.order, *c))
            .collect();
        order.sort();
        for (_, _, call) in order {
            if !self.agents.iter().any(Agent::available) {
                return;
            }
            let Some(w) = self.waiting.get(&call) else {
                continue;
            };
            let q = w.queue;
            let wide = w.escalated || self.queues[q].strategy == Strategy::RingAll;
            if !wide && !w.offers.is_empty() {
                continue;
            }
            let picks = if wide {
                self.all_candidates(q, call, now)
            } else {
                self.pick(q, call, now).into_iter().collect()
            };
            for a in picks {
                self.offer(now, call, a);
            }
        }
    }

    fn candidates(&self, q: usize, call: CallId, now: Instant) -> Vec<(usize, u8)> {
        let w = &self.waiting[&call];
        let max_level = match self.queues[q].strategy {
            Strategy::Skills { widen_every } if !widen_every.is_zero() => {
                let steps = (now - w.joined).as_millis() / widen_every.as_millis().max(1);
                1 + steps.min(254) as u8
            }
            _ => u8::MAX,
        };
        self.members[q]
            .iter()
            .copied()
            .filter(|(_, level)| *level <= max_level || w.escalated)
            .filter(|(a, _)| {
                self.agents[*a].available()
                    && self.agents[*a].queues.contains(&q)
                    && !w.offers.contains_key(a)
            })
            .collect()
    }

    fn all_candidates(&self, q: usize, call: CallId, now: Instant) -> Vec<usize> {
        self.candidates(q, call, now)
            .into_iter()
            .map(|(a, _)| a)
            .collect()
    }

    fn pick(&mut self, q: usize, call: CallId, now: Instant) -> Option<usize> {
        let c = self.candidates(q, call, now);
        let idle = |a: usize| self.agents[a].idle_since;
        match self.queues[q].strategy {
            Strategy::LongestIdle | Strategy::RingAll => c
                .iter()
                .min_by_key(|(a, _)| (idle(*a), *a))
                .map(|(a, _)| *a),
            Strategy::FewestCalls => c
                .iter()
                .min_by_key(|(a, _)| (self.agents[*a].calls_taken, idle(*a), *a))
                .map(|(a, _)| *a),
            Strategy::Skills { .. } => c
                .iter()
                .min_by_key(|(a, level)| (*level, idle(*a), *a))
                .map(|(a, _)| *a),
            Strategy::RoundRobin => {
                let members = &self.members[q];
                let n = members.len();
                let start = members
                    .iter()
                    .position(|(m, _)| *m == self.cursor[q])
                    .map(|p| p + 1)
                    .unwrap_or(0);
                let free: std::collections::HashSet<usize> = c.iter().map(|(a, _)| *a).collect();
                let chosen = (0..n)
                    .map(|k| members[(start + k) % n].0)
                    .find(|m| free.contains(m))?;
                self.cursor[q] = chosen;
                Some(chosen)
            }
        }
    }

    fn offer(&mut self, now: Instant, call: CallId, a: usize) {
        let Some(w) = self.waiting.get_mut(&call) else {
            return;
        };
        w.offers.insert(a, now);
        self.agents[a].activity = Activity::Offered(call);
        let agent = self.agents[a].id.clone();
        self.actions.push_back(AcdAction::Offer {
            call,
            agent: agent.clone(),
        });
        self.events.push_back(AcdEvent::Offered { call, agent });
        self.report(a, now);
        self.schedule_call(call);
    }
}
