//! The control API through the real binary: tokens and roles, the reports for supervisors
//! only, and clear 4xx answers naming what is wrong.
#![allow(
    clippy::disallowed_methods,
    reason = "an end-to-end test: it drives real processes in real time"
)]

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const SUPERVISOR: &str = "demo-supervisor-token";
const OPERATOR: &str = "demo-operator-token";
const AGENT: &str = "demo-agent-1001-token";

fn api_addr(e: &Engine) -> SocketAddr {
    e.api()
}

/// One GET; returns the status, the headers and the body.
fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String, String) {
    request(addr, "GET", path, token, "")
}

/// One POST with a JSON body.
fn post(addr: SocketAddr, path: &str, token: Option<&str>, body: &str) -> (u16, String, String) {
    request(addr, "POST", path, token, body)
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let auth = token
        .map(|t| format!("\r\nAuthorization: Bearer {t}"))
        .unwrap_or_default();
    raw(
        addr,
        &format!("{method} {path} HTTP/1.1{auth}\r\nContent-Type: application/json"),
        body,
    )
}

fn error_of(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).expect("a JSON error");
    v["error"].as_str().expect("error text").to_string()
}

/// SIPp set up for one call to 8000 (tests/sipp/short_call.xml) that stays `hold_ms` in the
/// IVR before hanging up.
fn one_call(e: &Engine, name: &str, hold_ms: u32) -> std::process::Command {
    require_tool("sipp");
    let dir = scratch(name);
    let scenario = std::fs::read_to_string(workspace().join("tests/sipp/short_call.xml"))
        .expect("scenario")
        .replace("HOLD_MS", &hold_ms.to_string());
    std::fs::write(dir.join("short_call.xml"), scenario).expect("write");
    let mut sipp = std::process::Command::new("sipp");
    sipp.current_dir(&dir)
        .args([
            "-sf",
            "short_call.xml",
            "-s",
            "8000",
            "-au",
            "1001",
            "-ap",
            "demo-1001",
        ])
        .arg("-auth_uri")
        .arg(format!("8000@127.0.0.1:{}", e.port))
        .args(["-m", "1", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p"])
        .arg(free_port().to_string())
        .arg("-mp")
        .arg(free_media_port().to_string())
        .args(["-timeout", "40s", "-nostdin"])
        .arg(e.addr().to_string());
    sipp
}

#[test]
fn tokens_roles_and_the_reports() {
    let e = Engine::start("api", &["rtp.timer_spin_ms=0"]);
    let api = api_addr(&e);

    let (status, _, body) = get(api, "/api/v1/health", None);
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ok\"}"));

    let (status, head, body) = get(api, "/api/v1/reports/daily", None);
    assert_eq!(status, 401, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );
    assert!(error_of(&body).contains("bearer token"));
    let (status, _, body) = get(
        api,
        "/api/v1/reports/daily",
        Some("not-a-real-token-at-all"),
    );
    assert_eq!(status, 401);
    assert_eq!(error_of(&body), "unknown token");
    for t in [AGENT, OPERATOR] {
        let (status, _, body) = get(api, "/api/v1/reports/daily", Some(t));
        assert_eq!(status, 403, "{t}: {body}");
        assert!(error_of(&body).contains("supervisor"));
    }

    // The callback list: operators and up, a status it knows; a fresh database holds none.
    let (status, _, body) = get(api, "/api/v1/callbacks", Some(AGENT));
    assert_eq!(status, 403, "{body}");
    for (path, field) in [
        ("/api/v1/callbacks?status=lost", "status:"),
        ("/api/v1/callbacks?queue=x", "queue:"),
    ] {
        let (status, _, body) = get(api, path, Some(OPERATOR));
        assert_eq!(status, 400, "{path}: {body}");
        assert!(error_of(&body).starts_with(field), "{path}: {body}");
    }
    let (status, _, body) = get(api, "/api/v1/callbacks?status=worklist", Some(OPERATOR));
    assert_eq!((status, body.as_str()), (200, "{\"callbacks\":[]}"));

    for (path, field) in [
        ("/api/v1/reports/daily?by=colour", "by:"),
        ("/api/v1/reports/daily?date=2026-02-30", "date:"),
        ("/api/v1/reports/daily?dept=x", "dept:"),
        ("/api/v1/reports/hourly", "period:"),
    ] {
        let (status, _, body) = get(api, path, Some(SUPERVISOR));
        assert_eq!(status, 400, "{path}: {body}");
        assert!(error_of(&body).starts_with(field), "{path}: {body}");
    }
    let (status, _, body) = get(api, "/api/v1/nothing", Some(SUPERVISOR));
    assert_eq!(status, 404);
    assert!(error_of(&body).contains("no such endpoint"));

    // A call, then today's report shows it (records are written behind the engine).
    let out = one_call(&e, "api-call", 200).output().expect("sipp");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = get(api, "/api/v1/reports/daily?by=queue", Some(SUPERVISOR));
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert!(v["formula"]
            .as_str()
            .expect("formula")
            .contains("service level"));
        let rows = v["rows"].as_array().expect("rows");
        let total = rows.last().expect("the total row");
        assert_eq!(total["key"], "total");
        for k in [
            "offered",
            "answered",
            "abandoned",
            "service_level",
            "asa_s",
            "aht_s",
        ] {
            assert!(total.get(k).is_some(), "{k} in {total}");
        }
        if total["calls"].as_i64() == Some(1) {
            let none = rows
                .iter()
                .find(|r| r["key"] == "(no queue)")
                .expect("the IVR-only call's row");
            assert_eq!(none["calls"], 1);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the call never reached the report: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The calls the API lists for `token`.
fn calls(api: SocketAddr, token: &str) -> Vec<serde_json::Value> {
    let (status, _, body) = get(api, "/api/v1/calls", Some(token));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v["calls"].as_array().expect("calls").clone()
}

#[test]
fn live_calls_are_listed_and_controlled_by_role() {
    let e = Engine::start("api-live", &["rtp.timer_spin_ms=0"]);
    let api = api_addr(&e);
    let (status, _, _) = get(api, "/api/v1/calls", None);
    assert_eq!(status, 401);
    assert!(calls(api, OPERATOR).is_empty());
    // Bad requests name what is wrong.
    for (path, body, status, start) in [
        ("/api/v1/calls/abc/hold", "{\"on\": true}", 400, "id:"),
        (
            "/api/v1/calls/1/hold",
            "{}",
            400,
            "body: missing field `on`",
        ),
        (
            "/api/v1/calls/1/hold",
            "{\"on\": \"yes\"}",
            400,
            "body: invalid type",
        ),
        (
            "/api/v1/calls/1/mute",
            "{\"on\": true, \"x\": 1}",
            400,
            "body: unknown field `x`",
        ),
        ("/api/v1/calls/1/mute", "{\"on\": tru", 400, "body:"),
        (
            "/api/v1/calls/1/transfer",
            "{}",
            400,
            "body: missing field `to`",
        ),
        (
            "/api/v1/calls/1/consult",
            "{\"to\": 1005}",
            400,
            "body: invalid type",
        ),
        ("/api/v1/calls/1/swap", "", 404, "call 1: no such call"),
        ("/api/v1/calls/1/dance", "", 404, "dance: no such action"),
        (
            "/api/v1/calls/1/hold",
            "{\"on\": true}",
            404,
            "call 1: no such call",
        ),
    ] {
        let (got, _, text) = post(api, path, Some(OPERATOR), body);
        assert_eq!(got, status, "{path} {body}: {text}");
        assert!(error_of(&text).starts_with(start), "{path} {body}: {text}");
    }
    let (status, _, _) = post(
        api,
        "/api/v1/calls/1/hangup",
        Some("wrong-token-wrong-token"),
        "",
    );
    assert_eq!(status, 401);

    // A patient in the IVR: operators see the number, an agent's token not this call at all.
    let mut sipp = one_call(&e, "api-live-call", 20000)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sipp");
    let deadline = Instant::now() + Duration::from_secs(10);
    let live = loop {
        let c = calls(api, SUPERVISOR);
        if !c.is_empty() {
            break c;
        }
        assert!(Instant::now() < deadline, "the call never showed");
        std::thread::sleep(Duration::from_millis(100));
    };
    let id = live[0]["id"].as_u64().expect("id");
    assert_eq!(live[0]["state"], "ivr");
    assert_eq!(live[0]["caller"], "1001");
    assert_eq!(live[0]["dialled"], "8000");
    assert!(calls(api, AGENT).is_empty(), "not the agent's call");
    let (status, _, body) = post(
        api,
        &format!("/api/v1/calls/{id}/hold"),
        Some(AGENT),
        "{\"on\": true}",
    );
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = post(
        api,
        &format!("/api/v1/calls/{id}/hold"),
        Some(OPERATOR),
        "{\"on\": true}",
    );
    assert_eq!(status, 409, "{body}");
    assert!(error_of(&body).contains("not with an agent"));
    let (status, _, body) = post(
        api,
        &format!("/api/v1/calls/{id}/transfer"),
        Some(OPERATOR),
        "{\"to\": \"2001\"}",
    );
    assert_eq!(status, 409, "{body}");
    assert!(error_of(&body).contains("not with an agent"));
    let (status, _, body) = post(
        api,
        &format!("/api/v1/calls/{id}/hangup"),
        Some(OPERATOR),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !calls(api, SUPERVISOR).is_empty() {
        assert!(Instant::now() < deadline, "the call is still up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = sipp.kill();
    let _ = sipp.wait();
}

#[test]
fn agents_and_queues_over_http() {
    let e = Engine::start("api-agents", &["rtp.timer_spin_ms=0"]);
    let api = api_addr(&e);
    let agents = |token: &str| -> Vec<serde_json::Value> {
        let (status, _, body) = get(api, "/api/v1/agents", Some(token));
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        v["agents"].as_array().expect("agents").clone()
    };
    let mine = agents(AGENT);
    assert_eq!(mine.len(), 1, "an agent's token sees itself");
    assert_eq!(mine[0]["agent"], "1001");
    assert_eq!(mine[0]["reachable"], false, "no phone registered");
    assert_eq!(mine[0]["state"], "unavailable");
    assert!(agents(SUPERVISOR).len() >= 6);

    let (status, _, body) = post(
        api,
        "/api/v1/agents/1001/pause",
        Some(AGENT),
        "{\"reason\": \"lunch\"}",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(agents(AGENT)[0]["paused"], "lunch");
    assert_eq!(agents(AGENT)[0]["state"], "paused");
    for (path, token, body, status, start) in [
        (
            "/api/v1/agents/1001/pause",
            AGENT,
            "{}",
            400,
            "body: missing field `reason`",
        ),
        (
            "/api/v1/agents/1001/pause",
            AGENT,
            "{\"reason\": \" \"}",
            400,
            "reason:",
        ),
        (
            "/api/v1/agents/1002/pause",
            AGENT,
            "{\"reason\": \"x\"}",
            403,
            "agent 1002 is not",
        ),
        (
            "/api/v1/agents/1001/unpause",
            OPERATOR,
            "",
            403,
            "agents' log-in",
        ),
        (
            "/api/v1/agents/9999/logout",
            SUPERVISOR,
            "",
            404,
            "agent 9999: no such agent",
        ),
        (
            "/api/v1/agents/1001/login",
            AGENT,
            "{\"queues\": [\"complaints\"]}",
            400,
            "queues: agent 1001 is not a member of `complaints`",
        ),
        (
            "/api/v1/agents/1001/login",
            AGENT,
            "{\"queues\": 3}",
            400,
            "body: invalid type",
        ),
        (
            "/api/v1/agents/1001/nap",
            AGENT,
            "",
            404,
            "nap: no such action",
        ),
    ] {
        let (got, _, text) = post(api, path, Some(token), body);
        assert_eq!(got, status, "{path} {body}: {text}");
        assert!(error_of(&text).starts_with(start), "{path} {body}: {text}");
    }
    for (action, body) in [
        ("unpause", ""),
        ("logout", ""),
        ("login", "{\"queues\": [\"appointments\"]}"),
    ] {
        let (status, _, text) = post(
            api,
            &format!("/api/v1/agents/1001/{action}"),
            Some(SUPERVISOR),
            body,
        );
        assert_eq!(status, 200, "{action}: {text}");
    }
    assert_eq!(
        agents(AGENT)[0]["logged_in"],
        serde_json::json!(["appointments"])
    );

    let (status, _, body) = get(api, "/api/v1/queues", Some(OPERATOR));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let q = v["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .find(|q| q["queue"] == "appointments")
        .expect("appointments")
        .clone();
    assert_eq!(q["waiting"], 0);
    assert_eq!(q["agents"]["unavailable"], 3, "{q}");
}

#[test]
fn the_event_stream_carries_a_call_as_it_happens() {
    let e = Engine::start("api-events", &["rtp.timer_spin_ms=0"]);
    let api = api_addr(&e);
    let (status, _, _) = get(api, "/api/v1/events", None);
    assert_eq!(status, 401);
    let (status, _, body) = get(api, "/api/v1/events", Some(AGENT));
    assert_eq!(status, 403, "{body}");
    assert!(error_of(&body).contains("operator"));

    let mut s = TcpStream::connect(api).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    write!(
        s,
        "GET /api/v1/events HTTP/1.1\r\nHost: switchboard\r\nAuthorization: Bearer {SUPERVISOR}\r\n\r\n"
    )
    .expect("send");
    let mut seen = String::new();
    let read_until = |s: &mut TcpStream, seen: &mut String, want: &str, secs: u64| {
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !seen.contains(want) {
            assert!(Instant::now() < deadline, "no `{want}` in {seen}");
            if let Ok(n) = s.read(&mut buf) {
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    };
    read_until(&mut s, &mut seen, "\r\n\r\n", 5);
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen
        .to_ascii_lowercase()
        .contains("content-type: text/event-stream"));

    let out = one_call(&e, "api-events-call", 300).output().expect("sipp");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for want in [
        "\"type\":\"call_started\"",
        "\"type\":\"call_answered\"",
        "\"type\":\"ivr\"",
        "\"type\":\"call_ended\"",
    ] {
        read_until(&mut s, &mut seen, want, 10);
    }
    // The caller's number is masked on the stream.
    let started = seen
        .lines()
        .find(|l| l.contains("call_started"))
        .expect("line");
    assert!(started.contains("\"caller\":\"****\""), "{started}");
}

#[test]
fn consult_swap_complete_and_transfer_over_http() {
    let e = media_engine("api-xfer", &[]);
    let api = api_addr(&e);
    let agent = Phone::start(&e, "1003", Some(1000.0), None);
    let colleague = Phone::start(&e, "1005", Some(1200.0), None);
    let wait = |what: &[&str]| {
        let (ok, log) = e.wait_log(Duration::from_secs(20), |l| {
            what.iter().all(|w| l.contains(w))
        });
        assert!(ok, "no line with {what:?}: {log}");
    };
    wait(&["registered extension=1003"]);
    wait(&["registered extension=1005"]);
    let patient = Phone::start(&e, "1001", Some(600.0), Some("8000"));
    wait(&["node=main/menu"]);
    patient.press('2');
    wait(&["caller and agent bridged", "agent=1003"]);
    let id = calls(api, OPERATOR)[0]["id"].as_u64().expect("id");
    let act = |action: &str, body: &str| {
        let (status, _, text) = post(
            api,
            &format!("/api/v1/calls/{id}/{action}"),
            Some(OPERATOR),
            body,
        );
        (status, text)
    };
    // Nothing to go back from, swap or complete yet; no such extension to consult.
    for action in ["back", "swap", "complete"] {
        let (status, text) = act(action, "");
        assert_eq!(status, 409, "{action}: {text}");
        assert!(error_of(&text).contains("no consultation"), "{text}");
    }
    let (status, text) = act("consult", "{\"to\": \"9999\"}");
    assert_eq!(status, 400, "{text}");
    assert_eq!(
        error_of(&text),
        "to: `9999` is no other extension, and no outbound rule covers it"
    );

    let (status, text) = act("consult", "{\"queue\": \"nope\"}");
    assert_eq!(status, 400, "{text}");
    assert_eq!(error_of(&text), "queue: no queue `nope`");
    let (status, text) = act("consult", "{\"to\": \"1005\", \"queue\": \"complaints\"}");
    assert_eq!(status, 400, "{text}");
    assert!(error_of(&text).contains("one of"), "{text}");
    // Whoever is free in the complaints queue (1005 and 1006; only 1005 has a phone).
    let (status, text) = act("consult", "{\"queue\": \"complaints\"}");
    assert_eq!(status, 200, "{text}");
    wait(&["consultation", "to=1005", "step=\"answered\""]);
    let (status, text) = act("consult", "{\"to\": \"1005\"}");
    assert_eq!(status, 409, "a second consultation: {text}");
    let (status, text) = act("hold", "{\"on\": false}");
    assert_eq!(status, 409, "hold follows the consultation: {text}");
    assert_eq!(act("swap", "").0, 200);
    wait(&["consultation", "step=\"swapped_to_patient\""]);
    assert_eq!(act("swap", "").0, 200);
    wait(&["consultation", "step=\"swapped_to_colleague\""]);
    // All three together; swapping makes no sense then.
    assert_eq!(act("join", "").0, 200);
    wait(&["consultation", "step=\"joined\""]);
    let (status, text) = act("swap", "");
    assert_eq!(status, 409, "{text}");
    assert!(error_of(&text).contains("joined"), "{text}");
    assert_eq!(act("complete", "").0, 200);
    wait(&["transfer", "to=1005", "kind=\"attended\"", "by=\"api\""]);
    let now = calls(api, OPERATOR);
    assert_eq!(now[0]["agent"], "1005", "{now:?}");
    assert_eq!(now[0]["held"], false);
    // And on to 1003 again, blind.
    let (status, text) = act("transfer", "{\"to\": \"1003\"}");
    assert_eq!(status, 200, "{text}");
    wait(&["transfer", "to=1003", "kind=\"blind\"", "by=\"api\""]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while calls(api, OPERATOR)[0]["agent"] != "1003" {
        assert!(Instant::now() < deadline, "not back with 1003");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(patient);
    drop(agent);
    drop(colleague);
}

/// The value of the sample `name` (labels included, as printed) on a metrics page.
fn sample(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{page}"))
}

/// Runs `promtool check metrics` on a page; its verdict.
fn promtool(page: &str) -> (bool, String) {
    require_tool("promtool");
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(page.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool ran");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn metrics_pass_promtool_and_move_as_calls_are_made() {
    let metrics_port = free_port();
    let e = Engine::start(
        "api-metrics",
        &[
            "rtp.timer_spin_ms=0",
            "http.metrics_token=\"prometheus-scrape-token\"",
            &format!("http.metrics_listen=\"127.0.0.1:{metrics_port}\""),
        ],
    );
    let api = api_addr(&e);
    let metrics = SocketAddr::from(([127, 0, 0, 1], metrics_port));
    // On the API's address a token is needed: the metrics token or a supervisor's.
    let (status, head, _) = get(api, "/metrics", None);
    assert_eq!(status, 401, "{head}");
    assert_eq!(
        get(api, "/metrics", Some(AGENT)).0,
        401,
        "an agent's token is not enough"
    );
    assert_eq!(get(api, "/metrics", Some(SUPERVISOR)).0, 200);
    let (status, head, before) = get(api, "/metrics", Some("prometheus-scrape-token"));
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    // On the metrics address, none.
    let (status, _, open) = get(metrics, "/metrics", None);
    assert_eq!(status, 200);
    assert!(open.contains("switchboard_calls_started_total"), "{open}");
    let (ok, said) = promtool(&before);
    assert!(ok, "promtool: {said}\n{before}");

    let invites_in = "switchboard_sip_requests_total{method=\"INVITE\",direction=\"in\"}";
    let started = sample(&before, "switchboard_calls_started_total");
    let invites = sample(&before, invites_in);
    // One call through the IVR for a few seconds, with its media.
    let out = one_call(&e, "api-metrics-call", 3000)
        .output()
        .expect("sipp");
    assert!(
        out.status.success(),
        "the call went through: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let (_, _, page) = get(metrics, "/metrics", None);
        if sample(&page, "switchboard_calls_ended_total") >= 1.0 {
            break page;
        }
        assert!(Instant::now() < deadline, "the call never ended:\n{page}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let (ok, said) = promtool(&after);
    assert!(ok, "promtool: {said}\n{after}");
    assert_eq!(
        sample(&after, "switchboard_calls_started_total"),
        started + 1.0
    );
    assert!(sample(&after, invites_in) > invites, "{after}");
    assert!(
        sample(&after, "switchboard_rtp_packets_total{direction=\"out\"}") > 50.0,
        "the greeting's packets: {after}"
    );
    assert!(sample(&after, "switchboard_rtp_media_legs_total") >= 1.0);
    assert!(after.contains("switchboard_queue_waiting{queue=\"consultation\"} 0"));
    assert!(after.contains("switchboard_engine_timer_lag_seconds "));
    assert!(after.contains("switchboard_store_queue_depth "));
}

/// One raw HTTP exchange: `head` is the request line and headers (without the blank line).
fn raw(addr: SocketAddr, head: &str, body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "{head}\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (status, head.to_string(), body.to_string())
}

#[test]
fn console_sessions_are_strict_cookies_and_forged_posts_are_refused() {
    let e = Engine::start("api-sessions", &["rtp.timer_spin_ms=0"]);
    let api = api_addr(&e);
    let form = "Content-Type: application/x-www-form-urlencoded";
    let (status, head, _) = raw(
        api,
        &format!("POST /signin HTTP/1.1\r\n{form}"),
        "name=supervisor&password=demo-supervisor",
    );
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("location: /console/wallboard"), "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    let session = cookie.split(';').next().expect("value");
    // The page with the cookie; its CSRF token.
    let (status, head, page) = raw(
        api,
        &format!("GET /console/wallboard HTTP/1.1\r\nCookie: {session}"),
        "",
    );
    assert_eq!(status, 200, "{head}");
    for h in [
        "content-security-policy: default-src 'self'",
        "x-content-type-options: nosniff",
        "cache-control: no-store",
    ] {
        assert!(head.contains(h), "{h} missing: {head}");
    }
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the page's CSRF token");
    // A post from another site, even with the cookie and the right token: refused.
    let act = |extra: &str, body: &str| {
        raw(
            api,
            &format!(
                "POST /console/agents/1003/pause HTTP/1.1\r\n{form}\r\nCookie: {session}{extra}"
            ),
            body,
        )
        .0
    };
    assert_eq!(
        act(
            "\r\nOrigin: http://evil.example",
            &format!("csrf={csrf}&reason=x")
        ),
        403
    );
    assert_eq!(act("", "reason=x"), 403, "no token");
    assert_eq!(
        act("", &format!("csrf={}&reason=x", "0".repeat(64))),
        403,
        "a wrong token"
    );
    assert_eq!(
        act("", &format!("csrf={csrf}&reason=lunch")),
        204,
        "the session's own"
    );
    // A forged sign-in from another site is refused too.
    let (status, _, _) = raw(
        api,
        &format!("POST /signin HTTP/1.1\r\n{form}\r\nOrigin: http://evil.example"),
        "name=supervisor&password=demo-supervisor",
    );
    assert_eq!(status, 403);
    // Signed out, the cookie is worth nothing.
    let (status, head, _) = raw(
        api,
        &format!("POST /signout HTTP/1.1\r\n{form}\r\nCookie: {session}"),
        &format!("csrf={csrf}"),
    );
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("Max-Age=0"), "{head}");
    let (status, head, _) = raw(
        api,
        &format!("GET /console/wallboard HTTP/1.1\r\nCookie: {session}\r\nAccept: text/html"),
        "",
    );
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("location: /signin"), "{head}");
}

#[test]
fn calls_are_placed_over_http_from_the_token_s_own_extension() {
    let e = media_engine("api-place", &[]);
    let api = api_addr(&e);
    let agent = Phone::start(&e, "1001", Some(1000.0), None);
    let department = Phone::start(&e, "2001", Some(1500.0), None);
    for ext in ["1001", "2001"] {
        e.registered(ext);
    }
    // Refusals, each naming what is wrong; nothing rings.
    for (token, body, status, start) in [
        (OPERATOR, "{}", 400, "body: missing field `to`"),
        (OPERATOR, "{\"to\": \"2001\"}", 400, "from:"),
        (OPERATOR, "{\"from\": \"1001\", \"to\": \" \"}", 400, "to:"),
        (
            OPERATOR,
            "{\"from\": \"1100\", \"to\": \"2001\"}",
            409,
            "from: extension 1100 has no phone registered",
        ),
        (
            OPERATOR,
            "{\"from\": \"1001\", \"to\": \"nobody\"}",
            400,
            "to: `nobody` is no other extension",
        ),
        (
            AGENT,
            "{\"from\": \"1002\", \"to\": \"2001\"}",
            403,
            "extension 1002",
        ),
    ] {
        let (got, _, text) = post(api, "/api/v1/calls", Some(token), body);
        assert_eq!(got, status, "{body}: {text}");
        assert!(error_of(&text).starts_with(start), "{body}: {text}");
    }
    assert!(calls(api, OPERATOR).is_empty());
    // The agent's token calls 2001 from its own phone: both answer and are bridged.
    let (status, _, text) = post(api, "/api/v1/calls", Some(AGENT), "{\"to\": \"2001\"}");
    assert_eq!(status, 200, "{text}");
    let placed: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(placed["from"], "1001");
    let id = placed["call"].as_u64().expect("the call's id");
    let (ok, log) = e.wait_log(Duration::from_secs(20), |l| {
        l.contains("caller and agent bridged") && l.contains("agent=2001")
    });
    assert!(ok, "{log}");
    let mine = calls(api, AGENT);
    assert_eq!(mine.len(), 1, "the agent sees the call placed for it");
    assert_eq!(mine[0]["id"].as_u64(), Some(id));
    assert_eq!(mine[0]["state"], "talking");
    let (status, _, text) = post(api, &format!("/api/v1/calls/{id}/hangup"), Some(AGENT), "");
    assert_eq!(status, 200, "{text}");
    let (ok, log) = e.wait_log(Duration::from_secs(10), |l| {
        l.contains("call ended") && l.contains("reason=\"control_api\"")
    });
    assert!(ok, "{log}");
    assert!(calls(api, OPERATOR).is_empty());
    drop((agent, department));
}
