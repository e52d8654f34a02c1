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

/// What the consoles render: the engine now and today's figures.
pub(crate) struct View {
    pub(crate) snap: Snapshot,
    pub(crate) today: Arc<Today>,
}

pub(crate) struct Live {
    tx: watch::Sender<Option<Arc<View>>>,
    /// Take a snapshot now (a console opened, an action was carried out).
    nudge: Notify,
}

/// The fewest milliseconds between two snapshots.
const MIN_GAP: Duration = Duration::from_millis(200);
/// How stale today's figures may get while calls end, and while nothing happens.
const TODAY_BUSY: Duration = Duration::from_secs(2);
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
        let today = self.latest().map(|v| v.today.clone());
        match ask_as(s, Role::Admin, None, Command::Snapshot).await {
            Ok(Reply::Snapshot(snap)) => Some(Arc::new(View {
                snap: *snap,
                today: today.unwrap_or_default(),
            })),
            _ => self.latest(),
        }
    }
}

/// The snapshot task: runs on the API's thread until the process ends.
pub(crate) async fn run(s: Arc<Shared>) {
    let live = &s.console.live;
    let mut events = s.events.as_ref().map(|e| e.subscribe());
    let mut every_second = tokio::time::interval(Duration::from_secs(1));
    let mut gap = tokio::time::interval(MIN_GAP);
    gap.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut today = Arc::new(Today::default());
    let mut today_at: Option<Instant> = None;
    let mut calls_ended = false;
    loop {
        tokio::select! {
            ev = next_event(&mut events) => {
                calls_ended |= ev.is_some_and(|e| e.contains("\"type\":\"call_ended\""));
                // Everything else that came meanwhile goes into the same snapshot.
                if let Some(rx) = events.as_mut() {
                    while let Ok(e) = rx.try_recv() {
                        calls_ended |= e.contains("\"type\":\"call_ended\"");
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
        live.tx.send_replace(Some(Arc::new(View {
            snap: *snap,
            today: today.clone(),
        })));
    }
}

/// The next event's text; `None` at once-a-second pace when there is no stream, or when
/// this listener fell behind (the snapshot catches up anyway).
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

/// An SSE stream of `name` events: `render` of each new view, whenever it differs from the
/// last one sent. Ends when the viewer's session does.
pub(crate) fn stream(
    s: Arc<Shared>,
    viewer: Viewer,
    name: &'static str,
    render: impl Fn(&Shared, &Viewer, &View) -> Option<String> + Send + Sync + 'static,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = s.console.live.tx.subscribe();
    s.console.live.nudge();
    let render = Arc::new(render);
    let state = (rx, String::new(), s, viewer);
    let stream = futures_util::stream::unfold(state, move |(mut rx, last, s, viewer)| {
        let render = render.clone();
        async move {
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
                if fragment != last {
                    let ev = SseEvent::default().event(name).data(&fragment);
                    return Some((Ok(ev), (rx, fragment, s, viewer)));
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
