//! The dialplan's side of a call: keys the caller presses (RFC 4733, in-band, SIP INFO)
//! go to it, and what it asks for is carried out: prompts, tags, a queue, a transfer, the
//! hangup.

use super::state::CallState;
use super::{Call, Ctx};
use crate::event::EngineEvent;
use sb_ivr::{Action, Input};
use sb_media::dtmf::Source;
use sb_types::vocab::{Control, EndReason, Side, TransferKind};
use std::time::Instant;

impl Call {
    /// A key from the caller (each key once, whichever way it came).
    pub(super) fn on_digit(&mut self, now: Instant, ctx: &Ctx<'_>, digit: char, source: Source) {
        if self.digits.on_digit(now, digit, source).is_none() {
            return;
        }
        self.event(EngineEvent::Digit {
            call: self.id,
            digit,
            source,
        });
        let offered = matches!(&self.state, CallState::Queued(q) if q.callback_until.is_some());
        if offered && digit == '1' {
            return self.accept_callback(ctx);
        }
        if matches!(self.state, CallState::Survey { .. }) {
            return self.survey_key(ctx, digit);
        }
        let wall = ctx.wall(now);
        let actions = match &mut self.state {
            CallState::Ivr(s) => s.handle(now, wall, Input::Digit(digit)),
            _ => Vec::new(),
        };
        self.apply_ivr(now, ctx, actions);
    }

    /// Carries out what the dialplan asked for.
    pub(super) fn apply_ivr(&mut self, now: Instant, ctx: &Ctx<'_>, actions: Vec<Action>) {
        for a in actions {
            if self.ended {
                return;
            }
            match a {
                Action::Play(list) => {
                    for p in list {
                        if let Some(prompt) = ctx.prompt(&p.language, &p.name) {
                            self.playout.playlist.push(prompt.clone());
                        }
                    }
                }
                Action::StopPlayback => self.playout.stop(),
                Action::Entered(node) => self.event(EngineEvent::Ivr {
                    call: self.id,
                    node,
                }),
                Action::Set { var, value } => self.event(EngineEvent::Tag {
                    call: self.id,
                    var,
                    value,
                }),
                Action::Queue(queue) => self.enqueue(now, ctx, queue),
                Action::Transfer(extension) => {
                    self.event(EngineEvent::Transfer {
                        call: self.id,
                        from: "ivr".into(),
                        to: extension.clone(),
                        kind: TransferKind::Ivr,
                        by: Some(Control::Dialplan),
                    });
                    self.wait_for_transfer();
                    self.ring_for_transfer(now, ctx, &extension, Vec::new());
                }
                Action::Hangup => self.hang_up(EndReason::IvrEnded, Side::Engine),
            }
        }
    }
}
