//! In-call control of a bridged call by its agent. Hold: the patient hears the hold music
//! and the agent hears nothing from the patient. Mute ("cover the mouthpiece"): the patient
//! stops hearing the agent, who still hears the patient. Either comes from the agent's
//! phone (its own hold button, a re-INVITE with `sendonly` or `inactive`, RFC 3264 §8.4) or
//! from feature codes keyed on it (RFC 4733 or SIP INFO; the agent's keys are never
//! relayed to the patient). Each change is an event with who made it, so the call record
//! can count hold and mute time.

use super::{grid_after, Engine, EngineEvent, LegId};
use crate::call::CallId;
use sb_types::vocab::{EndReason, LiveState, ServiceOutcome};
use std::time::{Duration, Instant};

pub use sb_config::model::FeatureCodes;

pub use sb_types::vocab::Control;

/// Each key of a feature code (or of the extension after it) within this long of the last.
const KEYING: Duration = Duration::from_secs(5);

/// The longest extension keyed after a consult or transfer code.
const MAX_NUMBER: usize = 15;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Feature {
    Hold,
    Mute,
    Consult(String),
    Transfer(String),
    Complete,
    Back,
    Swap,
    Join,
}

/// What an agent has keyed of a feature code so far.
#[derive(Debug, Default)]
pub(super) struct FeatureKeys {
    typed: String,
    last: Option<Instant>,
    /// After the consult or transfer code: which, and the extension keyed so far (`#`
    /// ends it).
    dialing: Option<(bool, String)>,
}

impl FeatureKeys {
    fn push(&mut self, now: Instant, d: char, codes: &FeatureCodes) -> Option<Feature> {
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) > KEYING)
        {
            self.typed.clear();
            self.dialing = None;
        }
        self.last = Some(now);
        if let Some((consult, number)) = self.dialing.as_mut() {
            match d {
                '0'..='9' if number.len() < MAX_NUMBER => {
                    number.push(d);
                    return None;
                }
                '#' if !number.is_empty() => {
                    let number = std::mem::take(number);
                    let consult = *consult;
                    self.dialing = None;
                    return Some(if consult {
                        Feature::Consult(number)
                    } else {
                        Feature::Transfer(number)
                    });
                }
                // A star starts another code; anything else abandons the number.
                _ => self.dialing = None,
            }
            if d != '*' {
                return None;
            }
        }
        if d == '*' || (self.typed.is_empty() && codes.complete.starts_with(d)) {
            self.typed.clear();
        } else if self.typed.is_empty() {
            return None;
        }
        self.typed.push(d);
        let t = self.typed.as_str();
        if t == codes.consult || t == codes.transfer {
            self.dialing = Some((t == codes.consult, String::new()));
            self.typed.clear();
            return None;
        }
        let found = [
            (&codes.hold, Feature::Hold),
            (&codes.mute, Feature::Mute),
            (&codes.complete, Feature::Complete),
            (&codes.back, Feature::Back),
            (&codes.swap, Feature::Swap),
            (&codes.join, Feature::Join),
        ]
        .into_iter()
        .find_map(|(c, f)| (c == t).then_some(f));
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
    pub state: LiveState,
    pub queue: Option<String>,
    /// The agent the call is bridged to.
    pub agent: Option<String>,
    pub held: bool,
    pub muted: bool,
    /// Media packets refused from strangers: on the patient's leg, and on the agents'
    /// legs of the call now up.
    pub strangers_caller: u64,
    pub strangers_agents: u64,
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
    /// A transfer or consultation to something that is not another extension.
    UnknownExtension(String),
    /// The agent is already consulting a colleague.
    Consulting,
    /// Back, swap and complete need a consultation under way.
    NotConsulting,
    /// Swap needs the colleague to have answered.
    NotAnswered,
    /// The three are joined: back, complete or hang up instead.
    Joined,
    NoSuchQueue(String),
    /// Nobody in the queue is free to be consulted.
    NobodyFree(String),
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlError::NoSuchCall => write!(f, "no such call"),
            ControlError::NotBridged => write!(f, "the call is not with an agent"),
            ControlError::NoSuchAgent => write!(f, "no such agent"),
            ControlError::NotAMember(q) => write!(f, "not a member of queue {q}"),
            ControlError::UnknownExtension(e) => write!(f, "{e} is not another extension"),
            ControlError::Consulting => write!(f, "already consulting"),
            ControlError::NotConsulting => write!(f, "no consultation under way"),
            ControlError::NotAnswered => write!(f, "the colleague has not answered"),
            ControlError::Joined => write!(f, "the patient, agent and colleague are joined"),
            ControlError::NoSuchQueue(q) => write!(f, "no queue {q}"),
            ControlError::NobodyFree(q) => write!(f, "nobody in queue {q} is free"),
        }
    }
}

/// What may be done to a call from outside it (the control API): the same steps as the
/// agent's feature codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallAction {
    Hold(bool),
    Mute(bool),
    HangUp,
    /// Blind transfer to an extension.
    Transfer(String),
    /// Consult an extension, the patient on hold.
    Consult(String),
    /// Consult whichever member of this queue is free (the one idle longest).
    ConsultQueue(String),
    /// End the consultation, back to the patient.
    Back,
    /// Talk to the other party of a consultation.
    Swap,
    /// The consulted colleague takes the patient.
    Complete,
    /// The patient, the agent and the consulted colleague all hear each other.
    Join,
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

/// The confirmation prompt an agent hears for a service code's outcome.
fn service_prompt(outcome: ServiceOutcome) -> &'static str {
    match outcome {
        ServiceOutcome::LoggedIn => "agent-logged-in",
        ServiceOutcome::LoggedOut => "agent-logged-out",
        ServiceOutcome::Paused => "agent-paused",
        ServiceOutcome::Unpaused => "agent-unpaused",
        ServiceOutcome::Failed => "agent-failed",
    }
}

/// The command a number dialled outside calls stands for: `None` when it is no service
/// code, `Some(None)` for the pause code with a reason code not configured.
pub(super) fn service_command(codes: &FeatureCodes, dialled: &str) -> Option<Option<AgentCommand>> {
    let cmd = if dialled == codes.login {
        AgentCommand::Login(Vec::new())
    } else if dialled == codes.logout {
        AgentCommand::Logout
    } else if dialled == codes.unpause {
        AgentCommand::Unpause
    } else {
        let reason = dialled.strip_prefix(codes.pause.as_str())?;
        let found = if reason.is_empty() {
            // No reason keyed: the first configured one.
            codes.pause_reasons.first()
        } else {
            codes.pause_reasons.iter().find(|(c, _)| c == reason)
        };
        return Some(found.map(|(_, r)| AgentCommand::Pause(r.clone())));
    };
    Some(Some(cmd))
}

impl Engine {
    /// An agent's service code, answered: carry it out, say how it went, hang up.
    pub(super) fn agent_service(
        &mut self,
        now: Instant,
        id: CallId,
        agent: &str,
        cmd: Option<AgentCommand>,
    ) {
        let prompt = match cmd {
            Some(cmd) => {
                let done = match &cmd {
                    AgentCommand::Login(_) => ServiceOutcome::LoggedIn,
                    AgentCommand::Logout => ServiceOutcome::LoggedOut,
                    AgentCommand::Pause(_) => ServiceOutcome::Paused,
                    AgentCommand::Unpause => ServiceOutcome::Unpaused,
                };
                match self.agent_command(now, agent, cmd) {
                    Ok(()) => done,
                    Err(_) => ServiceOutcome::Failed,
                }
            }
            None => ServiceOutcome::Failed,
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let lang = call.language(&self.cfg.default_language).to_string();
        if let Some(p) = self.assets.prompt(&lang, service_prompt(prompt)) {
            call.playlist.push(p.clone());
        }
        call.bye_after_prompt = Some(EndReason::ServiceCodeDone);
        self.events.push_back(EngineEvent::AgentService {
            call: id,
            agent: agent.to_string(),
            outcome: prompt,
        });
    }

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
                LiveState::Talking
            } else if c.phase == crate::call::Phase::Waiting {
                LiveState::Waiting
            } else {
                LiveState::Ivr
            },
            queue: c.queue.as_ref().map(|(q, _)| q.clone()),
            agent,
            held: c.held_by.is_some(),
            muted: c.muted,
            strangers_caller: c.rtp.as_ref().map_or(0, |r| r.strangers_dropped),
            strangers_agents: self
                .legs
                .values()
                .filter(|l| l.call == id)
                .map(|l| l.strangers())
                .sum(),
        })
    }

    /// Carries out `action` on call `id`, asked from outside the call (the control API).
    pub fn call_action(
        &mut self,
        now: Instant,
        id: CallId,
        action: CallAction,
        by: Control,
    ) -> Result<(), ControlError> {
        if !self.calls.contains_key(&id) {
            return Err(ControlError::NoSuchCall);
        }
        match action {
            CallAction::HangUp => {
                self.hang_up(now, id, EndReason::ControlApi, super::Side::Engine);
                Ok(())
            }
            _ if !self.bridged.contains_key(&id) => Err(ControlError::NotBridged),
            CallAction::Hold(on) => {
                let consulting = self
                    .bridged
                    .get(&id)
                    .and_then(|l| self.legs.get(l))
                    .is_some_and(|l| l.consult.is_some());
                if consulting {
                    // The patient's hold follows the consultation (swap, back).
                    return Err(ControlError::Consulting);
                }
                self.set_hold(now, id, on, by);
                Ok(())
            }
            CallAction::Mute(on) => {
                self.set_mute(now, id, on, by);
                Ok(())
            }
            CallAction::Transfer(to) => self.transfer(now, id, &to, by),
            CallAction::Consult(to) => self.consult(now, id, &to, by),
            CallAction::ConsultQueue(q) => self.consult_queue(now, id, &q, by),
            CallAction::Back => self.consult_back(now, id, by),
            CallAction::Swap => self.consult_swap(now, id, by),
            CallAction::Complete => self.consult_complete(now, id, by),
            CallAction::Join => self.consult_join(now, id, by),
        }
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

    /// Puts a bridged call on hold or takes it off. Nothing happens unless it changes.
    pub fn set_hold(&mut self, now: Instant, id: CallId, on: bool, by: Control) {
        if !self.bridged.contains_key(&id) {
            return;
        }
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
            let lang = call.language(&self.cfg.default_language).to_string();
            if let Some(m) = self.assets.prompt(&lang, "hold-music") {
                call.playlist.push(m.clone());
            }
        }
        self.events
            .push_back(EngineEvent::Hold { call: id, on, by });
        self.own_stream(now, id);
        if !on {
            // The patient's voice reaches the agent again, after the silence we sent.
            if let Some(&leg) = self.bridged.get(&id) {
                self.rebase(leg);
            }
        }
    }

    /// Whether the engine feeds a bridged patient itself (held: music; muted: silence) or
    /// relays the agent; a change of either re-bases the relayed timestamps.
    pub(super) fn own_stream(&mut self, now: Instant, id: CallId) {
        let origin = self.cfg.origin;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let own = call.held_by.is_some() || call.muted || call.mix.is_some();
        match (own, call.next_tick.is_some()) {
            (true, false) => call.next_tick = Some(grid_after(origin, call.tick_phase, now)),
            (false, true) => call.next_tick = None,
            _ => {}
        }
        if let Some(rtp) = call.rtp.as_mut() {
            rtp.end_relay();
        }
        self.schedule(id);
    }

    /// Mutes the agent towards the patient, or unmutes.
    pub fn set_mute(&mut self, now: Instant, id: CallId, on: bool, by: Control) {
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
        self.own_stream(now, id);
    }

    /// A key the agent pressed during the call.
    pub(super) fn agent_key(&mut self, now: Instant, leg: LegId, d: char) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        let (call, consulting) = (l.call, l.consult.is_some());
        let Some(feature) = l.keys.push(now, d, &self.cfg.features) else {
            return;
        };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let by = Control::FeatureCode;
        // A code that does not apply now (complete with no consultation, a number that is
        // no extension) changes nothing: the agent hears no more than before.
        let _ = match feature {
            // While consulting, the patient's hold follows the consultation (swap, back).
            Feature::Hold if consulting => Ok(()),
            Feature::Hold => {
                let on = c.held_by.is_none();
                self.set_hold(now, call, on, by);
                Ok(())
            }
            Feature::Mute => {
                let on = !c.muted;
                self.set_mute(now, call, on, by);
                Ok(())
            }
            Feature::Consult(to) => self.consult(now, call, &to, by),
            Feature::Transfer(to) => self.transfer(now, call, &to, by),
            Feature::Complete => self.consult_complete(now, call, by),
            Feature::Back => self.consult_back(now, call, by),
            Feature::Swap => self.consult_swap(now, call, by),
            Feature::Join => self.consult_join(now, call, by),
        };
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
        assert_eq!(k.push(t + Duration::from_secs(6), '1', &codes), None);
        // A second star starts over; an unknown code is dropped.
        assert_eq!(k.push(t, '*', &codes), None);
        assert_eq!(k.push(t, '*', &codes), None);
        assert_eq!(k.push(t, '9', &codes), None);
        assert_eq!(k.push(t, '1', &codes), None, "*91 is no code");
        let mut k = FeatureKeys::default();
        let custom = FeatureCodes {
            hold: "*77".into(),
            mute: "*88".into(),
            ..FeatureCodes::default()
        };
        k.push(t, '*', &custom);
        k.push(t, '7', &custom);
        assert_eq!(k.push(t, '7', &custom), Some(Feature::Hold));
    }

    fn keyed(k: &mut FeatureKeys, t: Instant, keys: &str) -> Vec<Feature> {
        let codes = FeatureCodes::default();
        keys.chars().filter_map(|d| k.push(t, d, &codes)).collect()
    }

    #[test]
    fn consult_and_transfer_codes_take_the_extension_up_to_the_hash() {
        let t = sb_sim::Clock::new().now();
        let mut k = FeatureKeys::default();
        assert_eq!(
            keyed(&mut k, t, "*31005#"),
            [Feature::Consult("1005".into())]
        );
        assert_eq!(
            keyed(&mut k, t, "*42001#"),
            [Feature::Transfer("2001".into())]
        );
        assert_eq!(keyed(&mut k, t, "#"), [Feature::Complete]);
        assert_eq!(keyed(&mut k, t, "*0*5"), [Feature::Back, Feature::Swap]);
        // No number: nothing; a star abandons the number and starts a code.
        assert_eq!(keyed(&mut k, t, "*3#"), []);
        assert_eq!(keyed(&mut k, t, "*310*1"), [Feature::Hold]);
        // Digits after a finished code are not a number.
        assert_eq!(keyed(&mut k, t, "1005#"), [Feature::Complete]);
        // A pause longer than the keying time between digits drops the number.
        assert_eq!(keyed(&mut k, t, "*410"), []);
        let later = t + Duration::from_secs(6);
        assert_eq!(keyed(&mut k, later, "05#"), [Feature::Complete]);
    }
}
