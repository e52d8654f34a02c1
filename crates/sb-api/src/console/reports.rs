//! The reports as pages: the CLI's daily, weekly and monthly reports (the same rows, the
//! same formula) by queue, agent, media source, region, shift, trunk, hospital number or in
//! total, with a chart (uPlot: answered and abandoned per line, the service level across)
//! and the table; the same report as CSV for a spreadsheet. Supervisors and admins only:
//! the volumes are confidential.

use super::auth::Viewer;
use super::text::Text;
use super::{forbidden, frame, percent, render, Frame};
use crate::access::Role;
use crate::http::{run_report, today, Shared};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sb_store::report::{self, GroupBy, Period, PeriodKind, Row};
use std::collections::HashMap;
use std::sync::Arc;

/// The periods and groupings the form offers, as the API and the CLI name them.
const PERIODS: [&str; 3] = ["daily", "weekly", "monthly"];
const GROUPS: [&str; 8] = [
    "queue", "agent", "media", "region", "shift", "trunk", "did", "total",
];

pub(crate) struct Line {
    pub(crate) key: String,
    pub(crate) calls: i64,
    pub(crate) offered: i64,
    pub(crate) answered: i64,
    pub(crate) abandoned: i64,
    pub(crate) short_abandoned: i64,
    pub(crate) callbacks: i64,
    pub(crate) overflowed: i64,
    pub(crate) service_level: String,
    pub(crate) asa: String,
    pub(crate) aht: String,
    pub(crate) longest: String,
    pub(crate) in_rings: String,
    pub(crate) occupancy: String,
    pub(crate) surveys: i64,
    pub(crate) survey_rate: String,
    pub(crate) survey_avg: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    frame: Frame,
    periods: Vec<(&'static str, &'static str, bool)>,
    groups: Vec<(&'static str, &'static str, bool)>,
    date: String,
    query: String,
    label: String,
    formula: String,
    error: Option<String>,
    lines: Vec<Line>,
    chart: String,
}

/// What the form asked for, checked.
struct Asked {
    /// The period as the store counts it.
    range: Period,
    period: &'static str,
    day: (i64, i64, i64),
    by: GroupBy,
    by_name: &'static str,
}

fn asked(s: &Shared, q: &HashMap<String, String>, t: &Text) -> Result<Asked, String> {
    let period = q.get("period").map_or("daily", String::as_str);
    let period = PERIODS
        .into_iter()
        .find(|p| *p == period)
        .ok_or_else(|| format!("{}: {period}", t.bad_request))?;
    let by_name = q.get("by").map_or("queue", String::as_str);
    let by_name = GROUPS
        .into_iter()
        .find(|g| *g == by_name)
        .ok_or_else(|| format!("{}: {by_name}", t.bad_request))?;
    let day = match q.get("date").filter(|d| !d.is_empty()) {
        Some(d) => report::parse_date(d).ok_or_else(|| format!("{}: {d}", t.bad_request))?,
        None => today(s.reports.utc_offset_min),
    };
    let kind: PeriodKind = period.parse()?;
    Ok(Asked {
        range: Period::containing(kind, day, s.reports.utc_offset_min),
        period,
        day,
        by: by_name.parse().map_err(|e: String| e)?,
        by_name,
    })
}

fn line(r: &Row) -> Line {
    let secs = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"));
    Line {
        key: r.key.clone(),
        calls: r.calls,
        offered: r.offered,
        answered: r.answered,
        abandoned: r.abandoned,
        short_abandoned: r.short_abandoned,
        callbacks: r.callbacks,
        overflowed: r.overflowed,
        service_level: percent(r.service_level),
        asa: secs(r.asa_s),
        aht: secs(r.aht_s),
        longest: secs(r.longest_wait_s),
        in_rings: percent(r.three_ring_rate),
        occupancy: percent(r.occupancy),
        surveys: r.surveys,
        survey_rate: percent(r.survey_rate),
        survey_avg: r
            .survey_avg
            .map_or_else(|| "–".to_string(), |v| format!("{v:.1}")),
    }
}

/// The chart's data for `console.js`: keys, answered, abandoned, service level in percent.
fn chart(t: &Text, rows: &[Row]) -> String {
    serde_json::json!({
        "labels": [t.answered, t.abandoned, t.service_level],
        "keys": rows.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
        "answered": rows.iter().map(|r| r.answered).collect::<Vec<_>>(),
        "abandoned": rows.iter().map(|r| r.abandoned).collect::<Vec<_>>(),
        "service_level": rows.iter().map(|r| r.service_level.map(|v| (v * 1000.0).round() / 10.0)).collect::<Vec<_>>(),
    })
    .to_string()
    // It sits in a <script> element: no `</script>` may end it early.
    .replace('<', "\\u003c")
}

/// The 403 page, unless the viewer is a supervisor or admin.
fn not_supervisor(s: &Shared, viewer: &Viewer) -> Option<Response> {
    let user = viewer.user(&s.console);
    (user.role < Role::Supervisor).then(|| forbidden(user, &viewer.csrf))
}

/// `GET /console/reports?period=daily|weekly|monthly&date=YYYY-MM-DD&by=queue|...`
pub(crate) async fn page(
    State(s): State<Arc<Shared>>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = not_supervisor(&s, &viewer) {
        return refused;
    }
    let user = viewer.user(&s.console);
    let t = Text::of(user.language);
    let mut page = ReportsPage {
        frame: frame(user, &viewer.csrf, "/console/reports"),
        periods: Vec::new(),
        groups: Vec::new(),
        date: String::new(),
        query: String::new(),
        label: String::new(),
        formula: t.formula(s.reports.sla_ms / 1000, s.reports.short_abandon_ms / 1000),
        error: None,
        lines: Vec::new(),
        chart: String::new(),
    };
    let a = asked(&s, &q, t);
    let (period, by) = a
        .as_ref()
        .map_or(("daily", "queue"), |a| (a.period, a.by_name));
    page.periods = PERIODS
        .iter()
        .map(|p| (*p, t.period(p), *p == period))
        .collect();
    page.groups = GROUPS.iter().map(|g| (*g, t.group(g), *g == by)).collect();
    let a = match a {
        Ok(a) => a,
        Err(e) => {
            page.error = Some(e);
            return render(StatusCode::BAD_REQUEST, &page);
        }
    };
    let (y, m, d) = a.day;
    page.date = format!("{y:04}-{m:02}-{d:02}");
    page.query = format!("period={}&date={}&by={}", a.period, page.date, a.by_name);
    match run_report(&s, a.range, a.by).await {
        Ok(r) => {
            page.label = r.period.label.clone();
            page.chart = chart(t, &r.rows);
            page.lines = r.rows.iter().map(line).collect();
            render(StatusCode::OK, &page)
        }
        Err(e) => {
            page.error = Some(e.1);
            render(StatusCode::SERVICE_UNAVAILABLE, &page)
        }
    }
}

/// `GET /console/reports.csv?...`: the same report as CSV (the CLI's columns).
pub(crate) async fn csv(
    State(s): State<Arc<Shared>>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = not_supervisor(&s, &viewer) {
        return refused;
    }
    let t = viewer.text(&s.console);
    let a = match asked(&s, &q, t) {
        Ok(a) => a,
        Err(e) => return super::refuse(StatusCode::BAD_REQUEST, &e),
    };
    match run_report(&s, a.range.clone(), a.by).await {
        Ok(r) => {
            let body = report::render(&r, report::Format::Csv, &s.reports, a.by_name, true);
            let name = format!(
                "attachment; filename=\"switchboard-{}-{}-by-{}.csv\"",
                a.period, r.period.label, a.by_name
            );
            let mut resp = body.into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Ok(v) = HeaderValue::from_str(&name) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            resp
        }
        Err(e) => super::refuse(StatusCode::SERVICE_UNAVAILABLE, &e.1),
    }
}
