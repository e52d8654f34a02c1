//! Session timers, as a UAS (RFC 4028). A carrier that supports them (`Supported: timer`)
//! and asks for one (`Session-Expires`) gets it in our 2xx (`Require: timer`), with the
//! refresher it named (itself by default). Then the session must be refreshed (a re-INVITE
//! or UPDATE answered 2xx) within the interval: when we are the refresher we send an UPDATE
//! at half of it; when the carrier is, a session it stops refreshing has ended (a lost BYE,
//! a crashed gateway) and the call is hung up shortly before the interval is over. An
//! interval below our minimum is refused with 422 and `Min-SE`. A caller that does not
//! support the extension gets no timer.
//!
//! Sans-IO: [`negotiate`] reads a request; [`SessionTimer`] says when something is due.

use sb_sip_msg::Request;
use std::time::{Duration, Instant};

/// The shortest interval accepted (RFC 4028 §4's floor; also our `Min-SE`).
pub const MIN_SE: u32 = 90;

/// What was agreed for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Seconds.
    pub interval: u32,
    /// We refresh (`refresher=uas`); otherwise the caller does.
    pub we_refresh: bool,
}

impl Negotiated {
    /// The `Session-Expires` value of our answer.
    pub fn header(&self) -> String {
        let who = if self.we_refresh { "uas" } else { "uac" };
        format!("{};refresher={who}", self.interval)
    }
}

/// The session timer a request (an initial INVITE, or a refresh) asks of us as UAS:
/// `Ok(None)` for none, `Err(min)` to refuse with 422 and `Min-SE: min`.
pub fn negotiate(req: &Request) -> Result<Option<Negotiated>, u32> {
    let supports = req
        .headers
        .list("Supported")
        .chain(req.headers.list("Require"))
        .any(|t| t.eq_ignore_ascii_case("timer"));
    let Some(value) = req
        .headers
        .get("Session-Expires")
        .or_else(|| req.headers.get("x"))
    else {
        return Ok(None);
    };
    if !supports {
        // A proxy asked for it, not the caller: the caller would not refresh.
        return Ok(None);
    }
    let mut parts = value.split(';');
    let Some(interval) = parts.next().and_then(|d| d.trim().parse::<u32>().ok()) else {
        return Ok(None);
    };
    let their_min = req
        .headers
        .get("Min-SE")
        .and_then(|v| v.split(';').next()?.trim().parse::<u32>().ok())
        .unwrap_or(0);
    if interval < MIN_SE {
        return Err(MIN_SE.max(their_min));
    }
    let we_refresh = parts.any(|p| {
        let p = p.trim();
        p.split_once('=').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("refresher") && v.trim().eq_ignore_ascii_case("uas")
        })
    });
    Ok(Some(Negotiated {
        interval,
        we_refresh,
    }))
}

/// One session's timer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionTimer {
    pub(crate) agreed: Negotiated,
    /// When we refresh, or (the caller refreshing) when the session is taken to be over.
    pub(crate) due: Instant,
}

impl SessionTimer {
    /// A session refreshed (or begun) at `now` under `agreed`.
    pub(crate) fn new(now: Instant, agreed: Negotiated) -> SessionTimer {
        let n = u64::from(agreed.interval);
        let wait = if agreed.we_refresh {
            n / 2
        } else {
            // §10: the session ends at the interval less a third of it or 32 s, whichever
            // is less, so a BYE goes before the refresher's own deadline.
            n - (n / 3).min(32)
        };
        SessionTimer {
            agreed,
            due: now + Duration::from_secs(wait),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sb_sip_msg::{parse_datagram, Message};

    fn invite(headers: &str) -> Request {
        let text = format!("INVITE sip:8000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKa\r\nFrom: <sip:a@carrier.test>;tag=f\r\nTo: <sip:8000@127.0.0.1>\r\nCall-ID: st-1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{headers}Content-Length: 0\r\n\r\n");
        match parse_datagram(text.as_bytes()) {
            Ok(Some(Message::Request(r))) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_caller_that_supports_timers_gets_its_interval_and_refreshes_itself() {
        let n = negotiate(&invite("Supported: timer\r\nSession-Expires: 1800\r\n")).unwrap();
        assert_eq!(
            n,
            Some(Negotiated {
                interval: 1800,
                we_refresh: false
            })
        );
        assert_eq!(n.unwrap().header(), "1800;refresher=uac");
        let n = negotiate(&invite(
            "Supported: 100rel, timer\r\nSession-Expires: 600;refresher=uas\r\n",
        ))
        .unwrap()
        .unwrap();
        assert!(n.we_refresh);
        // The compact form and Require.
        let n = negotiate(&invite("Require: timer\r\nx: 300\r\n")).unwrap();
        assert_eq!(n.map(|n| n.interval), Some(300));
    }

    #[test]
    fn too_short_is_422_and_no_support_or_no_interval_is_no_timer() {
        assert_eq!(
            negotiate(&invite("Supported: timer\r\nSession-Expires: 60\r\n")),
            Err(90)
        );
        assert_eq!(
            negotiate(&invite(
                "Supported: timer\r\nSession-Expires: 60\r\nMin-SE: 120\r\n"
            )),
            Err(120)
        );
        assert_eq!(negotiate(&invite("Session-Expires: 1800\r\n")), Ok(None));
        assert_eq!(negotiate(&invite("Supported: timer\r\n")), Ok(None));
        assert_eq!(
            negotiate(&invite("Supported: timer\r\nSession-Expires: soon\r\n")),
            Ok(None)
        );
    }

    #[test]
    fn the_watcher_gives_up_before_the_interval_and_the_refresher_refreshes_at_half() {
        let t0 = sb_sim::Clock::new().now();
        let watch = SessionTimer::new(
            t0,
            Negotiated {
                interval: 1800,
                we_refresh: false,
            },
        );
        assert_eq!(watch.due, t0 + Duration::from_secs(1768));
        let short = SessionTimer::new(
            t0,
            Negotiated {
                interval: 90,
                we_refresh: false,
            },
        );
        assert_eq!(short.due, t0 + Duration::from_secs(60));
        let refresh = SessionTimer::new(
            t0,
            Negotiated {
                interval: 1800,
                we_refresh: true,
            },
        );
        assert_eq!(refresh.due, t0 + Duration::from_secs(900));
    }
}
