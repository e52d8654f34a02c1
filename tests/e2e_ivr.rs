//! The IVR end to end: real callers (baresip, SIPp with RTP) dial 8000 on the real binary;
//! the tests listen to what the callers recorded and read the engine's log for where each
//! call went.
#![allow(
    clippy::disallowed_methods,
    reason = "an end-to-end test: it drives real processes in real time"
)]

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const MONDAY_10: &str = "ivr.clock_start=2026-11-23T10:00:00+08:00";
const MONDAY_21: &str = "ivr.clock_start=2026-11-23T21:00:00+08:00";
/// The log line of the consultation queue node (not `consultation-hours` before it).
const CONSULTATION: &str = "node=main/consultation\n";

/// No spinning for media ticks: the tests run side by side on two cores.
const NO_SPIN: &str = "rtp.timer_spin_ms=0";

fn prompt(lang: &str, name: &str) -> PathBuf {
    workspace()
        .join("prompts")
        .join(lang)
        .join(format!("{name}.wav"))
}

#[test]
fn baresip_hears_the_greeting_and_reaches_consultation_with_rfc4733() {
    let e = Engine::start("ivr-4733", &[MONDAY_10, &rtp_range(100), NO_SPIN]);
    let phone = Phone::dial(&e, "8000");
    let (ok, log) = e.wait_log(Duration::from_secs(20), |l| l.contains("node=main/menu"));
    assert!(ok, "the menu never started: {log}");
    // Mid-call, a third party sprays RTP at the leg's port, key presses included: it must
    // neither take the media over nor press keys (RTP Bleed).
    let port: u16 = log
        .split("rtp_port=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("the answer logs the RTP port");
    let rogue = std::net::UdpSocket::bind("127.0.0.1:0").expect("rogue socket");
    for i in 0..100u16 {
        let mut pkt = vec![0x80, 101, 0, 0, 0, 0, 0x10, 0, 0xBA, 0xD0, 0xBA, 0xD0];
        pkt[2..4].copy_from_slice(&i.to_be_bytes());
        pkt.extend_from_slice(&[0, if i > 50 { 0x80 } else { 0 }, 0, 160]);
        rogue.send_to(&pkt, ("127.0.0.1", port)).expect("send");
    }
    rogue
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut buf = [0u8; 512];
    assert!(
        rogue.recv_from(&mut buf).is_err(),
        "the engine sent media to the third party"
    );
    phone.press('2');
    let (ok, log) = e.wait_log(Duration::from_secs(10), |l| l.contains(CONSULTATION));
    assert!(ok, "digit 2 did not reach consultation: {log}");
    assert!(log.contains("digit=2 source=Rfc4733"), "{log}");
    let (queued, log) = e.wait_log(Duration::from_secs(10), |l| {
        l.contains("queue=consultation")
    });
    assert!(queued, "{log}");
    assert!(
        !log.contains("digit=0"),
        "the rogue's key press was taken: {log}"
    );
    let heard = phone.finish();
    let score = best_match(&heard, &read_wav(&prompt("zh-CN", "greeting")));
    assert!(
        score > 0.9,
        "the greeting is not in what the caller heard (correlation {score:.3})"
    );
}

#[test]
fn a_stranger_spraying_rtp_from_the_moment_of_answer_gets_nothing_and_the_caller_hears_the_greeting(
) {
    let e = Engine::start("ivr-hijack", &[MONDAY_10, &rtp_range(100), NO_SPIN]);
    let phone = Phone::dial(&e, "8000");
    // The port is only known once the call is answered: watch the log closely for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let port: u16 = loop {
        let log = e.log();
        if let Some(p) = log
            .split("rtp_port=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|p| p.parse().ok())
        {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never answered: {log}"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    // A stranger on the phone's own host (the same IP as its SIP and SDP, another port):
    // a talking phone's packets, one SSRC, rising sequence numbers, every 5 ms for three
    // seconds, through the whole learning window.
    let rogue = std::net::UdpSocket::bind("127.0.0.1:0").expect("rogue socket");
    rogue.set_nonblocking(true).expect("nonblocking");
    let mut got = 0usize;
    let mut buf = [0u8; 512];
    for i in 0..600u16 {
        let mut pkt = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0xBA, 0xD0, 0xBA, 0xD0];
        pkt[2..4].copy_from_slice(&i.to_be_bytes());
        pkt[4..8].copy_from_slice(&(160 * u32::from(i)).to_be_bytes());
        pkt.extend_from_slice(&[0x55; 160]);
        rogue.send_to(&pkt, ("127.0.0.1", port)).expect("send");
        while rogue.recv_from(&mut buf).is_ok() {
            got += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    while rogue.recv_from(&mut buf).is_ok() {
        got += 1;
    }
    assert_eq!(got, 0, "the engine sent media to the stranger");
    let (ok, log) = e.wait_log(Duration::from_secs(5), |l| l.contains("node=main/menu"));
    assert!(ok, "{log}");
    assert_eq!(
        log.matches("media from a source that is not the leg's peer refused")
            .count(),
        1,
        "logged once for the leg: {log}"
    );
    // The menu has begun: the whole greeting went out; its first four seconds are
    // enough to recognise it in the recording.
    std::thread::sleep(Duration::from_millis(500));
    let heard = phone.finish();
    let greeting = read_wav(&prompt("zh-CN", "greeting"));
    let score = best_match(&heard, &greeting[..greeting.len().min(4 * 8000)]);
    assert!(
        score > 0.9,
        "the caller did not keep hearing the greeting (correlation {score:.3})"
    );
}

#[test]
fn outside_consultation_hours_the_caller_hears_the_after_hours_message() {
    let e = Engine::start("ivr-closed", &[MONDAY_21, &rtp_range(100), NO_SPIN]);
    let phone = Phone::dial(&e, "8000");
    let (ok, log) = e.wait_log(Duration::from_secs(20), |l| l.contains("node=main/menu"));
    assert!(ok, "{log}");
    phone.press('2');
    let (ok, log) = e.wait_log(Duration::from_secs(10), |l| {
        l.contains("node=main/consultation-closed")
    });
    assert!(ok, "{log}");
    let secs = read_wav(&prompt("zh-CN", "after-hours-consultation")).len() as u64 / 8000;
    // Then the on-duty number: the roster is rung.
    let (ok, log) = e.wait_log(Duration::from_secs(secs + 8), |l| {
        l.contains("transfer") && l.contains("to=2000") && l.contains("kind=\"ivr\"")
    });
    assert!(ok, "no transfer to the on-duty number: {log}");
    let heard = phone.finish();
    // The first four seconds of the message: enough to recognise it, short enough that a
    // late packet on a busy test machine does not spoil the comparison.
    let msg = read_wav(&prompt("zh-CN", "after-hours-consultation"));
    let score = best_match(&heard, &msg[..msg.len().min(4 * 8000)]);
    assert!(
        score > 0.9,
        "the after-hours message is not in what the caller heard ({score:.3})"
    );
}

fn greeting_ms() -> u64 {
    read_wav(&prompt("zh-CN", "greeting")).len() as u64 / 8
}

fn sipp_call(engine: &Engine, scenario: &str, replace: &[(&str, String)]) -> std::process::Output {
    sipp_calls(engine, scenario, replace, 1)
}

/// `calls` calls of the scenario, started half a second apart.
fn sipp_calls(
    engine: &Engine,
    scenario: &str,
    replace: &[(&str, String)],
    calls: usize,
) -> std::process::Output {
    require_tool("sipp");
    let dir = scratch("sipp-ivr");
    let mut text =
        std::fs::read_to_string(workspace().join("tests/sipp").join(scenario)).expect("scenario");
    for (k, v) in replace {
        text = text.replace(k, v);
    }
    let path = dir.join(scenario);
    std::fs::write(&path, text).expect("write scenario");
    Command::new("sipp")
        .current_dir(&dir)
        .arg("-sf")
        .arg(&path)
        .args(["-s", "8000", "-au", "1001", "-ap", "demo-1001", "-auth_uri"])
        .arg(format!("8000@127.0.0.1:{}", engine.port))
        .args([
            "-m",
            &calls.to_string(),
            "-r",
            "2",
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-p",
        ])
        .arg(free_port().to_string())
        .arg("-mp")
        .arg(free_media_port().to_string())
        .args(["-timeout", "40s", "-nostdin", "-trace_err"])
        .arg(engine.addr().to_string())
        .output()
        .expect("run sipp")
}

#[test]
fn sipp_presses_two_by_sip_info() {
    let e = Engine::start("ivr-info", &[MONDAY_10, &rtp_range(100), NO_SPIN]);
    let out = sipp_call(
        &e,
        "ivr_info.xml",
        &[
            ("PAUSE_MS", (greeting_ms() + 1500).to_string()),
            ("HOLD_MS", "1500".into()),
        ],
    );
    assert!(
        out.status.success(),
        "SIPp: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (ok, log) = e.wait_log(Duration::from_secs(5), |l| {
        l.contains("digit=2 source=Info") && l.contains(CONSULTATION)
    });
    assert!(ok, "{log}");
}

/// A pcap (Ethernet/IPv4/UDP/RTP) of G.711 u-law frames holding a DTMF tone, for SIPp's
/// play_pcap_audio.
fn dtmf_pcap(path: &Path, key: char) {
    let mut samples = sb_media::goertzel::synthesize(key, 120, 0.3);
    samples.extend(std::iter::repeat_n(0i16, 8 * 200));
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, frame) in samples.chunks(160).enumerate() {
        let payload: Vec<u8> = frame
            .iter()
            .map(|s| sb_media::g711::linear_to_ulaw(*s))
            .collect();
        let mut rtp = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34];
        rtp[2..4].copy_from_slice(&(i as u16).to_be_bytes());
        rtp[4..8].copy_from_slice(&(i as u32 * 160).to_be_bytes());
        rtp.extend_from_slice(&payload);
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut pkt = vec![0u8; 12];
        pkt.extend_from_slice(&[0x08, 0x00]);
        pkt.extend_from_slice(&[
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0,
            0,
            64,
            17,
            0,
            0,
            127,
            0,
            0,
            1,
            127,
            0,
            0,
            1,
        ]);
        pkt.extend_from_slice(&[
            0x1f,
            0x40,
            0x1f,
            0x40,
            (udp_len >> 8) as u8,
            udp_len as u8,
            0,
            0,
        ]);
        pkt.extend_from_slice(&rtp);
        let usec = (i as u32) * 20_000;
        out.extend_from_slice(&(usec / 1_000_000).to_le_bytes());
        out.extend_from_slice(&(usec % 1_000_000).to_le_bytes());
        out.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        out.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        out.extend_from_slice(&pkt);
    }
    std::fs::write(path, out).expect("write pcap");
}

#[test]
fn sipp_presses_two_as_an_inband_tone() {
    let e = Engine::start("ivr-inband", &[MONDAY_10, &rtp_range(100), NO_SPIN]);
    let pcap = scratch("pcap").join("dtmf2.pcap");
    dtmf_pcap(&pcap, '2');
    let out = sipp_call(
        &e,
        "ivr_inband.xml",
        &[
            ("PAUSE_MS", (greeting_ms() + 1500).to_string()),
            ("HOLD_MS", "1500".into()),
            ("PCAP_FILE", pcap.display().to_string()),
        ],
    );
    assert!(
        out.status.success(),
        "SIPp: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (ok, log) = e.wait_log(Duration::from_secs(5), |l| {
        l.contains("digit=2 source=InBand") && l.contains(CONSULTATION)
    });
    assert!(ok, "{log}");
}

#[test]
fn the_fourth_patient_waiting_for_consultation_overflows_to_the_operator() {
    // No agent's phone is registered: callers who press 2 wait in the queue.
    let e = Engine::start("ivr-overflow", &[MONDAY_10, &rtp_range(100), NO_SPIN]);
    let out = sipp_calls(
        &e,
        "ivr_info.xml",
        &[
            ("PAUSE_MS", (greeting_ms() + 1500).to_string()),
            ("HOLD_MS", "6000".into()),
        ],
        4,
    );
    assert!(
        out.status.success(),
        "SIPp: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = e.log();
    assert_eq!(
        log.matches("joined queue").count(),
        3 + 1,
        "three wait in consultation, the fourth joins the operator queue: {log}"
    );
    assert_eq!(log.matches("reason=TooManyWaiting").count(), 1, "{log}");
    assert!(
        log.contains("queue overflow") && log.contains("to=Some(\"operator\")"),
        "{log}"
    );
}
