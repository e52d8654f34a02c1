//! In-call control of a patient's talk with an agent. Hold: the patient hears the hold
//! music and the agent hears nothing from the patient. Mute ("cover the mouthpiece"): the
//! patient stops hearing the agent, who still hears the patient. Either comes from the
//! agent's phone (its own hold button, a re-INVITE with `sendonly` or `inactive`, RFC 3264
//! §8.4), from feature codes keyed on it, or from the control API; each change is an event
//! with who made it, so the call record can count hold and mute time.

use super::features::Feature;
use super::leg::LegId;
use super::{Call, Ctx};
use crate::event::EngineEvent;
use sb_types::vocab::Control;
use std::time::Instant;

impl Call {
    /// Puts the patient on hold or takes them off. Nothing happens unless it changes.
    pub(super) fn set_hold(&mut self, now: Instant, ctx: &Ctx<'_>, on: bool, by: Control) {
        let Some(talk) = self.state.talk_mut() else {
            return;
        };
        if talk.hold.is_some() == on {
            return;
        }
        talk.hold = on.then_some(by);
        self.playout.stop();
        if on {
            self.play(ctx, "hold-music");
        }
        self.event(EngineEvent::Hold {
            call: self.id,
            on,
            by,
        });
        self.own_stream(ctx, now);
        if !on {
            // The patient's voice reaches the agent again, after the silence we sent.
            if let Some(l) = self.state.agent_leg() {
                self.rebase_leg(l);
            }
        }
    }

    /// Takes the patient off hold, if held (the change attributed to `by`).
    pub(super) fn release_hold(&mut self, now: Instant, ctx: &Ctx<'_>, by: Control) {
        if self.state.talk().is_some_and(|t| t.hold.is_some()) {
            self.set_hold(now, ctx, false, by);
        }
    }

    /// Mutes the agent towards the patient, or unmutes.
    pub(super) fn set_mute(&mut self, now: Instant, ctx: &Ctx<'_>, on: bool, by: Control) {
        let Some(talk) = self.state.talk_mut() else {
            return;
        };
        if talk.muted == on {
            return;
        }
        talk.muted = on;
        self.event(EngineEvent::Mute {
            call: self.id,
            on,
            by,
        });
        self.own_stream(ctx, now);
    }

    /// A key the agent on `leg` pressed during the call.
    pub(super) fn agent_key(&mut self, now: Instant, ctx: &Ctx<'_>, leg: LegId, d: char) {
        let Some(l) = self.leg_mut(leg) else {
            return;
        };
        let keys = l.keys.get_or_insert_with(Box::default);
        let Some(feature) = keys.push(now, d, &ctx.cfg.features) else {
            return;
        };
        let consulting = self.state.consult().is_some();
        let talk = self.state.talk().unwrap_or_default();
        let by = Control::FeatureCode;
        // A code that does not apply now (complete with no consultation, a number that is
        // no extension) changes nothing: the agent hears no more than before.
        let _ = match feature {
            // While consulting, the patient's hold follows the consultation (swap, back).
            Feature::Hold if consulting => Ok(()),
            Feature::Hold => {
                self.set_hold(now, ctx, talk.hold.is_none(), by);
                Ok(())
            }
            Feature::Mute => {
                self.set_mute(now, ctx, !talk.muted, by);
                Ok(())
            }
            Feature::Consult(to) => self.consult(now, ctx, &to, by),
            Feature::Transfer(to) => self.transfer(now, ctx, &to, by),
            Feature::Complete => self.consult_complete(now, ctx, by),
            Feature::Back => self.consult_back(now, ctx, by),
            Feature::Swap => self.consult_swap(now, ctx, by),
            Feature::Join => self.consult_join(now, ctx, by),
            Feature::Survey => self.send_to_survey(now, ctx),
        };
    }
}
