//! RTP sockets: one per call leg, bound on demand from `rtp.port_range` (even ports, RFC 3550
//! §11). All of them sit in one epoll set of our own (edge-triggered), and that set's
//! descriptor is what the core loop waits on: when any leg has media, the core reads every
//! ready socket dry in one go and hands each datagram to the engine from a stack buffer. No
//! task per socket, no channel, no copy and no allocation per packet.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The largest RTP datagram the media path carries (40 ms of G.711 is 332 bytes); longer
/// ones are cut here and then refused by the RTP parser or the codec length.
pub const RTP_DATAGRAM: usize = 512;

/// Ready sockets taken from the epoll set per call.
const EVENTS: usize = 256;

/// The epoll set's descriptor, for tokio to watch.
pub struct EpollFd(OwnedFd);

impl AsRawFd for EpollFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

pub struct MediaPorts {
    ip: IpAddr,
    range: RangeInclusive<u16>,
    next: u16,
    epoll: AsyncFd<EpollFd>,
    open: HashMap<u16, UdpSocket>,
    pub send_dropped: u64,
}

impl MediaPorts {
    /// Needs a tokio runtime with I/O enabled (the epoll set is registered with it).
    pub fn new(ip: IpAddr, range: RangeInclusive<u16>) -> std::io::Result<MediaPorts> {
        // SAFETY: epoll_create1 has no preconditions; a non-negative result is a new fd
        // this function owns.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the AsyncFd owns the epoll descriptor, which stays open and the same
        // until the AsyncFd drops it.
        let epoll = unsafe { AsyncFd::register_with_interest(EpollFd(owned), Interest::READABLE) }?;
        let first = *range.start() + (*range.start() % 2);
        Ok(MediaPorts {
            ip,
            range,
            next: first,
            epoll,
            open: HashMap::new(),
            send_dropped: 0,
        })
    }

    /// Binds the next free even port and adds it to the epoll set.
    pub fn open(&mut self) -> std::io::Result<u16> {
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
            let sock = match UdpSocket::bind(SocketAddr::new(self.ip, port)) {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            };
            sock.set_nonblocking(true)?;
            let mut ev = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLET) as u32,
                u64: port as u64,
            };
            // SAFETY: both descriptors are open; `ev` is a valid event for the call.
            let rc = unsafe {
                libc::epoll_ctl(
                    self.epoll.get_ref().as_raw_fd(),
                    libc::EPOLL_CTL_ADD,
                    sock.as_raw_fd(),
                    &mut ev,
                )
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            self.open.insert(port, sock);
            return Ok(port);
        }
        Err(std::io::Error::new(
            ErrorKind::AddrInUse,
            "every port of rtp.port_range is in use",
        ))
    }

    /// Closing the socket takes it out of the epoll set.
    pub fn close(&mut self, port: u16) {
        self.open.remove(&port);
    }

    /// Sends without waiting: RTP that cannot leave now is late anyway.
    pub fn send(&mut self, port: u16, to: SocketAddr, bytes: &[u8]) {
        match self.open.get(&port) {
            Some(sock) => {
                if sock.send_to(bytes, to).is_err() {
                    self.send_dropped += 1;
                }
            }
            None => self.send_dropped += 1,
        }
    }

    /// Waits until some leg has media.
    pub async fn readable(
        &self,
    ) -> std::io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, EpollFd>> {
        self.epoll.readable().await
    }

    /// Reads every ready socket dry, up to `budget` datagrams, passing each to `each`.
    /// Returns whether the set may still hold ready sockets (the budget ran out).
    pub fn read_ready(&self, budget: usize, mut each: impl FnMut(u16, SocketAddr, &[u8])) -> bool {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        let mut buf = [0u8; RTP_DATAGRAM];
        let mut read = 0;
        loop {
            // SAFETY: a valid epoll descriptor and a buffer of EVENTS events.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.get_ref().as_raw_fd(),
                    events.as_mut_ptr(),
                    EVENTS as libc::c_int,
                    0,
                )
            };
            if n <= 0 {
                return false;
            }
            for ev in &events[..n as usize] {
                let port = ev.u64 as u16;
                let Some(sock) = self.open.get(&port) else {
                    continue;
                };
                // Edge-triggered: drain the socket, or it is not reported again.
                loop {
                    match sock.recv_from(&mut buf) {
                        Ok((len, from)) => {
                            read += 1;
                            each(port, from, &buf[..len.min(RTP_DATAGRAM)]);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        // ICMP port unreachable from an earlier send: nothing to read.
                        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                        Err(_) => break,
                    }
                }
            }
            if read >= budget {
                return true;
            }
        }
    }
}
