//! One leg of a call: a SIP dialog with one phone and the media between that phone and
//! the switchboard. The leg a call came in on is its caller's; the switchboard calls out
//! on the others (an offer to an agent, a transfer target, a consulted colleague, the
//! extension dialled), each with its [`Role`].

use super::features::FeatureKeys;
use crate::event::EngineEvent;
use sb_media::dtmf::Rfc4733Receiver;
use sb_media::goertzel::ToneDetector;
use sb_media::{Negotiated, RtpSession, SessionDescription};
use sb_sip::dialog::DialogId;
use sb_sip::transaction::TxId;
use sb_sip::Peer;
use sb_sip_msg::Uri;
use sb_types::vocab::{Side, TransferKind};
use sb_types::CallId;
use std::net::SocketAddr;
use std::time::Instant;

/// A leg, numbered across the engine; [`LegId::CALLER`] is, in every call, the leg the
/// call came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u64);

impl LegId {
    /// The leg a call came in on.
    pub const CALLER: LegId = LegId(0);
}

/// A leg of a call: what the router's index and the runtime's media requests name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegRef {
    /// The call the leg belongs to.
    pub call: CallId,
    /// The leg within it.
    pub leg: LegId,
}

/// Who a transfer rings next when its target does not answer, in order, each with the kind
/// of transfer that makes. After the last: the queue the call came from, or the operators'
/// queue; with neither, the call ends.
pub(crate) type Fallback = Vec<(String, TransferKind)>;

/// Why a leg exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    /// The leg the call came in on: a patient, or an extension dialling.
    Caller,
    /// The ACD offers the waiting patient to this agent.
    Offer,
    /// A transfer target rings for the patient; unanswered, the call rings `then` in turn.
    Transfer { then: Fallback },
    /// A colleague the agent on leg `agent` consults, the patient on hold meanwhile.
    Consult { agent: LegId },
    /// The extension dialled on a call between extensions.
    Direct,
    /// The outside number an extension dialled, through a carrier.
    Outside,
}

/// How a leg out to the phone network is named in events and logs: its number is a
/// patient's, personal data.
pub(crate) const OUTSIDE: &str = "outside";

/// Where a leg out through a carrier stands: the trunk it is on, the number, and the
/// trunks left to try if this one fails before the far end answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrunkLeg {
    /// The trunk (index into the engine's trunks).
    pub(crate) trunk: usize,
    /// The number called, normalised.
    pub(crate) number: String,
    /// The trunks to fail over to, in order.
    pub(crate) rest: Vec<usize>,
    /// The network answered with a provisional response: the call is in the far end's
    /// hands, and a later failure is the far end's answer, not the carrier's.
    pub(crate) progressed: bool,
}

/// One leg's SIP and media.
#[derive(Debug)]
pub(crate) struct Leg {
    pub(crate) id: LegId,
    pub(crate) role: Role,
    /// The extension an outgoing leg rings; the caller's user on the caller's leg.
    pub(crate) party: String,
    /// The flow its SIP goes over: where the caller's INVITE came from, or the flow the
    /// phone registered from.
    pub(crate) flow: Peer,
    /// Where an outgoing leg's INVITE goes: the phone's registered contact. (The parts only
    /// some legs use are boxed: a leg is in every call, twice or more.)
    pub(crate) contact: Option<Box<Uri>>,
    /// The INVITE's transaction: the caller's (server), or ours (client) while it rings.
    pub(crate) tx: Option<TxId>,
    pub(crate) dialog: Option<DialogId>,
    pub(crate) port: Option<u16>,
    /// The caller's offer; `None` for a late offer (we offer in the 200, they answer in
    /// the ACK).
    pub(crate) offer: Option<Box<SessionDescription>>,
    pub(crate) our_sdp: Option<SessionDescription>,
    pub(crate) media: Option<Negotiated>,
    pub(crate) rtp: Option<RtpSession>,
    pub(crate) rfc4733: Rfc4733Receiver,
    /// In-band key detection, on a caller's leg that did not negotiate telephone-event.
    pub(crate) tones: Option<Box<ToneDetector>>,
    /// An agent's keys, for feature codes (from their first key).
    pub(crate) keys: Option<Box<FeatureKeys>>,
    /// Transfer and consultation legs ring until then (the ACD times its own offers).
    pub(crate) ring_until: Option<Instant>,
    /// Answered and talking.
    pub(crate) connected: bool,
    /// Its phone transferred the patient by REFER and waits, on the line, for the outcome.
    pub(crate) referred: bool,
    /// A leg through a carrier: which trunk and number (on the caller's leg of a carrier's
    /// call, the trunk it came in on).
    pub(crate) trunk: Option<Box<TrunkLeg>>,
}

impl Leg {
    /// Who the leg is, as events and logs name it: the extension, or [`OUTSIDE`].
    pub(crate) fn shown(&self) -> &str {
        match self.trunk {
            Some(_) if self.role != Role::Caller => OUTSIDE,
            _ => &self.party,
        }
    }

    fn new(id: LegId, role: Role, party: &str, flow: Peer) -> Leg {
        Leg {
            id,
            role,
            party: party.to_string(),
            flow,
            contact: None,
            tx: None,
            dialog: None,
            port: None,
            offer: None,
            our_sdp: None,
            media: None,
            rtp: None,
            rfc4733: Rfc4733Receiver::default(),
            tones: None,
            keys: None,
            ring_until: None,
            connected: false,
            referred: false,
            trunk: None,
        }
    }

    /// A leg the switchboard is about to call out on, to the phone at `contact`.
    pub(crate) fn outgoing(id: LegId, role: Role, party: &str, contact: Uri, flow: Peer) -> Leg {
        Leg {
            contact: Some(Box::new(contact)),
            ..Leg::new(id, role, party, flow)
        }
    }

    /// A leg with nowhere to call yet (a callback's patient, until an agent answers).
    pub(crate) fn waiting(id: LegId, role: Role, party: &str) -> Leg {
        let nowhere = Peer::udp(SocketAddr::from(([0, 0, 0, 0], 0)));
        Leg::new(id, role, party, nowhere)
    }

    /// The leg a call came in on, its INVITE in transaction `tx`.
    pub(crate) fn caller(
        user: &str,
        tx: TxId,
        flow: Peer,
        offer: Option<SessionDescription>,
    ) -> Leg {
        Leg {
            tx: Some(tx),
            offer: offer.map(Box::new),
            ..Leg::new(LegId::CALLER, Role::Caller, user, flow)
        }
    }

    /// Which side of the call's records this leg's media counts for.
    pub(crate) fn side(&self) -> Side {
        if self.role == Role::Caller {
            Side::Caller
        } else {
            Side::Agent
        }
    }

    /// Media packets refused from strangers on this leg.
    pub(crate) fn strangers(&self) -> u64 {
        self.rtp.as_ref().map_or(0, |r| r.strangers_dropped)
    }

    /// The media measurement of the leg as it goes.
    pub(crate) fn quality(&self, call: CallId) -> Option<EngineEvent> {
        let rtp = self.rtp.as_ref()?;
        Some(EngineEvent::MediaQuality {
            call,
            side: self.side(),
            loss: rtp.stats.loss_fraction(),
            jitter_ms: rtp.stats.jitter_ms(),
            strangers: rtp.strangers_dropped,
            expected: rtp.stats.expected(),
            lost: rtp.stats.lost(),
        })
    }

    /// The event for a refused packet, on the leg's first refusal only.
    pub(crate) fn refused(
        &self,
        call: CallId,
        from: SocketAddr,
        why: sb_media::rtp::Drop,
    ) -> Option<EngineEvent> {
        let rtp = self.rtp.as_ref()?;
        (why == sb_media::rtp::Drop::Stranger && rtp.strangers_dropped == 1).then_some(
            EngineEvent::MediaRefused {
                call,
                side: self.side(),
                from,
            },
        )
    }

    /// What this leg relays to its phone comes from another party now: its timestamps are
    /// re-based so the phone sees one continuous stream.
    pub(crate) fn rebase(&mut self) {
        if let Some(rtp) = self.rtp.as_mut() {
            rtp.end_relay();
        }
    }
}

/// Two different legs of `legs`, both mutably.
pub(crate) fn pair_mut(legs: &mut [Leg], a: LegId, b: LegId) -> Option<(&mut Leg, &mut Leg)> {
    let ia = legs.iter().position(|l| l.id == a)?;
    let ib = legs.iter().position(|l| l.id == b)?;
    if ia == ib {
        return None;
    }
    if ia < ib {
        let (x, y) = legs.split_at_mut(ib);
        Some((&mut x[ia], &mut y[0]))
    } else {
        let (x, y) = legs.split_at_mut(ia);
        Some((&mut y[0], &mut x[ib]))
    }
}
