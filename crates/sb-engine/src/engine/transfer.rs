//! Transfers and consultations. A blind transfer hangs the agent up and rings the target
//! while the patient hears music; unanswered, the call comes back to the agent (or
//! operator) who transferred it, and failing them goes back to a queue. A consultation puts
//! the patient on hold and rings a colleague on a second leg; the agent then returns to the
//! patient, swaps between the two, or completes the transfer (attended). The same steps
//! come from feature codes, the control API and the phone's own REFER (RFC 3515).

use super::{grid_after, Control, ControlError, Engine, EngineEvent, LegId, Side};
use crate::call::{CallId, Phase};
use sb_sip::transaction::TxId;
use sb_sip_msg::{Method, NameAddr, Request};
use sb_types::vocab::{ConsultStep, EndReason, LegFailure, TransferKind};
use std::time::Instant;

/// Why the engine calls a leg out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Purpose {
    /// The ACD offers the waiting patient to this agent.
    Offer,
    /// A transfer target rings for the patient; unanswered, the call rings `then` in turn,
    /// and after the last goes back to a queue.
    Transfer { then: Fallback },
    /// A colleague the agent on leg `agent` consults, the patient on hold meanwhile.
    Consult { agent: LegId },
    /// The extension dialled on a call between extensions.
    Direct,
}

/// Who a transfer rings next when its target does not answer, in order, each with the
/// kind of transfer that makes (`back` to the agent who transferred, `roster` to the next
/// person on duty). After the last: the queue the call came from, or the operators' queue;
/// with neither, the call ends.
pub(super) type Fallback = Vec<(String, TransferKind)>;

/// A consultation under way: the agent's leg, the colleague's, their extensions.
pub(super) struct Consultation {
    pub(super) leg: LegId,
    pub(super) colleague_leg: LegId,
    pub(super) agent: String,
    pub(super) colleague: String,
    pub(super) answered: bool,
}

/// The queue every unplaceable call ends up with.
const OPERATORS: &str = "operator";

impl Engine {
    /// The leg the patient of call `id` talks to.
    pub(super) fn agent_leg_of(&self, id: CallId) -> Result<LegId, ControlError> {
        if !self.calls.contains_key(&id) {
            return Err(ControlError::NoSuchCall);
        }
        self.bridged
            .get(&id)
            .copied()
            .ok_or(ControlError::NotBridged)
    }

    /// A transfer or consultation target must be one of our extensions, the on-duty
    /// number or a queue's number, and not the agent.
    fn check_target(&self, leg: LegId, to: &str) -> Result<(), ControlError> {
        let own = self.legs.get(&leg).is_some_and(|l| l.agent.0 == to);
        let known =
            self.sip.has_user(to) || self.is_roster(to) || self.queue_by_number(to).is_some();
        if own || !known {
            return Err(ControlError::UnknownExtension(to.to_string()));
        }
        Ok(())
    }

    /// The queue dialled by `number`, if it is a queue's number.
    fn queue_by_number(&self, number: &str) -> Option<String> {
        self.cfg
            .queue_numbers
            .iter()
            .find(|(n, _)| n == number)
            .map(|(_, q)| q.clone())
    }

    /// Whether `number` is the on-duty number (`roster.number`).
    pub(super) fn is_roster(&self, number: &str) -> bool {
        !self.cfg.roster.is_empty() && self.cfg.roster_number.as_deref() == Some(number)
    }

    /// Who `to` stands for now: the on-duty number is the first person on the roster with
    /// a phone registered; any other number is itself.
    pub(super) fn resolve(&self, now: Instant, to: &str) -> Option<String> {
        if !self.is_roster(to) {
            return Some(to.to_string());
        }
        self.cfg
            .roster
            .iter()
            .find(|p| !self.sip.location().lookup(p, now).is_empty())
            .cloned()
    }

    /// Rings `to` for the patient of call `id`, who waits with music; unanswered, `then`.
    /// The on-duty number rings the roster, one after the other.
    pub(super) fn ring_for_transfer(&mut self, now: Instant, id: CallId, to: &str, then: Fallback) {
        let mut chain: Fallback = if self.is_roster(to) {
            self.cfg
                .roster
                .iter()
                .map(|p| (p.clone(), TransferKind::Roster))
                .collect()
        } else {
            vec![(to.to_string(), TransferKind::Blind)]
        };
        chain.extend(then);
        self.ring_chain(now, id, chain);
    }

    /// Rings the first of `chain` that has a phone registered, the rest its fallback.
    fn ring_chain(&mut self, now: Instant, id: CallId, mut chain: Fallback) {
        while !chain.is_empty() {
            let (to, _) = chain.remove(0);
            let purpose = Purpose::Transfer {
                then: chain.clone(),
            };
            if self.new_leg(now, id, &to, purpose).is_some() {
                return;
            }
            if !self.next_after_failure(id, &to, &chain, LegFailure::NotRegistered) {
                return;
            }
        }
        self.requeue(now, id);
    }

    /// `to` will not answer: says so, and who comes next. False when the call is gone.
    fn next_after_failure(
        &mut self,
        id: CallId,
        to: &str,
        then: &Fallback,
        reason: LegFailure,
    ) -> bool {
        if !self.calls.contains_key(&id) {
            return false;
        }
        self.events.push_back(EngineEvent::TransferFailed {
            call: id,
            to: to.to_string(),
            reason,
        });
        if let Some((next, kind)) = then.first() {
            self.events.push_back(EngineEvent::Transfer {
                call: id,
                from: to.to_string(),
                to: next.clone(),
                kind: *kind,
                by: None,
            });
        }
        true
    }

    /// The patient stops talking to whoever they were bridged to and waits with music.
    fn unbridge(&mut self, now: Instant, id: CallId) {
        if let Some(by) = self.calls.get(&id).and_then(|c| c.held_by) {
            self.set_hold(now, id, false, by);
        }
        self.set_mute(now, id, false, Control::Dialplan);
        self.bridged.remove(&id);
        let origin = self.cfg.origin;
        if let Some(c) = self.calls.get_mut(&id) {
            c.phase = Phase::Waiting;
            c.playlist.clear();
            c.playing = false;
            c.on_hold = true;
            c.announce_at = None;
            c.next_tick = Some(grid_after(origin, c.tick_phase, now));
        }
        self.schedule(id);
    }

    /// Blind transfer: the agent leaves, `to` rings; unanswered, the call rings the agent
    /// again.
    pub fn transfer(
        &mut self,
        now: Instant,
        id: CallId,
        to: &str,
        by: Control,
    ) -> Result<(), ControlError> {
        let leg = self.agent_leg_of(id)?;
        self.check_target(leg, to)?;
        let agent = self
            .legs
            .get(&leg)
            .map(|l| l.agent.0.clone())
            .unwrap_or_default();
        self.end_consult_leg(now, leg);
        let queue = self.queue_by_number(to);
        self.events.push_back(EngineEvent::Transfer {
            call: id,
            from: agent.clone(),
            to: queue.clone().unwrap_or_else(|| to.to_string()),
            kind: if queue.is_some() {
                TransferKind::Queue
            } else {
                TransferKind::Blind
            },
            by: Some(by),
        });
        self.unbridge(now, id);
        if let Some(q) = queue {
            // Into the queue: the agent is done, the patient waits for its next agent.
            self.drop_leg(now, leg, true);
            self.acd_call_over(now, id);
            self.enqueue(now, id, q);
            return Ok(());
        }
        // The agent stays on the call for the ACD until the target answers: no new offer
        // reaches them while the call may still come back. A phone that transferred by
        // REFER keeps its dialog until the outcome is known (it is told by NOTIFY, and the
        // patient comes back on it); otherwise the agent's phone is hung up now.
        if by == Control::Refer {
            if let Some(l) = self.legs.get_mut(&leg) {
                l.referred = true;
            }
        } else {
            self.drop_leg(now, leg, true);
        }
        self.ring_for_transfer(now, id, to, vec![(agent, TransferKind::Back)]);
        Ok(())
    }

    /// The leg whose phone transferred call `id` by REFER and waits for the outcome.
    fn referred_leg(&self, id: CallId) -> Option<LegId> {
        self.legs
            .iter()
            .find(|(_, l)| l.call == id && l.referred)
            .map(|(l, _)| *l)
    }

    /// Tells the phone that transferred call `id` by REFER how it ended, and forgets that
    /// it waits. Returns its leg.
    fn refer_outcome(&mut self, now: Instant, id: CallId, frag: &str) -> Option<LegId> {
        let leg = self.referred_leg(id)?;
        let l = self.legs.get_mut(&leg)?;
        l.referred = false;
        if let Some(d) = l.dialog.clone() {
            self.notify_refer(now, &d, frag, true);
        }
        Some(leg)
    }

    pub(super) fn transfer_answered(&mut self, now: Instant, leg: LegId) {
        let Some((call, who)) = self.legs.get(&leg).map(|l| (l.call, l.agent.clone())) else {
            return;
        };
        if self.acd.connected_to(call) != Some(&who) {
            // Someone else has the patient now: the transferring agent's call is over.
            self.acd_call_over(now, call);
        }
        if let Some(r) = self.refer_outcome(now, call, "SIP/2.0 200 OK") {
            self.drop_leg(now, r, true);
        }
        self.bridge_leg(call, leg);
    }

    /// The ACD's view: the agent who had the call is done with it (wrap-up follows).
    fn acd_call_over(&mut self, now: Instant, call: CallId) {
        if self.acd.connected_to(call).is_some() {
            self.acd.handle_call_ended(now, call);
            self.run_acd(now);
        }
    }

    /// A transfer leg to `to` will not be answered: the next in `then`, or a queue.
    pub(super) fn transfer_failed(
        &mut self,
        now: Instant,
        id: CallId,
        to: &str,
        then: Fallback,
        reason: LegFailure,
    ) {
        if let Some(r) = self.refer_outcome(now, id, "SIP/2.0 480 Temporarily Unavailable") {
            // The phone that transferred by REFER is still on the line: the patient comes
            // back to it at once (RFC 5589 §6's recovery), no second ringing.
            let agent = self.legs.get(&r).map(|l| l.agent.0.clone());
            self.events.push_back(EngineEvent::TransferFailed {
                call: id,
                to: to.to_string(),
                reason,
            });
            self.events.push_back(EngineEvent::Transfer {
                call: id,
                from: to.to_string(),
                to: agent.unwrap_or_default(),
                kind: TransferKind::Back,
                by: None,
            });
            return self.bridge_leg(id, r);
        }
        if self.next_after_failure(id, to, &then, reason) {
            self.ring_chain(now, id, then);
        }
    }

    /// Nobody took the transfer: back into the call's queue (or the operators'), or, with
    /// neither, the call ends.
    fn requeue(&mut self, now: Instant, id: CallId) {
        self.acd_call_over(now, id);
        let queue = self
            .calls
            .get(&id)
            .and_then(|c| c.queue.as_ref().map(|(q, _)| q.clone()))
            .or_else(|| self.acd.has_queue(OPERATORS).then(|| OPERATORS.to_string()));
        match queue {
            Some(q) => self.enqueue(now, id, q),
            None => self.hang_up(now, id, EndReason::TransferNotAnswered, Side::Engine),
        }
    }

    /// The agent consults `to` on a second leg; the patient waits on hold meanwhile.
    pub fn consult(
        &mut self,
        now: Instant,
        id: CallId,
        to: &str,
        by: Control,
    ) -> Result<(), ControlError> {
        let leg = self.agent_leg_of(id)?;
        if self.legs.get(&leg).is_some_and(|l| l.consult.is_some()) {
            return Err(ControlError::Consulting);
        }
        self.check_target(leg, to)?;
        if let Some(q) = self.queue_by_number(to) {
            return self.consult_queue(now, id, &q, by);
        }
        let agent = self
            .legs
            .get(&leg)
            .map(|l| l.agent.0.clone())
            .unwrap_or_default();
        self.set_hold(now, id, true, by);
        self.events.push_back(EngineEvent::Consult {
            call: id,
            agent,
            to: to.to_string(),
            step: ConsultStep::Ringing,
        });
        let target = self.resolve(now, to);
        let rung = target.and_then(|t| self.new_leg(now, id, &t, Purpose::Consult { agent: leg }));
        match rung {
            Some(c) => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.consult = Some(c);
                    l.on_consult = true;
                }
            }
            None => self.consult_over(now, id, leg, to, ConsultStep::Failed),
        }
        Ok(())
    }

    /// Consults whichever member of `queue` is free, the one idle longest (the ACD's own
    /// choice of a free agent): their phone rings like any consultation, and the ACD
    /// offers them no patient meanwhile.
    pub fn consult_queue(
        &mut self,
        now: Instant,
        id: CallId,
        queue: &str,
        by: Control,
    ) -> Result<(), ControlError> {
        if !self.acd.has_queue(queue) {
            return Err(ControlError::NoSuchQueue(queue.to_string()));
        }
        let leg = self.agent_leg_of(id)?;
        if self.legs.get(&leg).is_some_and(|l| l.consult.is_some()) {
            return Err(ControlError::Consulting);
        }
        let Some(to) = self.acd.free_member(queue).map(|a| a.0.clone()) else {
            return Err(ControlError::NobodyFree(queue.to_string()));
        };
        self.consult(now, id, &to, by)
    }

    pub(super) fn consult_answered(&mut self, _now: Instant, leg: LegId, agent: LegId) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        l.connected = true;
        let (call, to) = (l.call, l.agent.0.clone());
        self.rebase(agent);
        let agent = self
            .legs
            .get(&agent)
            .map(|a| a.agent.0.clone())
            .unwrap_or_default();
        self.events.push_back(EngineEvent::Consult {
            call,
            agent,
            to,
            step: ConsultStep::Answered,
        });
    }

    /// The consultation is over (the colleague hung up, did not answer, or the agent went
    /// back): the agent talks to the patient again.
    pub(super) fn consult_over(
        &mut self,
        now: Instant,
        call: CallId,
        agent: LegId,
        to: &str,
        step: ConsultStep,
    ) {
        self.unjoin(now, call);
        let Some(a) = self.legs.get_mut(&agent) else {
            return;
        };
        a.consult = None;
        a.on_consult = false;
        let name = a.agent.0.clone();
        self.rebase(agent);
        self.events.push_back(EngineEvent::Consult {
            call,
            agent: name,
            to: to.to_string(),
            step,
        });
        if let Some(by) = self.calls.get(&call).and_then(|c| c.held_by) {
            self.set_hold(now, call, false, by);
        }
    }

    /// Hangs up the agent's consultation leg, if any, without touching the patient.
    fn end_consult_leg(&mut self, now: Instant, agent: LegId) {
        if let Some(call) = self.legs.get(&agent).map(|a| a.call) {
            self.unjoin(now, call);
        }
        let Some(c) = self.legs.get_mut(&agent).and_then(|a| {
            a.on_consult = false;
            a.consult.take()
        }) else {
            return;
        };
        self.hang_up_leg(now, c);
    }

    /// The consultation under way on call `id`: who consults whom, and whether the
    /// colleague has answered.
    pub(super) fn consultation(&self, id: CallId) -> Result<Consultation, ControlError> {
        let leg = self.agent_leg_of(id)?;
        let a = self.legs.get(&leg).ok_or(ControlError::NotBridged)?;
        let c = a.consult.ok_or(ControlError::NotConsulting)?;
        let colleague = self.legs.get(&c).ok_or(ControlError::NotConsulting)?;
        Ok(Consultation {
            leg,
            colleague_leg: c,
            agent: a.agent.0.clone(),
            colleague: colleague.agent.0.clone(),
            answered: colleague.connected,
        })
    }

    /// One step of a consultation, as an event.
    pub(super) fn consult_step(&mut self, id: CallId, c: &Consultation, step: ConsultStep) {
        self.events.push_back(EngineEvent::Consult {
            call: id,
            agent: c.agent.clone(),
            to: c.colleague.clone(),
            step,
        });
    }

    /// Back to the patient: the colleague is hung up.
    pub fn consult_back(
        &mut self,
        now: Instant,
        id: CallId,
        by: Control,
    ) -> Result<(), ControlError> {
        let c = self.consultation(id)?;
        self.end_consult_leg(now, c.leg);
        self.rebase(c.leg);
        self.consult_step(id, &c, ConsultStep::Ended);
        if self.calls.get(&id).is_some_and(|c| c.held_by.is_some()) {
            self.set_hold(now, id, false, by);
        }
        Ok(())
    }

    /// The agent talks to the other party: the patient (the colleague then hears nothing)
    /// or the colleague (the patient then hears the hold music).
    pub fn consult_swap(
        &mut self,
        now: Instant,
        id: CallId,
        by: Control,
    ) -> Result<(), ControlError> {
        let c = self.consultation(id)?;
        if !c.answered {
            return Err(ControlError::NotAnswered);
        }
        if self.calls.get(&id).is_some_and(|c| c.mix.is_some()) {
            return Err(ControlError::Joined);
        }
        let Some(l) = self.legs.get_mut(&c.leg) else {
            return Err(ControlError::NotBridged);
        };
        l.on_consult = !l.on_consult;
        let on = l.on_consult;
        self.rebase(c.leg);
        self.set_hold(now, id, on, by);
        let step = if on {
            ConsultStep::SwappedToColleague
        } else {
            ConsultStep::SwappedToPatient
        };
        self.consult_step(id, &c, step);
        Ok(())
    }

    /// Attended transfer: the colleague takes the patient and the agent leaves. A colleague
    /// still ringing turns it into a blind transfer to them.
    pub fn consult_complete(
        &mut self,
        now: Instant,
        id: CallId,
        by: Control,
    ) -> Result<(), ControlError> {
        let c = self.consultation(id)?;
        if !c.answered {
            self.end_consult_leg(now, c.leg);
            return self.transfer(now, id, &c.colleague, by);
        }
        self.events.push_back(EngineEvent::Transfer {
            call: id,
            from: c.agent,
            to: c.colleague,
            kind: TransferKind::Attended,
            by: Some(by),
        });
        self.unjoin(now, id);
        if let Some(l) = self.legs.get_mut(&c.leg) {
            l.consult = None;
            l.on_consult = false;
        }
        if let Some(l) = self.legs.get_mut(&c.colleague_leg) {
            l.purpose = Purpose::Transfer { then: Vec::new() };
        }
        self.acd_call_over(now, id);
        self.set_mute(now, id, false, by);
        self.drop_leg(now, c.leg, true);
        self.bridge_leg(id, c.colleague_leg);
        if self.calls.get(&id).is_some_and(|c| c.held_by.is_some()) {
            self.set_hold(now, id, false, by);
        }
        Ok(())
    }

    /// REFER from the agent's phone (RFC 3515): a blind transfer to the extension in
    /// Refer-To. The phone hears 202, then one NOTIFY with the outcome of the REFER itself
    /// (the engine keeps the patient and deals with an unanswered target), then BYE.
    pub(super) fn on_refer(&mut self, now: Instant, leg: LegId, tx: TxId, req: &Request) {
        let Some(l) = self.legs.get(&leg) else {
            return;
        };
        let (call, dialog) = (l.call, l.dialog.clone());
        if self.bridged.get(&call) != Some(&leg) {
            return self.sip.respond(now, tx, 403, |b| {
                b.header(
                    "Warning",
                    "399 switchboard \"only the agent with the patient transfers\"",
                )
            });
        }
        let target = req
            .headers
            .get("Refer-To")
            .and_then(|v| NameAddr::parse(v).ok());
        let Some(target) = target else {
            return self
                .sip
                .respond(now, tx, 400, |b| b.reason("Missing or Bad Refer-To"));
        };
        let Some(uri) = target.uri.as_sip() else {
            return self.sip.respond(now, tx, 416, |b| b);
        };
        if let Some(replaces) = uri.header("Replaces") {
            // Attended transfer from the phone: both of its calls go through us.
            return self.refer_replaces(now, leg, tx, &replaces);
        }
        let to = uri.user_unescaped().unwrap_or_default();
        if let Err(e) = self.check_target(leg, &to) {
            let warning = format!("399 switchboard \"{e}\"");
            return self
                .sip
                .respond(now, tx, 404, |b| b.header("Warning", warning));
        }
        self.sip.respond(now, tx, 202, |b| b);
        if let Some(d) = dialog {
            // Progress now; the outcome when the target answers or does not.
            self.notify_refer(now, &d, "SIP/2.0 100 Trying", false);
        }
        let _ = self.transfer(now, call, &to, Control::Refer);
    }

    /// REFER with Replaces: the agent's phone holds the patient on this leg and talks to a
    /// colleague on a call of its own through us (call `other`, named by the Replaces
    /// header, RFC 3891). The colleague takes the patient; both of the agent's calls end.
    fn refer_replaces(&mut self, now: Instant, leg: LegId, tx: TxId, replaces: &str) {
        let mut parts = replaces.split(';');
        let call_id = parts.next().unwrap_or_default().trim();
        let mut tags = Vec::new();
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("to-tag")
                    || k.trim().eq_ignore_ascii_case("from-tag")
                {
                    tags.push(v.trim().to_string());
                }
            }
        }
        let agent = self.legs.get(&leg).map(|l| l.agent.0.clone());
        // The agent's own call between extensions, named by Call-ID and both tags.
        let other = self.calls.values().find_map(|c| {
            let d = c.dialog.as_ref()?;
            let named = d.call_id == call_id
                && tags.len() == 2
                && tags.contains(&d.local_tag)
                && tags.contains(&d.remote_tag);
            (named && c.callee.is_some() && Some(&c.caller) == agent.as_ref()).then_some(c.id)
        });
        let colleague = other.and_then(|o| self.bridged.get(&o).copied());
        let (Some(other), Some(colleague), Some(agent)) = (other, colleague, agent) else {
            return self.sip.respond(now, tx, 481, |b| {
                b.header(
                    "Warning",
                    "399 switchboard \"Replaces names no call of this phone\"",
                )
            });
        };
        let Some(call) = self.legs.get(&leg).map(|l| l.call) else {
            return;
        };
        let dialog = self.legs.get(&leg).and_then(|l| l.dialog.clone());
        self.sip.respond(now, tx, 202, |b| b);
        if let Some(d) = dialog {
            self.notify_refer(now, &d, "SIP/2.0 200 OK", true);
        }
        let to = self
            .legs
            .get(&colleague)
            .map(|l| l.agent.0.clone())
            .unwrap_or_default();
        self.events.push_back(EngineEvent::Transfer {
            call,
            from: agent,
            to,
            kind: TransferKind::Attended,
            by: Some(Control::Refer),
        });
        // The colleague's leg moves to the patient's call; the agent's call to them ends.
        self.bridged.remove(&other);
        if let Some(l) = self.legs.get_mut(&colleague) {
            l.call = call;
            l.purpose = Purpose::Transfer { then: Vec::new() };
        }
        self.hang_up(now, other, EndReason::ReplacedByTransfer, Side::Agent);
        self.acd_call_over(now, call);
        self.set_mute(now, call, false, Control::Refer);
        self.end_consult_leg(now, leg);
        self.drop_leg(now, leg, true);
        self.bridge_leg(call, colleague);
        if self.calls.get(&call).is_some_and(|c| c.held_by.is_some()) {
            self.set_hold(now, call, false, Control::Refer);
        }
    }

    /// The implicit subscription's only NOTIFY (RFC 3515 §2.4.4): `frag` as
    /// message/sipfrag, the subscription terminated with it.
    fn notify_refer(
        &mut self,
        now: Instant,
        dialog: &sb_sip::dialog::DialogId,
        frag: &str,
        last: bool,
    ) {
        let body = format!("{frag}\r\n").into_bytes();
        let state = if last {
            "terminated;reason=noresource"
        } else {
            "active;expires=120"
        };
        self.sip
            .send_in_dialog_with(now, dialog, Method::Notify, |r| {
                r.headers.push("Event", "refer");
                r.headers.push("Subscription-State", state);
                r.headers
                    .push("Content-Type", "message/sipfrag;version=2.0");
                r.body = body;
            });
    }
}
