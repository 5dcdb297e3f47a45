//! One datagram per system call, where `recvmmsg`/`sendmmsg` are not available.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;
use tracing::{debug, warn};

use super::{BATCH, MAX_QUERY, UdpResponder, is_fatal};
use crate::handler::MAX_UDP_PAYLOAD;

pub(super) async fn serve(
    socket: std::net::UdpSocket,
    mut responder: UdpResponder,
    shutdown: impl Future,
) -> io::Result<()> {
    let socket = UdpSocket::from_std(socket)?;
    let mut shutdown = std::pin::pin!(shutdown);
    let mut packet = vec![0u8; MAX_QUERY];
    let mut out = Vec::with_capacity(usize::from(MAX_UDP_PAYLOAD));
    loop {
        tokio::select! {
            biased;
            _ = shutdown.as_mut() => return Ok(()),
            ready = socket.readable() => ready?,
        }
        let mut drained = false;
        for _ in 0..BATCH {
            let (len, src) = match socket.try_recv_from(&mut packet) {
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    drained = true;
                    break;
                }
                Err(error) if is_fatal(&error) => return Err(error),
                Err(error) => {
                    warn!(%error, "error receiving on the UDP socket");
                    continue;
                }
            };
            // Nobody can be answered at port 0 (hickory refuses these too).
            if src.port() == 0 {
                continue;
            }
            if responder.answer(&packet[..len], src, &mut out) {
                send(&socket, &out, src).await;
            }
        }
        if !drained {
            // Busy: let the worker run its other tasks, then drain on.
            tokio::task::yield_now().await;
        }
    }
}

async fn send(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    let result = match socket.try_send_to(bytes, to) {
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => socket.send_to(bytes, to).await,
        other => other,
    };
    if let Err(error) = result {
        debug!(%error, %to, "cannot send a UDP answer");
    }
}
