//! RTP sockets: one per call leg, bound on demand from `rtp.port_range` (even ports, RFC 3550
//! §11), each read by a small task that hands datagrams to the core.

use crate::core::{Input, RTP_DATAGRAM};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub struct MediaPorts {
    ip: IpAddr,
    range: RangeInclusive<u16>,
    next: u16,
    /// The socket (sent on directly, without the reactor) and the task reading it.
    open: HashMap<u16, (Arc<AsyncFd<std::net::UdpSocket>>, JoinHandle<()>)>,
    pub send_dropped: u64,
}

impl MediaPorts {
    pub fn new(ip: IpAddr, range: RangeInclusive<u16>) -> MediaPorts {
        let first = *range.start() + (*range.start() % 2);
        MediaPorts {
            ip,
            range,
            next: first,
            open: HashMap::new(),
            send_dropped: 0,
        }
    }

    /// Binds the next free even port and starts reading it.
    pub fn open(&mut self, core: &mpsc::Sender<Input>) -> std::io::Result<u16> {
        let span = (*self.range.end() - *self.range.start()) / 2 + 1;
        for _ in 0..span {
            let port = self.next;
            self.next = if port.saturating_add(2) > *self.range.end() {
                *self.range.start() + (*self.range.start() % 2)
            } else {
                port + 2
            };
            if self.open.contains_key(&port) {
                continue;
            }
            let std_sock = match std::net::UdpSocket::bind(SocketAddr::new(self.ip, port)) {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            };
            std_sock.set_nonblocking(true)?;
            // Registered for reading only: sends go straight to the socket, so the thousands
            // of "writable again" edges a busy media core causes never wake the reactor.
            // SAFETY: the AsyncFd owns `std_sock`, an open socket whose descriptor stays the
            // same until the AsyncFd drops it.
            let registered =
                unsafe { AsyncFd::register_with_interest(std_sock, Interest::READABLE) };
            let sock = Arc::new(registered?);
            let reader = tokio::spawn(read_loop(sock.clone(), port, core.clone()));
            self.open.insert(port, (sock, reader));
            return Ok(port);
        }
        Err(std::io::Error::new(
            ErrorKind::AddrInUse,
            "every port of rtp.port_range is in use",
        ))
    }

    pub fn close(&mut self, port: u16) {
        if let Some((_, reader)) = self.open.remove(&port) {
            reader.abort();
        }
    }

    /// Sends without waiting: RTP that cannot leave now is late anyway.
    pub fn send(&mut self, port: u16, to: SocketAddr, bytes: &[u8]) {
        match self.open.get(&port) {
            Some((sock, _)) => {
                if sock.get_ref().send_to(bytes, to).is_err() {
                    self.send_dropped += 1;
                }
            }
            None => self.send_dropped += 1,
        }
    }
}

async fn read_loop(sock: Arc<AsyncFd<std::net::UdpSocket>>, port: u16, core: mpsc::Sender<Input>) {
    loop {
        let Ok(mut ready) = sock.readable().await else {
            return;
        };
        loop {
            // Read straight into the message's own buffer: no allocation per packet (the
            // channel's slots are reused). Longer datagrams are cut to RTP_DATAGRAM and
            // then refused by the RTP parser or the codec length.
            let mut buf = [0u8; RTP_DATAGRAM];
            match ready.get_inner().recv_from(&mut buf) {
                Ok((len, from)) => {
                    if core
                        .send(Input::Rtp {
                            port,
                            from,
                            len,
                            buf,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    ready.clear_ready();
                    break;
                }
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                Err(_) => return,
            }
        }
    }
}
