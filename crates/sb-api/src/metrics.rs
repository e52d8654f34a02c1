//! `GET /metrics` in the Prometheus text format (the `prometheus-client` crate): calls by
//! state, queues (waiting, longest wait, what happened to the patients, today's service
//! level), agents by state, SIP requests and responses by method and status class each way,
//! authentication failures, registered phones, trunks, RTP packets, loss and jitter, how late
//! the engine ran its timers, the records' store queue and spills. The engine counts with
//! plain integers as it goes; a scrape reads them in one turn of its loop and builds the page
//! here, on the API's thread.
//!
//! Access: on `http.listen` with `Authorization: Bearer` and `http.metrics_token` (or a
//! supervisor's or admin's API token); on `http.metrics_listen`, when set, without a token
//! (an address for the monitoring network alone).

use crate::access::Role;
use crate::control::{Command, MetricsFigures, Reply};
use crate::http::{ask_as, ApiError, Shared};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use sb_types::vocab::LiveState;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;
type FloatCounter = Counter<f64, AtomicU64>;

fn counter(v: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(v);
    c
}

fn gauge(v: i64) -> Gauge {
    let g = Gauge::default();
    g.set(v);
    g
}

fn float_gauge(v: f64) -> FloatGauge {
    let g = FloatGauge::default();
    g.set(v);
    g
}

/// A family of counters, one per label set given.
fn counters(rows: impl IntoIterator<Item = (Labels, u64)>) -> Family<Labels, Counter> {
    let f = Family::<Labels, Counter>::default();
    for (labels, v) in rows {
        f.get_or_create(&labels).inc_by(v);
    }
    f
}

/// A family of gauges, one per label set given.
fn gauges(rows: impl IntoIterator<Item = (Labels, i64)>) -> Family<Labels, Gauge> {
    let f = Family::<Labels, Gauge>::default();
    for (labels, v) in rows {
        f.get_or_create(&labels).set(v);
    }
    f
}

/// The page for `m`, with today's service level per queue where the consoles know it.
pub(crate) fn page(m: &MetricsFigures, today: &BTreeMap<String, f64>) -> Result<String, String> {
    let mut r = Registry::with_prefix("switchboard");

    let mut by_state: BTreeMap<&str, i64> = [("ivr", 0), ("waiting", 0), ("talking", 0)].into();
    for c in &m.calls {
        let k = match c.state {
            LiveState::Ivr => "ivr",
            LiveState::Waiting => "waiting",
            LiveState::Talking => "talking",
        };
        *by_state.entry(k).or_default() += 1;
    }
    r.register(
        "calls",
        "Calls now, by state (ivr, waiting, talking)",
        gauges(
            by_state
                .into_iter()
                .map(|(k, v)| (vec![("state", k.to_string())], v)),
        ),
    );
    r.register(
        "calls_started",
        "Calls taken",
        counter(m.counters.calls_started),
    );
    r.register(
        "calls_ended",
        "Calls ended",
        counter(m.counters.calls_ended),
    );

    let q = |name: &str| vec![("queue", name.to_string())];
    r.register(
        "queue_waiting",
        "Patients waiting in the queue now",
        gauges(m.queues.iter().map(|v| (q(&v.name), v.waiting as i64))),
    );
    let longest = Family::<Labels, FloatGauge>::default();
    for v in &m.queues {
        longest
            .get_or_create(&q(&v.name))
            .set(v.longest_wait.as_secs_f64());
    }
    r.register_with_unit(
        "queue_longest_wait",
        "How long the patient waiting longest has waited",
        Unit::Seconds,
        longest,
    );
    let per_queue = |f: fn(&sb_engine::metrics::QueueCounts) -> u64| {
        counters(m.counters.queues.iter().map(|(name, c)| (q(name), f(c))))
    };
    r.register(
        "queue_joined",
        "Patients who joined the queue",
        per_queue(|c| c.joined),
    );
    r.register(
        "queue_answered",
        "Patients answered by an agent",
        per_queue(|c| c.answered),
    );
    r.register(
        "queue_answered_within_threshold",
        "Patients answered within the answer threshold of waiting (the service level's numerator)",
        per_queue(|c| c.answered_in_threshold),
    );
    r.register(
        "queue_answered_within_three_rings",
        "Patients picked up within three rings of the offer",
        per_queue(|c| c.answered_in_rings),
    );
    r.register(
        "queue_abandoned",
        "Patients who hung up while waiting (short abandons included)",
        per_queue(|c| c.abandoned),
    );
    r.register(
        "queue_overflowed",
        "Patients the overflow rules sent on",
        per_queue(|c| c.overflowed),
    );
    if !today.is_empty() {
        let sl = Family::<Labels, FloatGauge>::default();
        for (name, v) in today {
            sl.get_or_create(&q(name)).set(*v);
        }
        r.register(
            "queue_service_level_today",
            "Today's service level as the daily report counts it (answered within the threshold / (answered + abandoned), short abandons left out), 0 to 1",
            sl,
        );
    }

    let mut agents: BTreeMap<&str, i64> = BTreeMap::new();
    for a in &m.agents {
        let state = if a.logged_in.is_empty() {
            "logged_out"
        } else {
            a.state
        };
        *agents.entry(state).or_default() += 1;
    }
    r.register(
        "agents",
        "Agents now, by state",
        gauges(
            agents
                .into_iter()
                .map(|(k, v)| (vec![("state", k.to_string())], v)),
        ),
    );

    let ways = [("in", &m.sip.inbound), ("out", &m.sip.outbound)];
    r.register(
        "sip_requests",
        "SIP requests by method and direction (retransmissions included)",
        counters(ways.iter().flat_map(|(dir, w)| {
            sb_sip::counters::METHODS
                .iter()
                .zip(w.requests)
                .map(|(method, v)| {
                    (
                        vec![
                            ("method", method.to_string()),
                            ("direction", dir.to_string()),
                        ],
                        v,
                    )
                })
        })),
    );
    r.register(
        "sip_responses",
        "SIP responses by status class and direction (retransmissions included)",
        counters(ways.iter().flat_map(|(dir, w)| {
            sb_sip::counters::CLASSES
                .iter()
                .zip(w.responses)
                .map(|(class, v)| {
                    (
                        vec![("class", class.to_string()), ("direction", dir.to_string())],
                        v,
                    )
                })
        })),
    );
    r.register(
        "sip_malformed",
        "SIP messages that did not parse",
        counter(m.sip.malformed),
    );
    r.register(
        "sip_auth_failures",
        "Requests whose credentials were wrong (password, user, nonce)",
        counter(m.sip.auth_failures),
    );
    r.register(
        "phones_registered",
        "Extensions with a phone registered now",
        gauge(m.registered as i64),
    );
    let trunk = |name: &str| vec![("trunk", name.to_string())];
    r.register(
        "trunk_up",
        "Whether the carrier's trunk is up (registered if it registers, answering OPTIONS if probed)",
        gauges(m.trunks.iter().map(|(v, _)| {
            let registered = v.registration.as_ref().is_none_or(|s| {
                matches!(s, sb_sip::client_registration::RegistrationState::Registered { .. })
            });
            (trunk(&v.name), i64::from(registered && v.reachable != Some(false)))
        })),
    );
    r.register(
        "trunk_calls",
        "Calls on the trunk now",
        gauges(
            m.trunks
                .iter()
                .map(|(v, n)| (trunk(&v.name), i64::from(*n))),
        ),
    );

    let c = &m.counters;
    r.register(
        "rtp_packets",
        "RTP packets received on calls' ports and sent",
        counters([
            (vec![("direction", "in".to_string())], c.rtp_in),
            (vec![("direction", "out".to_string())], c.rtp_out),
        ]),
    );
    r.register(
        "rtp_media_legs",
        "Media legs ended and measured",
        counter(c.media_legs),
    );
    r.register(
        "rtp_expected_packets",
        "Packets expected from the far end over the legs measured (by sequence number)",
        counter(c.rtp_expected),
    );
    r.register(
        "rtp_lost_packets",
        "Packets expected and never received over the legs measured",
        counter(c.rtp_lost),
    );
    let jitter = FloatCounter::default();
    jitter.inc_by(c.jitter_ms_sum / 1000.0);
    r.register_with_unit(
        "rtp_jitter",
        "Sum of the legs' interarrival jitter (RFC 3550) at their end; divide by rtp_media_legs for the mean",
        Unit::Seconds,
        jitter,
    );
    r.register_with_unit(
        "engine_timer_lag",
        "The latest the engine ran a timer since the previous scrape (its loop's lag)",
        Unit::Seconds,
        float_gauge(c.timer_lag_max.as_secs_f64()),
    );
    r.register(
        "store_queue_depth",
        "Call record operations waiting for the database writer",
        gauge(m.store.queue_depth as i64),
    );
    r.register(
        "store_spilled",
        "Call record operations that found the writer's queue full and waited in the journal",
        counter(m.store.spilled),
    );
    r.register(
        "store_committed",
        "Call record operations written to the database",
        counter(m.store.committed),
    );

    let mut out = String::new();
    encode(&mut out, &r).map_err(|e| e.to_string())?;
    Ok(out)
}

/// The page in the Prometheus text format (0.0.4) from the OpenMetrics the crate writes:
/// a counter's family takes its samples' `_total` name, and the OpenMetrics-only lines
/// (`# UNIT`, `# EOF`) go. For scrapers that do not ask for OpenMetrics, and for
/// `promtool check metrics`.
pub(crate) fn text_format(open_metrics: &str) -> String {
    let mut out = String::with_capacity(open_metrics.len());
    let mut help: Option<&str> = None;
    for line in open_metrics.lines() {
        if line.starts_with("# EOF") || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let family = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_string()
            };
            if let Some(h) = help.take() {
                let text = h.split_once(' ').map_or("", |(_, t)| t);
                out.push_str(&format!("# HELP {family} {text}\n"));
            }
            out.push_str(&format!("# TYPE {family} {kind}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Whether the request may read the metrics on `http.listen`.
fn allowed(s: &Shared, headers: &HeaderMap) -> bool {
    let by_metrics_token = s
        .metrics_token
        .as_deref()
        .zip(crate::http::bearer(headers))
        .is_some_and(|(t, given)| crate::session::same_secret(t, given));
    by_metrics_token || crate::http::caller(s, headers).is_ok_and(|t| t.role >= Role::Supervisor)
}

/// `GET /metrics` on `http.listen`: a token is needed.
pub(crate) async fn guarded(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !allowed(&s, &headers) {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            "metrics need Authorization: Bearer with http.metrics_token or a supervisor's API token\n",
        )
            .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"switchboard metrics\""),
        );
        return r;
    }
    open(State(s), headers).await
}

/// `GET /metrics` on `http.metrics_listen`: no token.
pub(crate) async fn open(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let m = match ask_as(&s, Role::Admin, None, Command::Metrics).await {
        Ok(Reply::Metrics(m)) => m,
        Ok(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "unexpected answer\n").into_response(),
        Err(ApiError(status, msg)) => return (status, msg + "\n").into_response(),
    };
    let today: BTreeMap<String, f64> = s
        .console
        .live
        .latest()
        .map(|v| {
            v.today
                .queues
                .iter()
                .filter_map(|(k, r)| Some((k.clone(), r.service_level?)))
                .collect()
        })
        .unwrap_or_default();
    let wants_open_metrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    match page(&m, &today) {
        Ok(body) if wants_open_metrics => {
            let mut r = body.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            r
        }
        Ok(body) => {
            let mut r = text_format(&body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e + "\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_take_their_total_name_in_the_text_format() {
        let open = "# HELP sb_calls Calls taken.\n# TYPE sb_calls counter\nsb_calls_total 3\n# HELP sb_lag Lag.\n# TYPE sb_lag gauge\n# UNIT sb_lag seconds\nsb_lag 0.5\n# EOF\n";
        assert_eq!(
            text_format(open),
            "# HELP sb_calls_total Calls taken.\n# TYPE sb_calls_total counter\nsb_calls_total 3\n# HELP sb_lag Lag.\n# TYPE sb_lag gauge\nsb_lag 0.5\n"
        );
    }
}
