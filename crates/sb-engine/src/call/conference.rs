//! Three-way calls: during a consultation the agent joins the patient and the colleague, and
//! each of the three hears the other two. The engine mixes: every party's audio is decoded
//! as it comes, and on the patient's 20 ms tick each party is sent the sum of the other
//! two, encoded in its own codec (so the legs may differ, PCMU and PCMA). A muted agent is
//! left out of what the patient hears.

use super::leg::LegId;
use sb_media::negotiate::Codec;
use sb_media::prompt::FRAME;
use std::collections::VecDeque;

pub(crate) const PATIENT: usize = 0;
pub(crate) const AGENT: usize = 1;
pub(crate) const COLLEAGUE: usize = 2;

/// Frames a party may be ahead of the mixing tick before the oldest is dropped: absorbs
/// the jitter of a few packets arriving together.
const DEPTH: usize = 3;

/// The three-way mix of one patient's call.
#[derive(Debug)]
pub(crate) struct Mix {
    pub(crate) agent: LegId,
    pub(crate) colleague: LegId,
    /// Each party's audio not yet mixed, oldest first.
    frames: [VecDeque<[i16; FRAME]>; 3],
}

impl Mix {
    pub(crate) fn new(agent: LegId, colleague: LegId) -> Mix {
        Mix {
            agent,
            colleague,
            frames: Default::default(),
        }
    }

    /// The party leg `leg` is in the mix, if any.
    pub(crate) fn party_of(&self, leg: LegId) -> Option<usize> {
        if leg == self.agent {
            Some(AGENT)
        } else if leg == self.colleague {
            Some(COLLEAGUE)
        } else {
            None
        }
    }

    /// A frame of `party`'s voice.
    pub(crate) fn push(&mut self, party: usize, codec: Codec, payload: &[u8]) {
        let mut pcm = [0i16; FRAME];
        codec.decode(payload, &mut pcm);
        let q = &mut self.frames[party];
        if q.len() >= DEPTH {
            q.pop_front();
        }
        q.push_back(pcm);
    }

    /// The next 20 ms: what each party hears, the sum of the other two (without the
    /// agent's voice for the patient while the agent is muted). A party with nothing
    /// queued adds silence.
    pub(crate) fn next(&mut self, agent_muted: bool) -> [[i16; FRAME]; 3] {
        let now: [Option<[i16; FRAME]>; 3] = [
            self.frames[0].pop_front(),
            self.frames[1].pop_front(),
            self.frames[2].pop_front(),
        ];
        let mut out = [[0i16; FRAME]; 3];
        for (listener, o) in out.iter_mut().enumerate() {
            for (speaker, frame) in now.iter().enumerate() {
                let muted = listener == PATIENT && speaker == AGENT && agent_muted;
                if speaker == listener || muted {
                    continue;
                }
                if let Some(f) = frame {
                    for (s, x) in o.iter_mut().zip(f) {
                        *s = s.saturating_add(*x);
                    }
                }
            }
        }
        out
    }
}
