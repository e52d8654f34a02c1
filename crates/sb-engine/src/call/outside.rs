//! Legs out to the phone network through a carrier: the INVITE as the carrier wants it
//! (the number in its format, the hospital's caller ID, P-Asserted-Identity and Privacy),
//! the wait for the network and its early media, and failover to the next trunk when a carrier fails the call
//! before the far end has it (408, 5xx, silence), never after a far end's own answer (486
//! busy, 603 declined, 404).

use super::leg::{Leg, LegId, Role, TrunkLeg};
use super::state::CallState;
use super::{Call, Ctx, OutRoute, Output, Reply};
use crate::event::EngineEvent;
use sb_media::negotiate::{accept_answer, offer, Direction, LocalMedia};
use sb_media::{RtpSession, SessionDescription};
use sb_sip::OutgoingCall;
use sb_sip_msg::{NameAddr, Uri};
use sb_types::vocab::{EndReason, LegFailure, Side};
use std::time::Instant;

/// Whether a final status from a trunk means the carrier (not the far end) failed: the next
/// trunk may do better.
fn carrier_failed(status: u16) -> bool {
    status == 408 || (500..600).contains(&status)
}

impl Call {
    /// Calls `route.number` out on the first of its trunks, as a leg of `role`.
    pub(super) fn dial_out(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        role: Role,
        route: OutRoute,
    ) -> Option<LegId> {
        let mut trunks = route.trunks.into_iter();
        let trunk = trunks.next()?;
        self.trunk_leg(
            now,
            ctx,
            role,
            TrunkLeg {
                trunk,
                number: route.number,
                rest: trunks.collect(),
                progressed: false,
            },
        )
    }

    fn trunk_leg(&mut self, now: Instant, ctx: &Ctx<'_>, role: Role, t: TrunkLeg) -> Option<LegId> {
        let id = LegId(self.next_leg);
        let leg = self.trunk_leg_as(now, ctx, id, role, t)?;
        self.next_leg += 1;
        self.legs.push(leg);
        self.out.push_back(Output::OpenPort { leg: id });
        Some(id)
    }

    /// Leg `id` out on trunk `t` (not yet part of the call; its port is still to open).
    pub(super) fn trunk_leg_as(
        &self,
        now: Instant,
        ctx: &Ctx<'_>,
        id: LegId,
        role: Role,
        t: TrunkLeg,
    ) -> Option<Leg> {
        let settings = ctx.sip.trunk_settings(t.trunk)?;
        let plan = ctx.cfg.outside.trunks.get(t.trunk)?;
        let number = ctx
            .cfg
            .outside
            .numbering
            .for_carrier(&t.number, plan.format);
        let uri = Uri::parse(&format!("sip:{number}@{}", settings.domain)).ok()?;
        let mut leg = Leg::outgoing(id, role, &t.number, uri, settings.carrier);
        leg.ring_until = Some(now + ctx.cfg.outside.setup_timeout);
        leg.trunk = Some(Box::new(t));
        Some(leg)
    }

    /// The INVITE for a leg out on a trunk, offering `local`.
    pub(super) fn trunk_invite(
        &mut self,
        ctx: &Ctx<'_>,
        id: LegId,
        local: &LocalMedia,
    ) -> Option<OutgoingCall> {
        let leg = self.leg_mut(id)?;
        let t = leg.trunk.as_deref()?;
        let plan = ctx.cfg.outside.trunks.get(t.trunk)?;
        let settings = ctx.sip.trunk_settings(t.trunk)?;
        let numbering = &ctx.cfg.outside.numbering;
        let uri = leg.contact.as_deref()?.clone();
        let ours = numbering.for_carrier(&plan.caller_id.number, plan.format);
        let name = plan
            .caller_id
            .name
            .as_ref()
            .map(|n| format!("\"{}\" ", n.replace(['"', '\\'], "")))
            .unwrap_or_default();
        let from = NameAddr::parse(&format!("{name}<sip:{ours}@{}>", settings.domain)).ok()?;
        let to = NameAddr::new(uri.clone());
        let mut headers = Vec::new();
        if plan.caller_id.asserted {
            headers.push((
                "P-Asserted-Identity",
                format!("{name}<sip:{ours}@{}>", settings.domain),
            ));
        }
        if plan.caller_id.withheld {
            headers.push(("Privacy", "id".to_string()));
        }
        let sdp = offer(local, Direction::SendRecv);
        leg.our_sdp = Some(sdp.clone());
        Some(OutgoingCall {
            uri,
            peer: leg.flow,
            from,
            to,
            sdp: sdp.to_bytes(),
            headers,
            credentials: plan.credentials.clone(),
            call_id: None,
        })
    }

    /// A provisional answer on leg `id`: on a trunk, the network has the call now; it may
    /// ring as long as an outside number rings. Its SDP is early media for the caller.
    pub(super) fn leg_progress(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        id: LegId,
        status: u16,
        sdp: Option<&[u8]>,
    ) {
        let ring = ctx.cfg.outside.ring;
        let Some(leg) = self.leg_mut(id) else {
            return;
        };
        let Some(t) = leg.trunk.as_deref_mut() else {
            return;
        };
        // 100 Trying comes from the carrier's proxy: only a later answer is the network's.
        if status > 100 && !t.progressed {
            t.progressed = true;
            leg.ring_until = Some(now + ring);
        }
        if let Some(sdp) = sdp {
            self.early_media(now, ctx, id, sdp);
        }
    }

    /// The far end of a call out sent early media (183 with SDP, RFC 3960): the caller
    /// hears the network's ringback or announcement until it answers. The caller gets our
    /// answer to its offer in a 183 of its own; a caller who made no offer hears its own
    /// ringback (an offer in an unreliable provisional answer is not allowed).
    fn early_media(&mut self, now: Instant, ctx: &Ctx<'_>, id: LegId, sdp: &[u8]) {
        if !matches!(self.state, CallState::Dialling { answered: None }) {
            return;
        }
        let seed = self.leg_seed(ctx, id);
        let Some(leg) = self.leg_mut(id) else {
            return;
        };
        if leg.role != Role::Outside || leg.media.is_some() {
            return;
        }
        let Some(neg) = SessionDescription::parse(sdp)
            .ok()
            .zip(leg.our_sdp.as_ref())
            .and_then(|(ans, ours)| accept_answer(ours, &ans).ok())
        else {
            return;
        };
        leg.rtp = Some(RtpSession::new(now, seed, neg.remote).with_sip_source(leg.flow.addr.ip()));
        leg.media = Some(neg);
        let caller = self.caller_leg();
        if caller.offer.is_none() {
            return;
        }
        if let (Some(tx), Some(ours)) = (caller.tx, caller.our_sdp.clone()) {
            self.respond(tx, Reply::sdp(183, &ours));
        }
    }

    /// Our INVITE on leg `id` was refused with `status`: on a trunk, the attempt is
    /// recorded with the carrier's Reason, and a carrier's failure moves on to the next
    /// trunk.
    pub(super) fn leg_refused(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        id: LegId,
        status: u16,
        reason: Option<String>,
    ) {
        if self.failover(now, ctx, id, status, reason) {
            return;
        }
        self.leg_failed(now, ctx, id, status, LegFailure::Refused);
    }

    /// Tries the next trunk for leg `id`, which failed with `status` (408 for silence).
    /// Returns whether the failure is dealt with: another trunk took the call over, or none
    /// could and the call ended.
    pub(super) fn failover(
        &mut self,
        now: Instant,
        ctx: &Ctx<'_>,
        id: LegId,
        status: u16,
        cause: Option<String>,
    ) -> bool {
        let Some(leg) = self.leg(id) else {
            return false;
        };
        let Some(t) = leg.trunk.as_deref().cloned() else {
            return false;
        };
        let role = leg.role.clone();
        let mut rest = t.rest.into_iter();
        // Once the network had the call (it rang, or played early media), a failure is the
        // far end's answer: the next carrier would only reach the same far end.
        let next = rest
            .next()
            .filter(|_| carrier_failed(status) && !t.progressed);
        self.attempt(ctx, t.trunk, status, cause, next.is_some());
        let Some(next) = next else {
            return false;
        };
        let next = TrunkLeg {
            trunk: next,
            number: t.number,
            rest: rest.collect(),
            progressed: false,
        };
        if id == LegId::CALLER {
            // A callback's patient: the first leg starts again on the next trunk.
            let old = self.caller_leg().port;
            return match self.trunk_leg_as(now, ctx, id, role, next) {
                Some(leg) => {
                    self.out.push_back(Output::LegGone {
                        tx: None,
                        dialog: None,
                        port: old,
                    });
                    self.legs[0] = leg;
                    self.out.push_back(Output::OpenPort { leg: id });
                    true
                }
                None => false,
            };
        }
        self.drop_leg(id, false);
        if self.trunk_leg(now, ctx, role, next).is_none() {
            self.end(503, EndReason::NoTrunk, Side::Engine);
        }
        true
    }

    /// The far end answered leg `id`: recorded against its trunk.
    pub(super) fn trunk_answered(&mut self, ctx: &Ctx<'_>, id: LegId) {
        if let Some(trunk) = self
            .leg(id)
            .and_then(|l| l.trunk.as_deref())
            .map(|t| t.trunk)
        {
            self.attempt(ctx, trunk, 200, None, false);
        }
    }

    /// Records how an attempt on `trunk` ended.
    fn attempt(
        &mut self,
        ctx: &Ctx<'_>,
        trunk: usize,
        status: u16,
        cause: Option<String>,
        failover: bool,
    ) {
        let trunk = ctx
            .cfg
            .outside
            .trunks
            .get(trunk)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        self.event(EngineEvent::TrunkAttempt {
            call: self.id,
            trunk,
            status,
            cause,
            failover,
        });
    }
}
