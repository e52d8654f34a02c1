//! The carrier's trunk end to end: the real binary registers its trunk account with a real
//! Kamailio (the carrier, on 127.0.0.2), a SIPp patient in the public network (127.0.0.4)
//! calls a hospital number through it, an operator's SIPp dials an outside number that the
//! carrier challenges and relays to a SIPp "network phone" (127.0.0.3), and a department's
//! extension, which may not dial out, never reaches the carrier.
#![allow(
    clippy::disallowed_methods,
    reason = "an end-to-end test: it drives real processes in real time"
)]

mod common;

use common::{free_port, require_tool, scratch, workspace, Engine};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "trunk-secret-42";

struct Carrier {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Carrier {
    fn start(network: &str) -> Carrier {
        require_tool("kamailio");
        let dir = scratch("carrier");
        let port = free_port();
        let log = dir.join("kamailio.log");
        let child = Command::new("kamailio")
            .arg("-f")
            .arg(workspace().join("tests/kamailio/carrier.cfg"))
            .args(["-DD", "-E", "-m", "32", "-M", "4", "-x", "tlsf", "-n", "1"])
            .arg("-Y")
            .arg(&dir)
            .arg("-P")
            .arg(dir.join("pid"))
            .arg("-l")
            .arg(format!("udp:127.0.0.2:{port}"))
            .arg("-A")
            .arg(format!("PASSWORD=\"{PASSWORD}\""))
            .arg("-A")
            .arg(format!("NETWORK=\"{network}\""))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start kamailio");
        Carrier { child, log, port }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Calls the carrier relayed out for the hospital.
    fn calls_out(&self) -> usize {
        self.log().matches("CARRIER-OUT").count()
    }
}

impl Drop for Carrier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped configuration with a trunk to the carrier on `port` and its dial plan.
fn config(port: u16) -> PathBuf {
    let root = workspace();
    let text = std::fs::read_to_string(root.join("config/switchboard.toml")).expect("config");
    let text = text
        .replace(
            "dialplans = \"../dialplans\"",
            &format!("dialplans = \"{}\"", root.join("dialplans").display()),
        )
        .replace(
            "prompts = \"../prompts\"",
            &format!("prompts = \"{}\"", root.join("prompts").display()),
        );
    let trunk = format!(
        r#"
[[trunks]]
name = "carrier-a"
address = "127.0.0.2:{port}"
domain = "carrier.test"
numbers = "e164"
dids = {{ "+862088880000" = "8000", "+862088880001" = "8001" }}
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
    );
    let dir = scratch("trunk-config");
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, text + &trunk).expect("write config");
    path
}

/// One SIPp call of `scenario` (from tests/sipp) to `target`, from `local_ip`.
fn sipp(
    scenario: &str,
    target: &str,
    service: &str,
    local_ip: &str,
    auth: Option<(&str, &str)>,
) -> Output {
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
        .arg((free_port() & !1).to_string())
        .args(["-timeout", "30s", "-nostdin", "-trace_err"])
        .arg(target)
        .output()
        .expect("run sipp")
}

fn wait(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool, show: impl Fn() -> String) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: {}", show());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn network_phone(port: u16) -> Child {
    require_tool("sipp");
    let dir = scratch("network-phone");
    Command::new("sipp")
        .current_dir(&dir)
        .args(["-sn", "uas", "-i", "127.0.0.3", "-mi", "127.0.0.3", "-p"])
        .arg(port.to_string())
        .arg("-mp")
        .arg((free_port() & !1).to_string())
        .args(["-m", "1", "-timeout", "60s", "-nostdin", "-bg"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the network phone")
}

#[test]
fn the_hospital_registers_takes_a_patients_call_and_dials_out_through_the_carrier() {
    let phone_port = free_port();
    let carrier = Carrier::start(&format!("sip:127.0.0.3:{phone_port}"));
    let cfg = config(carrier.port);
    let engine = Engine::start_with("trunk", Some(&cfg), &[]);

    // The trunk registers (401, digest, 200) and the carrier answers OPTIONS.
    let (registered, log) = engine.wait_log(Duration::from_secs(15), |l| {
        l.contains("registration=\"registered\"") || l.contains("registration=registered")
    });
    assert!(
        registered,
        "the trunk did not register: {log}\n{}",
        carrier.log()
    );

    // A patient in the public network calls the hospital's number through the carrier.
    let out = sipp(
        "carrier_call.xml",
        &format!("127.0.0.2:{}", carrier.port),
        "+862088880000",
        "127.0.0.4",
        None,
    );
    assert!(
        out.status.success(),
        "the carrier's call failed: {}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        engine.log(),
        carrier.log()
    );
    let (started, log) = engine.wait_log(Duration::from_secs(5), |l| {
        l.contains("trunk=\"carrier-a\"") && l.contains("did=\"02088880000\"")
    });
    assert!(started, "no call from the trunk in the log: {log}");
    assert!(
        !log.contains("13912345678"),
        "the patient's number is in the log unredacted"
    );

    // A department may not dial out: refused by the switchboard, never at the carrier.
    let out = sipp(
        "dial_refused.xml",
        &engine.addr().to_string(),
        "922345678",
        "127.0.0.1",
        Some(("2001", "demo-2001")),
    );
    assert!(
        out.status.success(),
        "the department's call out was not refused with 403: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        engine.log()
    );
    // Nor may anyone dial abroad (no role has the international rule).
    let out = sipp(
        "dial_refused.xml",
        &engine.addr().to_string(),
        "9008521234567",
        "127.0.0.1",
        Some(("1100", "demo-1100")),
    );
    assert!(
        out.status.success(),
        "the international call was not refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(carrier.calls_out(), 0, "{}", carrier.log());

    // The operator dials a local number: the carrier challenges (407), relays it to the
    // network phone, which answers.
    let mut phone = network_phone(phone_port);
    let out = sipp(
        "dial_out.xml",
        &engine.addr().to_string(),
        "922345678",
        "127.0.0.1",
        Some(("1100", "demo-1100")),
    );
    let _ = phone.wait();
    assert!(
        out.status.success(),
        "the operator's call out failed: {}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        engine.log(),
        carrier.log()
    );
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
