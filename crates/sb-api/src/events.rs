//! The engine's typed events as the control API streams them (`GET /api/v1/events`): one
//! JSON object per event with its `type`, the wall-clock `at_ms` and its fields. Patients'
//! numbers are masked, and the digits they key are not streamed at all (they may be an
//! identity number); SIP internals stay in the logs, but for the outcome of every challenge
//! (`security`), which monitoring watches.

use sb_acd::AcdEvent;
use sb_engine::EngineEvent;
use sb_sip::SecurityKind;
use sb_types::pii::mask_number;
use sb_types::vocab::Named;
use serde_json::{json, Value};
use std::sync::Arc;

/// Events as JSON text, to every listener of the stream.
pub type EventSender = tokio::sync::broadcast::Sender<Arc<str>>;

/// The stream's channel: a listener more than this many events behind is told how many it
/// missed rather than slowing the engine.
pub fn channel() -> EventSender {
    tokio::sync::broadcast::channel(4096).0
}

/// A challenge outcome as streamed: what happened, from where, for which claimed user.
fn security(source: std::net::IpAddr, kind: &SecurityKind) -> Value {
    let mut v = json!({ "outcome": kind.name(), "source": source.to_string() });
    match kind {
        SecurityKind::ChallengeSent { user, stale } => {
            v["user"] = json!(user);
            v["stale"] = json!(stale);
        }
        SecurityKind::Authenticated { user } => v["user"] = json!(user),
        SecurityKind::AuthFailed { user, reason } => {
            v["user"] = json!(user);
            v["reason"] = json!(reason);
        }
        SecurityKind::UserThrottled {
            user,
            failures,
            seconds,
        } => {
            v["user"] = json!(user);
            v["failures"] = json!(failures);
            v["seconds"] = json!(seconds);
        }
        SecurityKind::Banned { failures, seconds } => {
            v["failures"] = json!(failures);
            v["seconds"] = json!(seconds);
        }
    }
    v
}

/// A trunk as the stream and the live API show it.
pub fn trunk(view: &sb_sip::trunk::TrunkView) -> Value {
    use sb_sip::client_registration::RegistrationState as R;
    let mut v = json!({
        "trunk": view.name,
        "reachable": view.reachable,
        "options_status": view.last_options_status,
        "usable": view.usable(),
    });
    v["registration"] = json!(view.registration.as_ref().map_or("none", |r| r.name()));
    if let Some(R::Failing {
        status, failures, ..
    }) = &view.registration
    {
        v["last_status"] = json!(status);
        v["failures"] = json!(failures);
    }
    v
}

/// The event as streamed, or `None` for what is not streamed.
pub fn to_json(at_ms: i64, ev: &EngineEvent) -> Option<Value> {
    let (kind, mut v) = match ev {
        EngineEvent::Sip(sb_sip::Event::Security { source, kind }) => {
            ("security", security(*source, kind))
        }
        EngineEvent::Sip(sb_sip::Event::Trunk { view, .. }) => ("trunk", trunk(view)),
        EngineEvent::Sip(_) | EngineEvent::Digit { .. } => return None,
        EngineEvent::CallStarted {
            call,
            dialled,
            caller,
            direction,
            outside,
            ..
        } => {
            // A call out dials a patient's number: masked like the caller's.
            let dialled = if *direction == sb_types::vocab::CallDirection::Outbound {
                mask_number(dialled)
            } else {
                dialled.clone()
            };
            let mut v = json!({
                "call": call.0,
                "dialled": dialled,
                "caller": mask_number(&caller.0),
                "direction": direction,
            });
            if let Some(o) = outside {
                v["trunk"] = json!(o.trunk);
                v["did"] = json!(o.did);
                v["withheld"] = json!(o.withheld);
                v["purpose"] = json!(o.purpose);
            }
            ("call_started", v)
        }
        EngineEvent::TrunkAttempt {
            call,
            trunk,
            status,
            cause,
            failover,
        } => (
            "trunk_attempt",
            json!({ "call": call.0, "trunk": trunk, "status": status, "cause": cause, "failover": failover }),
        ),
        EngineEvent::OutsideRefused {
            by,
            dialled,
            why,
            status,
        } => (
            "security",
            json!({ "outcome": "outside_refused", "by": by, "dialled": mask_number(&dialled.0), "reason": why, "status": status }),
        ),
        EngineEvent::CallAnswered { call, .. } => ("call_answered", json!({ "call": call.0 })),
        EngineEvent::Ivr { call, node } => ("ivr", json!({ "call": call.0, "node": node })),
        EngineEvent::Tag { call, var, value } => {
            ("tag", json!({ "call": call.0, "var": var, "value": value }))
        }
        EngineEvent::Queued { call, queue } => {
            ("queued", json!({ "call": call.0, "queue": queue }))
        }
        EngineEvent::Transfer {
            call,
            from,
            to,
            kind,
            by: b,
        } => (
            "transfer",
            json!({ "call": call.0, "from": from, "to": to, "kind": kind, "by": b }),
        ),
        EngineEvent::TransferFailed { call, to, reason } => (
            "transfer_failed",
            json!({ "call": call.0, "to": to, "reason": reason }),
        ),
        EngineEvent::Consult {
            call,
            agent,
            to,
            step,
        } => (
            "consult",
            json!({ "call": call.0, "agent": agent, "to": to, "step": step }),
        ),
        EngineEvent::CallEnded { call, reason, by } => (
            "call_ended",
            json!({ "call": call.0, "reason": reason, "by": by }),
        ),
        EngineEvent::MediaQuality {
            call,
            side: s,
            loss,
            jitter_ms,
            strangers,
            expected,
            lost,
        } => (
            "media_quality",
            json!({ "call": call.0, "side": s, "loss": loss, "jitter_ms": jitter_ms, "strangers": strangers, "expected": expected, "lost": lost }),
        ),
        EngineEvent::MediaRefused {
            call,
            side: s,
            from,
        } => (
            "media_refused",
            json!({ "call": call.0, "side": s, "from": from.to_string() }),
        ),
        EngineEvent::Rejected {
            dialled,
            caller,
            status,
        } => (
            "rejected",
            json!({ "dialled": dialled, "caller": mask_number(&caller.0), "status": status }),
        ),
        EngineEvent::Offered { call, agent } => {
            ("offered", json!({ "call": call.0, "agent": agent }))
        }
        EngineEvent::Bridged { call, agent } => {
            ("bridged", json!({ "call": call.0, "agent": agent }))
        }
        EngineEvent::Hold { call, on, by: b } => {
            ("hold", json!({ "call": call.0, "on": on, "by": b }))
        }
        EngineEvent::Mute { call, on, by: b } => {
            ("mute", json!({ "call": call.0, "on": on, "by": b }))
        }
        EngineEvent::CallbackOffered { call } => ("callback_offered", json!({ "call": call.0 })),
        EngineEvent::AgentService {
            call,
            agent,
            outcome,
        } => (
            "agent_service",
            json!({ "call": call.0, "agent": agent, "outcome": outcome }),
        ),
        EngineEvent::CallbackRequested { call, queue } => (
            "callback_requested",
            json!({ "call": call.0, "queue": queue }),
        ),
        EngineEvent::SurveyOffered { call, agent } => {
            ("survey_offered", json!({ "call": call.0, "agent": agent }))
        }
        EngineEvent::SurveyAnswered { call, score } => {
            ("survey_answered", json!({ "call": call.0, "score": score }))
        }
        EngineEvent::CallbackStarted {
            call,
            item,
            attempt,
        } => (
            "callback_started",
            json!({ "call": call.0, "item": item.0, "attempt": attempt }),
        ),
        EngineEvent::CallbackReached {
            call,
            item,
            waited_ms,
        } => (
            "callback_reached",
            json!({ "call": call.0, "item": item.0, "waited_ms": waited_ms }),
        ),
        EngineEvent::CallbackDeferred { item, at_ms, tries } => (
            "callback_deferred",
            json!({ "item": item.0, "next_ms": at_ms, "tries": tries }),
        ),
        EngineEvent::CallbackClosed {
            item,
            outcome,
            tries,
        } => (
            "callback_closed",
            json!({ "item": item.0, "outcome": outcome.name(), "tries": tries }),
        ),
        EngineEvent::CallbackRecovered {
            item,
            queue,
            waited_ms,
        } => (
            "callback_recovered",
            json!({ "item": item.0, "queue": queue, "waited_ms": waited_ms }),
        ),
        EngineEvent::Overflowed { call, queue, to } => (
            "overflowed",
            json!({ "call": call.0, "queue": queue, "to": to }),
        ),
        EngineEvent::Acd(a) => acd(a)?,
    };
    v["type"] = json!(kind);
    v["at_ms"] = json!(at_ms);
    Some(v)
}

fn acd(a: &AcdEvent) -> Option<(&'static str, Value)> {
    let ms = |d: &std::time::Duration| d.as_millis() as u64;
    Some(match a {
        AcdEvent::Joined {
            call,
            queue,
            position,
        } => (
            "joined",
            json!({ "call": call.0, "queue": queue, "position": position }),
        ),
        AcdEvent::Answered {
            call,
            agent,
            rang,
            within_rings,
            waited,
        } => (
            "answered",
            json!({ "call": call.0, "agent": agent.0, "rang_ms": ms(rang), "within_rings": within_rings, "waited_ms": ms(waited) }),
        ),
        AcdEvent::RingNoAnswer { call, agent, rang } => (
            "ring_no_answer",
            json!({ "call": call.0, "agent": agent.0, "rang_ms": ms(rang) }),
        ),
        AcdEvent::Abandoned {
            call,
            queue,
            waited,
        } => (
            "abandoned",
            json!({ "call": call.0, "queue": queue, "waited_ms": ms(waited) }),
        ),
        AcdEvent::AgentState {
            agent,
            paused,
            state,
            ..
        } => (
            "agent_state",
            json!({ "agent": agent.0, "state": state, "paused": paused }),
        ),
        AcdEvent::AutoPaused { agent, misses } => {
            ("auto_paused", json!({ "agent": agent.0, "misses": misses }))
        }
        AcdEvent::Escalated { call, waited } => (
            "escalated",
            json!({ "call": call.0, "waited_ms": ms(waited) }),
        ),
        // The engine's own Offered, Overflowed and CallbackRequested carry these.
        AcdEvent::Offered { .. }
        | AcdEvent::Overflowed { .. }
        | AcdEvent::CallbackRequested { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sb_engine::{CallId, Control};
    use sb_types::pii::Redacted;

    #[test]
    fn events_carry_their_type_time_and_no_personal_numbers() {
        let v = to_json(
            1_000,
            &EngineEvent::CallStarted {
                direction: sb_types::vocab::CallDirection::Inbound,
                call: CallId(7),
                dialled: "8000".into(),
                caller: Redacted("13912345678".into()),
                sip_call_id: "abc".into(),
                outside: None,
            },
        )
        .expect("streamed");
        assert_eq!(v["type"], "call_started");
        assert_eq!(v["at_ms"], 1_000);
        assert_eq!(v["call"], 7);
        assert!(!v.to_string().contains("13912345678"), "{v}");
        assert!(v.get("sip_call_id").is_none());
        let digit = EngineEvent::Digit {
            call: CallId(7),
            digit: '5',
            source: sb_media::dtmf::Source::Rfc4733,
        };
        assert!(
            to_json(1, &digit).is_none(),
            "keyed digits are not streamed"
        );
        let hold = to_json(
            2,
            &EngineEvent::Hold {
                call: CallId(7),
                on: true,
                by: Control::Api,
            },
        )
        .expect("streamed");
        assert_eq!(
            hold,
            json!({"type": "hold", "at_ms": 2, "call": 7, "on": true, "by": "api"})
        );
    }
}
