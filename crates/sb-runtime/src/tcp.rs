//! TCP transport (RFC 3261 §18.3): one reader task per connection framing messages by
//! Content-Length, one writer task draining a queue; idle connections are closed. Phones
//! connect to us; we connect to carriers reached over TCP when there is something to send. When
//! reading ends (a framing error, the peer's close, idleness), the answers already owed
//! are written before the connection closes.

use crate::core::Input;
use sb_sip_msg::{Framing, StreamFramer};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub(crate) async fn accept_loop(listener: TcpListener, core: mpsc::Sender<Input>, idle: Duration) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, peer, core.clone(), idle));
            }
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Opens a connection to `peer` (a carrier reached over TCP); it then runs like an
/// accepted one.
pub(crate) async fn connect(peer: SocketAddr, core: mpsc::Sender<Input>, idle: Duration) {
    match tokio::time::timeout(CONNECT_LIMIT, TcpStream::connect(peer)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            connection(stream, peer, core, idle).await;
        }
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TCP connect failed");
            let _ = core.send(Input::ConnectFailed { peer }).await;
        }
        Err(_) => {
            let _ = core.send(Input::ConnectFailed { peer }).await;
        }
    }
}

/// How long opening a connection may take (a SIP transaction gives up after 32 s).
const CONNECT_LIMIT: Duration = Duration::from_secs(5);

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    core: mpsc::Sender<Input>,
    idle: Duration,
) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
    if core.send(Input::Connected { peer, tx }).await.is_err() {
        return;
    }
    // The writer ends when the core drops its sender (after `Disconnected`) and the queue
    // is empty, then shuts the connection down for writing.
    let writer = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut framer = StreamFramer::default();
    let mut buf = vec![0u8; 16 * 1024];
    let reason = loop {
        let n = match tokio::time::timeout(idle, rd.read(&mut buf)).await {
            Err(_) => break "idle",
            Ok(Err(_)) | Ok(Ok(0)) => break "closed",
            Ok(Ok(n)) => n,
        };
        framer.push(&buf[..n]);
        let mut fatal = None;
        loop {
            match framer.next_message() {
                Ok(Some(Framing::Message(bytes))) => {
                    if core.send(Input::Stream { peer, bytes }).await.is_err() {
                        return;
                    }
                }
                Ok(Some(Framing::Ping)) => {
                    let _ = core.send(Input::Pong { peer }).await;
                }
                Ok(None) => break,
                Err(e) => {
                    fatal = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = fatal {
            tracing::info!(%peer, error = %e, "closing TCP connection on a framing error");
            break "framing error";
        }
    };
    tracing::debug!(%peer, reason, "TCP connection ends");
    let _ = core.send(Input::Disconnected { peer }).await;
    // Send what is owed, then close; a peer that reads nothing does not hold the task.
    let abort = writer.abort_handle();
    if tokio::time::timeout(FLUSH_LIMIT, writer).await.is_err() {
        abort.abort();
    }
}

/// How long the answers owed to a closing connection may take to be written.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);
