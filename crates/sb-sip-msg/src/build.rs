//! Building responses (RFC 3261 §8.2.6) and answering rejected messages.

use crate::error::Rejection;
use crate::header::Headers;
use crate::message::{Request, Response};

/// The standard reason phrase of a status code (RFC 3261 §21 and extensions).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// Builds a response to a request, copying Via, From, To, Call-ID and CSeq.
pub struct ResponseBuilder {
    resp: Response,
}

impl ResponseBuilder {
    /// A response with `status` to `req`: its Via, From, To, Call-ID and CSeq copied.
    pub fn new(req: &Request, status: u16) -> ResponseBuilder {
        ResponseBuilder {
            resp: Response {
                status,
                reason: reason_phrase(status).to_string(),
                core: crate::message::Core {
                    max_forwards: None,
                    ..req.core.clone()
                },
                headers: Headers::default(),
                body: Vec::new(),
            },
        }
    }

    /// Another reason phrase than the status's standard one.
    pub fn reason(mut self, reason: &str) -> Self {
        self.resp.reason = reason.to_string();
        self
    }

    /// Adds the To tag unless the request already carried one (RFC 3261 §8.2.6.2).
    pub fn to_tag(mut self, tag: &str) -> Self {
        if self.resp.core.to.tag().is_none() {
            self.resp.core.to.params.set("tag", Some(tag.to_string()));
        }
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.resp.headers.push(name, value);
        self
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.resp.headers.push("Content-Type", content_type);
        self.resp.body = body;
        self
    }

    /// The response.
    pub fn build(self) -> Response {
        self.resp
    }
}

impl Rejection {
    /// The bytes of the error response for a rejected request, when one can be addressed.
    pub fn response_bytes(&self, to_tag: &str) -> Option<Vec<u8>> {
        if !self.is_request || !self.echo.is_answerable() {
            return None;
        }
        let e = &self.echo;
        let mut out = format!("SIP/2.0 {} {}\r\n", self.status, reason_phrase(self.status));
        for v in &e.via {
            out.push_str(&format!("Via: {v}\r\n"));
        }
        if let Some(from) = &e.from {
            out.push_str(&format!("From: {from}\r\n"));
        }
        match &e.to {
            Some(to) if to.contains(";tag=") => out.push_str(&format!("To: {to}\r\n")),
            Some(to) => out.push_str(&format!("To: {to};tag={to_tag}\r\n")),
            None => {}
        }
        if let Some(c) = &e.call_id {
            out.push_str(&format!("Call-ID: {c}\r\n"));
        }
        if let Some(c) = &e.cseq {
            out.push_str(&format!("CSeq: {c}\r\n"));
        }
        let warning = self.error.to_string().replace('"', "'");
        out.push_str(&format!(
            "Warning: 399 switchboard \"{warning}\"\r\nContent-Length: 0\r\n\r\n"
        ));
        Some(out.into_bytes())
    }
}
