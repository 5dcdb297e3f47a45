//! Up to [`BATCH`] datagrams per system call: `recvmmsg` fills a batch of reused buffers,
//! each query is answered inline into its own reused answer buffer, and `sendmmsg` sends
//! the answers together. Under load this saves two system calls per query (measured in
//! `bench/README.md`); a lone query still costs one `recvmmsg` and one `sendmmsg`.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tracing::{debug, warn};

use super::{BATCH, MAX_QUERY, UdpResponder, is_fatal};
use crate::handler::MAX_UDP_PAYLOAD;

/// A receive loop's buffers, allocated once: no allocation per query or per batch.
struct Buffers {
    packets: Box<[[u8; MAX_QUERY]; BATCH]>,
    /// Length and source of each datagram of the last batch received.
    received: [(usize, Option<SocketAddr>); BATCH],
    /// The answers of a batch and where each goes: the first `ready` of them.
    answers: Vec<Vec<u8>>,
    destinations: Vec<Option<SockaddrStorage>>,
    ready: usize,
}

impl Buffers {
    fn new() -> Self {
        let packets = vec![[0u8; MAX_QUERY]; BATCH].into_boxed_slice();
        Self {
            packets: packets.try_into().expect("BATCH packets"),
            received: [(0, None); BATCH],
            answers: (0..BATCH)
                .map(|_| Vec::with_capacity(usize::from(MAX_UDP_PAYLOAD)))
                .collect(),
            destinations: vec![None; BATCH],
            ready: 0,
        }
    }
}

/// The system calls' message headers, for receiving and for sending.
struct Headers {
    recv: MultiHeaders<SockaddrStorage>,
    send: MultiHeaders<SockaddrStorage>,
}

thread_local! {
    /// Per worker thread, not per loop: the headers hold raw pointers, so they are not
    /// `Send` and a loop (a task, which may move between threads at an `.await`) cannot
    /// keep them. They are only used within one system call, never across an `.await`, so
    /// the loops a thread runs take turns with one set, allocated once.
    static HEADERS: RefCell<Headers> = RefCell::new(Headers {
        recv: MultiHeaders::preallocate(BATCH, None),
        send: MultiHeaders::preallocate(BATCH, None),
    });
}

pub(super) async fn serve(
    socket: UdpSocket,
    mut responder: UdpResponder,
    shutdown: impl Future,
) -> io::Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    let fd = socket.as_raw_fd();
    let mut buffers = Buffers::new();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.as_mut() => return Ok(()),
            ready = socket.readable() => ready?,
        }
        let mut received = 0;
        let receiving = socket.try_io(Interest::READABLE, || {
            received = receive(fd, &mut buffers)?;
            if received < BATCH {
                // `recvmmsg` on a non-blocking socket stops short only where the queue ran
                // empty: saying so clears tokio's readiness, so the loop sleeps until the
                // next datagram instead of asking once more to learn the same.
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        match receiving {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(error) if is_fatal(&error) => return Err(error),
            Err(error) => {
                warn!(%error, "error receiving on the UDP socket");
                continue;
            }
        }
        if received == 0 {
            continue;
        }
        buffers.ready = 0;
        for (packet, &(len, src)) in buffers.packets.iter().zip(&buffers.received[..received]) {
            // Nobody can be answered at port 0 (hickory refuses these too).
            let Some(src) = src.filter(|src| src.port() != 0) else {
                continue;
            };
            let out = &mut buffers.answers[buffers.ready];
            if responder.answer(&packet[..len], src, out) {
                buffers.destinations[buffers.ready] = Some(SockaddrStorage::from(src));
                buffers.ready += 1;
            }
        }
        send(&socket, fd, &mut buffers).await;
        if received == BATCH {
            // Busy: let the worker run its other tasks, then drain on.
            tokio::task::yield_now().await;
        }
    }
}

/// One `recvmmsg` into the packet buffers; the count received.
fn receive(fd: RawFd, buffers: &mut Buffers) -> io::Result<usize> {
    HEADERS.with_borrow_mut(|headers| {
        let mut slices = buffers
            .packets
            .each_mut()
            .map(|packet| [IoSliceMut::new(packet)]);
        let results = recvmmsg(
            fd,
            &mut headers.recv,
            slices.iter_mut(),
            MsgFlags::empty(),
            None,
        )?;
        let mut count = 0;
        for (slot, message) in buffers.received.iter_mut().zip(results) {
            *slot = (message.bytes, message.address.and_then(socket_addr));
            count += 1;
        }
        Ok(count)
    })
}

/// Sends the batch's answers, as many per `sendmmsg` as the socket takes. An answer the
/// kernel refuses (e.g. no route to its destination) is skipped.
async fn send(socket: &UdpSocket, fd: RawFd, buffers: &mut Buffers) {
    let slices: [[IoSlice<'_>; 1]; BATCH] =
        std::array::from_fn(|i| [IoSlice::new(&buffers.answers[i])]);
    let ready = buffers.ready;
    let mut start = 0;
    while start < ready {
        let sent = socket.try_io(Interest::WRITABLE, || {
            HEADERS.with_borrow_mut(|headers| {
                let results = sendmmsg(
                    fd,
                    &mut headers.send,
                    &slices[start..ready],
                    &buffers.destinations[start..ready],
                    [] as [ControlMessage<'_>; 0],
                    MsgFlags::empty(),
                )?;
                Ok(results.count())
            })
        });
        match sent {
            Ok(sent) => start += sent.max(1),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                if let Err(error) = socket.writable().await {
                    debug!(%error, "cannot send UDP answers");
                    return;
                }
            }
            Err(error) => {
                let to = buffers.destinations[start]
                    .as_ref()
                    .and_then(socket_addr_ref);
                debug!(%error, ?to, "cannot send a UDP answer");
                start += 1;
            }
        }
    }
}

fn socket_addr(address: SockaddrStorage) -> Option<SocketAddr> {
    socket_addr_ref(&address)
}

fn socket_addr_ref(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        Some(SocketAddr::V4((*v4).into()))
    } else {
        address
            .as_sockaddr_in6()
            .map(|v6| SocketAddr::V6((*v6).into()))
    }
}
