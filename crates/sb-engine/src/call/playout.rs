//! The media the engine makes for a call: prompts, hold music, the place in the queue,
//! silence between them and the three-way mix, 20 ms at a time on the call's media grid.
//! A patient talking to an agent is relayed instead and the grid is idle.

use super::conference;
use super::state::{CallState, Talk};
use super::{relay, Call, Ctx};
use crate::rtp_out::RtpQueue;
use sb_ivr::Input;
use sb_media::negotiate::Codec;
use sb_media::prompt::{Playlist, FRAME};
use std::time::{Duration, Instant};

pub(crate) const PTIME: Duration = Duration::from_millis(20);

/// Calls playing media the engine makes tick every 20 ms, on one of PHASES grids spaced
/// PTIME / PHASES apart. Grids fill in order, PHASE_CALLS calls each: a lightly loaded
/// engine wakes once per 20 ms for all its calls, while thousands of calls go out in short
/// bursts spread over the period. (One burst of 3,000 packets lasts about 12 ms, and its
/// tail wandered by up to 4 ms from one tick to the next, as the cost of each send varies:
/// a stream late in the burst saw its packet gaps vary that much.)
pub(crate) const PHASES: usize = 10;
pub(crate) const PHASE_CALLS: u32 = 256;

/// A late runtime sends at most this many frames to catch up, then re-anchors the clock.
const MAX_CATCH_UP: u32 = 3;

/// How often a waiting patient hears their place in the queue.
pub(crate) const ANNOUNCE_EVERY: Duration = Duration::from_secs(30);

/// The first point at or after `t` of media grid `phase`, the engine's grid (anchored at
/// `origin`) moved `phase` tenths of PTIME later.
pub(crate) fn grid_at_or_after(origin: Instant, phase: usize, t: Instant) -> Instant {
    let origin = origin + PTIME * (phase % PHASES) as u32 / PHASES as u32;
    let step = PTIME.as_micros();
    let slots = t
        .saturating_duration_since(origin)
        .as_micros()
        .div_ceil(step);
    origin + Duration::from_micros((slots * step) as u64)
}

/// The first point of media grid `phase` strictly after `t`.
pub(crate) fn grid_after(origin: Instant, phase: usize, t: Instant) -> Instant {
    grid_at_or_after(origin, phase, t + Duration::from_micros(1))
}

static SILENCE_ULAW: [u8; FRAME] = [0xFF; FRAME];
static SILENCE_ALAW: [u8; FRAME] = [0xD5; FRAME];

pub(crate) fn silence(codec: Codec) -> &'static [u8; FRAME] {
    match codec {
        Codec::Pcmu => &SILENCE_ULAW,
        Codec::Pcma => &SILENCE_ALAW,
    }
}

/// The prompt that says how many patients are ahead.
pub(crate) fn position_prompt(ahead: usize) -> String {
    match ahead {
        0 => "position-next".to_string(),
        1..=9 => format!("position-{ahead}"),
        _ => "position-more".to_string(),
    }
}

/// The prompt that says about how long the wait will be, in whole minutes begun.
pub(crate) fn wait_prompt(wait: Duration) -> String {
    match wait.as_secs().div_ceil(60).max(1) {
        m @ 1..=10 => format!("wait-{m}"),
        _ => "wait-more".to_string(),
    }
}

/// What the caller's leg plays and when its next frame is due.
#[derive(Debug)]
pub(crate) struct Playout {
    pub(crate) playlist: Playlist,
    /// Whether the playlist had something since the dialplan last heard "prompt done".
    pub(crate) playing: bool,
    pub(crate) next_tick: Option<Instant>,
    /// Which of the engine's media grids this call ticks on.
    pub(crate) tick_phase: usize,
}

impl Playout {
    pub(crate) fn new(tick_phase: usize) -> Playout {
        Playout {
            playlist: Playlist::default(),
            playing: false,
            next_tick: None,
            tick_phase,
        }
    }

    /// Stops what plays.
    pub(crate) fn stop(&mut self) {
        self.playlist.clear();
        self.playing = false;
    }
}

impl Call {
    /// Which grid the call ticks on (the router counts the calls per grid).
    pub(crate) fn tick_phase(&self) -> usize {
        self.playout.tick_phase
    }

    /// Queues prompt `name` in the caller's language, if it exists.
    pub(super) fn play(&mut self, ctx: &Ctx<'_>, name: &str) {
        if let Some(p) = ctx.prompt(self.language(), name) {
            self.playout.playlist.push(p.clone());
        }
    }

    /// Starts the media grid now (the call was answered).
    pub(super) fn start_ticking(&mut self, ctx: &Ctx<'_>, now: Instant) {
        self.playout.next_tick = Some(grid_at_or_after(
            ctx.cfg.origin,
            self.playout.tick_phase,
            now,
        ));
    }

    /// Whether the engine feeds a bridged patient itself (held: music; muted: silence; a
    /// three-way mix) or relays the agent; a change of either re-bases the relayed
    /// timestamps.
    pub(super) fn own_stream(&mut self, ctx: &Ctx<'_>, now: Instant) {
        let own = match &self.state {
            CallState::Conference { .. } => true,
            s => s.talk().is_some_and(|t| t.hold.is_some() || t.muted),
        };
        match (own, self.playout.next_tick.is_some()) {
            (true, false) => {
                self.playout.next_tick =
                    Some(grid_after(ctx.cfg.origin, self.playout.tick_phase, now))
            }
            (false, true) => self.playout.next_tick = None,
            _ => {}
        }
        self.caller_leg_mut().rebase();
    }

    /// The media due at `now`: the dialplan's timer, a callback offer running out, and
    /// every 20 ms frame due.
    pub(super) fn run_media(&mut self, now: Instant, ctx: &Ctx<'_>, rtp: &mut RtpQueue) {
        let relayed = match &self.state {
            CallState::Bridged { talk, .. } | CallState::Consulting { talk, .. } => {
                *talk == Talk::default()
            }
            _ => false,
        };
        if relayed {
            // The caller hears the agent now: no prompts, no silence from us. (Held, they
            // hear music; muted, silence: their stream never stops.)
            self.playout.next_tick = None;
            return;
        }
        if matches!(self.state, CallState::Survey { until } if until <= now) {
            return self.survey_unanswered();
        }
        if let CallState::Queued(q) = &self.state {
            if q.callback_until.is_some_and(|t| t <= now) {
                self.decline_callback(now, ctx);
            } else if q.callback_at.is_some_and(|t| t <= now) {
                self.offer_callback(now, ctx);
            }
        }
        let wall = ctx.wall(now);
        let mut actions = Vec::new();
        if let CallState::Ivr(s) = &mut self.state {
            if s.poll_timeout().is_some_and(|d| d <= now) {
                actions.extend(s.handle_timeout(now, wall));
            }
        }
        let mut frames = 0;
        let mut ticked = 0;
        let mut finished = false;
        while let Some(t) = self.playout.next_tick.filter(|t| *t <= now) {
            frames += 1;
            if frames > MAX_CATCH_UP {
                self.playout.next_tick =
                    Some(grid_after(ctx.cfg.origin, self.playout.tick_phase, now));
                break;
            }
            self.playout.next_tick = Some(t + PTIME);
            if let CallState::CallingBack { agent } = self.state {
                // The agent waits on the line while the patient's phone rings: ringback.
                self.ringback_to(ctx, now, rtp, agent);
                continue;
            }
            let Some(codec) = self.caller_leg().media.as_ref().map(|m| m.codec) else {
                continue;
            };
            if self.caller_leg().rtp.is_none() || self.caller_leg().port.is_none() {
                continue;
            }
            let held = self.state.talk().is_some_and(|t| t.hold.is_some());
            if held && self.playout.playlist.is_empty() {
                // Held by the agent: the music, round and round.
                self.play(ctx, "hold-music");
            }
            if self.hears_ringback() && self.playout.playlist.is_empty() {
                self.play(ctx, "ringback");
            }
            if self.state.waits() {
                self.announce(ctx, t);
                if self.playout.playlist.is_empty() {
                    self.play(ctx, "hold-music");
                }
            }
            // A three-way call: the patient hears the other two; so do they, each the
            // others.
            let mut mixed_frame = [0u8; FRAME];
            let mut mixed = false;
            let muted = self.state.talk().is_some_and(|t| t.muted);
            if let CallState::Conference { mix, consult, .. } = &mut self.state {
                let out = mix.next(muted);
                codec.encode(&out[conference::PATIENT], &mut mixed_frame);
                let (agent, colleague) = (consult.agent, consult.colleague);
                self.send_pcm(now, rtp, agent, &out[conference::AGENT]);
                self.send_pcm(now, rtp, colleague, &out[conference::COLLEAGUE]);
                mixed = true;
            }
            // Between prompts the leg carries silence: the stream never stops while the
            // call is up, which keeps NAT bindings open and phones' RTP timeouts quiet.
            let (frame, marker): (&[u8; FRAME], bool) = if mixed {
                // The mix is no prompt: nothing for the dialplan to hear the end of.
                (&mixed_frame, false)
            } else {
                match self.playout.playlist.next_frame(codec) {
                    Some(frame) => {
                        let marker = !self.playout.playing;
                        self.playout.playing = true;
                        (frame, marker)
                    }
                    None => {
                        if std::mem::take(&mut self.playout.playing) {
                            finished |= matches!(self.state, CallState::Closing { .. });
                            if let CallState::Ivr(s) = &mut self.state {
                                actions.extend(s.handle(now, wall, Input::PromptDone));
                            }
                        }
                        (silence(codec), false)
                    }
                }
            };
            let leg = &mut self.legs[0];
            let (Some(r), Some(media), Some(port)) =
                (leg.rtp.as_mut(), leg.media.as_ref(), leg.port)
            else {
                continue;
            };
            // Symmetric RTP: where the caller's media comes from, once learned.
            match (r.remote(), media.direction.sends()) {
                (Some(to), true) => {
                    let locked = r.locked(now);
                    rtp.push(port, to, locked, |buf| {
                        r.write_packet(buf, codec.payload_type(), marker, frame, FRAME as u32)
                    });
                }
                _ => r.skip(FRAME as u32),
            }
            ticked += 1;
        }
        if let Some(leg) = self.agent_hearing_silence() {
            // The agent of a held call hears silence, frame for frame with the music.
            for _ in 0..ticked {
                relay::send_frame(&mut self.legs, rtp, now, leg, |c, f| {
                    f.copy_from_slice(silence(c))
                });
            }
        }
        if finished {
            if let CallState::Closing { reason, by } = self.state {
                return self.hang_up(reason, by);
            }
        }
        self.apply_ivr(now, ctx, actions);
    }

    /// One frame of ringback to leg `id` (an agent waiting for a callback's patient).
    fn ringback_to(
        &mut self,
        ctx: &Ctx<'_>,
        now: Instant,
        rtp: &mut RtpQueue,
        id: super::leg::LegId,
    ) {
        let Some(codec) = self.leg(id).and_then(|l| l.media.as_ref()).map(|m| m.codec) else {
            return;
        };
        if self.playout.playlist.is_empty() {
            self.play(ctx, "ringback");
        }
        let Some(frame) = self.playout.playlist.next_frame(codec).copied() else {
            return;
        };
        relay::send_frame(&mut self.legs, rtp, now, id, |_, out| {
            out.copy_from_slice(&frame)
        });
    }

    /// The agent leg that hears silence while the patient is held: the agent's, unless the
    /// agent talks to a colleague on it meanwhile.
    fn agent_hearing_silence(&self) -> Option<super::leg::LegId> {
        let talk = self.state.talk()?;
        talk.hold?;
        if let Some(c) = self.state.consult() {
            if c.with_colleague {
                return None;
            }
        }
        let leg = self.state.agent_leg()?;
        self.leg(leg).filter(|l| l.connected).map(|l| l.id)
    }

    /// Waiting in a queue: the place in it now and then, the expected wait after it.
    fn announce(&mut self, ctx: &Ctx<'_>, t: Instant) {
        let due = match &mut self.state {
            CallState::Queued(q) if q.announce_at.is_some_and(|a| a <= t) => {
                q.announce_at = Some(t + ANNOUNCE_EVERY);
                true
            }
            _ => false,
        };
        if !due {
            return;
        }
        let Some(ahead) = ctx.acd.position(self.id) else {
            return;
        };
        let lang = self.language().to_string();
        if let Some(p) = ctx.prompt(&lang, &position_prompt(ahead)) {
            self.playout.playlist.clear();
            self.playout.playlist.push(p.clone());
            // And the expected wait, when the queue has staff to estimate it by.
            let wait = ctx.acd.estimated_wait(self.id);
            if let Some(w) = wait.and_then(|w| ctx.prompt(&lang, &wait_prompt(w))) {
                self.playout.playlist.push(w.clone());
            }
        }
    }
}
