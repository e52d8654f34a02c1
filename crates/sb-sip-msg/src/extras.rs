//! Typed values of the headers a B2BUA needs beyond RFC 3261: Refer-To (RFC 3515),
//! Replaces (RFC 3891), Session-Expires and Min-SE (RFC 4028), RSeq and RAck (RFC 3262),
//! P-Asserted-Identity (RFC 3325) and Reason (RFC 3326).

use crate::error::ParseError;
use crate::message::CSeq;
use crate::method::is_token;
use crate::name_addr::{parse_header_params, NameAddr};
use crate::params::{is_lws, split_list, split_outside, Params};
use std::fmt;

/// Refer-To: a name-addr whose URI may carry an embedded Replaces (RFC 3515 §2.1).
pub type ReferTo = NameAddr;

/// Reads a Refer-To value (RFC 3515 §2.1).
pub fn parse_refer_to(s: &str) -> Result<ReferTo, ParseError> {
    NameAddr::parse(s).map_err(|_| ParseError::header("Refer-To", "bad address"))
}

/// P-Asserted-Identity: one or two name-addrs (RFC 3325 §9.1).
pub fn parse_p_asserted_identity(s: &str) -> Result<Vec<NameAddr>, ParseError> {
    let ids: Vec<NameAddr> = split_list(s)
        .map(NameAddr::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| ParseError::header("P-Asserted-Identity", "bad address"))?;
    if ids.is_empty() || ids.len() > 2 {
        return Err(ParseError::header(
            "P-Asserted-Identity",
            "needs one or two identities",
        ));
    }
    Ok(ids)
}

fn delta_seconds(s: &str, name: &'static str) -> Result<u32, ParseError> {
    let s = s.trim_matches(is_lws);
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::header(name, "not delta-seconds"));
    }
    s.parse().map_err(|_| ParseError::header(name, "too large"))
}

fn value_and_params<'a>(s: &'a str, name: &'static str) -> Result<(&'a str, Params), ParseError> {
    let (v, rest) = match s.find(';') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let params =
        parse_header_params(rest).map_err(|_| ParseError::header(name, "bad parameter"))?;
    Ok((v.trim_matches(is_lws), params))
}

/// Who refreshes the session (RFC 4028).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// The caller.
    Uac,
    /// The callee.
    Uas,
}

/// Session-Expires: delta-seconds with an optional refresher (RFC 4028 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionExpires {
    /// The session interval.
    pub seconds: u32,
    /// Who refreshes, if said.
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// Reads a Session-Expires value.
    pub fn parse(s: &str) -> Result<SessionExpires, ParseError> {
        let (v, params) = value_and_params(s, "Session-Expires")?;
        let refresher = match params.value("refresher") {
            None => None,
            Some(r) if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some(r) if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            Some(_) => return Err(ParseError::header("Session-Expires", "bad refresher")),
        };
        Ok(SessionExpires {
            seconds: delta_seconds(v, "Session-Expires")?,
            refresher,
        })
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.seconds)?;
        match self.refresher {
            Some(Refresher::Uac) => f.write_str(";refresher=uac"),
            Some(Refresher::Uas) => f.write_str(";refresher=uas"),
            None => Ok(()),
        }
    }
}

/// Min-SE: delta-seconds (RFC 4028 §5).
pub fn parse_min_se(s: &str) -> Result<u32, ParseError> {
    let (v, _) = value_and_params(s, "Min-SE")?;
    delta_seconds(v, "Min-SE")
}

/// RSeq: 1*DIGIT, 1 to 2**31-1 (RFC 3262 §7.1).
pub fn parse_rseq(s: &str) -> Result<u32, ParseError> {
    let n = delta_seconds(s, "RSeq")?;
    if n == 0 || n >= 1 << 31 {
        return Err(ParseError::header("RSeq", "out of range"));
    }
    Ok(n)
}

/// RAck: response-num CSeq-num Method (RFC 3262 §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RAck {
    /// The RSeq of the reliable provisional response acknowledged.
    pub rseq: u32,
    /// Its CSeq.
    pub cseq: CSeq,
}

impl RAck {
    /// Reads a RAck value.
    pub fn parse(s: &str) -> Result<RAck, ParseError> {
        let s = s.trim_matches(is_lws);
        let (rseq, rest) = s
            .split_once(is_lws)
            .ok_or(ParseError::header("RAck", "too short"))?;
        let cseq = CSeq::parse(rest).map_err(|_| ParseError::header("RAck", "bad CSeq part"))?;
        Ok(RAck {
            rseq: parse_rseq(rseq)?,
            cseq,
        })
    }
}

impl fmt::Display for RAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.rseq, self.cseq)
    }
}

/// Replaces: call-id with to-tag, from-tag and early-only (RFC 3891 §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    /// The Call-ID of the dialog to replace.
    pub call_id: String,
    /// Its to-tag.
    pub to_tag: String,
    /// Its from-tag.
    pub from_tag: String,
    /// Replace only an early dialog.
    pub early_only: bool,
}

impl Replaces {
    /// Reads a Replaces value.
    pub fn parse(s: &str) -> Result<Replaces, ParseError> {
        let (call_id, params) = value_and_params(s, "Replaces")?;
        if call_id.is_empty() || call_id.contains(char::is_whitespace) {
            return Err(ParseError::header("Replaces", "bad Call-ID"));
        }
        let tag = |n| {
            params
                .value(n)
                .map(str::to_string)
                .ok_or(ParseError::header("Replaces", "needs to-tag and from-tag"))
        };
        Ok(Replaces {
            call_id: call_id.to_string(),
            to_tag: tag("to-tag")?,
            from_tag: tag("from-tag")?,
            early_only: params.has("early-only"),
        })
    }
}

impl fmt::Display for Replaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};to-tag={};from-tag={}",
            self.call_id, self.to_tag, self.from_tag
        )?;
        if self.early_only {
            f.write_str(";early-only")?;
        }
        Ok(())
    }
}

/// One reason-value: protocol with cause and text (RFC 3326 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The protocol (`SIP`, `Q.850`).
    pub protocol: String,
    /// The cause code.
    pub cause: Option<u16>,
    /// The text, unquoted.
    pub text: Option<String>,
}

impl Reason {
    /// Reads a Reason header value (a comma-separated list).
    pub fn parse_list(s: &str) -> Result<Vec<Reason>, ParseError> {
        split_outside(s, ',')
            .into_iter()
            .map(|item| {
                let (proto, params) = value_and_params(item, "Reason")?;
                if !is_token(proto) {
                    return Err(ParseError::header("Reason", "bad protocol"));
                }
                let cause = match params.value("cause") {
                    Some(c) => Some(
                        c.parse()
                            .map_err(|_| ParseError::header("Reason", "bad cause"))?,
                    ),
                    None => None,
                };
                let text = params.value("text").and_then(crate::params::unquote);
                Ok(Reason {
                    protocol: proto.to_string(),
                    cause,
                    text,
                })
            })
            .collect()
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.protocol)?;
        if let Some(c) = self.cause {
            write!(f, ";cause={c}")?;
        }
        if let Some(t) = &self.text {
            write!(
                f,
                ";text=\"{}\"",
                t.replace('\\', "\\\\").replace('"', "\\\"")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let r = Replaces::parse("425928@bobster.example.org;to-tag=7743;from-tag=6472;early-only")
            .unwrap();
        assert!(r.early_only);
        assert_eq!(Replaces::parse(&r.to_string()).unwrap(), r);
        assert!(Replaces::parse("abc;to-tag=1").is_err());
        let se = SessionExpires::parse("1800 ; refresher=uas").unwrap();
        assert_eq!(
            se,
            SessionExpires {
                seconds: 1800,
                refresher: Some(Refresher::Uas)
            }
        );
        assert_eq!(SessionExpires::parse(&se.to_string()).unwrap(), se);
        assert_eq!(parse_min_se("90").unwrap(), 90);
        assert!(parse_rseq("0").is_err());
        let ra = RAck::parse("776656 1 INVITE").unwrap();
        assert_eq!(RAck::parse(&ra.to_string()).unwrap(), ra);
        let reasons =
            Reason::parse_list("SIP ;cause=200 ;text=\"Call completed elsewhere\", Q.850;cause=16")
                .unwrap();
        assert_eq!(reasons[0].cause, Some(200));
        assert_eq!(reasons[1].protocol, "Q.850");
        assert_eq!(
            Reason::parse_list(&reasons[0].to_string()).unwrap()[0],
            reasons[0]
        );
        let pai =
            parse_p_asserted_identity("\"Cullen\" <sip:fluffy@cisco.com>, <tel:+14083264471>")
                .unwrap();
        assert_eq!(pai.len(), 2);
        let refer = parse_refer_to("<sip:dave@denver.example.org?Replaces=12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994>").unwrap();
        assert!(refer.uri.as_sip().unwrap().headers.is_some());
    }
}
