//! Transaction matching: RFC 3261 §17.1.3 (client) and §17.2.3 (server), with the RFC 2543
//! fallback for requests whose branch lacks the magic cookie.

use sb_sip_msg::{Method, Request, Response};

/// Method as it matters for matching: an ACK belongs to the INVITE transaction.
fn match_method(m: &Method) -> Method {
    match m {
        Method::Ack => Method::Invite,
        other => other.clone(),
    }
}

/// What matches a request to its server transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerKey {
    /// Branch, sent-by and method (§17.2.3).
    Rfc3261 {
        /// The top Via's branch.
        branch: String,
        /// The top Via's sent-by.
        sent_by: String,
        /// The method (ACK matched as INVITE).
        method: Method,
    },
    /// Request-URI, tags, Call-ID, CSeq number and top Via (§17.2.3, RFC 2543 §17).
    Rfc2543 {
        /// The Request-URI.
        request_uri: String,
        /// The From tag.
        from_tag: Option<String>,
        /// The Call-ID.
        call_id: String,
        /// The CSeq number.
        cseq: u32,
        /// The top Via.
        via: String,
        /// The method (ACK matched as INVITE).
        method: Method,
    },
}

impl ServerKey {
    /// The key of `req`.
    pub fn of(req: &Request) -> ServerKey {
        Self::with_method(req, match_method(&req.method))
    }

    /// The key of the INVITE transaction a CANCEL targets (RFC 3261 §9.2).
    pub fn invite_for_cancel(cancel: &Request) -> ServerKey {
        Self::with_method(cancel, Method::Invite)
    }

    fn with_method(req: &Request, method: Method) -> ServerKey {
        let via = req.top_via();
        match via.rfc3261_branch() {
            Some(b) => ServerKey::Rfc3261 {
                branch: b.to_string(),
                sent_by: via.sent_by().to_ascii_lowercase(),
                method,
            },
            None => ServerKey::Rfc2543 {
                request_uri: req.uri.to_string(),
                from_tag: req.core.from.tag().map(str::to_string),
                call_id: req.core.call_id.clone(),
                cseq: req.core.cseq.seq,
                via: via.to_string(),
                method,
            },
        }
    }
}

/// What matches a response to its client transaction (§17.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    /// The branch of our top Via.
    pub branch: String,
    /// The method of the CSeq.
    pub method: Method,
}

impl ClientKey {
    /// The key a response maps to: top Via branch and CSeq method (§17.1.3).
    pub fn of_response(resp: &Response) -> Option<ClientKey> {
        let branch = resp.top_via().branch()?.to_string();
        Some(ClientKey {
            branch,
            method: match_method(&resp.core.cseq.method),
        })
    }
}
