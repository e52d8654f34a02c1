//! The vocabulary of calls: each word an enum with a stable name (snake_case) that the call
//! records, the event stream, the control API and the logs carry. The names never change
//! across releases, because records written long ago and the scripts reading the stream
//! depend on them; code compares the enums, never the names.

use std::fmt;

/// An enum whose values have stable names.
pub trait Named: Sized + Copy + 'static {
    /// Every value, in declaration order.
    const ALL: &'static [Self];

    /// The stable name.
    fn name(self) -> &'static str;

    /// The value with this stable name.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }
}

/// Declares an enum of the vocabulary: each variant with its stable name.
macro_rules! vocabulary {
    ($(#[$m:meta])* pub enum $name:ident {
        $($(#[$vm:meta])* $v:ident = $s:literal,)+
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $v,)+
        }

        impl Named for $name {
            const ALL: &'static [$name] = &[$($name::$v,)+];

            fn name(self) -> &'static str {
                match self {
                    $($name::$v => $s,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let name = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                $name::from_name(&name).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "`{name}` is not a {}",
                        stringify!($name)
                    ))
                })
            }
        }
    };
}

vocabulary! {
    /// How a call came to the switchboard.
    pub enum CallDirection {
        /// A patient's call to one of the hospital's numbers.
        Inbound = "inbound",
        /// An extension calling another (or the on-duty number).
        Internal = "internal",
        /// An agent's service code (login, logout, pause, unpause).
        Service = "service",
        /// A call out to the phone network through a carrier.
        Outbound = "outbound",
    }
}

vocabulary! {
    /// How a keep-my-place callback ended.
    pub enum CallbackOutcome {
        /// The patient answered a callback.
        Reached = "reached",
        /// Every try spent without reaching them: it waits on the worklist.
        Worklist = "worklist",
        /// The patient called again and was answered before the callback reached them.
        CalledAgain = "called_again",
    }
}

vocabulary! {
    /// Why a call went out to the phone network.
    pub enum OutboundPurpose {
        /// An extension dialled the number.
        Dialled = "dialled",
        /// An agent or operator transferred a patient to it.
        Transfer = "transfer",
        /// A callback the hospital promised.
        Callback = "callback",
        /// A follow-up call to a patient.
        FollowUp = "follow_up",
    }
}

vocabulary! {
    /// A party to a call: who hung up, whose media was measured.
    pub enum Side {
        /// The caller: a patient, or an extension that dialled.
        Caller = "caller",
        /// An agent, a transfer target or a consulted colleague.
        Agent = "agent",
        /// The switchboard itself (the IVR's hangup, a failure, a timeout).
        Engine = "engine",
    }
}

vocabulary! {
    /// Where a hold, mute, transfer or consultation step came from.
    pub enum Control {
        /// The phone's own hold (re-INVITE) or hangup.
        Phone = "phone",
        /// Keys the agent pressed during the call.
        FeatureCode = "feature_code",
        /// The control API.
        Api = "api",
        /// A SIP REFER from the phone (RFC 3515).
        Refer = "refer",
        /// The dialplan (a transfer node).
        Dialplan = "dialplan",
    }
}

vocabulary! {
    /// What kind of move a transfer is.
    pub enum TransferKind {
        /// The dialplan sent the call to an extension.
        Ivr = "ivr",
        /// The agent sent the call on and left.
        Blind = "blind",
        /// The agent sent the call into a queue by its number.
        Queue = "queue",
        /// The consulted colleague took the call.
        Attended = "attended",
        /// Unanswered, the call comes back to who transferred it.
        Back = "back",
        /// The next person on the on-duty roster.
        Roster = "roster",
        /// The ACD moved the call to its overflow queue.
        Overflow = "overflow",
    }
}

vocabulary! {
    /// A step of an agent's consultation with a colleague.
    pub enum ConsultStep {
        /// The colleague's phone rings.
        Ringing = "ringing",
        /// The colleague answered: the agent talks to them.
        Answered = "answered",
        /// The colleague did not answer or could not be reached.
        Failed = "failed",
        /// The agent went back to the patient; the colleague waits.
        SwappedToPatient = "swapped_to_patient",
        /// The agent went to the colleague; the patient waits on hold.
        SwappedToColleague = "swapped_to_colleague",
        /// The patient, the agent and the colleague hear each other.
        Joined = "joined",
        /// The consultation is over: the colleague was hung up or hung up.
        Ended = "ended",
    }
}

vocabulary! {
    /// Why a leg the switchboard called out on was not answered.
    pub enum LegFailure {
        /// The phone answered with a failure (busy, declined, ...).
        Refused = "refused",
        /// Its answer had no usable SDP.
        UnusableAnswer = "unusable_answer",
        /// It rang out.
        NoAnswer = "no_answer",
        /// No phone is registered for the extension.
        NotRegistered = "not_registered",
        /// No media port could be opened for it.
        NoMediaPort = "no_media_port",
        /// No carrier could place the call (every trunk failed, was down or full).
        NoTrunk = "no_trunk",
    }
}

vocabulary! {
    /// Why a call ended.
    pub enum EndReason {
        /// The caller hung up.
        CallerHungUp = "caller_hung_up",
        /// The caller gave up before the call was answered (CANCEL).
        CallerCancelled = "caller_cancelled",
        /// The agent hung up.
        AgentHungUp = "agent_hung_up",
        /// The dialplan hung up.
        IvrEnded = "ivr_ended",
        /// The patient asked for a callback and heard its confirmation.
        CallbackArranged = "callback_arranged",
        /// An agent's service code was carried out and confirmed.
        ServiceCodeDone = "service_code_done",
        /// Our 200 OK was never acknowledged.
        NoAck = "no_ack",
        /// Our 200 carried the offer and the ACK brought no answer.
        NoSdpAnswer = "no_sdp_answer",
        /// Our 200 carried the offer and the ACK's answer was unusable.
        UnusableSdpAnswer = "unusable_sdp_answer",
        /// The caller offered no codec the switchboard speaks.
        NoCommonCodec = "no_common_codec",
        /// The phone of the extension placing a call (from the console or the API) did
        /// not answer it.
        PlacerNotAnswered = "placer_not_answered",
        /// A callback's patient did not answer (or could not be dialled).
        CallbackNotReached = "callback_not_reached",
        /// A callback no longer needed: the patient called again and was answered.
        CallbackNotNeeded = "callback_not_needed",
        /// The extension dialled has no phone registered.
        ExtensionNotRegistered = "extension_not_registered",
        /// The extension dialled refused the call.
        CalleeRefused = "callee_refused",
        /// The extension dialled answered with unusable SDP.
        CalleeUnusableAnswer = "callee_unusable_answer",
        /// The extension dialled rang out.
        CalleeNoAnswer = "callee_no_answer",
        /// No dialog could be formed for the caller's 200 OK.
        NoDialog = "no_dialog",
        /// No media port could be opened.
        NoMediaPort = "no_media_port",
        /// Nobody took a transfer and there was no queue to go back to.
        TransferNotAnswered = "transfer_not_answered",
        /// An attended transfer from the phone replaced this call.
        ReplacedByTransfer = "replaced_by_transfer",
        /// Ended through the control API.
        ControlApi = "control_api",
        /// The switchboard stopped with the call still up (graceful stop).
        SwitchboardStopping = "switchboard_stopping",
        /// The record was still open when the switchboard stopped.
        EngineStopped = "engine_stopped",
        /// No carrier could place the outside call.
        NoTrunk = "no_trunk",
        /// The caller stopped refreshing the session (RFC 4028 session timer).
        SessionExpired = "session_expired",
    }
}

impl EndReason {
    /// A call between extensions ends because the one dialled could not be had.
    pub fn callee(failure: LegFailure) -> EndReason {
        match failure {
            LegFailure::Refused => EndReason::CalleeRefused,
            LegFailure::UnusableAnswer => EndReason::CalleeUnusableAnswer,
            LegFailure::NoAnswer => EndReason::CalleeNoAnswer,
            LegFailure::NotRegistered => EndReason::ExtensionNotRegistered,
            LegFailure::NoMediaPort => EndReason::NoMediaPort,
            LegFailure::NoTrunk => EndReason::NoTrunk,
        }
    }
}

vocabulary! {
    /// How an agent's service code went: the confirmation they hear.
    pub enum ServiceOutcome {
        /// Logged into their queues.
        LoggedIn = "logged_in",
        /// Logged out of every queue.
        LoggedOut = "logged_out",
        /// Paused, with the reason keyed.
        Paused = "paused",
        /// Available again.
        Unpaused = "unpaused",
        /// It could not be done (not an agent, not a member, an unknown pause reason).
        Failed = "failed",
    }
}

vocabulary! {
    /// Where a call stands, as the live API shows it.
    pub enum LiveState {
        /// In the dialplan.
        Ivr = "ivr",
        /// In a queue, or being transferred.
        Waiting = "waiting",
        /// Bridged to an agent.
        Talking = "talking",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Named + fmt::Debug + PartialEq>() {
        let mut seen = std::collections::HashSet::new();
        for v in T::ALL {
            assert!(seen.insert(v.name()), "{} named twice", v.name());
            assert_eq!(T::from_name(v.name()), Some(*v));
            assert!(v.name().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        assert_eq!(T::from_name("no such name"), None);
    }

    #[test]
    fn every_name_is_unique_snake_case_and_reads_back() {
        round_trip::<CallDirection>();
        round_trip::<Side>();
        round_trip::<Control>();
        round_trip::<TransferKind>();
        round_trip::<ConsultStep>();
        round_trip::<LegFailure>();
        round_trip::<OutboundPurpose>();
        round_trip::<EndReason>();
        round_trip::<ServiceOutcome>();
        round_trip::<LiveState>();
    }

    #[test]
    fn names_are_stable() {
        // Records already written carry these: changing one is a migration.
        assert_eq!(Control::FeatureCode.name(), "feature_code");
        assert_eq!(
            ConsultStep::SwappedToColleague.name(),
            "swapped_to_colleague"
        );
        assert_eq!(EndReason::CallerHungUp.to_string(), "caller_hung_up");
        assert_eq!(CallDirection::Inbound.name(), "inbound");
    }
}
