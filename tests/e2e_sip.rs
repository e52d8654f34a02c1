//! End to end through the real binary with real SIP peers from Debian: SIPp and baresip.
#![allow(
    clippy::disallowed_methods,
    reason = "an end-to-end test: it drives real processes in real time"
)]

mod common;
/// The load tools' flood and /proc readings.
#[path = "../examples/common/mod.rs"]
mod load;

use common::*;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

#[test]
fn options_is_answered_over_udp_and_tcp() {
    let e = Engine::start("options", &[]);
    assert_eq!(options_udp(e.port, Duration::from_secs(2)), Some(200));
    assert_eq!(options_tcp(e.port, Duration::from_secs(2)), Some(200));
}

fn sipp(
    engine: &Engine,
    scenario: &str,
    user: &str,
    password: &str,
    transport: &str,
) -> std::process::Output {
    require_tool("sipp");
    let dir = scratch("sipp");
    Command::new("sipp")
        .current_dir(&dir)
        .arg("-sf")
        .arg(workspace().join("tests/sipp").join(scenario))
        .args([
            "-s",
            user,
            "-au",
            user,
            "-ap",
            password,
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-p",
        ])
        .arg(free_port().to_string())
        .args(["-t", transport, "-timeout", "20s", "-nostdin", "-trace_err"])
        .arg(engine.addr().to_string())
        .output()
        .expect("run sipp")
}

#[test]
fn sipp_registers_1001_through_the_digest_challenge() {
    let e = Engine::start("sipp-register", &[]);
    let out = sipp(&e, "register.xml", "1001", "demo-1001", "u1");
    assert!(
        out.status.success(),
        "SIPp scenario failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (ok, log) = e.wait_log(Duration::from_secs(5), |l| {
        l.contains("registered extension=1001")
    });
    assert!(ok, "no binding for 1001: {log}");
    // The same over TCP.
    let out = sipp(&e, "register.xml", "1001", "demo-1001", "t1");
    assert!(
        out.status.success(),
        "SIPp over TCP failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (ok, log) = e.wait_log(Duration::from_secs(5), |l| l.contains("transport=Tcp"));
    assert!(ok, "no TCP binding: {log}");
}

#[test]
fn sipp_with_a_wrong_password_gets_401_and_no_binding() {
    let e = Engine::start("sipp-wrong", &[]);
    let out = sipp(&e, "register_wrong.xml", "1001", "not-the-password", "u1");
    assert!(
        out.status.success(),
        "SIPp scenario failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (ok, log) = e.wait_log(Duration::from_secs(5), |l| {
        l.contains("authentication failed")
    });
    assert!(ok, "the failure is logged as a security event: {log}");
    assert!(
        !log.contains("registered extension=1001"),
        "a wrong password created a binding: {log}"
    );
}

#[test]
fn baresip_registers_as_1002_and_stays_registered_across_refreshes() {
    require_tool("baresip");
    let e = Engine::start(
        "baresip",
        &[
            "sip.registrar.min_expires=5",
            "sip.registrar.default_expires=10",
        ],
    );
    let dir = scratch("baresip-1002");
    let sip_port = free_port();
    std::fs::write(
        dir.join("config"),
        format!(
            "sip_listen 127.0.0.1:{sip_port}\nnet_interface 127.0.0.1\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule account.so\nmodule aufile.so\naudio_player aufile,/dev/null\naudio_source aufile,/dev/null\n"
        ),
    )
    .expect("baresip config");
    std::fs::write(
        dir.join("accounts"),
        format!("<sip:1002@127.0.0.1:{}>;auth_pass=demo-1002;regint=6;answermode=auto;audio_codecs=PCMU\n", e.port),
    )
    .expect("baresip accounts");
    let mut phone = Command::new("baresip")
        .arg("-f")
        .arg(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(dir.join("baresip.log")).expect("log"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start baresip");
    // A first registration and at least two refreshes (regint=6 s).
    let (ok, log) = e.wait_log(Duration::from_secs(30), |l| {
        l.matches("registered extension=1002").count() >= 3
    });
    let _ = phone.kill();
    let _ = phone.wait();
    assert!(
        ok,
        "baresip did not register and refresh: {log}\nbaresip: {}",
        std::fs::read_to_string(dir.join("baresip.log")).unwrap_or_default()
    );
    assert!(!log.contains("authentication failed"), "{log}");
    assert!(
        !log.contains("unregistered extension=1002"),
        "the binding lapsed between refreshes: {log}"
    );
}

#[test]
fn every_torture_message_over_udp_and_tcp_leaves_the_engine_answering() {
    let e = Engine::start("torture", &[]);
    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let mut files = read_dir_sorted(&torture_dir().join("rfc4475"));
    files.extend(read_dir_sorted(&torture_dir().join("rfc5118")));
    let files: Vec<_> = files
        .into_iter()
        .filter(|p| p.extension().is_none_or(|x| x == "dat"))
        .collect();
    assert_eq!(files.len(), 62);
    for f in &files {
        let bytes = std::fs::read(f).expect("torture file");
        udp.send_to(&bytes, e.addr()).expect("send");
        if let Ok(mut tcp) = TcpStream::connect(e.addr()) {
            let _ = tcp.write_all(&bytes);
            let _ = tcp.set_read_timeout(Some(Duration::from_millis(200)));
            let mut sink = [0u8; 4096];
            let _ = tcp.read(&mut sink);
        }
        assert_eq!(
            options_udp(e.port, Duration::from_secs(2)),
            Some(200),
            "after {} (UDP)",
            f.display()
        );
        assert_eq!(
            options_tcp(e.port, Duration::from_secs(2)),
            Some(200),
            "after {} (TCP)",
            f.display()
        );
    }
    assert!(e.child.id() > 0);
}

#[test]
fn idle_tcp_connections_are_reaped_and_broken_framing_closes_them() {
    let e = Engine::start("tcp-idle", &["sip.tcp_idle_seconds=1"]);
    let mut idle = TcpStream::connect(e.addr()).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    assert_eq!(
        idle.read(&mut buf).expect("closed, not timed out"),
        0,
        "the engine closes an idle connection"
    );
    // A message without Content-Length cannot be framed on a stream (RFC 3261 §18.3).
    let mut bad = TcpStream::connect(e.addr()).expect("connect");
    bad.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    bad.write_all(b"OPTIONS sip:8000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKx\r\n\r\n").expect("write");
    let mut got = Vec::new();
    bad.read_to_end(&mut got)
        .expect("the engine closes the connection");
    assert!(got.is_empty(), "no answer to an unframeable message");
    let (ok, log) = e.wait_log(Duration::from_secs(2), |l| {
        l.contains("closing TCP connection on a framing error")
    });
    assert!(ok, "closed for the framing error, not for idleness: {log}");
    // A CRLFCRLF keep-alive ping gets a CRLF pong (RFC 5626 §3.5.1).
    let mut ka = TcpStream::connect(e.addr()).expect("connect");
    ka.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    ka.write_all(b"\r\n\r\n").expect("ping");
    let n = ka.read(&mut buf).expect("pong");
    assert_eq!(&buf[..n], b"\r\n");
}

#[test]
fn sigterm_and_sigint_stop_the_engine_cleanly() {
    for sig in ["TERM", "INT"] {
        let mut e = Engine::start("signal", &[]);
        e.signal(sig);
        let status = e
            .wait_exit(Duration::from_secs(10))
            .expect("exits after the signal");
        assert!(status.success(), "SIG{sig}: {status}");
        assert!(e.log().contains("shut down cleanly"));
    }
}

#[test]
fn tcp_answers_owed_before_a_framing_error_are_sent_before_closing() {
    let e = Engine::start("tcp-owed", &[]);
    let mut s = TcpStream::connect(e.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let local = s.local_addr().expect("local address");
    // Three good requests, then one whose Content-Length cannot be read, in one write.
    let mut burst = String::new();
    for n in 0..3 {
        burst.push_str(&options_request(local, "TCP", 9000 + n));
    }
    burst.push_str("OPTIONS sip:8000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKbad\r\nFrom: <sip:p@127.0.0.1>;tag=b\r\nTo: <sip:8000@127.0.0.1>\r\nCall-ID: bad\r\nCSeq: 1 OPTIONS\r\nContent-Length: many\r\n\r\n");
    s.write_all(burst.as_bytes()).expect("write");
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .expect("the engine closes the connection after answering");
    let text = String::from_utf8_lossy(&got);
    assert_eq!(
        text.matches("SIP/2.0 200 OK").count(),
        3,
        "every good request before the bad one is answered: {text}"
    );
    let (ok, log) = e.wait_log(Duration::from_secs(2), |l| {
        l.contains("closing TCP connection on a framing error")
    });
    assert!(ok, "closed for the framing error: {log}");
}

#[test]
fn a_flood_of_unauthenticated_invites_costs_no_memory_and_gets_one_answer_each() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let e = Engine::start("flood", &[]);
    let pid = e.child.id();
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    load::big_buffers(&sock);
    let local_port = sock.local_addr().expect("local").port();
    let answers = Arc::new(load::flood::Answers::default());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (sock, answers, stop) = (
            sock.try_clone().expect("clone"),
            answers.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || load::flood::count_answers(sock, answers, stop))
    };
    let drops_before = load::socket_drops(e.port) + load::socket_drops(local_port);
    // A first thousand, so the figures start from a running engine's memory.
    load::flood::send(&sock, e.addr(), 1_000, 10_000);
    std::thread::sleep(Duration::from_millis(500));
    let (_, rss_before) = load::proc_usage(pid).expect("engine's /proc");
    let flood = 100_000u64;
    load::flood::send(&sock, e.addr(), flood, 10_000);
    // Anything retransmitted would come after T1 (500 ms) and on: wait past several.
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("reader");
    let (_, rss_after) = load::proc_usage(pid).expect("engine's /proc");
    let dropped = load::socket_drops(e.port) + load::socket_drops(local_port) - drops_before;
    let challenged = answers.challenges.load(Ordering::Relaxed);
    assert_eq!(answers.other.load(Ordering::Relaxed), 0, "only 401s");
    assert_eq!(
        challenged + dropped,
        1_000 + flood,
        "one answer per request received ({dropped} dropped by full sockets)"
    );
    // The kernel drops what a busy machine cannot take in (this is the debug build, beside
    // other tests); what matters is that most came through, each answered exactly once.
    assert!(
        dropped * 2 <= flood,
        "most of the flood reached the engine: {dropped} of {flood} dropped"
    );
    let grown_kib = rss_after.saturating_sub(rss_before);
    assert!(
        grown_kib < 10 * 1024,
        "memory grew {grown_kib} KiB over the flood ({rss_before} -> {rss_after} KiB)"
    );
    // And the engine serves as before.
    assert_eq!(options_udp(e.port, Duration::from_secs(2)), Some(200));
}
