//! Transfers. A blind transfer hangs the agent up and rings the target while the patient
//! hears music; unanswered, the call comes back to the agent (or operator) who transferred
//! it, and failing them goes back to a queue. The same steps come from feature codes, the
//! control API, the dialplan and the phone's own REFER (RFC 3515), whose outcome the phone
//! is told by NOTIFY. A target outside the switchboard goes out through a trunk when the
//! outbound dial plan lets the agent dial it.

use super::leg::{Fallback, LegId, Role, OUTSIDE};
use super::state::CallState;
use super::{AcdInput, Call, Ctx, InDialog, OutIntent, OutRoute, Output, Reply, RouteRefusal};
use crate::control::ControlError;
use crate::event::EngineEvent;
use sb_sip::transaction::TxId;
use sb_sip_msg::{NameAddr, Request};
use sb_types::vocab::{Control, EndReason, LegFailure, Side, TransferKind};
use std::time::Instant;

/// The queue every unplaceable call ends up with.
const OPERATORS: &str = "operator";

impl Call {
    /// The leg the patient talks to.
    pub(super) fn agent_leg_now(&self) -> Result<LegId, ControlError> {
        self.state.agent_leg().ok_or(ControlError::NotBridged)
    }

    /// A transfer or consultation target must be one of our extensions, the on-duty
    /// number or a queue's number, and not the agent.
    pub(super) fn check_target(
        &self,
        ctx: &Ctx<'_>,
        leg: LegId,
        to: &str,
    ) -> Result<(), ControlError> {
        let own = self.leg(leg).is_some_and(|l| l.party == to);
        if own || !ctx.is_internal(to) {
            return Err(ControlError::UnknownExtension(to.to_string()));
        }
        Ok(())
    }

    /// Rings `to` for the patient, who waits with music; unanswered, `then`. The on-duty
    /// number rings the roster, one after the other.
    pub(super) fn ring_for_transfer(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        to: &str,
        then: Fallback,
    ) {
        let mut chain: Fallback = if ctx.is_roster(to) {
            ctx.cfg
                .roster
                .iter()
                .map(|p| (p.clone(), TransferKind::Roster))
                .collect()
        } else {
            vec![(to.to_string(), TransferKind::Blind)]
        };
        chain.extend(then);
        self.ring_chain(now, ctx, chain);
    }

    /// Rings the first of `chain` that has a phone registered, the rest its fallback.
    fn ring_chain(&mut self, now: Instant, ctx: &Ctx<'_>, mut chain: Fallback) {
        while !chain.is_empty() {
            let (to, _) = chain.remove(0);
            let role = Role::Transfer {
                then: chain.clone(),
            };
            if self.new_leg(now, ctx, &to, role).is_some() {
                return;
            }
            if !self.next_after_failure(&to, &chain, LegFailure::NotRegistered) {
                return;
            }
        }
        self.requeue(now, ctx);
    }

    /// `to` will not answer: says so, and who comes next. False when the call is over.
    fn next_after_failure(&mut self, to: &str, then: &Fallback, reason: LegFailure) -> bool {
        if self.ended {
            return false;
        }
        self.event(EngineEvent::TransferFailed {
            call: self.id,
            to: to.to_string(),
            reason,
        });
        if let Some((next, kind)) = then.first() {
            self.event(EngineEvent::Transfer {
                call: self.id,
                from: to.to_string(),
                to: next.clone(),
                kind: *kind,
                by: None,
            });
        }
        true
    }

    /// Blind transfer: the agent leaves, `to` rings; unanswered, the call rings the agent
    /// again.
    pub(super) fn transfer(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        to: &str,
        by: Control,
    ) -> Result<(), ControlError> {
        let leg = self.agent_leg_now()?;
        if !ctx.is_internal(to) {
            // An outside number: the dial plan decides, as if the agent dialled it.
            return self.ask_route(leg, to, OutIntent::Transfer(by));
        }
        self.check_target(ctx, leg, to)?;
        let agent = self.party(leg);
        self.end_consult_leg(now, ctx);
        let queue = ctx.queue_by_number(to);
        self.event(EngineEvent::Transfer {
            call: self.id,
            from: agent.clone(),
            to: queue.clone().unwrap_or_else(|| to.to_string()),
            kind: if queue.is_some() {
                TransferKind::Queue
            } else {
                TransferKind::Blind
            },
            by: Some(by),
        });
        self.unbridge(now, ctx);
        if let Some(q) = queue {
            // Into the queue: the agent is done, the patient waits for its next agent.
            self.drop_leg(leg, true);
            self.acd(AcdInput::CallEnded);
            self.enqueue(now, ctx, q);
            return Ok(());
        }
        self.leave_for_transfer(leg, by);
        self.ring_for_transfer(now, ctx, to, vec![(agent, TransferKind::Back)]);
        Ok(())
    }

    /// The agent on `leg` transferred the patient away. They stay on the call for the ACD
    /// until the target answers: no new offer reaches them while the call may still come
    /// back. A phone that transferred by REFER keeps its dialog until the outcome is known
    /// (it is told by NOTIFY, and the patient comes back on it); otherwise the agent's
    /// phone is hung up now.
    fn leave_for_transfer(&mut self, leg: LegId, by: Control) {
        if by == Control::Refer {
            if let Some(l) = self.leg_mut(leg) {
                l.referred = true;
            }
        } else {
            self.drop_leg(leg, true);
        }
    }

    /// Blind transfer to the outside number of `route`, the dial plan's choice: as to an
    /// extension, the call comes back to the agent when it is not answered.
    pub(super) fn transfer_out(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        route: OutRoute,
        by: Control,
    ) -> Result<(), ControlError> {
        let leg = self.agent_leg_now()?;
        let agent = self.party(leg);
        self.end_consult_leg(now, ctx);
        self.event(EngineEvent::Transfer {
            call: self.id,
            from: agent.clone(),
            to: OUTSIDE.to_string(),
            kind: TransferKind::Blind,
            by: Some(by),
        });
        self.unbridge(now, ctx);
        self.leave_for_transfer(leg, by);
        let then: Fallback = vec![(agent, TransferKind::Back)];
        let role = Role::Transfer { then: then.clone() };
        if self.dial_out(now, ctx, role, route).is_none() {
            self.transfer_failed(now, ctx, OUTSIDE, then, LegFailure::NoTrunk);
        }
        Ok(())
    }

    /// Asks the router to route `to` out for the agent on `leg`; the answer comes to
    /// [`Call::routed_out`].
    pub(super) fn ask_route(
        &mut self,
        leg: LegId,
        to: &str,
        intent: OutIntent,
    ) -> Result<(), ControlError> {
        let user = self.party(leg);
        self.out.push_back(Output::RouteOut {
            user,
            number: to.to_string(),
            intent,
        });
        Ok(())
    }

    /// The dial plan's answer to a transfer or consultation to an outside number.
    pub(crate) fn routed_out(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        intent: OutIntent,
        decided: Result<OutRoute, RouteRefusal>,
    ) -> Result<(), ControlError> {
        match (intent, decided) {
            (OutIntent::Transfer(by), Ok(route)) => self.transfer_out(now, ctx, route, by),
            (OutIntent::Consult(by), Ok(route)) => self.consult_out(now, ctx, route, by),
            (OutIntent::Refer(tx), Ok(route)) => {
                let leg = self.agent_leg_now()?;
                self.refer_accepted(leg, tx);
                self.transfer_out(now, ctx, route, Control::Refer)
            }
            (OutIntent::Refer(tx), Err(r)) => {
                let warning = format!("399 switchboard \"{}\"", r.why);
                self.respond(tx, Reply::status(r.status).header("Warning", warning));
                Ok(())
            }
            (_, Err(r)) => Err(r.error),
        }
    }

    /// 202 to the REFER in `tx` from the agent on `leg`, and the NOTIFY of its progress;
    /// the outcome follows when the target answers or does not.
    fn refer_accepted(&mut self, leg: LegId, tx: TxId) {
        self.respond(tx, Reply::status(202));
        if let Some(d) = self.leg(leg).and_then(|l| l.dialog.clone()) {
            self.out.push_back(Output::InDialog {
                dialog: d,
                request: InDialog::Notify {
                    frag: "SIP/2.0 100 Trying",
                    last: false,
                },
            });
        }
    }

    /// Tells the phone that transferred the call by REFER how it ended, and forgets that it
    /// waits. Returns its leg.
    fn refer_outcome(&mut self, frag: &'static str) -> Option<LegId> {
        let l = self.legs.iter_mut().find(|l| l.referred)?;
        l.referred = false;
        let (id, dialog) = (l.id, l.dialog.clone());
        if let Some(d) = dialog {
            self.out.push_back(Output::InDialog {
                dialog: d,
                request: InDialog::Notify { frag, last: true },
            });
        }
        Some(id)
    }

    /// The transfer target on `leg` answered: the patient talks to them.
    pub(super) fn transfer_answered(&mut self, ctx: &Ctx<'_>, leg: LegId) {
        let who = self.party(leg);
        if ctx.acd.connected_to(self.id).map(|a| a.0.as_str()) != Some(who.as_str()) {
            // Someone else has the patient now: the transferring agent's call is over.
            self.acd(AcdInput::CallEnded);
        }
        if let Some(r) = self.refer_outcome("SIP/2.0 200 OK") {
            self.drop_leg(r, true);
        }
        self.bridge_leg(leg);
    }

    /// A transfer leg to `to` will not be answered: the next in `then`, or a queue.
    pub(super) fn transfer_failed(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        to: &str,
        then: Fallback,
        reason: LegFailure,
    ) {
        if let Some(r) = self.refer_outcome("SIP/2.0 480 Temporarily Unavailable") {
            // The phone that transferred by REFER is still on the line: the patient comes
            // back to it at once (RFC 5589 §6's recovery), no second ringing.
            let agent = self.party(r);
            self.event(EngineEvent::TransferFailed {
                call: self.id,
                to: to.to_string(),
                reason,
            });
            self.event(EngineEvent::Transfer {
                call: self.id,
                from: to.to_string(),
                to: agent,
                kind: TransferKind::Back,
                by: None,
            });
            return self.bridge_leg(r);
        }
        if self.next_after_failure(to, &then, reason) {
            self.ring_chain(now, ctx, then);
        }
    }

    /// Nobody took the transfer: back into the call's queue (or the operators'), or, with
    /// neither, the call ends.
    fn requeue(&mut self, now: Instant, ctx: &Ctx<'_>) {
        self.acd(AcdInput::CallEnded);
        let queue = self
            .last_queue
            .as_ref()
            .map(|(q, _)| q.clone())
            .or_else(|| ctx.acd.has_queue(OPERATORS).then(|| OPERATORS.to_string()));
        match queue {
            Some(q) => self.enqueue(now, ctx, q),
            None => self.hang_up(EndReason::TransferNotAnswered, Side::Engine),
        }
    }

    /// REFER from the agent's phone (RFC 3515): a blind transfer to the extension in
    /// Refer-To. The phone hears 202, then one NOTIFY with the outcome of the REFER itself
    /// (the engine keeps the patient and deals with an unanswered target), then BYE.
    pub(super) fn on_refer(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        leg: LegId,
        tx: TxId,
        req: &Request,
    ) {
        if self.state.agent_leg() != Some(leg) {
            return self.respond(
                tx,
                Reply::status(403).header(
                    "Warning",
                    "399 switchboard \"only the agent with the patient transfers\"",
                ),
            );
        }
        let target = req
            .headers
            .get("Refer-To")
            .and_then(|v| NameAddr::parse(v).ok());
        let Some(target) = target else {
            return self.respond(tx, Reply::status(400).reason("Missing or Bad Refer-To"));
        };
        let Some(uri) = target.uri.as_sip() else {
            return self.respond(tx, Reply::status(416));
        };
        if let Some(replaces) = uri.header("Replaces") {
            // Attended transfer from the phone: both of its calls go through us.
            self.out
                .push_back(Output::ReferReplaces { leg, tx, replaces });
            return;
        }
        let to = uri.user_unescaped().unwrap_or_default();
        if !ctx.is_internal(&to) {
            // An outside number: accepted or refused once the dial plan has decided.
            let _ = self.ask_route(leg, &to, OutIntent::Refer(tx));
            return;
        }
        if let Err(e) = self.check_target(ctx, leg, &to) {
            let warning = format!("399 switchboard \"{e}\"");
            return self.respond(tx, Reply::status(404).header("Warning", warning));
        }
        self.refer_accepted(leg, tx);
        let _ = self.transfer(now, ctx, &to, Control::Refer);
    }

    /// The router found no call of this phone named by the Replaces header of the REFER in
    /// `tx`.
    pub(crate) fn refuse_replaces(&mut self, tx: TxId) {
        self.respond(
            tx,
            Reply::status(481).header(
                "Warning",
                "399 switchboard \"Replaces names no call of this phone\"",
            ),
        );
    }

    /// The REFER with Replaces in `tx` from the agent on `leg` names a call of theirs: it
    /// is accepted and its outcome told at once.
    pub(crate) fn accept_replaces(&mut self, leg: LegId, tx: TxId) {
        self.respond(tx, Reply::status(202));
        if let Some(d) = self.leg(leg).and_then(|l| l.dialog.clone()) {
            self.out.push_back(Output::InDialog {
                dialog: d,
                request: InDialog::Notify {
                    frag: "SIP/2.0 200 OK",
                    last: true,
                },
            });
        }
    }

    /// Takes the leg `id` out of this call, to hand to another (an attended transfer from
    /// the phone): nothing is sent on it.
    pub(crate) fn take_leg(&mut self, id: LegId) -> Option<super::leg::Leg> {
        let i = self
            .legs
            .iter()
            .position(|l| l.id == id && l.id != LegId::CALLER)?;
        let leg = self.legs.remove(i);
        if self.state.agent_leg() == Some(id) {
            self.set_state(CallState::Transferring);
        }
        Some(leg)
    }

    /// Attended transfer by the agent's phone (REFER with Replaces, RFC 3891): the
    /// colleague's leg, taken from the agent's own call to them, replaces the agent on
    /// `agent_leg`. Returns the colleague's leg id in this call.
    pub(crate) fn adopt_replacing(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        agent_leg: LegId,
        mut colleague: super::leg::Leg,
    ) -> LegId {
        let agent = self.party(agent_leg);
        self.event(EngineEvent::Transfer {
            call: self.id,
            from: agent,
            to: colleague.party.clone(),
            kind: TransferKind::Attended,
            by: Some(Control::Refer),
        });
        let id = LegId(self.next_leg);
        self.next_leg += 1;
        colleague.id = id;
        colleague.role = Role::Transfer { then: Vec::new() };
        self.legs.push(colleague);
        self.acd(AcdInput::CallEnded);
        self.set_mute(now, ctx, false, Control::Refer);
        self.end_consult_leg(now, ctx);
        self.replace_agent(agent_leg, id);
        self.release_hold(now, ctx, Control::Refer);
        id
    }

    /// The patient's agent on `old` hands over to `new`: `old` is hung up, the patient
    /// talks to `new`, hold and mute as they were.
    pub(super) fn replace_agent(&mut self, old: LegId, new: LegId) {
        let talk = self.state.talk().unwrap_or_default();
        self.set_state(CallState::Bridged { agent: new, talk });
        self.drop_leg(old, true);
        self.bridge_leg(new);
    }
}
