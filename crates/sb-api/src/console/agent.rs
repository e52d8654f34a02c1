//! The agent's console: my state with its buttons, the ringing offer with its three-ring
//! countdown, the current call (the patient's masked number, how they came, how long they
//! waited) with hold, mute, consult, swap, join, complete, transfer and hang up, the
//! wrap-up countdown, and my figures today. Also the console actions on calls and agents,
//! which the operator's console uses too.

use super::auth::Viewer;
use super::live::View;
use super::text::Text;
use super::{clock_text, live_page, live_stream, percent, pickers, refuse, Frame, Pickers};
use crate::access::Role;
use crate::control::{Command, Reply};
use crate::http::{ask_as, Shared};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use sb_engine::{AgentCommand, CallAction, LiveCall};
use sb_types::pii::mask_number;
use std::sync::Arc;

/// The ringing offer.
pub(crate) struct Offer {
    pub(crate) caller: String,
    /// A callback: when the patient asked (Unix ms) and how long ago, as rendered.
    pub(crate) callback: Option<(i64, String)>,
    /// When the three rings are over (Unix ms), and the seconds left when rendered.
    pub(crate) deadline_ms: i64,
    pub(crate) left: String,
}

/// The consultation under way.
pub(crate) struct Consulting {
    pub(crate) colleague: String,
    pub(crate) with_colleague: bool,
    pub(crate) joined: bool,
}

/// A call the switchboard places for this extension: its phone rings first, then the one
/// dialled.
pub(crate) struct Placing {
    pub(crate) id: u64,
    pub(crate) dialled: String,
    /// The one dialled answered: the two talk.
    pub(crate) talking: bool,
}

/// The current call.
pub(crate) struct CallPanel {
    pub(crate) id: u64,
    pub(crate) caller: String,
    pub(crate) dialled: String,
    pub(crate) path: String,
    pub(crate) notes: String,
    pub(crate) waited: Option<String>,
    pub(crate) talking_since_ms: Option<i64>,
    pub(crate) talking: String,
    pub(crate) held: bool,
    pub(crate) muted: bool,
    pub(crate) consult: Option<Consulting>,
}

#[derive(Template)]
#[template(path = "agent_live.html")]
pub(crate) struct AgentLive {
    pub(crate) t: &'static Text,
    pub(crate) ext: String,
    /// `available`, `paused`, ... or `logged_out`.
    pub(crate) state: &'static str,
    pub(crate) state_label: &'static str,
    pub(crate) since_ms: i64,
    pub(crate) since: String,
    pub(crate) paused: Option<String>,
    pub(crate) logged_in: bool,
    pub(crate) offer: Option<Offer>,
    pub(crate) call: Option<CallPanel>,
    pub(crate) placing: Option<Placing>,
    /// Wrap-up's end (Unix ms) and the time left when rendered.
    pub(crate) wrap: Option<(i64, String)>,
    pub(crate) answered: i64,
    pub(crate) in_rings: String,
    pub(crate) handle: String,
}

#[derive(Template)]
#[template(path = "agent.html")]
struct AgentPage {
    frame: Frame,
    live: String,
    pickers: Pickers,
}

/// The part of a view agent `ext` sees, in `t`'s words; `None` if the ACD does not know
/// them.
pub(crate) fn live_for(
    t: &'static Text,
    ext: &str,
    view: &View,
    sla: std::time::Duration,
) -> Option<AgentLive> {
    let snap = &view.snap;
    let me = snap.agents.iter().find(|a| a.id == ext)?;
    let wall = |i| snap.wall.ms(i);
    let secs = |from: std::time::Instant| snap.now.saturating_duration_since(from).as_secs() as i64;
    let logged_in = !me.logged_in.is_empty();
    let state = if logged_in { me.state } else { "logged_out" };
    let offer = me.ringing_since.and_then(|since| {
        let call = snap.calls.iter().find(|c| Some(c.id) == me.call)?;
        let deadline = since + sla;
        Some(Offer {
            caller: mask_number(&call.caller),
            callback: call
                .callback_requested
                .map(|at| (wall(at), clock_text(secs(at)))),
            deadline_ms: wall(deadline),
            left: clock_text(deadline.saturating_duration_since(snap.now).as_secs() as i64),
        })
    });
    let call = snap
        .calls
        .iter()
        .find(|c| c.agent.as_deref() == Some(ext))
        .map(|c| panel(c, &wall, &secs));
    let placing = snap
        .calls
        .iter()
        .find(|c| c.placed && c.caller == ext)
        .map(|c| Placing {
            id: c.id.0,
            dialled: c.dialled.clone(),
            talking: c.state == sb_types::vocab::LiveState::Talking,
        });
    let day = view.today.agents.get(ext);
    Some(AgentLive {
        t,
        ext: ext.to_string(),
        state,
        state_label: t.agent_state(state),
        since_ms: wall(me.since),
        since: clock_text(secs(me.since)),
        paused: me.paused.clone(),
        logged_in,
        offer,
        call,
        placing,
        wrap: me.wrap_until.map(|w| {
            (
                wall(w),
                clock_text(w.saturating_duration_since(snap.now).as_secs() as i64),
            )
        }),
        answered: day.map_or(0, |r| r.answered),
        in_rings: percent(day.and_then(|r| r.three_ring_rate)),
        handle: day
            .and_then(|r| r.aht_s)
            .map_or_else(|| "–".into(), |s| clock_text(s.round() as i64)),
    })
}

fn panel(
    c: &LiveCall,
    wall: &impl Fn(std::time::Instant) -> i64,
    secs: &impl Fn(std::time::Instant) -> i64,
) -> CallPanel {
    let waited = match (c.queued_at, c.answered_at) {
        (Some(q), Some(a)) => Some(clock_text(a.saturating_duration_since(q).as_secs() as i64)),
        _ => None,
    };
    CallPanel {
        id: c.id.0,
        caller: mask_number(&c.caller),
        // A callback dials the patient's own number.
        dialled: if c.callback_requested.is_some() {
            mask_number(&c.dialled)
        } else {
            c.dialled.clone()
        },
        path: c
            .path
            .iter()
            .map(|n| n.rsplit('/').next().unwrap_or(n))
            .collect::<Vec<_>>()
            .join(" › "),
        notes: c
            .vars
            .iter()
            .filter(|(k, _)| k != "language")
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        waited,
        talking_since_ms: c.answered_at.map(wall),
        talking: c.answered_at.map(secs).map_or_else(String::new, clock_text),
        held: c.held,
        muted: c.muted,
        consult: c.consult.as_ref().map(|k| Consulting {
            colleague: k.colleague.clone(),
            with_colleague: k.with_colleague,
            joined: k.joined,
        }),
    }
}

fn fragment(s: &Shared, viewer: &Viewer, view: &View) -> Option<Arc<str>> {
    let user = viewer.user(&s.console);
    let ext = user.agent.as_deref()?;
    live_for(Text::of(user.language), ext, view, s.console.settings.sla)?
        .render()
        .ok()
        .map(Arc::from)
}

/// `GET /console/agent`: for users tied to an extension.
pub(crate) async fn page(State(s): State<Arc<Shared>>, viewer: Viewer) -> Response {
    let allowed = viewer.user(&s.console).agent.is_some();
    let pickers = pickers(&s.console.settings);
    live_page(
        &s,
        &viewer,
        "/console/agent",
        allowed,
        fragment,
        |frame, live| AgentPage {
            frame,
            live,
            pickers,
        },
    )
    .await
}

/// `GET /console/live/agent`: the agent's part, as `agent` events.
pub(crate) async fn live(State(s): State<Arc<Shared>>, viewer: Viewer) -> Response {
    let allowed = viewer.user(&s.console).agent.is_some();
    live_stream(s, viewer, allowed, "agent", fragment)
}

/// A console action's form: the session's CSRF token (unless sent as a header) and the
/// action's own field.
#[derive(serde::Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    on: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The call action a console button names.
fn call_action(name: &str, f: &ActionForm) -> Option<CallAction> {
    let on = f.on.as_deref() == Some("true");
    Some(match name {
        "hold" => CallAction::Hold(on),
        "mute" => CallAction::Mute(on),
        "hangup" => CallAction::HangUp,
        "transfer" => CallAction::Transfer(given(&f.to)?),
        "consult" => match (given(&f.to), given(&f.queue)) {
            (Some(to), _) => CallAction::Consult(to),
            (None, Some(q)) => CallAction::ConsultQueue(q),
            (None, None) => return None,
        },
        "back" => CallAction::Back,
        "swap" => CallAction::Swap,
        "complete" => CallAction::Complete,
        "join" => CallAction::Join,
        "survey" => CallAction::Survey,
        _ => return None,
    })
}

/// Sends a console action to the engine as the viewer (an agent: for its own extension);
/// 204, or the refusal in the viewer's words.
async fn carry_out(s: &Shared, viewer: &Viewer, command: Command) -> Response {
    let user = viewer.user(&s.console);
    let t = Text::of(user.language);
    match ask_as(s, user.role, user.agent.as_deref(), command).await {
        Ok(Reply::Done | Reply::Placed(_)) => {
            s.console.live.nudge();
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(Reply::NotYours) => refuse(StatusCode::FORBIDDEN, t.not_yours),
        Ok(Reply::Failed(e)) => refuse(StatusCode::CONFLICT, t.refusal(&e)),
        Ok(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR, t.engine_down),
        Err(_) => refuse(StatusCode::SERVICE_UNAVAILABLE, t.engine_down),
    }
}

/// `POST /console/calls/{id}/{action}`: an agent on its own calls, operators and up on any.
pub(crate) async fn act_on_call(
    State(s): State<Arc<Shared>>,
    viewer: Viewer,
    headers: HeaderMap,
    Path((id, action)): Path<(u64, String)>,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Some(refused) = viewer.forged(&s.console, &headers, f.csrf.as_deref()) {
        return refused;
    }
    let t = viewer.text(&s.console);
    let Some(act) = call_action(&action, &f) else {
        return refuse(StatusCode::BAD_REQUEST, t.unknown_target);
    };
    carry_out(
        &s,
        &viewer,
        Command::Call {
            call: id,
            action: act,
        },
    )
    .await
}

/// `POST /console/calls`: places a call from the viewer's own extension to `to`.
pub(crate) async fn place(
    State(s): State<Arc<Shared>>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Some(refused) = viewer.forged(&s.console, &headers, f.csrf.as_deref()) {
        return refused;
    }
    let t = viewer.text(&s.console);
    let Some(from) = viewer.user(&s.console).agent.clone() else {
        return refuse(StatusCode::FORBIDDEN, t.phone_offline);
    };
    let Some(to) = given(&f.to) else {
        return refuse(StatusCode::BAD_REQUEST, t.unknown_target);
    };
    carry_out(&s, &viewer, Command::Place { from, to }).await
}

/// `POST /console/agents/{ext}/{action}` (`login`, `logout`, `pause` with a `reason`,
/// `unpause`): the agent itself, or a supervisor.
pub(crate) async fn act_on_agent(
    State(s): State<Arc<Shared>>,
    viewer: Viewer,
    headers: HeaderMap,
    Path((ext, action)): Path<(String, String)>,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Some(refused) = viewer.forged(&s.console, &headers, f.csrf.as_deref()) {
        return refused;
    }
    let t = viewer.text(&s.console);
    let user = viewer.user(&s.console);
    let own = user.agent.as_deref() == Some(ext.as_str());
    if !own && user.role < Role::Supervisor {
        return refuse(StatusCode::FORBIDDEN, t.not_yours);
    }
    let command = match action.as_str() {
        "login" => AgentCommand::Login(Vec::new()),
        "logout" => AgentCommand::Logout,
        "pause" => match given(&f.reason) {
            Some(r) => AgentCommand::Pause(r),
            None => return refuse(StatusCode::BAD_REQUEST, t.reason),
        },
        "unpause" => AgentCommand::Unpause,
        _ => return refuse(StatusCode::NOT_FOUND, t.no_such_agent),
    };
    carry_out(
        &s,
        &viewer,
        Command::Agent {
            agent: ext,
            command,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(on: Option<&str>, to: Option<&str>, queue: Option<&str>) -> ActionForm {
        ActionForm {
            csrf: None,
            on: on.map(String::from),
            to: to.map(String::from),
            queue: queue.map(String::from),
            reason: None,
        }
    }

    #[test]
    fn buttons_name_the_engine_s_actions() {
        assert_eq!(
            call_action("hold", &form(Some("true"), None, None)),
            Some(CallAction::Hold(true))
        );
        assert_eq!(
            call_action("mute", &form(Some("false"), None, None)),
            Some(CallAction::Mute(false))
        );
        assert_eq!(
            call_action("consult", &form(None, Some(" 1005 "), None)),
            Some(CallAction::Consult("1005".into()))
        );
        assert_eq!(
            call_action("consult", &form(None, Some(""), Some("consultation"))),
            Some(CallAction::ConsultQueue("consultation".into()))
        );
        assert_eq!(call_action("consult", &form(None, Some(" "), None)), None);
        assert_eq!(call_action("transfer", &form(None, None, None)), None);
        assert_eq!(call_action("explode", &form(None, None, None)), None);
        assert_eq!(
            call_action("complete", &form(None, None, None)),
            Some(CallAction::Complete)
        );
    }
}
