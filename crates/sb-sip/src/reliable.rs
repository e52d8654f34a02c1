//! Reliable provisional responses, as a UAS (RFC 3262). When an INVITE says `Require:
//! 100rel` (a carrier's gateway often does), every provisional answer but 100 goes out with
//! `Require: 100rel` and an `RSeq`, again and again (T1, doubling, over unreliable
//! transports) until the caller acknowledges it with a PRACK naming it in `RAck`. One is
//! outstanding at a time: a later one waits for the PRACK of the one before (§3). The final
//! answer ends it all.
//!
//! Sans-IO: the endpoint hands in what it is about to send and what arrives; this says
//! what to send and when.

use crate::peer::Peer;
use crate::transaction::TxId;
use sb_sip_msg::{Method, Request, Response};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Whether the request requires reliable provisional responses.
pub(crate) fn required(req: &Request) -> bool {
    req.method == Method::Invite
        && req
            .headers
            .list("Require")
            .any(|t| t.eq_ignore_ascii_case("100rel"))
}

/// `RAck: rseq cseq method` (RFC 3262 §7.2).
fn parse_rack(value: &str) -> Option<(u32, u32)> {
    let mut parts = value.split_whitespace();
    let rseq = parts.next()?.parse().ok()?;
    let cseq = parts.next()?.parse().ok()?;
    let method = parts.next()?;
    (method.eq_ignore_ascii_case("INVITE") && parts.next().is_none()).then_some((rseq, cseq))
}

/// The provisional answer out and not yet acknowledged.
#[derive(Debug)]
struct Outstanding {
    rseq: u32,
    bytes: Vec<u8>,
    /// Where retransmissions go; `None` over a reliable transport (no retransmission).
    peer: Option<Peer>,
    interval: Duration,
    next: Instant,
    give_up: Instant,
}

/// One INVITE's reliable provisional answers.
#[derive(Debug)]
struct Invite {
    call_id: String,
    cseq: u32,
    next_rseq: u32,
    out: Option<Outstanding>,
    /// Provisional answers waiting for the PRACK of the one outstanding.
    queued: VecDeque<Response>,
}

/// Every INVITE with reliable provisional answers under way.
#[derive(Debug, Default)]
pub(crate) struct ReliableProvisionals {
    invites: HashMap<TxId, Invite>,
}

impl ReliableProvisionals {
    /// `resp`, a provisional answer to `req` in `tx` that must be sent reliably: returns it
    /// with its `RSeq` and `Require` to send now, or `None` while an earlier one waits for
    /// its PRACK (it goes when that comes). `first_rseq` seeds the numbering (random per
    /// RFC 3262 §3, below 2**31).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send(
        &mut self,
        now: Instant,
        tx: TxId,
        req: &Request,
        resp: Response,
        peer: Option<Peer>,
        t1: Duration,
        first_rseq: u32,
    ) -> Option<Response> {
        let inv = self.invites.entry(tx).or_insert_with(|| Invite {
            call_id: req.core.call_id.clone(),
            cseq: req.core.cseq.seq,
            next_rseq: first_rseq.clamp(1, 1 << 30),
            out: None,
            queued: VecDeque::new(),
        });
        if inv.out.is_some() {
            inv.queued.push_back(resp);
            return None;
        }
        Some(inv.emit(now, resp, peer, t1))
    }

    /// Whether a PRACK with this Call-ID may be for one of ours (the front lets it in).
    pub(crate) fn knows_call(&self, call_id: &str) -> bool {
        self.invites.values().any(|i| i.call_id == call_id)
    }

    /// A PRACK for `call_id` with `rack`: `None` when it acknowledges nothing of ours (481);
    /// otherwise the INVITE's transaction and the next provisional answer to send, if one
    /// was waiting.
    pub(crate) fn on_prack(
        &mut self,
        now: Instant,
        call_id: &str,
        rack: &str,
        peer_of: impl Fn(TxId) -> Option<Peer>,
        t1: Duration,
    ) -> Option<(TxId, Option<Response>)> {
        let (rseq, cseq) = parse_rack(rack)?;
        let (tx, inv) = self.invites.iter_mut().find(|(_, i)| {
            i.call_id == call_id && i.cseq == cseq && i.out.as_ref().is_some_and(|o| o.rseq == rseq)
        })?;
        inv.out = None;
        let peer = peer_of(*tx);
        let next = inv.queued.pop_front().map(|r| inv.emit(now, r, peer, t1));
        Some((*tx, next))
    }

    /// The INVITE in `tx` got its final answer: nothing more to repeat.
    pub(crate) fn finished(&mut self, tx: TxId) {
        self.invites.remove(&tx);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.invites
            .values()
            .filter_map(|i| i.out.as_ref())
            .filter(|o| o.peer.is_some())
            .map(|o| o.next.min(o.give_up))
            .min()
    }

    /// Repeats what is due into `out`; past 64*T1 unacknowledged, gives up repeating (the
    /// INVITE's final answer still ends the call as usual).
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut VecDeque<(Peer, Vec<u8>)>) {
        for inv in self.invites.values_mut() {
            let Some(o) = inv.out.as_mut() else { continue };
            let Some(peer) = o.peer else { continue };
            if now >= o.give_up {
                o.peer = None;
                continue;
            }
            if now >= o.next {
                out.push_back((peer, o.bytes.clone()));
                o.interval *= 2;
                o.next = now + o.interval;
            }
        }
    }
}

impl Invite {
    fn emit(
        &mut self,
        now: Instant,
        mut resp: Response,
        peer: Option<Peer>,
        t1: Duration,
    ) -> Response {
        let rseq = self.next_rseq;
        self.next_rseq += 1;
        resp.headers.push("Require", "100rel");
        resp.headers.push("RSeq", rseq.to_string());
        self.out = Some(Outstanding {
            rseq,
            bytes: resp.to_bytes(),
            peer: peer.filter(|p| !p.transport.is_reliable()),
            interval: t1,
            next: now + t1,
            give_up: now + t1 * 64,
        });
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sb_sip_msg::{parse_datagram, Message, ResponseBuilder};

    fn invite(require: &str) -> Request {
        let text = format!("INVITE sip:8000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKa\r\nFrom: <sip:+8613900000001@carrier.test>;tag=f\r\nTo: <sip:8000@127.0.0.1>\r\nCall-ID: rel-1\r\nCSeq: 7 INVITE\r\nMax-Forwards: 70\r\n{require}Content-Length: 0\r\n\r\n");
        match parse_datagram(text.as_bytes()) {
            Ok(Some(Message::Request(r))) => r,
            other => panic!("{other:?}"),
        }
    }

    fn peer() -> Option<Peer> {
        Some(Peer::udp("127.0.0.2:5060".parse().unwrap()))
    }

    #[test]
    fn only_a_required_100rel_makes_answers_reliable() {
        assert!(required(&invite("Require: 100rel\r\n")));
        assert!(required(&invite("Require: timer, 100rel\r\n")));
        assert!(!required(&invite("Supported: 100rel\r\n")));
        assert!(!required(&invite("")));
    }

    #[test]
    fn answers_repeat_until_pracked_and_wait_their_turn() {
        let t0 = sb_sim::Clock::new().now();
        let t1 = Duration::from_millis(500);
        let req = invite("Require: 100rel\r\n");
        let mut r = ReliableProvisionals::default();
        let ringing = ResponseBuilder::new(&req, 180).to_tag("t").build();
        let sent = r
            .send(t0, TxId(1), &req, ringing, peer(), t1, 4000)
            .expect("sent at once");
        assert_eq!(sent.headers.get("RSeq"), Some("4000"));
        assert_eq!(sent.headers.get("Require"), Some("100rel"));
        // A second waits for the first's PRACK.
        let progress = ResponseBuilder::new(&req, 183).to_tag("t").build();
        assert!(r.send(t0, TxId(1), &req, progress, peer(), t1, 1).is_none());
        // Repeated at T1, then 2*T1.
        let mut out = VecDeque::new();
        r.handle_timeout(t0 + t1, &mut out);
        assert_eq!(out.len(), 1);
        r.handle_timeout(t0 + t1 * 2, &mut out);
        assert_eq!(out.len(), 1, "not before 2*T1 after the last");
        r.handle_timeout(t0 + t1 * 3, &mut out);
        assert_eq!(out.len(), 2);
        // A PRACK for something else is not ours; the right one releases the 183.
        assert!(r
            .on_prack(t0, "rel-1", "4001 7 INVITE", |_| peer(), t1)
            .is_none());
        assert!(r
            .on_prack(t0, "rel-1", "4000 6 INVITE", |_| peer(), t1)
            .is_none());
        assert!(r
            .on_prack(t0, "rel-1", "4000 7 BYE", |_| peer(), t1)
            .is_none());
        let (tx, next) = r
            .on_prack(t0, "rel-1", "4000 7 INVITE", |_| peer(), t1)
            .expect("ours");
        assert_eq!(tx, TxId(1));
        let next = next.expect("the 183 goes now");
        assert_eq!((next.status, next.headers.get("RSeq")), (183, Some("4001")));
        // The final answer ends it.
        r.finished(TxId(1));
        assert!(r.poll_timeout().is_none());
        assert!(!r.knows_call("rel-1"));
    }

    #[test]
    fn repetition_stops_after_64_t1() {
        let t0 = sb_sim::Clock::new().now();
        let t1 = Duration::from_millis(500);
        let req = invite("Require: 100rel\r\n");
        let mut r = ReliableProvisionals::default();
        let ringing = ResponseBuilder::new(&req, 180).to_tag("t").build();
        r.send(t0, TxId(1), &req, ringing, peer(), t1, 1);
        let mut out = VecDeque::new();
        let mut now = t0;
        while let Some(t) = r.poll_timeout() {
            now = t;
            r.handle_timeout(now, &mut out);
            assert!(now <= t0 + t1 * 64);
        }
        assert!(out.len() <= 7, "{}", out.len());
        assert!(now >= t0 + t1 * 32);
    }
}
