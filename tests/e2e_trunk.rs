//! The carrier's trunk end to end: the real binary with a real Kamailio as the carrier (on
//! 127.0.0.2; a second one on 127.0.0.5), SIPp and baresip as patients in the public network
//! (127.0.0.4), and a SIPp "network phone" (127.0.0.3) that echoes what it hears. The trunk
//! registers (over UDP and TCP), re-registers when the carrier comes back, and removes its
//! binding at stop; patients' calls reach the IVR and an agent, who transfers them out blind
//! or after a consultation; operators dial out with the hospital's caller ID; numbers not
//! allowed never reach the carrier; calls fail over to the second carrier on 503, silence or
//! a carrier found down; reliable provisional answers and session timers are served.
#![allow(
    clippy::disallowed_methods,
    reason = "an end-to-end test: it drives real processes in real time"
)]

mod common;

use common::{
    best_match, config_file, free_media_port, free_port, read_wav, require_tool, rtp_range,
    runs_follow, scratch, tone_runs, workspace, Engine, Phone,
};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "trunk-secret-42";

/// A Kamailio carrier on its own loopback address.
struct Carrier {
    child: Option<Child>,
    dir: PathBuf,
    ip: &'static str,
    port: u16,
    network: String,
    /// It trusts the hospital's address: no challenge to its calls out.
    noauth: bool,
    /// It listens on TCP too (same port).
    tcp: bool,
    /// Times started (each run logs to its own file).
    runs: u32,
}

impl Carrier {
    fn start(ip: &'static str, network: &str, noauth: bool) -> Carrier {
        Carrier::start_with(ip, network, noauth, false)
    }

    fn start_with(ip: &'static str, network: &str, noauth: bool, tcp: bool) -> Carrier {
        require_tool("kamailio");
        let mut c = Carrier {
            child: None,
            dir: scratch(&format!("carrier-{ip}")),
            ip,
            port: free_port(),
            network: network.to_string(),
            noauth,
            tcp,
            runs: 0,
        };
        c.spawn();
        c
    }

    fn spawn(&mut self) {
        self.runs += 1;
        let log = self.dir.join(format!("kamailio-{}.log", self.runs));
        let mut cmd = Command::new("kamailio");
        cmd.arg("-f")
            .arg(workspace().join("tests/kamailio/carrier.cfg"))
            .args(["-DD", "-E", "-m", "32", "-M", "4", "-x", "tlsf", "-n", "1"])
            .arg("-Y")
            .arg(&self.dir)
            .arg("-P")
            .arg(self.dir.join("pid"))
            .arg("-l")
            .arg(format!("udp:{}:{}", self.ip, self.port))
            .arg("-A")
            .arg(format!("PASSWORD=\"{PASSWORD}\""))
            .arg("-A")
            .arg(format!("NETWORK=\"{}\"", self.network))
            .arg("-A")
            .arg(format!("CTL=\"{}\"", self.ctl()));
        if self.noauth {
            cmd.args(["-A", "NOAUTH"]);
        }
        if self.tcp {
            cmd.arg("-l").arg(format!("tcp:{}:{}", self.ip, self.port));
        }
        let child = cmd
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start kamailio");
        self.child = Some(child);
    }

    fn ctl(&self) -> String {
        format!("unix:{}", self.dir.join("ctl").display())
    }

    /// Stops it with every process it forked (its own process group).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let group = format!("-{}", c.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = c.wait();
        }
    }

    /// Makes the running carrier fail (see tests/kamailio/carrier.cfg): 0 healthy, 1 down,
    /// 2 silent to new calls, 3 refusing them with 503.
    fn set_mode(&self, mode: u8) {
        let kamcmd = || {
            Command::new("kamcmd")
                .args(["-s", &self.ctl(), "htable.seti", "fail", "mode"])
                .arg(mode.to_string())
                .output()
                .expect("run kamcmd")
        };
        wait(
            "kamcmd sets the carrier's mode",
            Duration::from_secs(5),
            || kamcmd().status.success(),
            || String::from_utf8_lossy(&kamcmd().stderr).into_owned(),
        );
    }

    /// What its latest run logged.
    fn last_run_log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("kamailio-{}.log", self.runs)))
            .unwrap_or_default()
    }

    /// Everything every run of it logged.
    fn log(&self) -> String {
        (1..=self.runs)
            .map(|n| {
                std::fs::read_to_string(self.dir.join(format!("kamailio-{n}.log")))
                    .unwrap_or_default()
            })
            .collect()
    }

    fn count(&self, what: &str) -> usize {
        self.log().matches(what).count()
    }

    /// Calls the carrier relayed out for the hospital.
    fn calls_out(&self) -> usize {
        self.count("CARRIER-OUT")
    }
}

impl Drop for Carrier {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The shipped configuration with `extra` (trunks, the dial plan) appended.
fn config(extra: &str) -> PathBuf {
    config_file("trunk-config", |text| text + extra)
}

/// A trunk to the carrier on `port` and the dial plan of the first test.
fn one_carrier(port: u16) -> String {
    format!(
        r#"
[[trunks]]
name = "carrier-a"
address = "127.0.0.2:{port}"
domain = "carrier.test"
numbers = "e164"
dids = {{ "+862088880000" = "8000", "+862088880001" = "8001", "+862088880002" = "2001" }}
caller_id = "+862088880000"
caller_name = "Demo Hospital"
asserted_identity = true
options_seconds = 5

[trunks.register]
user = "hospital"
password = "{PASSWORD}"
expires = 120

[[outbound]]
name = "local"
patterns = ["9NXXXXXXX"]
roles = ["operator", "agent"]
strip = 1
prepend = "020"

[[outbound]]
name = "international"
patterns = ["900."]
"#
    )
}

/// One SIPp call of `scenario` (from tests/sipp) to `target`, from `local_ip`, which must
/// go as the scenario says; `what` and `show` (the logs) explain a failure.
fn sipp(
    what: &str,
    (scenario, target, service, local_ip): (&str, &str, &str, &str),
    auth: Option<(&str, &str)>,
    show: impl Fn() -> String,
) {
    require_tool("sipp");
    let dir = scratch(&format!("sipp-{}", scenario.trim_end_matches(".xml")));
    let text = std::fs::read_to_string(workspace().join("tests/sipp").join(scenario))
        .expect("scenario")
        .replace("HOLD_MS", "1500");
    let path = dir.join(scenario);
    std::fs::write(&path, text).expect("write scenario");
    let mut cmd = Command::new("sipp");
    cmd.current_dir(&dir)
        .arg("-sf")
        .arg(&path)
        .args(["-s", service]);
    if let Some((user, password)) = auth {
        cmd.args(["-au", user, "-ap", password, "-auth_uri"])
            .arg(format!("{service}@{target}"));
    }
    cmd.args(["-m", "1", "-i", local_ip, "-mi", local_ip, "-p"])
        .arg(free_port().to_string())
        .arg("-mp")
        .arg(free_media_port().to_string())
        .args(["-timeout", "30s", "-nostdin", "-trace_err"])
        .arg(target);
    let out: Output = cmd.output().expect("run sipp");
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        show()
    );
}

/// A patient in the public network calls `number` through the carrier with `scenario`.
fn carrier_call(carrier: &Carrier, scenario: &str, number: &str, show: impl Fn() -> String) {
    let target = format!("127.0.0.2:{}", carrier.port);
    sipp(
        "the carrier's call",
        (scenario, &target, number, "127.0.0.4"),
        None,
        || format!("{}\n{}", show(), carrier.log()),
    );
}

/// The operator (1100) dials a local number; the network phone must answer, through
/// whichever carrier.
fn operator_dials_out(engine: &Engine, show: impl Fn() -> String) {
    let target = engine.addr().to_string();
    sipp(
        "the operator's call out",
        ("dial_out.xml", &target, "922345678", "127.0.0.1"),
        Some(("1100", "demo-1100")),
        || format!("{}\n{}", engine.log(), show()),
    );
}

/// Waits until the engine's log shows the trunk registered.
fn wait_registered(engine: &Engine, carrier: &Carrier) {
    wait(
        "the trunk registers",
        Duration::from_secs(15),
        || engine.log().contains("registration=\"registered\""),
        || format!("{}\n{}", engine.log(), carrier.log()),
    );
}

fn wait(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool, show: impl Fn() -> String) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: {}", show());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends an INVITE for `number` without credentials; the status of the answer.
fn unauthenticated_invite(engine: std::net::SocketAddr, number: &str) -> Option<u16> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let me = sock.local_addr().expect("addr");
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
    let invite = format!(
        "INVITE sip:{number}@{engine} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKfraud{number}\r\nFrom: <sip:1100@{engine}>;tag=fraud\r\nTo: <sip:{number}@{engine}>\r\nCall-ID: fraud-{number}\r\nCSeq: 1 INVITE\r\nContact: <sip:1100@{me}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    sock.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    sock.send_to(invite.as_bytes(), engine).ok()?;
    let mut buf = [0u8; 4096];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]);
        let status: u16 = text.split_whitespace().nth(1)?.parse().ok()?;
        if status >= 200 {
            return Some(status);
        }
    }
}

/// A SIPp phone in the public network (127.0.0.3) that answers `calls` calls, echoing
/// their audio, then ends.
fn network_phone(port: u16, calls: u32) -> Child {
    require_tool("sipp");
    let dir = scratch("network-phone");
    Command::new("sipp")
        .current_dir(&dir)
        .args(["-sn", "uas", "-i", "127.0.0.3", "-mi", "127.0.0.3", "-p"])
        .arg(port.to_string())
        .arg("-mp")
        .arg(free_media_port().to_string())
        .arg("-m")
        .arg(calls.to_string())
        // It says back what it hears: audio both ways shows in the caller's recording.
        .args(["-rtp_echo", "-timeout", "90s", "-nostdin"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the network phone")
}

#[test]
fn the_hospital_registers_takes_a_patients_call_and_dials_out_through_the_carrier() {
    let phone_port = free_port();
    let carrier = Carrier::start("127.0.0.2", &format!("sip:127.0.0.3:{phone_port}"), false);
    let cfg = config(&one_carrier(carrier.port));
    let engine = Engine::start_with("trunk", Some(&cfg), &[]);

    // The trunk registers (401, digest, 200) and the carrier answers OPTIONS.
    wait_registered(&engine, &carrier);

    // A patient in the public network calls the hospital's number through the carrier.
    carrier_call(&carrier, "carrier_call.xml", "+862088880000", || {
        engine.log()
    });
    let (started, log) = engine.wait_log(Duration::from_secs(5), |l| {
        l.contains("trunk=\"carrier-a\"") && l.contains("did=\"02088880000\"")
    });
    assert!(started, "no call from the trunk in the log: {log}");
    assert!(
        !log.contains("13912345678"),
        "the patient's number is in the log unredacted"
    );

    // A department may not dial out: refused by the switchboard, never at the carrier.
    let target = engine.addr().to_string();
    sipp(
        "the department's call out was not refused with 403",
        ("dial_refused.xml", &target, "922345678", "127.0.0.1"),
        Some(("2001", "demo-2001")),
        || engine.log(),
    );
    // Nor may anyone dial abroad (no role has the international rule).
    sipp(
        "the international call was not refused",
        ("dial_refused.xml", &target, "9008521234567", "127.0.0.1"),
        Some(("1100", "demo-1100")),
        || engine.log(),
    );
    // Nor anyone who does not authenticate: challenged, whatever the number.
    for number in ["922345678", "9008521234567"] {
        assert_eq!(unauthenticated_invite(engine.addr(), number), Some(401));
    }
    assert_eq!(carrier.calls_out(), 0, "{}", carrier.log());

    // The operator dials a local number: the carrier challenges (407), relays it to the
    // network phone, which answers.
    let mut phone = network_phone(phone_port, 1);
    operator_dials_out(&engine, || carrier.log());
    let _ = phone.wait();
    wait(
        "the carrier relayed the call",
        Duration::from_secs(5),
        || carrier.calls_out() == 1,
        || carrier.log(),
    );
    let log = carrier.log();
    assert!(
        log.contains("ruri=sip:+862022345678@carrier.test"),
        "the number went out in E.164: {log}"
    );
    assert!(
        log.contains("from=sip:+862088880000@carrier.test"),
        "caller ID: {log}"
    );
    assert!(
        log.contains("pai=\"Demo Hospital\" <sip:+862088880000@carrier.test>"),
        "{log}"
    );
}

/// Carrier A's trunk lines in the engine's log that `pred` picks.
fn trunk_lines(engine: &Engine, pred: impl Fn(&str) -> bool) -> usize {
    engine
        .log()
        .lines()
        .filter(|l| l.contains("trunk=\"carrier-a\"") || l.contains("trunk=carrier-a"))
        .filter(|l| pred(l))
        .count()
}

/// Waits until carrier A's trunk has more lines that `pred` picks than `before`.
fn wait_trunk_log(engine: &Engine, what: &str, before: usize, pred: impl Fn(&str) -> bool) {
    wait(
        what,
        Duration::from_secs(15),
        || trunk_lines(engine, &pred) > before,
        || engine.log(),
    );
}

#[test]
fn calls_out_fail_over_to_the_second_carrier_and_the_trunk_recovers_from_a_restart() {
    let phone_port = free_port();
    let network = format!("sip:127.0.0.3:{phone_port}");
    let mut a = Carrier::start("127.0.0.2", &network, false);
    let b = Carrier::start("127.0.0.5", &network, true);
    let cfg = config(&format!(
        r#"
[outside]
setup_timeout_seconds = 2

[[trunks]]
name = "carrier-a"
address = "127.0.0.2:{}"
domain = "carrier.test"
numbers = "e164"
dids = {{ "+862088880000" = "8000" }}
caller_id = "+862088880000"
priority = 1
options_seconds = 1

[trunks.register]
user = "hospital"
password = "{PASSWORD}"
expires = 120

[[trunks]]
name = "carrier-b"
address = "127.0.0.5:{}"
domain = "carrier.test"
numbers = "e164"
caller_id = "+862088880000"
priority = 2
options_seconds = 1

[[outbound]]
name = "local"
patterns = ["9NXXXXXXX"]
roles = ["operator"]
strip = 1
prepend = "020"
"#,
        a.port, b.port
    ));
    let mut engine = Engine::start_with("failover", Some(&cfg), &[]);
    let mut phone = network_phone(phone_port, 3);
    wait_trunk_log(&engine, "carrier A registers", 0, |l| {
        l.contains("registration=\"registered\"")
    });

    // Carrier A refuses the call with 503 (no circuit): carrier B takes it.
    a.set_mode(3);
    operator_dials_out(&engine, || format!("A: {}\nB: {}", a.log(), b.log()));
    assert_eq!(
        (a.count("CARRIER-REFUSED"), a.calls_out(), b.calls_out()),
        (1, 0, 1)
    );
    let (logged, log) = engine.wait_log(Duration::from_secs(2), |l| {
        l.lines().any(|l| {
            l.contains("trunk attempt")
                && l.contains("carrier-a")
                && l.contains("status=503")
                && l.contains("cause=34")
                && l.contains("failover=true")
        })
    });
    assert!(logged, "the attempt on carrier A with its cause: {log}");

    // Carrier A says nothing: after the setup time carrier B takes it.
    a.set_mode(2);
    operator_dials_out(&engine, || format!("A: {}\nB: {}", a.log(), b.log()));
    // (It saw the INVITE and each retransmission of it.)
    assert!(a.count("CARRIER-SILENT") > 0, "{}", a.log());
    assert_eq!(b.calls_out(), 2);

    // Carrier A is down (503 to its health check): calls go straight to carrier B.
    a.set_mode(1);
    wait_trunk_log(&engine, "carrier A marked down", 0, |l| {
        l.contains("reachable=Some(false)")
    });
    operator_dials_out(&engine, || format!("A: {}\nB: {}", a.log(), b.log()));
    assert_eq!((a.count("CARRIER-DOWN"), b.calls_out()), (0, 3));

    // Back up: the health check sees it and the account registers again at once.
    let registers = a.count("CARRIER-REG expires=120");
    let down = |l: &str| l.contains("reachable=Some(false)");
    let up = |l: &str| l.contains("reachable=Some(true)");
    let ups = trunk_lines(&engine, up);
    a.set_mode(0);
    wait_trunk_log(&engine, "carrier A back", ups, up);
    wait(
        "a new REGISTER",
        Duration::from_secs(5),
        || a.count("CARRIER-REG expires=120") > registers,
        || a.log(),
    );

    // Carrier A restarts and forgets every binding: seen down, then back, then registered
    // again, so a patient's call to the hospital's number through it arrives.
    let downs = trunk_lines(&engine, down);
    a.stop();
    wait_trunk_log(&engine, "carrier A stopped", downs, down);
    let registered = |l: &str| l.contains("registration=\"registered\"");
    let before = trunk_lines(&engine, registered);
    a.spawn();
    // Challenged, then accepted: two REGISTERs reach the new run, and the engine has the 200.
    wait(
        "registered again",
        Duration::from_secs(10),
        || a.last_run_log().matches("CARRIER-REG expires=120").count() >= 2,
        || a.last_run_log(),
    );
    wait_trunk_log(&engine, "registered again", before, registered);
    carrier_call(&a, "carrier_call.xml", "+862088880000", || engine.log());

    let _ = phone.wait();

    // The switchboard stops: its binding at the carrier is removed.
    engine.signal("TERM");
    assert!(engine.wait_exit(Duration::from_secs(10)).is_some());
    wait(
        "the un-REGISTER",
        Duration::from_secs(3),
        || a.count("CARRIER-REG expires=0") > 0,
        || a.log(),
    );
}

#[test]
fn a_trunk_over_tcp_registers_takes_a_call_and_dials_out() {
    let phone_port = free_port();
    let carrier = Carrier::start_with(
        "127.0.0.2",
        &format!("sip:127.0.0.3:{phone_port}"),
        false,
        true,
    );
    let cfg = config(&one_carrier(carrier.port).replace(
        "domain = \"carrier.test\"",
        "domain = \"carrier.test\"\ntransport = \"tcp\"",
    ));
    let engine = Engine::start_with("trunk-tcp", Some(&cfg), &[]);
    wait_registered(&engine, &carrier);
    assert!(
        carrier.log().contains("CARRIER-REG expires=120 proto=tcp"),
        "{}",
        carrier.log()
    );
    // A patient's call comes in through the carrier (over TCP to the switchboard).
    carrier_call(&carrier, "carrier_call.xml", "+862088880000", || {
        engine.log()
    });
    // The operator's call goes out over the connection.
    let mut phone = network_phone(phone_port, 1);
    operator_dials_out(&engine, || carrier.log());
    let _ = phone.wait();
    assert_eq!(carrier.calls_out(), 1);
    let out_line = carrier
        .log()
        .lines()
        .find(|l| l.contains("CARRIER-OUT"))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(out_line.ends_with("proto=tcp"), "{out_line}");
}

/// The tones the softphones say: the patient's and the agent's.
const PATIENT: f64 = 600.0;
const AGENT: f64 = 1000.0;

/// An engine with media on the one-carrier configuration, Monday 10:00 (every service
/// open), and agent 1003 registered (baresip, saying the agent's tone).
fn engine_with_agent(name: &str, carrier: &Carrier) -> (Engine, Phone) {
    let cfg = config(&one_carrier(carrier.port));
    let rtp = rtp_range(200);
    let engine = Engine::start_with(
        name,
        Some(&cfg),
        &[
            "ivr.clock_start=2026-11-23T10:00:00+08:00",
            &rtp,
            "rtp.timer_spin_ms=0",
            "acd.wrap_up_seconds=0",
        ],
    );
    let agent = Phone::start(&engine, "1003", Some(AGENT as f32), None);
    wait_registered(&engine, carrier);
    wait_line(&engine, &["registered extension=1003"]);
    (engine, agent)
}

/// A patient (baresip, saying the patient's tone) calls the hospital's number through the
/// carrier, presses 2 and is bridged to agent 1003.
fn patient_reaches_the_agent(engine: &Engine, carrier: &Carrier) -> Phone {
    let patient = Phone::through(
        &format!("127.0.0.2:{}", carrier.port),
        Some(PATIENT as f32),
        "+862088880000",
    );
    let (ok, log) = engine.wait_log(Duration::from_secs(20), |l| l.contains("node=main/menu"));
    assert!(
        ok,
        "the patient's call did not reach the menu: {log}\n{}",
        carrier.log()
    );
    patient.press('2');
    let (ok, log) = engine.wait_log(Duration::from_secs(30), |l| {
        l.contains("caller and agent bridged") && l.contains("agent=1003")
    });
    assert!(ok, "no bridge to 1003: {log}");
    patient
}

fn wait_line(engine: &Engine, what: &[&str]) {
    let (ok, log) = engine.wait_log(Duration::from_secs(20), |l| {
        l.lines().any(|l| what.iter().all(|w| l.contains(w)))
    });
    assert!(ok, "no line with {what:?}: {log}");
}

#[test]
fn a_patient_through_the_carrier_talks_to_an_agent_who_transfers_them_out_blind() {
    let phone_port = free_port();
    let carrier = Carrier::start("127.0.0.2", &format!("sip:127.0.0.3:{phone_port}"), false);
    let (engine, agent) = engine_with_agent("trunk-blind", &carrier);
    let patient = patient_reaches_the_agent(&engine, &carrier);
    std::thread::sleep(Duration::from_secs(4));
    // The agent sends the patient to an outside number: the network phone answers and
    // says back what it hears, so the patient then hears their own voice from the network.
    let mut network = network_phone(phone_port, 1);
    agent.keys("*4922345678#");
    wait_line(&engine, &["caller and agent bridged", "agent=outside"]);
    std::thread::sleep(Duration::from_secs(4));
    let heard = patient.finish();
    let agent_heard = tone_runs(&agent.finish(), &[PATIENT]);
    let _ = network.kill();
    let _ = network.wait();
    let greeting = read_wav(
        &workspace()
            .join("prompts")
            .join("zh-CN")
            .join("greeting.wav"),
    );
    let score = best_match(&heard, &greeting[..greeting.len().min(4 * 8000)]);
    assert!(
        score > 0.9,
        "the patient did not hear the greeting ({score:.3})"
    );
    let runs = tone_runs(&heard, &[AGENT, PATIENT]);
    assert!(
        runs_follow(&runs, &[('a', 2), ('b', 2)]),
        "the patient heard the agent, then themselves through the network: {runs:?}"
    );
    assert!(
        runs_follow(&agent_heard, &[('a', 2)]),
        "the agent heard the patient: {agent_heard:?}"
    );
    assert_eq!(carrier.calls_out(), 1, "{}", carrier.log());
}

#[test]
fn an_operator_dials_out_and_an_agent_consults_an_outside_number_then_completes() {
    let phone_port = free_port();
    let carrier = Carrier::start("127.0.0.2", &format!("sip:127.0.0.3:{phone_port}"), false);
    let (engine, agent) = engine_with_agent("trunk-attended", &carrier);
    let mut network = network_phone(phone_port, 2);
    // The operator's softphone dials a local number: it hears itself back from the network.
    let operator = Phone::start(&engine, "1100", Some(AGENT as f32), Some("922345678"));
    wait_line(&engine, &["caller and agent bridged", "agent=outside"]);
    std::thread::sleep(Duration::from_secs(3));
    let runs = tone_runs(&operator.finish(), &[AGENT]);
    assert!(
        runs_follow(&runs, &[('a', 2)]),
        "the operator's voice went out and came back: {runs:?}"
    );
    let log = carrier.log();
    assert!(log.contains("from=sip:+862088880000@carrier.test"), "{log}");

    // An agent consults an outside number while the patient holds, then hands them over.
    let patient = patient_reaches_the_agent(&engine, &carrier);
    std::thread::sleep(Duration::from_secs(3));
    agent.keys("*3922345678#");
    wait_line(&engine, &["consult", "to=outside", "answered"]);
    std::thread::sleep(Duration::from_secs(3));
    agent.keys("#");
    wait_line(&engine, &["transfer", "attended"]);
    std::thread::sleep(Duration::from_secs(4));
    let runs = tone_runs(&patient.finish(), &[AGENT, PATIENT]);
    let _ = agent.finish();
    let _ = network.kill();
    let _ = network.wait();
    assert!(
        runs_follow(&runs, &[('a', 2), ('b', 2)]),
        "the patient heard the agent, then themselves through the network: {runs:?}"
    );
    assert_eq!(carrier.calls_out(), 2, "{}", carrier.log());
}

#[test]
fn a_gateway_requiring_100rel_gets_a_reliable_180_and_its_prack_answered() {
    let carrier = Carrier::start("127.0.0.2", "sip:127.0.0.3:9", false);
    let cfg = config(&one_carrier(carrier.port));
    let engine = Engine::start_with("trunk-100rel", Some(&cfg), &[]);
    let department = Phone::ringing_only(&engine, "2001");
    wait_registered(&engine, &carrier);
    wait_line(&engine, &["registered extension=2001"]);
    carrier_call(&carrier, "carrier_call_100rel.xml", "+862088880002", || {
        engine.log()
    });
    drop(department);
}
