//! Consultations. The agent puts the patient on hold and rings a colleague (or an outside
//! number, through the dial plan) on a second leg; then returns to the patient (back), swaps between the two, joins all three, or
//! completes the transfer (attended). A colleague who hangs up brings the agent back to
//! the patient; an agent who hangs up while the colleague is on the line hands the patient
//! over.

use super::conference::Mix;
use super::leg::{LegId, Role, OUTSIDE};
use super::state::{CallState, Consult};
use super::{Call, Ctx, OutIntent, OutRoute};
use crate::control::ControlError;
use crate::event::EngineEvent;
use sb_types::vocab::{ConsultStep, Control, TransferKind};
use std::time::Instant;

/// A consultation under way, as the steps on it need it.
struct Consultation {
    consult: Consult,
    agent: String,
    colleague: String,
    answered: bool,
}

impl Call {
    /// The agent consults `to` on a second leg; the patient waits on hold meanwhile.
    pub(super) fn consult(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        to: &str,
        by: Control,
    ) -> Result<(), ControlError> {
        let leg = self.agent_leg_now()?;
        if self.state.consult().is_some() {
            return Err(ControlError::Consulting);
        }
        if !ctx.is_internal(to) {
            // An outside number: the dial plan decides, as if the agent dialled it.
            return self.ask_route(leg, to, OutIntent::Consult(by));
        }
        self.check_target(ctx, leg, to)?;
        if let Some(q) = ctx.queue_by_number(to) {
            return self.consult_queue(now, ctx, &q, by);
        }
        self.consult_ringing(now, ctx, leg, to, by);
        let target = ctx.resolve(now, to);
        let rung = target.and_then(|t| self.new_leg(now, ctx, &t, Role::Consult { agent: leg }));
        self.consulting(now, ctx, leg, to, rung);
        Ok(())
    }

    /// Consults the outside number of `route`, the dial plan's choice.
    pub(super) fn consult_out(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        route: OutRoute,
        by: Control,
    ) -> Result<(), ControlError> {
        let leg = self.agent_leg_now()?;
        if self.state.consult().is_some() {
            return Err(ControlError::Consulting);
        }
        self.consult_ringing(now, ctx, leg, OUTSIDE, by);
        let rung = self.dial_out(now, ctx, Role::Consult { agent: leg }, route);
        self.consulting(now, ctx, leg, OUTSIDE, rung);
        Ok(())
    }

    /// The patient is held while the agent on `leg` calls `to`.
    fn consult_ringing(&mut self, now: Instant, ctx: &Ctx<'_>, leg: LegId, to: &str, by: Control) {
        let agent = self.party(leg);
        self.set_hold(now, ctx, true, by);
        self.event(EngineEvent::Consult {
            call: self.id,
            agent,
            to: to.to_string(),
            step: ConsultStep::Ringing,
        });
    }

    /// The consultation of the agent on `leg` with `to` rings on `rung` (or could not).
    fn consulting(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        leg: LegId,
        to: &str,
        rung: Option<LegId>,
    ) {
        match rung {
            Some(colleague) => {
                if let CallState::Bridged { agent, talk } = self.state {
                    self.state = CallState::Consulting {
                        consult: Consult {
                            agent,
                            colleague,
                            with_colleague: true,
                        },
                        talk,
                    };
                }
            }
            None => self.consult_over(now, ctx, leg, to, ConsultStep::Failed),
        }
    }

    /// Consults whichever member of `queue` is free, the one idle longest (the ACD's own
    /// choice of a free agent): their phone rings like any consultation, and the ACD
    /// offers them no patient meanwhile.
    pub(super) fn consult_queue(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        queue: &str,
        by: Control,
    ) -> Result<(), ControlError> {
        if !ctx.acd.has_queue(queue) {
            return Err(ControlError::NoSuchQueue(queue.to_string()));
        }
        self.agent_leg_now()?;
        if self.state.consult().is_some() {
            return Err(ControlError::Consulting);
        }
        let Some(to) = ctx.acd.free_member(queue).map(|a| a.0.clone()) else {
            return Err(ControlError::NobodyFree(queue.to_string()));
        };
        self.consult(now, ctx, &to, by)
    }

    /// The colleague on `leg` answered the agent on `agent`.
    pub(super) fn consult_answered(&mut self, leg: LegId, agent: LegId) {
        let Some(l) = self.leg_mut(leg) else {
            return;
        };
        l.connected = true;
        let to = l.shown().to_string();
        self.rebase_leg(agent);
        self.event(EngineEvent::Consult {
            call: self.id,
            agent: self.party(agent),
            to,
            step: ConsultStep::Answered,
        });
    }

    /// The consultation is over (the colleague hung up, did not answer, or the agent went
    /// back): the agent talks to the patient again.
    pub(super) fn consult_over(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        agent: LegId,
        to: &str,
        step: ConsultStep,
    ) {
        self.unjoin(now, ctx);
        if self.leg(agent).is_none() {
            return;
        }
        self.close_consultation();
        let name = self.party(agent);
        self.rebase_leg(agent);
        self.event(EngineEvent::Consult {
            call: self.id,
            agent: name,
            to: to.to_string(),
            step,
        });
        if let Some(by) = self.state.talk().and_then(|t| t.hold) {
            self.set_hold(now, ctx, false, by);
        }
    }

    /// Back to a plain talk with the agent: the consultation (if any) is forgotten; its
    /// colleague's leg, if still there, is the caller's to deal with. Returns it.
    fn close_consultation(&mut self) -> Option<LegId> {
        match self.state {
            CallState::Consulting { consult, talk } => {
                self.state = CallState::Bridged {
                    agent: consult.agent,
                    talk,
                };
                Some(consult.colleague)
            }
            _ => None,
        }
    }

    /// Hangs up the agent's consultation leg, if any, without touching the patient.
    pub(super) fn end_consult_leg(&mut self, now: Instant, ctx: &Ctx<'_>) {
        self.unjoin(now, ctx);
        if let Some(colleague) = self.close_consultation() {
            self.hang_up_leg(colleague);
        }
    }

    /// The consultation under way: who consults whom, and whether the colleague answered.
    fn consultation(&self) -> Result<Consultation, ControlError> {
        self.agent_leg_now()?;
        let consult = self.state.consult().ok_or(ControlError::NotConsulting)?;
        let colleague = self
            .leg(consult.colleague)
            .ok_or(ControlError::NotConsulting)?;
        Ok(Consultation {
            consult,
            agent: self.party(consult.agent),
            colleague: colleague.party.clone(),
            answered: colleague.connected,
        })
    }

    /// The consultation under way, once the colleague has answered.
    fn answered_consultation(&self) -> Result<Consultation, ControlError> {
        let c = self.consultation()?;
        if !c.answered {
            return Err(ControlError::NotAnswered);
        }
        Ok(c)
    }

    /// One step of a consultation, as an event.
    fn consult_step(&mut self, c: &Consultation, step: ConsultStep) {
        self.event(EngineEvent::Consult {
            call: self.id,
            agent: c.agent.clone(),
            to: c.colleague.clone(),
            step,
        });
    }

    /// Back to the patient: the colleague is hung up.
    pub(super) fn consult_back(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        by: Control,
    ) -> Result<(), ControlError> {
        let c = self.consultation()?;
        self.end_consult_leg(now, ctx);
        self.rebase_leg(c.consult.agent);
        self.consult_step(&c, ConsultStep::Ended);
        self.release_hold(now, ctx, by);
        Ok(())
    }

    /// The agent talks to the other party: the patient (the colleague then hears nothing)
    /// or the colleague (the patient then hears the hold music).
    pub(super) fn consult_swap(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        by: Control,
    ) -> Result<(), ControlError> {
        let c = self.answered_consultation()?;
        let on = match &mut self.state {
            CallState::Conference { .. } => return Err(ControlError::Joined),
            CallState::Consulting { consult, .. } => {
                consult.with_colleague = !consult.with_colleague;
                consult.with_colleague
            }
            _ => return Err(ControlError::NotConsulting),
        };
        self.rebase_leg(c.consult.agent);
        self.set_hold(now, ctx, on, by);
        let step = if on {
            ConsultStep::SwappedToColleague
        } else {
            ConsultStep::SwappedToPatient
        };
        self.consult_step(&c, step);
        Ok(())
    }

    /// Attended transfer: the colleague takes the patient and the agent leaves. A colleague
    /// still ringing turns it into a blind transfer to them.
    pub(super) fn consult_complete(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        by: Control,
    ) -> Result<(), ControlError> {
        let c = self.consultation()?;
        if !c.answered {
            self.end_consult_leg(now, ctx);
            return self.transfer(now, ctx, &c.colleague, by);
        }
        self.event(EngineEvent::Transfer {
            call: self.id,
            from: c.agent.clone(),
            to: c.colleague.clone(),
            kind: TransferKind::Attended,
            by: Some(by),
        });
        self.unjoin(now, ctx);
        self.close_consultation();
        if let Some(l) = self.leg_mut(c.consult.colleague) {
            l.role = Role::Transfer { then: Vec::new() };
        }
        self.acd(super::AcdInput::CallEnded);
        self.set_mute(now, ctx, false, by);
        self.replace_agent(c.consult.agent, c.consult.colleague);
        self.release_hold(now, ctx, by);
        Ok(())
    }

    /// The agent joins the patient and the consulted colleague: all three hear each other.
    pub(super) fn consult_join(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        by: Control,
    ) -> Result<(), ControlError> {
        let c = self.answered_consultation()?;
        let CallState::Consulting { consult, talk } = self.state else {
            // Joined already.
            return Ok(());
        };
        let consult = Consult {
            with_colleague: false,
            ..consult
        };
        self.state = CallState::Conference {
            consult,
            mix: Box::new(Mix::new(consult.agent, consult.colleague)),
            talk,
        };
        self.consult_step(&c, ConsultStep::Joined);
        self.release_hold(now, ctx, by);
        self.own_stream(ctx, now);
        Ok(())
    }

    /// The three-way call is over (the consultation ends one way or another): relaying
    /// takes over again, each stream re-based.
    pub(super) fn unjoin(&mut self, now: Instant, ctx: &Ctx<'_>) {
        let CallState::Conference { consult, talk, .. } = self.state else {
            return;
        };
        self.state = CallState::Consulting { consult, talk };
        self.rebase_leg(consult.agent);
        self.rebase_leg(consult.colleague);
        self.own_stream(ctx, now);
    }
}
