//! The supervisors' wallboard: per queue, patients waiting now and the longest wait (its
//! clock turns amber as it nears the three-ring threshold and red past it), today's service
//! level, answered and abandoned (the daily report's figures), agents by state; a queue
//! with more than three patients waiting is highlighted, as the hospital's rules ask. Below,
//! every agent's state with its time in state. Readable on a wall TV: large type, few
//! words, colours that carry the meaning together with a label.

use super::auth::Viewer;
use super::live::View;
use super::text::Text;
use super::{clock_text, live_page, live_stream, percent, Frame};
use crate::access::Role;
use crate::http::Shared;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use std::sync::Arc;
use std::time::Duration;

/// More patients than this waiting in one queue is highlighted (the hospital's rule: the
/// fourth waiting patient is one too many).
pub(crate) const CROWDED: usize = 3;

/// Agents listed at most (a wall TV's rows); the queues' rows count them all by state.
pub(crate) const AGENT_ROWS: usize = 48;

/// Which agents a supervisor looks at first: paused, then wrapping up, ringing, talking,
/// free, unreachable, logged out.
fn attention(state: &str) -> u8 {
    match state {
        "paused" => 0,
        "wrap_up" => 1,
        "offered" => 2,
        "on_call" => 3,
        "available" => 4,
        "unavailable" => 5,
        _ => 6,
    }
}

pub(crate) struct QueueRow {
    pub(crate) name: String,
    pub(crate) waiting: usize,
    pub(crate) crowded: bool,
    /// When the longest waiting patient joined (Unix ms), the clock's text now, and the
    /// instants it turns amber (one ring before the threshold) and red (the threshold).
    pub(crate) oldest_ms: Option<i64>,
    pub(crate) longest: String,
    pub(crate) near_ms: i64,
    pub(crate) over_ms: i64,
    /// `near`, `over` or empty, as rendered; `console.js` moves it on with the clock.
    pub(crate) level: &'static str,
    pub(crate) service_level: String,
    pub(crate) answered: i64,
    pub(crate) abandoned: i64,
    pub(crate) agents: Vec<(&'static str, &'static str, usize)>,
}

pub(crate) struct AgentRow {
    pub(crate) ext: String,
    pub(crate) state: &'static str,
    pub(crate) label: &'static str,
    pub(crate) since_ms: i64,
    pub(crate) since: String,
    pub(crate) reason: String,
}

#[derive(Template)]
#[template(path = "wallboard_live.html")]
pub(crate) struct WallboardLive {
    pub(crate) t: &'static Text,
    pub(crate) queues: Vec<QueueRow>,
    pub(crate) agents: Vec<AgentRow>,
    /// Agents not listed (beyond `AGENT_ROWS`).
    pub(crate) more_agents: usize,
    pub(crate) threshold_s: u64,
}

#[derive(Template)]
#[template(path = "wallboard.html")]
struct WallboardPage {
    frame: Frame,
    live: String,
}

/// The wallboard as `t` shows `view`; `sla` is the three-ring threshold and `ring` one ring.
pub(crate) fn board(t: &'static Text, view: &View, sla: Duration, ring: Duration) -> WallboardLive {
    let snap = &view.snap;
    let wall = |i| snap.wall.ms(i);
    let near_after = sla.saturating_sub(ring);
    let queues = snap
        .queues
        .iter()
        .map(|q| {
            let today = view.today.queues.get(&q.name);
            let level = match q.longest_wait {
                w if q.oldest.is_some() && w >= sla => "over",
                w if q.oldest.is_some() && w >= near_after => "near",
                _ => "",
            };
            QueueRow {
                name: q.name.clone(),
                waiting: q.waiting,
                crowded: q.waiting > CROWDED,
                oldest_ms: q.oldest.map(wall),
                longest: clock_text(q.longest_wait.as_secs() as i64),
                near_ms: q.oldest.map_or(0, |o| wall(o + near_after)),
                over_ms: q.oldest.map_or(0, |o| wall(o + sla)),
                level,
                service_level: percent(today.and_then(|r| r.service_level)),
                answered: today.map_or(0, |r| r.answered),
                abandoned: today.map_or(0, |r| r.abandoned),
                agents: q
                    .agents
                    .iter()
                    .map(|(state, n)| (*state, t.agent_state(state), *n))
                    .collect(),
            }
        })
        .collect();
    let mut agents: Vec<AgentRow> = snap
        .agents
        .iter()
        .map(|a| {
            let state = if a.logged_in.is_empty() {
                "logged_out"
            } else {
                a.state
            };
            AgentRow {
                ext: a.id.clone(),
                state,
                label: t.agent_state(state),
                since_ms: wall(a.since),
                since: clock_text(snap.now.saturating_duration_since(a.since).as_secs() as i64),
                reason: a.paused.clone().unwrap_or_default(),
            }
        })
        .collect();
    // Those needing attention first, the longest in their state first among equals.
    agents.sort_by(|a, b| {
        (attention(a.state), a.since_ms, &a.ext).cmp(&(attention(b.state), b.since_ms, &b.ext))
    });
    let more_agents = agents.len().saturating_sub(AGENT_ROWS);
    agents.truncate(AGENT_ROWS);
    WallboardLive {
        t,
        queues,
        agents,
        more_agents,
        threshold_s: sla.as_secs(),
    }
}

fn fragment(s: &Shared, viewer: &Viewer, view: &View) -> Option<Arc<str>> {
    let c = &s.console.settings;
    let t = viewer.text(&s.console);
    view.shared("wallboard", t.lang, || {
        board(t, view, c.sla, c.ring_cycle).render().ok()
    })
}

/// `GET /console/wallboard`: supervisors and admins.
pub(crate) async fn page(State(s): State<Arc<Shared>>, viewer: Viewer) -> Response {
    let allowed = viewer.user(&s.console).role >= Role::Supervisor;
    live_page(
        &s,
        &viewer,
        "/console/wallboard",
        allowed,
        fragment,
        |frame, live| WallboardPage { frame, live },
    )
    .await
}

/// `GET /console/live/wallboard`: the board, as `wallboard` events.
pub(crate) async fn live(State(s): State<Arc<Shared>>, viewer: Viewer) -> Response {
    let allowed = viewer.user(&s.console).role >= Role::Supervisor;
    live_stream(s, viewer, allowed, "wallboard", fragment)
}
