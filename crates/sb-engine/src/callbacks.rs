//! The keep-my-place callbacks under way. A patient who presses 1 while waiting becomes an
//! item here: inside the callbacks' hours a callback call takes their place in the queue at
//! once; outside them it waits for the hours to open. A patient not reached is tried again
//! after `retry` until `attempts` tries are spent; then the item closes, not reached, for
//! the worklist. Sans-IO: the router asks what is due and says what happened.

use crate::config::CallbackRules;
use sb_sip::timer::DeadlineQueue;
use sb_types::CallId;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One patient to call back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    /// The patient's number, normalised (personal data).
    pub(crate) number: String,
    pub(crate) queue: String,
    pub(crate) language: String,
    /// When they asked.
    pub(crate) requested: Instant,
    /// Times their phone was dialled.
    pub(crate) tries: u32,
    /// The callback call working the item, while there is one.
    pub(crate) call: Option<CallId>,
}

impl Item {
    /// The patient of call `c` asks (now) to be called back from `queue`.
    pub(crate) fn asked_on(c: &crate::call::Call, queue: String, now: Instant) -> Item {
        Item {
            number: c.caller_number().to_string(),
            queue,
            language: c.language_now().to_string(),
            requested: now,
            tries: 0,
            call: None,
        }
    }
}

/// What became of a callback call, for the router to tell the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Reached: the item is closed.
    Reached { tries: u32 },
    /// Tried again at this instant.
    Retry { at: Instant, tries: u32 },
    /// Every try spent: closed, not reached.
    GaveUp { tries: u32 },
}

/// The items, by the call each patient asked on.
#[derive(Debug, Default)]
pub(crate) struct Callbacks {
    items: BTreeMap<CallId, Item>,
    due: DeadlineQueue<CallId>,
}

/// The first instant at or after `t` inside the callbacks' hours (`wall_ms` gives an
/// instant's Unix milliseconds), looking a fortnight ahead minute by minute at most; `None`
/// if the hours never open in that time.
pub(crate) fn next_open(
    rules: &CallbackRules,
    t: Instant,
    wall_ms: impl Fn(Instant) -> i64,
) -> Option<Instant> {
    let open = |at: Instant| rules.hours.is_open(wall_ms(at).div_euclid(1000));
    if open(t) {
        return Some(t);
    }
    // To the next whole minute, then a minute at a time.
    let into_minute = wall_ms(t).rem_euclid(60_000) as u64;
    let mut at = t + Duration::from_millis(60_000 - into_minute);
    for _ in 0..14 * 24 * 60 {
        if open(at) {
            return Some(at);
        }
        at += Duration::from_secs(60);
    }
    None
}

impl Callbacks {
    /// A patient asked on call `asked`; `start` says whether a callback call takes their
    /// place at once (otherwise it is due at `at`).
    pub(crate) fn add(&mut self, asked: CallId, item: Item, at: Option<Instant>) {
        if let Some(t) = at {
            self.due.push(t, asked);
        }
        self.items.insert(asked, item);
    }

    /// Call `call` works the item now.
    pub(crate) fn working(&mut self, asked: CallId, call: CallId) {
        if let Some(item) = self.items.get_mut(&asked) {
            item.call = Some(call);
        }
    }

    /// An item whose time has come, if any, at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(CallId, Item)> {
        while let Some(asked) = self.due.pop_due(now) {
            if let Some(item) = self.items.get(&asked).filter(|i| i.call.is_none()) {
                return Some((asked, item.clone()));
            }
        }
        None
    }

    /// Puts an item back for later (the hours closed again before it started).
    pub(crate) fn defer(&mut self, asked: CallId, at: Instant) {
        if self.items.contains_key(&asked) {
            self.due.push(at, asked);
        }
    }

    /// When the next item is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.due.next()
    }

    /// The callback call for `asked` ended: closed when reached or out of tries, else due
    /// again after the retry interval (inside the hours: `open` moves an instant there).
    pub(crate) fn done(
        &mut self,
        now: Instant,
        asked: CallId,
        dialled: bool,
        reached: bool,
        rules: &CallbackRules,
        open: impl Fn(Instant) -> Option<Instant>,
    ) -> Option<Next> {
        let item = self.items.get_mut(&asked)?;
        item.call = None;
        if dialled {
            item.tries += 1;
        }
        let tries = item.tries;
        if reached {
            self.items.remove(&asked);
            return Some(Next::Reached { tries });
        }
        if tries >= rules.attempts {
            self.items.remove(&asked);
            return Some(Next::GaveUp { tries });
        }
        match open(now + rules.retry) {
            Some(at) => {
                self.due.push(at, asked);
                Some(Next::Retry { at, tries })
            }
            None => {
                self.items.remove(&asked);
                Some(Next::GaveUp { tries })
            }
        }
    }

    /// Whether a callback is owed to `number` already.
    pub(crate) fn has_number(&self, number: &str) -> bool {
        self.items.values().any(|i| i.number == number)
    }

    /// The patient at `number` got through by calling again: their items close, except one
    /// whose callback is ringing them already (`dialled`). Returns each item closed with the
    /// callback call to withdraw from its queue, if it has one.
    pub(crate) fn close_for_number(
        &mut self,
        number: &str,
        dialled: impl Fn(CallId) -> bool,
    ) -> Vec<(CallId, Option<CallId>)> {
        let closing: Vec<(CallId, Option<CallId>)> = self
            .items
            .iter()
            .filter(|(_, i)| i.number == number && !i.call.is_some_and(&dialled))
            .map(|(k, i)| (*k, i.call))
            .collect();
        for (k, _) in &closing {
            self.items.remove(k);
        }
        closing
    }

    /// Items not yet closed.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> CallbackRules {
        CallbackRules {
            hours: sb_ivr::Schedule {
                utc_offset_min: 480,
                // Monday to Friday, 08:00-17:00.
                windows: vec![(0x1F, 8 * 60, 17 * 60)],
                holidays: vec![(2026, 11, 24)],
            },
            attempts: 3,
            retry: Duration::from_secs(600),
            offer_after: None,
            recover_after: None,
        }
    }

    /// 2026-11-23 (Monday) 00:00 in Shanghai.
    const MONDAY: i64 = 1_795_363_200;

    #[test]
    fn the_next_open_minute_skips_nights_weekends_and_holidays() {
        let t0 = sb_sim::Clock::new().now();
        let wall = |t: Instant| (MONDAY + 16 * 3600) * 1000 + (t - t0).as_millis() as i64;
        let r = rules();
        // Monday 16:00: open now.
        assert_eq!(next_open(&r, t0, wall), Some(t0));
        // Monday 17:30: Tuesday is a holiday, so Wednesday 08:00.
        let late = t0 + Duration::from_secs(90 * 60);
        let opens = next_open(&r, late, wall).expect("opens");
        assert_eq!(wall(opens), (MONDAY + 2 * 86_400 + 8 * 3600) * 1000);
        // Never open: none.
        let mut shut = rules();
        shut.hours.windows.clear();
        assert_eq!(next_open(&shut, t0, wall), None);
    }

    #[test]
    fn a_patient_not_reached_is_tried_again_then_given_up() {
        let t0 = sb_sim::Clock::new().now();
        let r = rules();
        let mut b = Callbacks::default();
        let item = Item {
            number: "+8613800000001".into(),
            queue: "consultation".into(),
            language: "zh-CN".into(),
            requested: t0,
            tries: 0,
            call: None,
        };
        b.add(CallId(1), item, None);
        b.working(CallId(1), CallId(2));
        let open = |t: Instant| Some(t);
        // Not dialled (no agent took it before it ended): due again, no try counted.
        assert_eq!(
            b.done(t0, CallId(1), false, false, &r, open),
            Some(Next::Retry {
                at: t0 + r.retry,
                tries: 0
            })
        );
        assert_eq!(b.pop_due(t0), None, "not yet");
        let (asked, _) = b.pop_due(t0 + r.retry).expect("due");
        assert_eq!(asked, CallId(1));
        for n in 1..3u32 {
            b.working(CallId(1), CallId(2 + u64::from(n)));
            assert!(matches!(
                b.done(t0, CallId(1), true, false, &r, open),
                Some(Next::Retry { tries, .. }) if tries == n
            ));
        }
        b.working(CallId(1), CallId(9));
        assert_eq!(
            b.done(t0, CallId(1), true, false, &r, open),
            Some(Next::GaveUp { tries: 3 })
        );
        assert_eq!(b.len(), 0);
        // Reached: closed at once.
        let item = Item {
            number: "+8613800000002".into(),
            queue: "consultation".into(),
            language: "zh-CN".into(),
            requested: t0,
            tries: 0,
            call: Some(CallId(11)),
        };
        b.add(CallId(10), item, None);
        assert_eq!(
            b.done(t0, CallId(10), true, true, &r, open),
            Some(Next::Reached { tries: 1 })
        );
        assert_eq!(b.len(), 0);
    }
}
