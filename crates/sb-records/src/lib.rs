//! Record keeping, sans-IO: the engine's typed events in, the store's operations out. The
//! [`Recorder`] is given each event with the wall-clock millisecond it happened at, keeps
//! the record of every call in progress, and hands back [`Op`]s: a row when the call
//! starts, its last known state at the milestones (queued, answered), and the whole record
//! with its event log when it ends. It does no I/O: the runtime hands the operations to
//! `sb-store`'s writer.
//!
//! ```
//! use sb_records::{Recorder, RecorderConfig};
//! use sb_engine::EngineEvent;
//! use sb_types::{pii::Redacted, vocab::{CallDirection, EndReason, Side}, CallId};
//!
//! let mut rec = Recorder::new(RecorderConfig {
//!     run: "r1".into(),
//!     regions: Vec::new(),
//!     short_abandon_ms: 5_000,
//!     ring_cycle_ms: 6_000,
//!     wrap_up_ms: 0,
//! });
//! rec.handle(1_000, &EngineEvent::CallStarted {
//!     call: CallId(1),
//!     dialled: "8000".into(),
//!     caller: Redacted("13800000000".into()),
//!     sip_call_id: "abc".into(),
//!     direction: CallDirection::Inbound,
//!     outside: None,
//! });
//! rec.handle(9_000, &EngineEvent::CallEnded {
//!     call: CallId(1),
//!     reason: EndReason::CallerHungUp,
//!     by: Side::Caller,
//! });
//! assert!(matches!(rec.poll_op(), Some(sb_store::Op::Begin(_))));
//! assert!(matches!(rec.poll_op(), Some(sb_store::Op::End { .. })));
//! ```

use sb_acd::AcdEvent;
use sb_engine::EngineEvent;
use sb_store::model::{
    AgentStateRow, CallEvent, CallRecord, CallbackProgress, Disposition, OfferRow, Op, Party,
    TransferRow,
};
use sb_types::vocab::{CallDirection, EndReason, Named, Side, TransferKind};
use std::collections::{HashMap, VecDeque};

/// The region of `number`: the first of `regions` (longest prefix first) it starts with.
pub fn region_of<'a>(regions: &'a [(String, String)], number: &str) -> Option<&'a str> {
    regions
        .iter()
        .find(|(p, _)| number.starts_with(p.as_str()))
        .map(|(_, r)| r.as_str())
}

/// The longest IVR path kept; a caller looping in a menu does not grow the row forever.
const MAX_PATH_NODES: usize = 40;

#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// Names this engine run: call ids are `<run>-<n>`.
    pub run: String,
    /// (prefix, region), longest prefix first.
    pub regions: Vec<(String, String)>,
    pub short_abandon_ms: i64,
    /// One ring cycle, to count rings.
    pub ring_cycle_ms: i64,
    /// An agent's wrap-up after each call, part of the handle time.
    pub wrap_up_ms: i64,
}

#[derive(Default)]
struct Open {
    record: Option<CallRecord>,
    events: Vec<CallEvent>,
    offers: Vec<OfferRow>,
    /// Index into `offers` of the offer still ringing, per agent.
    ringing: HashMap<String, usize>,
    transfers: Vec<TransferRow>,
    tags: Vec<String>,
    path_len: usize,
    abandoned: bool,
    overflowed: bool,
    transferred: bool,
    callback: bool,
    /// On hold since, and the hold time of spans already over (ms).
    held_at: Option<i64>,
    hold_ms: i64,
    muted_at: Option<i64>,
    mute_ms: i64,
    /// Progress of the callback the patient asked for on this call, written once its own
    /// record (and so its row in the callback list) is.
    callback_ops: Vec<CallbackProgress>,
}

/// Opens or closes a span (hold, mute) at `at_ms`; a closed span adds to `total`.
fn span(open: &mut Option<i64>, total: &mut i64, on: bool, at_ms: i64) -> bool {
    match (on, *open) {
        (true, None) => {
            *open = Some(at_ms);
            true
        }
        (false, Some(since)) => {
            *total += (at_ms - since).max(0);
            *open = None;
            true
        }
        _ => false,
    }
}

pub struct Recorder {
    cfg: RecorderConfig,
    calls: HashMap<u64, Open>,
    out: VecDeque<Op>,
    agent_seq: i64,
    rejected: u64,
    /// Each agent's current state and since when.
    agents: HashMap<String, (String, i64)>,
    /// When a callback's patient answered, by the call they asked on, until it closes.
    reached: HashMap<u64, i64>,
}

impl Recorder {
    pub fn new(cfg: RecorderConfig) -> Recorder {
        Recorder {
            cfg,
            calls: HashMap::new(),
            out: VecDeque::new(),
            agent_seq: 0,
            rejected: 0,
            agents: HashMap::new(),
            reached: HashMap::new(),
        }
    }

    pub fn poll_op(&mut self) -> Option<Op> {
        self.out.pop_front()
    }

    /// Calls whose record is still open.
    pub fn open_calls(&self) -> usize {
        self.calls.len()
    }

    fn region(&self, number: &str) -> Option<String> {
        region_of(&self.cfg.regions, number).map(str::to_string)
    }

    pub fn handle(&mut self, at_ms: i64, ev: &EngineEvent) {
        match ev {
            EngineEvent::CallStarted {
                call,
                dialled,
                caller,
                direction,
                outside,
                ..
            } => {
                let mut r = CallRecord::new(format!("{}-{}", self.cfg.run, call.0), at_ms);
                r.direction = *direction;
                r.caller = caller.0.clone();
                r.dialled = dialled.clone();
                r.region = self.region(&caller.0);
                if let Some(o) = outside {
                    r.trunk = o.trunk.clone();
                    r.did = o.did.clone();
                    r.withheld = o.withheld;
                    r.purpose = o.purpose.map(|p| p.name().to_string());
                    if *direction == sb_types::vocab::CallDirection::Outbound {
                        // A call out: the region is the number called.
                        r.region = self.region(dialled);
                    }
                }
                self.out.push_back(Op::Begin(r.clone()));
                let open = self.calls.entry(call.0).or_default();
                open.record = Some(r);
                push_event(open, at_ms, "started", None, None);
            }
            EngineEvent::Rejected {
                dialled,
                caller,
                status,
            } => {
                self.rejected += 1;
                let mut r = CallRecord::new(format!("{}-r{}", self.cfg.run, self.rejected), at_ms);
                r.caller = caller.0.clone();
                r.dialled = dialled.clone();
                r.region = self.region(&caller.0);
                r.ended_ms = Some(at_ms);
                r.disposition = Disposition::Blocked;
                r.hangup_by = Some(Party::System);
                let events = vec![CallEvent {
                    seq: 0,
                    at_ms,
                    kind: "refused".into(),
                    agent: None,
                    detail: Some(status.to_string()),
                }];
                self.out.push_back(Op::End {
                    record: r,
                    events,
                    offers: Vec::new(),
                    transfers: Vec::new(),
                });
            }
            EngineEvent::CallAnswered { call, .. } => {
                self.with(call.0, |o| push_event(o, at_ms, "answered_ivr", None, None))
            }
            EngineEvent::Ivr { call, node } => self.with(call.0, |o| {
                if o.path_len < MAX_PATH_NODES {
                    if let Some(r) = o.record.as_mut() {
                        if !r.ivr_path.is_empty() {
                            r.ivr_path.push('>');
                        }
                        r.ivr_path.push_str(node);
                        o.path_len += 1;
                    }
                }
            }),
            EngineEvent::Tag { call, var, value } => self.with(call.0, |o| {
                if let Some(r) = o.record.as_mut() {
                    match var.as_str() {
                        "media_source" => r.media_source = Some(value.clone()),
                        "language" => r.language = Some(value.clone()),
                        "tag" if !o.tags.contains(value) => o.tags.push(value.clone()),
                        _ => {}
                    }
                }
                push_event(o, at_ms, "tagged", None, Some(format!("{var}={value}")));
            }),
            EngineEvent::Queued { call, queue } => {
                let mut progress = None;
                self.with(call.0, |o| {
                    if let Some(r) = o.record.as_mut() {
                        if r.queue.is_none() {
                            r.queue = Some(queue.clone());
                            r.queued_ms = Some(at_ms);
                            progress = Some(r.clone());
                        }
                    }
                });
                self.out.extend(progress.map(Op::Progress));
            }
            EngineEvent::Transfer {
                call,
                from,
                to,
                kind,
                by,
            } => self.with(call.0, |o| {
                // A transfer coming back is a row of its own, not another transfer away.
                o.transferred |= *kind != TransferKind::Back;
                let seq = o.transfers.len() as i64;
                o.transfers.push(TransferRow {
                    seq,
                    at_ms,
                    from_party: from.clone(),
                    to_party: to.clone(),
                    kind: *kind,
                });
                let detail = match by {
                    Some(b) => format!("{to} ({kind}, {})", b.name()),
                    None => format!("{to} ({kind})"),
                };
                push_event(o, at_ms, "transferred", Some(from.clone()), Some(detail));
            }),
            EngineEvent::TransferFailed { call, to, reason } => self.with(call.0, |o| {
                push_event(
                    o,
                    at_ms,
                    "transfer_failed",
                    None,
                    Some(format!("{to}: {reason}")),
                )
            }),
            EngineEvent::Consult {
                call,
                agent,
                to,
                step,
            } => self.with(call.0, |o| {
                let kind = format!("consult_{step}");
                push_event(o, at_ms, &kind, Some(agent.clone()), Some(to.clone()))
            }),
            // With somewhere to go, the call moves on; with nowhere, a callback is offered
            // (CallbackOffered) and the patient decides.
            EngineEvent::Overflowed {
                call,
                queue,
                to: Some(to),
            } => self.with(call.0, |o| {
                o.overflowed = true;
                let seq = o.transfers.len() as i64;
                o.transfers.push(TransferRow {
                    seq,
                    at_ms,
                    from_party: queue.clone(),
                    to_party: to.clone(),
                    kind: TransferKind::Overflow,
                });
            }),
            EngineEvent::Overflowed { to: None, .. } => {}
            EngineEvent::AgentService {
                call,
                agent,
                outcome,
            } => self.with(call.0, |o| {
                push_event(
                    o,
                    at_ms,
                    "agent_service",
                    Some(agent.clone()),
                    Some(outcome.name().into()),
                )
            }),
            EngineEvent::CallbackOffered { call } => self.with(call.0, |o| {
                push_event(o, at_ms, "callback_offered", None, None)
            }),
            EngineEvent::CallbackRequested { call, queue } => self.with(call.0, |o| {
                o.callback = true;
                push_event(o, at_ms, "callback_requested", None, Some(queue.clone()));
            }),
            EngineEvent::SurveyOffered { call, agent } => self.with(call.0, |o| {
                if let Some(r) = o.record.as_mut() {
                    r.survey_ms = Some(at_ms);
                }
                push_event(o, at_ms, "survey_offered", agent.clone(), None);
            }),
            EngineEvent::SurveyAnswered { call, score } => self.with(call.0, |o| {
                if let Some(r) = o.record.as_mut() {
                    r.survey_score = score.map(i64::from);
                }
                let detail = score.map_or_else(|| "none".to_string(), |s| s.to_string());
                push_event(o, at_ms, "survey_answered", None, Some(detail));
            }),
            EngineEvent::CallbackStarted {
                call,
                item,
                attempt,
            } => {
                let detail = format!("{}-{} try {attempt}", self.cfg.run, item.0);
                self.with(call.0, |o| {
                    push_event(o, at_ms, "callback_of", None, Some(detail))
                })
            }
            EngineEvent::CallbackReached {
                call,
                item,
                waited_ms,
            } => {
                self.reached.insert(item.0, at_ms);
                self.with(call.0, |o| {
                    push_event(
                        o,
                        at_ms,
                        "callback_reached",
                        None,
                        Some(waited_ms.to_string()),
                    )
                })
            }
            EngineEvent::CallbackDeferred {
                item,
                at_ms: next,
                tries,
            } => self.callback_progress(at_ms, item.0, "pending", *tries, Some(*next)),
            EngineEvent::CallbackClosed {
                item,
                outcome,
                tries,
            } => self.callback_progress(at_ms, item.0, outcome.name(), *tries, None),
            EngineEvent::CallbackRecovered {
                item,
                queue,
                waited_ms,
            } => {
                // The abandoned call joins the callback list (its record is still open).
                let call_id = format!("{}-{}", self.cfg.run, item.0);
                self.with(item.0, |o| {
                    push_event(
                        o,
                        at_ms,
                        "callback_recovered",
                        None,
                        Some(waited_ms.to_string()),
                    );
                    let number = o.record.as_ref().map(|r| r.caller.clone());
                    o.callback_ops.push(CallbackProgress {
                        call_id,
                        status: "pending".into(),
                        attempts: 0,
                        next_ms: None,
                        reached_ms: None,
                        at_ms,
                        number,
                        queue: Some(queue.clone()),
                    });
                });
            }
            EngineEvent::TrunkAttempt {
                call,
                trunk,
                status,
                cause,
                ..
            } => self.with(call.0, |o| {
                if let Some(r) = o.record.as_mut() {
                    // A call out is on the trunk it last tried; a patient's call keeps the
                    // trunk it came in on when an agent transfers it out.
                    if r.direction == CallDirection::Outbound {
                        r.trunk = Some(trunk.clone());
                        if *status == 200 {
                            // The far end answered the call out.
                            r.answered_ms = Some(at_ms);
                        }
                    }
                    if *status >= 300 {
                        r.carrier_status = Some(i64::from(*status));
                        r.carrier_cause = cause.clone();
                    }
                }
                let detail = match cause {
                    Some(c) => format!("{trunk} {status} {c}"),
                    None => format!("{trunk} {status}"),
                };
                push_event(o, at_ms, "trunk_attempt", None, Some(detail))
            }),
            // A security event: the logs and the event stream carry it; no call exists.
            EngineEvent::OutsideRefused { .. } => {}
            EngineEvent::Bridged { call, agent } => self.with(call.0, |o| {
                push_event(o, at_ms, "bridged", Some(agent.clone()), None)
            }),
            EngineEvent::Hold { call, on, by } => self.with(call.0, |o| {
                if span(&mut o.held_at, &mut o.hold_ms, *on, at_ms) {
                    let kind = if *on { "held" } else { "resumed" };
                    push_event(o, at_ms, kind, None, Some(by.name().into()));
                }
            }),
            EngineEvent::Mute { call, on, by } => self.with(call.0, |o| {
                if span(&mut o.muted_at, &mut o.mute_ms, *on, at_ms) {
                    let kind = if *on { "muted" } else { "unmuted" };
                    push_event(o, at_ms, kind, None, Some(by.name().into()));
                }
            }),
            EngineEvent::MediaQuality {
                call,
                side,
                loss,
                jitter_ms,
                strangers,
                ..
            } => self.with(call.0, |o| {
                if let Some(r) = o.record.as_mut() {
                    let strangers = i64::try_from(*strangers).unwrap_or(i64::MAX);
                    match side {
                        Side::Agent => {
                            r.agent_loss = Some(*loss);
                            r.agent_jitter_ms = Some(*jitter_ms);
                            // Every agent leg of the call (offers, transfers) counts.
                            r.agent_strangers = r.agent_strangers.saturating_add(strangers);
                        }
                        _ => {
                            r.caller_loss = Some(*loss);
                            r.caller_jitter_ms = Some(*jitter_ms);
                            r.caller_strangers = strangers;
                        }
                    }
                }
            }),
            EngineEvent::CallEnded { call, reason, by } => self.end(at_ms, call.0, *reason, *by),
            EngineEvent::Acd(a) => self.acd(at_ms, a),
            EngineEvent::Sip(_)
            | EngineEvent::Digit { .. }
            | EngineEvent::Offered { .. }
            | EngineEvent::MediaRefused { .. } => {}
        }
    }

    fn with(&mut self, call: u64, f: impl FnOnce(&mut Open)) {
        if let Some(o) = self.calls.get_mut(&call) {
            f(o);
        }
    }

    fn acd(&mut self, at_ms: i64, ev: &AcdEvent) {
        let cycle = self.cfg.ring_cycle_ms.max(1);
        match ev {
            AcdEvent::Joined {
                call,
                queue,
                position,
            } => self.with(call.0, |o| {
                push_event(
                    o,
                    at_ms,
                    "joined",
                    None,
                    Some(format!("{queue} position {position}")),
                )
            }),
            AcdEvent::Offered { call, agent } => self.with(call.0, |o| {
                if let Some(r) = o.record.as_mut() {
                    r.first_offer_ms.get_or_insert(at_ms);
                }
                let seq = o.offers.len() as i64;
                o.offers.push(OfferRow {
                    seq,
                    agent: agent.0.clone(),
                    offered_ms: at_ms,
                    rang_ms: 0,
                    outcome: "withdrawn".into(),
                    within_rings: false,
                });
                o.ringing.insert(agent.0.clone(), seq as usize);
                push_event(o, at_ms, "offered", Some(agent.0.clone()), None);
            }),
            AcdEvent::RingNoAnswer { call, agent, rang } => self.with(call.0, |o| {
                close_offer(o, &agent.0, rang.as_millis() as i64, "no_answer", false);
                push_event(
                    o,
                    at_ms,
                    "ring_no_answer",
                    Some(agent.0.clone()),
                    Some(format!("{} ms", rang.as_millis())),
                );
            }),
            AcdEvent::Answered {
                call,
                agent,
                rang,
                within_rings,
                waited,
            } => {
                let mut progress = None;
                self.with(call.0, |o| {
                    let rang_ms = rang.as_millis() as i64;
                    close_offer(o, &agent.0, rang_ms, "answered", *within_rings);
                    withdraw_all(o, at_ms);
                    push_event(o, at_ms, "answered", Some(agent.0.clone()), None);
                    if let Some(r) = o.record.as_mut() {
                        r.agent = Some(agent.0.clone());
                        r.answered_ms = Some(at_ms);
                        r.wait_ms = Some(waited.as_millis() as i64);
                        r.ring_ms = Some(rang_ms);
                        // Rings begun: the phone rings at the start of each cycle.
                        r.rings = Some(rang_ms / cycle + 1);
                        r.within_rings = Some(*within_rings);
                        progress = Some(r.clone());
                    }
                });
                self.out.extend(progress.map(Op::Progress));
            }
            AcdEvent::Escalated { call, waited } => self.with(call.0, |o| {
                push_event(
                    o,
                    at_ms,
                    "escalated",
                    None,
                    Some(format!("after {} ms", waited.as_millis())),
                )
            }),
            AcdEvent::Overflowed {
                call,
                queue,
                reason,
                waited,
            } => self.with(call.0, |o| {
                if let Some(r) = o.record.as_mut() {
                    r.wait_ms.get_or_insert(waited.as_millis() as i64);
                }
                push_event(
                    o,
                    at_ms,
                    "overflowed",
                    None,
                    Some(format!("{queue}: {reason:?}")),
                );
            }),
            AcdEvent::Abandoned {
                call,
                queue,
                waited,
            } => self.with(call.0, |o| {
                o.abandoned = true;
                if let Some(r) = o.record.as_mut() {
                    if r.answered_ms.is_none() {
                        r.wait_ms = Some(r.wait_ms.unwrap_or(0) + waited.as_millis() as i64);
                    }
                }
                push_event(o, at_ms, "abandoned", None, Some(queue.clone()));
            }),
            AcdEvent::AgentState {
                agent,
                state,
                paused,
                ..
            } => {
                let state = *state;
                self.agent_seq += 1;
                let prev = self
                    .agents
                    .insert(agent.0.clone(), (state.to_string(), at_ms));
                self.out.push_back(Op::AgentState(AgentStateRow {
                    run: self.cfg.run.clone(),
                    seq: self.agent_seq,
                    agent: agent.0.clone(),
                    at_ms,
                    state: state.into(),
                    reason: paused.clone(),
                    prev_since_ms: prev.as_ref().map(|p| p.1),
                    prev_state: prev.map(|p| p.0),
                }));
            }
            AcdEvent::AutoPaused { .. } | AcdEvent::CallbackRequested { .. } => {}
        }
    }

    /// A callback's progress for the list's row of call `item` (held back until that
    /// call's own record is written).
    fn callback_progress(
        &mut self,
        at_ms: i64,
        item: u64,
        status: &str,
        tries: u32,
        next_ms: Option<i64>,
    ) {
        let reached_ms = if status == "pending" {
            None
        } else {
            self.reached.remove(&item)
        };
        let progress = CallbackProgress {
            call_id: format!("{}-{item}", self.cfg.run),
            status: status.to_string(),
            attempts: i64::from(tries),
            next_ms,
            reached_ms,
            at_ms,
            number: None,
            queue: None,
        };
        match self.calls.get_mut(&item) {
            Some(o) => o.callback_ops.push(progress),
            None => self.out.push_back(Op::Callback(progress)),
        }
    }

    fn end(&mut self, at_ms: i64, call: u64, reason: EndReason, by: Side) {
        let Some(mut o) = self.calls.remove(&call) else {
            return;
        };
        let later = std::mem::take(&mut o.callback_ops);
        withdraw_all(&mut o, at_ms);
        // A call that ends on hold or muted: the span runs to the end.
        span(&mut o.held_at, &mut o.hold_ms, false, at_ms);
        span(&mut o.muted_at, &mut o.mute_ms, false, at_ms);
        push_event(&mut o, at_ms, "ended", None, Some(reason.name().into()));
        let Some(mut r) = o.record.take() else {
            return;
        };
        r.ended_ms = Some(at_ms);
        r.hold_ms = o.hold_ms;
        r.mute_ms = o.mute_ms;
        r.hangup_by = Some(match by {
            Side::Caller => Party::Caller,
            Side::Agent => Party::Agent,
            Side::Engine => Party::System,
        });
        o.tags.sort();
        r.tags = o.tags.join(",");
        r.disposition = if o.callback {
            Disposition::CallbackRequested
        } else if o.overflowed {
            Disposition::Overflowed
        } else if r.answered_ms.is_some() {
            Disposition::Answered
        } else if o.abandoned {
            if r.wait_ms.unwrap_or(0) < self.cfg.short_abandon_ms {
                Disposition::ShortAbandon
            } else {
                Disposition::Abandoned
            }
        } else if o.transferred {
            Disposition::TransferredOut
        } else if o.tags.iter().any(|t| t == "after_hours") {
            Disposition::AfterHours
        } else if r.queue.is_some() {
            // In a queue and gone without an abandon: the engine stopped the call.
            Disposition::Abandoned
        } else {
            Disposition::IvrOnly
        };
        if r.answered_ms.is_some() && r.direction == CallDirection::Inbound {
            r.wrapup_ms = self.cfg.wrap_up_ms;
        }
        self.out.push_back(Op::End {
            record: r,
            events: o.events,
            offers: o.offers,
            transfers: o.transfers,
        });
        self.out.extend(later.into_iter().map(Op::Callback));
    }
}

fn push_event(o: &mut Open, at_ms: i64, kind: &str, agent: Option<String>, detail: Option<String>) {
    let seq = o.events.len() as i64;
    o.events.push(CallEvent {
        seq,
        at_ms,
        kind: kind.to_string(),
        agent,
        detail,
    });
}

/// Offers still ringing when another agent answered or the caller left.
fn withdraw_all(o: &mut Open, at_ms: i64) {
    for (_, i) in o.ringing.drain() {
        if let Some(off) = o.offers.get_mut(i) {
            off.rang_ms = at_ms - off.offered_ms;
        }
    }
}

fn close_offer(o: &mut Open, agent: &str, rang_ms: i64, outcome: &str, ok: bool) {
    if let Some(i) = o.ringing.remove(agent) {
        if let Some(off) = o.offers.get_mut(i) {
            off.rang_ms = rang_ms;
            off.outcome = outcome.to_string();
            off.within_rings = ok;
        }
    }
}

impl Recorder {
    /// The engine is stopping with calls still up: each is written as `interrupted` now
    /// rather than left for the next start to close.
    pub fn close_all(&mut self, at_ms: i64) {
        let open: Vec<u64> = self.calls.keys().copied().collect();
        for call in open {
            self.end(at_ms, call, EndReason::EngineStopped, Side::Engine);
            if let Some(Op::End { record, .. }) = self.out.back_mut() {
                record.disposition = Disposition::Interrupted;
            }
        }
    }
}
