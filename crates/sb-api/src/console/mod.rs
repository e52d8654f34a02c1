//! The web consoles, served by the API's thread on `http.listen`: server-rendered pages
//! (askama), small interactions with htmx, live parts pushed over Server-Sent Events.
//!
//! - [`auth`]: sign-in and sign-out, the session cookie, CSRF, the wrong-password throttle.
//! - [`live`]: one task takes the engine's snapshot when something happened (at most five
//!   times a second) and every open console renders its own part of it.
//! - [`agent`], [`operator`], [`wallboard`]: the pages and their live fragments;
//!   [`reports`]: the reports with charts and CSV.
//! - [`assets`]: the embedded scripts and styles; [`text`]: every word in both languages.

pub(crate) mod agent;
pub(crate) mod assets;
pub(crate) mod auth;
pub(crate) mod live;
pub(crate) mod operator;
pub(crate) mod reports;
pub(crate) mod text;
pub(crate) mod wallboard;

use crate::access::Role;
use crate::session::{SessionLimits, Sessions, Throttle};
use crate::users::ConsoleUser;
use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Mutex;
use std::time::Duration;
use text::Text;

/// The consoles' routes: sign-in and out, the pages, their live streams and actions.
pub(crate) fn routes() -> axum::Router<std::sync::Arc<crate::http::Shared>> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/", get(auth::root))
        .route("/signin", get(auth::form).post(auth::sign_in))
        .route("/signout", post(auth::sign_out))
        .route("/console/agent", get(agent::page))
        .route("/console/live/agent", get(agent::live))
        .route("/console/operator", get(operator::page))
        .route("/console/live/operator", get(operator::live))
        .route("/console/wallboard", get(wallboard::page))
        .route("/console/live/wallboard", get(wallboard::live))
        .route("/console/reports", get(reports::page))
        .route("/console/reports.csv", get(reports::csv))
        .route("/console/calls", post(agent::place))
        .route("/console/calls/{id}/{action}", post(agent::act_on_call))
        .route("/console/agents/{ext}/{action}", post(agent::act_on_agent))
}

/// One entry of the hospital's directory, for the consoles' pickers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub number: String,
    pub name: String,
    /// `agent`, `operator` or `department`.
    pub kind: &'static str,
    /// On today's on-duty roster.
    pub on_duty: bool,
}

/// What the configuration gives the consoles.
#[derive(Debug, Clone, Default)]
pub struct ConsoleSettings {
    /// `[[http.users]]`.
    pub users: Vec<ConsoleUser>,
    pub sessions: SessionLimits,
    /// The extensions, departments and on-duty roster.
    pub directory: Vec<DirectoryEntry>,
    /// The queues' names.
    pub queues: Vec<String>,
    /// The answer threshold (three rings) and one ring.
    pub sla: Duration,
    pub ring_cycle: Duration,
}

/// The consoles' state on the API's thread.
pub(crate) struct Console {
    pub(crate) settings: ConsoleSettings,
    pub(crate) sessions: Mutex<Sessions>,
    /// Wrong passwords per user name, and per client address.
    pub(crate) by_name: Mutex<Throttle>,
    pub(crate) by_addr: Mutex<Throttle>,
    pub(crate) live: live::Live,
}

/// Wrong passwords in a row a user name may give before it is locked, and a client address.
const FREE_PER_NAME: u32 = 3;
const FREE_PER_ADDR: u32 = 10;

impl Console {
    pub(crate) fn new(settings: ConsoleSettings) -> Console {
        Console {
            sessions: Mutex::new(Sessions::new(settings.sessions)),
            by_name: Mutex::new(Throttle::new(FREE_PER_NAME)),
            by_addr: Mutex::new(Throttle::new(FREE_PER_ADDR)),
            live: live::Live::new(),
            settings,
        }
    }
}

/// A link of the consoles' navigation.
pub(crate) struct Nav {
    pub(crate) href: &'static str,
    pub(crate) label: &'static str,
    pub(crate) current: bool,
}

/// What every console page shows around its content.
pub(crate) struct Frame {
    pub(crate) t: &'static Text,
    pub(crate) title: &'static str,
    pub(crate) user: String,
    pub(crate) csrf: String,
    pub(crate) nav: Vec<Nav>,
    /// The engine's wall clock when the page was rendered (Unix ms; 0: unknown), for the
    /// clocks of `console.js`.
    pub(crate) engine_ms: i64,
}

/// The pages a user of `user`'s role may open, `current` marked.
pub(crate) fn frame(user: &ConsoleUser, csrf: &str, current: &'static str) -> Frame {
    let t = Text::of(user.language);
    let mut nav = Vec::new();
    let mut add = |href: &'static str, label: &'static str| {
        nav.push(Nav {
            href,
            label,
            current: href == current,
        })
    };
    if user.agent.is_some() && user.role == Role::Agent {
        add("/console/agent", t.agent_console);
    }
    if user.role >= Role::Operator {
        add("/console/operator", t.operator_console);
    }
    if user.role >= Role::Supervisor {
        add("/console/wallboard", t.wallboard);
        add("/console/reports", t.reports);
    }
    let title = nav
        .iter()
        .find(|n| n.current)
        .map_or(t.product, |n| n.label);
    Frame {
        t,
        title,
        user: user.name.clone(),
        csrf: csrf.to_string(),
        nav,
        engine_ms: 0,
    }
}

/// `frame`, with the engine's time of `view`.
pub(crate) fn frame_at(
    user: &ConsoleUser,
    csrf: &str,
    current: &'static str,
    view: Option<&live::View>,
) -> Frame {
    let mut f = frame(user, csrf, current);
    f.engine_ms = view.map_or(0, |v| v.snap.wall.ms(v.snap.now));
    f
}

/// What the consoles' pickers offer: the directory's numbers and names, the queues.
pub(crate) struct Pickers {
    pub(crate) targets: Vec<(String, String)>,
    pub(crate) queues: Vec<String>,
}

pub(crate) fn pickers(settings: &ConsoleSettings) -> Pickers {
    Pickers {
        targets: settings
            .directory
            .iter()
            .map(|d| (d.number.clone(), d.name.clone()))
            .collect(),
        queues: settings.queues.clone(),
    }
}

/// A console page with a live part: 403 unless `allowed`; otherwise a fresh view of the
/// engine, `fragment` of it for this viewer, and `page` around it.
pub(crate) async fn live_page<P: Template>(
    s: &std::sync::Arc<crate::http::Shared>,
    viewer: &auth::Viewer,
    current: &'static str,
    allowed: bool,
    fragment: live::Fragment,
    page: impl FnOnce(Frame, String) -> P,
) -> Response {
    let user = viewer.user(&s.console);
    if !allowed {
        return forbidden(user, &viewer.csrf);
    }
    let view = s.console.live.fresh(s).await;
    let live = view
        .as_deref()
        .and_then(|v| fragment(s, viewer, v))
        .map(|f| f.to_string())
        .unwrap_or_default();
    let frame = frame_at(user, &viewer.csrf, current, view.as_deref());
    render(StatusCode::OK, &page(frame, live))
}

/// A console's live part as `name` events over SSE: 403 unless `allowed`.
pub(crate) fn live_stream(
    s: std::sync::Arc<crate::http::Shared>,
    viewer: auth::Viewer,
    allowed: bool,
    name: &'static str,
    fragment: live::Fragment,
) -> Response {
    if !allowed {
        return StatusCode::FORBIDDEN.into_response();
    }
    live::stream(s, viewer, name, fragment).into_response()
}

/// Where a user lands after signing in.
pub(crate) fn home(user: &ConsoleUser) -> &'static str {
    match user.role {
        Role::Agent => "/console/agent",
        Role::Operator => "/console/operator",
        Role::Supervisor | Role::Admin => "/console/wallboard",
    }
}

#[derive(Template)]
#[template(path = "forbidden.html")]
struct Forbidden {
    frame: Frame,
}

/// 403 as a page: the user is signed in, their role may not open this.
pub(crate) fn forbidden(user: &ConsoleUser, csrf: &str) -> Response {
    render(
        StatusCode::FORBIDDEN,
        &Forbidden {
            frame: frame(user, csrf, ""),
        },
    )
}

/// A page or fragment as HTML, with the headers every console response carries: no
/// caching, no framing, scripts and styles only from the switchboard itself.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!(error = %e, "a console page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "page failed to render").into_response()
        }
    }
}

pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not no-referrer: with it, browsers send `Origin: null` on form posts, which the
    // origin check must refuse.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// A refusal of a console action: the words for the person who clicked, shown by
/// `console.js` in the page's message area.
pub(crate) fn refuse(status: StatusCode, words: &str) -> Response {
    let mut r = (status, words.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// `m:ss` or `h:mm:ss` of a number of seconds, as the clocks show it before `console.js`
/// takes them over.
pub(crate) fn clock_text(secs: i64) -> String {
    let s = secs.max(0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A fraction as a whole percentage, or a dash.
pub(crate) fn percent(f: Option<f64>) -> String {
    f.map_or_else(|| "–".to_string(), |f| format!("{:.0}%", f * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_and_percentages_read_as_people_write_them() {
        assert_eq!(clock_text(0), "0:00");
        assert_eq!(clock_text(75), "1:15");
        assert_eq!(clock_text(3725), "1:02:05");
        assert_eq!(clock_text(-4), "0:00");
        assert_eq!(percent(Some(0.876)), "88%");
        assert_eq!(percent(None), "–");
    }
}
