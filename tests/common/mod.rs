//! Shared harness of the end-to-end tests: start the real binary on free loopback ports,
//! wait until it answers OPTIONS, and always kill it at the end.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_switchboard")
}

pub(crate) fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn torture_dir() -> PathBuf {
    std::env::var_os("SB_TORTURE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("testdata/sip-torture"))
}

/// The shipped configuration, its dialplans and prompts named by absolute path, changed by
/// `edit`, written to a scratch directory of its own.
pub(crate) fn config_file(name: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
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
    let path = scratch(name).join("switchboard.toml");
    std::fs::write(&path, edit(text)).expect("write config");
    path
}

/// A fresh scratch directory for one test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("sb-e2e-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A port free for both UDP and TCP on 127.0.0.1 (the engine binds both).
pub(crate) fn free_port() -> u16 {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().expect("addr").port();
        // The next port too: baresip's SIP/TLS listener takes it over TCP.
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port + 1)).is_ok()
            && TcpListener::bind(("127.0.0.1", port + 1)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port pair found");
}

/// An even port free with the next one (UDP and TCP): a SIPp media port (`-mp`), RTP on
/// it and RTCP above. Rounding any free port down to even could land on a taken one.
pub(crate) fn free_media_port() -> u16 {
    loop {
        let p = free_port();
        if p.is_multiple_of(2) {
            return p;
        }
    }
}

/// Panics (a failed test, never a skip) when a peer the test needs is not installed.
pub(crate) fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed: run the README's test command (it installs the SIP peers)"
    );
}

pub(crate) struct Engine {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
    log: PathBuf,
}

impl Engine {
    pub(crate) fn start(name: &str, sets: &[&str]) -> Engine {
        Engine::start_with(name, None, sets)
    }

    /// The engine on the configuration file at `config` (the embedded one when `None`).
    pub(crate) fn start_with(name: &str, config: Option<&Path>, sets: &[&str]) -> Engine {
        let dir = scratch(name);
        let port = free_port();
        let log = dir.join("engine.log");
        let mut cmd = Command::new(bin());
        cmd.arg("serve");
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        cmd.arg("--set")
            .arg(format!("sip.listen=127.0.0.1:{port}"))
            .arg("--set")
            .arg("http.listen=127.0.0.1:0")
            .arg("--set")
            .arg(format!(
                "store.path={}",
                dir.join("switchboard.db").display()
            ));
        for s in sets {
            cmd.arg("--set").arg(s);
        }
        let child = cmd
            .env("SWITCHBOARD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start switchboard");
        let mut engine = Engine {
            child,
            port,
            dir,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while options_udp(port, Duration::from_millis(200)) != Some(200) {
            if let Ok(Some(status)) = engine.child.try_wait() {
                panic!("engine exited early ({status}): {}", engine.log());
            }
            assert!(
                Instant::now() < deadline,
                "engine did not answer OPTIONS: {}",
                engine.log()
            );
        }
        engine
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (10 s) until the engine logs extension `user`'s phone registered.
    pub(crate) fn registered(&self, user: &str) {
        let (ok, log) = self.wait_log(Duration::from_secs(10), |l| {
            l.contains(&format!("registered extension={user}"))
        });
        assert!(ok, "{user} did not register: {log}");
    }

    /// Where the control API and the consoles listen (`http.listen` is port 0 in tests).
    pub(crate) fn api(&self) -> SocketAddr {
        let (ok, log) = self.wait_log(Duration::from_secs(10), |l| {
            l.contains("control API listening")
        });
        assert!(ok, "{log}");
        let line = log
            .lines()
            .find(|l| l.contains("control API listening"))
            .expect("line");
        let at = line.find("api=").expect("api=") + 4;
        line[at..]
            .split_whitespace()
            .next()
            .expect("address")
            .parse()
            .expect("socket address")
    }

    /// Waits until `pred` holds for the log, or the timeout passes; returns the last log.
    pub(crate) fn wait_log(
        &self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> (bool, String) {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if pred(&log) {
                return (true, log);
            }
            if Instant::now() > deadline {
                return (false, log);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -{sig}");
    }

    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

/// A phone a failing test leaves behind must not ring on for ever.
impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn options_request(local: SocketAddr, transport: &str, n: usize) -> String {
    format!(
        "OPTIONS sip:8000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} {local};branch=z9hG4bKprobe{n}x{};rport\r\nFrom: <sip:probe@127.0.0.1>;tag=probe{n}\r\nTo: <sip:8000@127.0.0.1>\r\nCall-ID: probe-{n}-{}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        std::process::id(),
        std::process::id()
    )
}

fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .next()?
        .strip_prefix("SIP/2.0 ")?
        .get(..3)?
        .parse()
        .ok()
}

/// Sends OPTIONS over UDP and returns the response status.
pub(crate) fn options_udp(port: u16, wait: Duration) -> Option<u16> {
    let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(wait)).ok()?;
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let req = options_request(sock.local_addr().ok()?, "UDP", n);
    sock.send_to(req.as_bytes(), ("127.0.0.1", port)).ok()?;
    let mut buf = [0u8; 4096];
    let (len, _) = sock.recv_from(&mut buf).ok()?;
    status_of(&buf[..len])
}

/// Sends OPTIONS over a new TCP connection and returns the response status.
pub(crate) fn options_tcp(port: u16, wait: Duration) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(wait)).ok()?;
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let req = options_request(s.local_addr().ok()?, "TCP", n);
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let k = s.read(&mut buf).ok()?;
        if k == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..k]);
    }
    status_of(&got)
}

pub(crate) fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

pub(crate) fn read_wav(path: &Path) -> Vec<i16> {
    let r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ch = r.spec().channels as usize;
    let all: Vec<i16> = r
        .into_samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    all.into_iter().step_by(ch).collect()
}

/// 20 ms RMS envelope.
pub(crate) fn envelope(s: &[i16]) -> Vec<f64> {
    s.chunks_exact(160)
        .map(|c| (c.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / 160.0).sqrt())
        .collect()
}

/// Best Pearson correlation of the prompt's envelope against the recording's, over every
/// offset: robust to G.711 and to level changes.
pub(crate) fn best_match(recording: &[i16], prompt: &[i16]) -> f64 {
    let (r, p) = (envelope(recording), envelope(prompt));
    if r.len() < p.len() {
        return 0.0;
    }
    let mp = p.iter().sum::<f64>() / p.len() as f64;
    let vp: f64 = p.iter().map(|x| (x - mp).powi(2)).sum();
    (0..=r.len() - p.len())
        .map(|off| {
            let w = &r[off..off + p.len()];
            let mw = w.iter().sum::<f64>() / w.len() as f64;
            let cov: f64 = w.iter().zip(&p).map(|(a, b)| (a - mw) * (b - mp)).sum();
            let vw: f64 = w.iter().map(|x| (x - mw).powi(2)).sum();
            if vw == 0.0 || vp == 0.0 {
                0.0
            } else {
                cov / (vw * vp).sqrt()
            }
        })
        .fold(0.0, f64::max)
}

pub(crate) struct Phone {
    child: Child,
    dir: PathBuf,
    ctrl: u16,
}

impl Phone {
    /// baresip as extension 1001 dialling `number`, saying nothing, recording what it hears.
    pub(crate) fn dial(engine: &Engine, number: &str) -> Phone {
        Phone::start(engine, "1001", None, Some(number))
    }

    /// baresip as `user`: registered and answering automatically when `dial` is `None`,
    /// otherwise dialling it; it says a sine at `tone_hz` (or nothing) and records what it
    /// hears.
    pub(crate) fn start(
        engine: &Engine,
        user: &str,
        tone_hz: Option<f32>,
        dial: Option<&str>,
    ) -> Phone {
        Phone::start_with(engine, user, tone_hz, dial, true)
    }

    /// A registered phone that rings and is never picked up.
    pub(crate) fn ringing_only(engine: &Engine, user: &str) -> Phone {
        Phone::start_with(engine, user, None, None, false)
    }

    pub(crate) fn start_with(
        engine: &Engine,
        user: &str,
        tone_hz: Option<f32>,
        dial: Option<&str>,
        auto_answer: bool,
    ) -> Phone {
        let (regint, answer) = match (dial, auto_answer) {
            (Some(_), _) => (0, ""),
            (None, true) => (60, ";answermode=auto"),
            (None, false) => (60, ";answermode=manual"),
        };
        let account = format!("<sip:{user}@127.0.0.1:{}>;auth_pass=demo-{user};regint={regint}{answer};audio_codecs=PCMU", engine.port);
        let dial = dial.map(|n| format!("sip:{n}@127.0.0.1:{}", engine.port));
        Phone::launch(&account, tone_hz, dial.as_deref())
    }

    /// baresip as a patient in the public network calling `number` through the carrier at
    /// `carrier` (host:port), saying a sine at `tone_hz`, recording what it hears.
    pub(crate) fn through(carrier: &str, tone_hz: Option<f32>, number: &str) -> Phone {
        let account = format!("<sip:patient@{carrier}>;regint=0;audio_codecs=PCMU");
        Phone::launch(&account, tone_hz, Some(&format!("sip:{number}@{carrier}")))
    }

    fn launch(account: &str, tone_hz: Option<f32>, dial: Option<&str>) -> Phone {
        require_tool("baresip");
        let dir = scratch("caller");
        std::fs::create_dir_all(dir.join("rec")).expect("rec dir");
        let silence = dir.join("voice.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&silence, spec).expect("wav");
        for i in 0..8000 * 90 {
            let v = tone_hz
                .map(|f| {
                    (8000.0 * (2.0 * std::f32::consts::PI * f * i as f32 / 8000.0).sin()) as i16
                })
                .unwrap_or(0);
            w.write_sample(v).expect("sample");
        }
        w.finalize().expect("wav");
        // A port found free may be taken by another test before baresip binds it: then
        // baresip gives up at once ("Address already in use"), and it starts again on
        // other ports.
        for _ in 0..5 {
            let (sip, ctrl) = (free_port(), free_port());
            let mut child = Phone::spawn(&dir, account, dial, &silence, sip, ctrl);
            std::thread::sleep(Duration::from_millis(300));
            let log = std::fs::read_to_string(dir.join("baresip.log")).unwrap_or_default();
            let exited = matches!(child.try_wait(), Ok(Some(_)));
            if exited || log.contains("Address already in use") {
                let _ = child.kill();
                let _ = child.wait();
                continue;
            }
            return Phone { child, dir, ctrl };
        }
        panic!("baresip did not start on any free port");
    }

    fn spawn(
        dir: &Path,
        account: &str,
        dial: Option<&str>,
        silence: &Path,
        sip: u16,
        ctrl: u16,
    ) -> Child {
        std::fs::write(
            dir.join("config"),
            format!(
                "sip_listen 127.0.0.1:{sip}\nnet_interface 127.0.0.1\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule account.so\nmodule aufile.so\nmodule sndfile.so\nmodule menu.so\nmodule ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl}\nsnd_path {}\naudio_player aufile,/dev/null\naudio_source aufile,{}\naudio_srate 8000\n",
                dir.join("rec").display(),
                silence.display()
            ),
        )
        .expect("config");
        std::fs::write(dir.join("accounts"), format!("{account}\n")).expect("accounts");
        let mut cmd = Command::new("baresip");
        // -s: its SIP messages go to baresip.log (a test may need a dialog's tags).
        cmd.arg("-f").arg(dir).arg("-s");
        if let Some(uri) = dial {
            cmd.arg("-e").arg(format!("/dial {uri}"));
        }
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("baresip.log")).expect("log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start baresip")
    }

    /// Presses a key (RFC 4733: baresip's only way).
    pub(crate) fn press(&self, key: char) {
        self.command("sndcode", &key.to_string());
    }

    /// Presses each key in turn, as a person would.
    pub(crate) fn keys(&self, keys: &str) {
        for k in keys.chars() {
            self.press(k);
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// What the phone printed so far, its SIP messages included.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }

    /// The phone's dialog with `callee` once answered, from its SIP trace: Call-ID, its own
    /// (From) tag and the answerer's (To) tag, as a REFER's Replaces names them.
    pub(crate) fn answered_dialog(&self, callee: &str) -> Option<(String, String, String)> {
        let log = self.log();
        let mut lines = log.lines();
        while let Some(l) = lines.next() {
            if l.trim() != "SIP/2.0 200 OK" {
                continue;
            }
            let block: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.trim().is_empty())
                .collect();
            let get = |h: &str| {
                block
                    .iter()
                    .find_map(|l| l.strip_prefix(h).map(|v| v.trim().to_string()))
            };
            let (Some(to), Some(from), Some(id), Some(cseq)) =
                (get("To:"), get("From:"), get("Call-ID:"), get("CSeq:"))
            else {
                continue;
            };
            if to.contains(&format!("sip:{callee}@")) && cseq.ends_with("INVITE") {
                let tag = |v: &str| v.split(";tag=").nth(1).unwrap_or_default().to_string();
                return Some((id, tag(&from), tag(&to)));
            }
        }
        None
    }

    /// Runs one of baresip's menu commands (`transfer`, `hold`, ...) over ctrl_tcp.
    pub(crate) fn command(&self, command: &str, params: &str) {
        let body = format!("{{\"command\":\"{command}\",\"params\":\"{params}\"}}");
        let mut s = TcpStream::connect(("127.0.0.1", self.ctrl)).expect("ctrl_tcp");
        s.write_all(format!("{}:{body},", body.len()).as_bytes())
            .expect("write");
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut sink = [0u8; 256];
        let _ = s.read(&mut sink);
    }

    /// Hangs up and returns what the phone heard. SIGTERM, so baresip closes its WAV files.
    pub(crate) fn finish(mut self) -> Vec<i16> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let rec = std::fs::read_dir(self.dir.join("rec"))
            .expect("rec dir")
            .map(|e| e.expect("entry").path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .unwrap_or_else(|| {
                panic!(
                    "no recording; baresip said: {}",
                    std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
                )
            });
        read_wav(&rec)
    }
}

/// Goertzel power of `f` Hz in `s` (8 kHz samples).
pub(crate) fn tone_power(s: &[i16], f: f64) -> f64 {
    let c = 2.0 * (2.0 * std::f64::consts::PI * f / 8000.0).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for x in s {
        let s0 = *x as f64 + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

/// What a recording holds, second by second: the index of the tone in `tones` that
/// carries most of that second's energy as a letter (`a` for the first), `q` for quiet, `o`
/// for anything else (music, speech, a mix). Runs of one letter are kept once, with their
/// length: `[('a', 4), ('o', 3), ('a', 5)]`.
pub(crate) fn tone_runs(rec: &[i16], tones: &[f64]) -> Vec<(char, usize)> {
    let mut runs: Vec<(char, usize)> = Vec::new();
    for b in rec.chunks_exact(8000) {
        let energy: f64 = b.iter().map(|x| (*x as f64) * (*x as f64)).sum();
        let label = if energy / 8000.0 < 300.0 * 300.0 {
            'q'
        } else {
            // A pure sine puts half of N * energy into its Goertzel bin.
            tones
                .iter()
                .position(|f| tone_power(b, *f) / (8000.0 * energy) > 0.25)
                .map(|i| (b'a' + i as u8) as char)
                .unwrap_or('o')
        };
        match runs.last_mut() {
            Some((l, n)) if *l == label => *n += 1,
            _ => runs.push((label, 1)),
        }
    }
    runs
}

/// Whether `runs` go through `pattern` in order, each step at least its length (other
/// runs may come between).
pub(crate) fn runs_follow(runs: &[(char, usize)], pattern: &[(char, usize)]) -> bool {
    let mut want = pattern.iter().peekable();
    for (l, n) in runs {
        if let Some((wl, wn)) = want.peek() {
            if l == wl && n >= wn {
                want.next();
            }
        }
    }
    want.peek().is_none()
}

/// `rtp.port_range=...` with `ports` ports just below a free one: clear of the ranges that
/// tests running at the same time pick.
pub(crate) fn rtp_range(ports: u16) -> String {
    let p = free_port() & !1;
    format!(
        "rtp.port_range={}-{}",
        p.saturating_sub(ports + 100).max(10_000),
        p.saturating_sub(100).max(10_000 + ports)
    )
}

/// The engine for a test with calls and media: Monday 10:00 in Shanghai (every service
/// open), its own RTP ports, no spinning before media ticks (tests run side by side), no
/// wrap-up; then `extra` settings.
pub(crate) fn media_engine(name: &str, extra: &[&str]) -> Engine {
    let rtp = rtp_range(200);
    let mut sets = vec![
        "ivr.clock_start=2026-11-23T10:00:00+08:00",
        rtp.as_str(),
        "rtp.timer_spin_ms=0",
        "acd.wrap_up_seconds=0",
    ];
    sets.extend_from_slice(extra);
    Engine::start(name, &sets)
}

/// The rows `sql` selects from the call records' database at `db` (none while it cannot be
/// opened yet).
pub(crate) fn records<T>(db: &Path, sql: &str) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
{
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt")
        .block_on(async {
            let Ok(mut c) = sb_store::db::open(db, sb_store::db::Access::Read).await else {
                return Vec::new();
            };
            sqlx::query_as(sql)
                .fetch_all(&mut c)
                .await
                .expect("the records")
        })
}
