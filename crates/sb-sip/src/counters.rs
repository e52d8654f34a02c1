//! What the endpoint counts for the metrics: SIP requests by method and responses by status
//! class, each way, and the messages refused as malformed. Plain integers bumped as
//! messages pass; read when Prometheus scrapes.

use sb_sip_msg::Method;

/// The methods counted by name; any other is counted as `other`.
pub const METHODS: [&str; 15] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "INFO",
    "UPDATE",
    "REFER",
    "NOTIFY",
    "SUBSCRIBE",
    "MESSAGE",
    "PRACK",
    "PUBLISH",
    "other",
];

/// Status classes 1xx to 6xx.
pub const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];

/// One direction's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Way {
    /// Requests per method, in the order of [`METHODS`].
    pub requests: [u64; METHODS.len()],
    /// Responses per status class, in the order of [`CLASSES`].
    pub responses: [u64; CLASSES.len()],
}

impl Way {
    fn request(&mut self, method: &str) {
        let i = METHODS[..METHODS.len() - 1]
            .iter()
            .position(|m| *m == method)
            .unwrap_or(METHODS.len() - 1);
        self.requests[i] += 1;
    }

    fn response(&mut self, status: u16) {
        if let Some(n) = (status / 100).checked_sub(1).filter(|&c| c < 6) {
            self.responses[usize::from(n)] += 1;
        }
    }
}

/// The endpoint's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SipCounters {
    /// Received.
    pub inbound: Way,
    /// Sent (retransmissions included: each is a message on the wire).
    pub outbound: Way,
    /// Messages that did not parse.
    pub malformed: u64,
    /// Requests whose credentials were wrong (password, user, nonce).
    pub auth_failures: u64,
}

impl SipCounters {
    pub(crate) fn received_request(&mut self, method: &Method) {
        self.inbound.request(method.as_str());
    }

    pub(crate) fn received_response(&mut self, status: u16) {
        self.inbound.response(status);
    }

    /// A message on its way out, from its first line.
    pub(crate) fn sent(&mut self, bytes: &[u8]) {
        if let Some(rest) = bytes.strip_prefix(b"SIP/2.0 ") {
            let status = rest
                .get(..3)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            self.outbound.response(status);
        } else {
            let end = bytes.iter().position(|&b| b == b' ').unwrap_or(0);
            let method = std::str::from_utf8(&bytes[..end]).unwrap_or("");
            self.outbound.request(method);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_counted_by_method_and_class_each_way() {
        let mut c = SipCounters::default();
        c.sent(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n");
        c.sent(b"SIP/2.0 486 Busy Here\r\n\r\n");
        c.sent(b"INVITE sip:1003@h SIP/2.0\r\n\r\n");
        c.sent(b"FOO sip:x SIP/2.0\r\n\r\n");
        c.sent(b"SIP/2.0 99 Odd\r\n\r\n");
        c.received_request(&Method::Register);
        c.received_request(&Method::Extension("FOO".into()));
        c.received_response(180);
        assert_eq!(c.outbound.responses, [0, 1, 0, 1, 0, 0]);
        assert_eq!(c.outbound.requests[0], 1, "INVITE");
        assert_eq!(c.outbound.requests[14], 1, "other");
        assert_eq!(c.inbound.requests[5], 1, "REGISTER");
        assert_eq!(c.inbound.requests[14], 1, "other");
        assert_eq!(c.inbound.responses, [1, 0, 0, 0, 0, 0]);
    }
}
