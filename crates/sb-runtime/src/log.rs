//! The log: every engine event as one line, with the stable names of the vocabulary
//! (`kind="attended"`, `reason="caller_hung_up"`). Patients' numbers are redacted by the
//! events themselves; challenge outcomes and refused media go to the `security` target.

use sb_engine::EngineEvent;
use sb_sip::{Event, SecurityKind};
use sb_types::vocab::{CallDirection, Named};

pub(crate) fn log_event(ev: EngineEvent) {
    match ev {
        EngineEvent::Sip(e) => log_sip_event(e),
        EngineEvent::CallStarted {
            call,
            dialled,
            caller,
            sip_call_id,
            direction,
            outside,
        } => match outside {
            // A call out dials a patient's number: personal data, like the caller's.
            Some(o) => tracing::info!(
                %call, dialled = %dialled_shown(direction, &dialled), %caller, %sip_call_id, direction = direction.name(),
                trunk = o.trunk.as_deref().unwrap_or("-"), did = o.did.as_deref().unwrap_or("-"),
                withheld = o.withheld, purpose = o.purpose.map(Named::name).unwrap_or("-"),
                "call started"
            ),
            None => {
                tracing::info!(%call, dialled = %dialled_shown(direction, &dialled), %caller, %sip_call_id, direction = direction.name(), "call started")
            }
        },
        EngineEvent::TrunkAttempt {
            call,
            trunk,
            status,
            cause,
            failover,
        } => {
            tracing::info!(%call, %trunk, status, cause = cause.as_deref().unwrap_or("-"), failover, "trunk attempt")
        }
        EngineEvent::OutsideRefused {
            by,
            dialled,
            why,
            status,
        } => {
            tracing::warn!(target: "security", %by, %dialled, reason = why, status, "call to or from the phone network refused")
        }
        EngineEvent::CallAnswered { call, rtp_port } => {
            tracing::info!(%call, rtp_port, "call answered")
        }
        EngineEvent::Ivr { call, node } => tracing::info!(%call, %node, "ivr node"),
        EngineEvent::Tag { call, var, value } => tracing::info!(%call, %var, %value, "call tagged"),
        EngineEvent::Digit {
            call,
            digit,
            source,
        } => tracing::info!(%call, %digit, ?source, "digit"),
        EngineEvent::Queued { call, queue } => {
            tracing::info!(%call, %queue, "call queued (waiting for the ACD)")
        }
        EngineEvent::Transfer {
            call,
            from,
            to,
            kind,
            by,
        } => {
            tracing::info!(%call, %from, %to, kind = kind.name(), by = by.map(Named::name), "transfer")
        }
        EngineEvent::TransferFailed { call, to, reason } => {
            tracing::info!(%call, %to, reason = reason.name(), "transfer not answered")
        }
        EngineEvent::Consult {
            call,
            agent,
            to,
            step,
        } => tracing::info!(%call, %agent, %to, step = step.name(), "consultation"),
        EngineEvent::CallEnded { call, reason, by } => {
            tracing::info!(%call, reason = reason.name(), by = by.name(), "call ended")
        }
        EngineEvent::MediaQuality {
            call,
            side,
            loss,
            jitter_ms,
            strangers,
            ..
        } => tracing::info!(%call, side = side.name(), loss, jitter_ms, strangers, "media quality"),
        EngineEvent::MediaRefused { call, side, from } => tracing::warn!(
            target: "security",
            %call,
            side = side.name(),
            %from,
            "media from a source that is not the leg's peer refused (counted from now on, logged once per leg)"
        ),
        EngineEvent::Rejected {
            dialled,
            caller,
            status,
        } => {
            tracing::info!(%dialled, %caller, status, "call refused")
        }
        EngineEvent::Acd(e) => log_acd_event(e),
        EngineEvent::Offered { call, agent } => tracing::info!(%call, %agent, "offered to agent"),
        EngineEvent::Bridged { call, agent } => {
            tracing::info!(%call, %agent, "caller and agent bridged")
        }
        EngineEvent::Hold { call, on, by } => tracing::info!(%call, on, by = by.name(), "hold"),
        EngineEvent::Mute { call, on, by } => tracing::info!(%call, on, by = by.name(), "mute"),
        EngineEvent::AgentService {
            call,
            agent,
            outcome,
        } => tracing::info!(%call, %agent, outcome = outcome.name(), "agent service code"),
        EngineEvent::CallbackOffered { call } => {
            tracing::info!(%call, "callback offered (nowhere to overflow to)")
        }
        EngineEvent::CallbackRequested { call, queue } => {
            tracing::info!(%call, %queue, "callback requested")
        }
        EngineEvent::SurveyOffered { call, agent } => {
            tracing::info!(%call, agent = agent.as_deref().unwrap_or("-"), "survey offered")
        }
        EngineEvent::SurveyAnswered { call, score } => match score {
            Some(score) => tracing::info!(%call, score, "survey answered"),
            None => tracing::info!(%call, "survey not answered"),
        },
        EngineEvent::CallbackStarted {
            call,
            item,
            attempt,
        } => tracing::info!(%call, %item, attempt, "callback waits for an agent"),
        EngineEvent::CallbackReached {
            call,
            item,
            waited_ms,
        } => tracing::info!(%call, %item, waited_ms, "callback reached the patient"),
        EngineEvent::CallbackDeferred { item, at_ms, tries } => {
            tracing::info!(%item, next_ms = at_ms, tries, "callback tried later")
        }
        EngineEvent::CallbackClosed {
            item,
            outcome,
            tries,
        } => tracing::info!(%item, outcome = outcome.name(), tries, "callback closed"),
        EngineEvent::CallbackRecovered {
            item,
            queue,
            waited_ms,
        } => tracing::info!(%item, %queue, waited_ms, "abandoned call to be called back"),
        EngineEvent::Overflowed { call, queue, to } => {
            tracing::info!(%call, %queue, to = ?to, "queue overflow")
        }
    }
}

fn log_acd_event(e: sb_acd::AcdEvent) {
    use sb_acd::AcdEvent as A;
    match e {
        A::Answered {
            call,
            agent,
            rang,
            within_rings,
            waited,
        } => tracing::info!(
            call = call.0, agent = %agent.0, rang_ms = rang.as_millis() as u64, within_rings, waited_ms = waited.as_millis() as u64, "agent answered"
        ),
        A::RingNoAnswer { call, agent, rang } => {
            tracing::info!(call = call.0, agent = %agent.0, rang_ms = rang.as_millis() as u64, "ring no answer")
        }
        A::AutoPaused { agent, misses } => {
            tracing::warn!(agent = %agent.0, misses, "agent paused after missed offers")
        }
        A::Escalated { call, waited } => tracing::info!(
            call = call.0,
            waited_ms = waited.as_millis() as u64,
            "offered to every free agent"
        ),
        A::Overflowed {
            call,
            queue,
            reason,
            ..
        } => tracing::info!(call = call.0, %queue, ?reason, "overflow"),
        A::Abandoned {
            call,
            queue,
            waited,
        } => {
            tracing::info!(call = call.0, %queue, waited_ms = waited.as_millis() as u64, "caller left the queue")
        }
        A::Joined {
            call,
            queue,
            position,
        } => tracing::info!(call = call.0, %queue, position, "joined queue"),
        A::AgentState {
            agent,
            paused,
            state,
            ..
        } => tracing::info!(
            agent = %agent.0,
            state,
            reason = paused.as_deref(),
            "agent state"
        ),
        A::Offered { .. } | A::CallbackRequested { .. } => {}
    }
}

fn log_sip_event(ev: Event) {
    match ev {
        Event::Registered {
            user,
            binding,
            flow,
        } => {
            tracing::info!(extension = %user, binding, from = %flow.addr, transport = ?flow.transport, "registered")
        }
        Event::Unregistered { user, binding } => {
            tracing::info!(extension = %user, binding, "unregistered")
        }
        Event::Reachability {
            user,
            binding,
            reachable,
        } => {
            if reachable {
                tracing::info!(extension = %user, binding, "phone reachable again");
            } else {
                tracing::warn!(extension = %user, binding, "phone does not answer OPTIONS: unavailable");
            }
        }
        Event::Security { source, kind } => match kind {
            SecurityKind::ChallengeSent { user, stale } => {
                tracing::debug!(target: "security", %source, claimed_extension = %user, stale, "challenge sent")
            }
            SecurityKind::Authenticated { user } => {
                tracing::debug!(target: "security", %source, extension = %user, "authenticated")
            }
            SecurityKind::AuthFailed { user, reason } => {
                tracing::warn!(target: "security", %source, claimed_extension = %user, reason, "authentication failed")
            }
            SecurityKind::UserThrottled {
                user,
                failures,
                seconds,
            } => {
                tracing::warn!(target: "security", %source, claimed_extension = %user, failures, seconds, "too many authentication failures: this extension ignored from this address")
            }
            SecurityKind::Banned { failures, seconds } => {
                tracing::warn!(target: "security", %source, failures, seconds, "too many authentication failures: address ignored except for extensions that authenticated from it")
            }
        },
        Event::Malformed { source, error } => {
            tracing::debug!(from = %source.addr, %error, "malformed SIP message")
        }
        Event::Trunk { view, .. } => {
            let registration = view.registration.as_ref().map_or("none", |r| r.name());
            tracing::info!(
                trunk = %view.name,
                registration,
                reachable = ?view.reachable,
                options_status = ?view.last_options_status,
                usable = view.usable(),
                "trunk"
            )
        }
        Event::SessionExpired { dialog } => {
            tracing::info!(sip_call_id = %dialog.call_id, "session timer expired in no call")
        }
        Event::Request { .. }
        | Event::OutgoingChallenged { .. }
        | Event::DialogRequest { .. }
        | Event::Cancelled { .. }
        | Event::AckTimeout { .. }
        | Event::OutgoingProgress { .. }
        | Event::OutgoingAnswered { .. }
        | Event::OutgoingFailed { .. } => {}
    }
}

/// The number a call dialled as the log shows it: masked when it is a number outside.
fn dialled_shown(direction: CallDirection, dialled: &str) -> String {
    if direction == CallDirection::Outbound {
        sb_types::pii::Redacted(dialled).to_string()
    } else {
        dialled.to_string()
    }
}
