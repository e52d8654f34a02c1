//! The consoles' live updates. One task on the API's thread takes a snapshot of the engine
//! (calls, agents, queues) whenever the event stream says something happened, at most five
//! times a second, and once a second anyway while anyone watches; it also keeps today's
//! figures from the store (the daily report by queue and by agent, the very numbers of the
//! reports), refreshed when calls end. Each open console holds a receiver of the latest
//! view and renders its own fragment from it, sending it over SSE only when it changed: the
//! engine answers one request however many browsers watch.

use super::auth::Viewer;
use crate::access::Role;
use crate::control::{Command, Reply, Snapshot};
use crate::http::{ask_as, run_report, Shared};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use sb_store::report::{local_date, GroupBy, Period, PeriodKind, Row};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// Today's figures per queue and per agent, as the daily report counts them.
#[derive(Debug, Default)]
pub(crate) struct Today {
    pub(crate) queues: HashMap<String, Row>,
    pub(crate) agents: HashMap<String, Row>,
}

/// A fragment's name and language.
type FragmentKey = (&'static str, &'static str);

/// What the consoles render: the engine now and today's figures.
pub(crate) struct View {
    pub(crate) snap: Snapshot,
    pub(crate) today: Arc<Today>,
    /// Calls whose transfer nobody answered (they came back), with whom it rang.
    pub(crate) returned: Arc<HashMap<u64, String>>,
    /// Fragments every viewer of one language sees alike (the wallboard), rendered once.
    shared: std::sync::Mutex<HashMap<FragmentKey, Option<Arc<str>>>>,
}

impl View {
    fn new(snap: Snapshot, today: Arc<Today>, returned: Arc<HashMap<u64, String>>) -> View {
        View {
            snap,
            today,
            returned,
            shared: Default::default(),
        }
    }

    /// The fragment `name` in language `lang`, rendered by the first viewer who asks.
    pub(crate) fn shared(
        &self,
        name: &'static str,
        lang: &'static str,
        render: impl FnOnce() -> Option<String>,
    ) -> Option<Arc<str>> {
        let Ok(mut cache) = self.shared.lock() else {
            return render().map(Arc::from);
        };
        cache
            .entry((name, lang))
            .or_insert_with(|| render().map(Arc::from))
            .clone()
    }
}

pub(crate) struct Live {
    tx: watch::Sender<Option<Arc<View>>>,
    /// Take a snapshot now (a console opened, an action was carried out).
    nudge: Notify,
}

/// The fewest milliseconds between two snapshots.
const MIN_GAP: Duration = Duration::from_millis(200);
/// How stale today's figures may get while calls end, and while nothing happens.
const TODAY_BUSY: Duration = Duration::from_secs(5);
const TODAY_QUIET: Duration = Duration::from_secs(30);

impl Live {
    pub(crate) fn new() -> Live {
        Live {
            tx: watch::channel(None).0,
            nudge: Notify::new(),
        }
    }

    /// Ask for a fresh snapshot soon.
    pub(crate) fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// The latest view, if one was taken.
    pub(crate) fn latest(&self) -> Option<Arc<View>> {
        self.tx.borrow().clone()
    }

    /// A fresh view now (a page being opened), or the latest if the engine does not answer.
    pub(crate) async fn fresh(&self, s: &Shared) -> Option<Arc<View>> {
        let latest = self.latest();
        match ask_as(s, Role::Admin, None, Command::Snapshot).await {
            Ok(Reply::Snapshot(snap)) => Some(Arc::new(View::new(
                *snap,
                latest.as_ref().map(|v| v.today.clone()).unwrap_or_default(),
                latest.map(|v| v.returned.clone()).unwrap_or_default(),
            ))),
            _ => self.latest(),
        }
    }
}

/// The snapshot task: runs on the API's thread until the process ends.
pub(crate) async fn run(s: Arc<Shared>) {
    let live = &s.console.live;
    let mut events: Option<tokio::sync::broadcast::Receiver<Arc<str>>> = None;
    let mut every_second = tokio::time::interval(Duration::from_secs(1));
    let mut gap = tokio::time::interval(MIN_GAP);
    gap.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut today = Arc::new(Today::default());
    let mut today_at: Option<Instant> = None;
    let mut calls_ended = false;
    let mut returned: HashMap<u64, String> = HashMap::new();
    loop {
        // Nobody watching: the event stream is left alone (nothing to wake for) until a
        // console opens and nudges.
        if live.tx.receiver_count() == 0 {
            events = None;
        } else if events.is_none() {
            events = s.events.as_ref().map(|e| e.subscribe());
        }
        tokio::select! {
            ev = next_event(&mut events) => {
                if let Some(e) = ev {
                    note(&e, &mut calls_ended, &mut returned);
                }
                // Everything else that came meanwhile goes into the same snapshot.
                if let Some(rx) = events.as_mut() {
                    while let Ok(e) = rx.try_recv() {
                        note(&e, &mut calls_ended, &mut returned);
                    }
                }
            }
            _ = live.nudge.notified() => {}
            _ = every_second.tick() => {}
        }
        if live.tx.receiver_count() == 0 {
            continue;
        }
        gap.tick().await;
        let Ok(Reply::Snapshot(snap)) = ask_as(&s, Role::Admin, None, Command::Snapshot).await
        else {
            continue;
        };
        let now = super::auth::clock();
        let stale = today_at.is_none_or(|at| {
            let age = now.saturating_duration_since(at);
            age >= TODAY_QUIET || (calls_ended && age >= TODAY_BUSY)
        });
        if stale {
            let engine_secs = snap.wall.ms(snap.now).div_euclid(1000);
            today = Arc::new(today_figures(&s, engine_secs).await);
            today_at = Some(now);
            calls_ended = false;
        }
        returned.retain(|id, _| snap.calls.iter().any(|c| c.id.0 == *id));
        live.tx.send_replace(Some(Arc::new(View::new(
            *snap,
            today.clone(),
            Arc::new(returned.clone()),
        ))));
    }
}

/// What the live task keeps from an event: that calls ended (today's figures are due),
/// that a transfer came back.
fn note(e: &str, calls_ended: &mut bool, returned: &mut HashMap<u64, String>) {
    *calls_ended |= e.contains("\"type\":\"call_ended\"");
    // Kept while the call lasts (the ring back to whoever transferred is itself a
    // transfer, so a later transfer cannot tell it is old news).
    if e.contains("\"type\":\"transfer_failed\"") {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(e) {
            if let (Some(call), Some(to)) = (v["call"].as_u64(), v["to"].as_str()) {
                returned.insert(call, to.to_string());
            }
        }
    }
}

/// The next event's text; `None` when this listener fell behind (the snapshot catches up
/// anyway) or the stream closed; never ready while there is no stream.
async fn next_event(
    events: &mut Option<tokio::sync::broadcast::Receiver<Arc<str>>>,
) -> Option<Arc<str>> {
    match events {
        Some(rx) => match rx.recv().await {
            Ok(e) => Some(e),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => None,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                *events = None;
                None
            }
        },
        None => std::future::pending().await,
    }
}

/// The daily report by queue and by agent of the engine's day at `engine_secs` (Unix); empty
/// figures when the store cannot be read (the live part of the consoles goes on).
async fn today_figures(s: &Arc<Shared>, engine_secs: i64) -> Today {
    let offset = s.reports.utc_offset_min;
    let p = Period::containing(PeriodKind::Daily, local_date(engine_secs, offset), offset);
    let mut out = Today::default();
    for (by, into) in [
        (GroupBy::Queue, &mut out.queues),
        (GroupBy::Agent, &mut out.agents),
    ] {
        match run_report(s, p.clone(), by).await {
            Ok(r) => into.extend(r.rows.into_iter().map(|row| (row.key.clone(), row))),
            Err(e) => tracing::warn!(error = %e.1, "today's figures for the consoles unavailable"),
        }
    }
    out
}

/// What a console renders of a view for one viewer.
pub(crate) type Fragment = fn(&Shared, &Viewer, &View) -> Option<Arc<str>>;

/// An SSE stream of `name` events: `render` of each new view, whenever it differs from the
/// last one sent. Ends when the viewer's session does.
pub(crate) fn stream(
    s: Arc<Shared>,
    viewer: Viewer,
    name: &'static str,
    render: Fragment,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = s.console.live.tx.subscribe();
    s.console.live.nudge();
    let state = (rx, Arc::<str>::from(""), s, viewer);
    let stream = futures_util::stream::unfold(state, move |(mut rx, last, s, viewer)| async move {
        loop {
            if rx.changed().await.is_err() || !viewer.still_signed_in(&s) {
                return None;
            }
            let Some(view) = rx.borrow_and_update().clone() else {
                continue;
            };
            let Some(fragment) = render(&s, &viewer, &view) else {
                continue;
            };
            if !Arc::ptr_eq(&fragment, &last) && fragment != last {
                let ev = SseEvent::default().event(name).data(&*fragment);
                return Some((Ok(ev), (rx, fragment, s, viewer)));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_that_came_back_is_kept_with_whom_it_rang() {
        let (mut ended, mut back) = (false, HashMap::new());
        note(
            r#"{"type":"transfer","call":7,"to":"2002"}"#,
            &mut ended,
            &mut back,
        );
        note(
            r#"{"type":"transfer_failed","call":7,"to":"2002","reason":"no_answer"}"#,
            &mut ended,
            &mut back,
        );
        assert_eq!(back.get(&7).map(String::as_str), Some("2002"));
        assert!(!ended);
        // The ring back to the operator is a transfer too: what came back stays.
        note(
            r#"{"type":"transfer","call":7,"to":"1100"}"#,
            &mut ended,
            &mut back,
        );
        assert_eq!(back.get(&7).map(String::as_str), Some("2002"));
        note(
            r#"{"type":"transfer_failed","call":7,"to":"2003","reason":"busy"}"#,
            &mut ended,
            &mut back,
        );
        assert_eq!(back.get(&7).map(String::as_str), Some("2003"), "the latest");
        note(r#"{"type":"call_ended","call":7}"#, &mut ended, &mut back);
        assert!(ended);
    }
}
