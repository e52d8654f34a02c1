//! Dialogs (RFC 3261 §12): identity by Call-ID and tags, route sets, CSeq spaces and the
//! remote target, for both the UAS and the UAC side of the B2BUA's legs.

use crate::peer::Peer;
use sb_sip_msg::message::Core;
use sb_sip_msg::{CSeq, Headers, Method, NameAddr, Request, Response, Uri, Via};

/// A dialog, by Call-ID and the two tags (RFC 3261 §12).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    /// The Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

impl DialogId {
    /// The id of the dialog an incoming request belongs to, from our side: our tag is in
    /// To, the peer's in From (§12.2.2).
    pub fn of_incoming(req: &Request) -> Option<DialogId> {
        Some(DialogId {
            call_id: req.core.call_id.clone(),
            local_tag: req.core.to.tag()?.to_string(),
            remote_tag: req.core.from.tag().unwrap_or_default().to_string(),
        })
    }
}

/// Where a dialog stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// After a provisional response with a To tag.
    Early,
    /// After a 2xx.
    Confirmed,
}

/// Why an in-dialog request was refused (§12.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogError {
    /// CSeq lower than or equal to the last one: 500.
    CSeqOutOfOrder,
}

/// One dialog: what requests in it carry (RFC 3261 §12).
#[derive(Debug, Clone)]
pub struct Dialog {
    /// Its id.
    pub id: DialogId,
    /// Its state.
    pub state: DialogState,
    /// Our CSeq, the last sent.
    pub local_seq: u32,
    /// The peer's CSeq, the last received.
    pub remote_seq: Option<u32>,
    /// Our URI (From of our requests).
    pub local_uri: NameAddr,
    /// The peer's URI (To of our requests).
    pub remote_uri: NameAddr,
    /// Where our requests go: the peer's Contact.
    pub remote_target: Uri,
    /// Route set in the order requests must carry it (§12.1.1, §12.1.2).
    pub route_set: Vec<NameAddr>,
    /// Our Contact.
    pub local_contact: NameAddr,
    /// The flow requests go over.
    pub peer: Peer,
}

fn record_routes(headers: &Headers) -> Vec<NameAddr> {
    headers
        .list("Record-Route")
        .filter_map(|r| NameAddr::parse(r).ok())
        .collect()
}

fn contact_uri(headers: &Headers) -> Option<Uri> {
    headers
        .list("Contact")
        .next()
        .and_then(|c| NameAddr::parse(c).ok())
        .map(|n| n.uri)
}

impl Dialog {
    /// The UAS side, created when we answer `req` with `local_tag` (§12.1.1).
    pub fn uas(
        req: &Request,
        local_tag: &str,
        local_contact: NameAddr,
        peer: Peer,
        local_seq: u32,
    ) -> Option<Dialog> {
        let mut local_uri = req.core.to.clone();
        local_uri.params.set("tag", Some(local_tag.to_string()));
        Some(Dialog {
            id: DialogId {
                call_id: req.core.call_id.clone(),
                local_tag: local_tag.to_string(),
                remote_tag: req.core.from.tag().unwrap_or_default().to_string(),
            },
            state: DialogState::Confirmed,
            local_seq,
            remote_seq: Some(req.core.cseq.seq),
            local_uri,
            remote_uri: req.core.from.clone(),
            remote_target: contact_uri(&req.headers)?,
            route_set: record_routes(&req.headers),
            local_contact,
            peer,
        })
    }

    /// The UAC side, created from a response with a To tag to our request (§12.1.2).
    pub fn uac(req: &Request, resp: &Response, peer: Peer) -> Option<Dialog> {
        let remote_tag = resp.core.to.tag()?.to_string();
        let mut route_set = record_routes(&resp.headers);
        route_set.reverse();
        Some(Dialog {
            id: DialogId {
                call_id: req.core.call_id.clone(),
                local_tag: req.core.from.tag()?.to_string(),
                remote_tag,
            },
            state: if resp.status < 200 {
                DialogState::Early
            } else {
                DialogState::Confirmed
            },
            local_seq: req.core.cseq.seq,
            remote_seq: None,
            local_uri: req.core.from.clone(),
            remote_uri: resp.core.to.clone(),
            remote_target: contact_uri(&resp.headers)?,
            route_set,
            local_contact: NameAddr::parse(req.headers.list("Contact").next()?).ok()?,
            peer,
        })
    }

    /// Checks a request received in this dialog and applies its target refresh (§12.2.2).
    pub fn on_remote_request(&mut self, req: &Request) -> Result<(), DialogError> {
        let seq = req.core.cseq.seq;
        if !matches!(req.method, Method::Ack | Method::Cancel) {
            if self.remote_seq.is_some_and(|last| seq <= last) {
                return Err(DialogError::CSeqOutOfOrder);
            }
            self.remote_seq = Some(seq);
        }
        if matches!(req.method, Method::Invite | Method::Update) {
            if let Some(target) = contact_uri(&req.headers) {
                self.remote_target = target;
            }
        }
        Ok(())
    }

    /// Builds a request inside the dialog (§12.2.1.1). ACK reuses the INVITE's CSeq number,
    /// every other method takes the next local one.
    pub fn new_request(&mut self, method: Method, via: Via, invite_seq: Option<u32>) -> Request {
        let seq = match (&method, invite_seq) {
            (Method::Ack | Method::Cancel, Some(s)) => s,
            _ => {
                self.local_seq += 1;
                self.local_seq
            }
        };
        let mut headers = Headers::default();
        let loose = self
            .route_set
            .first()
            .and_then(|r| r.uri.as_sip())
            .is_none_or(|u| u.params.has("lr"));
        let uri = if loose {
            for r in &self.route_set {
                headers.push("Route", r.to_string());
            }
            self.remote_target.clone()
        } else {
            // Strict routing (§12.2.1.1): the first route becomes the Request-URI and the
            // remote target goes last in Route.
            // Strict routing implies a first route: an empty set counts as loose above.
            let mut first = self.route_set[0].uri.clone();
            if let Some(s) = first.as_sip_mut() {
                s.params.0.retain(|(n, _)| {
                    !n.eq_ignore_ascii_case("method") && !n.eq_ignore_ascii_case("maddr")
                });
            }
            for r in &self.route_set[1..] {
                headers.push("Route", r.to_string());
            }
            headers.push(
                "Route",
                NameAddr::new(self.remote_target.clone()).to_string(),
            );
            first
        };
        headers.push("Contact", self.local_contact.to_string());
        Request {
            method: method.clone(),
            uri,
            core: Core {
                via: vec![via],
                from: self.local_uri.clone(),
                to: self.remote_uri.clone(),
                call_id: self.id.call_id.clone(),
                cseq: CSeq { seq, method },
                max_forwards: Some(70),
            },
            headers,
            body: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sb_sip_msg::Message;

    fn parse(s: &str) -> Message {
        Message::parse(s.replace('\n', "\r\n").as_bytes(), true).expect("valid")
    }

    const INVITE: &str = "INVITE sip:8000@pbx SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKa\nRecord-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\nFrom: <sip:patient@carrier>;tag=ft\nTo: <sip:8000@pbx>\nCall-ID: c1\nCSeq: 10 INVITE\nContact: <sip:patient@10.0.0.5>\nContent-Length: 0\n\n";

    #[test]
    fn uas_dialog_routes_and_cseq() {
        let Message::Request(inv) = parse(INVITE) else {
            panic!("request")
        };
        let peer = Peer::udp("10.0.0.5:5060".parse().expect("addr"));
        let contact = NameAddr::parse("<sip:8000@127.0.0.1>").expect("contact");
        let mut d = Dialog::uas(&inv, "lt", contact, peer, 100).expect("dialog");
        assert_eq!(
            d.id,
            DialogId::of_incoming(&{
                let mut r = inv.clone();
                r.core.to.params.set("tag", Some("lt".into()));
                r
            })
            .expect("id")
        );
        let via = Via::parse("SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKb").expect("via");
        let bye = d.new_request(Method::Bye, via, None);
        assert_eq!(bye.core.cseq.seq, 101);
        assert_eq!(bye.uri.to_string(), "sip:patient@10.0.0.5");
        let routes: Vec<&str> = bye.headers.get_all("Route").collect();
        assert_eq!(routes, ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]);
        assert_eq!(bye.core.from.tag(), Some("lt"));
        assert_eq!(bye.core.to.tag(), Some("ft"));
        // A re-INVITE with a lower CSeq is refused; a higher one refreshes the target.
        let mut reinv = inv.clone();
        reinv.core.cseq.seq = 9;
        assert_eq!(
            d.on_remote_request(&reinv),
            Err(DialogError::CSeqOutOfOrder)
        );
        reinv.core.cseq.seq = 11;
        reinv.headers.remove("Contact");
        reinv.headers.push("Contact", "<sip:patient@10.0.0.9>");
        assert!(d.on_remote_request(&reinv).is_ok());
        assert_eq!(d.remote_target.to_string(), "sip:patient@10.0.0.9");
    }

    #[test]
    fn uac_dialog_reverses_record_route_and_strict_routes() {
        let Message::Request(inv) = parse(&INVITE.replace(
            "Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\n",
            "",
        )) else {
            panic!()
        };
        let resp = parse("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKa\nRecord-Route: <sip:p2.example>\nRecord-Route: <sip:p1.example;lr>\nFrom: <sip:patient@carrier>;tag=ft\nTo: <sip:8000@pbx>;tag=rt\nCall-ID: c1\nCSeq: 10 INVITE\nContact: <sip:8000@192.0.2.1>\nContent-Length: 0\n\n");
        let Message::Response(resp) = resp else {
            panic!()
        };
        let peer = Peer::udp("192.0.2.1:5060".parse().expect("addr"));
        let mut d = Dialog::uac(&inv, &resp, peer).expect("dialog");
        assert_eq!(d.id.remote_tag, "rt");
        assert_eq!(d.route_set[0].to_string(), "<sip:p1.example;lr>");
        let via = Via::parse("SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKc").expect("via");
        let ack = d.new_request(Method::Ack, via.clone(), Some(10));
        assert_eq!(ack.core.cseq.seq, 10);
        assert_eq!(ack.uri.to_string(), "sip:8000@192.0.2.1");
        // p1 is loose but reversed order puts it first: loose routing.
        d.route_set.reverse();
        let bye = d.new_request(Method::Bye, via, None);
        assert_eq!(bye.uri.to_string(), "sip:p2.example");
        let routes: Vec<&str> = bye.headers.get_all("Route").collect();
        assert_eq!(routes, ["<sip:p1.example;lr>", "<sip:8000@192.0.2.1>"]);
    }
}
