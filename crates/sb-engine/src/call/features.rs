//! An agent's keys. During a call they are feature codes (hold, mute, consult, transfer,
//! complete, back, swap, join), keyed on the phone and signalled by RFC 4733 or SIP INFO;
//! they are never relayed to the patient. Dialled as a number outside calls, the service
//! codes log the agent in or out, pause or unpause them.

use crate::control::AgentCommand;
use sb_types::vocab::ServiceOutcome;
use std::time::{Duration, Instant};

/// The keys an agent presses on the phone during a call (`[features]`): each is `*` and
/// one to three digits (`complete` may be `#`); consult and transfer are followed by the
/// extension and `#`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureCodes {
    /// Patient on hold music, the agent hears nothing of them; again to resume.
    pub hold: String,
    /// The patient stops hearing the agent; again to unmute.
    pub mute: String,
    /// Patient on hold, a second line to a colleague.
    pub consult: String,
    /// Blind transfer of the patient.
    pub transfer: String,
    /// While consulting: the colleague takes the patient (attended transfer).
    pub complete: String,
    /// While consulting: the colleague is hung up, back to the patient.
    pub back: String,
    /// While consulting: talk to the other party (the one left hears hold music or silence).
    pub swap: String,
    /// While consulting: the patient, the agent and the colleague all hear each other.
    pub join: String,
    /// The agent leaves; the patient hears the satisfaction survey.
    pub survey: String,
    /// Dialled outside calls (the agent hears a confirmation): log in to every queue the
    /// agent belongs to, log out, pause (followed by a reason code), unpause.
    pub login: String,
    /// See `login`.
    pub logout: String,
    /// See `login`.
    pub pause: String,
    /// See `login`.
    pub unpause: String,
    /// Pause reason codes keyed after `pause` and the reason each stands for.
    pub pause_reasons: Vec<(String, String)>,
}

impl Default for FeatureCodes {
    fn default() -> Self {
        FeatureCodes {
            hold: "*1".into(),
            mute: "*2".into(),
            consult: "*3".into(),
            transfer: "*4".into(),
            complete: "#".into(),
            back: "*0".into(),
            swap: "*5".into(),
            join: "*6".into(),
            survey: "*9".into(),
            login: "*71".into(),
            logout: "*72".into(),
            pause: "*73".into(),
            unpause: "*74".into(),
            pause_reasons: [
                ("1", "break"),
                ("2", "lunch"),
                ("3", "meeting"),
                ("4", "training"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        }
    }
}

/// Each key of a feature code (or of the extension after it) within this long of the last.
const KEYING: Duration = Duration::from_secs(5);

/// The longest extension keyed after a consult or transfer code.
const MAX_NUMBER: usize = 15;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Feature {
    Hold,
    Mute,
    Consult(String),
    Transfer(String),
    Complete,
    Back,
    Swap,
    Join,
    Survey,
}

/// What an agent has keyed of a feature code so far.
#[derive(Debug, Default)]
pub(crate) struct FeatureKeys {
    typed: String,
    last: Option<Instant>,
    /// After the consult or transfer code: which, and the extension keyed so far (`#`
    /// ends it).
    dialing: Option<(bool, String)>,
}

impl FeatureKeys {
    pub(crate) fn push(&mut self, now: Instant, d: char, codes: &FeatureCodes) -> Option<Feature> {
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
            (&codes.survey, Feature::Survey),
        ]
        .into_iter()
        .find_map(|(c, f)| (c == t).then_some(f));
        if found.is_some() || self.typed.len() >= 4 {
            self.typed.clear();
        }
        found
    }
}

/// The confirmation prompt an agent hears for a service code's outcome.
pub(crate) fn service_prompt(outcome: ServiceOutcome) -> &'static str {
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
pub(crate) fn service_command(codes: &FeatureCodes, dialled: &str) -> Option<Option<AgentCommand>> {
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
        assert_eq!(k.push(t, '8', &codes), None);
        assert_eq!(k.push(t, '1', &codes), None, "*81 is no code");
        assert_eq!(k.push(t, '*', &codes), None);
        assert_eq!(k.push(t, '9', &codes), Some(Feature::Survey));
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
