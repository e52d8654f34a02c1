//! Flood benchmark: unauthenticated INVITEs at a rate, as a forged-source attack sends
//! them, with the answers counted and the engine's CPU and memory read from /proc.
//!
//! `flood_load ENGINE_ADDR ENGINE_PID RATE SECONDS`
//!
//! Prints what was sent, how many 401s came back, what the kernel dropped on either side
//! (so the engine's losses are told from the tool's), the engine's share of a core during
//! the flood, and its memory before and after. `bench/flood.sh` runs it beside SIPp
//! registering phones at a nominal rate.
#![allow(
    clippy::disallowed_methods,
    reason = "a load tool: it paces traffic and measures in real time"
)]

mod common;

use common::flood;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| {
        let engine: SocketAddr = args.first()?.parse().ok()?;
        let pid: u32 = args.get(1)?.parse().ok()?;
        let rate: u64 = args.get(2)?.parse().ok()?;
        let secs: u64 = args.get(3)?.parse().ok()?;
        Some((engine, pid, rate, secs))
    })();
    let Some((engine, pid, rate, secs)) = parsed else {
        eprintln!("usage: flood_load ENGINE_ADDR ENGINE_PID RATE SECONDS");
        return std::process::ExitCode::FAILURE;
    };
    let sock = match UdpSocket::bind("127.0.0.1:0") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flood_load: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    common::big_buffers(&sock);
    let local_port = sock.local_addr().map(|a| a.port()).unwrap_or(0);
    let answers = Arc::new(flood::Answers::default());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = match sock.try_clone() {
        Ok(r) => {
            let (answers, stop) = (answers.clone(), stop.clone());
            std::thread::spawn(move || flood::count_answers(r, answers, stop))
        }
        Err(e) => {
            eprintln!("flood_load: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let drops_before = common::socket_drops(engine.port()) + common::socket_drops(local_port);
    let before = common::proc_usage(pid);
    let count = rate * secs;
    let took = flood::send(&sock, engine, count, rate);
    let during = common::proc_usage(pid);
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    let after = common::proc_usage(pid);
    let dropped =
        common::socket_drops(engine.port()) + common::socket_drops(local_port) - drops_before;
    let challenged = answers.challenges.load(Ordering::Relaxed);
    let other = answers.other.load(Ordering::Relaxed);
    println!(
        "flood                {count} INVITEs in {:.2} s = {:.0}/s (offered {rate}/s)",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64()
    );
    println!(
        "answered             {challenged} 401s, {other} other ({:.4} per request sent)",
        challenged as f64 / count as f64
    );
    println!("dropped by sockets   {dropped}");
    if let (Some((t0, rss0)), Some((t1, _)), Some((_, rss2))) = (before, during, after) {
        let cpu = (t1 - t0) as f64 / common::ticks_per_second() / took.as_secs_f64();
        println!(
            "engine CPU           {:.0} % of a core during the flood",
            cpu * 100.0
        );
        println!(
            "engine memory        {:.1} MiB before, {:.1} MiB after ({:+.1} MiB)",
            rss0 as f64 / 1024.0,
            rss2 as f64 / 1024.0,
            (rss2 as f64 - rss0 as f64) / 1024.0
        );
    }
    std::process::ExitCode::SUCCESS
}
