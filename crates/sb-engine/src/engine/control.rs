//! In-call control of a bridged call by its agent. Hold: the patient hears the hold music
//! and the agent hears nothing from the patient. Mute ("cover the mouthpiece"): the patient
//! stops hearing the agent, who still hears the patient. Either comes from the agent's
//! phone (its own hold button, a re-INVITE with `sendonly` or `inactive`, RFC 3264 §8.4) or
//! from feature codes keyed on it (RFC 4733 or SIP INFO; the agent's keys are never
//! relayed to the patient). Each change is an event with who made it, so the call record
//! can count hold and mute time.

use super::{grid_after, Engine, EngineEvent, LegId};
use crate::call::CallId;
use std::time::{Duration, Instant};

/// The keys that hold and mute (`[features]`): `*` and one to three digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureCodes {
    pub hold: String,
    pub mute: String,
}

impl Default for FeatureCodes {
    fn default() -> Self {
        FeatureCodes {
            hold: "*1".into(),
            mute: "*2".into(),
        }
    }
}

/// Where a hold or mute came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// The phone's own hold (re-INVITE).
    Phone,
    FeatureCode,
    Api,
}

impl Control {
    /// As the call records and the event stream name it.
    pub fn name(self) -> &'static str {
        match self {
            Control::Phone => "phone",
            Control::FeatureCode => "feature_code",
            Control::Api => "api",
        }
    }
}

/// A feature code must be keyed within this long of its `*`.
const KEYING: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feature {
    Hold,
    Mute,
}

/// What an agent has keyed of a feature code so far.
#[derive(Debug, Default)]
pub(super) struct FeatureKeys {
    typed: String,
    started: Option<Instant>,
}

impl FeatureKeys {
    fn push(&mut self, now: Instant, d: char, codes: &FeatureCodes) -> Option<Feature> {
        if self
            .started
            .is_some_and(|t| now.saturating_duration_since(t) > KEYING)
        {
            self.typed.clear();
        }
        if d == '*' {
            self.typed.clear();
            self.started = Some(now);
        } else if self.typed.is_empty() {
            return None;
        }
        self.typed.push(d);
        let found = if self.typed == codes.hold {
            Some(Feature::Hold)
        } else if self.typed == codes.mute {
            Some(Feature::Mute)
        } else {
            None
        };
        if found.is_some() || self.typed.len() >= 4 {
            self.typed.clear();
        }
        found
    }
}

/// One call as the control API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCall {
    pub id: CallId,
    pub dialled: String,
    /// The patient's number: personal data, for the API to mask as the asker's role says.
    pub caller: String,
    /// `ivr`, `waiting` (in a queue or being transferred) or `talking` (bridged).
    pub state: &'static str,
    pub queue: Option<String>,
    /// The agent the call is bridged to.
    pub agent: Option<String>,
    pub held: bool,
    pub muted: bool,
}

/// Why a control request was not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlError {
    NoSuchCall,
    /// Hold and mute need the call bridged to an agent.
    NotBridged,
    NoSuchAgent,
    /// A queue that does not exist or the agent is not a member of.
    NotAMember(String),
}

/// What an agent (or a supervisor for them) asks of the ACD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentCommand {
    /// Into these queues; none named: every queue the agent belongs to.
    Login(Vec<String>),
    Logout,
    Pause(String),
    Unpause,
}

impl Engine {
    /// Every call now, for the control API.
    pub fn live_calls(&self) -> Vec<LiveCall> {
        let mut out: Vec<LiveCall> = self
            .calls
            .keys()
            .filter_map(|id| self.live_call(*id))
            .collect();
        out.sort_by_key(|c| c.id);
        out
    }

    /// One call now.
    pub fn live_call(&self, id: CallId) -> Option<LiveCall> {
        let c = self.calls.get(&id)?;
        let agent = self
            .bridged
            .get(&id)
            .and_then(|l| self.legs.get(l))
            .map(|l| l.agent.0.clone());
        Some(LiveCall {
            id,
            dialled: c.dialled.clone(),
            caller: c.caller.clone(),
            state: if agent.is_some() {
                "talking"
            } else if c.phase == crate::call::Phase::Waiting {
                "waiting"
            } else {
                "ivr"
            },
            queue: c.queue.as_ref().map(|(q, _)| q.clone()),
            agent,
            held: c.held_by.is_some(),
            muted: c.muted,
        })
    }

    /// Hold or mute asked from outside the call (the control API).
    pub fn control(
        &mut self,
        now: Instant,
        id: CallId,
        hold: Option<bool>,
        mute: Option<bool>,
        by: Control,
    ) -> Result<(), ControlError> {
        if !self.calls.contains_key(&id) {
            return Err(ControlError::NoSuchCall);
        }
        if !self.bridged.contains_key(&id) {
            return Err(ControlError::NotBridged);
        }
        if let Some(on) = hold {
            self.set_hold(now, id, on, by);
        }
        if let Some(on) = mute {
            self.set_mute(id, on, by);
        }
        Ok(())
    }

    /// Every agent now.
    pub fn live_agents(&self) -> Vec<sb_acd::AgentView> {
        self.acd.agents_view()
    }

    /// Every queue now.
    pub fn live_queues(&self, now: Instant) -> Vec<sb_acd::QueueView> {
        self.acd.queues_view(now)
    }

    /// Logs an agent in or out, pauses or unpauses them (the control API; feature codes
    /// dialled from the phone take the same way).
    pub fn agent_command(
        &mut self,
        now: Instant,
        agent: &str,
        cmd: AgentCommand,
    ) -> Result<(), ControlError> {
        let id = sb_acd::AgentId(agent.to_string());
        if self.acd.agent(&id).is_none() {
            return Err(ControlError::NoSuchAgent);
        }
        match cmd {
            AgentCommand::Login(queues) => {
                let member = self.acd.member_queues(&id);
                if let Some(q) = queues.iter().find(|q| !member.contains(q)) {
                    return Err(ControlError::NotAMember(q.clone()));
                }
                let names = if queues.is_empty() { member } else { queues };
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                self.acd.handle_login(now, &id, &refs);
            }
            AgentCommand::Logout => self.acd.handle_logout(now, &id),
            AgentCommand::Pause(reason) => self.acd.handle_pause(now, &id, &reason),
            AgentCommand::Unpause => self.acd.handle_unpause(now, &id),
        }
        self.run_acd(now);
        Ok(())
    }

    /// Ends a call from outside (the control API): BYE to the patient, the agent's leg too.
    pub fn hang_up_call(&mut self, now: Instant, id: CallId) -> Result<(), ControlError> {
        if !self.calls.contains_key(&id) {
            return Err(ControlError::NoSuchCall);
        }
        self.hang_up(now, id, "ended by the control API", super::Side::Engine);
        Ok(())
    }

    /// Puts a bridged call on hold or takes it off. Nothing happens unless it changes.
    pub fn set_hold(&mut self, now: Instant, id: CallId, on: bool, by: Control) {
        if !self.bridged.contains_key(&id) {
            return;
        }
        let origin = self.cfg.origin;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.held_by.is_some() == on {
            return;
        }
        call.playlist.clear();
        call.playing = false;
        call.held_by = on.then_some(by);
        if on {
            let lang = call.ivr.language().to_string();
            if let Some(m) = self.assets.prompt(&lang, "hold-music") {
                call.playlist.push(m.clone());
            }
            call.next_tick = Some(grid_after(origin, now));
        } else {
            call.next_tick = None;
            // The agent's audio takes over from the music: its timestamps are re-based.
            if let Some(rtp) = call.rtp.as_mut() {
                rtp.end_relay();
            }
        }
        self.events
            .push_back(EngineEvent::Hold { call: id, on, by });
        self.schedule(id);
    }

    /// Mutes the agent towards the patient, or unmutes.
    pub fn set_mute(&mut self, id: CallId, on: bool, by: Control) {
        if !self.bridged.contains_key(&id) {
            return;
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.muted == on {
            return;
        }
        call.muted = on;
        self.events
            .push_back(EngineEvent::Mute { call: id, on, by });
    }

    /// A key the agent pressed during the call.
    pub(super) fn agent_key(&mut self, now: Instant, leg: LegId, d: char) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        let call = l.call;
        let Some(feature) = l.keys.push(now, d, &self.cfg.features) else {
            return;
        };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        match feature {
            Feature::Hold => {
                let on = c.held_by.is_none();
                self.set_hold(now, call, on, Control::FeatureCode)
            }
            Feature::Mute => {
                let on = !c.muted;
                self.set_mute(call, on, Control::FeatureCode)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_codes_are_matched_within_the_keying_time() {
        let t = sb_sim::Clock::new().now();
        let codes = FeatureCodes::default();
        let mut k = FeatureKeys::default();
        assert_eq!(k.push(t, '1', &codes), None, "no star, no code");
        assert_eq!(k.push(t, '*', &codes), None);
        assert_eq!(k.push(t, '1', &codes), Some(Feature::Hold));
        assert_eq!(k.push(t, '*', &codes), None);
        assert_eq!(k.push(t, '2', &codes), Some(Feature::Mute));
        // Too slow: the star has expired.
        assert_eq!(k.push(t, '*', &codes), None);
        assert_eq!(k.push(t + Duration::from_secs(4), '1', &codes), None);
        // A second star starts over; an unknown code is dropped.
        assert_eq!(k.push(t, '*', &codes), None);
        assert_eq!(k.push(t, '*', &codes), None);
        assert_eq!(k.push(t, '9', &codes), None);
        assert_eq!(k.push(t, '1', &codes), None, "*91 is no code");
        let mut k = FeatureKeys::default();
        let custom = FeatureCodes {
            hold: "*55".into(),
            mute: "*66".into(),
        };
        k.push(t, '*', &custom);
        k.push(t, '5', &custom);
        assert_eq!(k.push(t, '5', &custom), Some(Feature::Hold));
    }
}
