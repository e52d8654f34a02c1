//! One call answered by the engine: its SIP side, its media leg and its IVR session.

use sb_ivr::Session;
use sb_media::dtmf::{DigitCollector, Rfc4733Receiver};
use sb_media::goertzel::ToneDetector;
use sb_media::prompt::Playlist;
use sb_media::{Negotiated, RtpSession, SessionDescription};
use sb_sip::dialog::DialogId;
use sb_sip::transaction::TxId;
use sb_sip::Peer;
use std::time::Instant;

pub use sb_types::CallId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// INVITE received, waiting for a media port.
    Setup,
    /// 200 sent; the IVR runs.
    Answered,
    /// The IVR handed the call on (queue, transfer): the caller waits.
    Waiting,
}

#[derive(Debug)]
pub struct Call {
    pub id: CallId,
    /// The patient's number (personal data: never logged unredacted).
    pub caller: String,
    pub phase: Phase,
    pub invite_tx: TxId,
    pub source: Peer,
    pub sip_call_id: String,
    pub dialled: String,
    pub dialog: Option<DialogId>,
    /// The caller's offer; `None` for a late offer (we offer in the 200, they answer in the ACK).
    pub offer: Option<SessionDescription>,
    pub our_sdp: Option<SessionDescription>,
    pub local_port: Option<u16>,
    pub media: Option<Negotiated>,
    pub rtp: Option<RtpSession>,
    pub playlist: Playlist,
    /// Whether the playlist had something since the IVR last heard "prompt done".
    pub playing: bool,
    pub next_tick: Option<Instant>,
    /// Which of the engine's media grids this call ticks on (see `engine::PHASES`).
    pub tick_phase: usize,
    /// The IVR; `None` on a call between extensions.
    pub ivr: Option<Session>,
    /// A call between extensions: the one dialled, rung directly.
    pub callee: Option<String>,
    pub rfc4733: Rfc4733Receiver,
    /// In-band detection, only on legs that did not negotiate telephone-event.
    pub tones: Option<ToneDetector>,
    pub digits: DigitCollector,
    /// Waiting for an agent: music loops, and the position is announced every so often.
    pub on_hold: bool,
    pub announce_at: Option<Instant>,
    /// The queue the call waits in (or last waited in) and its priority there.
    pub queue: Option<(String, i32)>,
    /// Overflowed with nowhere to go: offered a callback until this moment.
    pub callback_until: Option<Instant>,
    /// Hang up once the current prompt has been heard (after the callback confirmation, an
    /// agent's service code), for this reason.
    pub bye_after_prompt: Option<sb_types::vocab::EndReason>,
    /// A service code dialled by this agent (login, pause, ...); `None` inside for a code
    /// that is not valid (an unknown pause reason). Carried out when answered.
    pub service: Option<(String, Option<crate::engine::AgentCommand>)>,
    /// Bridged and on hold: who held it.
    pub held_by: Option<crate::engine::Control>,
    /// Bridged and the agent muted.
    pub muted: bool,
    /// The agent joined the patient and a consulted colleague: the three-way mix.
    pub mix: Option<Box<crate::engine::Mix>>,
}

impl Call {
    /// The language the caller hears prompts in: the IVR's choice, else `default`.
    pub fn language<'a>(&'a self, default: &'a str) -> &'a str {
        self.ivr.as_ref().map_or(default, Session::language)
    }

    pub fn ivr_timeout(&self) -> Option<Instant> {
        self.ivr.as_ref().and_then(Session::poll_timeout)
    }

    /// Hands `input` to the IVR, if the call has one.
    pub fn ivr_input(
        &mut self,
        now: Instant,
        wall: i64,
        input: sb_ivr::Input,
    ) -> Vec<sb_ivr::Action> {
        self.ivr
            .as_mut()
            .map(|s| s.handle(now, wall, input))
            .unwrap_or_default()
    }
}
