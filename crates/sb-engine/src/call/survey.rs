//! The satisfaction survey. When the agent hangs up first on a patient of a queue with the
//! survey on (or sends them to it: feature code, console button, API), the patient hears
//! the survey prompt in their language and keys 1 (very dissatisfied) to 5 (very
//! satisfied); the answer, or none in time, goes to the call's record with the agent and
//! queue it is about, they hear the thanks, and the call ends.

use super::playout::grid_after;
use super::state::CallState;
use super::{AcdInput, Call, Ctx};
use crate::control::ControlError;
use crate::event::EngineEvent;
use sb_acd::AgentId;
use sb_types::vocab::{EndReason, Side};
use std::time::{Duration, Instant};

/// How long a patient has to key their answer after the survey prompt ends.
const ANSWER_TIME: Duration = Duration::from_secs(8);

impl Call {
    /// Whether the patient hears the survey when `agent` hangs up: a patient of a queue with
    /// the survey on, with media to hear it, talking to one of the call centre's agents (a
    /// department the call was transferred to asks nothing).
    pub(super) fn survey_due(&self, ctx: &Ctx<'_>, agent: Option<&str>) -> bool {
        let queue_asks = self
            .last_queue
            .as_ref()
            .is_some_and(|(q, _)| ctx.cfg.survey_queues.contains(q));
        let an_agent = agent.is_some_and(|a| ctx.acd.agent(&AgentId(a.to_string())).is_some());
        queue_asks && an_agent && self.callee.is_none() && self.caller_leg().media.is_some()
    }

    /// The agent sent the patient to the survey (feature code, console, API): the agent's
    /// phone is hung up and the patient hears it.
    pub(crate) fn send_to_survey(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
    ) -> Result<(), ControlError> {
        if self.state.consult().is_some() {
            return Err(ControlError::Consulting);
        }
        let agent = self.state.agent_leg().ok_or(ControlError::NotBridged)?;
        if self.caller_leg().media.is_none() {
            return Err(ControlError::NotBridged);
        }
        let who = self.leg(agent).map(|l| l.party.clone());
        self.acd(AcdInput::CallEnded);
        self.drop_leg(agent, true);
        self.start_survey(now, ctx, who);
        Ok(())
    }

    /// The agent (`agent`) is gone: the patient hears the survey.
    pub(super) fn start_survey(&mut self, now: Instant, ctx: &Ctx<'_>, agent: Option<String>) {
        self.playout.stop();
        self.play(ctx, "survey");
        let prompt = Duration::from_millis(self.playout.playlist.remaining_ms());
        self.set_state(CallState::Survey {
            until: now + prompt + ANSWER_TIME,
        });
        // The patient's stream is the engine's again (it relayed the agent until now).
        self.caller_leg_mut().rebase();
        self.playout.next_tick = Some(grid_after(ctx.cfg.origin, self.playout.tick_phase, now));
        self.event(EngineEvent::SurveyOffered {
            call: self.id,
            agent,
        });
    }

    /// A key during the survey: 1 to 5 is the answer; the thanks play, then the call ends.
    pub(super) fn survey_key(&mut self, ctx: &Ctx<'_>, digit: char) {
        let Some(score) = digit.to_digit(10).filter(|d| (1..=5).contains(d)) else {
            return;
        };
        self.event(EngineEvent::SurveyAnswered {
            call: self.id,
            score: Some(score as u8),
        });
        self.playout.stop();
        self.play(ctx, "survey-thanks");
        self.set_state(CallState::Closing {
            reason: EndReason::AgentHungUp,
            by: Side::Agent,
        });
    }

    /// No answer in time: recorded as such, and the call ends.
    pub(super) fn survey_unanswered(&mut self) {
        self.event(EngineEvent::SurveyAnswered {
            call: self.id,
            score: None,
        });
        self.hang_up(EndReason::AgentHungUp, Side::Agent);
    }
}
