//! The reports' figures per 15-minute interval (`interval_stats`), kept up to date by the
//! writer: each ended call adds to its interval once per dimension (in total, its queue,
//! media source, region, and the agents it rang), each agent state that ends adds its time.
//! Increments are merged in memory for a whole batch and written with one upsert per
//! (dimension, key, interval).

use crate::model::{CallRecord, Disposition, OfferRow};
use sb_types::vocab::CallDirection;
use sqlx::SqliteConnection;
use std::collections::HashMap;

/// Intervals are 15 minutes: every time zone's offset and every shift boundary the
/// configuration accepts falls on one.
pub const BUCKET_MS: i64 = 15 * 60 * 1000;

pub fn bucket_of(ms: i64) -> i64 {
    ms.div_euclid(BUCKET_MS) * BUCKET_MS
}

/// What the writer classifies by when a call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Leaving a queue sooner is a short abandon.
    pub short_abandon_ms: i64,
    /// Answered within this wait counts for the service level.
    pub sla_ms: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            short_abandon_ms: 5_000,
            sla_ms: 15_000,
        }
    }
}

/// One interval's figures for one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub calls: i64,
    pub offered: i64,
    pub answered: i64,
    pub abandoned: i64,
    pub short_abandoned: i64,
    pub callbacks: i64,
    pub overflowed: i64,
    pub in_sla: i64,
    pub in_rings: i64,
    pub wait_ms: i64,
    pub handle_ms: i64,
    pub hold_ms: i64,
    pub mute_ms: i64,
    pub longest_wait_ms: Option<i64>,
    pub offers: i64,
    pub offers_in_rings: i64,
    pub busy_ms: i64,
    pub staffed_ms: i64,
    /// Satisfaction surveys asked, answered, and the answers' sum.
    pub surveys: i64,
    pub survey_answers: i64,
    pub survey_sum: i64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.calls += o.calls;
        self.offered += o.offered;
        self.answered += o.answered;
        self.abandoned += o.abandoned;
        self.short_abandoned += o.short_abandoned;
        self.callbacks += o.callbacks;
        self.overflowed += o.overflowed;
        self.in_sla += o.in_sla;
        self.in_rings += o.in_rings;
        self.wait_ms += o.wait_ms;
        self.handle_ms += o.handle_ms;
        self.hold_ms += o.hold_ms;
        self.mute_ms += o.mute_ms;
        self.longest_wait_ms = match (self.longest_wait_ms, o.longest_wait_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.offers += o.offers;
        self.offers_in_rings += o.offers_in_rings;
        self.busy_ms += o.busy_ms;
        self.staffed_ms += o.staffed_ms;
        self.surveys += o.surveys;
        self.survey_answers += o.survey_answers;
        self.survey_sum += o.survey_sum;
    }
}

/// The figures a call adds to the rows of a queue, media source, region, trunk, hospital
/// number or the total.
fn call_counts(r: &CallRecord, t: &Thresholds) -> Counts {
    let answered = r.disposition == Disposition::Answered;
    let wait = r.wait_ms.unwrap_or(0);
    let left = matches!(
        r.disposition,
        Disposition::Abandoned | Disposition::ShortAbandon
    );
    Counts {
        calls: 1,
        offered: r.queued_ms.is_some() as i64,
        answered: answered as i64,
        abandoned: (left && wait >= t.short_abandon_ms) as i64,
        short_abandoned: (left && wait < t.short_abandon_ms) as i64,
        callbacks: (r.disposition == Disposition::CallbackRequested) as i64,
        overflowed: (r.disposition == Disposition::Overflowed) as i64,
        in_sla: (answered && wait <= t.sla_ms) as i64,
        in_rings: (answered && r.within_rings == Some(true)) as i64,
        wait_ms: if answered { wait } else { 0 },
        handle_ms: if answered { handle(r) } else { 0 },
        hold_ms: r.hold_ms,
        mute_ms: r.mute_ms,
        longest_wait_ms: r.wait_ms,
        ..survey_counts(r)
    }
}

/// A call's satisfaction survey: asked, answered, the score.
fn survey_counts(r: &CallRecord) -> Counts {
    Counts {
        surveys: r.survey_ms.is_some() as i64,
        survey_answers: r.survey_score.is_some() as i64,
        survey_sum: r.survey_score.unwrap_or(0),
        ..Counts::default()
    }
}

/// Talk and hold (the connected time, up to the survey when the patient heard one) plus
/// wrap-up.
fn handle(r: &CallRecord) -> i64 {
    match (r.answered_ms, r.survey_ms.or(r.ended_ms)) {
        (Some(a), Some(e)) => (e - a).max(0) + r.wrapup_ms,
        _ => 0,
    }
}

#[derive(Default)]
pub struct Rollup {
    rows: HashMap<(&'static str, String, i64), Counts>,
}

impl Rollup {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn add(&mut self, dim: &'static str, key: &str, bucket: i64, c: &Counts) {
        self.rows
            .entry((dim, key.to_string(), bucket))
            .or_default()
            .add(c);
    }

    /// A call that has just ended, for the first time.
    pub fn add_call(&mut self, r: &CallRecord, offers: &[OfferRow], t: &Thresholds) {
        if let (CallDirection::Outbound, Some(trunk)) = (r.direction, &r.trunk) {
            // Calls out count on their trunk's own line: placed and answered.
            let out = Counts {
                calls: 1,
                answered: (r.answered_ms.is_some()) as i64,
                ..Counts::default()
            };
            self.add(
                "trunk",
                &format!("{trunk} (out)"),
                bucket_of(r.started_ms),
                &out,
            );
            return;
        }
        if r.direction != CallDirection::Inbound {
            // Calls between extensions and agents' service codes are in the call log, not
            // in the patients' figures.
            return;
        }
        let b = bucket_of(r.started_ms);
        let c = call_counts(r, t);
        self.add("total", "total", b, &c);
        self.add("queue", r.queue.as_deref().unwrap_or("(no queue)"), b, &c);
        self.add(
            "media",
            r.media_source.as_deref().unwrap_or("direct"),
            b,
            &c,
        );
        self.add("region", r.region.as_deref().unwrap_or("unknown"), b, &c);
        // Patients' calls from the phone network: by the carrier and the hospital number.
        if let Some(trunk) = &r.trunk {
            self.add("trunk", trunk, b, &c);
        }
        if let Some(did) = &r.did {
            self.add("did", did, b, &c);
        }
        // The agent who picked the call up: an overflow the operators took counts for them.
        if let (Some(agent), Some(_)) = (&r.agent, r.answered_ms) {
            let wait = r.wait_ms.unwrap_or(0);
            let a = Counts {
                calls: 1,
                answered: 1,
                in_sla: (wait <= t.sla_ms) as i64,
                in_rings: (r.within_rings == Some(true)) as i64,
                wait_ms: wait,
                handle_ms: handle(r),
                hold_ms: r.hold_ms,
                mute_ms: r.mute_ms,
                longest_wait_ms: r.wait_ms,
                ..survey_counts(r)
            };
            self.add("agent", agent, b, &a);
        }
        // Every agent the call rang: offers, and the call once per agent.
        let mut agents: Vec<&str> = offers.iter().map(|o| o.agent.as_str()).collect();
        agents.sort_unstable();
        agents.dedup();
        for agent in agents {
            let mine = offers.iter().filter(|o| o.agent == agent);
            let o = Counts {
                offered: 1,
                abandoned: c.abandoned,
                offers: mine.clone().count() as i64,
                offers_in_rings: mine
                    .filter(|o| o.outcome == "answered" && o.within_rings)
                    .count() as i64,
                ..Counts::default()
            };
            self.add("agent", agent, b, &o);
        }
    }

    /// An agent was in `state` from `from_ms` to `to_ms`: staffed and busy time, split at
    /// interval boundaries.
    pub fn add_state(&mut self, agent: &str, state: &str, from_ms: i64, to_ms: i64) {
        let busy = matches!(state, "on_call" | "wrap_up");
        let staffed = busy || matches!(state, "available" | "offered");
        if !staffed || to_ms <= from_ms {
            return;
        }
        let mut at = from_ms;
        while at < to_ms {
            let b = bucket_of(at);
            let until = (b + BUCKET_MS).min(to_ms);
            let span = until - at;
            let c = Counts {
                staffed_ms: span,
                busy_ms: if busy { span } else { 0 },
                ..Counts::default()
            };
            self.add("agent", agent, b, &c);
            at = until;
        }
    }

    /// Adds everything to `interval_stats`, inside the caller's transaction.
    pub async fn write(&mut self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        for ((dim, key, bucket), c) in self.rows.drain() {
            sqlx::query(
                "INSERT INTO interval_stats (dim, key, bucket_ms, calls, offered, answered, \
                 abandoned, short_abandoned, callbacks, overflowed, in_sla, in_rings, wait_ms, \
                 handle_ms, hold_ms, mute_ms, longest_wait_ms, offers, offers_in_rings, busy_ms, \
                 staffed_ms, surveys, survey_answers, survey_sum) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (dim, key, bucket_ms) DO UPDATE SET \
                 calls = calls + excluded.calls, offered = offered + excluded.offered, \
                 answered = answered + excluded.answered, abandoned = abandoned + excluded.abandoned, \
                 short_abandoned = short_abandoned + excluded.short_abandoned, \
                 callbacks = callbacks + excluded.callbacks, overflowed = overflowed + excluded.overflowed, \
                 in_sla = in_sla + excluded.in_sla, in_rings = in_rings + excluded.in_rings, \
                 wait_ms = wait_ms + excluded.wait_ms, handle_ms = handle_ms + excluded.handle_ms, \
                 hold_ms = hold_ms + excluded.hold_ms, mute_ms = mute_ms + excluded.mute_ms, \
                 longest_wait_ms = CASE WHEN longest_wait_ms IS NULL THEN excluded.longest_wait_ms \
                   WHEN excluded.longest_wait_ms IS NULL THEN longest_wait_ms \
                   ELSE max(longest_wait_ms, excluded.longest_wait_ms) END, \
                 offers = offers + excluded.offers, offers_in_rings = offers_in_rings + excluded.offers_in_rings, \
                 busy_ms = busy_ms + excluded.busy_ms, staffed_ms = staffed_ms + excluded.staffed_ms, \
                 surveys = surveys + excluded.surveys, \
                 survey_answers = survey_answers + excluded.survey_answers, \
                 survey_sum = survey_sum + excluded.survey_sum",
            )
            .bind(dim)
            .bind(&key)
            .bind(bucket)
            .bind(c.calls)
            .bind(c.offered)
            .bind(c.answered)
            .bind(c.abandoned)
            .bind(c.short_abandoned)
            .bind(c.callbacks)
            .bind(c.overflowed)
            .bind(c.in_sla)
            .bind(c.in_rings)
            .bind(c.wait_ms)
            .bind(c.handle_ms)
            .bind(c.hold_ms)
            .bind(c.mute_ms)
            .bind(c.longest_wait_ms)
            .bind(c.offers)
            .bind(c.offers_in_rings)
            .bind(c.busy_ms)
            .bind(c.staffed_ms)
            .bind(c.surveys)
            .bind(c.survey_answers)
            .bind(c.survey_sum)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}
