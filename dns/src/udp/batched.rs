//! Up to [`BATCH`] datagrams per system call, on a thread of the loop's own: a blocking
//! `recvmmsg` (`MSG_WAITFORONE`: it sleeps until a datagram comes, then takes whatever else
//! is queued) fills a batch of reused buffers, each query is answered inline into its own
//! reused answer buffer, and `sendmmsg` sends the answers together. A batch costs these two
//! system calls and nothing else: waiting inside `recvmmsg` rather than in the runtime's
//! `epoll_wait` saves a third call and a task wake-up per batch (measured in
//! `bench/README.md`). No allocation per query or per batch.
//!
//! Stopping: the loop's future, when it completes or is dropped, marks the loop stopping
//! and shuts the socket's receiving side down, which wakes the blocked `recvmmsg`; the
//! future then waits for the thread, so the socket is closed when it returns.

use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, Shutdown, SockaddrStorage, recvmmsg, sendmmsg, shutdown,
};
use tracing::{debug, warn};

use super::{BATCH, MAX_QUERY, UdpResponder, is_fatal};
use crate::handler::MAX_UDP_PAYLOAD;

/// A receive loop's buffers, allocated once.
struct Buffers {
    packets: Box<[[u8; MAX_QUERY]; BATCH]>,
    /// Length and source of each datagram of the last batch received.
    received: [(usize, Option<SocketAddr>); BATCH],
    /// The answers of a batch and where each goes: the first `ready` of them.
    answers: Vec<Vec<u8>>,
    destinations: Vec<Option<SockaddrStorage>>,
    ready: usize,
    /// The system calls' message headers, for receiving and for sending.
    recv_headers: MultiHeaders<SockaddrStorage>,
    send_headers: MultiHeaders<SockaddrStorage>,
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
            recv_headers: MultiHeaders::preallocate(BATCH, None),
            send_headers: MultiHeaders::preallocate(BATCH, None),
        }
    }
}

pub(super) async fn serve(
    socket: UdpSocket,
    responder: UdpResponder,
    shutdown: impl Future,
) -> io::Result<()> {
    socket.set_nonblocking(false)?;
    let socket = Arc::new(socket);
    let stopper = Stopper {
        socket: socket.clone(),
        stopping: Arc::new(AtomicBool::new(false)),
    };
    let stopping = stopper.stopping.clone();
    let (done, mut finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("dns-udp".into())
        .spawn(move || {
            let _ = done.send(answer_until_stopped(&socket, responder, &stopping));
        })?;
    let finished = tokio::select! {
        biased;
        finished = &mut finished => finished,
        _ = shutdown => {
            stopper.stop();
            finished.await
        }
    };
    finished.unwrap_or_else(|_| Err(io::Error::other("the UDP receive loop panicked")))
}

/// Stops the receive loop when told to or dropped (the server's future was dropped).
struct Stopper {
    socket: Arc<UdpSocket>,
    stopping: Arc<AtomicBool>,
}

impl Stopper {
    fn stop(&self) {
        if !self.stopping.swap(true, Ordering::Relaxed) {
            // On an unconnected UDP socket Linux answers ENOTCONN but still marks the
            // receiving side shut and wakes its sleepers.
            let _ = shutdown(self.socket.as_raw_fd(), Shutdown::Read);
        }
    }
}

impl Drop for Stopper {
    fn drop(&mut self) {
        self.stop();
    }
}

fn answer_until_stopped(
    socket: &UdpSocket,
    mut responder: UdpResponder,
    stopping: &AtomicBool,
) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    let mut buffers = Buffers::new();
    loop {
        let received = receive(fd, &mut buffers);
        if stopping.load(Ordering::Relaxed) {
            return Ok(());
        }
        let received = match received {
            Ok(received) => received,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) if is_fatal(&error) => return Err(error),
            Err(error) => {
                warn!(%error, "error receiving on the UDP socket");
                continue;
            }
        };
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
        send(fd, &mut buffers);
    }
}

/// One `recvmmsg` into the packet buffers, sleeping until at least one datagram comes; the
/// count received.
fn receive(fd: RawFd, buffers: &mut Buffers) -> io::Result<usize> {
    let mut slices = buffers
        .packets
        .each_mut()
        .map(|packet| [IoSliceMut::new(packet)]);
    let results = recvmmsg(
        fd,
        &mut buffers.recv_headers,
        slices.iter_mut(),
        MsgFlags::MSG_WAITFORONE,
        None,
    )?;
    let mut count = 0;
    for (slot, message) in buffers.received.iter_mut().zip(results) {
        *slot = (message.bytes, message.address.and_then(socket_addr));
        count += 1;
    }
    Ok(count)
}

/// Sends the batch's answers, as many per `sendmmsg` as the socket takes. An answer the
/// kernel refuses (e.g. no route to its destination) is skipped.
fn send(fd: RawFd, buffers: &mut Buffers) {
    let slices: [[IoSlice<'_>; 1]; BATCH] =
        std::array::from_fn(|i| [IoSlice::new(&buffers.answers[i])]);
    let ready = buffers.ready;
    let mut start = 0;
    while start < ready {
        let sent = sendmmsg(
            fd,
            &mut buffers.send_headers,
            &slices[start..ready],
            &buffers.destinations[start..ready],
            [] as [ControlMessage<'_>; 0],
            MsgFlags::empty(),
        )
        .map(|results| results.count());
        match sent {
            Ok(sent) => start += sent.max(1),
            Err(nix::errno::Errno::EINTR) => {}
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
