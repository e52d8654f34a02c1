//! RTP on a call's legs. The caller's packets are keys for the dialplan until an agent
//! takes the call, then they are relayed to the agent (transcoding PCMU and PCMA when the
//! legs differ, RFC 4733 events passed through); the agent's come back the same way, or go
//! to a consulted colleague, or into the three-way mix. An agent's own keys are feature
//! codes, never relayed. Nothing here allocates: this is the per-packet path.

use super::conference;
use super::leg::{pair_mut, Leg, LegId, Role};
use super::state::CallState;
use super::{Call, Ctx};
use crate::rtp_out::RtpQueue;
use sb_media::dtmf::Source;
use sb_media::negotiate::{Codec, Negotiated};
use sb_media::prompt::FRAME;
use sb_media::{g711, RtpSession};
use std::net::SocketAddr;
use std::time::Instant;

fn transcode(from: Codec, to: Codec, payload: &[u8], out: &mut [u8; FRAME * 2]) -> usize {
    let n = payload.len().min(out.len());
    for (o, b) in out.iter_mut().zip(&payload[..n]) {
        *o = match (from, to) {
            (Codec::Pcmu, Codec::Pcma) => g711::ulaw_to_alaw(*b),
            (Codec::Pcma, Codec::Pcmu) => g711::alaw_to_ulaw(*b),
            _ => *b,
        };
    }
    n
}

/// One packet across the bridge: audio transcoded when the laws differ, RFC 4733 events
/// passed through when the other side takes them, anything else dropped.
fn relay(
    now: Instant,
    pkt: &sb_media::rtp::Incoming<'_>,
    from: &Negotiated,
    to: &mut Leg,
    out: &mut RtpQueue,
) {
    let (Some(rtp), Some(media), Some(port)) = (to.rtp.as_mut(), to.media.as_ref(), to.port) else {
        return;
    };
    // A leg on hold (we are recvonly or inactive towards it) gets nothing.
    if !media.direction.sends() {
        return;
    }
    let Some(dest) = rtp.remote() else { return };
    let mut scratch = [0u8; FRAME * 2];
    let (pt, payload): (u8, &[u8]) = if pkt.payload_type == from.codec.payload_type() {
        let n = transcode(from.codec, media.codec, pkt.payload, &mut scratch);
        (media.codec.payload_type(), &scratch[..n])
    } else if let (true, Some(pt)) = (Some(pkt.payload_type) == from.dtmf_pt, media.dtmf_pt) {
        (pt, pkt.payload)
    } else {
        return;
    };
    let locked = rtp.locked(now);
    out.push(port, dest, locked, |buf| {
        rtp.write_relayed(buf, pt, pkt.marker, pkt.timestamp, payload)
    });
}

/// One 20 ms frame the engine makes (`fill` writes it in the leg's codec) to leg `id`'s
/// phone.
pub(super) fn send_frame(
    legs: &mut [Leg],
    out: &mut RtpQueue,
    now: Instant,
    id: LegId,
    fill: impl FnOnce(Codec, &mut [u8; FRAME]),
) {
    let Some(leg) = legs.iter_mut().find(|l| l.id == id) else {
        return;
    };
    let (Some(rtp), Some(media), Some(port)) = (leg.rtp.as_mut(), leg.media.as_ref(), leg.port)
    else {
        return;
    };
    let codec = media.codec;
    match (rtp.remote(), media.direction.sends()) {
        (Some(to), true) => {
            let mut frame = [0u8; FRAME];
            fill(codec, &mut frame);
            let locked = rtp.locked(now);
            out.push(port, to, locked, |buf| {
                rtp.write_packet(buf, codec.payload_type(), false, &frame, FRAME as u32)
            });
        }
        _ => rtp.skip(FRAME as u32),
    }
}

/// Takes a packet on `rtp`; a refused one is reported (on the leg's first refusal).
fn accept<'b>(
    rtp: &mut RtpSession,
    now: Instant,
    from: SocketAddr,
    bytes: &'b [u8],
) -> Result<sb_media::rtp::Incoming<'b>, sb_media::rtp::Drop> {
    rtp.on_packet(now, from, bytes)
}

impl Call {
    /// One mixed frame to leg `id`'s phone, in its codec (a three-way call).
    pub(super) fn send_pcm(
        &mut self,
        now: Instant,
        out: &mut RtpQueue,
        id: LegId,
        pcm: &[i16; FRAME],
    ) {
        send_frame(&mut self.legs, out, now, id, |c, f| c.encode(pcm, f));
    }

    /// A packet arrived on `leg`'s port from `from`.
    pub(crate) fn handle_rtp(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        leg: LegId,
        from: SocketAddr,
        bytes: &[u8],
        out: &mut RtpQueue,
    ) {
        if leg != LegId::CALLER {
            return self.agent_rtp(now, ctx, leg, from, bytes, out);
        }
        if let Some(agent) = self.state.agent_leg() {
            return self.caller_rtp_to_agent(now, agent, from, bytes, out);
        }
        let id = self.id;
        let caller = &mut self.legs[0];
        let (Some(rtp), Some(media)) = (caller.rtp.as_mut(), caller.media.as_ref()) else {
            return;
        };
        let pkt = match accept(rtp, now, from, bytes) {
            Ok(p) => p,
            Err(why) => {
                if let Some(e) = caller.refused(id, from, why) {
                    self.event(e);
                }
                return;
            }
        };
        let mut found: Option<(char, Source)> = None;
        if Some(pkt.payload_type) == media.dtmf_pt {
            found = caller
                .rfc4733
                .on_packet(pkt.timestamp, pkt.payload)
                .map(|d| (d, Source::Rfc4733));
        } else if pkt.payload_type == media.codec.payload_type() {
            if let Some(det) = caller.tones.as_mut() {
                let mut pcm = [0i16; 2 * FRAME];
                let n = media.codec.decode(pkt.payload, &mut pcm);
                self.scratch_digits.clear();
                det.push(&pcm[..n], &mut self.scratch_digits);
                found = self.scratch_digits.first().map(|d| (*d, Source::InBand));
            }
        }
        if let Some((digit, source)) = found {
            self.on_digit(now, ctx, digit, source);
        }
    }

    /// RTP from the caller while with an agent: on to the agent's phone.
    fn caller_rtp_to_agent(
        &mut self,
        now: Instant,
        agent: LegId,
        from: SocketAddr,
        bytes: &[u8],
        out: &mut RtpQueue,
    ) {
        let id = self.id;
        let Some((caller, leg)) = pair_mut(&mut self.legs, LegId::CALLER, agent) else {
            return;
        };
        let (Some(crtp), Some(cmedia)) = (caller.rtp.as_mut(), caller.media.as_ref()) else {
            return;
        };
        let pkt = match accept(crtp, now, from, bytes) {
            Ok(p) => p,
            Err(why) => {
                if let Some(e) = caller.refused(id, from, why) {
                    self.event(e);
                }
                return;
            }
        };
        if let CallState::Conference { mix, .. } = &mut self.state {
            if pkt.payload_type == cmedia.codec.payload_type() {
                mix.push(conference::PATIENT, cmedia.codec, pkt.payload);
            }
            return;
        }
        if self.state.talk().is_some_and(|t| t.hold.is_some()) {
            // On hold: the agent hears nothing of the patient.
            return;
        }
        relay(now, &pkt, cmedia, leg, out);
    }

    /// RTP from an agent's phone: to the patient once bridged, to the colleague while
    /// consulting, into the mix when joined; its keys are feature codes.
    fn agent_rtp(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        leg_id: LegId,
        from: SocketAddr,
        bytes: &[u8],
        out: &mut RtpQueue,
    ) {
        let id = self.id;
        let consult = self.state.consult();
        let Some(leg) = self.legs.iter_mut().find(|l| l.id == leg_id) else {
            return;
        };
        let (Some(lrtp), Some(lmedia)) = (leg.rtp.as_mut(), leg.media.as_ref()) else {
            return;
        };
        let pkt = match accept(lrtp, now, from, bytes) {
            Ok(p) => p,
            Err(why) => {
                if let Some(e) = leg.refused(id, from, why) {
                    self.event(e);
                }
                return;
            }
        };
        if !leg.connected {
            // Early media from the far end of a call out: the caller hears the network's
            // ringback or announcement until it answers.
            if leg.role == Role::Outside && matches!(self.state, CallState::Dialling { .. }) {
                let lmedia = lmedia.clone();
                relay(now, &pkt, &lmedia, &mut self.legs[0], out);
            }
            return;
        }
        let lmedia = lmedia.clone();
        let dtmf = Some(pkt.payload_type) == lmedia.dtmf_pt;
        if pkt.payload_type == lmedia.codec.payload_type() {
            // A three-way call: the voice goes to the mix.
            if let CallState::Conference { mix, .. } = &mut self.state {
                if let Some(party) = mix.party_of(leg_id) {
                    mix.push(party, lmedia.codec, pkt.payload);
                    return;
                }
            }
        }
        // Who hears this leg: the colleague and the consulting agent hear each other;
        // otherwise the leg talks to the patient.
        let on_consult = consult.filter(|c| c.agent == leg_id && c.with_colleague);
        let to_leg = match leg.role {
            Role::Consult { agent } if !dtmf => Some(agent),
            Role::Consult { .. } => return,
            _ if on_consult.is_some() && !dtmf => on_consult.map(|c| c.colleague),
            _ => None,
        };
        if let Some(to) = to_leg {
            let Some((_, other)) = pair_mut(&mut self.legs, leg_id, to) else {
                return;
            };
            let talking = match other.role {
                Role::Consult { .. } => other.connected,
                _ => consult.is_some_and(|c| {
                    c.agent == other.id && c.with_colleague && c.colleague == leg_id
                }),
            };
            if talking {
                relay(now, &pkt, &lmedia, other, out);
            }
            return;
        }
        if dtmf {
            // The agent's keys are feature codes, never relayed to the patient.
            let key = leg.rfc4733.on_packet(pkt.timestamp, pkt.payload);
            if let Some(d) = key {
                self.agent_key(now, ctx, leg_id, d);
            }
            return;
        }
        if self.state.agent_leg() != Some(leg_id) {
            return;
        }
        if self
            .state
            .talk()
            .is_some_and(|t| t.hold.is_some() || t.muted)
        {
            // Held (the patient hears music) or muted: the agent's voice stops here.
            return;
        }
        let caller = &mut self.legs[0];
        relay(now, &pkt, &lmedia, caller, out);
    }
}
