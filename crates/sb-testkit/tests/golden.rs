//! Golden transcripts: a few whole call flows driven through the engine on virtual time,
//! written as the SIP ladder between the parties and the call record the recorder makes of
//! them, and compared with the transcripts kept in `golden/`. A change of behaviour shows
//! up in review as a change of those files. After a deliberate change, rewrite them with
//! `SB_GOLDEN=update cargo test -p sb-testkit --test golden` and read the diff.

use sb_records::{Recorder, RecorderConfig};
use sb_sip_msg::Message;
use sb_store::Op;
use sb_testkit::*;
use std::fmt::Write as _;
use std::path::PathBuf;

const DEPT: &str = "127.0.0.1:6201";
const DEPT_SDP: &str = "v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7201 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
const COLLEAGUE: &str = "127.0.0.1:6205";
const COLLEAGUE_SDP: &str = "v=0\r\no=- 9 9 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7205 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

/// Who is at an address, as the ladder names them.
fn party(a: std::net::SocketAddr) -> String {
    match a.to_string().as_str() {
        PHONE => "patient".into(),
        SWITCHBOARD => "switchboard".into(),
        AGENT => "agent 1003".into(),
        DEPT => "dept 2001".into(),
        COLLEAGUE => "colleague 1005".into(),
        other => other.into(),
    }
}

/// The media of an SDP body in a word: the m-line's port and formats, and its direction.
fn sdp_summary(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let m = text
        .lines()
        .find(|l| l.starts_with("m="))
        .unwrap_or("m=?")
        .trim()
        .to_string();
    let dir = text
        .lines()
        .map(str::trim)
        .find(|l| ["a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"].contains(l))
        .unwrap_or("");
    format!(" [{m}{}{dir}]", if dir.is_empty() { "" } else { " " })
}

/// The flow's SIP ladder, one message a line: time since the first, who to whom, the
/// start line, the CSeq, and the SDP's media line when there is a body.
fn ladder(s: &Sim) -> String {
    let start = s.ladder.first().map(|h| h.at);
    let mut out = String::new();
    for h in &s.ladder {
        let t = start.map_or(0.0, |t0| h.at.duration_since(t0).as_secs_f64());
        let (line, core, headers, body) = match &h.msg {
            Message::Request(r) => (
                format!("{} {}", r.method, r.uri),
                &r.core,
                &r.headers,
                &r.body,
            ),
            Message::Response(r) => (
                format!("{} {}", r.status, r.reason),
                &r.core,
                &r.headers,
                &r.body,
            ),
        };
        let sdp = match headers.get("Content-Type") {
            Some(ct) if ct.starts_with("application/sdp") && !body.is_empty() => sdp_summary(body),
            Some(ct) if !body.is_empty() => format!(" [{ct}]"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{t:>8.3}s  {:>14} -> {:<14}  {line}  (CSeq {} {}){sdp}",
            party(h.from),
            party(h.to),
            core.cseq.seq,
            core.cseq.method,
        );
    }
    out
}

/// What the recorder makes of the flow's events: each record as it ends, with its events.
fn records(s: &Sim) -> String {
    let mut rec = Recorder::new(RecorderConfig {
        run: "golden".into(),
        regions: vec![("138".into(), "mobile".into())],
        short_abandon_ms: 5_000,
        ring_cycle_ms: 6_000,
        wrap_up_ms: 10_000,
    });
    let mut out = String::new();
    for (ev, at) in s.events.iter().zip(&s.event_times) {
        rec.handle(s.engine.wall_ms(*at), ev);
        while let Some(op) = rec.poll_op() {
            if let Op::End {
                record,
                events,
                offers,
                transfers,
            } = op
            {
                let json = serde_json::to_string_pretty(&record).expect("a record is JSON");
                let _ = writeln!(out, "{json}");
                for e in events {
                    let line = format!(
                        "  event {:>2} {:<22} agent={:<6} {}",
                        e.seq,
                        e.kind,
                        e.agent.unwrap_or_default(),
                        e.detail.unwrap_or_default()
                    );
                    let _ = writeln!(out, "{}", line.trim_end());
                }
                for o in offers {
                    let o = serde_json::to_string(&o).expect("JSON");
                    let _ = writeln!(out, "  offer {o}");
                }
                for t in transfers {
                    let t = serde_json::to_string(&t).expect("JSON");
                    let _ = writeln!(out, "  transfer {t}");
                }
            }
        }
    }
    out
}

/// Compares the transcript of flow `name` with its golden file (or rewrites the file).
fn check(name: &str, s: &Sim) {
    let text = format!(
        "# {name}: the SIP ladder\n\n{}\n# {name}: the call records\n\n{}",
        ladder(s),
        records(s)
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(format!("{name}.txt"));
    if std::env::var("SB_GOLDEN").as_deref() == Ok("update") {
        std::fs::write(&path, &text).expect("write the golden file");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (write it with SB_GOLDEN=update and read it)",
            path.display()
        )
    });
    if want != text {
        let first = want
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(text.lines().count()));
        panic!(
            "{name} differs from {} from line {}:\n--- golden\n{}\n+++ now\n{}\n(rewrite with SB_GOLDEN=update after checking the change is meant)",
            path.display(),
            first + 1,
            want.lines().skip(first).take(8).collect::<Vec<_>>().join("\n"),
            text.lines().skip(first).take(8).collect::<Vec<_>>().join("\n"),
        );
    }
}

#[test]
fn a_patient_hears_the_greeting_and_hangs_up_in_the_ivr() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let tag = s.call("8000", OFFER_PLAIN).expect("answered");
    s.advance(3_000);
    s.in_dialog(&tag, "BYE", 3, "application/sdp", "");
    s.advance(1_000);
    check("ivr_hangup", &s);
}

#[test]
fn a_patient_queues_an_agent_answers_and_hangs_up() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    let inv = bridged_to_1003(&mut s);
    s.advance(5_000);
    // The agent hangs up; the patient rates the call 4 during the survey and is hung up
    // after the thanks.
    agent_hangs_up(&mut s, &inv);
    s.advance(2_000);
    s.rfc4733(4, 90_000);
    s.advance(8_000);
    check("queue_answered", &s);
}

#[test]
fn an_agent_transfers_blind_and_the_department_answers() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    register_agent(&mut s, "2001", DEPT);
    let inv = bridged_to_1003(&mut s);
    let mut seq = 100u16;
    agent_keys(&mut s, &mut seq, "*42001#");
    s.advance(1_000);
    let dept = invite_to(&s, "2001").expect("the department rings");
    rings_at(&mut s, DEPT, &dept);
    s.advance(2_000);
    answers_at(&mut s, DEPT, "2001", &dept, DEPT_SDP);
    s.advance(5_000);
    in_leg(&mut s, DEPT, "2001", &dept, "BYE", 2, "", "");
    s.advance(1_000);
    let _ = inv;
    check("blind_transfer", &s);
}

#[test]
fn an_agent_consults_a_colleague_who_takes_the_patient() {
    let mut s = Sim::new(MONDAY + 10 * 3600);
    register_agent(&mut s, "1005", COLLEAGUE);
    let _inv = bridged_to_1003(&mut s);
    let mut seq = 100u16;
    agent_keys(&mut s, &mut seq, "*31005#");
    let c = invite_to(&s, "1005").expect("the colleague's phone rings");
    rings_at(&mut s, COLLEAGUE, &c);
    s.advance(1_000);
    answers_at(&mut s, COLLEAGUE, "1005", &c, COLLEAGUE_SDP);
    s.advance(3_000);
    agent_keys(&mut s, &mut seq, "#");
    s.advance(5_000);
    in_leg(&mut s, COLLEAGUE, "1005", &c, "BYE", 2, "", "");
    // The patient hears the survey and keys nothing: hung up once its time is up.
    s.advance(30_000);
    check("consult_complete", &s);
}
