//! Offer/answer (RFC 3264) for the audio legs of the B2BUA: PCMU and PCMA at 8 kHz with
//! RFC 4733 telephone-event, 20 ms packets.

use crate::sdp::{Attribute, Connection, MediaDescription, SessionDescription};
use std::net::{IpAddr, SocketAddr};
use thiserror::Error;

/// The G.711 codecs the switchboard speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// μ-law, payload type 0.
    Pcmu,
    /// A-law, payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The rtpmap encoding name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// Decodes `payload` into `pcm` (as many samples as both hold); returns the count.
    pub fn decode(self, payload: &[u8], pcm: &mut [i16]) -> usize {
        let f = match self {
            Codec::Pcmu => crate::g711::ulaw_to_linear,
            Codec::Pcma => crate::g711::alaw_to_linear,
        };
        let n = payload.len().min(pcm.len());
        for (o, b) in pcm.iter_mut().zip(&payload[..n]) {
            *o = f(*b);
        }
        n
    }

    /// Encodes `pcm` into `out` (as many samples as both hold).
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) {
        let f = match self {
            Codec::Pcmu => crate::g711::linear_to_ulaw,
            Codec::Pcma => crate::g711::linear_to_alaw,
        };
        for (o, s) in out.iter_mut().zip(pcm) {
            *o = f(*s);
        }
    }

    fn from_format(m: &MediaDescription, fmt: &str) -> Option<Codec> {
        let pt: u8 = fmt.parse().ok()?;
        // Static payload types need no rtpmap (RFC 3551 §6); a dynamic one may name G.711.
        let by_map = m
            .rtpmap(pt)
            .filter(|(_, clock)| *clock == 8000)
            .map(|(e, _)| e.to_ascii_uppercase());
        match (pt, by_map.as_deref()) {
            (0, None | Some("PCMU")) | (96..=127, Some("PCMU")) => Some(Codec::Pcmu),
            (8, None | Some("PCMA")) | (96..=127, Some("PCMA")) => Some(Codec::Pcma),
            _ => None,
        }
    }
}

/// Which way media flows, from our side (RFC 3264 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Sends and receives.
    SendRecv,
    /// Sends only (the other side holds).
    SendOnly,
    /// Receives only (we hold the other side).
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The offerer's direction as the answerer's: sendonly becomes recvonly and so on.
    fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    fn of(sd: &SessionDescription, m: &MediaDescription) -> Direction {
        let has = |n: &str| {
            m.has_flag(n)
                || (sd.has_flag(n)
                    && !["sendrecv", "sendonly", "recvonly", "inactive"]
                        .iter()
                        .any(|d| m.has_flag(d)))
        };
        if has("inactive") {
            Direction::Inactive
        } else if has("sendonly") {
            Direction::SendOnly
        } else if has("recvonly") {
            Direction::RecvOnly
        } else {
            Direction::SendRecv
        }
    }

    /// Whether media goes out this way.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether media comes in this way.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// What we offer or accept.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    /// The address put in SDP.
    pub addr: IpAddr,
    /// Our RTP port.
    pub port: u16,
    /// In order of preference.
    pub codecs: Vec<Codec>,
    /// The o= line's session id.
    pub session_id: u64,
    /// The o= line's version, one more at each change.
    pub session_version: u64,
}

/// The outcome for the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Where to send RTP; `None` while on hold (`c=0.0.0.0` or port of a held stream).
    pub remote: Option<SocketAddr>,
    /// The codec both sides use.
    pub codec: Codec,
    /// The telephone-event payload type, when negotiated.
    pub dtmf_pt: Option<u8>,
    /// The packet time, in milliseconds.
    pub ptime_ms: u32,
    /// Our direction.
    pub direction: Direction,
}

/// Why an offer or an answer could not be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum OfferError {
    /// 488 Not Acceptable Here, with a Warning 305/304 (RFC 3261 §20.43).
    #[error("no audio stream with a codec we support (PCMU, PCMA)")]
    NoCommonCodec,
    /// The offer has no audio stream.
    #[error("the offer has no audio stream")]
    NoAudio,
    /// An answer must have as many m-lines as the offer, in order (RFC 3264 §6).
    #[error("the answer has {answered} media lines for {offered} offered")]
    MediaLines {
        /// m-lines offered.
        offered: usize,
        /// m-lines in the answer.
        answered: usize,
    },
}

impl OfferError {
    /// The Warning header value to send with the 488.
    pub fn warning(&self) -> &'static str {
        match self {
            OfferError::NoCommonCodec => {
                "305 switchboard \"Incompatible media format: PCMU or PCMA required\""
            }
            OfferError::NoAudio => "304 switchboard \"Media type not available: audio required\"",
            OfferError::MediaLines { .. } => {
                "399 switchboard \"The answer's media lines do not match the offer's\""
            }
        }
    }
}

fn telephone_event(m: &MediaDescription) -> Option<u8> {
    m.formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .find(|pt| {
            m.rtpmap(*pt)
                .is_some_and(|(e, c)| e.eq_ignore_ascii_case("telephone-event") && c == 8000)
        })
}

fn audio_lines(codec: Codec, codec_pt: u8, dtmf: Option<u8>, dir: Direction) -> Vec<Attribute> {
    let mut a = vec![Attribute::new(
        "rtpmap",
        format!("{codec_pt} {}/8000", codec.name()),
    )];
    if let Some(pt) = dtmf {
        a.push(Attribute::new(
            "rtpmap",
            format!("{pt} telephone-event/8000"),
        ));
        a.push(Attribute::new("fmtp", format!("{pt} 0-16")));
    }
    a.push(Attribute::new("ptime", "20"));
    a.push(Attribute::flag(dir.attr()));
    a
}

/// Answers an offer (RFC 3264 §6): one m-line for each offered, the first usable audio
/// stream accepted with the first codec of the offer's order that we support, every other
/// stream refused with port 0.
pub fn answer(
    offer: &SessionDescription,
    local: &LocalMedia,
) -> Result<(SessionDescription, Negotiated), OfferError> {
    if !offer.media.iter().any(|m| m.media == "audio") {
        return Err(OfferError::NoAudio);
    }
    let mut chosen: Option<(usize, Codec, u8)> = None;
    for (i, m) in offer.media.iter().enumerate() {
        if m.media != "audio" || m.proto != "RTP/AVP" || m.port == 0 {
            continue;
        }
        let pick = m.formats.iter().find_map(|f| {
            let c = Codec::from_format(m, f)?;
            local
                .codecs
                .contains(&c)
                .then(|| (c, f.parse::<u8>().unwrap_or(c.payload_type())))
        });
        if let Some((c, pt)) = pick {
            chosen = Some((i, c, pt));
            break;
        }
    }
    let (idx, codec, codec_pt) = chosen.ok_or(OfferError::NoCommonCodec)?;
    let om = &offer.media[idx];
    let dtmf = telephone_event(om);
    let their_dir = Direction::of(offer, om);
    let held = offer.connection_of(om).is_none_or(|c| c.is_hold());
    let ours = their_dir.reversed();
    let remote = offer
        .connection_of(om)
        .filter(|c| !c.is_hold())
        .map(|c| SocketAddr::new(c.addr, om.port));
    let media = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if i == idx {
                let mut formats = vec![codec_pt.to_string()];
                formats.extend(dtmf.map(|p| p.to_string()));
                audio_media(
                    local.port,
                    formats,
                    audio_lines(codec, codec_pt, dtmf, ours),
                )
            } else {
                // RFC 3264 §6: a refused stream keeps its place with port zero.
                MediaDescription {
                    port: 0,
                    port_count: None,
                    info: Vec::new(),
                    connection: None,
                    attributes: Vec::new(),
                    ..m.clone()
                }
            }
        })
        .collect();
    let sd = our_session(local, media);
    let ptime_ms = om
        .ptime()
        .filter(|p| (10..=60).contains(p) && p % 10 == 0)
        .unwrap_or(20);
    let direction = if held && their_dir == Direction::SendRecv {
        Direction::Inactive
    } else {
        ours
    };
    Ok((
        sd,
        Negotiated {
            remote,
            codec,
            dtmf_pt: dtmf,
            ptime_ms,
            direction,
        },
    ))
}

/// Our audio m-line.
fn audio_media(port: u16, formats: Vec<String>, attributes: Vec<Attribute>) -> MediaDescription {
    MediaDescription {
        media: "audio".into(),
        port,
        port_count: None,
        proto: "RTP/AVP".into(),
        formats,
        info: Vec::new(),
        connection: None,
        attributes,
    }
}

/// The session-level lines of every description we send.
fn our_session(local: &LocalMedia, media: Vec<MediaDescription>) -> SessionDescription {
    SessionDescription {
        origin_user: "switchboard".into(),
        session_id: local.session_id,
        session_version: local.session_version,
        origin_addr: local.addr.to_string(),
        origin_ipv6: local.addr.is_ipv6(),
        session_name: "switchboard".into(),
        info: Vec::new(),
        connection: Some(Connection { addr: local.addr }),
        times: vec!["0 0".into()],
        attributes: Vec::new(),
        media,
    }
}

/// Our offer, for an outgoing leg or a late-offer INVITE (offer in our 200, answer in the ACK).
pub fn offer(local: &LocalMedia, direction: Direction) -> SessionDescription {
    let mut formats: Vec<String> = local
        .codecs
        .iter()
        .map(|c| c.payload_type().to_string())
        .collect();
    formats.push("101".into());
    let mut attributes: Vec<Attribute> = local
        .codecs
        .iter()
        .map(|c| Attribute::new("rtpmap", format!("{} {}/8000", c.payload_type(), c.name())))
        .collect();
    attributes.push(Attribute::new("rtpmap", "101 telephone-event/8000"));
    attributes.push(Attribute::new("fmtp", "101 0-16"));
    attributes.push(Attribute::new("ptime", "20"));
    attributes.push(Attribute::flag(direction.attr()));
    our_session(local, vec![audio_media(local.port, formats, attributes)])
}

/// Reads the answer to our offer (RFC 3264 §7): the codec is the answer's first format
/// that we offered.
pub fn accept_answer(
    ours: &SessionDescription,
    answer: &SessionDescription,
) -> Result<Negotiated, OfferError> {
    if answer.media.len() != ours.media.len() {
        return Err(OfferError::MediaLines {
            offered: ours.media.len(),
            answered: answer.media.len(),
        });
    }
    let offered: Vec<Codec> = ours
        .media
        .first()
        .map(|m| {
            m.formats
                .iter()
                .filter_map(|f| Codec::from_format(m, f))
                .collect()
        })
        .unwrap_or_default();
    let am = answer
        .media
        .first()
        .filter(|m| m.media == "audio" && m.port != 0)
        .ok_or(OfferError::NoCommonCodec)?;
    let codec = am
        .formats
        .iter()
        .find_map(|f| Codec::from_format(am, f).filter(|c| offered.contains(c)))
        .ok_or(OfferError::NoCommonCodec)?;
    let remote = answer
        .connection_of(am)
        .filter(|c| !c.is_hold())
        .map(|c| SocketAddr::new(c.addr, am.port));
    Ok(Negotiated {
        remote,
        codec,
        dtmf_pt: telephone_event(am),
        ptime_ms: am
            .ptime()
            .filter(|p| (10..=60).contains(p) && p % 10 == 0)
            .unwrap_or(20),
        direction: Direction::of(answer, am).reversed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LocalMedia {
        LocalMedia {
            addr: "127.0.0.1".parse().expect("ip"),
            port: 10000,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            session_id: 1,
            session_version: 1,
        }
    }

    fn sdp(s: &str) -> SessionDescription {
        SessionDescription::parse(s.replace('\n', "\r\n").as_bytes()).expect("valid SDP")
    }

    #[test]
    fn rfc3264_example_answer_keeps_m_lines_and_refuses_video() {
        // RFC 3264 §10.1: audio 0 8 97 and a video stream; we take audio, refuse video.
        let offer = sdp("v=0\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\ns=\nc=IN IP4 192.0.2.10\nt=0 0\nm=audio 49170 RTP/AVP 0 8 97\na=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\na=rtpmap:97 iLBC/8000\nm=video 51372 RTP/AVP 31 32\na=rtpmap:31 H261/90000\na=rtpmap:32 MPV/90000\n");
        let (ans, neg) = answer(&offer, &local()).expect("acceptable");
        assert_eq!(ans.media.len(), 2);
        assert_eq!(ans.media[0].formats, ["0"]);
        assert_eq!(ans.media[1].port, 0);
        assert_eq!(neg.codec, Codec::Pcmu);
        assert_eq!(neg.remote, Some("192.0.2.10:49170".parse().expect("addr")));
        assert_eq!(neg.direction, Direction::SendRecv);
        assert_eq!(
            SessionDescription::parse(&ans.to_bytes()).expect("answer parses"),
            ans
        );
    }

    #[test]
    fn offer_order_decides_and_dtmf_follows() {
        let offer = sdp("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 18 8 0 96\na=rtpmap:96 telephone-event/8000\na=fmtp:96 0-15\na=ptime:30\n");
        let (ans, neg) = answer(&offer, &local()).expect("acceptable");
        assert_eq!(neg.codec, Codec::Pcma, "PCMA comes first in the offer");
        assert_eq!(neg.dtmf_pt, Some(96));
        assert_eq!(neg.ptime_ms, 30);
        assert_eq!(ans.media[0].formats, ["8", "96"]);
    }

    #[test]
    fn hold_and_directions() {
        let base = "v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n";
        let (_, n) = answer(&sdp(&format!("{base}a=sendonly\n")), &local()).expect("ok");
        assert_eq!(n.direction, Direction::RecvOnly);
        let (a, n) = answer(&sdp(&format!("{base}a=inactive\n")), &local()).expect("ok");
        assert_eq!(n.direction, Direction::Inactive);
        assert!(a.media[0].has_flag("inactive"));
        let (_, n) = answer(
            &sdp(&base.replace("c=IN IP4 192.0.2.1", "c=IN IP4 0.0.0.0")),
            &local(),
        )
        .expect("ok");
        assert_eq!((n.remote, n.direction), (None, Direction::Inactive));
        let (_, n) = answer(
            &sdp(&format!(
                "{}a=recvonly\nm=audio 4000 RTP/AVP 0\n",
                base.replace("m=audio 4000 RTP/AVP 0\n", "")
            )),
            &local(),
        )
        .expect("ok");
        assert_eq!(
            n.direction,
            Direction::SendOnly,
            "a session-level direction applies"
        );
    }

    #[test]
    fn unusable_offers_are_refused() {
        let g729 = sdp("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 18\n");
        let e = answer(&g729, &local()).expect_err("no G.711");
        assert_eq!(e, OfferError::NoCommonCodec);
        assert!(e.warning().starts_with("305"));
        let video = sdp("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=video 4000 RTP/AVP 31\n");
        assert_eq!(
            answer(&video, &local()).expect_err("no audio"),
            OfferError::NoAudio
        );
    }

    #[test]
    fn our_offer_and_their_answer() {
        let o = offer(&local(), Direction::SendRecv);
        assert_eq!(o.media[0].formats, ["0", "8", "101"]);
        let (ans, _) = answer(
            &o,
            &LocalMedia {
                port: 20000,
                codecs: vec![Codec::Pcma],
                ..local()
            },
        )
        .expect("they answer");
        let n = accept_answer(&o, &ans).expect("usable");
        assert_eq!((n.codec, n.dtmf_pt), (Codec::Pcma, Some(101)));
        assert_eq!(n.remote, Some("127.0.0.1:20000".parse().expect("addr")));
    }
}
