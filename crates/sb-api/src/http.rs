//! The control API (HTTP, JSON) on `http.listen`, on its own thread so that nothing it does
//! (a report over a month, a slow client) touches the engine's loop. Every request but the
//! health check carries a bearer token from the configuration; the token's role decides what
//! it may do. The reports need the supervisor role: their volumes are confidential. Live
//! calls are listed and controlled through the engine's loop (see `control`): an agent's
//! token sees and acts on its own calls only, and sees patients' numbers masked; operators,
//! supervisors and admins act on any call.

use crate::access::{ApiToken, Role};
use crate::control::{Command, ControlRequest, ControlSender, Reply};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sb_engine::{AgentCommand, CallAction, ControlError};
use sb_store::report::{self, GroupBy, Period, PeriodKind, ReportSettings};
use serde_json::json;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub struct ApiSettings {
    pub listen: SocketAddr,
    pub tokens: Vec<ApiToken>,
    pub store_path: PathBuf,
    pub reports: ReportSettings,
    /// To the engine's loop; `None` answers the live endpoints 503.
    pub control: Option<ControlSender>,
    /// The engine's events, for `GET /api/v1/events`.
    pub events: Option<crate::events::EventSender>,
    /// Who signs in to the web consoles, and what their pickers offer.
    pub console: crate::console::ConsoleSettings,
    /// `http.metrics_token`: the bearer token for `/metrics` on `listen`.
    pub metrics_token: Option<String>,
    /// `http.metrics_listen`: `/metrics` alone, without a token, on an address of its own.
    pub metrics_listen: Option<SocketAddr>,
}

/// What every request handler shares: the configuration's part of the API and consoles,
/// the way to the engine, the consoles' sessions.
pub(crate) struct Shared {
    pub(crate) tokens: Vec<ApiToken>,
    pub(crate) store_path: PathBuf,
    pub(crate) reports: ReportSettings,
    pub(crate) control: Option<ControlSender>,
    pub(crate) events: Option<crate::events::EventSender>,
    pub(crate) console: crate::console::Console,
    /// What Prometheus presents for `/metrics` on `http.listen`.
    pub(crate) metrics_token: Option<String>,
}

/// A refusal, as the JSON `{"error": "..."}` with its status.
pub(crate) struct ApiError(pub(crate) StatusCode, pub(crate) String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"switchboard\""),
            );
        }
        r
    }
}

/// The bearer token a request carries (`Authorization: Bearer <token>`).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

pub(crate) fn caller<'a>(s: &'a Shared, headers: &HeaderMap) -> Result<&'a ApiToken, ApiError> {
    let given = bearer(headers).ok_or_else(|| {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "missing bearer token (Authorization: Bearer <token>)".into(),
        )
    })?;
    let mut found = None;
    for t in &s.tokens {
        if crate::session::same_secret(&t.token, given) {
            found = Some(t);
        }
    }
    found.ok_or_else(|| ApiError(StatusCode::UNAUTHORIZED, "unknown token".into()))
}

/// Today in the reports' zone, from the wall clock.
#[allow(
    clippy::disallowed_methods,
    reason = "the API runs on its own thread, outside the engine: \"today\" is the wall clock's"
)]
pub(crate) fn today(offset_min: i32) -> (i64, i64, i64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    report::local_date(now, offset_min)
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /api/v1/reports/{daily|weekly|monthly}?date=YYYY-MM-DD&by=queue|agent|media|region|trunk|did|shift|total`
async fn reports(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(period): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let who = caller(&s, &headers)?;
    if who.role < Role::Supervisor {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "the reports need the supervisor role".into(),
        ));
    }
    let bad = |field: &str, e: String| ApiError(StatusCode::BAD_REQUEST, format!("{field}: {e}"));
    let kind: PeriodKind = period.parse().map_err(|e| bad("period", e))?;
    if let Some(k) = q.keys().find(|k| *k != "date" && *k != "by") {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("{k}: unknown parameter (date and by are known)"),
        ));
    }
    let day = match q.get("date") {
        Some(d) => report::parse_date(d).ok_or_else(|| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("date: `{d}` is not a date (YYYY-MM-DD)"),
            )
        })?,
        None => today(s.reports.utc_offset_min),
    };
    let by: GroupBy = q
        .get("by")
        .map(String::as_str)
        .unwrap_or("queue")
        .parse()
        .map_err(|e| bad("by", e))?;
    let p = Period::containing(kind, day, s.reports.utc_offset_min);
    let r = run_report(&s, p, by).await?;
    Ok(Json(json!({
        "period": r.period,
        "formula": s.reports.formula(),
        "rows": r.rows,
    })))
}

/// Runs one report on the store (the API, the consoles' report pages and figures).
pub(crate) async fn run_report(
    s: &Arc<Shared>,
    p: Period,
    by: GroupBy,
) -> Result<report::Report, ApiError> {
    let settings = s.reports.clone();
    on_store(s, move |conn, path| {
        Box::pin(async move { report::run(conn, path, p, by, &settings).await })
    })
    .await
}

/// What a job on the store returns: its future, borrowing the connection.
type StoreJob<'c, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, sb_store::StoreError>> + 'c>>;

/// Runs `job` on the store opened for reading. sqlx's opening future is not provably Send
/// (a higher-ranked lifetime in its migrator), so the job runs on a blocking thread with a
/// runtime of its own.
async fn on_store<T, F>(s: &Arc<Shared>, job: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut sb_store::db::Db, &'c std::path::Path) -> StoreJob<'c, T>
        + Send
        + 'static,
{
    let path = s.store_path.clone();
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let mut conn = sb_store::db::open(&path, sb_store::db::Access::Read).await?;
            job(&mut conn, &path).await
        })
        .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| ApiError(StatusCode::SERVICE_UNAVAILABLE, e))
}

/// `GET /api/v1/callbacks?status=pending|worklist|reached|called_again`: the callback list,
/// oldest request first (operators and up; numbers in full).
async fn callbacks(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let who = caller(&s, &headers)?;
    if who.role < Role::Operator {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "the callback list needs the operator role".into(),
        ));
    }
    if let Some(k) = q.keys().find(|k| *k != "status") {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("{k}: unknown parameter (status is known)"),
        ));
    }
    let status = q.get("status").cloned();
    if let Some(st) = status.as_deref() {
        if !sb_store::worklist::STATUSES.contains(&st) {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!(
                    "status: `{st}` is none of {}",
                    sb_store::worklist::STATUSES.join(", ")
                ),
            ));
        }
    }
    let list: Vec<sb_store::worklist::CallbackEntry> = on_store(&s, move |conn, path| {
        Box::pin(
            async move { sb_store::worklist::callback_list(conn, path, status.as_deref()).await },
        )
    })
    .await?;
    Ok(Json(json!({ "callbacks": list })))
}

/// Sends `command` to the engine's loop and waits for its answer.
async fn ask(s: &Shared, who: &ApiToken, command: Command) -> Result<Reply, ApiError> {
    ask_as(s, who.role, who.agent.as_deref(), command).await
}

/// Sends `command` to the engine's loop for someone of `role` (an agent: acting for
/// `agent`) and waits for its answer.
pub(crate) async fn ask_as(
    s: &Shared,
    role: Role,
    agent: Option<&str>,
    command: Command,
) -> Result<Reply, ApiError> {
    let down = || {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the engine is not running".into(),
        )
    };
    let tx = s.control.as_ref().ok_or_else(down)?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let agent = if role == Role::Agent {
        // Validation gives every agent its extension; one without sees nothing.
        Some(agent.unwrap_or_default().to_string())
    } else {
        None
    };
    tx.send(ControlRequest {
        command,
        agent,
        reply,
    })
    .await
    .map_err(|_| down())?;
    answer.await.map_err(|_| down())
}

/// `GET /api/v1/calls`: every call now (an agent's token: its own), with its live state.
async fn list_calls(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let who = caller(&s, &headers)?;
    let Reply::Calls(calls) = ask(&s, who, Command::ListCalls).await? else {
        return Err(unexpected());
    };
    let show_numbers = who.role >= Role::Operator;
    let rows: Vec<serde_json::Value> = calls
        .iter()
        .map(|c| {
            json!({
                "id": c.id.0,
                // A callback dials the patient's own number.
                "dialled": if show_numbers || c.callback_requested.is_none() { c.dialled.clone() } else { sb_types::pii::mask_number(&c.dialled) },
                "caller": if show_numbers { c.caller.clone() } else { sb_types::pii::mask_number(&c.caller) },
                "callback": c.callback_requested.is_some(),
                "state": c.state,
                "queue": c.queue,
                "agent": c.agent,
                "held": c.held,
                "muted": c.muted,
                "strangers": { "caller": c.strangers_caller, "agents": c.strangers_agents },
            })
        })
        .collect();
    Ok(Json(json!({ "calls": rows })))
}

/// The body of hold and mute: `{"on": true}` or `{"on": false}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OnOff {
    on: bool,
}

/// The body of transfer and consult: `{"to": "2001"}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct To {
    to: String,
}

/// The body of consult: `{"to": "1005"}`, or `{"queue": "consultation"}` for whichever
/// member of the queue is free.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsultTarget {
    to: Option<String>,
    queue: Option<String>,
}

/// `POST /api/v1/calls/{id}/hold`, `.../mute` (body `{"on": bool}`), `.../hangup`,
/// `.../transfer` and `.../consult` (body `{"to": "extension"}`), and during a
/// consultation `.../back`, `.../swap`, `.../complete`.
async fn call_action(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let who = caller(&s, &headers)?;
    let bad = |msg: String| ApiError(StatusCode::BAD_REQUEST, msg);
    let call: u64 = id
        .parse()
        .map_err(|_| bad(format!("id: `{id}` is not a call id (a number)")))?;
    let on = || -> Result<bool, ApiError> {
        serde_json::from_slice::<OnOff>(&body)
            .map(|b| b.on)
            .map_err(|e| bad(format!("body: {e} (expected {{\"on\": true|false}})")))
    };
    let to = || -> Result<String, ApiError> {
        serde_json::from_slice::<To>(&body)
            .map(|b| b.to)
            .map_err(|e| bad(format!("body: {e} (expected {{\"to\": \"extension\"}})")))
    };
    let act = match action.as_str() {
        "hold" => CallAction::Hold(on()?),
        "mute" => CallAction::Mute(on()?),
        "hangup" => CallAction::HangUp,
        "transfer" => CallAction::Transfer(to()?),
        "consult" => {
            let t = serde_json::from_slice::<ConsultTarget>(&body).map_err(|e| {
                bad(format!(
                    "body: {e} (expected {{\"to\": \"extension\"}} or {{\"queue\": \"name\"}})"
                ))
            })?;
            match (t.to, t.queue) {
                (Some(to), None) => CallAction::Consult(to),
                (None, Some(q)) => CallAction::ConsultQueue(q),
                _ => {
                    return Err(bad(
                        "body: give one of `to` (an extension) and `queue`".to_string(),
                    ))
                }
            }
        }
        "back" => CallAction::Back,
        "swap" => CallAction::Swap,
        "complete" => CallAction::Complete,
        "join" => CallAction::Join,
        "survey" => CallAction::Survey,
        other => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("{other}: no such action (hold, mute, hangup, transfer, consult, back, swap, complete, join, survey)"),
            ))
        }
    };
    let reply = ask(&s, who, Command::Call { call, action: act }).await?;
    outcome(
        reply,
        &format!("call {call}"),
        json!({ "call": call, "done": action }),
    )
}

/// The body of placing a call: `{"from": "1100", "to": "2001"}` (`from` left out with an
/// agent's token: its own extension).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceBody {
    from: Option<String>,
    to: String,
}

/// `POST /api/v1/calls`: places a call: the `from` extension's phone rings, and once
/// answered `to` (an extension, the on-duty number or an outside number) is rung and
/// bridged. An agent's token places calls from its own extension only.
async fn place_call(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let who = caller(&s, &headers)?;
    let bad = |msg: String| ApiError(StatusCode::BAD_REQUEST, msg);
    let b: PlaceBody = serde_json::from_slice(&body).map_err(|e| {
        bad(format!(
            "body: {e} (expected {{\"from\": \"extension\", \"to\": \"number\"}})"
        ))
    })?;
    let from = b
        .from
        .or_else(|| who.agent.clone())
        .ok_or_else(|| bad("from: which extension places the call?".to_string()))?;
    let to = b.to.trim().to_string();
    if to.is_empty() {
        return Err(bad("to: a number to call".to_string()));
    }
    let reply = ask(
        &s,
        who,
        Command::Place {
            from: from.clone(),
            to,
        },
    )
    .await?;
    if let Reply::Placed(id) = reply {
        return Ok(Json(json!({ "call": id.0, "from": from })));
    }
    outcome(reply, &format!("extension {from}"), json!({}))
}

/// An action's answer from the engine as HTTP: `done` or the refusal naming `subject`.
fn outcome(
    reply: Reply,
    subject: &str,
    done: serde_json::Value,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (status, msg) = match reply {
        Reply::Done => return Ok(Json(done)),
        Reply::NotYours => (
            StatusCode::FORBIDDEN,
            format!("{subject} is not this token's agent's"),
        ),
        Reply::Failed(ControlError::NoSuchCall) => {
            (StatusCode::NOT_FOUND, format!("{subject}: no such call"))
        }
        Reply::Failed(ControlError::NotBridged) => (
            StatusCode::CONFLICT,
            format!("{subject} is not with an agent: this needs a bridged call"),
        ),
        Reply::Failed(ControlError::UnknownExtension(e)) => (
            StatusCode::BAD_REQUEST,
            format!("to: `{e}` is no other extension, and no outbound rule covers it"),
        ),
        Reply::Failed(ControlError::NoSuchQueue(q)) => {
            (StatusCode::BAD_REQUEST, format!("queue: no queue `{q}`"))
        }
        Reply::Failed(e @ ControlError::NobodyFree(_)) => {
            (StatusCode::CONFLICT, format!("{subject}: {e}"))
        }
        Reply::Failed(e @ ControlError::OutsideRefused(_)) => {
            (StatusCode::FORBIDDEN, format!("to: {e}"))
        }
        Reply::Failed(
            e @ (ControlError::Consulting
            | ControlError::NotConsulting
            | ControlError::NotAnswered
            | ControlError::Joined),
        ) => (StatusCode::CONFLICT, format!("{subject}: {e}")),
        Reply::Failed(ControlError::NoSuchAgent) => {
            (StatusCode::NOT_FOUND, format!("{subject}: no such agent"))
        }
        Reply::Failed(ControlError::NotAMember(q)) => (
            StatusCode::BAD_REQUEST,
            format!("queues: {subject} is not a member of `{q}`"),
        ),
        Reply::Failed(e @ ControlError::PhoneOffline(_)) => {
            (StatusCode::CONFLICT, format!("from: {e}"))
        }
        Reply::Failed(e @ ControlError::Stopping) => {
            (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        Reply::Calls(_)
        | Reply::Agents(_)
        | Reply::Queues(_)
        | Reply::Trunks(_)
        | Reply::Snapshot(_)
        | Reply::Metrics(_)
        | Reply::Placed(_) => return Err(unexpected()),
    };
    Err(ApiError(status, msg))
}

/// `GET /api/v1/agents`: every agent's state (an agent's token: its own).
async fn list_agents(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let who = caller(&s, &headers)?;
    let Reply::Agents(agents) = ask(&s, who, Command::ListAgents).await? else {
        return Err(unexpected());
    };
    let rows: Vec<serde_json::Value> = agents
        .iter()
        .map(|a| {
            json!({
                "agent": a.id,
                "state": a.state,
                "paused": a.paused,
                "reachable": a.reachable,
                "logged_in": a.logged_in,
                "member_of": a.member_of,
            })
        })
        .collect();
    Ok(Json(json!({ "agents": rows })))
}

/// `GET /api/v1/queues`: each queue now.
async fn list_queues(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let who = caller(&s, &headers)?;
    let Reply::Queues(queues) = ask(&s, who, Command::ListQueues).await? else {
        return Err(unexpected());
    };
    let rows: Vec<serde_json::Value> = queues
        .iter()
        .map(|q| {
            json!({
                "queue": q.name,
                "waiting": q.waiting,
                "longest_wait_s": q.longest_wait.as_secs(),
                "agents": q.agents,
            })
        })
        .collect();
    Ok(Json(json!({ "queues": rows })))
}

/// `GET /api/v1/trunks`: each carrier's trunk now (operators and up).
async fn list_trunks(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let who = caller(&s, &headers)?;
    if who.role < Role::Operator {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "trunks need the operator role or above".into(),
        ));
    }
    let Reply::Trunks(trunks) = ask(&s, who, Command::ListTrunks).await? else {
        return Err(unexpected());
    };
    Ok(Json(json!({ "trunks": trunks })))
}

/// `GET /api/v1/events`: the engine's typed events as Server-Sent Events, one JSON object
/// per event (see `events`), from now on; a listener that falls behind gets a `lagged`
/// event saying how many it missed.
async fn event_stream(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let who = caller(&s, &headers)?;
    if who.role < Role::Operator {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "the event stream needs the operator role or above".into(),
        ));
    }
    let rx = s
        .events
        .as_ref()
        .ok_or_else(|| {
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "the engine is not running".into(),
            )
        })?
        .subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        use tokio::sync::broadcast::error::RecvError;
        let ev = match rx.recv().await {
            Ok(text) => SseEvent::default().data(text.as_ref()),
            Err(RecvError::Lagged(n)) => SseEvent::default()
                .event("lagged")
                .data(format!("{{\"missed\":{n}}}")),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(ev), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn unexpected() -> ApiError {
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        "unexpected answer from the engine".into(),
    )
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Pause {
    reason: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Login {
    #[serde(default)]
    queues: Vec<String>,
}

/// `POST /api/v1/agents/{ext}/login` (body optional: `{"queues": [...]}`, none: all of the
/// agent's queues), `.../logout`, `.../pause` (`{"reason": "..."}`), `.../unpause`. An
/// agent's token acts for itself; supervisors and admins for anyone.
async fn agent_action(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((agent, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let who = caller(&s, &headers)?;
    if who.role != Role::Agent && who.role < Role::Supervisor {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "agents' log-in and pauses need the agent's own token or a supervisor's".into(),
        ));
    }
    let bad = |e: serde_json::Error, shape: &str| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("body: {e} (expected {shape})"),
        )
    };
    let command = match action.as_str() {
        "login" if body.iter().all(u8::is_ascii_whitespace) => AgentCommand::Login(Vec::new()),
        "login" => AgentCommand::Login(
            serde_json::from_slice::<Login>(&body)
                .map_err(|e| bad(e, "{\"queues\": [\"name\", ...]}"))?
                .queues,
        ),
        "logout" => AgentCommand::Logout,
        "pause" => {
            let p: Pause =
                serde_json::from_slice(&body).map_err(|e| bad(e, "{\"reason\": \"...\"}"))?;
            if p.reason.trim().is_empty() {
                return Err(ApiError(
                    StatusCode::BAD_REQUEST,
                    "reason: must not be empty".into(),
                ));
            }
            AgentCommand::Pause(p.reason)
        }
        "unpause" => AgentCommand::Unpause,
        other => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("{other}: no such action (login, logout, pause, unpause)"),
            ))
        }
    };
    let reply = ask(
        &s,
        who,
        Command::Agent {
            agent: agent.clone(),
            command,
        },
    )
    .await?;
    outcome(
        reply,
        &format!("agent {agent}"),
        json!({ "agent": agent, "done": action }),
    )
}

async fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "no such endpoint".into())
}

/// Binds `http.listen` now (so a taken port fails the start) and serves on a thread of its
/// own until the process ends. Returns the bound address.
pub fn spawn(settings: ApiSettings) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(settings.listen)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let live = settings.control.is_some();
    let shared = Arc::new(Shared {
        tokens: settings.tokens,
        store_path: settings.store_path,
        reports: settings.reports,
        control: settings.control,
        events: settings.events,
        console: crate::console::Console::new(settings.console),
        metrics_token: settings.metrics_token,
    });
    // Bound now too, so a taken port fails the start.
    let metrics_listener = match settings.metrics_listen {
        Some(addr) => {
            let l = std::net::TcpListener::bind(addr)?;
            l.set_nonblocking(true)?;
            tracing::info!(%addr, "metrics listening (no token)");
            Some(l)
        }
        None => None,
    };
    let metrics_app = Router::new()
        .route("/metrics", get(crate::metrics::open))
        .with_state(shared.clone());
    let app = crate::console::routes()
        .route("/assets/{name}", get(crate::console::assets::serve))
        .route("/api/v1/health", get(health))
        .route("/api/v1/reports/{period}", get(reports))
        .route("/api/v1/calls", get(list_calls).post(place_call))
        .route("/api/v1/callbacks", get(callbacks))
        .route("/api/v1/calls/{id}/{action}", post(call_action))
        .route("/api/v1/agents", get(list_agents))
        .route("/api/v1/agents/{agent}/{action}", post(agent_action))
        .route("/api/v1/queues", get(list_queues))
        .route("/api/v1/trunks", get(list_trunks))
        .route("/api/v1/events", get(event_stream))
        .route("/metrics", get(crate::metrics::guarded))
        .fallback(not_found)
        .with_state(shared.clone());
    std::thread::Builder::new()
        .name("sb-api".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return tracing::error!(error = %e, "control API runtime failed"),
            };
            rt.block_on(async move {
                if live {
                    tokio::spawn(crate::console::live::run(shared));
                }
                if let Some(l) = metrics_listener {
                    match tokio::net::TcpListener::from_std(l) {
                        Ok(l) => {
                            tokio::spawn(async move {
                                if let Err(e) = axum::serve(l, metrics_app).await {
                                    tracing::error!(error = %e, "metrics listener stopped");
                                }
                            });
                        }
                        Err(e) => tracing::error!(error = %e, "metrics socket unusable"),
                    }
                }
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        let app = app.into_make_service_with_connect_info::<SocketAddr>();
                        if let Err(e) = axum::serve(l, app).await {
                            tracing::error!(error = %e, "control API stopped");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "control API socket unusable"),
                }
            });
        })?;
    Ok(local)
}
