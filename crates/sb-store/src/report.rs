//! The hospital's reports: daily, weekly and monthly figures by queue, agent, media source,
//! region, trunk, hospital number (DID) or shift, read from the interval figures the writer keeps (`rollup`): a month is
//! a few thousand rows whatever the number of calls. Calls count in the interval they
//! started in, classified by the thresholds in force when they ended.
//!
//! Definitions (printed with every table):
//! - offered: calls that joined a queue (for an agent: calls whose offer rang the agent);
//! - answered: calls an agent of the queue answered;
//! - abandoned: callers who left the queue after waiting at least the short-abandon
//!   threshold; those who left sooner are short abandons and count nowhere else;
//! - service level = answered within the threshold / (answered + abandoned), the threshold
//!   being `sla.rings` x `sla.ring_cycle_seconds` of waiting;
//! - ASA: average wait of answered calls; AHT: average talk + hold + wrap-up of answered calls;
//! - three-ring rate: offers picked up within three rings / offers (agents), or answered
//!   calls picked up within three rings / answered calls (other groupings);
//! - occupancy (agents): time on calls and in wrap-up / time available, ringing, on calls
//!   and in wrap-up;
//! - surveys: calls whose patient heard the satisfaction survey; rated: the share of them
//!   who keyed a score; score: the average of those scores (1 to 5).

use crate::rollup::Counts;
use crate::StoreError;
use sb_types::civil::{days_from_civil, local_time};
use serde::Serialize;
use sqlx::{Row as _, SqliteConnection};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodKind {
    Daily,
    Weekly,
    Monthly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Total,
    Queue,
    Agent,
    Media,
    Region,
    /// The carrier a patient's call came in on; calls out on each trunk on lines of their own.
    Trunk,
    /// The hospital number (DID) a patient dialled.
    Did,
    Shift,
}

impl std::str::FromStr for PeriodKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "daily" => Ok(PeriodKind::Daily),
            "weekly" => Ok(PeriodKind::Weekly),
            "monthly" => Ok(PeriodKind::Monthly),
            other => Err(format!("`{other}` is not one of daily, weekly, monthly")),
        }
    }
}

impl std::str::FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "total" => Ok(GroupBy::Total),
            "queue" => Ok(GroupBy::Queue),
            "agent" => Ok(GroupBy::Agent),
            "media" => Ok(GroupBy::Media),
            "region" => Ok(GroupBy::Region),
            "trunk" => Ok(GroupBy::Trunk),
            "did" => Ok(GroupBy::Did),
            "shift" => Ok(GroupBy::Shift),
            other => Err(format!(
                "`{other}` is not one of queue, agent, media, region, trunk, did, shift, total"
            )),
        }
    }
}

impl GroupBy {
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::Total => "total",
            GroupBy::Queue => "queue",
            GroupBy::Agent => "agent",
            GroupBy::Media => "media",
            GroupBy::Region => "region",
            GroupBy::Trunk => "trunk",
            GroupBy::Did => "did",
            GroupBy::Shift => "shift",
        }
    }
}

/// The local date at Unix time `unix_secs` in a zone `offset_min` east of UTC: the day a
/// report without `--date` is about.
pub fn local_date(unix_secs: i64, offset_min: i32) -> (i64, i64, i64) {
    let t = local_time(unix_secs, offset_min);
    (t.year as i64, t.month as i64, t.day as i64)
}

/// A reporting period: `[start_ms, end_ms)` in Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    pub label: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// `YYYY-MM-DD` to (year, month, day), checked against the calendar.
pub fn parse_date(s: &str) -> Option<(i64, i64, i64)> {
    let mut it = s.split('-');
    let (y, m, d): (i64, i64, i64) = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    if it.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Round trip through day numbers rejects 2026-02-30.
    let days = days_from_civil(y, m, d);
    let back = local_time(days * 86_400, 0);
    (back.year as i64 == y && back.month as i64 == m && back.day as i64 == d).then_some((y, m, d))
}

impl Period {
    /// The period of `kind` holding the local date `(y, m, d)`, in a zone `offset_min` east
    /// of UTC.
    pub fn containing(kind: PeriodKind, (y, m, d): (i64, i64, i64), offset_min: i32) -> Period {
        let off = offset_min as i64 * 60_000;
        let day = days_from_civil(y, m, d);
        let (first, last, label) = match kind {
            PeriodKind::Daily => (day, day + 1, format!("{y:04}-{m:02}-{d:02}")),
            PeriodKind::Weekly => {
                let weekday = local_time(day * 86_400, 0).weekday as i64;
                let monday = day - weekday;
                let t = local_time(monday * 86_400, 0);
                (
                    monday,
                    monday + 7,
                    format!("week of {:04}-{:02}-{:02}", t.year, t.month, t.day),
                )
            }
            PeriodKind::Monthly => {
                let first = days_from_civil(y, m, 1);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (first, days_from_civil(ny, nm, 1), format!("{y:04}-{m:02}"))
            }
        };
        Period {
            label,
            start_ms: first * 86_400_000 - off,
            end_ms: last * 86_400_000 - off,
        }
    }
}

/// One line of a report. The JSON form of a list of these is a stable interface: fields are
/// only ever added.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub key: String,
    /// Every call in the group, queued or not.
    pub calls: i64,
    pub offered: i64,
    pub answered: i64,
    pub abandoned: i64,
    pub short_abandoned: i64,
    pub callbacks: i64,
    pub overflowed: i64,
    /// A fraction in [0, 1]; `null` when nothing was answered or abandoned.
    pub service_level: Option<f64>,
    pub asa_s: Option<f64>,
    pub aht_s: Option<f64>,
    pub longest_wait_s: Option<f64>,
    pub three_ring_rate: Option<f64>,
    pub hold_s: f64,
    pub mute_s: f64,
    /// Agents only.
    pub occupancy: Option<f64>,
    /// Satisfaction surveys asked.
    pub surveys: i64,
    /// The share of them answered, a fraction in [0, 1].
    pub survey_rate: Option<f64>,
    /// The average score of those answered (1 to 5).
    pub survey_avg: Option<f64>,
}

/// The raw sums behind a row's averages and rates, so rows of a partition add up to the
/// total without a second pass over the month.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    pub utc_offset_min: i32,
    pub short_abandon_ms: i64,
    /// The answer threshold: rings x ring cycle.
    pub sla_ms: i64,
    /// (name, start minute, end minute) of the local day.
    pub shifts: Vec<(String, u16, u16)>,
}

impl ReportSettings {
    pub fn formula(&self) -> String {
        format!(
            "service level = answered within {} s / (answered + abandoned); abandons under {} s are short abandons and left out",
            self.sla_ms / 1000,
            self.short_abandon_ms / 1000
        )
    }
}

/// A caller to ring back: callback requests and abandons of the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallbackLine {
    pub call_id: String,
    pub at_ms: i64,
    pub queue: Option<String>,
    pub caller: String,
    pub disposition: String,
}

pub struct Report {
    pub period: Period,
    pub rows: Vec<Row>,
    pub callbacks: Vec<CallbackLine>,
}

fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

pub(crate) fn sql_err(path: &Path) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| StoreError::Sql {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

impl Row {
    /// A report line from its interval figures; agents' lines count offers and occupancy.
    fn from_counts(key: &str, c: &Counts, agent: bool) -> Row {
        Row {
            key: key.to_string(),
            calls: c.calls,
            offered: c.offered,
            answered: c.answered,
            abandoned: c.abandoned,
            short_abandoned: c.short_abandoned,
            callbacks: c.callbacks,
            overflowed: c.overflowed,
            service_level: ratio(c.in_sla, c.answered + c.abandoned),
            asa_s: ratio(c.wait_ms, c.answered).map(|v| v / 1000.0),
            aht_s: ratio(c.handle_ms, c.answered).map(|v| v / 1000.0),
            longest_wait_s: c.longest_wait_ms.map(|v| v as f64 / 1000.0),
            three_ring_rate: if agent {
                ratio(c.offers_in_rings, c.offers)
            } else {
                ratio(c.in_rings, c.answered)
            },
            hold_s: c.hold_ms as f64 / 1000.0,
            mute_s: c.mute_ms as f64 / 1000.0,
            occupancy: if agent {
                ratio(c.busy_ms, c.staffed_ms)
            } else {
                None
            },
            surveys: c.surveys,
            survey_rate: ratio(c.survey_answers, c.surveys),
            survey_avg: ratio(c.survey_sum, c.survey_answers),
        }
    }
}

/// The interval figures of `dim` over the period, summed per key; `shift` keeps only the
/// intervals whose local time of day falls in `[start, end)` minutes.
async fn sums(
    conn: &mut SqliteConnection,
    path: &Path,
    dim: &str,
    p: &Period,
    shift: Option<(i32, u16, u16)>,
) -> Result<Vec<(String, Counts)>, StoreError> {
    let (offset, from, to) = shift.map_or((0, 0, 1440), |(o, f, t)| (o, f, t));
    let rows = sqlx::query(
        "SELECT key, sum(calls) AS calls, sum(offered) AS offered, sum(answered) AS answered, \
         sum(abandoned) AS abandoned, sum(short_abandoned) AS short_abandoned, \
         sum(callbacks) AS callbacks, sum(overflowed) AS overflowed, sum(in_sla) AS in_sla, \
         sum(in_rings) AS in_rings, sum(wait_ms) AS wait_ms, sum(handle_ms) AS handle_ms, \
         sum(hold_ms) AS hold_ms, sum(mute_ms) AS mute_ms, max(longest_wait_ms) AS longest, \
         sum(offers) AS offers, sum(offers_in_rings) AS offers_in_rings, \
         sum(busy_ms) AS busy_ms, sum(staffed_ms) AS staffed_ms, sum(surveys) AS surveys, \
         sum(survey_answers) AS survey_answers, sum(survey_sum) AS survey_sum \
         FROM interval_stats WHERE dim = ?1 AND bucket_ms >= ?2 AND bucket_ms < ?3 \
         AND ((bucket_ms / 60000 + ?4) % 1440 + 1440) % 1440 >= ?5 \
         AND ((bucket_ms / 60000 + ?4) % 1440 + 1440) % 1440 < ?6 \
         GROUP BY key ORDER BY key",
    )
    .bind(dim)
    .bind(p.start_ms)
    .bind(p.end_ms)
    .bind(offset)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await
    .map_err(sql_err(path))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let get =
                |c: &str| -> i64 { r.try_get::<Option<i64>, _>(c).ok().flatten().unwrap_or(0) };
            let c = Counts {
                calls: get("calls"),
                offered: get("offered"),
                answered: get("answered"),
                abandoned: get("abandoned"),
                short_abandoned: get("short_abandoned"),
                callbacks: get("callbacks"),
                overflowed: get("overflowed"),
                in_sla: get("in_sla"),
                in_rings: get("in_rings"),
                wait_ms: get("wait_ms"),
                handle_ms: get("handle_ms"),
                hold_ms: get("hold_ms"),
                mute_ms: get("mute_ms"),
                longest_wait_ms: r.try_get::<Option<i64>, _>("longest").ok().flatten(),
                offers: get("offers"),
                offers_in_rings: get("offers_in_rings"),
                busy_ms: get("busy_ms"),
                staffed_ms: get("staffed_ms"),
                surveys: get("surveys"),
                survey_answers: get("survey_answers"),
                survey_sum: get("survey_sum"),
            };
            (r.try_get::<String, _>("key").unwrap_or_default(), c)
        })
        .collect())
}

/// The report of one period, grouped by `by`, from the interval figures; then the callers
/// to ring back, from the call rows.
pub async fn run(
    conn: &mut SqliteConnection,
    path: &Path,
    period: Period,
    by: GroupBy,
    s: &ReportSettings,
) -> Result<Report, StoreError> {
    let mut rows = Vec::new();
    match by {
        GroupBy::Total => {}
        GroupBy::Shift => {
            for (name, start, end) in &s.shifts {
                let shift = Some((s.utc_offset_min, *start, *end));
                let c = sums(conn, path, "total", &period, shift)
                    .await?
                    .pop()
                    .map(|(_, c)| c)
                    .unwrap_or_default();
                rows.push(Row::from_counts(name, &c, false));
            }
        }
        GroupBy::Queue
        | GroupBy::Agent
        | GroupBy::Media
        | GroupBy::Region
        | GroupBy::Trunk
        | GroupBy::Did => {
            for (key, c) in sums(conn, path, by.name(), &period, None).await? {
                rows.push(Row::from_counts(&key, &c, by == GroupBy::Agent));
            }
        }
    }
    let total = sums(conn, path, "total", &period, None)
        .await?
        .pop()
        .map(|(_, c)| c)
        .unwrap_or_default();
    rows.push(Row::from_counts("total", &total, false));
    let callbacks = callbacks(conn, path, &period, s).await?;
    Ok(Report {
        period,
        rows,
        callbacks,
    })
}

async fn callbacks(
    conn: &mut SqliteConnection,
    path: &Path,
    p: &Period,
    s: &ReportSettings,
) -> Result<Vec<CallbackLine>, StoreError> {
    let rows = sqlx::query(
        "SELECT call_id, started_ms, queue, caller, disposition FROM calls \
         WHERE started_ms >= ?1 AND started_ms < ?2 AND (disposition = 'callback_requested' \
           OR (disposition IN ('abandoned', 'short_abandon') AND coalesce(wait_ms, 0) >= ?3)) \
         ORDER BY started_ms LIMIT 1000",
    )
    .bind(p.start_ms)
    .bind(p.end_ms)
    .bind(s.short_abandon_ms)
    .fetch_all(&mut *conn)
    .await
    .map_err(sql_err(path))?;
    Ok(rows
        .into_iter()
        .map(|r| CallbackLine {
            call_id: r.try_get("call_id").unwrap_or_default(),
            at_ms: r.try_get("started_ms").unwrap_or(0),
            queue: r.try_get("queue").ok().flatten(),
            caller: r.try_get("caller").unwrap_or_default(),
            disposition: r.try_get("disposition").unwrap_or_default(),
        })
        .collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!("`{other}` is not one of table, csv, json")),
        }
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.1}%", v * 100.0))
}

fn secs(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:.4}"))
}

/// Local `YYYY-MM-DD HH:MM` of a Unix millisecond.
fn local_stamp(ms: i64, offset_min: i32) -> String {
    let t = local_time(ms.div_euclid(1000), offset_min);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year,
        t.month,
        t.day,
        t.minute / 60,
        t.minute % 60
    )
}

const CSV_HEADER: &str = "key,calls,offered,answered,abandoned,short_abandoned,callbacks,overflowed,service_level,asa_s,aht_s,longest_wait_s,three_ring_rate,hold_s,mute_s,occupancy,surveys,survey_rate,survey_avg";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn render(
    r: &Report,
    format: Format,
    s: &ReportSettings,
    by: &str,
    show_numbers: bool,
) -> String {
    match format {
        Format::Json => {
            serde_json::to_string_pretty(&r.rows).unwrap_or_else(|_| "[]".into()) + "\n"
        }
        Format::Csv => {
            let mut out = String::from(CSV_HEADER);
            out.push('\n');
            for w in &r.rows {
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{:.1},{:.1},{},{},{},{}\n",
                    csv_field(&w.key),
                    w.calls,
                    w.offered,
                    w.answered,
                    w.abandoned,
                    w.short_abandoned,
                    w.callbacks,
                    w.overflowed,
                    opt(w.service_level),
                    opt(w.asa_s),
                    opt(w.aht_s),
                    opt(w.longest_wait_s),
                    opt(w.three_ring_rate),
                    w.hold_s,
                    w.mute_s,
                    opt(w.occupancy),
                    w.surveys,
                    opt(w.survey_rate),
                    opt(w.survey_avg)
                ));
            }
            out
        }
        Format::Table => {
            let mut out = format!(
                "Switchboard report: {} (by {by}) - CONFIDENTIAL\n\n",
                r.period.label
            );
            let head = [
                by,
                "calls",
                "offered",
                "answered",
                "abandoned",
                "short",
                "callback",
                "overflow",
                "SL",
                "ASA s",
                "AHT s",
                "max wait",
                "3-ring",
                "hold s",
                "mute s",
                "occupancy",
                "surveys",
                "rated",
                "score",
            ];
            let mut lines: Vec<Vec<String>> = vec![head.iter().map(|h| h.to_string()).collect()];
            for w in &r.rows {
                lines.push(vec![
                    w.key.clone(),
                    w.calls.to_string(),
                    w.offered.to_string(),
                    w.answered.to_string(),
                    w.abandoned.to_string(),
                    w.short_abandoned.to_string(),
                    w.callbacks.to_string(),
                    w.overflowed.to_string(),
                    pct(w.service_level),
                    secs(w.asa_s),
                    secs(w.aht_s),
                    secs(w.longest_wait_s),
                    pct(w.three_ring_rate),
                    format!("{:.0}", w.hold_s),
                    format!("{:.0}", w.mute_s),
                    pct(w.occupancy),
                    w.surveys.to_string(),
                    pct(w.survey_rate),
                    w.survey_avg
                        .map_or_else(|| "-".to_string(), |v| format!("{v:.1}")),
                ]);
            }
            let widths: Vec<usize> = (0..head.len())
                .map(|i| {
                    lines
                        .iter()
                        .map(|l| l[i].chars().count())
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            for l in &lines {
                let cells: Vec<String> = l
                    .iter()
                    .zip(&widths)
                    .enumerate()
                    .map(|(i, (c, w))| {
                        if i == 0 {
                            format!("{c:<w$}")
                        } else {
                            format!("{c:>w$}")
                        }
                    })
                    .collect();
                out.push_str(cells.join("  ").trim_end());
                out.push('\n');
            }
            out.push_str(&format!("\n{}\n", s.formula()));
            if !r.callbacks.is_empty() {
                out.push_str("\nCallers to ring back (callback requests and abandons):\n");
                for c in &r.callbacks {
                    let number = if show_numbers {
                        c.caller.clone()
                    } else {
                        sb_types::pii::mask_number(&c.caller)
                    };
                    out.push_str(&format!(
                        "  {}  {:<14} {:<18} {}\n",
                        local_stamp(c.at_ms, s.utc_offset_min),
                        c.queue.as_deref().unwrap_or("-"),
                        c.disposition,
                        number
                    ));
                }
            }
            out
        }
    }
}
