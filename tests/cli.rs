//! The command line: `check` and `serve` on good and bad configurations.
#![allow(
    clippy::disallowed_methods,
    reason = "an end-to-end test: it drives real processes in real time"
)]

mod common;

use common::*;
use std::process::Command;

const SHIPPED: &str = include_str!("../config/switchboard.toml");

#[test]
fn check_accepts_the_shipped_config() {
    let out = Command::new(bin())
        .arg("check")
        .output()
        .expect("run check");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(bin())
        .args(["check", "--config"])
        .arg(workspace().join("config/switchboard.toml"))
        .output()
        .expect("run check");
    assert_eq!(out.status.code(), Some(0));
}

fn three_mistakes() -> std::path::PathBuf {
    let dir = scratch("check");
    let text = SHIPPED
        .replace("listen = \"127.0.0.1:5060\"", "listen = \"localhost-5060\"")
        .replace("number = \"2004\"", "number = \"2002\"")
        .replace("agents = [\"1100\"]", "agents = [\"1100\", \"1199\"]");
    let path = dir.join("bad.toml");
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn check_prints_all_three_mistakes_with_lines_and_exits_64() {
    let path = three_mistakes();
    let out = Command::new(bin())
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("run check");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains(": error[")).collect();
    assert_eq!(lines.len(), 3, "{err}");
    let text = std::fs::read_to_string(&path).expect("read");
    for (l, code, needle) in [
        (lines[0], "SB101", "localhost-5060"),
        (lines[1], "SB103", "2002"),
        (lines[2], "SB108", "1199"),
    ] {
        assert!(l.contains(code), "{l}");
        let n: usize = l
            .split(':')
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("file:line");
        assert!(
            text.lines().nth(n - 1).expect("line").contains(needle),
            "{l}"
        );
    }
}

#[test]
fn serve_refuses_a_bad_config_before_binding() {
    let path = three_mistakes();
    let port = free_port();
    let out = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&path)
        .arg("--set")
        .arg(format!("http.listen=127.0.0.1:{port}"))
        .output()
        .expect("run serve");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[SB101]"));
    let bad_set = Command::new(bin())
        .args(["check", "--set", "sip.listen"])
        .output()
        .expect("run");
    assert_eq!(bad_set.status.code(), Some(64));
}

/// `hash-password` reads the password from standard input and prints an Argon2id hash that
/// verifies it (and nothing else); a too-short password is refused with 64.
#[test]
fn hash_password_prints_a_hash_the_configuration_takes() {
    use std::io::Write;
    let run = |password: &str| {
        let mut child = Command::new(bin())
            .arg("hash-password")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{password}\n").as_bytes())
            .expect("write");
        child.wait_with_output().expect("output")
    };
    let out = run("correct horse battery");
    assert!(out.status.success(), "{out:?}");
    let hash = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_string();
    assert_eq!(sb_api::users::check_hash(&hash), Ok(()));
    let user = sb_api::users::ConsoleUser {
        name: "li".into(),
        role: sb_api::access::Role::Supervisor,
        agent: None,
        language: sb_api::users::Language::Chinese,
        password_hash: hash,
    };
    assert!(user.verify("correct horse battery"));
    assert!(!user.verify("correct horse"));
    let short = run("short");
    assert_eq!(short.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8"));
}
