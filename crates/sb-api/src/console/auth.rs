//! Signing in and out of the consoles. A session is a random secret in an HttpOnly,
//! SameSite=Strict cookie; every state-changing request also carries the session's CSRF
//! token (htmx sends it as `X-CSRF-Token`, plain forms as the `csrf` field) and, when the
//! browser says where it comes from, an `Origin` of this very host. Wrong passwords are
//! throttled per user name and per client address; a locked key is refused without even
//! looking at the password, and an unknown name costs as much time as a known one.

use super::text::Text;
use super::{home, refuse, render, Console};
use crate::http::Shared;
use crate::session::{same_secret, Session};
use crate::users::{ConsoleUser, Language};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "sb_session";

/// The API thread's clock: sessions and throttles run on it.
#[allow(
    clippy::disallowed_methods,
    reason = "the API runs on its own thread, outside the engine: sessions expire by its clock"
)]
pub(crate) fn clock() -> Instant {
    Instant::now()
}

/// A signed-in user, from the session cookie.
pub(crate) struct Viewer {
    /// Index into the configured users.
    pub(crate) user: usize,
    pub(crate) csrf: String,
    /// The cookie's secret (for signing out).
    secret: String,
}

impl Viewer {
    pub(crate) fn user<'a>(&self, console: &'a Console) -> &'a ConsoleUser {
        &console.settings.users[self.user]
    }

    pub(crate) fn text(&self, console: &Console) -> &'static Text {
        Text::of(self.user(console).language)
    }

    /// Whether the session is still open, asked by its live stream at each update: a
    /// console open on a screen (a wallboard on the wall) is in use, so this counts as
    /// activity; the session still ends at its lifetime.
    pub(crate) fn still_signed_in(&self, s: &Shared) -> bool {
        s.console
            .sessions
            .lock()
            .is_ok_and(|mut sessions| sessions.touch(clock(), &self.secret).is_some())
    }

    /// The refusal (403) of a state-changing request that is not the session's own (see
    /// `checks`), in the viewer's words.
    pub(crate) fn forged(
        &self,
        console: &Console,
        headers: &HeaderMap,
        field: Option<&str>,
    ) -> Option<Response> {
        (!self.checks(headers, field))
            .then(|| refuse(StatusCode::FORBIDDEN, self.text(console).stale_form))
    }

    /// Whether a state-changing request is the session's own: its CSRF token (header or
    /// form field) and, if the browser sent one, an Origin of this host.
    pub(crate) fn checks(&self, headers: &HeaderMap, field: Option<&str>) -> bool {
        let token = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .or(field);
        token.is_some_and(|t| same_secret(t, &self.csrf)) && same_origin(headers)
    }
}

/// No Origin (an old browser, a same-origin GET), or one naming the Host the request was
/// sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let bare = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((bare, host), (Some(o), Some(h)) if o == h)
}

/// The value of cookie `name`.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

impl FromRequestParts<Arc<Shared>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &Arc<Shared>) -> Result<Self, Response> {
        let secret = cookie(&parts.headers, COOKIE).unwrap_or_default();
        let found: Option<Session> = s
            .console
            .sessions
            .lock()
            .ok()
            .and_then(|mut sessions| sessions.touch(clock(), secret).cloned());
        match found {
            Some(sess) if sess.user < s.console.settings.users.len() => Ok(Viewer {
                user: sess.user,
                csrf: sess.csrf,
                secret: secret.to_string(),
            }),
            _ => Err(to_sign_in(&parts.headers)),
        }
    }
}

/// Not signed in: a page goes to the sign-in page; an htmx request is told to send the
/// whole window there; anything else gets 401.
fn to_sign_in(headers: &HeaderMap) -> Response {
    if headers.contains_key("hx-request") {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut()
            .insert("hx-redirect", HeaderValue::from_static("/signin"));
        return r;
    }
    let wants_page = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_page {
        Redirect::to("/signin").into_response()
    } else {
        refuse(StatusCode::UNAUTHORIZED, "sign in first (/signin)")
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    t: &'static Text,
    name: String,
    error: Option<String>,
    other: (&'static str, &'static str),
}

fn sign_in_page(status: StatusCode, lang: Language, name: &str, error: Option<String>) -> Response {
    let t = Text::of(lang);
    let other = match lang {
        Language::Chinese => ("/signin?lang=en", "English"),
        Language::English => ("/signin", "中文"),
    };
    render(
        status,
        &SignInPage {
            t,
            name: name.to_string(),
            error,
            other,
        },
    )
}

fn page_language(q: &HashMap<String, String>) -> Language {
    q.get("lang")
        .and_then(|l| Language::parse(l))
        .unwrap_or_default()
}

/// `GET /`: the signed-in user's console, or the sign-in page.
pub(crate) async fn root(
    viewer: Result<Viewer, Response>,
    State(s): State<Arc<Shared>>,
) -> Response {
    match viewer {
        Ok(v) => Redirect::to(home(v.user(&s.console))).into_response(),
        Err(_) => Redirect::to("/signin").into_response(),
    }
}

/// `GET /signin` (`?lang=en` for English).
pub(crate) async fn form(Query(q): Query<HashMap<String, String>>) -> Response {
    sign_in_page(StatusCode::OK, page_language(&q), "", None)
}

#[derive(serde::Deserialize)]
pub(crate) struct SignIn {
    name: String,
    password: String,
    #[serde(default)]
    lang: Option<String>,
}

/// An Argon2id hash of a random password nobody knows, made once: an unknown user name is
/// checked against it, so it takes as long as a known one.
fn decoy() -> String {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY
        .get_or_init(|| {
            let mut secret = [0u8; 24];
            OsRng.fill_bytes(&mut secret);
            let words: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            crate::users::hash_password(&words).unwrap_or_default()
        })
        .clone()
}

/// `POST /signin` with `name` and `password`.
pub(crate) async fn sign_in(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<SignIn>,
) -> Response {
    let lang = f
        .lang
        .as_deref()
        .and_then(Language::parse)
        .unwrap_or_default();
    let t = Text::of(lang);
    if !same_origin(&headers) {
        return sign_in_page(StatusCode::FORBIDDEN, lang, "", Some(t.stale_form.into()));
    }
    let name = f.name.trim().to_string();
    let (name_key, addr_key) = (format!("name:{name}"), format!("addr:{}", peer.ip()));
    let c = &s.console;
    let now = clock();
    let locked = {
        let by_name = c.by_name.lock().ok();
        let by_addr = c.by_addr.lock().ok();
        let a = by_name.and_then(|t| t.check(now, &name_key).err());
        let b = by_addr.and_then(|t| t.check(now, &addr_key).err());
        a.max(b)
    };
    if let Some(wait) = locked {
        tracing::warn!(user = %name, addr = %peer.ip(), "console sign-in refused: throttled");
        return throttled(lang, &name, wait.as_secs().max(1));
    }
    let user = c.settings.users.iter().position(|u| u.name == name);
    let hash = user.map_or_else(decoy, |i| c.settings.users[i].password_hash.clone());
    let password = f.password;
    let good = tokio::task::spawn_blocking(move || crate::users::verify_hash(&hash, &password))
        .await
        .unwrap_or(false);
    let now = clock();
    let Some(user) = user.filter(|_| good) else {
        tracing::warn!(user = %name, addr = %peer.ip(), "console sign-in refused: wrong user name or password");
        let a = c
            .by_name
            .lock()
            .ok()
            .and_then(|mut t| t.failed(now, &name_key));
        let b = c
            .by_addr
            .lock()
            .ok()
            .and_then(|mut t| t.failed(now, &addr_key));
        if let Some(wait) = a.max(b) {
            return throttled(lang, &name, wait.as_secs().max(1));
        }
        return sign_in_page(
            StatusCode::UNAUTHORIZED,
            lang,
            &name,
            Some(t.wrong_password.into()),
        );
    };
    if let Ok(mut t) = c.by_name.lock() {
        t.succeeded(&name_key);
    }
    if let Ok(mut t) = c.by_addr.lock() {
        t.succeeded(&addr_key);
    }
    let (mut secret, mut csrf) = ([0u8; 32], [0u8; 32]);
    OsRng.fill_bytes(&mut secret);
    OsRng.fill_bytes(&mut csrf);
    let (key, max_age) = match c.sessions.lock() {
        Ok(mut sessions) => (
            sessions.open(now, user, secret, csrf),
            sessions.limits().lifetime.as_secs(),
        ),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let u = &c.settings.users[user];
    tracing::info!(user = %u.name, addr = %peer.ip(), "console sign-in");
    let mut r = Redirect::to(home(u)).into_response();
    let cookie = format!("{COOKIE}={key}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

fn throttled(lang: Language, name: &str, secs: u64) -> Response {
    let t = Text::of(lang);
    let mut r = sign_in_page(
        StatusCode::TOO_MANY_REQUESTS,
        lang,
        name,
        Some(format!("{} {secs} {}", t.throttled, t.seconds)),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

#[derive(serde::Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /signout` (with the session's `csrf`): the session is closed, the cookie cleared.
pub(crate) async fn sign_out(
    State(s): State<Arc<Shared>>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Some(refused) = viewer.forged(&s.console, &headers, f.csrf.as_deref()) {
        return refused;
    }
    if let Ok(mut sessions) = s.console.sessions.lock() {
        sessions.close(&viewer.secret);
    }
    tracing::info!(user = %viewer.user(&s.console).name, "console sign-out");
    let mut r = Redirect::to("/signin").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("sb_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::super::text::{EN, ZH};
    use super::*;

    #[test]
    fn the_decoy_is_a_real_hash_of_an_unknown_password() {
        let hash = decoy();
        assert!(hash.starts_with("$argon2id$"));
        assert_eq!(decoy(), hash, "made once");
        assert!(!crate::users::verify_hash(&hash, ""));
        assert_ne!(ZH.sign_in, EN.sign_in);
    }

    #[test]
    fn cookies_and_origins_are_read_strictly() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sb_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "sb"), None);
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h), "no Origin: a same-origin request");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }
}
