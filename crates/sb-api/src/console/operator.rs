//! The operators' console: the hospital's directory (extensions, departments, today's
//! on-duty roster) with each phone's presence live and a search as you type; every call
//! now; the operator's own call with transfer (blind) or consult (attended) to any
//! directory entry or an outside number; a call to any entry or typed number, placed from
//! the operator's phone; a transfer nobody answered is shown as having come back.

use super::agent::live_for;
use super::auth::Viewer;
use super::live::View;
use super::text::Text;
use super::{live_page, live_stream, pickers, Frame, Pickers};
use crate::access::Role;
use crate::http::Shared;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use sb_types::vocab::LiveState;
use std::sync::Arc;

pub(crate) struct DirRow {
    pub(crate) number: String,
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    pub(crate) on_duty: bool,
    pub(crate) presence: &'static str,
    pub(crate) presence_label: &'static str,
    /// Lower-case number and name, for the search.
    pub(crate) search: String,
}

pub(crate) struct CallRow {
    pub(crate) id: u64,
    pub(crate) caller: String,
    pub(crate) dialled: String,
    pub(crate) state: &'static str,
    pub(crate) queue: String,
    pub(crate) agent: String,
    pub(crate) held: bool,
    /// A transfer of this call that nobody answered: to whom.
    pub(crate) came_back: Option<String>,
}

#[derive(Template)]
#[template(path = "operator_live.html")]
pub(crate) struct OperatorLive {
    pub(crate) t: &'static Text,
    /// The operator's own part (state, call), as the agent's console renders it.
    pub(crate) me: String,
    /// The operator's call now, which the directory's buttons act on.
    pub(crate) my_call: Option<u64>,
    /// The operator has an extension and no call placed for it under way: the directory
    /// offers to call each entry.
    pub(crate) can_dial: bool,
    pub(crate) came_back: Option<String>,
    pub(crate) directory: Vec<DirRow>,
    pub(crate) calls: Vec<CallRow>,
}

#[derive(Template)]
#[template(path = "operator.html")]
struct OperatorPage {
    frame: Frame,
    live: String,
    pickers: Pickers,
}

/// The operator's console as `t` shows `view` to the operator on extension `ext`.
pub(crate) fn board(s: &Shared, t: &'static Text, ext: Option<&str>, view: &View) -> OperatorLive {
    let snap = &view.snap;
    let settings = &s.console.settings;
    let me = ext
        .and_then(|e| live_for(t, e, view, settings.sla))
        .and_then(|a| a.render().ok())
        .unwrap_or_default();
    let my_call = ext.and_then(|e| {
        snap.calls
            .iter()
            .find(|c| c.agent.as_deref() == Some(e))
            .map(|c| c.id.0)
    });
    let directory = settings
        .directory
        .iter()
        .map(|d| {
            let presence = snap
                .presence
                .iter()
                .find(|(n, _)| *n == d.number)
                .map_or(sb_engine::Presence::Offline, |(_, p)| *p);
            DirRow {
                number: d.number.clone(),
                name: d.name.clone(),
                kind: t.extension_kind(d.kind),
                on_duty: d.on_duty,
                presence: presence.as_str(),
                presence_label: t.presence(presence),
                search: format!("{} {}", d.number, d.name).to_lowercase(),
            }
        })
        .collect();
    let calls = snap
        .calls
        .iter()
        .map(|c| CallRow {
            id: c.id.0,
            caller: c.caller.clone(),
            dialled: c.dialled.clone(),
            state: match c.state {
                LiveState::Ivr => t.in_ivr,
                LiveState::Waiting => t.waiting,
                LiveState::Talking => t.on_call,
            },
            queue: c.queue.clone().unwrap_or_default(),
            agent: c.agent.clone().unwrap_or_default(),
            held: c.held,
            came_back: view.returned.get(&c.id.0).cloned(),
        })
        .collect();
    let can_dial = ext.is_some_and(|e| !snap.calls.iter().any(|c| c.placed && c.caller == e));
    OperatorLive {
        t,
        me,
        can_dial,
        came_back: my_call.and_then(|id| view.returned.get(&id).cloned()),
        my_call,
        directory,
        calls,
    }
}

fn fragment(s: &Shared, viewer: &Viewer, view: &View) -> Option<Arc<str>> {
    let user = viewer.user(&s.console);
    board(s, Text::of(user.language), user.agent.as_deref(), view)
        .render()
        .ok()
        .map(Arc::from)
}

/// `GET /console/operator`: operators and up.
pub(crate) async fn page(State(s): State<Arc<Shared>>, viewer: Viewer) -> Response {
    let allowed = viewer.user(&s.console).role >= Role::Operator;
    let pickers = pickers(&s.console.settings);
    live_page(
        &s,
        &viewer,
        "/console/operator",
        allowed,
        fragment,
        |frame, live| OperatorPage {
            frame,
            live,
            pickers,
        },
    )
    .await
}

/// `GET /console/live/operator`: the console's live part, as `operator` events.
pub(crate) async fn live(State(s): State<Arc<Shared>>, viewer: Viewer) -> Response {
    let allowed = viewer.user(&s.console).role >= Role::Operator;
    live_stream(s, viewer, allowed, "operator", fragment)
}
