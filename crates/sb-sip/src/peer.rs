//! Where a message came from or goes to. The runtime owns sockets and connections; the
//! sans-IO core names a peer by transport and address only.

use sb_sip_msg::{Transport, Via};
use std::net::SocketAddr;

/// The transport of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransportKind {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

impl TransportKind {
    /// Whether the transport retransmits by itself (no SIP retransmissions then).
    pub fn is_reliable(self) -> bool {
        self == TransportKind::Tcp
    }

    /// The Via transport token.
    pub fn via_transport(self) -> Transport {
        match self {
            TransportKind::Udp => Transport::Udp,
            TransportKind::Tcp => Transport::Tcp,
        }
    }
}

/// Where a message came from or goes to: the transport and the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Peer {
    /// The transport.
    pub transport: TransportKind,
    /// The address.
    pub addr: SocketAddr,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Peer {
        Peer {
            transport: TransportKind::Udp,
            addr,
        }
    }

    /// A TCP peer.
    pub fn tcp(addr: SocketAddr) -> Peer {
        Peer {
            transport: TransportKind::Tcp,
            addr,
        }
    }
}

/// Stamps the top Via of a received request with `received` and fills a bare `rport`
/// (RFC 3261 §18.2.1, RFC 3581 §4).
pub fn stamp_via(via: &mut Via, source: &Peer) {
    let src_ip = source.addr.ip();
    let sent_by_matches = via.host.ip() == Some(src_ip);
    if !sent_by_matches || via.rport().is_some() {
        let host = sb_sip_msg::Host::from_ip(src_ip).to_string();
        // IPv6 received values are written without brackets (RFC 5118 §4.5 accepts both).
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        via.params.set("received", Some(host));
    }
    if via.rport().is_some() {
        via.params
            .set("rport", Some(source.addr.port().to_string()));
    }
}

/// Where the response to a request goes (RFC 3261 §18.2.2, RFC 3581 §4): over a stream,
/// back on the connection it came from; over UDP to the source address when `rport` asked
/// for it, otherwise to the `received` address and the sent-by port.
pub fn response_peer(via: &Via, source: &Peer) -> Peer {
    if source.transport.is_reliable() || via.rport().is_some() {
        return *source;
    }
    let port = via.port.unwrap_or(5060);
    Peer {
        transport: source.transport,
        addr: SocketAddr::new(source.addr.ip(), port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn via(s: &str) -> Via {
        Via::parse(s).expect("valid Via")
    }

    #[test]
    fn received_and_rport_follow_rfc_3581() {
        let src = Peer::udp("192.0.2.7:40123".parse().expect("addr"));
        // rport asked: both filled, and the response goes back to the source port.
        let mut v = via("SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKa;rport");
        stamp_via(&mut v, &src);
        assert_eq!(v.received(), Some("192.0.2.7"));
        assert_eq!(v.rport(), Some(Some(40123)));
        assert_eq!(response_peer(&v, &src), src);
        // No rport: received only, and the response goes to the sent-by port (§18.2.2).
        let mut v = via("SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bKb");
        stamp_via(&mut v, &src);
        assert_eq!(v.received(), Some("192.0.2.7"));
        assert_eq!(
            response_peer(&v, &src).addr,
            "192.0.2.7:5070".parse().expect("addr")
        );
        // sent-by already right: nothing added.
        let mut v = via("SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKc");
        stamp_via(&mut v, &src);
        assert_eq!(v.received(), None);
        // Streams answer on the connection the request came over.
        let tcp = Peer::tcp("192.0.2.7:40999".parse().expect("addr"));
        assert_eq!(
            response_peer(&via("SIP/2.0/TCP 10.0.0.2;branch=z9hG4bKd"), &tcp),
            tcp
        );
    }
}
