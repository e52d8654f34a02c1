//! A flood of unauthenticated INVITEs, as a forged-source attack sends them: each a new
//! call (its own Call-ID, branch and From tag), no credentials, paced at a rate, with the
//! answers counted as they come back.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `i`th INVITE of the flood, from `local`, to `engine`.
pub(crate) fn invite(i: u64, local: SocketAddr, engine: SocketAddr) -> String {
    format!(
        "INVITE sip:8000@{engine} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKfl{i:x}\r\nMax-Forwards: 70\r\nFrom: <sip:9{i}@{local}>;tag=f{i:x}\r\nTo: <sip:8000@{engine}>\r\nCall-ID: flood-{i:x}@{local}\r\nCSeq: 1 INVITE\r\nContact: <sip:9{i}@{local}>\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Answers counted by status class as they arrive.
#[derive(Debug, Default)]
pub(crate) struct Answers {
    pub challenges: AtomicU64,
    pub other: AtomicU64,
}

/// Reads everything `sock` receives until `stop` is set, counting 401s and the rest.
pub(crate) fn count_answers(
    sock: UdpSocket,
    answers: Arc<Answers>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            if buf[..n].starts_with(b"SIP/2.0 401 ") {
                answers.challenges.fetch_add(1, Ordering::Relaxed);
            } else {
                answers.other.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Sends `count` INVITEs at `rate` per second (paced each millisecond) and returns how
/// long it took.
pub(crate) fn send(sock: &UdpSocket, engine: SocketAddr, count: u64, rate: u64) -> Duration {
    let local = sock.local_addr().expect("bound");
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < count {
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due.min(count) {
            // A full send buffer is the tool's limit, not the engine's: try again.
            while sock
                .send_to(invite(sent, local, engine).as_bytes(), engine)
                .is_err()
            {
                std::thread::sleep(Duration::from_micros(100));
            }
            sent += 1;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    start.elapsed()
}
