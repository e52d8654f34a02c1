//! Waiting: in a queue (music, the place in the queue every so often, the expected wait),
//! or while a transfer rings. A queue that overflows with nowhere to go offers the patient
//! a callback that keeps their place.

use super::playout::grid_after;
use super::state::{CallState, Queued};
use super::{AcdInput, Call, Ctx};
use crate::event::EngineEvent;
use sb_types::vocab::EndReason;
use std::time::{Duration, Instant};

/// How long a patient has to press 1 after the callback offer ends.
const CALLBACK_ANSWER_TIME: Duration = Duration::from_secs(8);

impl Call {
    /// The ACD takes the call over; a dialplan may have set `priority` (higher first).
    pub(super) fn enqueue(&mut self, now: Instant, ctx: &Ctx<'_>, queue: String) {
        let priority = match &self.state {
            CallState::Ivr(s) => s
                .vars
                .get("priority")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            _ => 0,
        };
        self.last_queue = Some((queue.clone(), priority));
        self.queued_at = Some(now);
        self.acd(AcdInput::Enqueue {
            queue: queue.clone(),
            priority,
        });
        self.event(EngineEvent::Queued {
            call: self.id,
            queue: queue.clone(),
        });
        // The place in the queue comes after the queue's own prompts, if any.
        let announce = now + Duration::from_millis(self.playout.playlist.remaining_ms());
        self.set_state(CallState::Queued(Queued {
            queue,
            priority,
            announce_at: Some(announce),
            callback_until: None,
            // After a while a patient may ask to be called back, keeping their place.
            callback_at: ctx.cfg.callbacks.offer_after.map(|after| now + after),
        }));
    }

    /// The caller waits while a transfer rings: music.
    pub(super) fn wait_for_transfer(&mut self) {
        self.set_state(CallState::Transferring);
    }

    /// The patient stops talking to whoever they were bridged to and waits with music.
    pub(super) fn unbridge(&mut self, now: Instant, ctx: &Ctx<'_>) {
        if let Some(by) = self.state.talk().and_then(|t| t.hold) {
            self.set_hold(now, ctx, false, by);
        }
        self.set_mute(now, ctx, false, sb_types::vocab::Control::Dialplan);
        self.set_state(CallState::Transferring);
        self.playout.stop();
        self.playout.next_tick = Some(grid_after(ctx.cfg.origin, self.playout.tick_phase, now));
    }

    /// The ACD moved the call on: to the overflow queue, or with nowhere to go, the patient
    /// is offered a callback.
    pub(super) fn overflowed(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        queue: String,
        to: Option<String>,
    ) {
        self.event(EngineEvent::Overflowed {
            call: self.id,
            queue,
            to: to.clone(),
        });
        match to {
            Some(q) => {
                self.last_queue = Some((q.clone(), 0));
                if let CallState::Queued(st) = &mut self.state {
                    st.queue = q.clone();
                    st.priority = 0;
                }
                self.acd(AcdInput::Enqueue {
                    queue: q,
                    priority: 0,
                });
            }
            None => self.offer_callback(now, ctx),
        }
    }

    /// The call overflowed with nowhere to go (the operators' own queue is full or the
    /// wait too long), or waited `callbacks.offer_after_seconds`: the patient may press 1
    /// to be called back, keeping their place, or stay on the line.
    pub(super) fn offer_callback(&mut self, now: Instant, ctx: &Ctx<'_>) {
        self.playout.playlist.clear();
        let mut offer_ms = 0;
        if let Some(p) = ctx.prompt(self.language(), "callback-offer") {
            offer_ms = p.duration_ms();
            self.playout.playlist.push(p.clone());
        }
        if let CallState::Queued(q) = &mut self.state {
            q.callback_at = None;
            q.callback_until = Some(now + Duration::from_millis(offer_ms) + CALLBACK_ANSWER_TIME);
            // The offer, not the place in a queue the call has left, is what they hear now.
            q.announce_at = None;
        }
        self.event(EngineEvent::CallbackOffered { call: self.id });
    }

    /// The patient pressed 1: called back later, in their place; the confirmation plays and
    /// the call ends.
    pub(super) fn accept_callback(&mut self, ctx: &Ctx<'_>) {
        let queue = self
            .last_queue
            .as_ref()
            .map(|(q, _)| q.clone())
            .unwrap_or_default();
        self.playout.playlist.clear();
        self.play(ctx, "callback-confirmed");
        self.set_state(CallState::Closing {
            reason: EndReason::CallbackArranged,
            by: sb_types::vocab::Side::Engine,
        });
        self.acd(AcdInput::Callback {
            queue: queue.clone(),
        });
        self.event(EngineEvent::CallbackRequested {
            call: self.id,
            queue,
        });
    }

    /// No key within the offer's time: the patient stays in the queue, overflow or not
    /// (after an overflow they join it again; offered while waiting, they never left it).
    pub(super) fn decline_callback(&mut self, now: Instant, ctx: &Ctx<'_>) {
        if let CallState::Queued(q) = &mut self.state {
            q.callback_until = None;
            q.announce_at = Some(now);
        }
        if ctx.acd.is_waiting(self.id) {
            return;
        }
        if let Some((queue, priority)) = self.last_queue.clone() {
            self.acd(AcdInput::Stay { queue, priority });
        }
    }
}
