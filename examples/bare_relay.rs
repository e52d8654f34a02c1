//! The bridged-call benchmark's baseline: the engine's own media socket layer
//! (`sb_runtime::media::MediaPorts`: one socket per leg in one edge-triggered epoll set,
//! `recvmmsg` per ready socket, connected sends) and its outgoing packet queue, with no
//! engine behind them. Ports are bound in pairs from the start of the range (20000 with
//! 20002, 20004 with 20006, ...); each port learns its peer from what it receives and every
//! datagram goes on, untouched, out of its partner to the partner's peer.
//!
//! The engine does all of that plus its own work per packet (finding the call, RTP checks
//! and statistics, rewriting the header for the other leg). `bench/bridge.sh` with `BARE=1`
//! runs this where the engine would be, and `bench/bridge_vs_bare.sh` alternates the two,
//! so that what the engine adds per packet is measured side by side on the same machine.
//!
//!     cargo run --release --example bare_relay -- --listen 127.0.0.1 --ports 20000-29999 \
//!         --pairs 1500
#![allow(
    clippy::disallowed_methods,
    reason = "a load tool: it paces traffic and measures in real time"
)]

use sb_engine::RtpQueue;
use sb_runtime::media::MediaPorts;
use std::net::{IpAddr, SocketAddr};

/// Datagrams read per turn before the queue is sent, as in the engine's core loop.
const BUDGET: usize = 1024;

struct Args {
    listen: IpAddr,
    first: u16,
    last: u16,
    pairs: usize,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        listen: IpAddr::from([127, 0, 0, 1]),
        first: 20000,
        last: 29999,
        pairs: 1500,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    for w in v.chunks(2) {
        let val = w.get(1).map(String::as_str).unwrap_or_default();
        match w[0].as_str() {
            "--listen" => a.listen = val.parse().map_err(|_| "--listen IP")?,
            "--ports" => {
                let (f, l) = val.split_once('-').ok_or("--ports FIRST-LAST")?;
                a.first = f.parse().map_err(|_| "--ports FIRST-LAST")?;
                a.last = l.parse().map_err(|_| "--ports FIRST-LAST")?;
            }
            "--pairs" => a.pairs = val.parse().map_err(|_| "--pairs N")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.first & 1 != 0 || a.first > a.last {
        return Err("--ports must start on an even port and not end before it".into());
    }
    Ok(a)
}

fn main() -> std::process::ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bare_relay: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bare_relay: no runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(relay(&a)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bare_relay: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn relay(a: &Args) -> std::io::Result<()> {
    let mut ports = MediaPorts::new(a.listen, a.first..=a.last, 0)?;
    for k in 0..2 * a.pairs {
        let port = a.first + 2 * k as u16;
        if ports.open_exact(port)?.is_none() {
            return Err(std::io::Error::other(format!(
                "port {} is taken: the pairs need the range's first {} even ports",
                a.first + 2 * k as u16,
                2 * a.pairs
            )));
        }
    }
    println!("bare relay: {} pairs from port {}", a.pairs, a.first);
    // Port `first + 2 i`'s peer, learnt from what it received.
    let mut peers: Vec<Option<SocketAddr>> = vec![None; 2 * a.pairs];
    let mut out = RtpQueue::default();
    let first = a.first;
    loop {
        {
            let mut guard = ports.readable().await?;
            let more = ports.read_ready(BUDGET, |port, from, bytes| {
                let i = usize::from((port - first) / 2);
                peers[i] = Some(from);
                let partner = i ^ 1;
                if let Some(to) = peers[partner] {
                    out.push(first + 2 * partner as u16, to, true, |buf| {
                        let n = bytes.len();
                        buf.get_mut(..n)?.copy_from_slice(bytes);
                        Some(n)
                    });
                }
            });
            if !more {
                guard.clear_ready();
            }
        }
        out.drain(|p| ports.send(p));
    }
}
