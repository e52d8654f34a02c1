//! The hospital's reports: daily, weekly and monthly figures by queue, agent, media source,
//! region or shift, read straight from the database.
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
//!   and in wrap-up.

use crate::StoreError;
use sb_config::time::{days_from_civil, local_time};
use serde::Serialize;
use sqlx::{Row as _, SqliteConnection};
use std::collections::BTreeMap;
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
    Shift,
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
    #[serde(skip)]
    pub answered_in_sla: i64,
    #[serde(skip)]
    sums: Sums,
}

/// The raw sums behind a row's averages and rates, so rows of a partition add up to the
/// total without a second pass over the month.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sums {
    wait_ms: i64,
    handle_ms: i64,
    in_rings: i64,
    longest_ms: Option<i64>,
    hold_ms: i64,
    mute_ms: i64,
}

impl Row {
    fn from_sums(key: &str, c: [i64; 8], in_sla: i64, sums: Sums) -> Row {
        let [calls, offered, answered, abandoned, short_abandoned, callbacks, overflowed, _] = c;
        Row {
            key: key.to_string(),
            calls,
            offered,
            answered,
            abandoned,
            short_abandoned,
            callbacks,
            overflowed,
            service_level: ratio(in_sla, answered + abandoned),
            asa_s: ratio(sums.wait_ms, answered).map(|v| v / 1000.0),
            aht_s: ratio(sums.handle_ms, answered).map(|v| v / 1000.0),
            longest_wait_s: sums.longest_ms.map(|v| v as f64 / 1000.0),
            three_ring_rate: ratio(sums.in_rings, answered),
            hold_s: sums.hold_ms as f64 / 1000.0,
            mute_s: sums.mute_ms as f64 / 1000.0,
            occupancy: None,
            answered_in_sla: in_sla,
            sums,
        }
    }

    /// The total of rows that partition the calls (each call in exactly one row).
    fn total_of(rows: &[Row]) -> Row {
        let mut c = [0i64; 8];
        let mut in_sla = 0;
        let mut sums = Sums::default();
        for r in rows {
            for (acc, v) in c.iter_mut().zip([
                r.calls,
                r.offered,
                r.answered,
                r.abandoned,
                r.short_abandoned,
                r.callbacks,
                r.overflowed,
                0,
            ]) {
                *acc += v;
            }
            in_sla += r.answered_in_sla;
            sums.wait_ms += r.sums.wait_ms;
            sums.handle_ms += r.sums.handle_ms;
            sums.in_rings += r.sums.in_rings;
            sums.hold_ms += r.sums.hold_ms;
            sums.mute_ms += r.sums.mute_ms;
            sums.longest_ms = sums.longest_ms.max(r.sums.longest_ms);
        }
        Row::from_sums("total", c, in_sla, sums)
    }
}

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
    pub fn from_model(m: &sb_config::Model) -> ReportSettings {
        ReportSettings {
            utc_offset_min: m.reports.utc_offset_min,
            short_abandon_ms: m.reports.short_abandon.as_millis() as i64,
            sla_ms: m.sla_threshold().as_millis() as i64,
            shifts: m
                .reports
                .shifts
                .iter()
                .map(|s| (s.name.clone(), s.start, s.end))
                .collect(),
        }
    }

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

/// Two counts in one SQL sum (low and high 31 bits): SQLite's cost per row is mostly the
/// number of aggregates, and a month of calls is far below 2^31 of anything.
const PACK: i64 = 1 << 31;

fn unpack(v: i64) -> (i64, i64) {
    (v % PACK, v / PACK)
}

const AGGREGATE: &str = "SELECT {key} AS k, count(*) AS calls, \
    sum((queued_ms IS NOT NULL) + ({ans}) * 2147483648) AS offered_answered, \
    sum((disposition IN ('abandoned', 'short_abandon') AND coalesce(wait_ms, 0) >= ?3) \
      + (disposition IN ('abandoned', 'short_abandon') AND coalesce(wait_ms, 0) < ?3) * 2147483648) AS abandoned_short, \
    sum((disposition = 'callback_requested') + (disposition = 'overflowed') * 2147483648) AS callbacks_overflowed, \
    sum(ifnull({ans} AND wait_ms <= ?4, 0) + ifnull({ans} AND within_rings = 1, 0) * 2147483648) AS sla_rings, \
    sum(CASE WHEN {ans} THEN wait_ms END) AS wait_sum, \
    sum(CASE WHEN {ans} THEN ended_ms - answered_ms + wrapup_ms END) AS handle_sum, \
    max(wait_ms) AS longest_wait, \
    sum(hold_ms) AS hold, sum(mute_ms) AS mute \
    FROM calls WHERE started_ms >= ?1 AND started_ms < ?2 AND ended_ms IS NOT NULL {filter} \
    GROUP BY k ORDER BY k";

fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn sql_err(path: &Path) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| StoreError::Sql {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

async fn aggregate(
    conn: &mut SqliteConnection,
    path: &Path,
    key: &str,
    filter: &str,
    p: &Period,
    s: &ReportSettings,
) -> Result<Vec<Row>, StoreError> {
    // A queue answers a call only when the call ends there answered; an agent answers
    // every call they picked up (an overflow the operator took counts for the operator).
    let ans = if key == "agent" {
        "answered_ms IS NOT NULL"
    } else {
        "disposition = 'answered'"
    };
    let sql = AGGREGATE
        .replace("{key}", key)
        .replace("{filter}", filter)
        .replace("{ans}", ans);
    let rows = sqlx::query(&sql)
        .bind(p.start_ms)
        .bind(p.end_ms)
        .bind(s.short_abandon_ms)
        .bind(s.sla_ms)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql_err(path))?;
    let mut out = Vec::new();
    for r in rows {
        let get = |c: &str| -> i64 { r.try_get::<Option<i64>, _>(c).ok().flatten().unwrap_or(0) };
        let key: String = r
            .try_get::<Option<String>, _>("k")
            .ok()
            .flatten()
            .unwrap_or_default();
        let (offered, answered) = unpack(get("offered_answered"));
        let (abandoned, short) = unpack(get("abandoned_short"));
        let (callbacks, overflowed) = unpack(get("callbacks_overflowed"));
        let (in_sla, in_rings) = unpack(get("sla_rings"));
        let counts = [
            get("calls"),
            offered,
            answered,
            abandoned,
            short,
            callbacks,
            overflowed,
            0,
        ];
        let sums = Sums {
            wait_ms: get("wait_sum"),
            handle_ms: get("handle_sum"),
            in_rings,
            longest_ms: r.try_get::<Option<i64>, _>("longest_wait").ok().flatten(),
            hold_ms: get("hold"),
            mute_ms: get("mute"),
        };
        out.push(Row::from_sums(&key, counts, in_sla, sums));
    }
    Ok(out)
}

/// The local minute of the day of a call's start, in SQL.
fn minute_of_day(offset_min: i32) -> String {
    format!(
        "(((started_ms / 1000 + {}) % 86400) / 60)",
        offset_min as i64 * 60
    )
}

pub async fn run(
    conn: &mut SqliteConnection,
    path: &Path,
    period: Period,
    by: GroupBy,
    s: &ReportSettings,
    now_ms: i64,
) -> Result<Report, StoreError> {
    let mut rows = match by {
        GroupBy::Total => Vec::new(),
        GroupBy::Queue => {
            aggregate(conn, path, "coalesce(queue, '(no queue)')", "", &period, s).await?
        }
        GroupBy::Media => {
            aggregate(
                conn,
                path,
                "coalesce(media_source, 'direct')",
                "",
                &period,
                s,
            )
            .await?
        }
        GroupBy::Region => {
            aggregate(conn, path, "coalesce(region, 'unknown')", "", &period, s).await?
        }
        GroupBy::Agent => agents(conn, path, &period, s, now_ms).await?,
        GroupBy::Shift => {
            let minute = minute_of_day(s.utc_offset_min);
            let mut v = Vec::new();
            for (name, start, end) in &s.shifts {
                let key = format!("'{}'", name.replace('\'', "''"));
                let filter = format!("AND {minute} >= {start} AND {minute} < {end}");
                let mut r = aggregate(conn, path, &key, &filter, &period, s).await?;
                if r.is_empty() {
                    r.push(empty_row(name));
                }
                v.extend(r);
            }
            v
        }
    };
    // Queues, media sources and regions partition the calls: their total is their sum.
    // Agents and shifts do not (unanswered calls, overlapping shifts): one more pass.
    let total = match by {
        GroupBy::Queue | GroupBy::Media | GroupBy::Region => Row::total_of(&rows),
        _ => aggregate(conn, path, "'total'", "", &period, s)
            .await?
            .pop()
            .unwrap_or_else(|| empty_row("total")),
    };
    rows.push(total);
    let callbacks = callbacks(conn, path, &period, s).await?;
    Ok(Report {
        period,
        rows,
        callbacks,
    })
}

fn empty_row(key: &str) -> Row {
    Row {
        key: key.to_string(),
        calls: 0,
        offered: 0,
        answered: 0,
        abandoned: 0,
        short_abandoned: 0,
        callbacks: 0,
        overflowed: 0,
        service_level: None,
        asa_s: None,
        aht_s: None,
        longest_wait_s: None,
        three_ring_rate: None,
        hold_s: 0.0,
        mute_s: 0.0,
        occupancy: None,
        answered_in_sla: 0,
        sums: Sums::default(),
    }
}

/// Per agent: the calls they answered, the offers that rang them, their occupancy.
async fn agents(
    conn: &mut SqliteConnection,
    path: &Path,
    p: &Period,
    s: &ReportSettings,
    now_ms: i64,
) -> Result<Vec<Row>, StoreError> {
    let answered = aggregate(conn, path, "agent", "AND agent IS NOT NULL", p, s).await?;
    let mut by: BTreeMap<String, Row> = answered.into_iter().map(|r| (r.key.clone(), r)).collect();
    let offers = sqlx::query(
        "SELECT agent, count(*) AS offers, \
         sum(outcome = 'answered' AND within_rings = 1) AS in_rings, \
         count(DISTINCT call_id) AS calls, \
         count(DISTINCT CASE WHEN call_disposition IN ('abandoned', 'short_abandon') \
               AND coalesce(call_wait_ms, 0) >= ?3 THEN call_id END) AS abandoned \
         FROM offers WHERE offered_ms >= ?1 AND offered_ms < ?2 GROUP BY agent",
    )
    .bind(p.start_ms)
    .bind(p.end_ms)
    .bind(s.short_abandon_ms)
    .fetch_all(&mut *conn)
    .await
    .map_err(sql_err(path))?;
    for r in offers {
        let agent: String = r.try_get("agent").unwrap_or_default();
        let get = |c: &str| -> i64 { r.try_get::<Option<i64>, _>(c).ok().flatten().unwrap_or(0) };
        let row = by.entry(agent.clone()).or_insert_with(|| empty_row(&agent));
        row.offered = get("calls");
        row.abandoned = get("abandoned");
        row.three_ring_rate = ratio(get("in_rings"), get("offers"));
        // The agent's service level: over the calls they answered and those that rang
        // them and were abandoned.
        row.service_level = ratio(row.answered_in_sla, row.answered + row.abandoned);
    }
    for (agent, occ) in occupancy(conn, path, p, now_ms).await? {
        by.entry(agent.clone())
            .or_insert_with(|| empty_row(&agent))
            .occupancy = occ;
    }
    Ok(by.into_values().collect())
}

/// Occupancy per agent from the state log: each state lasts until the agent's next one (or
/// the end of the period, or now).
async fn occupancy(
    conn: &mut SqliteConnection,
    path: &Path,
    p: &Period,
    now_ms: i64,
) -> Result<Vec<(String, Option<f64>)>, StoreError> {
    // Each agent's last state before the period (SQLite takes the bare columns from the
    // row holding the max) and every change within it; each lasts until the agent's next
    // (or the end of the period, or now).
    let end = p.end_ms.min(now_ms.max(p.start_ms));
    let rows = sqlx::query(
        "SELECT agent, \
           sum(CASE WHEN state IN ('on_call', 'wrap_up') THEN span ELSE 0 END) AS busy, \
           sum(CASE WHEN state IN ('on_call', 'wrap_up', 'available', 'offered') THEN span ELSE 0 END) AS staffed \
         FROM ( \
           SELECT agent, state, \
             max(min(coalesce(lead(at_ms) OVER w, ?3), ?3) - max(at_ms, ?1), 0) AS span \
           FROM ( \
             SELECT agent, max(at_ms) AS at_ms, state, run, seq FROM agent_states \
               WHERE at_ms < ?1 GROUP BY agent \
             UNION ALL \
             SELECT agent, at_ms, state, run, seq FROM agent_states \
               WHERE at_ms >= ?1 AND at_ms < ?2) \
           WINDOW w AS (PARTITION BY agent ORDER BY at_ms, run, seq)) \
         GROUP BY agent ORDER BY agent",
    )
    .bind(p.start_ms)
    .bind(p.end_ms)
    .bind(end)
    .fetch_all(&mut *conn)
    .await
    .map_err(sql_err(path))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let agent: String = r.try_get("agent").unwrap_or_default();
            let busy: i64 = r
                .try_get::<Option<i64>, _>("busy")
                .ok()
                .flatten()
                .unwrap_or(0);
            let staffed: i64 = r
                .try_get::<Option<i64>, _>("staffed")
                .ok()
                .flatten()
                .unwrap_or(0);
            (agent, ratio(busy, staffed))
        })
        .collect())
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

/// `13812345678` -> `138****5678`: enough to recognise, not to dial.
pub fn mask_number(n: &str) -> String {
    let chars: Vec<char> = n.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let keep_head = (chars.len() - 4).min(3);
    let head: String = chars[..keep_head].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 4 - keep_head))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
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

const CSV_HEADER: &str = "key,calls,offered,answered,abandoned,short_abandoned,callbacks,overflowed,service_level,asa_s,aht_s,longest_wait_s,three_ring_rate,hold_s,mute_s,occupancy";

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
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{:.1},{:.1},{}\n",
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
                    opt(w.occupancy)
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
                        mask_number(&c.caller)
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
