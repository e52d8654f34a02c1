//! DTMF from the three places a phone may put it, each turned into digits once:
//! RFC 4733 telephone-events, SIP INFO bodies, and in-band tones (see [`crate::goertzel`]).
//! A [`DigitCollector`] removes the copies a phone sends by two routes at once.

use std::time::{Duration, Instant};

/// RFC 4733 §3.2 event codes 0-15.
pub fn event_to_digit(event: u8) -> Option<char> {
    Some(match event {
        0..=9 => (b'0' + event) as char,
        10 => '*',
        11 => '#',
        12..=15 => (b'A' + event - 12) as char,
        _ => return None,
    })
}

/// The RFC 4733 event code of key `d`.
pub fn digit_to_event(d: char) -> Option<u8> {
    Some(match d {
        '0'..='9' => d as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => d as u8 - b'A' + 12,
        'a'..='d' => d as u8 - b'a' + 12,
        _ => return None,
    })
}

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The event code (0-9, 10 = `*`, 11 = `#`).
    pub code: u8,
    /// The E bit: the last packets of the event.
    pub end: bool,
    /// Volume, in -dBm0.
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl Event {
    /// Reads an event from a payload (at least four bytes).
    pub fn parse(p: &[u8]) -> Option<Event> {
        if p.len() < 4 {
            return None;
        }
        Some(Event {
            code: p[0],
            end: p[1] & 0x80 != 0,
            volume: p[1] & 0x3F,
            duration: u16::from_be_bytes([p[2], p[3]]),
        })
    }

    /// Writes the event as a four-byte payload.
    pub fn write(&self, out: &mut [u8; 4]) {
        out[0] = self.code;
        out[1] = (if self.end { 0x80 } else { 0 }) | (self.volume & 0x3F);
        out[2..4].copy_from_slice(&self.duration.to_be_bytes());
    }
}

#[derive(Debug, Clone, Copy)]
struct Current {
    timestamp: u32,
    code: u8,
    duration: u16,
    ended: bool,
}

/// Turns a stream of telephone-event packets into digits: each event once, whether its
/// start was lost or its end sent three times (§2.5.1.4); a long event split into segments
/// (§2.5.1.3) stays one digit; the same digit pressed twice is two events with two
/// timestamps, hence two digits.
#[derive(Debug, Default)]
pub struct Rfc4733Receiver {
    current: Option<Current>,
}

impl Rfc4733Receiver {
    /// A packet of the telephone-event stream: the key it ends or starts, once per event.
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let ev = Event::parse(payload)?;
        if let Some(c) = &mut self.current {
            if c.timestamp == timestamp {
                c.duration = c.duration.max(ev.duration);
                c.ended |= ev.end;
                return None;
            }
            // A long event goes on in a new segment that starts where the last one ended.
            let contiguous = timestamp == c.timestamp.wrapping_add(c.duration as u32);
            if !c.ended && c.code == ev.code && contiguous {
                *c = Current {
                    timestamp,
                    code: ev.code,
                    duration: ev.duration,
                    ended: ev.end,
                };
                return None;
            }
        }
        self.current = Some(Current {
            timestamp,
            code: ev.code,
            duration: ev.duration,
            ended: ev.end,
        });
        event_to_digit(ev.code)
    }
}

/// The digit in a SIP INFO body: `application/dtmf-relay` (`Signal=5`) or `application/dtmf`
/// (the digit alone). Other content types carry no digit.
pub fn digit_from_info(content_type: &str, body: &[u8]) -> Option<char> {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let text = std::str::from_utf8(body).ok()?;
    let value = match ct.as_str() {
        "application/dtmf-relay" => text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
        })?,
        "application/dtmf" => text.trim(),
        _ => return None,
    };
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(d), None) => event_to_digit(digit_to_event(d)?),
        _ => value.parse::<u8>().ok().and_then(event_to_digit),
    }
}

/// How a key was signalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// RFC 4733 telephone-event packets.
    Rfc4733,
    /// A SIP INFO request.
    Info,
    /// An in-band tone in the audio.
    InBand,
}

/// Merges the digits of one leg from every source: a digit seen from one source and again
/// from another within `window` is one key press, not two.
#[derive(Debug)]
pub struct DigitCollector {
    window: Duration,
    last: Option<(char, Source, Instant)>,
}

impl Default for DigitCollector {
    fn default() -> Self {
        DigitCollector {
            window: Duration::from_millis(300),
            last: None,
        }
    }
}

impl DigitCollector {
    /// A key from `source`: `Some` when it is a new press, `None` for the same press
    /// signalled again another way.
    pub fn on_digit(&mut self, now: Instant, digit: char, source: Source) -> Option<char> {
        if let Some((d, s, at)) = self.last {
            if d == digit && s != source && now.saturating_duration_since(at) < self.window {
                return None;
            }
        }
        self.last = Some((digit, source, now));
        Some(digit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: u8, end: bool, duration: u16) -> [u8; 4] {
        let mut b = [0u8; 4];
        Event {
            code,
            end,
            volume: 10,
            duration,
        }
        .write(&mut b);
        b
    }

    #[test]
    fn rfc4733_edge_cases() {
        let mut r = Rfc4733Receiver::default();
        // A whole event: start, continuation, end three times -> one digit.
        assert_eq!(r.on_packet(1000, &ev(5, false, 160)), Some('5'));
        assert_eq!(r.on_packet(1000, &ev(5, false, 320)), None);
        for _ in 0..3 {
            assert_eq!(r.on_packet(1000, &ev(5, true, 800)), None);
        }
        // The same digit again is a new event with a new timestamp.
        assert_eq!(r.on_packet(3000, &ev(5, false, 160)), Some('5'));
        assert_eq!(r.on_packet(3000, &ev(5, true, 640)), None);
        // A lost start: only the end packets arrive, the digit still counts once.
        assert_eq!(r.on_packet(6000, &ev(11, true, 800)), Some('#'));
        assert_eq!(r.on_packet(6000, &ev(11, true, 800)), None);
        // A long event in two segments (§2.5.1.3): the second starts where the first ended.
        assert_eq!(r.on_packet(10_000, &ev(0, false, 65_535)), Some('0'));
        assert_eq!(
            r.on_packet(10_000u32.wrapping_add(65_535), &ev(0, false, 800)),
            None
        );
        assert_eq!(
            r.on_packet(10_000u32.wrapping_add(65_535), &ev(0, true, 1600)),
            None
        );
        // Flash (16) and short payloads are not digits.
        assert_eq!(r.on_packet(90_000, &ev(16, false, 160)), None);
        assert_eq!(r.on_packet(91_000, &[1, 2]), None);
    }

    #[test]
    fn info_bodies() {
        assert_eq!(
            digit_from_info("application/dtmf-relay", b"Signal=2\r\nDuration=160\r\n"),
            Some('2')
        );
        assert_eq!(
            digit_from_info("application/dtmf-relay", b"Signal= *\r\n"),
            Some('*')
        );
        assert_eq!(
            digit_from_info("application/dtmf-relay", b"Signal=11\r\n"),
            Some('#')
        );
        assert_eq!(digit_from_info("application/dtmf", b"9"), Some('9'));
        assert_eq!(
            digit_from_info("Application/DTMF; charset=x", b" # "),
            Some('#')
        );
        assert_eq!(digit_from_info("text/plain", b"2"), None);
        assert_eq!(
            digit_from_info("application/dtmf-relay", b"Duration=160"),
            None
        );
        assert_eq!(digit_from_info("application/dtmf", b"x"), None);
    }

    #[test]
    fn collector_merges_two_routes_but_not_two_presses() {
        let t0 = sb_sim::Clock::new().now();
        let mut c = DigitCollector::default();
        assert_eq!(c.on_digit(t0, '2', Source::Rfc4733), Some('2'));
        assert_eq!(
            c.on_digit(t0 + Duration::from_millis(40), '2', Source::InBand),
            None
        );
        assert_eq!(
            c.on_digit(t0 + Duration::from_millis(400), '2', Source::Rfc4733),
            Some('2')
        );
        assert_eq!(
            c.on_digit(t0 + Duration::from_millis(450), '3', Source::InBand),
            Some('3')
        );
    }
}
